/*
 * backend_cuda.cu — the CUDA backend of nn_backend.h: the same block-level
 * operations as backend_cpu.c (the reference), on one GPU, one stream.
 *
 * Design (docs/GPU.md has the long form):
 * - Shifted convs (SPEC §3 pads top kh-1, left/right asymmetrically) run as
 *   valid cuDNN convs on explicitly zero-padded NHWC copies. For the gated
 *   blocks the padding is free: the concat_elu kernels write straight into the
 *   interior of padded buffers whose borders were zeroed at allocation.
 * - Transposed convs (stride 2, output_padding 1, cropped) are cuDNN
 *   backward-data of a stride-2 conv G with filter (Cin, Cout, kh, kw) (the
 *   PyTorch ConvTranspose2d layout), padding (0, coff) and G's input (2h, 2w):
 *   dx_G[r, c] = full[r, c + coff] exactly on the crop, so no crop copy.
 *   Their backward is G's forward (data) and G's backward-filter (weights).
 * - Filters go to cuDNN in NHWC (K, kh, kw, C): the effective weight in wp
 *   (PyTorch layout, the interface's contract) is converted into a copy per layer
 *   once per weight generation (weight_copies: each wn_fwd, or a write over a
 *   converted weight), and backward-filter results are converted back and added.
 * - 1x1 layers (nin_skip, nin_out) are cuBLAS SGEMMs on the row-major
 *   (rows, C) activations; biases, class terms, shifts, dropout, gate and the
 *   likelihood are own kernels (kernels.h). Reductions run in a fixed order
 *   and cuDNN algorithms are deterministic ones: the same inputs give the
 *   same bytes.
 * - Precision: PCNN_PRECISION=fp32 (default; CUDNN_FMA_MATH, cuBLAS default
 *   math, no tensor cores) or tf32 (TF32 tensor cores in convs and GEMMs;
 *   float32 storage, master weights and likelihood), or bf16 (below) for every
 *   pass; set_precision(PCNN_PREC_BF16) (pcnn-fit --precision bf16) turns bf16 on
 *   for a training step's forward and backward only.
 * - bf16: the operands of every convolution and 1x1 GEMM are bfloat16 (uint16_t
 *   bits, kernel_math.h), summed in fp32 on the tensor cores (cuDNN
 *   CUDNN_DATA_BFLOAT16 with float compute; cublasGemmEx CUDA_R_16BF with
 *   CUBLAS_COMPUTE_32F and a float C). The gated block's operands are written in
 *   bf16 by the kernels that make them (concat_elu, the c1 finish: no pass of
 *   their own) and saved in bf16 for backward-filter; other operands (gradients,
 *   the small input / downsize / upsize tensors) are converted once per op. cuDNN's
 *   bf16 results come back as bf16: the gated block's two forward ones are widened by
 *   the kernels that read them (the c1 finish, the gate), the others in a pass each,
 *   filter gradients as they are added; the 1x1 GEMMs write float directly.
 *   Filters and nin weights are converted once per weight generation (each wn_fwd,
 *   or a write into a converted weight through upload / zero / copy_block): once
 *   per step. Everything else (the elementwise math, biases, the class terms, the
 *   likelihood, weight norm, Adam, Polyak, master weights) stays float32.
 * - Graphs (PCNN_CUDA_GRAPH=1): a whole training step's forward and backward, or an
 *   eval pass, captured once per key (graph_begin, from net.c) and replayed. The first
 *   call of a key runs plainly (every plan, workspace and lazily made buffer comes to
 *   be outside any capture), the second is captured, later ones replay. What varies
 *   between calls besides the buffers' contents: the dropout step, read by the mask
 *   kernel from device memory in a captured pass (copied there from pinned memory by
 *   the graph's first node); the weight copies, made inside every graph (a new weight
 *   generation at each graph_begin); the per-image likelihoods, fetched after the
 *   graph (graph_ll). A bigger cuDNN workspace (a new shape planned later) means a
 *   recapture. Default off: the same bytes (check-gpu compares), but not yet run.
 * - Data parallelism (docs/SCALE.md): a rank of several takes the GPU of its
 *   node-local rank (rank_device); its gradients are summed over NCCL
 *   (nccl_reduce.cu) when every rank can.
 */
#include "conv.h"
#include "cuda_check.h"
#include "kernels.h"
#include "nccl_reduce.h"

extern "C" {
#include "backend_cuda.h"
#include "model/nn_backend.h"
#include "nn/nn_isa.h"   // defines: PCNN_PREC_FP32, PCNN_PREC_BF16
}

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

namespace {

/* Copies of the effective weights in the layouts the convolutions and GEMMs read, each made
 * from wp once per weight generation: float NHWC filters (fp32 / tf32) and bf16 filters and
 * nin weights (bf16). Shared by a backend and its windows (owned by the full backend). */
struct weight_copies {
    size_t *off;                  /* host (nlayers): layer i's offset in either buffer */
    size_t total;                 /* elements of every layer's weight */
    float *buf32;                 /* convs: NHWC (K, kh, kw, C) float; made at first use */
    uint16_t *buf16;              /* convs NHWC, nin (Cout, Cin), bf16; made at first use */
    uint64_t *gen32, *gen16;      /* host (nlayers): generation a copy was made in, 0: none */
    const float **src32, **src16; /* host (nlayers): the wp it was made from */
    uint64_t wgen;                /* the weight generation: bumped by wn_fwd and by writes over
                                     a converted source (lo..hi) */
    const char *lo, *hi;          /* bytes of wp read by the copies made in this generation */
};

/* One captured pass (graphs): its key, calls so far, the executable graph, and the cuDNN
 * workspace generation it was captured with. */
struct graph_entry {
    uint64_t key;
    long calls;
    cudaGraphExec_t exec;
    unsigned ws_gen;
};

struct cuda_ctx {
    cudaStream_t s;
    cudnnHandle_t dnn;
    cublasHandle_t blas;
    cu_convs *cv;
    int tf32;
    wn_rows rows;
    size_t *rows_v, *rows_g;      /* device tables behind rows */
    int *rows_len;
    float *sA, *sB, *sC, *sD;     /* scratch: rows x 2F, padded rows x 2F, rows x F, rows x 4F */
    float *partial;               /* (maxN, max(2F, 10M)) */
    float *dwk;                   /* one filter's gradient in NHWC layout */
    float *lp;                    /* (maxN, H, W) per-pixel log-likelihoods */
    double *lld;                  /* (maxN) */
    int device;                   /* the GPU (cudaSetDevice) */
    pcnn_dist_device coll;        /* the gradient sum over NCCL (nccl_reduce.h) */
    int window;                   /* a window backend (window_new): s, dnn, blas, cv, rows are its parent's */
    int base_bf16;                /* PCNN_PRECISION=bf16: bf16 for every pass */
    int bf16;                     /* bf16 operands now (base_bf16, or set_precision's training step) */
    weight_copies *bw;            /* the weights' copies (the parent's on a window) */
    size_t h_in_n, h_out_n, h_dy_n, h_w_n;   /* sizes of the bf16 scratch below, in elements */
    uint16_t *h_in, *h_out, *h_dy, *h_w;     /* bf16 scratch, made at the first bf16 op: an
                                                operand, a cuDNN result, a gradient operand,
                                                a filter gradient */
    float *fx;                    /* (h_in_n) a bf16 operand widened, for a direction cuDNN
                                     has no deterministic bf16 algorithm for (made then) */
    int graphs;                   /* PCNN_CUDA_GRAPH=1 (never on a window) */
    int pos_graphs;               /* a window of a backend with graphs: the cached sampler's
                                     positions as graphs (pos_graph_begin; gr holds them) */
    int capturing;                /* inside a capture: dmol keeps ll on the device, the
                                     dropout mask reads d_step */
    graph_entry *gr;              /* the captured passes (ngr of them) */
    int ngr, capgr, cur;          /* cur: the entry being captured */
    uint64_t *h_step, *d_step;    /* the dropout step: pinned host, device */
    void *blas_ws;                /* cuBLAS's workspace, set (graphs: no allocation in a capture) */
};

struct cuda_state {
    int op;
    size_t pad_n, cea_n, e_n;     /* elements of cexp / hdp, cea, e (GATED, OUT) */
    uint16_t *cexp16, *hdp16, *cea16, *e16;   /* their bf16 twins (bf16 mode), made at first use */
    int bf16;                     /* the last forward ran in bf16: backward reads the twins */
    float *xa, *xb, *xc;          /* INPUT: padded xin for u_init (2,3), ul_init.0 (1,3), ul_init.1 (2,1) */
    float *dpad, *dxin;           /* INPUT, class map: padded d xin of one conv, d xin (N,H,W,4) */
    float *cexp, *cea, *c1, *hdp, *c2, *mask;   /* GATED */
    float *c2p;                   /* GATED, film: c2 + b before the class term */
    int dropped;
    float *inp;                   /* DOWN: padded input */
    float *e;                     /* OUT: elu(ul) */
};

/* Memory accounting for the out-of-memory advice. */
struct oom_info {
    int max_batch;
    size_t fixed_bytes, per_image_bytes, allocated;
};
oom_info g_oom;

}  // namespace

#define CTX(be) ((cuda_ctx *)(be)->ctx)

static void wrote(cuda_ctx *c, const void *p, size_t n);

[[noreturn]] void pcnn_cuda_oom(const char *expr, const char *file, int line)
{
    size_t freeb = 0, total = 0;
    cudaGetLastError();
    cudaMemGetInfo(&freeb, &total);
    double gib = 1024.0 * 1024.0 * 1024.0;
    long fit = 0;
    if (g_oom.per_image_bytes && total > g_oom.fixed_bytes)
        fit = (long)((double)(total - g_oom.fixed_bytes) * 0.9 / (double)g_oom.per_image_bytes);
    if (g_oom.max_batch > 0)
        pcnn_die("out of GPU memory (%s at %s:%d): batch %d needs about %.1f GiB, the GPU has "
                 "%.1f GiB; a batch of about %ld would fit (use -b %ld, or --device cpu)",
                 expr, file, line, g_oom.max_batch,
                 (double)(g_oom.fixed_bytes + g_oom.per_image_bytes * (size_t)g_oom.max_batch) / gib,
                 (double)total / gib, fit, fit > 1 ? fit : 1);
    pcnn_die("out of GPU memory (%s at %s:%d); use a smaller batch (-b) or --device cpu", expr,
             file, line);
}

static void *dalloc(size_t bytes)
{
    void *p = NULL;
    if (!bytes) bytes = 4;
    CK(cudaMalloc(&p, bytes));
    CK(cudaMemset(p, 0, bytes));
    g_oom.allocated += bytes;
    return p;
}

static float *falloc(size_t n) { return (float *)dalloc(n * sizeof(float)); }
static void dfree(void *p)
{
    if (p) CK(cudaFree(p));
}

/* ---------------------------------------------------------------- memory */

static void *cu_alloc(pcnn_backend *be, size_t bytes)
{
    void *p = dalloc(bytes);
    (void)be;
    return p;
}

static void cu_release(pcnn_backend *be, void *p) { dfree(p); }

static void cu_upload(pcnn_backend *be, void *dst, const void *src, size_t bytes)
{
    wrote(CTX(be), dst, bytes);
    CK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyHostToDevice, CTX(be)->s));
    CK(cudaStreamSynchronize(CTX(be)->s));
}

static void cu_download(pcnn_backend *be, void *dst, const void *src, size_t bytes)
{
    CK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToHost, CTX(be)->s));
    CK(cudaStreamSynchronize(CTX(be)->s));
}

static void cu_zero(pcnn_backend *be, void *p, size_t bytes)
{
    wrote(CTX(be), p, bytes);
    CK(cudaMemsetAsync(p, 0, bytes, CTX(be)->s));
}

static void cu_copy_block_op(pcnn_backend *be, float *dst, size_t dn, size_t dr, const float *src,
                             size_t sn, size_t sr, int N, int rows, size_t len)
{
    if (N > 0 && rows > 0 && len)
        wrote(CTX(be), dst, (((size_t)N - 1) * dn + ((size_t)rows - 1) * dr + len) * sizeof(float));
    cu_copy_block(CTX(be)->s, dst, dn, dr, src, sn, sr, N, rows, len);
}

/* The cached sampler's position table (nn_backend.h): pinned host memory, copies only
 * enqueued (capturable: a graph's nodes that read and write the pinned memory when they
 * run), and the table's copies. */
static void *cu_host_alloc(pcnn_backend *be, size_t bytes)
{
    void *p = NULL;
    CK(cudaMallocHost(&p, bytes ? bytes : 4));
    memset(p, 0, bytes ? bytes : 4);
    return p;
}

static void cu_host_release(pcnn_backend *be, void *p)
{
    if (p) CK(cudaFreeHost(p));
}

static void cu_upload_async(pcnn_backend *be, void *dst, const void *src, size_t bytes)
{
    wrote(CTX(be), dst, bytes);
    CK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyHostToDevice, CTX(be)->s));
}

static void cu_download_async(pcnn_backend *be, void *dst, const void *src, size_t bytes)
{
    CK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToHost, CTX(be)->s));
}

static void cu_sync(pcnn_backend *be) { CK(cudaStreamSynchronize(CTX(be)->s)); }

/* The table's copies write the sampler's windows and caches, never a weight: no wrote(). */
static void cu_copy_table_op(pcnn_backend *be, const uint64_t *tab, int e, int ne, size_t dn,
                             size_t dr, size_t sn, size_t sr, int N, int rows, size_t len)
{
    cu_copy_table(CTX(be)->s, tab, e, ne, dn, dr, sn, sr, N, rows, len);
}

/* Padding of a shifted conv of layer L on (N, h, w): top kh-1; down_right:
 * left kw-1; down_shifted: left = right = (kw-1)/2. Bottom 0. */
static pad_geom shifted_pad(const pcnn_wnlayer *L, int N, int h, int w, int down_right)
{
    pad_geom g;
    g.N = N;
    g.h = h;
    g.w = w;
    g.pt = L->kh - 1;
    g.pl = down_right ? L->kw - 1 : (L->kw - 1) / 2;
    g.pr = down_right ? 0 : (L->kw - 1) / 2;
    return g;
}

static conv_shape padded_shape(const pcnn_wnlayer *L, pad_geom pg)
{
    conv_shape sh = {pg.N, L->cin, pg.hp(), pg.wp(), L->cout, L->kh, L->kw, L->stride, 0, 0};
    return sh;
}

static void *cu_state_new(pcnn_backend *be, int op, const void *ref, int h, int w)
{
    cuda_state *s = (cuda_state *)pcnn_xcalloc(1, sizeof *s);
    const pcnn_param_table *t = be->t;
    const int N = be->max_batch;
    const size_t rows = (size_t)N * h * w, F = (size_t)t->F;
    s->op = op;
    if (op == PCNN_OP_INPUT) {
        s->xa = falloc(shifted_pad(&t->layers[t->u_init], N, h, w, 0).prows() * 4);
        s->xb = falloc(shifted_pad(&t->layers[t->ul_init0], N, h, w, 0).prows() * 4);
        s->xc = falloc(shifted_pad(&t->layers[t->ul_init1], N, h, w, 1).prows() * 4);
        if (t->cond & PCNN_COND_INPUT) {
            size_t pa = shifted_pad(&t->layers[t->u_init], N, h, w, 0).prows(),
                   pb = shifted_pad(&t->layers[t->ul_init0], N, h, w, 0).prows(),
                   pc = shifted_pad(&t->layers[t->ul_init1], N, h, w, 1).prows();
            s->dpad = falloc((pa > pb ? (pa > pc ? pa : pc) : (pb > pc ? pb : pc)) * 4);
            s->dxin = falloc(rows * 4);
        }
    } else if (op == PCNN_OP_GATED) {
        const pcnn_blockref *b = (const pcnn_blockref *)ref;
        pad_geom pg = shifted_pad(&t->layers[b->conv_input], N, h, w, b->ul);
        s->pad_n = pg.prows() * 2 * F;
        s->cea_n = b->skip ? rows * 2 * (size_t)b->skip * F : 0;
        /* in bf16-only mode the float operands are never written: made if ever needed */
        if (!CTX(be)->base_bf16) {
            s->cexp = falloc(s->pad_n);
            if (b->skip) s->cea = falloc(s->cea_n);
            s->hdp = falloc(s->pad_n);
        }
        s->c1 = falloc(rows * F);
        s->c2 = falloc(rows * 2 * F);
        if (t->cond & PCNN_COND_FILM) s->c2p = falloc(rows * 2 * F);
        s->mask = falloc((size_t)N * 2 * F);
    } else if (op == PCNN_OP_DOWN) {
        const pcnn_wnlayer *L = (const pcnn_wnlayer *)ref;
        s->inp = falloc(shifted_pad(L, N, h, w, L->kw == 2).prows() * (size_t)L->cin);
    } else if (op == PCNN_OP_OUT) {
        s->e_n = rows * F;
        if (!CTX(be)->base_bf16) s->e = falloc(s->e_n);
    }
    return s;
}

static void cu_state_free(pcnn_backend *be, void *st)
{
    cuda_state *s = (cuda_state *)st;
    if (!s) return;
    float *bufs[] = {s->xa, s->xb, s->xc, s->dpad, s->dxin, s->cexp, s->cea, s->c1, s->hdp,
                     s->c2, s->c2p, s->mask, s->inp, s->e};
    for (float *p : bufs) dfree(p);
    uint16_t *b16[] = {s->cexp16, s->hdp16, s->cea16, s->e16};
    for (uint16_t *p : b16) dfree(p);
    free(s);
}

/* ---------------------------------------------------------------- helpers */

static float *lazy32(float **p, size_t n);
static uint16_t *lazy16(uint16_t **p, size_t n);

/* Whether layer L's copy (gen, src: one of weight_copies' kinds) must be made again from wp:
 * it is of an older weight generation or of another wp. Marks it made now. */
static int copy_stale(weight_copies *w, uint64_t *gen, const float **src, const pcnn_wnlayer *L,
                      int i, const float *wp)
{
    if (gen[i] == w->wgen && src[i] == wp) return 0;
    gen[i] = w->wgen;
    src[i] = wp;
    const char *lo = (const char *)(wp + L->v), *hi = (const char *)(wp + L->v + L->rows * L->rowlen);
    if (!w->lo || lo < w->lo) w->lo = lo;
    if (!w->hi || hi > w->hi) w->hi = hi;
    return 1;
}

/* Conv layer L's effective weight from wp as cuDNN's NHWC filter (K, kh, kw, C): made once
 * per weight generation (the same kernel and bits as a conversion per call). */
static const float *filter_of(pcnn_backend *be, const pcnn_wnlayer *L, const float *wp)
{
    cuda_ctx *c = CTX(be);
    weight_copies *w = c->bw;
    const int i = (int)(L - be->t->layers);
    float *dst = lazy32(&w->buf32, w->total) + w->off[i];
    if (!copy_stale(w, w->gen32, w->src32, L, i, wp)) return dst;
    /* conv (cout, cin, kh, kw) -> K = cout, C = cin; deconv (cin, cout, kh, kw) -> K = cin, C = cout */
    int K = L->kind == PCNN_LAYER_DECONV ? L->cin : L->cout;
    int C = L->kind == PCNN_LAYER_DECONV ? L->cout : L->cin;
    cu_w_to_krsc(c->s, dst, wp + L->v, K, C, L->kh * L->kw);
    return dst;
}

/* gp[v of L] += dW, where dW (NHWC filter) comes from backward-filter into c->dwk. */
static void add_filter_grad(pcnn_backend *be, const pcnn_wnlayer *L, float *gp)
{
    cuda_ctx *c = CTX(be);
    int K = L->kind == PCNN_LAYER_DECONV ? L->cin : L->cout;
    int C = L->kind == PCNN_LAYER_DECONV ? L->cout : L->cin;
    cu_w_from_krsc_add(c->s, gp + L->v, c->dwk, K, C, L->kh * L->kw);
}

/* db (acc) += column sums of x (N, HW, C); db2 too when not NULL. */
static void bias_grad(pcnn_backend *be, float *db, float *db2, const float *x, int N, size_t HW,
                      int C)
{
    cuda_ctx *c = CTX(be);
    cu_image_colsum(c->s, c->partial, x, N, HW, C);
    cu_colsum_finish(c->s, db, db2, NULL, NULL, c->partial, N, C);
}

/* ---------------------------------------------------------------- bf16 mode */

static uint16_t *lazy16(uint16_t **p, size_t n)
{
    if (!*p) *p = (uint16_t *)dalloc(n * sizeof(uint16_t));
    return *p;
}

static float *lazy32(float **p, size_t n)
{
    if (!*p) *p = falloc(n);
    return *p;
}

/* The bf16 scratch of this backend, made at its first bf16 op (sizes: alloc_scratch). */
static void need_h(cuda_ctx *c)
{
    lazy16(&c->h_in, c->h_in_n);
    lazy16(&c->h_out, c->h_out_n);
    lazy16(&c->h_dy, c->h_dy_n);
    lazy16(&c->h_w, c->h_w_n);
}

/* A write through the interface (upload, zero, copy_block) into bytes [p, p + n): a new
 * weight generation when it overlaps a weight that has a bf16 copy. */
static void wrote(cuda_ctx *c, const void *p, size_t n)
{
    weight_copies *w = c->bw;
    if (!w || !w->lo) return;
    const char *a = (const char *)p;
    if (a < w->hi && a + n > w->lo) {
        w->wgen++;
        w->lo = w->hi = NULL;
    }
}

/* Layer L's effective weight in bf16 (convs NHWC (K, kh, kw, C) as filter_of, nin layers
 * (Cout, Cin) as they are), converted from wp when its copy is of an older weight
 * generation or of another wp: once per step. */
static const uint16_t *weight16(pcnn_backend *be, const pcnn_wnlayer *L, const float *wp)
{
    cuda_ctx *c = CTX(be);
    weight_copies *w = c->bw;
    const int i = (int)(L - be->t->layers);
    uint16_t *dst = lazy16(&w->buf16, w->total) + w->off[i];
    if (!copy_stale(w, w->gen16, w->src16, L, i, wp)) return dst;
    if (L->kind == PCNN_LAYER_LINEAR) {
        cu_to_bf16(c->s, dst, wp + L->v, L->rows * L->rowlen);
    } else {
        int K = L->kind == PCNN_LAYER_DECONV ? L->cin : L->cout;
        int C = L->kind == PCNN_LAYER_DECONV ? L->cout : L->cin;
        cu_w_to_krsc_bf16(c->s, dst, wp + L->v, K, C, L->kh * L->kw);
    }
    return dst;
}

/* The bf16 operand: x16 when the caller has it, else x (n floats) rounded into buf. */
static const uint16_t *as16(cuda_ctx *c, const float *x, const uint16_t *x16, uint16_t *buf,
                            size_t n)
{
    if (x16) return x16;
    cu_to_bf16(c->s, buf, x, n);
    return buf;
}

static size_t conv_in_n(const conv_shape &sh) { return (size_t)sh.N * sh.Hi * sh.Wi * sh.Ci; }
static size_t conv_out_n(cuda_ctx *c, const conv_shape &sh)
{
    int Ho, Wo;
    cu_conv_out_dims(c->cv, &sh, &Ho, &Wo);
    return (size_t)sh.N * Ho * Wo * sh.Co;
}

/* ---------------------------------------------------------------- convs and GEMMs
 * In the precision of the moment. The float operands (x, dy, in, dout) may come as their
 * bf16 twins instead (x16, dy16, ...: given in bf16 mode, NULL otherwise); results are float.
 * A bf16 direction for which cuDNN offers no deterministic algorithm (cu_conv_usable) runs
 * in float (the backend's fp32/tf32 math) on the float operand, or on the bf16 one widened
 * (exactly) into c->fx, with the float filter: deterministic, and no less precise. */

/* The float operand of a conv: x16 widened into c->fx when given (in bf16 mode it is the
 * operand the forward wrote: a float twin beside it, such as a gated state's hdp during
 * pcnn-fit --precision bf16, holds an older pass's values), else x. */
static const float *as32(cuda_ctx *c, const float *x, const uint16_t *x16, size_t n)
{
    if (!x16) return x;
    cu_from_bf16(c->s, lazy32(&c->fx, c->h_in_n), x16, 0.0f, n);
    return c->fx;
}

/* y (float) = conv_L(x) + beta y (beta 0 or 1). */
static void conv_fwd(pcnn_backend *be, conv_shape sh, const pcnn_wnlayer *L, const float *wp,
                     const float *x, const uint16_t *x16, float beta, float *y)
{
    cuda_ctx *c = CTX(be);
    if (!c->bf16) {
        cu_conv_fwd(c->cv, &sh, x, filter_of(be, L, wp), beta, y);
        return;
    }
    need_h(c);
    conv_shape s16 = sh;
    s16.bf16 = 1;
    if (!cu_conv_usable(c->cv, &s16, CU_CONV_FWD)) {
        cu_conv_fwd(c->cv, &sh, as32(c, x, x16, conv_in_n(sh)), filter_of(be, L, wp), beta, y);
        return;
    }
    const uint16_t *xx = as16(c, x, x16, c->h_in, conv_in_n(s16));
    cu_conv_fwd(c->cv, &s16, xx, weight16(be, L, wp), 0.0f, c->h_out);
    cu_from_bf16(c->s, y, c->h_out, beta, conv_out_n(c, s16));
}

/* conv_L(x) for a kernel that reads the bf16 result itself (bf16 mode, x16 given): the
 * result in c->h_out (valid until the next conv), or NULL when cuDNN has no deterministic
 * bf16 forward for the shape: then y holds the float result. */
static const uint16_t *conv_fwd_keep16(pcnn_backend *be, conv_shape sh, const pcnn_wnlayer *L,
                                       const float *wp, const uint16_t *x16, float *y)
{
    cuda_ctx *c = CTX(be);
    need_h(c);
    conv_shape s16 = sh;
    s16.bf16 = 1;
    if (!cu_conv_usable(c->cv, &s16, CU_CONV_FWD)) {
        conv_fwd(be, sh, L, wp, NULL, x16, 0.0f, y);
        return NULL;
    }
    cu_conv_fwd(c->cv, &s16, x16, weight16(be, L, wp), 0.0f, c->h_out);
    return c->h_out;
}

/* dx (float) = conv_L^T(dy) + beta dx (beta 0 or 1). */
static void conv_bwd_data(pcnn_backend *be, conv_shape sh, const pcnn_wnlayer *L, const float *wp,
                          const float *dy, const uint16_t *dy16, float beta, float *dx)
{
    cuda_ctx *c = CTX(be);
    if (!c->bf16) {
        cu_conv_bwd_data(c->cv, &sh, dy, filter_of(be, L, wp), beta, dx);
        return;
    }
    need_h(c);
    conv_shape s16 = sh;
    s16.bf16 = 1;
    if (!cu_conv_usable(c->cv, &s16, CU_CONV_BWD_DATA)) {   /* dy: every caller has it */
        cu_conv_bwd_data(c->cv, &sh, dy, filter_of(be, L, wp), beta, dx);
        return;
    }
    const uint16_t *dd = as16(c, dy, dy16, c->h_dy, conv_out_n(c, s16));
    cu_conv_bwd_data(c->cv, &s16, dd, weight16(be, L, wp), 0.0f, c->h_out);
    cu_from_bf16(c->s, dx, c->h_out, beta, conv_in_n(s16));
}

/* gp[v of L] += dL/dW of conv_L from (x, dy). */
static void conv_bwd_filter(pcnn_backend *be, conv_shape sh, const pcnn_wnlayer *L, float *gp,
                            const float *x, const uint16_t *x16, const float *dy,
                            const uint16_t *dy16)
{
    cuda_ctx *c = CTX(be);
    if (!c->bf16) {
        cu_conv_bwd_filter(c->cv, &sh, x, dy, 0.0f, c->dwk);
        add_filter_grad(be, L, gp);
        return;
    }
    need_h(c);
    conv_shape s16 = sh;
    s16.bf16 = 1;
    if (!cu_conv_usable(c->cv, &s16, CU_CONV_BWD_FILTER)) {
        cu_conv_bwd_filter(c->cv, &sh, as32(c, x, x16, conv_in_n(sh)), dy, 0.0f, c->dwk);
        add_filter_grad(be, L, gp);
        return;
    }
    const uint16_t *xx = as16(c, x, x16, c->h_in, conv_in_n(s16));
    const uint16_t *dd = as16(c, dy, dy16, c->h_dy, conv_out_n(c, s16));
    cu_conv_bwd_filter(c->cv, &s16, xx, dd, 0.0f, c->h_w);
    int K = L->kind == PCNN_LAYER_DECONV ? L->cin : L->cout;
    int C = L->kind == PCNN_LAYER_DECONV ? L->cout : L->cin;
    cu_w_from_krsc_add_bf16(c->s, gp + L->v, c->h_w, K, C, L->kh * L->kw);
}

/* C (float, column-major m x n) = op(A) op(B) + beta C with bf16 A and B, fp32 sums. */
static void gemm16(cuda_ctx *c, cublasOperation_t ta, cublasOperation_t tb, int m, int n, int k,
                   const uint16_t *A, int lda, const uint16_t *B, int ldb, float beta, float *C,
                   int ldc)
{
    const float one = 1.0f;
    CK(cublasGemmEx(c->blas, ta, tb, m, n, k, &one, A, CUDA_R_16BF, lda, B, CUDA_R_16BF, ldb,
                    &beta, C, CUDA_R_32F, ldc, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
}

/* Row-major linear layers L (W = wp + L->v: Cout x Cin) on cuBLAS (column-major). */
static void gemm_fwd(pcnn_backend *be, float *out, const float *in, const uint16_t *in16,
                     const pcnn_wnlayer *L, const float *wp, size_t rows, float beta)
{
    /* out (rows, Cout) = in (rows, Cin) W^T + beta out */
    cuda_ctx *c = CTX(be);
    const int Cin = L->cin, Cout = L->cout;
    const float one = 1.0f;
    if (!c->bf16) {
        CK(cublasSgemm(c->blas, CUBLAS_OP_T, CUBLAS_OP_N, Cout, (int)rows, Cin, &one, wp + L->v,
                       Cin, in, Cin, &beta, out, Cout));
        return;
    }
    need_h(c);
    const uint16_t *ii = as16(c, in, in16, c->h_in, rows * Cin);
    gemm16(c, CUBLAS_OP_T, CUBLAS_OP_N, Cout, (int)rows, Cin, weight16(be, L, wp), Cin, ii, Cin,
           beta, out, Cout);
}

static void gemm_bwd_w(pcnn_backend *be, float *gp, const float *dout, const uint16_t *dout16,
                       const float *in, const uint16_t *in16, const pcnn_wnlayer *L, size_t rows)
{
    /* dW (Cout, Cin) += dout^T (Cout, rows) in (rows, Cin) */
    cuda_ctx *c = CTX(be);
    const int Cin = L->cin, Cout = L->cout;
    const float one = 1.0f;
    if (!c->bf16) {
        CK(cublasSgemm(c->blas, CUBLAS_OP_N, CUBLAS_OP_T, Cin, Cout, (int)rows, &one, in, Cin,
                       dout, Cout, &one, gp + L->v, Cin));
        return;
    }
    need_h(c);
    const uint16_t *ii = as16(c, in, in16, c->h_in, rows * Cin);
    const uint16_t *dd = as16(c, dout, dout16, c->h_dy, rows * Cout);
    gemm16(c, CUBLAS_OP_N, CUBLAS_OP_T, Cin, Cout, (int)rows, ii, Cin, dd, Cout, 1.0f, gp + L->v,
           Cin);
}

static void gemm_bwd_x(pcnn_backend *be, float *din, const float *dout, const uint16_t *dout16,
                       const pcnn_wnlayer *L, const float *wp, size_t rows, float beta)
{
    /* din (rows, Cin) = dout (rows, Cout) W (Cout, Cin) + beta din */
    cuda_ctx *c = CTX(be);
    const int Cin = L->cin, Cout = L->cout;
    const float one = 1.0f;
    if (!c->bf16) {
        CK(cublasSgemm(c->blas, CUBLAS_OP_N, CUBLAS_OP_N, Cin, (int)rows, Cout, &one, wp + L->v,
                       Cin, dout, Cout, &beta, din, Cin));
        return;
    }
    need_h(c);
    const uint16_t *dd = as16(c, dout, dout16, c->h_dy, rows * Cout);
    gemm16(c, CUBLAS_OP_N, CUBLAS_OP_N, Cin, (int)rows, Cout, weight16(be, L, wp), Cin, dd, Cout,
           beta, din, Cin);
}

/* ---------------------------------------------------------------- ops */

static void cu_wn_fwd_op(pcnn_backend *be, const float *params, float *wp)
{
    cuda_ctx *c = CTX(be);
    CK(cudaMemcpyAsync(wp, params, be->t->total * sizeof(float), cudaMemcpyDeviceToDevice, c->s));
    cu_wn_fwd(c->s, wp, params, c->rows);
    /* new weights: the bf16 copies are made again at their next use */
    c->bw->wgen++;
    c->bw->lo = c->bw->hi = NULL;
}

static void cu_wn_bwd_op(pcnn_backend *be, const float *params, const float *gp, float *grads)
{
    cuda_ctx *c = CTX(be);
    CK(cudaMemcpyAsync(grads, gp, be->t->total * sizeof(float), cudaMemcpyDeviceToDevice, c->s));
    cu_wn_bwd(c->s, grads, gp, params, c->rows);
}

/* input_fwd, the window's place (r0, c0) given, or (rc not NULL) read from device memory
 * (the cached sampler's position table): the same launches otherwise. */
static void input_fwd_at(pcnn_backend *be, void *st, const float *wp, const float *x,
                         const int32_t *labels, int N, int r0, int c0, const uint64_t *rc,
                         float *u, float *ul)
{
    cuda_state *s = (cuda_state *)st;
    cuda_ctx *c = CTX(be);
    const pcnn_param_table *t = be->t;
    const int H = be->H, W = be->W, F = t->F;
    const pcnn_wnlayer *Lu = &t->layers[t->u_init], *L0 = &t->layers[t->ul_init0],
                       *L1 = &t->layers[t->ul_init1];
    pad_geom ga = shifted_pad(Lu, N, H, W, 0), gb = shifted_pad(L0, N, H, W, 0),
             gc = shifted_pad(L1, N, H, W, 1);
    /* xin = concat(x [+ class_map[y] at the window's place], 1), padded per conv */
    const float *cmap = t->cond & PCNN_COND_INPUT ? wp + t->class_map : NULL;
    if (rc && cmap) {
        cu_input_pad_dev(c->s, s->xa, ga, x, cmap, labels, t->H, t->W, rc);
        cu_input_pad_dev(c->s, s->xb, gb, x, cmap, labels, t->H, t->W, rc);
        cu_input_pad_dev(c->s, s->xc, gc, x, cmap, labels, t->H, t->W, rc);
    } else {   /* without the class map the place is not read */
        cu_input_pad(c->s, s->xa, ga, x, cmap, labels, t->H, t->W, r0, c0);
        cu_input_pad(c->s, s->xb, gb, x, cmap, labels, t->H, t->W, r0, c0);
        cu_input_pad(c->s, s->xc, gc, x, cmap, labels, t->H, t->W, r0, c0);
    }
    float *tmp = c->sA;
    /* u = down_shift(u_init(xin)) */
    conv_fwd(be, padded_shape(Lu, ga), Lu, wp, s->xa, NULL, 0.0f, tmp);
    cu_shift_bias(c->s, u, tmp, wp + Lu->b, N, H, W, F, 1, 0, 0);
    /* ul = down_shift(ul_init.0(xin)) + right_shift(ul_init.1(xin)) */
    conv_fwd(be, padded_shape(L0, gb), L0, wp, s->xb, NULL, 0.0f, tmp);
    cu_shift_bias(c->s, ul, tmp, wp + L0->b, N, H, W, F, 1, 0, 0);
    conv_fwd(be, padded_shape(L1, gc), L1, wp, s->xc, NULL, 0.0f, tmp);
    cu_shift_bias(c->s, ul, tmp, wp + L1->b, N, H, W, F, 0, 1, 1);
}

static void cu_input_fwd(pcnn_backend *be, void *st, const float *wp, const float *x,
                         const int32_t *labels, int N, int r0, int c0, float *u, float *ul)
{
    input_fwd_at(be, st, wp, x, labels, N, r0, c0, NULL, u, ul);
}

static void cu_input_fwd_tab(pcnn_backend *be, void *st, const float *wp, const float *x,
                             const int32_t *labels, int N, const uint64_t *rc, float *u, float *ul)
{
    input_fwd_at(be, st, wp, x, labels, N, 0, 0, rc, u, ul);
}

static void cu_input_bwd(pcnn_backend *be, void *st, const float *wp, float *gp, const float *x,
                         const int32_t *labels, int N, const float *du, const float *dul)
{
    cuda_state *s = (cuda_state *)st;
    cuda_ctx *c = CTX(be);
    const pcnn_param_table *t = be->t;
    const int H = be->H, W = be->W, F = t->F;
    const size_t HW = (size_t)H * W;
    const pcnn_wnlayer *L[3] = {&t->layers[t->u_init], &t->layers[t->ul_init0],
                                &t->layers[t->ul_init1]};
    const float *xin[3] = {s->xa, s->xb, s->xc};
    const float *d[3] = {du, dul, dul};
    const int dy[3] = {1, 1, 0}, dx[3] = {0, 0, 1};
    float *dt = c->sA;
    const int cmap = (t->cond & PCNN_COND_INPUT) != 0;   /* d xin wanted for d class_map */
    if (cmap) CK(cudaMemsetAsync(s->dxin, 0, (size_t)N * HW * 4 * sizeof(float), c->s));
    for (int k = 0; k < 3; k++) {
        if (!d[k]) continue;
        pad_geom pg = shifted_pad(L[k], N, H, W, k == 2);
        cu_unshift(c->s, dt, d[k], N, H, W, F, dy[k], dx[k]);
        bias_grad(be, gp + L[k]->b, NULL, dt, N, HW, F);
        conv_shape sh = padded_shape(L[k], pg);
        /* bf16: dt rounded once for both (h_dy: conv_bwd_filter rounds xin into h_in) */
        const uint16_t *dt16 = NULL;
        if (c->bf16) {
            need_h(c);
            dt16 = as16(c, dt, NULL, c->h_dy, (size_t)N * HW * F);
        }
        conv_bwd_filter(be, sh, L[k], gp, xin[k], NULL, dt, dt16);
        if (cmap) {
            conv_bwd_data(be, sh, L[k], wp, dt, dt16, 0.0f, s->dpad);
            cu_unpad_add(c->s, s->dxin, s->dpad, pg, 4);
        }
    }
    /* xin = x + class_map[y]: d class_map[y] = sum over the images of class y of d xin */
    if (cmap) cu_class_map_bwd(c->s, gp + t->class_map, s->dxin, labels, N, H, W);
}

static void cu_gated_fwd(pcnn_backend *be, void *st, const pcnn_blockref *b, const float *wp,
                         const float *x, const float *a1, const float *a2, const int32_t *labels,
                         int N, int h, int w, const pcnn_dropout *drop, float *out)
{
    cuda_state *s = (cuda_state *)st;
    cuda_ctx *c = CTX(be);
    const pcnn_param_table *t = be->t;
    const int F = t->F;
    const size_t rows = (size_t)N * h * w;
    const pcnn_wnlayer *Li = &t->layers[b->conv_input], *Lo = &t->layers[b->conv_out];
    const pcnn_wnlayer *Ls = b->skip ? &t->layers[b->nin_skip] : NULL;
    pad_geom pg = shifted_pad(Li, N, h, w, b->ul);
    const int bf = c->bf16;
    /* The convs' operands cexp, cea, hd: float, or (bf16 mode) written in bf16 by the
     * kernels that make them, and saved so for backward-filter. */
    float *cexp = NULL, *cea = NULL, *hdp = NULL;
    uint16_t *cexp16 = NULL, *cea16 = NULL, *hdp16 = NULL;
    if (bf) {
        cexp16 = lazy16(&s->cexp16, s->pad_n);
        hdp16 = lazy16(&s->hdp16, s->pad_n);
        if (Ls) cea16 = lazy16(&s->cea16, s->cea_n);
    } else {
        cexp = lazy32(&s->cexp, s->pad_n);
        hdp = lazy32(&s->hdp, s->pad_n);
        if (Ls) cea = lazy32(&s->cea, s->cea_n);
    }
    /* c1 = conv_input(concat_elu(x)) [+ nin_skip(concat_elu(concat(a1, a2)))], biases below.
     * bf16: conv_input's bf16 result stays in h_out for the c1 finish to widen (c1conv),
     * nin_skip's GEMM then writes c1 (beta 0) and the finish adds the two. */
    const uint16_t *c1conv = NULL;
    if (bf) {
        cu_concat_elu_fwd_bf16(c->s, cexp16, pg, x, F, NULL, 0);
        c1conv = conv_fwd_keep16(be, padded_shape(Li, pg), Li, wp, cexp16, s->c1);
    } else {
        cu_concat_elu_fwd(c->s, cexp, pg, x, F, NULL, 0);
        conv_fwd(be, padded_shape(Li, pg), Li, wp, cexp, NULL, 0.0f, s->c1);
    }
    if (Ls) {
        const float *a2p = b->skip == 2 ? a2 : NULL;
        const int c2n = b->skip == 2 ? F : 0;
        if (bf) cu_concat_elu_fwd_bf16(c->s, cea16, pad_none(N, h, w), a1, F, a2p, c2n);
        else cu_concat_elu_fwd(c->s, cea, pad_none(N, h, w), a1, F, a2p, c2n);
        gemm_fwd(be, s->c1, cea, cea16, Ls, wp, rows, c1conv ? 0.0f : 1.0f);
    }
    /* hd = dropout(concat_elu(c1 + biases)), written into the padded input of conv_out */
    if (drop && c->capturing)   /* the step from device memory: each replay's own */
        cu_dropout_mask_dev(c->s, s->mask, N, 2 * F, drop->seed, c->d_step, drop->block,
                            drop->rep, drop->nrep, drop->img0);
    else if (drop)
        cu_dropout_mask(c->s, s->mask, N, 2 * F, drop->seed, drop->step, drop->block, drop->rep,
                        drop->nrep, drop->img0);
    const float *b2 = Ls ? wp + Ls->b : NULL, *mask = drop ? s->mask : NULL;
    if (c1conv)
        cu_c1_finish_fwd_bf16in(c->s, s->c1, c1conv, Ls != NULL, wp + Li->b, b2, hdp16, pg, F,
                                mask);
    else if (bf)
        cu_c1_finish_fwd_bf16(c->s, s->c1, wp + Li->b, b2, hdp16, pg, F, mask);
    else
        cu_c1_finish_fwd(c->s, s->c1, wp + Li->b, b2, hdp, pg, F, mask);
    /* c2 = conv_out(hd) + b + hw[y] (film: (conv_out(hd) + b) (1 + hs[y]) + hw[y]);
     * out = x + c2[:F] * sigmoid(c2[F:]) (bf16: the gate widens conv_out's bf16 result) */
    const int film = (t->cond & PCNN_COND_FILM) != 0;
    const uint16_t *c2conv = NULL;
    if (bf) c2conv = conv_fwd_keep16(be, padded_shape(Lo, pg), Lo, wp, hdp16, s->c2);
    else conv_fwd(be, padded_shape(Lo, pg), Lo, wp, hdp, NULL, 0.0f, s->c2);
    if (c2conv)
        cu_gate_fwd_bf16in(c->s, out, x, s->c2, c2conv, film ? s->c2p : NULL, wp + Lo->b,
                           wp + b->hw, film ? wp + b->hs : NULL, labels, N, (size_t)h * w, F);
    else
        cu_gate_fwd(c->s, out, x, s->c2, film ? s->c2p : NULL, wp + Lo->b, wp + b->hw,
                    film ? wp + b->hs : NULL, labels, N, (size_t)h * w, F);
    s->dropped = drop != NULL;
    s->bf16 = bf;
}

static void cu_gated_bwd(pcnn_backend *be, void *st, const pcnn_blockref *b, const float *wp,
                         float *gp, const float *x, const float *a1, const float *a2,
                         const int32_t *labels, int N, int h, int w, const float *dout, float *dx,
                         float *da1, float *da2)
{
    cuda_state *s = (cuda_state *)st;
    cuda_ctx *c = CTX(be);
    const pcnn_param_table *t = be->t;
    const int F = t->F;
    const size_t rows = (size_t)N * h * w, HW = (size_t)h * w;
    const pcnn_wnlayer *Li = &t->layers[b->conv_input], *Lo = &t->layers[b->conv_out];
    const pcnn_wnlayer *Ls = b->skip ? &t->layers[b->nin_skip] : NULL;
    pad_geom pg = shifted_pad(Li, N, h, w, b->ul);
    float *dc2 = c->sA, *dpad = c->sB, *dc1 = c->sC, *dcea = c->sD;
    if (s->bf16 != c->bf16)
        pcnn_die("internal error: a gated block's backward in %s after its forward in %s",
                 c->bf16 ? "bf16" : "float", s->bf16 ? "bf16" : "float");
    const int bf = s->bf16;
    /* gate, then the bias and class term of conv_out */
    cu_gate_bwd(c->s, dx, dc2, dout, s->c2, rows, F);
    cu_image_colsum(c->s, c->partial, dc2, N, HW, 2 * F);
    if (t->cond & PCNN_COND_FILM) {
        /* d hw = sum dc2; d hs = sum dc2 c2p; dc2 *= 1 + hs[y]; then d b = sum dc2 */
        cu_colsum_finish(c->s, NULL, NULL, gp + b->hw, labels, c->partial, N, 2 * F);
        cu_film_bwd(c->s, dcea, dc2, s->c2p, wp + b->hs, labels, N, HW, 2 * F);
        cu_image_colsum(c->s, c->partial, dcea, N, HW, 2 * F);
        cu_colsum_finish(c->s, NULL, NULL, gp + b->hs, labels, c->partial, N, 2 * F);
        cu_image_colsum(c->s, c->partial, dc2, N, HW, 2 * F);
        cu_colsum_finish(c->s, gp + Lo->b, NULL, NULL, NULL, c->partial, N, 2 * F);
    } else {
        cu_colsum_finish(c->s, gp + Lo->b, NULL, gp + b->hw, labels, c->partial, N, 2 * F);
    }
    /* conv_out: data into the padded gradient of hd, filter from the saved padded hd
     * (bf16: dc2 rounded once for both) */
    conv_shape sho = padded_shape(Lo, pg);
    const uint16_t *dc2_16 = NULL;
    if (bf) {
        need_h(c);
        dc2_16 = as16(c, dc2, NULL, c->h_dy, rows * 2 * F);
    }
    conv_bwd_data(be, sho, Lo, wp, dc2, dc2_16, 0.0f, dpad);
    conv_bwd_filter(be, sho, Lo, gp, s->hdp, s->hdp16, dc2, dc2_16);
    /* dropout and concat_elu of c1 */
    CK(cudaMemsetAsync(dc1, 0, rows * F * sizeof(float), c->s));
    cu_concat_elu_bwd(c->s, dc1, NULL, dpad, pg, s->c1, F, NULL, 0, s->dropped ? s->mask : NULL);
    bias_grad(be, gp + Li->b, Ls ? gp + Ls->b : NULL, dc1, N, HW, F);
    /* bf16: dc1 rounded once for nin_skip's two GEMMs and conv_input's two convs */
    const uint16_t *dc1_16 = bf ? as16(c, dc1, NULL, c->h_dy, rows * F) : NULL;
    if (Ls) {
        gemm_bwd_w(be, gp, dc1, dc1_16, s->cea, s->cea16, Ls, rows);
        gemm_bwd_x(be, dcea, dc1, dc1_16, Ls, wp, rows, 0.0f);
        cu_concat_elu_bwd(c->s, da1, b->skip == 2 ? da2 : NULL, dcea, pad_none(N, h, w), a1, F,
                          b->skip == 2 ? a2 : NULL, b->skip == 2 ? F : 0, NULL);
    }
    /* conv_input */
    conv_shape shi = padded_shape(Li, pg);
    conv_bwd_data(be, shi, Li, wp, dc1, dc1_16, 0.0f, dpad);
    conv_bwd_filter(be, shi, Li, gp, s->cexp, s->cexp16, dc1, dc1_16);
    cu_concat_elu_bwd(c->s, dx, NULL, dpad, pg, x, F, NULL, 0, NULL);
}

static void cu_down_fwd(pcnn_backend *be, void *st, const pcnn_wnlayer *L, const float *wp,
                        const float *in, int N, int h, int w, float *out)
{
    cuda_state *s = (cuda_state *)st;
    cuda_ctx *c = CTX(be);
    pad_geom pg = shifted_pad(L, N, h, w, L->kw == 2);
    cu_pad_copy(c->s, s->inp, pg, in, L->cin);
    conv_shape sh = padded_shape(L, pg);
    int Ho, Wo;
    cu_conv_out_dims(c->cv, &sh, &Ho, &Wo);
    if (Ho != h / 2 || Wo != w / 2)
        pcnn_die("internal error: downsize conv gives %dx%d from %dx%d", Ho, Wo, h, w);
    conv_fwd(be, sh, L, wp, s->inp, NULL, 0.0f, out);
    cu_bias_rows(c->s, out, wp + L->b, (size_t)N * Ho * Wo, L->cout, 1);
}

static void cu_down_bwd(pcnn_backend *be, void *st, const pcnn_wnlayer *L, const float *wp,
                        float *gp, const float *in, int N, int h, int w, const float *dout,
                        float *din)
{
    cuda_state *s = (cuda_state *)st;
    cuda_ctx *c = CTX(be);
    pad_geom pg = shifted_pad(L, N, h, w, L->kw == 2);
    conv_shape sh = padded_shape(L, pg);
    const size_t HWo = (size_t)(h / 2) * (w / 2);
    bias_grad(be, gp + L->b, NULL, dout, N, HWo, L->cout);
    const uint16_t *d16 = NULL;   /* bf16: dout rounded once for both */
    if (c->bf16) {
        need_h(c);
        d16 = as16(c, dout, NULL, c->h_dy, (size_t)N * HWo * L->cout);
    }
    conv_bwd_filter(be, sh, L, gp, s->inp, NULL, dout, d16);
    if (din) {
        conv_bwd_data(be, sh, L, wp, dout, d16, 0.0f, c->sB);
        cu_unpad_add(c->s, din, c->sB, pg, L->cin);
    }
}

/* The conv G whose backward-data is the cropped transposed conv of L on (h, w). */
static conv_shape deconv_shape(const pcnn_wnlayer *L, int N, int h, int w)
{
    int coff = L->kw == 3 ? 1 : 0;   /* down_shifted_deconv crops columns [1, 2w+1) */
    conv_shape sh = {N, L->cout, 2 * h, 2 * w, L->cin, L->kh, L->kw, 2, 0, coff, 0};
    return sh;
}

static void cu_up_fwd(pcnn_backend *be, void *st, const pcnn_wnlayer *L, const float *wp,
                      const float *in, int N, int h, int w, float *out)
{
    cuda_ctx *c = CTX(be);
    conv_shape sh = deconv_shape(L, N, h, w);
    int Ho, Wo;
    cu_conv_out_dims(c->cv, &sh, &Ho, &Wo);
    if (Ho != h || Wo != w) pcnn_die("internal error: deconv plan gives %dx%d for %dx%d", Ho, Wo, h, w);
    conv_bwd_data(be, sh, L, wp, in, NULL, 0.0f, out);
    cu_bias_rows(c->s, out, wp + L->b, (size_t)N * 4 * h * w, L->cout, 1);
}

static void cu_up_bwd(pcnn_backend *be, void *st, const pcnn_wnlayer *L, const float *wp,
                      float *gp, const float *in, int N, int h, int w, const float *dout,
                      float *din)
{
    cuda_ctx *c = CTX(be);
    conv_shape sh = deconv_shape(L, N, h, w);
    bias_grad(be, gp + L->b, NULL, dout, N, (size_t)4 * h * w, L->cout);
    /* G's input is dout (N, 2h, 2w, cout), G's output in (N, h, w, cin). bf16: dout
     * rounded once (h_dy) for both convs, in into h_out (free until conv_fwd's result) */
    const uint16_t *d16 = NULL, *in16 = NULL;
    if (c->bf16) {
        need_h(c);
        d16 = as16(c, dout, NULL, c->h_dy, (size_t)N * 4 * h * w * L->cout);
        in16 = as16(c, in, NULL, c->h_out, (size_t)N * h * w * L->cin);
    }
    conv_bwd_filter(be, sh, L, gp, dout, d16, in, in16);
    if (din) conv_fwd(be, sh, L, wp, dout, d16, 1.0f, din);
}

static void cu_out_fwd(pcnn_backend *be, void *st, const float *wp, const float *ul, int N,
                       float *logits)
{
    cuda_state *s = (cuda_state *)st;
    cuda_ctx *c = CTX(be);
    const pcnn_wnlayer *L = &be->t->layers[be->t->nin_out];
    size_t rows = (size_t)N * be->H * be->W;
    float *e = NULL;
    uint16_t *e16 = NULL;
    if (c->bf16) cu_elu_bf16(c->s, e16 = lazy16(&s->e16, s->e_n), ul, rows * L->cin);
    else cu_elu_fwd(c->s, e = lazy32(&s->e, s->e_n), ul, rows * L->cin);
    s->bf16 = c->bf16;
    cu_bias_rows(c->s, logits, wp + L->b, rows, L->cout, 0);
    gemm_fwd(be, logits, e, e16, L, wp, rows, 1.0f);
}

static void cu_out_bwd(pcnn_backend *be, void *st, const float *wp, float *gp, const float *ul,
                       int N, const float *dlogits, float *dul)
{
    cuda_state *s = (cuda_state *)st;
    cuda_ctx *c = CTX(be);
    const pcnn_wnlayer *L = &be->t->layers[be->t->nin_out];
    size_t rows = (size_t)N * be->H * be->W;
    if (s->bf16 != c->bf16)
        pcnn_die("internal error: nin_out's backward in %s after its forward in %s",
                 c->bf16 ? "bf16" : "float", s->bf16 ? "bf16" : "float");
    bias_grad(be, gp + L->b, NULL, dlogits, N, (size_t)be->H * be->W, L->cout);
    const uint16_t *dl16 = NULL;   /* bf16: dlogits rounded once for both GEMMs */
    if (c->bf16) {
        need_h(c);
        dl16 = as16(c, dlogits, NULL, c->h_dy, rows * L->cout);
    }
    gemm_bwd_w(be, gp, dlogits, dl16, s->e, s->e16, L, rows);
    gemm_bwd_x(be, c->sA, dlogits, dl16, L, wp, rows, 0.0f);
    cu_elu_bwd(c->s, dul, c->sA, ul, rows * L->cin);
}

static void cu_dmol_op(pcnn_backend *be, const float *logits, const float *x, int N, double *ll,
                       float *dlogits, float scale)
{
    cuda_ctx *c = CTX(be);
    size_t HW = (size_t)be->H * be->W;
    cu_dmol(c->s, c->lp, dlogits, logits, x, (size_t)N * HW, be->t->M, scale);
    cu_image_sum(c->s, c->lld, c->lp, N, HW);
    if (c->capturing) return;   /* graph_ll fetches ll after the graph */
    CK(cudaMemcpyAsync(ll, c->lld, (size_t)N * sizeof(double), cudaMemcpyDeviceToHost, c->s));
    CK(cudaStreamSynchronize(c->s));
}

static void cu_adam_op(pcnn_backend *be, float *params, const float *grads, float *m, float *v,
                       float *polyak, size_t n, float lr, float beta1, float beta2, float eps,
                       uint64_t t, float decay)
{
    /* the CPU's host-side bias corrections, in double, then cast */
    float step, rbc2;
    km_adam_consts(lr, beta1, beta2, t, &step, &rbc2);
    cu_adam(CTX(be)->s, params, grads, m, v, polyak, n, step, rbc2, beta1, beta2, eps, decay);
}

/* ---------------------------------------------------------------- graphs */

static void graph_drop(graph_entry *e)
{
    if (e->exec) CK(cudaGraphExecDestroy(e->exec));
    e->exec = NULL;
}

/* Graph entry i replayed (1), or its capture begun on the stream (0; ended by cu_graph_end). */
static int graph_replay_or_capture(cuda_ctx *c, int i)
{
    graph_entry *e = &c->gr[i];
    if (e->exec) {
        CK(cudaGraphLaunch(e->exec, c->s));
        return 1;
    }
    CK(cudaStreamBeginCapture(c->s, cudaStreamCaptureModeThreadLocal));
    c->capturing = 1;
    c->cur = i;
    return 0;
}

/* The entry of key (made at its first call): its index. */
static int graph_find(cuda_ctx *c, uint64_t key)
{
    int i = 0;
    while (i < c->ngr && c->gr[i].key != key) i++;
    if (i == c->ngr) {
        if (c->ngr == c->capgr) {
            c->capgr = c->capgr ? 2 * c->capgr : 8;
            c->gr = (graph_entry *)pcnn_xrealloc(c->gr, (size_t)c->capgr * sizeof *c->gr);
        }
        c->gr[c->ngr++] = graph_entry{key, 0, NULL, 0};
    }
    return i;
}

static int cu_graph_begin(pcnn_backend *be, uint64_t key, uint64_t step)
{
    cuda_ctx *c = CTX(be);
    if (!c->graphs) return -1;
    if (c->capturing) pcnn_die("internal error: a graph begun inside a capture");
    int i = graph_find(c, key);
    graph_entry *e = &c->gr[i];
    e->calls++;
    /* every copy of the weights is made inside the graph: at a capture, so that its
     * conversions are recorded; after a replay, so that plain ops do not trust copies the
     * graph made */
    c->bw->wgen++;
    c->bw->lo = c->bw->hi = NULL;
    if (e->exec && e->ws_gen != cu_convs_ws_gen(c->cv)) graph_drop(e);   /* stale workspace */
    if (e->calls == 1) return -1;   /* plans, workspace, buffers: made by a plain pass first */
    CK(cudaStreamSynchronize(c->s));   /* the last replay has read h_step */
    *c->h_step = step;
    int g = graph_replay_or_capture(c, i);
    if (g == 0) CK(cudaMemcpyAsync(c->d_step, c->h_step, sizeof *c->h_step, cudaMemcpyHostToDevice, c->s));
    return g;
}

static void cu_graph_end(pcnn_backend *be)
{
    cuda_ctx *c = CTX(be);
    graph_entry *e = &c->gr[c->cur];
    cudaGraph_t g = NULL;
    c->capturing = 0;
    CK(cudaStreamEndCapture(c->s, &g));
    CK(cudaGraphInstantiate(&e->exec, g, 0));
    CK(cudaGraphDestroy(g));
    e->ws_gen = cu_convs_ws_gen(c->cv);
    CK(cudaGraphLaunch(e->exec, c->s));
}

/* One position of the cached sampler on this window (nn_backend.h pos_graph_begin): the
 * first call of a shape runs plainly (plans, workspace, lazily made buffers come to be),
 * the second is captured, later ones replay. What a position changes is in the position
 * table and the pixels, read from pinned memory by the graph's own copies. No weight
 * generation is begun: the weights stay during a scan and their copies were made by the
 * shape's plain run (one made inside a capture is made again at each replay: the same
 * values). A bigger cuDNN workspace since the capture means a recapture. Ended by
 * cu_graph_end. */
static int cu_pos_graph_begin(pcnn_backend *be, uint64_t key)
{
    cuda_ctx *c = CTX(be);
    if (!c->pos_graphs) return -1;
    if (c->capturing) pcnn_die("internal error: a graph begun inside a capture");
    int i = graph_find(c, key);
    graph_entry *e = &c->gr[i];
    e->calls++;
    if (e->exec && e->ws_gen != cu_convs_ws_gen(c->cv)) graph_drop(e);   /* stale workspace */
    if (e->calls == 1) return -1;
    return graph_replay_or_capture(c, i);
}

static void cu_graph_ll(pcnn_backend *be, double *ll, int N)
{
    cuda_ctx *c = CTX(be);
    CK(cudaMemcpyAsync(ll, c->lld, (size_t)N * sizeof(double), cudaMemcpyDeviceToHost, c->s));
    CK(cudaStreamSynchronize(c->s));
}

/* PCNN_PREC_BF16: bf16 operands from now on; PCNN_PREC_FP32: back to the backend's own
 * mode (PCNN_PRECISION: fp32, tf32 or bf16). Windows keep the mode they were made in. */
static int cu_set_precision(pcnn_backend *be, int prec)
{
    cuda_ctx *c = CTX(be);
    if (prec == PCNN_PREC_BF16)
        c->bf16 = 1;
    else if (prec == PCNN_PREC_FP32)
        c->bf16 = c->base_bf16;
    else
        return -1;
    return 0;
}

static void cu_destroy(pcnn_backend *be)
{
    if (!be) return;
    cuda_ctx *c = CTX(be);
    if (c) {
        cudaStreamSynchronize(c->s);
        void *bufs[] = {c->sA, c->sB, c->sC, c->sD, c->partial, c->dwk, c->lp, c->lld,
                        c->h_in, c->h_out, c->h_dy, c->h_w, c->fx};
        for (void *p : bufs)
            if (p) cudaFree(p);
        for (int i = 0; i < c->ngr; i++) graph_drop(&c->gr[i]);   /* a window's: positions */
        free(c->gr);
        if (!c->window) {
            if (c->h_step) cudaFreeHost(c->h_step);
            if (c->d_step) cudaFree(c->d_step);
            if (c->blas_ws) cudaFree(c->blas_ws);
            pcnn_nccl_device_free(&c->coll);
            if (c->bw) {
                if (c->bw->buf32) cudaFree(c->bw->buf32);
                if (c->bw->buf16) cudaFree(c->bw->buf16);
                free(c->bw->off);
                free(c->bw->gen32);
                free(c->bw->gen16);
                free(c->bw->src32);
                free(c->bw->src16);
                free(c->bw);
            }
            cu_convs_free(c->cv);
            void *rows[] = {c->rows_v, c->rows_g, c->rows_len};
            for (void *p : rows)
                if (p) cudaFree(p);
            cublasDestroy(c->blas);
            cudnnDestroy(c->dnn);
            cudaStreamDestroy(c->s);
        }
        free(c);
    }
    free(be);
}

/* Floats per image that the backend's states and scratch and the graph's
 * activations (output + gradient per block, about 2F per pixel) take. */
static size_t per_image_floats(const pcnn_param_table *t, int H, int W)
{
    size_t F = (size_t)t->F, sum = 0;
    for (int l = 0; l < 3; l++) {
        size_t hw = (size_t)(H >> l) * (W >> l), phw = (size_t)((H >> l) + 1) * ((W >> l) + 2);
        size_t nblocks = 2 * (size_t)t->R + 2 * (size_t)(l ? t->R + 1 : t->R);
        /* cexp, hdp (padded 2F), c1 (F), c2 (2F), cea (up to 4F), graph (~4F); film c2p (2F) */
        sum += nblocks * (4 * F * phw + 11 * F * hw + (t->cond & PCNN_COND_FILM ? 2 * F * hw : 0));
    }
    size_t HW = (size_t)H * W, PHW = (size_t)(H + 1) * (W + 2);
    sum += 12 * PHW + F * HW;                          /* input, out states */
    if (t->cond & PCNN_COND_INPUT) sum += 8 * PHW;     /* class map: dpad, dxin */
    sum += 2 * F * HW + 2 * F * PHW + F * HW + 4 * F * HW + HW + 10 * (size_t)t->M * HW * 2;
    return sum;
}


/* Row table of the weight norm: every row of every layer, flattened. */
static void build_rows(cuda_ctx *c, const pcnn_param_table *t)
{
    size_t n = 0;
    for (int i = 0; i < t->nlayers; i++) n += t->layers[i].rows;
    size_t *hv = (size_t *)pcnn_xcalloc(n ? n : 1, sizeof *hv);
    size_t *hg = (size_t *)pcnn_xcalloc(n ? n : 1, sizeof *hg);
    int *hl = (int *)pcnn_xcalloc(n ? n : 1, sizeof *hl);
    size_t k = 0;
    for (int i = 0; i < t->nlayers; i++) {
        const pcnn_wnlayer *L = &t->layers[i];
        for (size_t r = 0; r < L->rows; r++, k++) {
            hv[k] = L->v + r * L->rowlen;
            hg[k] = L->g + r;
            hl[k] = (int)L->rowlen;
        }
    }
    c->rows_v = (size_t *)dalloc(n * sizeof *hv);
    c->rows_g = (size_t *)dalloc(n * sizeof *hg);
    c->rows_len = (int *)dalloc(n * sizeof *hl);
    CK(cudaMemcpy(c->rows_v, hv, n * sizeof *hv, cudaMemcpyHostToDevice));
    CK(cudaMemcpy(c->rows_g, hg, n * sizeof *hg, cudaMemcpyHostToDevice));
    CK(cudaMemcpy(c->rows_len, hl, n * sizeof *hl, cudaMemcpyHostToDevice));
    free(hv);
    free(hg);
    free(hl);
    c->rows.n = n;
    c->rows.v = c->rows_v;
    c->rows.g = c->rows_g;
    c->rows.len = c->rows_len;
}

/* The GPU of this process: one process takes GPU 0 (CUDA_VISIBLE_DEVICES picks another); a rank
 * of several takes its node-local rank mod the visible GPUs (so ranks = GPUs on a host gives one
 * each; srun --gpus-per-task=1 or a per-rank CUDA_VISIBLE_DEVICES leaves one visible: that one)
 * and says which, once per process. */
static int rank_device(const pcnn_rank_place *p, int ndev)
{
    if (!p || p->nranks <= 1) return 0;
    int dev = p->local_rank % ndev;
    static int told;
    if (!told) {
        told = 1;
        char host[256] = "?", bus[32] = "?";
        gethostname(host, sizeof host);
        host[sizeof host - 1] = '\0';
        CK(cudaDeviceGetPCIBusId(bus, (int)sizeof bus, dev));
        cudaDeviceProp prop;
        CK(cudaGetDeviceProperties(&prop, dev));
        const char *vis = getenv("CUDA_VISIBLE_DEVICES");
        pcnn_note("rank %d of %d (host %s, local rank %d of %d): GPU %d of the %d visible%s%s%s, "
                  "%s, PCI %s", p->rank, p->nranks, host, p->local_rank, p->local_size, dev, ndev,
                  vis ? " (CUDA_VISIBLE_DEVICES=" : "", vis ? vis : "", vis ? ")" : "", prop.name,
                  bus);
    }
    return dev;
}

static void alloc_scratch(cuda_ctx *c, const pcnn_param_table *t, int max_batch, int H, int W);
static weight_copies *weight_copies_new(const pcnn_param_table *t);
static void set_ops(pcnn_backend *be);

extern "C" pcnn_backend *pcnn_cuda_backend_create(const pcnn_param_table *t, int max_batch, int H,
                                               int W)
{
    return pcnn_cuda_backend_create_at(t, max_batch, H, W, NULL);
}

extern "C" pcnn_backend *pcnn_cuda_backend_create_at(const pcnn_param_table *t, int max_batch,
                                                  int H, int W, const pcnn_rank_place *place)
{
    int ndev = 0;
    cudaError_t e = cudaGetDeviceCount(&ndev);
    if (e != cudaSuccess || ndev == 0) {
        pcnn_note("no CUDA GPU available (%s)",
                  e != cudaSuccess ? cudaGetErrorString(e) : "no device found");
        cudaGetLastError();
        return NULL;
    }
    const char *prec = getenv("PCNN_PRECISION");
    int tf32 = 0, bf16 = 0;
    if (prec && *prec) {
        if (!strcmp(prec, "tf32"))
            tf32 = 1;
        else if (!strcmp(prec, "bf16"))
            bf16 = 1;
        else if (strcmp(prec, "fp32")) {
            pcnn_warn("PCNN_PRECISION=%s: expected fp32, tf32 or bf16", prec);
            return NULL;
        }
    }
    const size_t rows = (size_t)max_batch * H * W, F = (size_t)t->F;
    if (rows * 4 * F > (size_t)0x7fffffff) {
        pcnn_warn("batch %d of %dx%d images is too large for one cuDNN/cuBLAS call; use a "
                  "smaller batch (-b)", max_batch, H, W);
        return NULL;
    }
    const int device = rank_device(place, ndev);
    CK(cudaSetDevice(device));

    /* The memory estimate behind the out-of-memory advice. */
    size_t maxw = 0;
    for (int i = 0; i < t->nlayers; i++) {
        size_t sz = t->layers[i].rows * t->layers[i].rowlen;
        if (sz > maxw) maxw = sz;
    }
    size_t ws_limit = (size_t)1 << 30;
    g_oom.max_batch = max_batch;
    g_oom.per_image_bytes = per_image_floats(t, H, W) * sizeof(float);
    /* params, grads, gp, wp, Adam m and v, Polyak, host-side copies; the weight copies
     * (float and bf16, weight_copies); a filter gradient */
    g_oom.fixed_bytes = (size_t)9 * t->total * sizeof(float) +
                        t->total * (sizeof(float) + sizeof(uint16_t)) + maxw * sizeof(float) + ws_limit +
                        ((size_t)600 << 20);   /* CUDA context, cuDNN and cuBLAS handles */
    g_oom.allocated = 0;

    pcnn_backend *be = (pcnn_backend *)pcnn_xcalloc(1, sizeof *be);
    cuda_ctx *c = (cuda_ctx *)pcnn_xcalloc(1, sizeof *c);
    be->name = "cuda";
    be->ctx = c;
    be->t = t;
    be->max_batch = max_batch;
    be->H = H;
    be->W = W;
    c->tf32 = tf32;
    c->base_bf16 = c->bf16 = bf16;
    c->device = device;
    CK(cudaStreamCreate(&c->s));
    pcnn_nccl_device_init(&c->coll, c->s, device);
    be->coll = &c->coll;
    CK(cudnnCreate(&c->dnn));
    CK(cudnnSetStream(c->dnn, c->s));
    CK(cublasCreate(&c->blas));
    CK(cublasSetStream(c->blas, c->s));
    CK(cublasSetMathMode(c->blas, tf32 ? CUBLAS_TF32_TENSOR_OP_MATH : CUBLAS_DEFAULT_MATH));
    c->cv = cu_convs_new(c->dnn, c->s, tf32, ws_limit);
    build_rows(c, t);
    c->bw = weight_copies_new(t);
    /* cuBLAS's workspace given (32 MiB, its own default on Hopper), in every mode so that
     * graphs and plain passes run the same GEMMs: a capture must allocate nothing */
    const size_t bws = (size_t)32 << 20;
    c->blas_ws = dalloc(bws);
    CK(cublasSetWorkspace(c->blas, c->blas_ws, bws));
    const char *ge = getenv("PCNN_CUDA_GRAPH"), *lb = getenv("CUDA_LAUNCH_BLOCKING");
    c->graphs = ge && *ge && strcmp(ge, "0") != 0;
    if (c->graphs && lb && !strcmp(lb, "1")) {
        /* synchronous launches cannot be captured */
        pcnn_warn("PCNN_CUDA_GRAPH=1 ignored: CUDA_LAUNCH_BLOCKING=1 makes every launch "
                  "synchronous, which a stream capture refuses");
        c->graphs = 0;
    }
    if (c->graphs) {
        CK(cudaMallocHost((void **)&c->h_step, sizeof *c->h_step));
        c->d_step = (uint64_t *)dalloc(sizeof *c->d_step);
    }
    alloc_scratch(c, t, max_batch, H, W);
    set_ops(be);
    return be;
}

/* A backend for H x W windows (the cached sampler's, net_sample.c) that runs on
 * parent's stream with its cuDNN and cuBLAS handles and convolution plans (so the
 * window ops and parent's node buffers are used in one order, and each window shape
 * is planned once), with scratch of its own size. Destroyed before parent. */
static pcnn_backend *cu_window_new(pcnn_backend *parent, int max_batch, int H, int W)
{
    const cuda_ctx *pc = CTX(parent);
    CK(cudaSetDevice(pc->device));
    pcnn_backend *be = (pcnn_backend *)pcnn_xcalloc(1, sizeof *be);
    cuda_ctx *c = (cuda_ctx *)pcnn_xcalloc(1, sizeof *c);
    *c = *pc;
    c->window = 1;
    c->coll = pcnn_dist_device();   /* no collectives on a window */
    c->h_in = c->h_out = c->h_dy = c->h_w = NULL;   /* its own bf16 scratch, of its size */
    c->fx = NULL;
    c->graphs = c->capturing = 0;   /* no passes as graphs on a window; its positions */
    c->pos_graphs = pc->graphs;     /* (the cached sampler's) with PCNN_CUDA_GRAPH=1 */
    c->gr = NULL;
    c->ngr = c->capgr = 0;
    c->h_step = c->d_step = NULL;
    c->blas_ws = NULL;
    be->name = parent->name;
    be->ctx = c;
    be->t = parent->t;
    be->max_batch = max_batch;
    be->H = H;
    be->W = W;
    alloc_scratch(c, be->t, max_batch, H, W);
    set_ops(be);
    be->coll = NULL;
    return be;
}

/* The scratch of a backend for max_batch images of H x W. */
static void alloc_scratch(cuda_ctx *c, const pcnn_param_table *t, int max_batch, int H, int W)
{
    const size_t rows = (size_t)max_batch * H * W, F = (size_t)t->F;
    size_t maxw = 0;
    for (int i = 0; i < t->nlayers; i++) {
        size_t sz = t->layers[i].rows * t->layers[i].rowlen;
        if (sz > maxw) maxw = sz;
    }
    size_t prows = (size_t)max_batch * (H + 1) * (W + 2);
    size_t wide = (size_t)(10 * t->M) > 2 * F ? (size_t)(10 * t->M) : 2 * F;
    c->sA = falloc(rows * 2 * F);
    c->sB = falloc(prows * 2 * F);
    c->sC = falloc(rows * F);
    c->sD = falloc(rows * 4 * F);
    c->partial = falloc((size_t)max_batch * wide);
    c->dwk = falloc(maxw);
    c->lp = falloc(rows);
    c->lld = (double *)dalloc((size_t)max_batch * sizeof(double));
    /* bf16 scratch (made at the first bf16 op): an operand (the largest: a padded 2F
     * tensor, a 4F nin_skip input), a cuDNN result (c2, or a padded 2F backward-data),
     * a gradient operand (2F or 10M per pixel), a filter gradient */
    c->h_in_n = prows * 2 * F > rows * 4 * F ? prows * 2 * F : rows * 4 * F;
    c->h_out_n = prows * 2 * F;
    c->h_dy_n = rows * wide;
    c->h_w_n = maxw;
}

/* The weight copies' table; each buffer (the size of the weights, in float or bf16) is made
 * at its first use. */
static weight_copies *weight_copies_new(const pcnn_param_table *t)
{
    weight_copies *w = (weight_copies *)pcnn_xcalloc(1, sizeof *w);
    const size_t nl = (size_t)t->nlayers + 1;
    w->off = (size_t *)pcnn_xcalloc(nl, sizeof *w->off);
    w->gen32 = (uint64_t *)pcnn_xcalloc(nl, sizeof *w->gen32);
    w->gen16 = (uint64_t *)pcnn_xcalloc(nl, sizeof *w->gen16);
    w->src32 = (const float **)pcnn_xcalloc(nl, sizeof *w->src32);
    w->src16 = (const float **)pcnn_xcalloc(nl, sizeof *w->src16);
    size_t n = 0;
    for (int i = 0; i < t->nlayers; i++) {
        w->off[i] = n;
        n += t->layers[i].rows * t->layers[i].rowlen;
    }
    w->total = n ? n : 1;
    w->wgen = 1;   /* gen 0: no copy yet */
    return w;
}

static void set_ops(pcnn_backend *be)
{
    be->destroy = cu_destroy;
    be->alloc = cu_alloc;
    be->release = cu_release;
    be->upload = cu_upload;
    be->download = cu_download;
    be->zero = cu_zero;
    be->copy_block = cu_copy_block_op;
    be->window_new = cu_window_new;
    be->windows_threaded = 0;   /* the windows share one stream */
    be->score_wide = 1;   /* K classes in one wide pass (net.c loglik_wide) */
    be->state_new = cu_state_new;
    be->state_free = cu_state_free;
    be->wn_fwd = cu_wn_fwd_op;
    be->wn_bwd = cu_wn_bwd_op;
    be->input_fwd = cu_input_fwd;
    be->input_bwd = cu_input_bwd;
    be->gated_fwd = cu_gated_fwd;
    be->gated_bwd = cu_gated_bwd;
    be->down_fwd = cu_down_fwd;
    be->down_bwd = cu_down_bwd;
    be->up_fwd = cu_up_fwd;
    be->up_bwd = cu_up_bwd;
    be->out_fwd = cu_out_fwd;
    be->out_bwd = cu_out_bwd;
    be->dmol = cu_dmol_op;
    be->adam = cu_adam_op;
    be->set_precision = cu_set_precision;
    be->graph_begin = cu_graph_begin;
    be->graph_end = cu_graph_end;
    be->graph_ll = cu_graph_ll;
    be->host_alloc = cu_host_alloc;
    be->host_release = cu_host_release;
    be->upload_async = cu_upload_async;
    be->download_async = cu_download_async;
    be->sync = cu_sync;
    be->copy_table = cu_copy_table_op;
    be->input_fwd_tab = cu_input_fwd_tab;
    be->pos_graph_begin = cu_pos_graph_begin;
    be->pos_graph_end = cu_graph_end;
    /* PCNN_CUDA_GRAPH=1: the cached sampler's positions as graphs (net_sample.c) */
    be->sample_graphs = CTX(be)->graphs || CTX(be)->pos_graphs;
}
