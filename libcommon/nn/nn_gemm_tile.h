/*
 * nn_gemm_tile.h — what the fp32 GEMM (nn_gemm.c) and the bf16 GEMM
 * (nn_gemm_bf16.c) share: the tile of C a kernel computes, how B's columns are
 * cut into panels, how many threads a product gets, the rows of an implicit
 * (tap) GEMM, and the private buffer for tiles that stick out of C. Internal to
 * those two files.
 */
#ifndef PCNN_NN_GEMM_TILE_H
#define PCNN_NN_GEMM_TILE_H

#include "nn/nn_gemm.h"

#include <omp.h>
#include <stddef.h>
#include <string.h>

#define MR 6              /* rows of C per tile */
#define NR NN_GEMM_NR     /* the narrowest panel (16 columns) */
#define MAX_W 64          /* the widest panel */

/* Threads for a product of this many multiply-adds. */
static inline int nn_gemm_threads_for(double work)
{
    return omp_in_parallel() || work < 2e5 ? 1 : omp_get_max_threads();
}

/* Panel layout of B's columns: the panel at column j of N is `widest` wide while
 * that many columns are left, then the narrowest multiple of NR that holds the rest. */
static inline int nn_gemm_panel_width(int widest, int j, int N)
{
    int left = N - j, w = NR;
    if (left >= widest) return widest;
    while (w < left) w += NR;
    return w;
}

static inline size_t nn_gemm_round_panels(int n) { return ((size_t)n + NR - 1) / NR * NR; }

/* Row tile i0 (mc <= MR rows; rows past the end repeat the last one, not stored) of
 * an implicit GEMM: ap[q*MR + r] = the kc floats row i0 + r reads through tap q
 * (nn_tapmap in nn_gemm.h), or zero where the tap falls outside the source. */
static inline void nn_gemm_tap_rows(const nn_tapmap *m, int i0, int mc, const float **ap,
                                    const float *zero)
{
    for (int r = 0; r < MR; r++) {
        int i = i0 + (r < mc ? r : mc - 1);
        int j = i % m->rw, q = i / m->rw, ii = q % m->rh, n = q / m->rh;
        for (int di = 0; di < m->kh; di++)
            for (int dj = 0; dj < m->kw; dj++) {
                int si = ii + m->oi - m->sgn * di, sj = j + m->oj - m->sgn * dj;
                ap[(di * m->kw + dj) * MR + r] =
                    si < 0 || si >= m->sh || sj < 0 || sj >= m->sw
                        ? zero
                        : m->src + (((size_t)n * m->sh + si) * m->sw + sj) * m->C;
            }
    }
}

/* A GEMM's operands (nn_gemm in nn_gemm.h), handed to each thread's share. */
typedef struct gemm_t {
    int M, N, K;
    const float *A;
    size_t ars, acs;
    const float *B;
    size_t ldb;
    float *C;
    size_t ldc;
    int beta;
} gemm_t;

/* The products with nothing to multiply: M or N <= 0 (nothing), K <= 0 (C = 0 unless
 * beta). Returns 1 when it was one of them (done), 0 otherwise. */
static inline int nn_gemm_trivial(int M, int N, int K, float *C, size_t ldc, int beta)
{
    if (M <= 0 || N <= 0) return 1;
    if (K > 0) return 0;
    if (!beta)
        for (int i = 0; i < M; i++) memset(C + (size_t)i * ldc, 0, (size_t)N * sizeof *C);
    return 1;
}

/* Thread t of T's share, rows [i0, i1) x columns [j0, j1), of an M x N product cut into
 * tiles of MR rows by nu columns: whole tiles dealt out along the longer side, so no
 * element's chain is ever split. Returns 0 when the thread gets none. */
static inline int nn_gemm_share(int M, int N, int nu, int t, int T, int *i0, int *i1, int *j0,
                                int *j1)
{
    const int mt = (M + MR - 1) / MR, nt = (N + nu - 1) / nu;
    const int n = mt >= nt ? mt : nt;
    int a = (int)((long)n * t / T), b = (int)((long)n * (t + 1) / T);
    if (mt >= nt) {
        *i0 = a * MR, *i1 = b * MR < M ? b * MR : M, *j0 = 0, *j1 = N;
    } else {
        *i0 = 0, *i1 = M, *j0 = a * nu, *j1 = b * nu < N ? b * nu : N;
    }
    return a < b;
}

/* The register tile of a SIMD kernel, acc[MR][NV] vectors of VW floats: started from
 * C (LD, row stride ldc) when load, else from ZERO(); stored back with ST. */
#define UNROLL _Pragma("GCC unroll 8")
#define TILE_ACC_START(acc, c, ldc, load, LD, ZERO, VW, NV)                                \
    UNROLL for (int r_ = 0; r_ < MR; r_++)                                                 \
        UNROLL for (int v_ = 0; v_ < NV; v_++)                                             \
            acc[r_][v_] = (load) ? LD((c) + r_ * (ldc) + v_ * (VW)) : ZERO()
#define TILE_ACC_STORE(acc, c, ldc, ST, VW, NV)                                            \
    UNROLL for (int r_ = 0; r_ < MR; r_++)                                                 \
        UNROLL for (int v_ = 0; v_ < NV; v_++) ST((c) + r_ * (ldc) + v_ * (VW), acc[r_][v_])

/* One tile at c of mc <= MR rows and nc <= w columns (w the panel's width),
 * through a private buffer when it sticks out of C; CALL_ON computes a whole
 * tile at cc with row stride lc, starting from its values when load. */
#define TILE(CALL_ON)                                                                      \
    do {                                                                                   \
        if (mc == MR && nc == w) {                                                         \
            float *cc = c;                                                                 \
            size_t lc = ldc;                                                               \
            CALL_ON;                                                                       \
        } else {                                                                           \
            float ct[MR * MAX_W], *cc = ct;                                                \
            size_t lc = (size_t)w;                                                         \
            if (load)                                                                      \
                for (int r = 0; r < mc; r++) memcpy(ct + r * w, c + (size_t)r * ldc, (size_t)nc * sizeof *c); \
            CALL_ON;                                                                       \
            for (int r = 0; r < mc; r++) memcpy(c + (size_t)r * ldc, ct + r * w, (size_t)nc * sizeof *c); \
        }                                                                                  \
    } while (0)

#endif
