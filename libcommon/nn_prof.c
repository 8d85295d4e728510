/* nn_prof.c — per-kind time, operations and bytes of the CPU primitives (nn_prof.h). */
#include "nn_prof.h"
#include "nn_layers.h"
#include "threads.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

int nn_prof_on;
enum { MAXDEPTH = 32 };
static int depth;
static double child[MAXDEPTH + 1];   /* child[d]: time of the timed children of the region at depth d */
static struct {
    double s, flops, bytes;
    unsigned long long calls;
} acc[NN_PROF_KINDS];

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
    if (depth < 0 || depth >= MAXDEPTH || kind < 0 || kind >= NN_PROF_KINDS) return;
    child[depth] += seconds;
    acc[kind].s += seconds - child[depth + 1];
    acc[kind].flops += flops;
    acc[kind].bytes += bytes;
    acc[kind].calls++;
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

void nn_prof_report(FILE *f, double wall)
{
    int threads = pcnn_threads_init();
    int isa = nn_isa();
    int lanes = isa == NN_ISA_AVX512 ? 16 : isa == NN_ISA_AVX2 ? 8 : 1;
    double ghz = cpu_ghz(), peak = 0;
    const char *env = getenv("PCNN_PEAK_GFLOPS");
    char how[160];
    if (env && atof(env) > 0) {
        peak = atof(env);
        snprintf(how, sizeof how, "PCNN_PEAK_GFLOPS");
    } else {
        peak = threads * 2.0 * lanes * 2.0 * ghz;
        snprintf(how, sizeof how, "%d threads x 2 FMA units x %d lanes (%s) x 2 x %.2f GHz",
                 threads, lanes, nn_isa_name(isa), ghz);
    }
    double timed = 0;
    for (int k = 0; k < NN_PROF_KINDS; k++) timed += acc[k].s;
    fprintf(f, "profile: %.3f s wall; FMA peak %.1f GFLOP/s (%s)\n", wall, peak, how);
    fprintf(f, "%-36s %9s %7s %9s %8s %8s %8s\n", "kind", "seconds", "% wall", "calls",
            "GFLOP/s", "% peak", "GB/s");
    for (int k = 0; k < NN_PROF_KINDS; k++) {
        if (!acc[k].calls) continue;
        double s = acc[k].s > 0 ? acc[k].s : 1e-12;
        double gf = acc[k].flops / s * 1e-9;
        fprintf(f, "%-36s %9.3f %6.1f%% %9llu %8.1f %7.1f%% %8.2f\n", NAMES[k], acc[k].s,
                wall > 0 ? 100.0 * acc[k].s / wall : 0, acc[k].calls, gf,
                peak > 0 && acc[k].flops > 0 ? 100.0 * gf / peak : 0, acc[k].bytes / s * 1e-9);
    }
    fprintf(f, "%-36s %9.3f %6.1f%%\n", "not timed (copies, framework)", wall - timed,
            wall > 0 ? 100.0 * (wall - timed) / wall : 0);
}
