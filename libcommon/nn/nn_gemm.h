/*
 * nn_gemm.h — the CPU GEMMs under every conv and linear layer (internal to
 * libcommon; nn_layers.c is the only caller).
 *
 * Every element of C is ONE fused multiply-add chain in k order,
 *   acc = beta ? C[i,j] : 0 ;  for k = 0..K-1: acc = fma(A(i,k), B(k,j), acc)
 * so its value depends on nothing but its own row of A and column of B: not on
 * M, N, the tile it falls in, the K blocking, the thread count or the
 * instruction set (scalar fmaf, AVX2 and AVX-512 give the same bits; the ISA
 * is nn_isa(), nn_isa.h). OpenBLAS gives no such promise (its Haswell
 * kernels round differently at tile edges, so a row window would not match the
 * full pass), and the exact cached sampler and batch-independent scores need it.
 *
 * In bf16 (nn_precision() == PCNN_PREC_BF16, nn_isa.h; nn_gemm_bf16.c) each
 * element is instead one chain of VDPBF16PS steps over k in pairs (2p, 2p+1),
 * with a = bf16(A), b = bf16(B) (round to nearest even; fp32 subnormals become
 * signed zeros; NaN stays NaN), a zero appended when K is odd:
 *   acc = beta ? C[i,j] : 0
 *   for p = 0 .. ceil(K/2)-1:
 *       acc = ftz(fma(a(i,2p+1), b(2p+1,j), daz(acc)))   -- the odd k first
 *       acc = ftz(fma(a(i,2p),   b(2p,j),   acc))
 * where fma rounds once to fp32 (nearest even; a bf16 product is exact in fp32's
 * precision, so this is acc + a*b rounded once), ftz flushes a subnormal result
 * to a zero of its sign, daz reads a subnormal acc as zero (the instruction reads
 * subnormal bf16 inputs as zero too; bf16() never makes one). That is Intel's
 * pseudocode with the product kept exact instead of flushed when it is tiny, and
 * it is what this AMD EPYC computes, bit for bit, on 3e7 random finite cases
 * (subnormals included; test_bf16). Sums that overflow are not reproduced
 * exactly (the CPU gives an infinity where the pseudocode gives NaN). The pairs
 * are counted from k = 0 of the call, so, as in fp32, the value does not depend
 * on M, N, tiles, threads or the K blocking (blocks are even); a caller that
 * splits one chain over calls (beta = 1) keeps every call but the last even.
 */
#ifndef PCNN_NN_GEMM_H
#define PCNN_NN_GEMM_H

#include <stddef.h>

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

/* The weight gradient of a stride-1 convolution as an implicit GEMM (no im2col
 * copy), the tap map m that of its forward (rows = output pixels):
 *   C[o, q*kc + c] [+]= sum over rows p of the row grid, in order, of
 *                       A[p*lda + o] * src[pixel p reads through tap q, c]
 * (C (N, kh*kw*kc; ldc) is the transposed weight gradient, A (M rows, lda) the
 * output gradient with N = its columns, M = the rows of the grid). Each element
 * is one fma chain in p order, the same bits as nn_gemm on the im2col matrix
 * (col^T A, either way round: fma's product commutes), except that the terms
 * where the tap falls outside the source (0 * A) are skipped: adding +-0 to a
 * chain that started at +0 changes no bit, so for finite A nothing differs.
 * kc must be a multiple of NN_GEMM_NR (the source's channels are B's columns,
 * read in place), at most NN_TAP_WGRAD_MAX_C; kh*kw <= 64. Always fp32, also in bf16 training
 * (nn_layers.c: bf16's pairs of k would need the skipped terms back).
 * db (N floats, or NULL): the bias gradient on the way, db[o] += A[p*lda + o] for
 * every row p, one chain of additions in row order from db's value (the bits of a
 * plain column sum), while A's rows are in cache. */
#define NN_TAP_WGRAD_MAX_C (64 * NN_GEMM_NR)   /* the most source channels nn_tap_wgrad takes */
void nn_tap_wgrad(const nn_tapmap *m, int M, int N, int kc, const float *A, size_t lda, float *C,
                  size_t ldc, int beta, float *db);

/* db[o] += A[p*lda + o] for rows p in [k0, k1), columns [o0, o1): each column one
 * chain of additions in row order from db's value (a bias gradient; nn_tap_wgrad
 * continues it block by block, the layers run it over all rows). One thread. */
void nn_colsum_rows(float *db, const float *A, size_t lda, size_t k0, size_t k1, int o0, int o1);

#endif
