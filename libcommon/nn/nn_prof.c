/* nn_prof.c — per-kind time, operations and bytes of the CPU primitives (nn_prof.h). */
#include "nn/nn_prof.h"
#include "nn/nn_isa.h"
#include "threads.h"

#include <immintrin.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

int nn_prof_on;
enum { MAXDEPTH = 32 };
static int depth;
static double child[MAXDEPTH + 1];   /* child[d]: time of the timed children of the region at depth d */
/* acc[kind][prec]: prec 1 is the GEMM kinds' time in bf16 (nn_precision()), a row of its own */
static struct {
    double s, flops, bytes;
    unsigned long long calls;
} acc[NN_PROF_KINDS][2];

static const char *const NAMES[NN_PROF_KINDS] = {
    "conv fwd (stride 1, implicit GEMM)", "conv input grad (stride 1)", "conv weight grad",
    "stride-2 conv (fwd + input grad)", "transposed conv (fwd + bwd)", "1x1 nin GEMMs (fwd + bwd)",
    "elementwise", "likelihood (dmol)", "Adam + Polyak", "weight norm"};

static double t_start;

static void report_at_exit(void)
{
    fflush(stdout);
    nn_prof_report(stderr, nn_prof_now() - t_start);
}

void nn_prof_init(void)
{
    const char *e = getenv("PCNN_PROFILE");
    if (e && *e && strcmp(e, "0") != 0) nn_prof_on = 1;   /* never turned off here (bench -p) */
    if (nn_prof_on && t_start == 0) {
        t_start = nn_prof_now();
        atexit(report_at_exit);
    }
}

double nn_prof_now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

void nn_prof_reset(void)
{
    memset(acc, 0, sizeof acc);
}

void nn_prof_enter(void)
{
    if (depth < MAXDEPTH) child[depth + 1] = 0;
    depth++;
}

void nn_prof_leave(int kind, double seconds, double flops, double bytes)
{
    depth--;
    int as_fp32 = kind & NN_PROF_AS_FP32;
    kind &= ~NN_PROF_AS_FP32;
    if (depth < 0 || depth >= MAXDEPTH || kind < 0 || kind >= NN_PROF_KINDS) return;
    child[depth] += seconds;
    int p = kind <= NN_PROF_NIN && nn_precision() == PCNN_PREC_BF16 && !as_fp32;
    acc[kind][p].s += seconds - child[depth + 1];
    acc[kind][p].flops += flops;
    acc[kind][p].bytes += bytes;
    acc[kind][p].calls++;
}

/* GHz of the first core, from /proc/cpuinfo ("cpu MHz"); 0 when unknown. */
static double cpu_ghz(void)
{
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (!f) return 0;
    char line[256];
    double mhz = 0;
    while (fgets(line, sizeof line, f))
        if (!strncmp(line, "cpu MHz", 7)) {
            const char *c = strchr(line, ':');
            if (c) mhz = atof(c + 1);
            break;
        }
    fclose(f);
    return mhz / 1000.0;
}

/* The FMA peak measured: every thread runs 12 independent chains of vector FMAs (enough
 * to fill two pipelined FMA units) for about 0.2 s; GFLOP/s = 2 x lanes x FMAs / s.
 * (A virtual machine's /proc/cpuinfo often gives the nominal clock, not the one the
 * cores run at, so a formula from it can be far off.) */
#define FMA_CHAINS(T, fma, set1)                                                        \
    /* distinct starting values: identical chains would be merged by the compiler */    \
    T a0 = set1(1.00f), a1 = set1(1.01f), a2 = set1(1.02f), a3 = set1(1.03f),            \
      a4 = set1(1.04f), a5 = set1(1.05f), a6 = set1(1.06f), a7 = set1(1.07f),            \
      a8 = set1(1.08f), a9 = set1(1.09f), a10 = set1(1.10f), a11 = set1(1.11f),          \
      m = set1(0.999999f), c = set1(1e-7f);                                              \
    for (long i = 0; i < iters; i++) {                                                  \
        a0 = fma(a0, m, c); a1 = fma(a1, m, c); a2 = fma(a2, m, c); a3 = fma(a3, m, c);  \
        a4 = fma(a4, m, c); a5 = fma(a5, m, c); a6 = fma(a6, m, c); a7 = fma(a7, m, c);  \
        a8 = fma(a8, m, c); a9 = fma(a9, m, c); a10 = fma(a10, m, c); a11 = fma(a11, m, c); \
    }                                                                                   \
    a0 = a0 + a1 + a2 + a3 + a4 + a5 + a6 + a7 + a8 + a9 + a10 + a11;

__attribute__((target("avx512f"))) static float chains512(long iters)
{
    FMA_CHAINS(__m512, _mm512_fmadd_ps, _mm512_set1_ps)
    return _mm512_reduce_add_ps(a0);
}

__attribute__((target("avx2,fma"))) static float chains256(long iters)
{
    FMA_CHAINS(__m256, _mm256_fmadd_ps, _mm256_set1_ps)
    float v[8];
    _mm256_storeu_ps(v, a0);
    return v[0];
}

/* The bf16 dot-product peak: 12 independent chains of VDPBF16PS, each 16 lanes x 2
 * multiply-adds (4 flops per lane), over pairs (1, 1) x (1e-3, 1e-3): the sums grow slowly. */
#define BF16_TARGET __attribute__((target("avx512bf16,avx512f,avx512bw,avx512vl")))
#define DP(a) a = _mm512_dpbf16_ps(a, m, d)
BF16_TARGET static float chains_bf16(long iters)
{
    __m512bh m = (__m512bh)_mm512_set1_epi32(0x3f803f80), d = (__m512bh)_mm512_set1_epi32(0x3a833a83);
    __m512 a0 = _mm512_set1_ps(1.00f), a1 = _mm512_set1_ps(1.01f), a2 = _mm512_set1_ps(1.02f),
           a3 = _mm512_set1_ps(1.03f), a4 = _mm512_set1_ps(1.04f), a5 = _mm512_set1_ps(1.05f),
           a6 = _mm512_set1_ps(1.06f), a7 = _mm512_set1_ps(1.07f), a8 = _mm512_set1_ps(1.08f),
           a9 = _mm512_set1_ps(1.09f), a10 = _mm512_set1_ps(1.10f), a11 = _mm512_set1_ps(1.11f);
    for (long i = 0; i < iters; i++) {
        DP(a0); DP(a1); DP(a2); DP(a3); DP(a4); DP(a5);
        DP(a6); DP(a7); DP(a8); DP(a9); DP(a10); DP(a11);
    }
    a0 = a0 + a1 + a2 + a3 + a4 + a5 + a6 + a7 + a8 + a9 + a10 + a11;
    return _mm512_reduce_add_ps(a0);
}
#undef DP

/* GFLOP/s of every thread running fn(iters), which does flops_per_iter per call unit. */
static double measure(float (*fn)(long), double flops_per_iter, int threads)
{
    long iters = 1L << 20;
    volatile float sink = 0;
    double best = 0;
    for (int rep = 0; rep < 3; rep++) {
        double t0 = nn_prof_now();
#pragma omp parallel num_threads(threads)
        {
            float r = fn(iters);
#pragma omp atomic
            sink += r;
        }
        double s = nn_prof_now() - t0;
        double g = flops_per_iter * (double)iters * threads / s * 1e-9;
        if (g > best) best = g;
        if (s < 0.05) iters *= 4;   /* too short to trust: longer next time */
    }
    return best;
}

static double measured_peak(int lanes, int threads)
{
    if (lanes < 8) return 0;
    return measure(lanes == 16 ? chains512 : chains256, 2.0 * lanes * 12.0, threads);
}

/* One row of the table: a kind's time, share of wall, calls, rate, share of peak, bytes. */
static void report_row(FILE *f, const char *name, int k, int p, double wall, double peak)
{
    double s = acc[k][p].s > 0 ? acc[k][p].s : 1e-12;
    double gf = acc[k][p].flops / s * 1e-9;
    fprintf(f, "%-40s %9.3f %6.1f%% %9llu %8.1f %7.1f%% %8.2f\n", name, acc[k][p].s,
            wall > 0 ? 100.0 * acc[k][p].s / wall : 0, acc[k][p].calls, gf,
            peak > 0 && acc[k][p].flops > 0 ? 100.0 * gf / peak : 0, acc[k][p].bytes / s * 1e-9);
}

void nn_prof_report(FILE *f, double wall)
{
    int threads = pcnn_threads_init();
    int isa = nn_isa();
    int lanes = isa >= NN_ISA_AVX512 ? 16 : isa == NN_ISA_AVX2 ? 8 : 1;
    double ghz = cpu_ghz(), peak = 0;
    const char *env = getenv("PCNN_PEAK_GFLOPS");
    char how[160];
    if (env && atof(env) > 0) {
        peak = atof(env);
        snprintf(how, sizeof how, "PCNN_PEAK_GFLOPS");
    } else if ((peak = measured_peak(lanes, threads)) > 0) {
        /* as cores x FMA units x lanes x 2 x clock: the clock this implies with 2 units */
        snprintf(how, sizeof how, "measured: %d threads x 2 FMA units x %d lanes (%s) x 2 x "
                 "%.2f GHz; /proc/cpuinfo says %.2f GHz", threads, lanes, nn_isa_name(isa),
                 peak / (threads * 2.0 * lanes * 2.0), ghz);
    } else {
        peak = threads * 2.0 * lanes * 2.0 * ghz;
        snprintf(how, sizeof how, "%d threads x 2 FMA units x %d lanes (%s) x 2 x %.2f GHz",
                 threads, lanes, nn_isa_name(isa), ghz);
    }
    double timed = 0;
    int any_bf16 = 0;
    for (int k = 0; k < NN_PROF_KINDS; k++) {
        timed += acc[k][0].s + acc[k][1].s;
        any_bf16 |= acc[k][1].calls > 0;
    }
    fprintf(f, "profile: %.3f s wall; FMA peak %.1f GFLOP/s (%s)\n", wall, peak, how);
    /* bf16 GEMMs (pcnn-fit --precision bf16): their rows count flops as fp32's (2 per
     * multiply-add) and their share is of the VDPBF16PS peak, twice the FMAs per instruction */
    double peak_bf16 = 0;
    if (any_bf16) {
        const char *eb = getenv("PCNN_PEAK_BF16_GFLOPS");
        if (eb && atof(eb) > 0) {
            peak_bf16 = atof(eb);
            fprintf(f, "bf16 dot-product peak %.1f GFLOP/s (PCNN_PEAK_BF16_GFLOPS)\n", peak_bf16);
        } else if (isa >= NN_ISA_AVX512BF16) {
            peak_bf16 = measure(chains_bf16, 4.0 * 16 * 12.0, threads);
            fprintf(f, "bf16 dot-product peak %.1f GFLOP/s (measured: %d threads x VDPBF16PS, 16 "
                    "lanes x 2 multiply-adds)\n", peak_bf16, threads);
        }
    }
    fprintf(f, "%-40s %9s %7s %9s %8s %8s %8s\n", "kind", "seconds", "% wall", "calls",
            "GFLOP/s", "% peak", "GB/s");
    for (int k = 0; k < NN_PROF_KINDS; k++)
        for (int p = 0; p < 2; p++) {
            if (!acc[k][p].calls) continue;
            char name[64];
            snprintf(name, sizeof name, "%s%s", NAMES[k], p ? " bf16" : "");
            report_row(f, name, k, p, wall, p ? peak_bf16 : peak);
        }
    fprintf(f, "%-40s %9.3f %6.1f%%\n", "not timed (copies, framework)", wall - timed,
            wall > 0 ? 100.0 * (wall - timed) / wall : 0);
}
