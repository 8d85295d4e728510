/* dist.c — the collectives of data parallelism; see dist.h. */
#include "dist.h"

#include "util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef PCNN_HAVE_MPI
#include <mpi.h>
#endif

static int g_rank = 0, g_size = 1, g_local_rank = 0, g_local_size = 1;
static double g_seconds;
static const pcnn_dist_device *g_dev;          /* the joined device group, NULL for none */
static char g_dev_name[PCNN_DIST_NAME_MAX];
#ifdef PCNN_HAVE_MPI
static int g_started, g_finished;   /* MPI_Init done; MPI_Finalize done */
#endif

/* The size a launcher announces (Open MPI, PMI-1/2 of Hydra and Slurm), 0 when none. */
static long launcher_size(void)
{
    const char *vars[] = {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE"};
    for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++) {
        const char *s = getenv(vars[i]);
        long v;
        if (s && !pcnn_parse_long(s, 1, 1L << 30, &v)) return v;
    }
    return getenv("PMIX_RANK") ? 1 : 0;   /* srun --mpi=pmix: the size comes from MPI */
}

#ifdef PCNN_HAVE_MPI
static char g_progname[256];

/* exit() on a rank without pcnn_dist_exit (pcnn_die, a usage error): the other ranks may
 * wait in a collective for this one, so end them all. */
static void on_exit_abort(void)
{
    if (g_started && !g_finished && g_size > 1) MPI_Abort(MPI_COMM_WORLD, 1);
}

static int comm_size_int(size_t n)
{
    if (n > 0x7fffffff) pcnn_die("internal error: a collective of %zu items (MPI counts are int)", n);
    return (int)n;
}
#endif

int pcnn_dist_init(void)
{
    long announced = launcher_size();
    const char *off = getenv("PCNN_MPI");
    if (!announced || (off && !strcmp(off, "0"))) return 0;
#ifdef PCNN_HAVE_MPI
    int provided;
    /* The tools call MPI from the main thread only (OpenMP works between the calls). */
    MPI_Init_thread(NULL, NULL, MPI_THREAD_FUNNELED, &provided);
    MPI_Comm_rank(MPI_COMM_WORLD, &g_rank);
    MPI_Comm_size(MPI_COMM_WORLD, &g_size);
    g_started = 1;
    atexit(on_exit_abort);
    /* the ranks on this host: each takes its own GPU (backend_cuda_load.c) */
    MPI_Comm host;
    if (MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, g_rank, MPI_INFO_NULL, &host) ==
        MPI_SUCCESS) {
        MPI_Comm_rank(host, &g_local_rank);
        MPI_Comm_size(host, &g_local_size);
        MPI_Comm_free(&host);
    }
    if (g_rank > 0) {
        snprintf(g_progname, sizeof g_progname, "%s[%d]", pcnn_progname, g_rank);
        pcnn_progname = g_progname;
    }
    return 0;
#else
    if (announced > 1) {
        pcnn_warn("started as one of %ld ranks, but this pcnn was built without MPI: each copy "
                  "would do the whole job (rebuild with libopenmpi-dev installed: make deps; "
                  "make MPI=1)", announced);
        return -1;
    }
    return 0;
#endif
}

int pcnn_dist_rank(void) { return g_rank; }
int pcnn_dist_size(void) { return g_size; }
int pcnn_dist_local_rank(void) { return g_local_rank; }
int pcnn_dist_local_size(void) { return g_local_size; }

const char *pcnn_dist_library(void)
{
#ifdef PCNN_HAVE_MPI
    return "MPI";
#else
    return "none";
#endif
}

int pcnn_dist_exit(int rc, int collective)
{
#ifdef PCNN_HAVE_MPI
    if (!g_started || g_finished) return rc;
    if (rc != 0 && !collective && g_size > 1) {
        fflush(NULL);
        MPI_Abort(MPI_COMM_WORLD, rc);
    }
    g_finished = 1;
    MPI_Finalize();
#else
    (void)collective;
#endif
    return rc;
}

void pcnn_dist_shard(uint64_t n, int r, int N, uint64_t *lo, uint64_t *hi)
{
    uint64_t q = n / (uint64_t)N, rem = n % (uint64_t)N, ur = (uint64_t)r;
    *lo = ur * q + (ur < rem ? ur : rem);
    *hi = *lo + q + (ur < rem ? 1 : 0);
}

double pcnn_dist_seconds(void) { return g_seconds; }

#ifdef PCNN_HAVE_MPI
/* counts and displacements (items of unit bytes) of the N shards of n items */
static void shard_counts(uint64_t n, size_t unit, int *cnt, int *dsp)
{
    for (int r = 0; r < g_size; r++) {
        uint64_t lo, hi;
        pcnn_dist_shard(n, r, g_size, &lo, &hi);
        cnt[r] = comm_size_int((size_t)(hi - lo) * unit);
        dsp[r] = comm_size_int((size_t)lo * unit);
    }
}

static void check(int rc, const char *what)
{
    if (rc != MPI_SUCCESS) {
        char msg[MPI_MAX_ERROR_STRING];
        int len = 0;
        MPI_Error_string(rc, msg, &len);
        pcnn_warn("%s failed: %s", what, msg);
        MPI_Abort(MPI_COMM_WORLD, 1);
    }
}
#endif

void pcnn_dist_sum_floats(float *buf, size_t n)
{
#ifdef PCNN_HAVE_MPI
    if (g_size <= 1) return;
    double t0 = pcnn_now();
    int N = g_size;
    int *scnt = pcnn_xmalloc(4 * (size_t)N * sizeof *scnt), *sdsp = scnt + N, *rcnt = scnt + 2 * N,
        *rdsp = scnt + 3 * N;
    shard_counts(n, 1, scnt, sdsp);
    int mine = scnt[g_rank];
    for (int r = 0; r < N; r++) {
        rcnt[r] = mine;
        rdsp[r] = r * mine;
    }
    /* piece j of every rank to rank j: recv (N x mine), rank r's piece at row r */
    float *recv = pcnn_xmalloc(((size_t)N * (size_t)mine + 1) * sizeof *recv);
    check(MPI_Alltoallv(buf, scnt, sdsp, MPI_FLOAT, recv, rcnt, rdsp, MPI_FLOAT, MPI_COMM_WORLD),
          "MPI_Alltoallv");
    float *acc = buf + sdsp[g_rank];
    for (int i = 0; i < mine; i++) {
        float s = recv[i];
        for (int r = 1; r < N; r++) s += recv[(size_t)r * mine + i];
        acc[i] = s;
    }
    check(MPI_Allgatherv(MPI_IN_PLACE, 0, MPI_FLOAT, buf, scnt, sdsp, MPI_FLOAT, MPI_COMM_WORLD),
          "MPI_Allgatherv");
    free(recv);
    free(scnt);
    g_seconds += pcnn_now() - t0;
#else
    (void)buf;
    (void)n;
#endif
}

void pcnn_dist_allgather_doubles(const double *mine, int n, double *all)
{
#ifdef PCNN_HAVE_MPI
    if (g_size > 1) {
        double t0 = pcnn_now();
        check(MPI_Allgather(mine, n, MPI_DOUBLE, all, n, MPI_DOUBLE, MPI_COMM_WORLD),
              "MPI_Allgather");
        g_seconds += pcnn_now() - t0;
        return;
    }
#endif
    memmove(all, mine, (size_t)n * sizeof *all);
}

void pcnn_dist_allgather_shards(const double *mine, uint64_t n, size_t per, double *all)
{
#ifdef PCNN_HAVE_MPI
    if (g_size > 1) {
        double t0 = pcnn_now();
        int *cnt = pcnn_xmalloc(2 * (size_t)g_size * sizeof *cnt), *dsp = cnt + g_size;
        shard_counts(n, per, cnt, dsp);
        check(MPI_Allgatherv(mine, cnt[g_rank], MPI_DOUBLE, all, cnt, dsp, MPI_DOUBLE,
                             MPI_COMM_WORLD), "MPI_Allgatherv");
        free(cnt);
        g_seconds += pcnn_now() - t0;
        return;
    }
#endif
    memmove(all, mine, (size_t)n * per * sizeof *all);
}

void pcnn_dist_gather_shards(const void *mine, uint64_t n, size_t per_bytes, void *out)
{
#ifdef PCNN_HAVE_MPI
    if (g_size > 1) {
        double t0 = pcnn_now();
        int *cnt = pcnn_xmalloc(2 * (size_t)g_size * sizeof *cnt), *dsp = cnt + g_size;
        shard_counts(n, per_bytes, cnt, dsp);
        check(MPI_Gatherv(mine, cnt[g_rank], MPI_BYTE, out, cnt, dsp, MPI_BYTE, 0, MPI_COMM_WORLD),
              "MPI_Gatherv");
        free(cnt);
        g_seconds += pcnn_now() - t0;
        return;
    }
#endif
    memmove(out, mine, (size_t)n * per_bytes);
}

void pcnn_dist_scatter_shards(const void *all, uint64_t n, size_t per_bytes, void *mine)
{
#ifdef PCNN_HAVE_MPI
    if (g_size > 1) {
        double t0 = pcnn_now();
        int *cnt = pcnn_xmalloc(2 * (size_t)g_size * sizeof *cnt), *dsp = cnt + g_size;
        shard_counts(n, per_bytes, cnt, dsp);
        check(MPI_Scatterv(all, cnt, dsp, MPI_BYTE, mine, cnt[g_rank], MPI_BYTE, 0, MPI_COMM_WORLD),
              "MPI_Scatterv");
        free(cnt);
        g_seconds += pcnn_now() - t0;
        return;
    }
#endif
    memmove(mine, all, (size_t)n * per_bytes);
}

void pcnn_dist_bcast(void *buf, size_t bytes)
{
#ifdef PCNN_HAVE_MPI
    if (g_size <= 1) return;
    double t0 = pcnn_now();
    check(MPI_Bcast(buf, comm_size_int(bytes), MPI_BYTE, 0, MPI_COMM_WORLD), "MPI_Bcast");
    g_seconds += pcnn_now() - t0;
#else
    (void)buf;
    (void)bytes;
#endif
}

int pcnn_dist_max_int(int v)
{
#ifdef PCNN_HAVE_MPI
    if (g_size <= 1) return v;
    int out = v;
    double t0 = pcnn_now();
    check(MPI_Allreduce(&v, &out, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD), "MPI_Allreduce");
    g_seconds += pcnn_now() - t0;
    return out;
#else
    return v;
#endif
}

/* ---------------------------------------------------------------- device collectives */

#ifdef PCNN_HAVE_MPI
/* The stand-in of PCNN_TEST_DEVICE_COLL: "device" memory is host memory and the sum is
 * pcnn_dist_sum_floats, so a run through the device path must give the host path's bytes;
 * the id is a pattern that join checks, so its bytes must have come through MPI_Bcast. */
static const char test_id[] = "pcnn-test-group";

static const char *test_open(void *ctx, char *name, char *gpu)
{
    const char *mode = ctx;
    if (!strcmp(mode, "unavailable") && g_rank > 0)
        return "the test stand-in is unavailable here (PCNN_TEST_DEVICE_COLL=unavailable)";
    snprintf(name, PCNN_DIST_NAME_MAX, "the test stand-in (host memory over MPI)");
    snprintf(gpu, PCNN_DIST_NAME_MAX, "test-device-%d", !strcmp(mode, "shared") ? 0 : g_rank);
    return NULL;
}

static void test_make_id(void *ctx, void *id)
{
    (void)ctx;
    memcpy(id, test_id, sizeof test_id);
}

static void test_join(void *ctx, const void *id, int rank, int nranks)
{
    (void)ctx;
    if (memcmp(id, test_id, sizeof test_id) || rank != g_rank || nranks != g_size)
        pcnn_die("internal error: the test group's id or rank did not arrive");
}

static void test_sum(void *ctx, float *buf, size_t n)
{
    (void)ctx;
    double s = g_seconds;
    pcnn_dist_sum_floats(buf, n);
    g_seconds = s;   /* counted once, by the caller */
}

static void test_wait(void *ctx) { (void)ctx; }
#endif

int pcnn_dist_device_join(const pcnn_dist_device *dev, int quiet)
{
    g_dev = NULL;
#ifdef PCNN_HAVE_MPI
    if (g_size <= 1) return 0;
    static pcnn_dist_device stand_in;
    const char *test = getenv("PCNN_TEST_DEVICE_COLL");
    if (!dev && test && *test && strcmp(test, "0")) {
        stand_in = (pcnn_dist_device){(void *)test, sizeof test_id, test_open, test_make_id,
                                      test_join, test_sum, test_wait};
        dev = &stand_in;
    }
    double t0 = pcnn_now();
    /* state of each rank: 0 no device (the CPU), 1 a device without a usable collective, 2 usable */
    char name[PCNN_DIST_NAME_MAX] = "", gpu[PCNN_DIST_NAME_MAX] = "", why[200] = "";
    const char *no = dev ? dev->open(dev->ctx, name, gpu) : "it runs on the CPU";
    int mine = !dev ? 0 : no ? 1 : 2, any = 0, bad = -1, joined = 0;
    if (no) snprintf(why, sizeof why, "%s", no);
    int *state = pcnn_xmalloc((size_t)g_size * sizeof *state);
    char *gpus = pcnn_xmalloc((size_t)g_size * PCNN_DIST_NAME_MAX);
    check(MPI_Allgather(&mine, 1, MPI_INT, state, 1, MPI_INT, MPI_COMM_WORLD), "MPI_Allgather");
    for (int r = 0; r < g_size; r++) {
        any |= state[r] != 0;
        if (state[r] != 2 && bad < 0) bad = r;
    }
    if (!any) goto out;   /* every rank on the CPU: the host sum is the only one */
    if (bad >= 0) {       /* the first rank without one says why */
        check(MPI_Bcast(why, (int)sizeof why, MPI_CHAR, bad, MPI_COMM_WORLD), "MPI_Bcast");
        if (g_rank == 0 && !quiet)
            pcnn_note("gradients summed in host memory over MPI, not on the devices: rank %d: %s",
                      bad, why);
        goto out;
    }
    check(MPI_Allgather(gpu, PCNN_DIST_NAME_MAX, MPI_CHAR, gpus, PCNN_DIST_NAME_MAX, MPI_CHAR,
                        MPI_COMM_WORLD), "MPI_Allgather");
    for (int r = 0; r < g_size; r++)
        for (int q = r + 1; q < g_size; q++)
            if (!strncmp(gpus + (size_t)r * PCNN_DIST_NAME_MAX, gpus + (size_t)q * PCNN_DIST_NAME_MAX,
                         PCNN_DIST_NAME_MAX)) {
                if (g_rank == 0 && !quiet)
                    pcnn_note("gradients summed in host memory over MPI, not on the devices: "
                              "ranks %d and %d share one GPU (%s needs one GPU per rank: as many "
                              "ranks per host as GPUs)", r, q, name);
                goto out;
            }
    unsigned char id[PCNN_DIST_ID_MAX];
    if (dev->id_bytes > sizeof id) pcnn_die("internal error: a group id of %zu bytes", dev->id_bytes);
    memset(id, 0, sizeof id);
    if (g_rank == 0) dev->make_id(dev->ctx, id);
    check(MPI_Bcast(id, (int)dev->id_bytes, MPI_BYTE, 0, MPI_COMM_WORLD), "MPI_Bcast");
    dev->join(dev->ctx, id, g_rank, g_size);
    g_dev = dev;
    snprintf(g_dev_name, sizeof g_dev_name, "%s", name);
    joined = 1;
out:
    free(state);
    free(gpus);
    g_seconds += pcnn_now() - t0;
    return joined;
#else
    (void)dev;
    (void)quiet;
    return 0;
#endif
}

void pcnn_dist_sum_device_floats(float *buf, size_t n)
{
    if (!g_dev) pcnn_die("internal error: a device sum without a joined group");
    g_dev->wait(g_dev->ctx);   /* the backward pass's time is not the collective's */
    double t0 = pcnn_now();
    g_dev->sum_floats(g_dev->ctx, buf, n);
    g_dev->wait(g_dev->ctx);
    g_seconds += pcnn_now() - t0;
}

const char *pcnn_dist_device_name(void) { return g_dev ? g_dev_name : pcnn_dist_library(); }

void pcnn_dist_device_leave(void) { g_dev = NULL; }

/* ---------------------------------------------------------------------------
 * Rounds: rank 0 reads, the ranks share the records, rank 0 writes in order. */

int64_t pcnn_dist_run_rounds(const pcnn_dist_rounds *r)
{
    const int nranks = pcnn_dist_size(), rank0 = pcnn_dist_rank() == 0;
    const size_t cap = (size_t)r->per_rank * (size_t)nranks;   /* records per round */
    /* the round on rank 0; this rank's share (the round's buffers themselves for one process) */
    uint8_t *in_all = rank0 ? pcnn_xmalloc(pcnn_mul_size(cap, r->in_bytes)) : NULL;
    uint8_t *out_all = rank0 ? pcnn_xmalloc(pcnn_mul_size(cap, r->out_bytes)) : NULL;
    uint8_t *in = nranks > 1 ? pcnn_xmalloc(pcnn_mul_size((size_t)r->per_rank, r->in_bytes)) : in_all;
    uint8_t *out = nranks > 1 ? pcnn_xmalloc(pcnn_mul_size((size_t)r->per_rank, r->out_bytes)) : out_all;
    int64_t done = 0;
    int failed = 0;
    for (;;) {
        int nb = 0;   /* records of this round; -1: rank 0 failed (to read or to write) */
        if (rank0) nb = failed ? -1 : r->read(r->ctx, in_all, (int)cap);
        pcnn_dist_bcast(&nb, sizeof nb);
        if (nb < 0) {
            done = -1;
            break;
        }
        if (nb == 0) break;
        uint64_t lo, hi;
        pcnn_dist_shard((uint64_t)nb, pcnn_dist_rank(), nranks, &lo, &hi);
        if (nranks > 1) pcnn_dist_scatter_shards(in_all, (uint64_t)nb, r->in_bytes, in);
        if (hi > lo) r->work(r->ctx, in, (int)(hi - lo), out);
        if (nranks > 1) pcnn_dist_gather_shards(out, (uint64_t)nb, r->out_bytes, out_all);
        if (rank0 && r->write(r->ctx, in_all, out_all, nb)) failed = 1;
        done += nb;
    }
    if (nranks > 1) {
        free(in);
        free(out);
    }
    free(in_all);
    free(out_all);
    return done;
}
