/*
 * nn_gemm.h — the CPU GEMMs under every conv and linear layer (internal to
 * libcommon; nn_layers.c is the only caller).
 *
 * Every element of C is ONE fused multiply-add chain in k order,
 *   acc = beta ? C[i,j] : 0 ;  for k = 0..K-1: acc = fma(A(i,k), B(k,j), acc)
 * so its value depends on nothing but its own row of A and column of B: not on
 * M, N, the tile it falls in, the K blocking, the thread count or the
 * instruction set (scalar fmaf, AVX2 and AVX-512 give the same bits; the ISA
 * is nn_isa(), nn_layers.h). OpenBLAS gives no such promise (its Haswell
 * kernels round differently at tile edges, so a row window would not match the
 * full pass), and the exact cached sampler and batch-independent scores need it.
 */
#ifndef PCNN_NN_GEMM_H
#define PCNN_NN_GEMM_H

#include <stddef.h>

/* A float buffer of at least n, per calling thread and slot, kept for reuse (it
 * moves when it grows): slot LAYOUT for the layers' weight copies, PACK for the
 * GEMMs' packed panels, so the two can be in use at once. */
enum { NN_SCRATCH_LAYOUT, NN_SCRATCH_PACK, NN_SCRATCH_SLOTS };
float *nn_scratch(int slot, size_t n);

/* Column panel width: tap GEMM callers pad B's row stride to a multiple of it. */
#define NN_GEMM_NR 16

/* C (M, N; row stride ldc) = [C +] A B, with
 *   A(i, k) = A[i*ars + k*acs]  (any strides: plain or transposed)
 *   B(k, j) = B[k*ldb + j]      (unit column stride; callers lay weights out so)
 * beta: start each chain from C's value instead of 0. Threads: OpenMP, unless
 * already inside a parallel region or the product is small. */
void nn_gemm(int M, int N, int K, const float *A, size_t ars, size_t acs, const float *B,
             size_t ldb, float *C, size_t ldc, int beta);

/* Implicit GEMM of a stride-1 convolution (no im2col copy): row i of A is the
 * concatenation over the kh*kw taps q = (di, dj) of kc floats, a pixel of src
 * or a zero vector where the tap falls outside it, so k = q*kc + c (the order
 * of an im2col row); B (kh*kw*kc, ldb) is the weight laid out to match.
 * Which source pixel row i = (n, i, j) of the row grid reads through (di, dj):
 *   src pixel (n, i + oi - sgn*di, j + oj - sgn*dj), src (N, sh, sw, C)
 *   forward conv (rows = output pixels):  oi = -pt, oj = -pl, sgn = -1
 *   input gradient (rows = input pixels): oi = pt,  oj = pl,  sgn = 1 */
typedef struct nn_tapmap {
    const float *src;
    int C, sh, sw;       /* source pixel grid and channels */
    int rh, rw;          /* row pixel grid */
    int kh, kw, oi, oj;
    int sgn;
} nn_tapmap;

/* C (M, ldc) [+]= sum over taps (load: start from C). ldb >= N rounded up to
 * NN_GEMM_NR, B zero in the padding; zero points at kc zero floats; kh*kw <= 64. */
void nn_tap_gemm(const nn_tapmap *m, int M, int N, int kc, const float *B, size_t ldb, float *C,
                 size_t ldc, int load, const float *zero);

#endif
