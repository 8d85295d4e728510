/* nn_gemm_bf16.c — nn_gemm and nn_tap_gemm with bfloat16 operands and fp32
 * sums (the training mode of nn_layers.h: nn_set_precision), on CPUs with
 * AVX512_BF16. The chain each element of C is, and what it was checked against,
 * are in nn_gemm.h.
 *
 * Layout. A pair p of k holds two bf16 in one 32-bit word, k = 2p in the low
 * half and 2p+1 in the high half (little endian: a bf16 array in k order read as
 * words). VDPBF16PS multiplies such words lane by lane and adds both products
 * to the fp32 lane (the odd one first). B is packed panel by panel as fp32's
 * (nn_gemm.c): the panel at column j, w wide, is kp pair rows of w words at
 * dst + kp*j. A is packed per tile of MR rows and k block: row-major (row r's
 * pairs contiguous) when A's rows are contiguous in k, pair-major (the MR words
 * of a pair contiguous) when its columns are (A transposed: the weight
 * gradients); the kernel broadcasts row r's word of pair p from a[r][p*as].
 * The tiles, panels and threads are fp32's (nn_gemm_tile.h); a tile computes
 * MR x w of C in MR*w/16 zmm accumulators.
 *
 * Only this file is compiled for AVX512_BF16 (function by function, by target
 * attribute); nn_isa() says whether the CPU has it before anything here runs. */
#include "nn/nn_gemm_bf16.h"

#include "nn/nn_gemm_tile.h"
#include "nn/nn_isa.h"
#include "nn/nn_scratch.h"
#include "util.h"

#include <stdint.h>
#include <string.h>

typedef uint32_t bfpair;   /* bf16(x[2p]) | bf16(x[2p+1]) << 16 */

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>

#define BF16_TARGET __attribute__((target("avx512bf16,avx512f,avx512bw,avx512vl")))
#define KBP 256   /* pairs per k block: a (KBP, NR) panel of B is 16 KiB, as fp32's (256, NR) */

/* c (MR, W) [+]= sum over kp pairs: row r's word of pair p is a[r][p*as], B's W
 * words of pair p are b[p*W ..]; load: start from c. */
typedef void bf16_kernel(int kp, const bfpair *const *a, size_t as, const bfpair *b, float *c,
                         size_t ldc, int load);

#define DEFINE_BF16_TILE(W, NV)                                                            \
    BF16_TARGET static void bkern_##W(int kp, const bfpair *const *a, size_t as,           \
                                      const bfpair *b, float *c, size_t ldc, int load)     \
    {                                                                                      \
        __m512 acc[MR][NV];                                                                \
        const bfpair *ar[MR];                                                              \
        UNROLL for (int r = 0; r < MR; r++) ar[r] = a[r];                                  \
        TILE_ACC_START(acc, c, ldc, load, _mm512_loadu_ps, _mm512_setzero_ps, 16, NV);     \
        for (size_t p = 0, o = 0; p < (size_t)kp; p++, o += as, b += W) {                  \
            __m512bh bv[NV];                                                               \
            UNROLL for (int v = 0; v < NV; v++)                                            \
                bv[v] = (__m512bh)_mm512_loadu_si512(b + v * 16);                          \
            UNROLL for (int r = 0; r < MR; r++) {                                          \
                __m512bh x = (__m512bh)_mm512_set1_epi32((int)ar[r][o]);                   \
                UNROLL for (int v = 0; v < NV; v++)                                        \
                    acc[r][v] = _mm512_dpbf16_ps(acc[r][v], x, bv[v]);                     \
            }                                                                              \
        }                                                                                  \
        TILE_ACC_STORE(acc, c, ldc, _mm512_storeu_ps, 16, NV);                             \
    }
DEFINE_BF16_TILE(16, 1)
DEFINE_BF16_TILE(32, 2)
DEFINE_BF16_TILE(48, 3)
DEFINE_BF16_TILE(64, 4)

/* By panel width / NR. */
static bf16_kernel *const KERNELS[MAX_W / NR + 1] = {NULL, bkern_16, bkern_32, bkern_48, bkern_64};

/* ---------------------------------------------------------------------------
 * Packing: fp32 -> bf16 by VCVTNEPS2BF16 (nn_bf16_round's rule, test_bf16). */

/* Lane t: bf16(lo[t]) | bf16(hi[t]) << 16. */
BF16_TARGET static inline __m512i pair16(__m512 lo, __m512 hi)
{
    __m512i l = _mm512_cvtepu16_epi32((__m256i)_mm512_cvtneps_pbh(lo));
    __m512i h = _mm512_cvtepu16_epi32((__m256i)_mm512_cvtneps_pbh(hi));
    return _mm512_or_si512(l, _mm512_slli_epi32(h, 16));
}

static inline __mmask16 first_n(int n) { return n >= 16 ? 0xffff : n > 0 ? (__mmask16)((1u << n) - 1) : 0; }

/* Pair rows [p0, p1) of B (kc rows, row stride ldb, N columns) into the panels at
 * dst (kp = ceil(kc/2) pair rows each): word (p, t) of the panel at column j is
 * bf16(B[2p][j+t]) | bf16(B[2p+1][j+t]) << 16, zero past kc rows and N columns. */
BF16_TARGET static void pack_b(bfpair *dst, const float *B, size_t ldb, int kc, int N, int p0, int p1)
{
    const size_t kp = ((size_t)kc + 1) / 2;
    for (int j = 0, w; j < N; j += w) {
        w = nn_gemm_panel_width(MAX_W, j, N);
        int nc = N - j < w ? N - j : w;
        for (int p = p0; p < p1; p++) {
            const float *s0 = B + (size_t)(2 * p) * ldb + j;
            int odd = 2 * p + 1 < kc;
            bfpair *d = dst + kp * (size_t)j + (size_t)p * w;
            for (int t = 0; t < w; t += 16) {
                __mmask16 mk = first_n(nc - t);
                __m512 x0 = _mm512_setzero_ps(), x1 = _mm512_setzero_ps();
                if (mk) x0 = _mm512_maskz_loadu_ps(mk, s0 + t);
                if (mk && odd) x1 = _mm512_maskz_loadu_ps(mk, s0 + ldb + t);
                _mm512_storeu_si512(d + t, pair16(x0, x1));
            }
        }
    }
}

/* n floats as n bf16 at dst (halves, any even byte address). */
BF16_TARGET static void to_bf16(void *dst, const float *src, int n)
{
    char *d = dst;
    int t = 0;
    for (; t + 16 <= n; t += 16)
        _mm256_storeu_si256((__m256i *)(d + 2 * t), (__m256i)_mm512_cvtneps_pbh(_mm512_loadu_ps(src + t)));
    if (t < n) {
        __mmask16 mk = first_n(n - t);
        _mm256_mask_storeu_epi16(d + 2 * t, mk, (__m256i)_mm512_cvtneps_pbh(_mm512_maskz_loadu_ps(mk, src + t)));
    }
}

/* Rows [i, i + mc) and k [k0, k0 + kc) of A(i, k) = A[i*ars + k*acs] packed at dst
 * (MR * ceil(kc/2) words); sets the kernel's row pointers a[MR] and pair stride
 * *as. Rows past mc repeat row mc - 1 (row-major) or are zero (pair-major): they
 * are computed, never stored. */
BF16_TARGET static void pack_a(bfpair *dst, const float *A, size_t ars, size_t acs, int i, int mc,
                               int k0, int kc, const bfpair **a, size_t *as)
{
    const int kp = (kc + 1) / 2;
    const float *A0 = A + (size_t)i * ars + (size_t)k0 * acs;
    if (acs == 1) {   /* row-major: row r is the bf16 array of its kc values, a zero after an odd kc */
        for (int r = 0; r < mc; r++) {
            bfpair *d = dst + (size_t)r * kp;
            d[kp - 1] = 0;
            to_bf16(d, A0 + (size_t)r * ars, kc);
        }
        for (int r = 0; r < MR; r++) a[r] = dst + (size_t)(r < mc ? r : mc - 1) * kp;
        *as = 1;
    } else if (ars == 1) {   /* pair-major from two k rows of mc contiguous values */
        __mmask16 mk = first_n(mc);
        for (int p = 0; p < kp; p++) {
            const float *s = A0 + (size_t)(2 * p) * acs;
            __m512 x0 = _mm512_maskz_loadu_ps(mk, s), x1 = _mm512_setzero_ps();
            if (2 * p + 1 < kc) x1 = _mm512_maskz_loadu_ps(mk, s + acs);
            _mm512_mask_storeu_epi32(dst + (size_t)p * MR, (__mmask16)((1u << MR) - 1), pair16(x0, x1));
        }
        for (int r = 0; r < MR; r++) a[r] = dst + r;
        *as = MR;
    } else {   /* any strides (no caller has them): word by word */
        for (int p = 0; p < kp; p++)
            for (int r = 0; r < MR; r++) {
                const float *s = A0 + (size_t)(r < mc ? r : mc - 1) * ars + (size_t)(2 * p) * acs;
                unsigned lo = nn_bf16_round(s[0]), hi = 2 * p + 1 < kc ? nn_bf16_round(s[acs]) : 0;
                dst[(size_t)p * MR + r] = lo | hi << 16;
            }
        for (int r = 0; r < MR; r++) a[r] = dst + r;
        *as = MR;
    }
}

/* Row tile i0 of an implicit GEMM packed row-major at dst (MR * ceil(K/2) words):
 * row r is the bf16 array of its taps' kc values one after another (k = q*kc + c),
 * a zero after an odd K. */
BF16_TARGET static void pack_tap_rows(bfpair *dst, const float *const *ap, int T, int kc,
                                      const bfpair **a)
{
    const int K = T * kc, kp = (K + 1) / 2;
    for (int r = 0; r < MR; r++) {
        bfpair *d = dst + (size_t)r * kp;
        d[kp - 1] = 0;
        for (int q = 0; q < T; q++) to_bf16((char *)d + 2 * (size_t)q * kc, ap[q * MR + r], kc);
        a[r] = d;
    }
}

/* ---------------------------------------------------------------------------
 * GEMM */
/* Rows [i0, i1) x columns [j0, j1) of C by one thread: per k block (2*KBP k, so
 * blocks start at even k), B's block of [j0, j1) is packed once, then every row
 * tile packs its A block and runs along it. */
static void gemm_part(const gemm_t *g, int i0, int i1, int j0, int j1)
{
    const size_t ldc = g->ldc;
    const int nj = j1 - j0;
    bfpair *bp = (bfpair *)nn_scratch(NN_SCRATCH_PACK, (size_t)KBP * nn_gemm_round_panels(nj));
    bfpair *apk = (bfpair *)nn_scratch(NN_SCRATCH_APACK, (size_t)MR * KBP);
    for (int k0 = 0; k0 < g->K; k0 += 2 * KBP) {
        int kc = g->K - k0 < 2 * KBP ? g->K - k0 : 2 * KBP, kp = (kc + 1) / 2;
        int load = g->beta || k0 > 0;
        pack_b(bp, g->B + (size_t)k0 * g->ldb + j0, g->ldb, kc, nj, 0, kp);
        for (int i = i0; i < i1; i += MR) {
            int mc = i1 - i < MR ? i1 - i : MR;
            const bfpair *ap[MR];
            size_t as;
            pack_a(apk, g->A, g->ars, g->acs, i, mc, k0, kc, ap, &as);
            for (int j = 0, w; j < nj; j += w) {
                w = nn_gemm_panel_width(MAX_W, j, nj);
                int nc = nj - j < w ? nj - j : w;
                float *c = g->C + (size_t)i * ldc + j0 + j;
                TILE(KERNELS[w / NR](kp, ap, as, bp + (size_t)kp * j, cc, lc, load));
            }
        }
    }
}

void nn_gemm_bf16(int M, int N, int K, const float *A, size_t ars, size_t acs, const float *B,
                  size_t ldb, float *C, size_t ldc, int beta)
{
    if (nn_isa() < NN_ISA_AVX512BF16) pcnn_die("internal error: a bf16 GEMM without AVX512_BF16");
    if (nn_gemm_trivial(M, N, K, C, ldc, beta)) return;
    gemm_t g = {M, N, K, A, ars, acs, B, ldb, C, ldc, beta};
    int threads = nn_gemm_threads_for((double)M * N * K);
    /* as fp32: whole tiles dealt out along the longer side, no chain ever split */
#pragma omp parallel num_threads(threads) if (threads > 1)
    {
        int i0, i1, j0, j1;
        if (nn_gemm_share(M, N, MAX_W, omp_get_thread_num(), omp_get_num_threads(), &i0, &i1,
                          &j0, &j1))
            gemm_part(&g, i0, i1, j0, j1);
    }
}

/* ---------------------------------------------------------------------------
 * Implicit GEMM over taps: B (all K = T*kc rows) packed once by all threads,
 * then each row tile's taps packed into one bf16 row per pixel. */
void nn_tap_gemm_bf16(const nn_tapmap *m, int M, int N, int kc, const float *B, size_t ldb,
                      float *C, size_t ldc, int load, const float *zero)
{
    if (nn_isa() < NN_ISA_AVX512BF16) pcnn_die("internal error: a bf16 GEMM without AVX512_BF16");
    const int T = m->kh * m->kw, K = T * kc, kp = (K + 1) / 2, mt = (M + MR - 1) / MR;
    bfpair *bp = (bfpair *)nn_scratch(NN_SCRATCH_PACK, (size_t)kp * nn_gemm_round_panels(N));
    int threads = nn_gemm_threads_for((double)M * N * K);
#pragma omp parallel num_threads(threads) if (threads > 1)
    {
        int t = omp_get_thread_num(), nt = omp_get_num_threads();
        pack_b(bp, B, ldb, K, N, (int)((long)kp * t / nt), (int)((long)kp * (t + 1) / nt));
        bfpair *apk = (bfpair *)nn_scratch(NN_SCRATCH_APACK, (size_t)MR * kp);   /* this thread's */
#pragma omp barrier
#pragma omp for schedule(static)
        for (int g = 0; g < mt; g++) {
            const float *ap[64 * MR];   /* T <= 64 taps (checked by callers) */
            const bfpair *a[MR];
            int i0 = g * MR, mc = M - i0 < MR ? M - i0 : MR;
            nn_gemm_tap_rows(m, i0, mc, ap, zero);
            pack_tap_rows(apk, ap, T, kc, a);
            for (int j = 0, w; j < N; j += w) {
                w = nn_gemm_panel_width(MAX_W, j, N);
                int nc = N - j < w ? N - j : w;
                float *c = C + (size_t)i0 * ldc + j;
                TILE(KERNELS[w / NR](kp, a, 1, bp + (size_t)kp * j, cc, lc, load));
            }
        }
    }
}

#else   /* no x86: nn_isa() is never AVX512BF16, so nn_set_precision refuses bf16 */

void nn_gemm_bf16(int M, int N, int K, const float *A, size_t ars, size_t acs, const float *B,
                  size_t ldb, float *C, size_t ldc, int beta)
{
    pcnn_die("internal error: a bf16 GEMM without AVX512_BF16");
}

void nn_tap_gemm_bf16(const nn_tapmap *m, int M, int N, int kc, const float *B, size_t ldb,
                      float *C, size_t ldc, int load, const float *zero)
{
    pcnn_die("internal error: a bf16 GEMM without AVX512_BF16");
}
#endif
