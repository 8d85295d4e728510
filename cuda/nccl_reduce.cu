/* nccl_reduce.cu — the GPUs' gradient sum over NCCL; see nccl_reduce.h. */
#include "cuda_check.h"
#include "kernel_math.h"
#include "nccl_reduce.h"

#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef PCNN_HAVE_NCCL
#include <nccl.h>
#endif

namespace {

struct nccl_ctx {
    cudaStream_t s;
    int device, rank, nranks;
    float *recv;          /* (nranks x |my piece|): every rank's copy of this rank's piece */
    size_t recv_floats;
#ifdef PCNN_HAVE_NCCL
    ncclComm_t comm;      /* NULL until joined */
#endif
};

}  // namespace

static const char *nccl_unusable(void)
{
    const char *off = getenv("PCNN_NCCL");
    return off && !strcmp(off, "0") ? "PCNN_NCCL=0" : NULL;
}

#ifdef PCNN_HAVE_NCCL

/* Rank r's piece [lo, hi) of n floats over N ranks: pcnn_dist_shard's cut (dist.c). */
static void piece(size_t n, int r, int N, size_t *lo, size_t *hi)
{
    size_t q = n / (size_t)N, rem = n % (size_t)N, ur = (size_t)r;
    *lo = ur * q + (ur < rem ? ur : rem);
    *hi = *lo + q + (ur < rem ? 1 : 0);
}

__global__ void k_sum_ranks(float *out, const float *in, int nranks, size_t m)
{
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < m;
         i += (size_t)gridDim.x * blockDim.x)
        km_sum_ranks(i, out, in, nranks, m);
}

/* NCCL's entry points, from the library loaded at the first open (nothing links libnccl). */
#define NCCL_FNS(X)                                                                            \
    X(ncclGetVersion) X(ncclGetUniqueId) X(ncclCommInitRank) X(ncclCommDestroy)                \
    X(ncclCommGetAsyncError) X(ncclGetErrorString) X(ncclGetLastError) X(ncclGroupStart)       \
    X(ncclGroupEnd) X(ncclSend) X(ncclRecv)
static struct {
#define NCCL_DECL(f) decltype(&::f) f;
    NCCL_FNS(NCCL_DECL)
#undef NCCL_DECL
} nc;
static int nc_state;   /* 0 not tried, 1 loaded, -1 failed (nc_why says why) */
static char nc_why[512], nc_name[PCNN_DIST_NAME_MAX];

static const char *nccl_load(void)
{
    if (nc_state) return nc_state > 0 ? NULL : nc_why;
    nc_state = -1;
    const char *path = getenv("PCNN_NCCL_LIB");
    if (!path || !*path) path = "libnccl.so.2";
    void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!h) {
        snprintf(nc_why, sizeof nc_why, "cannot load NCCL: %s (install NCCL, or set PCNN_NCCL_LIB)",
                 dlerror());
        return nc_why;
    }
#define NCCL_SYM(f)                                                                            \
    if (!(nc.f = (decltype(&::f))dlsym(h, #f))) {                                              \
        snprintf(nc_why, sizeof nc_why, "%s has no %s (NCCL 2.13 or newer is needed)", path, #f); \
        return nc_why;                                                                         \
    }
    NCCL_FNS(NCCL_SYM)
#undef NCCL_SYM
    int v = 0;
    if (nc.ncclGetVersion(&v) != ncclSuccess) v = 0;
    snprintf(nc_name, sizeof nc_name, "NCCL %d.%d.%d", v / 10000, v / 100 % 100, v % 100);
    nc_state = 1;
    return NULL;
}

/* CK() for NCCL: the expression, file, line, NCCL's message and its last error text. */
static void ckn(ncclResult_t r, const char *expr, const char *file, int line)
{
    if (r == ncclSuccess) return;
    const char *last = nc.ncclGetLastError(NULL);
    pcnn_die("NCCL error at %s:%d: %s: %s%s%s", file, line, expr, nc.ncclGetErrorString(r),
             last && *last ? ": " : "", last ? last : "");
}
#define CKN(expr) ckn((expr), #expr, __FILE__, __LINE__)

static const char *nccl_open(void *ctx, char *name, char *gpu)
{
    nccl_ctx *c = (nccl_ctx *)ctx;
    const char *why = nccl_unusable();
    if (why || (why = nccl_load())) return why;
    snprintf(name, PCNN_DIST_NAME_MAX, "%s", nc_name);
    cudaDeviceProp p;
    CK(cudaGetDeviceProperties(&p, c->device));
    char *o = gpu + snprintf(gpu, PCNN_DIST_NAME_MAX, "GPU-");
    for (int i = 0; i < 16; i++) o += snprintf(o, 3, "%02x", (unsigned char)p.uuid.bytes[i]);
    return NULL;
}

static void nccl_make_id(void *ctx, void *id)
{
    (void)ctx;
    ncclUniqueId u;
    CKN(nc.ncclGetUniqueId(&u));
    memcpy(id, &u, sizeof u);
}

static void nccl_join(void *ctx, const void *id, int rank, int nranks)
{
    nccl_ctx *c = (nccl_ctx *)ctx;
    ncclUniqueId u;
    memcpy(&u, id, sizeof u);
    CK(cudaSetDevice(c->device));
    CKN(nc.ncclCommInitRank(&c->comm, nranks, u, rank));
    c->rank = rank;
    c->nranks = nranks;
}

static void nccl_sum(void *ctx, float *buf, size_t n)
{
    nccl_ctx *c = (nccl_ctx *)ctx;
    const int N = c->nranks, me = c->rank;
    size_t lo, hi;
    piece(n, me, N, &lo, &hi);
    const size_t m = hi - lo;
    if ((size_t)N * m > c->recv_floats) {
        if (c->recv) CK(cudaFree(c->recv));
        c->recv = NULL;
        CK(cudaMalloc(&c->recv, (size_t)N * m * sizeof(float)));
        c->recv_floats = (size_t)N * m;
    }
    /* reduce-scatter: piece r of this rank to rank r; piece me of every rank to row r of recv */
    if (m) CK(cudaMemcpyAsync(c->recv + (size_t)me * m, buf + lo, m * sizeof(float),
                              cudaMemcpyDeviceToDevice, c->s));
    CKN(nc.ncclGroupStart());
    for (int r = 0; r < N; r++) {
        if (r == me) continue;
        size_t rlo, rhi;
        piece(n, r, N, &rlo, &rhi);
        if (rhi > rlo) CKN(nc.ncclSend(buf + rlo, rhi - rlo, ncclFloat, r, c->comm, c->s));
        if (m) CKN(nc.ncclRecv(c->recv + (size_t)r * m, m, ncclFloat, r, c->comm, c->s));
    }
    CKN(nc.ncclGroupEnd());
    if (m) {
        k_sum_ranks<<<pcnn_grid(m), 256, 0, c->s>>>(buf + lo, c->recv, N, m);
        CK_LAUNCH();
    }
    /* all-gather: the summed piece of this rank to every rank, theirs into place here */
    CKN(nc.ncclGroupStart());
    for (int r = 0; r < N; r++) {
        if (r == me) continue;
        size_t rlo, rhi;
        piece(n, r, N, &rlo, &rhi);
        if (m) CKN(nc.ncclSend(buf + lo, m, ncclFloat, r, c->comm, c->s));
        if (rhi > rlo) CKN(nc.ncclRecv(buf + rlo, rhi - rlo, ncclFloat, r, c->comm, c->s));
    }
    CKN(nc.ncclGroupEnd());
}

static void nccl_wait(void *ctx)
{
    nccl_ctx *c = (nccl_ctx *)ctx;
    CK(cudaStreamSynchronize(c->s));
    if (c->comm) {
        ncclResult_t e = ncclSuccess;
        CKN(nc.ncclCommGetAsyncError(c->comm, &e));
        CKN(e);
    }
}

static void nccl_release(nccl_ctx *c)
{
    if (c->comm) nc.ncclCommDestroy(c->comm);
}

static const size_t id_bytes = sizeof(ncclUniqueId);

#else  /* built without nccl.h: open says so, and nothing else is ever called */

static const char *nccl_open(void *ctx, char *name, char *gpu)
{
    (void)ctx;
    (void)name;
    (void)gpu;
    const char *why = nccl_unusable();
    return why ? why
               : "this pcnn's CUDA library was built without NCCL (rebuild with make NCCL=1 "
                 "where nccl.h is installed)";
}

static void no_nccl(void) { pcnn_die("internal error: NCCL called in a build without it"); }
static void nccl_make_id(void *, void *) { no_nccl(); }
static void nccl_join(void *, const void *, int, int) { no_nccl(); }
static void nccl_sum(void *, float *, size_t) { no_nccl(); }
static void nccl_wait(void *) { no_nccl(); }
static void nccl_release(nccl_ctx *) {}
static const size_t id_bytes = 128;

#endif

void pcnn_nccl_device_init(pcnn_dist_device *d, cudaStream_t stream, int device)
{
    nccl_ctx *c = (nccl_ctx *)pcnn_xcalloc(1, sizeof *c);
    c->s = stream;
    c->device = device;
    d->ctx = c;
    d->id_bytes = id_bytes;
    d->open = nccl_open;
    d->make_id = nccl_make_id;
    d->join = nccl_join;
    d->sum_floats = nccl_sum;
    d->wait = nccl_wait;
}

void pcnn_nccl_device_free(pcnn_dist_device *d)
{
    nccl_ctx *c = (nccl_ctx *)d->ctx;
    if (!c) return;
    nccl_release(c);
    if (c->recv) cudaFree(c->recv);
    free(c);
    d->ctx = NULL;
}
