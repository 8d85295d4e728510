/* dist.c — the collectives of data parallelism; see dist.h. */
#include "dist.h"

#include "util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef PCNN_HAVE_MPI
#include <mpi.h>
#endif

static int g_rank = 0, g_size = 1;
static double g_seconds;
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
