/*
 * nn_prof.h — where the CPU's time goes (issue 13): wall time, floating-point
 * operations and bytes moved, summed per kind of work over a run, and printed as
 * a table with each kind's rate as a share of the cores' FMA peak.
 *
 * Off unless PCNN_PROFILE=1 (then two clock reads per timed call; the
 * primitives run their OpenMP loops inside, so the wall time of a call is the
 * time of all threads). Timed regions nest: each gets its exclusive time (its
 * own less its timed children's), so a backend op timed as "elementwise" around
 * convolutions timed as convolutions counts only its own elementwise work.
 *
 *   NN_PROF_BEGIN;
 *   ... work ...
 *   NN_PROF_END(NN_PROF_CONV_FWD, flops, bytes);
 *   (pcnn_backend_cpu_new calls nn_prof_init, which prints nn_prof_report at exit)
 *
 * Peak (for the table): cores x FMA units x fp32 lanes x 2 x clock. PCNN_PEAK_GFLOPS
 * when set; else measured (every thread runs 12 independent chains of FMAs of the
 * ISA in use, 16 lanes for AVX-512, 8 for AVX2) and printed as that product with the
 * clock it implies for 2 FMA units; for the scalar path, from /proc/cpuinfo's clock
 * (which on a virtual machine is often the nominal one, not the one the cores run at).
 * GEMM time in bf16 (nn_precision(), pcnn-fit --precision bf16) has rows of its own,
 * the kind's name + " bf16": flops counted as in fp32 (2 per multiply-add), the
 * share taken of the VDPBF16PS peak (16 lanes x 2 multiply-adds per instruction),
 * measured the same way, or PCNN_PEAK_BF16_GFLOPS.
 */
#ifndef PCNN_NN_PROF_H
#define PCNN_NN_PROF_H

#include <stdio.h>

enum {
    NN_PROF_CONV_FWD,      /* stride-1 shifted convs, forward (implicit GEMM) */
    NN_PROF_CONV_DGRAD,    /* stride-1 convs, gradient of the input */
    NN_PROF_CONV_WGRAD,    /* stride-1 convs' weight gradient (implicit or im2col GEMM) */
    NN_PROF_STRIDE2,       /* stride-2 down convs, forward and input gradient */
    NN_PROF_DECONV,        /* transposed convs, forward and backward */
    NN_PROF_NIN,           /* 1x1 layers (nin): GEMMs, forward and backward */
    NN_PROF_ELEMENTWISE,   /* concat_elu, gate, class terms, shifts, dropout */
    NN_PROF_DMOL,          /* likelihood and its gradient */
    NN_PROF_ADAM,          /* Adam + Polyak */
    NN_PROF_WEIGHTNORM,    /* weight norm, forward and backward */
    NN_PROF_KINDS
};

/* Or'ed into a GEMM kind: the region ran fp32 GEMMs whatever nn_precision() says
 * (the implicit weight gradients, which are fp32 in bf16 training too). */
#define NN_PROF_AS_FP32 0x100

extern int nn_prof_on;
double nn_prof_now(void);
void nn_prof_enter(void);
/* Ends the innermost region, which took `seconds`: its exclusive time, the operations
 * and bytes go to kind. */
void nn_prof_leave(int kind, double seconds, double flops, double bytes);
/* Reads PCNN_PROFILE (turns profiling on, never off); when on, the report goes to
 * stderr at exit with the wall time since the first call. */
void nn_prof_init(void);
/* Zeroes the sums (a benchmark times one phase at a time). */
void nn_prof_reset(void);
/* The table: per kind time, share of wall, GFLOP/s, % of peak, GB/s; then the
 * rest of wall (everything not timed: copies, the framework). */
void nn_prof_report(FILE *f, double wall_seconds);

#define NN_PROF_BEGIN                                                  \
    double nn_prof_t0_ = 0;                                            \
    if (nn_prof_on) { nn_prof_enter(); nn_prof_t0_ = nn_prof_now(); }
#define NN_PROF_END(kind, flops, bytes)                                               \
    do {                                                                              \
        if (nn_prof_on)                                                               \
            nn_prof_leave((kind), nn_prof_now() - nn_prof_t0_, (double)(flops),       \
                          (double)(bytes));                                           \
    } while (0)

#endif
