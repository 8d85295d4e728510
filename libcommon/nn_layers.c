/* nn_layers.c — CPU primitives (see nn_layers.h for shapes and semantics). */
#include "nn_layers.h"

#include "rng.h"
#include "util.h"

/* Every rounding step here is explicit (fmaf/_mm256_fmadd_* where a fused
 * multiply-add is meant): never let the compiler contract a*b+c on its own, or
 * the SIMD and scalar paths (and builds with other flags) would differ. -std=c11
 * already implies this for GCC; the pragmas keep it so under other flags. */
#if defined(__clang__)
#pragma clang fp contract(off)
#elif defined(__GNUC__)
#pragma GCC optimize("fp-contract=off")
#endif

#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <stdint.h>
#include <string.h>

/* db[c] += sum over rows of x[r, c] (rows in order: deterministic). */
static void colsum_add(float *db, const float *x, size_t rows, int C)
{
    if (!db) return;
    for (size_t r = 0; r < rows; r++) {
        const float *xr = x + r * (size_t)C;
        for (int c = 0; c < C; c++) db[c] += xr[c];
    }
}

static void fill_bias(float *out, const float *b, size_t rows, int C, int accumulate)
{
    if (!accumulate) {
        if (b) {
#pragma omp parallel for schedule(static)
            for (size_t r = 0; r < rows; r++) memcpy(out + r * (size_t)C, b, (size_t)C * sizeof *b);
        } else {
            memset(out, 0, rows * (size_t)C * sizeof *out);
        }
    } else if (b) {
#pragma omp parallel for schedule(static)
        for (size_t r = 0; r < rows; r++)
            for (int c = 0; c < C; c++) out[r * (size_t)C + c] += b[c];
    }
}

/* ---------------------------------------------------------------------------
 * Scratch for weight copies in GEMM-friendly layouts: grows to the largest
 * need once (first step), then reused; one per calling thread. */
static _Thread_local float *scratch_p;
static _Thread_local size_t scratch_cap;

static float *scratch(size_t n)
{
    if (n > scratch_cap) {
        free(scratch_p);
        scratch_p = pcnn_xmalloc(n * sizeof *scratch_p);
        scratch_cap = n;
    }
    return scratch_p;
}

__attribute__((destructor)) static void scratch_free(void)
{
    free(scratch_p);
    scratch_p = NULL;
    scratch_cap = 0;
}

/* ---------------------------------------------------------------------------
 * GEMM. C (M, N; row stride ldc) = [C +] A B with
 *   A(i, k) = A[i*ars + k*acs]  (any strides: plain or transposed)
 *   B(k, j) = B[k*ldb + j]      (unit column stride; callers lay weights out so)
 * Every element is ONE fused multiply-add chain in k order,
 *   acc = beta ? C[i,j] : 0 ;  for k = 0..K-1: acc = fma(A(i,k), B(k,j), acc)
 * so its value depends on nothing but its own row of A and column of B: not on
 * M, N, the tile it falls in, the K blocking or the thread count. (OpenBLAS
 * gives no such promise: its Haswell kernels round differently at tile edges,
 * so a row window would not match the full pass.) AVX2+FMA kernel when the CPU
 * has it, else the same chain with fmaf (bit-identical, slower). */
#define GEMM_MR 6
#define GEMM_NR 16
#define GEMM_KB 256

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

typedef void gemm_kernel(int kc, const float *const *a, size_t acs, const float *b, size_t ldb,
                         float *c, size_t ldc, int load);

/* c (MR, NR) = [c +] a (MR rows, kc) b (kc, NR); reference and fallback. */

/* The 6x16 AVX2 micro-tile shared by the GEMM and the tap kernels: rows a0..a5
 * (element `off`) times the 16 floats at b, one fma per accumulator, then the
 * store of the 6 x 16 accumulators to c (row stride ldc). */
#define KERN6x16_STEP(off)                                                                 \
    do {                                                                                   \
        __m256 b0 = _mm256_loadu_ps(b), b1 = _mm256_loadu_ps(b + 8), x;                    \
        x = _mm256_broadcast_ss(a0 + (off));                                               \
        c0a = _mm256_fmadd_ps(x, b0, c0a), c0b = _mm256_fmadd_ps(x, b1, c0b);              \
        x = _mm256_broadcast_ss(a1 + (off));                                               \
        c1a = _mm256_fmadd_ps(x, b0, c1a), c1b = _mm256_fmadd_ps(x, b1, c1b);              \
        x = _mm256_broadcast_ss(a2 + (off));                                               \
        c2a = _mm256_fmadd_ps(x, b0, c2a), c2b = _mm256_fmadd_ps(x, b1, c2b);              \
        x = _mm256_broadcast_ss(a3 + (off));                                               \
        c3a = _mm256_fmadd_ps(x, b0, c3a), c3b = _mm256_fmadd_ps(x, b1, c3b);              \
        x = _mm256_broadcast_ss(a4 + (off));                                               \
        c4a = _mm256_fmadd_ps(x, b0, c4a), c4b = _mm256_fmadd_ps(x, b1, c4b);              \
        x = _mm256_broadcast_ss(a5 + (off));                                               \
        c5a = _mm256_fmadd_ps(x, b0, c5a), c5b = _mm256_fmadd_ps(x, b1, c5b);              \
    } while (0)
#define KERN6x16_STORE()                                                                   \
    do {                                                                                   \
        _mm256_storeu_ps(c, c0a), _mm256_storeu_ps(c + 8, c0b);                            \
        _mm256_storeu_ps(c + ldc, c1a), _mm256_storeu_ps(c + ldc + 8, c1b);                \
        _mm256_storeu_ps(c + 2 * ldc, c2a), _mm256_storeu_ps(c + 2 * ldc + 8, c2b);        \
        _mm256_storeu_ps(c + 3 * ldc, c3a), _mm256_storeu_ps(c + 3 * ldc + 8, c3b);        \
        _mm256_storeu_ps(c + 4 * ldc, c4a), _mm256_storeu_ps(c + 4 * ldc + 8, c4b);        \
        _mm256_storeu_ps(c + 5 * ldc, c5a), _mm256_storeu_ps(c + 5 * ldc + 8, c5b);        \
    } while (0)

static void kern_c(int kc, const float *const *a, size_t acs, const float *b, size_t ldb, float *c,
                   size_t ldc, int load)
{
    float acc[GEMM_MR][GEMM_NR];
    for (int r = 0; r < GEMM_MR; r++)
        for (int j = 0; j < GEMM_NR; j++) acc[r][j] = load ? c[r * ldc + j] : 0.0f;
    for (int k = 0; k < kc; k++) {
        const float *bk = b + (size_t)k * ldb;
        for (int r = 0; r < GEMM_MR; r++) {
            float x = a[r][(size_t)k * acs];
            for (int j = 0; j < GEMM_NR; j++) acc[r][j] = fmaf(x, bk[j], acc[r][j]);
        }
    }
    for (int r = 0; r < GEMM_MR; r++)
        for (int j = 0; j < GEMM_NR; j++) c[r * ldc + j] = acc[r][j];
}

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define HAVE_KERN_AVX2 1
/* The same chains, 6 rows x 16 columns in 12 ymm accumulators. */
__attribute__((target("avx2,fma"))) static void kern_avx2(int kc, const float *const *a,
                                                           size_t acs, const float *b, size_t ldb,
                                                           float *c, size_t ldc, int load)
{
    __m256 c0a, c0b, c1a, c1b, c2a, c2b, c3a, c3b, c4a, c4b, c5a, c5b;
    if (load) {
        c0a = _mm256_loadu_ps(c), c0b = _mm256_loadu_ps(c + 8);
        c1a = _mm256_loadu_ps(c + ldc), c1b = _mm256_loadu_ps(c + ldc + 8);
        c2a = _mm256_loadu_ps(c + 2 * ldc), c2b = _mm256_loadu_ps(c + 2 * ldc + 8);
        c3a = _mm256_loadu_ps(c + 3 * ldc), c3b = _mm256_loadu_ps(c + 3 * ldc + 8);
        c4a = _mm256_loadu_ps(c + 4 * ldc), c4b = _mm256_loadu_ps(c + 4 * ldc + 8);
        c5a = _mm256_loadu_ps(c + 5 * ldc), c5b = _mm256_loadu_ps(c + 5 * ldc + 8);
    } else {
        c0a = c0b = c1a = c1b = c2a = c2b = c3a = c3b = c4a = c4b = c5a = c5b = _mm256_setzero_ps();
    }
    const float *a0 = a[0], *a1 = a[1], *a2 = a[2], *a3 = a[3], *a4 = a[4], *a5 = a[5];
    size_t p = 0;
    for (int k = 0; k < kc; k++, p += acs, b += ldb) {
        KERN6x16_STEP(p);
    }
    KERN6x16_STORE();
}
#endif

static gemm_kernel *pick_kernel(void)
{
    static gemm_kernel *k;
    if (!k) {
        k = kern_c;
#ifdef HAVE_KERN_AVX2
        if (!getenv("PCNN_NO_SIMD") && __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
            k = kern_avx2;
#endif
    }
    return k;
}

/* ---------------------------------------------------------------------------
 * exp for float arrays, vectorised: the algorithm of glibc's expf (Szabolcs
 * Nagy, ARM optimized-routines; same table and polynomial) in double precision,
 * x = (k + r) ln2/32, exp(x) = 2^(k/32) (1 + C2 r + C1 r^2 + C0 r^3), with
 * FMAs in a fixed place so the AVX2 path and the scalar path give the same bits.
 * Error bound of the algorithm: 0.502 ulp (round to nearest); measured against
 * glibc expf on every float in [-104, 89]: see nn_layers.c's commit message.
 * Inputs are clamped to [-104, 89] (exp underflows to 0 / overflows to inf the
 * same); NaN gives NaN. */
static const uint64_t exp_tab[32] = {
    0x3ff0000000000000, 0x3fefd9b0d3158574, 0x3fefb5586cf9890f, 0x3fef9301d0125b51,
    0x3fef72b83c7d517b, 0x3fef54873168b9aa, 0x3fef387a6e756238, 0x3fef1e9df51fdee1,
    0x3fef06fe0a31b715, 0x3feef1a7373aa9cb, 0x3feedea64c123422, 0x3feece086061892d,
    0x3feebfdad5362a27, 0x3feeb42b569d4f82, 0x3feeab07dd485429, 0x3feea47eb03a5585,
    0x3feea09e667f3bcd, 0x3fee9f75e8ec5f74, 0x3feea11473eb0187, 0x3feea589994cce13,
    0x3feeace5422aa0db, 0x3feeb737b0cdc5e5, 0x3feec49182a3f090, 0x3feed503b23e255d,
    0x3feee89f995ad3ad, 0x3feeff76f2fb5e47, 0x3fef199bdd85529c, 0x3fef3720dcef9069,
    0x3fef5818dcfba487, 0x3fef7c97337b9b5f, 0x3fefa4afa2a490da, 0x3fefd0765b6e4540,
};
#define EXP_INVLN2N (0x1.71547652b82fep+0 * 32)
#define EXP_SHIFT 0x1.8p+52
#define EXP_C0 (0x1.c6af84b912394p-5 / 32 / 32 / 32)
#define EXP_C1 (0x1.ebfce50fac4f3p-3 / 32 / 32)
#define EXP_C2 (0x1.62e42ff0c52d6p-1 / 32)

static inline float exp_1(float x)
{
    if (x != x) return x;
    x = x < -104.0f ? -104.0f : x > 89.0f ? 89.0f : x;
    double z = EXP_INVLN2N * (double)x;
    double kd = z + EXP_SHIFT;
    uint64_t ki;
    memcpy(&ki, &kd, sizeof ki);
    kd -= EXP_SHIFT;
    double r = z - kd;
    uint64_t t = exp_tab[ki % 32] + (ki << 47);
    double s;
    memcpy(&s, &t, sizeof s);
    double p = fma(EXP_C0, r, EXP_C1), r2 = r * r, y = fma(EXP_C2, r, 1.0);
    y = fma(p, r2, y);
    return (float)(y * s);
}

#ifdef HAVE_KERN_AVX2
__attribute__((target("avx2,fma"))) static inline __m128 exp_4(__m128 x)
{
    __m128 nan = _mm_cmpunord_ps(x, x);
    __m128 xc = _mm_min_ps(_mm_max_ps(x, _mm_set1_ps(-104.0f)), _mm_set1_ps(89.0f));
    __m256d z = _mm256_mul_pd(_mm256_set1_pd(EXP_INVLN2N), _mm256_cvtps_pd(xc));
    __m256d kd = _mm256_add_pd(z, _mm256_set1_pd(EXP_SHIFT));
    __m256i ki = _mm256_castpd_si256(kd);
    kd = _mm256_sub_pd(kd, _mm256_set1_pd(EXP_SHIFT));
    __m256d r = _mm256_sub_pd(z, kd);
    __m256i idx = _mm256_and_si256(ki, _mm256_set1_epi64x(31));
    __m256i t = _mm256_i64gather_epi64((const long long *)exp_tab, idx, 8);
    t = _mm256_add_epi64(t, _mm256_slli_epi64(ki, 47));
    __m256d s = _mm256_castsi256_pd(t);
    __m256d p = _mm256_fmadd_pd(_mm256_set1_pd(EXP_C0), r, _mm256_set1_pd(EXP_C1));
    __m256d r2 = _mm256_mul_pd(r, r);
    __m256d y = _mm256_fmadd_pd(_mm256_set1_pd(EXP_C2), r, _mm256_set1_pd(1.0));
    y = _mm256_mul_pd(_mm256_fmadd_pd(p, r2, y), s);
    return _mm_blendv_ps(_mm256_cvtpd_ps(y), x, nan);
}

__attribute__((target("avx2,fma"))) static void exp_array_avx2(float *y, const float *x, size_t n)
{
    size_t i = 0;
    for (; i + 4 <= n; i += 4) _mm_storeu_ps(y + i, exp_4(_mm_loadu_ps(x + i)));
    for (; i < n; i++) y[i] = exp_1(x[i]);
}
#endif

/* y[i] = exp(x[i]), y may be x. */
static void exp_array(float *y, const float *x, size_t n)
{
#ifdef HAVE_KERN_AVX2
    if (pick_kernel() == kern_avx2) {
        exp_array_avx2(y, x, n);
        return;
    }
#endif
    for (size_t i = 0; i < n; i++) y[i] = exp_1(x[i]);
}

/* Rows [i0, i1) x columns [j0, j1) of C (j0 a multiple of NR) by one thread. */
static void gemm_part(const gemm_t *g, gemm_kernel *kern, int i0, int i1, int j0, int j1)
{
    float bpad[GEMM_KB * GEMM_NR], ct[GEMM_MR * GEMM_NR];
    for (int k0 = 0; k0 < g->K; k0 += GEMM_KB) {
        int kc = g->K - k0 < GEMM_KB ? g->K - k0 : GEMM_KB;
        int load = g->beta || k0 > 0;
        const float *bk = g->B + (size_t)k0 * g->ldb;
        int jfull = j0 + (j1 - j0) / GEMM_NR * GEMM_NR;   /* columns [jfull, j1) are a partial panel */
        if (jfull < j1) {
            int nc = j1 - jfull;
            for (int k = 0; k < kc; k++) {
                const float *s = bk + (size_t)k * g->ldb + jfull;
                float *d = bpad + (size_t)k * GEMM_NR;
                for (int j = 0; j < GEMM_NR; j++) d[j] = j < nc ? s[j] : 0.0f;
            }
        }
        for (int i = i0; i < i1; i += GEMM_MR) {
            int mc = i1 - i < GEMM_MR ? i1 - i : GEMM_MR;
            const float *ap[GEMM_MR];
            for (int r = 0; r < GEMM_MR; r++)   /* rows past the end repeat the last one (not stored) */
                ap[r] = g->A + (size_t)(i + (r < mc ? r : mc - 1)) * g->ars + (size_t)k0 * g->acs;
            for (int j = j0; j < j1; j += GEMM_NR) {
                int nc = j1 - j < GEMM_NR ? j1 - j : GEMM_NR;
                const float *bp = j < jfull ? bk + j : bpad;
                size_t lb = j < jfull ? g->ldb : GEMM_NR;
                float *c = g->C + (size_t)i * g->ldc + j;
                if (mc == GEMM_MR && nc == GEMM_NR) {
                    kern(kc, ap, g->acs, bp, lb, c, g->ldc, load);
                } else {
                    if (load)
                        for (int r = 0; r < mc; r++) memcpy(ct + r * GEMM_NR, c + (size_t)r * g->ldc, (size_t)nc * sizeof *c);
                    kern(kc, ap, g->acs, bp, lb, ct, GEMM_NR, load);
                    for (int r = 0; r < mc; r++) memcpy(c + (size_t)r * g->ldc, ct + r * GEMM_NR, (size_t)nc * sizeof *c);
                }
            }
        }
    }
}

/* C = [C +] A B (see above). The tiles are split among the OpenMP threads along
 * the longer side; no element's sum is ever split. */
static void gemm(int M, int N, int K, const float *A, size_t ars, size_t acs, const float *B,
                 size_t ldb, float *C, size_t ldc, int beta)
{
    if (M <= 0 || N <= 0) return;
    gemm_t g = {M, N, K, A, ars, acs, B, ldb, C, ldc, beta};
    gemm_kernel *kern = pick_kernel();
    if (K <= 0) {
        if (!beta)
            for (int i = 0; i < M; i++) memset(C + (size_t)i * ldc, 0, (size_t)N * sizeof *C);
        return;
    }
    const int mt = (M + GEMM_MR - 1) / GEMM_MR, nt = (N + GEMM_NR - 1) / GEMM_NR;
    const double work = (double)M * N * K;
    int threads = omp_in_parallel() || work < 2e5 ? 1 : omp_get_max_threads();
#pragma omp parallel num_threads(threads) if (threads > 1)
    {
        int t = omp_get_thread_num(), T = omp_get_num_threads();
        if (mt >= nt) {
            int a = (int)((long)mt * t / T), b = (int)((long)mt * (t + 1) / T);
            if (a < b) gemm_part(&g, kern, a * GEMM_MR, b * GEMM_MR < M ? b * GEMM_MR : M, 0, N);
        } else {
            int a = (int)((long)nt * t / T), b = (int)((long)nt * (t + 1) / T);
            if (a < b) gemm_part(&g, kern, 0, M, a * GEMM_NR, b * GEMM_NR < N ? b * GEMM_NR : N);
        }
    }
}

/* ---------------------------------------------------------------------------
 * Implicit GEMM of a stride-1 convolution (no im2col copy): row i of A is the
 * concatenation over taps q = 0..T-1 of kc floats at ap[q][i] (a pixel of the
 * source, or a zero vector where the tap falls in the padding), so k = q*kc + c,
 * the same k order as im2col; B (T*kc, ldb) is the weight laid out to match.
 * Every element is still one fma chain in k order, from C's value (load) or 0. */
typedef void tap_kernel(int T, int kc, const float *const *ap, const float *b, size_t ldb,
                        float *c, size_t ldc, int load);

/* ap[q*MR + r]: row r's pointer for tap q. */
static void tkern_c(int T, int kc, const float *const *ap, const float *b, size_t ldb, float *c,
                    size_t ldc, int load)
{
    float acc[GEMM_MR][GEMM_NR];
    for (int r = 0; r < GEMM_MR; r++)
        for (int j = 0; j < GEMM_NR; j++) acc[r][j] = load ? c[r * ldc + j] : 0.0f;
    for (int q = 0; q < T; q++)
        for (int k = 0; k < kc; k++, b += ldb)
            for (int r = 0; r < GEMM_MR; r++) {
                float x = ap[q * GEMM_MR + r][k];
                for (int j = 0; j < GEMM_NR; j++) acc[r][j] = fmaf(x, b[j], acc[r][j]);
            }
    for (int r = 0; r < GEMM_MR; r++)
        for (int j = 0; j < GEMM_NR; j++) c[r * ldc + j] = acc[r][j];
}

#ifdef HAVE_KERN_AVX2
__attribute__((target("avx2,fma"))) static void tkern_avx2(int T, int kc, const float *const *ap,
                                                            const float *b, size_t ldb, float *c,
                                                            size_t ldc, int load)
{
    __m256 c0a, c0b, c1a, c1b, c2a, c2b, c3a, c3b, c4a, c4b, c5a, c5b;
    if (load) {
        c0a = _mm256_loadu_ps(c), c0b = _mm256_loadu_ps(c + 8);
        c1a = _mm256_loadu_ps(c + ldc), c1b = _mm256_loadu_ps(c + ldc + 8);
        c2a = _mm256_loadu_ps(c + 2 * ldc), c2b = _mm256_loadu_ps(c + 2 * ldc + 8);
        c3a = _mm256_loadu_ps(c + 3 * ldc), c3b = _mm256_loadu_ps(c + 3 * ldc + 8);
        c4a = _mm256_loadu_ps(c + 4 * ldc), c4b = _mm256_loadu_ps(c + 4 * ldc + 8);
        c5a = _mm256_loadu_ps(c + 5 * ldc), c5b = _mm256_loadu_ps(c + 5 * ldc + 8);
    } else {
        c0a = c0b = c1a = c1b = c2a = c2b = c3a = c3b = c4a = c4b = c5a = c5b = _mm256_setzero_ps();
    }
    for (int q = 0; q < T; q++) {
        const float *a0 = ap[q * 6], *a1 = ap[q * 6 + 1], *a2 = ap[q * 6 + 2], *a3 = ap[q * 6 + 3],
                    *a4 = ap[q * 6 + 4], *a5 = ap[q * 6 + 5];
        for (int k = 0; k < kc; k++, b += ldb) {
            KERN6x16_STEP(k);
        }
    }
    KERN6x16_STORE();
}
#endif

static tap_kernel *pick_tap_kernel(void)
{
#ifdef HAVE_KERN_AVX2
    if (pick_kernel() == kern_avx2) return tkern_avx2;
#endif
    return tkern_c;
}

/* Which source pixel row i reads through tap (di, dj), for the two stride-1 uses:
 *   fwd  (rows = output pixels (n,i,j)): in[n, i+di-pt, j+dj-pl]
 *   bwdd (rows = input pixels (n,i,j)):  dout[n, i+pt-di, j+pl-dj]
 * src has (N, sh, sw, C); NULL where outside. */
typedef struct tapmap {
    const float *src;
    int C, sh, sw;       /* source pixel grid and channels */
    int rh, rw;          /* row pixel grid */
    int kh, kw, oi, oj;  /* row (n,i,j), tap (di,dj) reads source pixel (n, i+oi-sgn*di, j+oj-sgn*dj): */
    int sgn;             /* fwd: oi = -pt, oj = -pl, sgn = -1 ; bwdd: oi = pt, oj = pl, sgn = 1 */
} tapmap;

/* C (M, ldc) [+]= sum over taps: implicit GEMM, B (kh*kw*kc, ldb >= N rounded up to NR, zero padded). */
static void tap_gemm(const tapmap *m, int M, int N, int kc, const float *B, size_t ldb, float *C,
                     size_t ldc, int load, const float *zero)
{
    tap_kernel *kern = pick_tap_kernel();
    const int T = m->kh * m->kw, mt = (M + GEMM_MR - 1) / GEMM_MR;
    const double work = (double)M * N * kc * T;
    int threads = omp_in_parallel() || work < 2e5 ? 1 : omp_get_max_threads();
#pragma omp parallel for schedule(static) num_threads(threads) if (threads > 1)
    for (int g = 0; g < mt; g++) {
        const float *ap[64 * GEMM_MR];   /* T <= 64 taps (checked by callers) */
        float ct[GEMM_MR * GEMM_NR];
        int i0 = g * GEMM_MR, mc = M - i0 < GEMM_MR ? M - i0 : GEMM_MR;
        for (int r = 0; r < GEMM_MR; r++) {
            int i = i0 + (r < mc ? r : mc - 1);
            int j = i % m->rw, t = i / m->rw, ii = t % m->rh, n = t / m->rh;
            for (int di = 0; di < m->kh; di++)
                for (int dj = 0; dj < m->kw; dj++) {
                    int si = ii + m->oi - m->sgn * di, sj = j + m->oj - m->sgn * dj;
                    ap[(di * m->kw + dj) * GEMM_MR + r] =
                        si < 0 || si >= m->sh || sj < 0 || sj >= m->sw
                            ? zero
                            : m->src + (((size_t)n * m->sh + si) * m->sw + sj) * m->C;
                }
        }
        for (int j = 0; j < N; j += GEMM_NR) {
            int nc = N - j < GEMM_NR ? N - j : GEMM_NR;
            float *c = C + (size_t)i0 * ldc + j;
            if (mc == GEMM_MR && nc == GEMM_NR) {
                kern(T, kc, ap, B + j, ldb, c, ldc, load);
            } else {
                if (load)
                    for (int r = 0; r < mc; r++) memcpy(ct + r * GEMM_NR, c + (size_t)r * ldc, (size_t)nc * sizeof *c);
                kern(T, kc, ap, B + j, ldb, ct, GEMM_NR, load);
                for (int r = 0; r < mc; r++) memcpy(c + (size_t)r * ldc, ct + r * GEMM_NR, (size_t)nc * sizeof *c);
            }
        }
    }
}

/* ---------------------------------------------------------------------------
 * Convolutions. The GEMM's k runs over the kernel taps in (di, dj, c) order, so
 * a row of the im2col matrix is kh*kw contiguous copies of input pixels (NHWC)
 * and the weights are laid out once per call to match:
 *   Wt (Kc, Cout): Wt[(di*kw + dj)*Cin + c, o] = W[o, c, di, dj]   (forward)
 *   Wp (Cout, Kc): Wp[o, (di*kw + dj)*Cin + c] = W[o, c, di, dj]   (backward) */

/* Images per chunk so that per_img floats each fit the workspace. */
static int chunk_images(const nn_ws *ws, size_t per_img, int N)
{
    size_t k = ws->cap / (per_img ? per_img : 1);
    if (k < 1) pcnn_die("internal error: workspace of %zu floats < %zu for one image", ws->cap, per_img);
    return k >= (size_t)N ? N : (int)k;
}

static int is_pointwise(const nn_conv_geom *g)
{
    return g->kh == 1 && g->kw == 1 && g->s == 1 && g->pt == 0 && g->pl == 0 && g->Ho == g->H &&
           g->Wo == g->W;
}

/* col (nb*Ho*Wo, kh*kw*Cin): col[(n,i,j), (di*kw + dj)*Cin + c] = in[n, i*s+di-pt, j*s+dj-pl, c] or 0. */
static void im2col(float *col, const float *in, int nb, const nn_conv_geom *g)
{
    const int Cin = g->Cin, kh = g->kh, kw = g->kw;
    const size_t Kc = (size_t)Cin * kh * kw, cb = (size_t)Cin * sizeof(float);
#pragma omp parallel for schedule(static)
    for (int ni = 0; ni < nb * g->Ho; ni++) {
        int n = ni / g->Ho, i = ni % g->Ho;
        for (int j = 0; j < g->Wo; j++) {
            float *c = col + ((size_t)ni * g->Wo + j) * Kc;
            for (int di = 0; di < kh; di++) {
                int ii = i * g->s + di - g->pt;
                for (int dj = 0; dj < kw; dj++, c += Cin) {
                    int jj = j * g->s + dj - g->pl;
                    if (ii < 0 || ii >= g->H || jj < 0 || jj >= g->W)
                        memset(c, 0, cb);
                    else
                        memcpy(c, in + (((size_t)n * g->H + ii) * g->W + jj) * Cin, cb);
                }
            }
        }
    }
}

/* din += col2im(dcol): each input pixel gathers the columns that read it, taps in (di, dj) order. */
static void col2im_add(float *din, const float *col, int nb, const nn_conv_geom *g)
{
    const int Cin = g->Cin, kh = g->kh, kw = g->kw, s = g->s;
    const size_t Kc = (size_t)Cin * kh * kw;
#pragma omp parallel for schedule(static)
    for (int ni = 0; ni < nb * g->H; ni++) {
        int n = ni / g->H, ii = ni % g->H;
        for (int jj = 0; jj < g->W; jj++) {
            float *d = din + ((size_t)ni * g->W + jj) * Cin;
            for (int di = 0; di < kh; di++) {
                int t = ii + g->pt - di;
                if (t < 0 || t % s) continue;
                int io = t / s;
                if (io >= g->Ho) continue;
                for (int dj = 0; dj < kw; dj++) {
                    int u = jj + g->pl - dj;
                    if (u < 0 || u % s) continue;
                    int jo = u / s;
                    if (jo >= g->Wo) continue;
                    const float *c = col + (((size_t)n * g->Ho + io) * g->Wo + jo) * Kc +
                                     (size_t)(di * kw + dj) * Cin;
                    for (int ci = 0; ci < Cin; ci++) d[ci] += c[ci];
                }
            }
        }
    }
}

static size_t round_nr(int n) { return ((size_t)n + GEMM_NR - 1) / GEMM_NR * GEMM_NR; }

void nn_conv_fwd(float *out, const float *in, const float *W, const float *b,
                 const nn_conv_geom *g, int accumulate, nn_ws *ws)
{
    const int kk = g->kh * g->kw, Cin = g->Cin, Cout = g->Cout;
    const size_t Kc = (size_t)Cin * kk;
    const size_t opix = (size_t)g->Ho * g->Wo, ipix = (size_t)g->H * g->W;
    if (is_pointwise(g)) {
        nn_linear_fwd(out, in, W, b, (size_t)g->N * opix, g->Cin, g->Cout, accumulate);
        return;
    }
    if (g->s == 1 && kk <= 64) {
        /* implicit GEMM: Wt (Kc, ldb) zero padded to whole panels, then a zero pixel */
        size_t ldb = round_nr(Cout);
        float *Wt = scratch(Kc * ldb + (size_t)Cin), *zero = Wt + Kc * ldb;
        memset(Wt, 0, (Kc * ldb + (size_t)Cin) * sizeof *Wt);
        for (int o = 0; o < Cout; o++)
            for (int c = 0; c < Cin; c++)
                for (int q = 0; q < kk; q++) Wt[((size_t)q * Cin + c) * ldb + o] = W[((size_t)o * Cin + c) * kk + q];
        tapmap m = {in, Cin, g->H, g->W, g->Ho, g->Wo, g->kh, g->kw, -g->pt, -g->pl, -1};
        fill_bias(out, b, (size_t)g->N * opix, Cout, accumulate);
        tap_gemm(&m, (int)((size_t)g->N * opix), Cout, Cin, Wt, ldb, out, Cout, 1, zero);
        return;
    }
    float *Wt = scratch(Kc * Cout);   /* (Kc, Cout) */
    for (int o = 0; o < Cout; o++)
        for (int c = 0; c < Cin; c++)
            for (int q = 0; q < kk; q++) Wt[((size_t)q * Cin + c) * Cout + o] = W[((size_t)o * Cin + c) * kk + q];
    int chunk = chunk_images(ws, opix * Kc, g->N);
    for (int n0 = 0; n0 < g->N; n0 += chunk) {
        int nb = g->N - n0 < chunk ? g->N - n0 : chunk;
        size_t rows = (size_t)nb * opix;
        float *o = out + (size_t)n0 * opix * Cout;
        im2col(ws->p, in + (size_t)n0 * ipix * Cin, nb, g);
        fill_bias(o, b, rows, Cout, accumulate);
        gemm((int)rows, Cout, (int)Kc, ws->p, Kc, 1, Wt, Cout, o, Cout, 1);
    }
}

void nn_conv_bwd(float *din, float *dW, float *db, const float *dout, const float *in,
                 const float *W, const nn_conv_geom *g, nn_ws *ws)
{
    const int kk = g->kh * g->kw, Cin = g->Cin, Cout = g->Cout;
    const size_t Kc = (size_t)Cin * kk;
    const size_t opix = (size_t)g->Ho * g->Wo, ipix = (size_t)g->H * g->W;
    if (is_pointwise(g)) {
        nn_linear_bwd(din, dW, db, dout, in, W, (size_t)g->N * opix, g->Cin, g->Cout);
        return;
    }
    colsum_add(db, dout, (size_t)g->N * opix, Cout);
    const int implicit = g->s == 1 && kk <= 64;
    /* Wp, dWp (Cout, Kc) each, tap-major; then room for the implicit din's weights */
    float *Wp = scratch(2 * Kc * Cout + (size_t)kk * Cout * round_nr(Cin) + (size_t)Cout), *dWp = Wp + Kc * Cout;
    for (int o = 0; o < Cout; o++)
        for (int c = 0; c < Cin; c++)
            for (int q = 0; q < kk; q++) Wp[(size_t)o * Kc + (size_t)q * Cin + c] = W[((size_t)o * Cin + c) * kk + q];
    int chunk = chunk_images(ws, opix * Kc, g->N);
    for (int n0 = 0; n0 < g->N; n0 += chunk) {
        int nb = g->N - n0 < chunk ? g->N - n0 : chunk;
        size_t rows = (size_t)nb * opix;
        const float *dO = dout + (size_t)n0 * opix * Cout;
        /* dWp (Cout, Kc) += dO^T (Cout, rows) col (rows, Kc): one chain over all images */
        im2col(ws->p, in + (size_t)n0 * ipix * Cin, nb, g);
        gemm(Cout, (int)Kc, (int)rows, dO, 1, Cout, ws->p, Kc, dWp, Kc, n0 > 0);
        if (din && !implicit) {
            /* dcol (rows, Kc) = dO (rows, Cout) Wp (Cout, Kc) */
            gemm((int)rows, (int)Kc, Cout, dO, Cout, 1, Wp, Kc, ws->p, Kc, 0);
            col2im_add(din + (size_t)n0 * ipix * Cin, ws->p, nb, g);
        }
    }
    if (din && implicit) {
        /* din[n,i,j,c] += sum over taps q = (di,dj), o of dout[n, i+pt-di, j+pl-dj, o] W[o,c,di,dj]:
         * implicit GEMM, B = Wb (kk*Cout, ldb): Wb[q*Cout + o, c] = W[o, c, q]; k = (q, o). */
        size_t ldb = round_nr(Cin);
        float *Wb = dWp + Kc * Cout, *zero = Wb + (size_t)kk * Cout * ldb;
        memset(Wb, 0, ((size_t)kk * Cout * ldb + (size_t)Cout) * sizeof *Wb);
        for (int o = 0; o < Cout; o++)
            for (int c = 0; c < Cin; c++)
                for (int q = 0; q < kk; q++) Wb[((size_t)q * Cout + o) * ldb + c] = W[((size_t)o * Cin + c) * kk + q];
        tapmap m = {dout, Cout, g->Ho, g->Wo, g->H, g->W, g->kh, g->kw, g->pt, g->pl, 1};
        tap_gemm(&m, (int)((size_t)g->N * ipix), Cin, Cout, Wb, ldb, din, Cin, 1, zero);
    }
    for (int o = 0; o < Cout; o++)
        for (int c = 0; c < Cin; c++)
            for (int q = 0; q < kk; q++) dW[((size_t)o * Cin + c) * kk + q] += dWp[(size_t)o * Kc + (size_t)q * Cin + c];
}

/* Deconv: Y (rows, kh*kw*Cout) = X (rows, Cin) Wd, Wd (Cin, Kd) tap-major:
 * Wd[c, (di*kw + dj)*Cout + o] = W[c, o, di, dj]. */
void nn_deconv_fwd(float *out, const float *in, const float *W, const float *b, int N, int H,
                   int Wd, int Cin, int Cout, int kh, int kw, int coff, nn_ws *ws)
{
    const int kk = kh * kw, Ho = 2 * H, Wo = 2 * Wd;
    const size_t Kd = (size_t)Cout * kk, ipix = (size_t)H * Wd, opix = (size_t)Ho * Wo;
    float *Wt = scratch((size_t)Cin * Kd);
    for (int c = 0; c < Cin; c++)
        for (int o = 0; o < Cout; o++)
            for (int q = 0; q < kk; q++) Wt[(size_t)c * Kd + (size_t)q * Cout + o] = W[((size_t)c * Cout + o) * kk + q];
    int chunk = chunk_images(ws, ipix * Kd, N);
    for (int n0 = 0; n0 < N; n0 += chunk) {
        int nb = N - n0 < chunk ? N - n0 : chunk;
        size_t rows = (size_t)nb * ipix;
        const float *Y = ws->p;
        gemm((int)rows, (int)Kd, Cin, in + (size_t)n0 * ipix * Cin, Cin, 1, Wt, Kd, ws->p, Kd, 0);
#pragma omp parallel for schedule(static)
        for (int ni = 0; ni < nb * Ho; ni++) {
            int n = ni / Ho, oi = ni % Ho;
            for (int oj = 0; oj < Wo; oj++) {
                float *o = out + ((size_t)(n0 + n) * opix + (size_t)oi * Wo + oj) * Cout;
                for (int c = 0; c < Cout; c++) o[c] = b ? b[c] : 0.0f;
                for (int di = 0; di < kh; di++) {
                    int i2 = oi - di;
                    if (i2 < 0 || (i2 & 1) || i2 / 2 >= H) continue;
                    for (int dj = 0; dj < kw; dj++) {
                        int j2 = oj + coff - dj;
                        if (j2 < 0 || (j2 & 1) || j2 / 2 >= Wd) continue;
                        const float *y = Y + (((size_t)n * H + i2 / 2) * Wd + j2 / 2) * Kd +
                                         (size_t)(di * kw + dj) * Cout;
                        for (int c = 0; c < Cout; c++) o[c] += y[c];
                    }
                }
            }
        }
    }
}

void nn_deconv_bwd(float *din, float *dW, float *db, const float *dout, const float *in,
                   const float *W, int N, int H, int Wd, int Cin, int Cout, int kh, int kw,
                   int coff, nn_ws *ws)
{
    const int kk = kh * kw, Ho = 2 * H, Wo = 2 * Wd;
    const size_t Kd = (size_t)Cout * kk, ipix = (size_t)H * Wd, opix = (size_t)Ho * Wo;
    colsum_add(db, dout, (size_t)N * opix, Cout);
    /* WT (Kd, Cin): WT[(di*kw + dj)*Cout + o, c] = W[c, o, di, dj]; dWp (Cin, Kd) tap-major */
    float *WT = scratch(2 * (size_t)Cin * Kd), *dWp = WT + (size_t)Cin * Kd;
    for (int c = 0; c < Cin; c++)
        for (int o = 0; o < Cout; o++)
            for (int q = 0; q < kk; q++) WT[((size_t)q * Cout + o) * Cin + c] = W[((size_t)c * Cout + o) * kk + q];
    int chunk = chunk_images(ws, ipix * Kd, N);
    for (int n0 = 0; n0 < N; n0 += chunk) {
        int nb = N - n0 < chunk ? N - n0 : chunk;
        size_t rows = (size_t)nb * ipix;
        float *dY = ws->p;
        /* dY[(n,i,j), (di*kw + dj)*Cout + c] = dout[n, 2i+di, 2j+dj-coff, c] inside the crop, else 0 */
#pragma omp parallel for schedule(static)
        for (int ni = 0; ni < nb * H; ni++) {
            int n = ni / H, i = ni % H;
            for (int j = 0; j < Wd; j++) {
                float *y = dY + ((size_t)ni * Wd + j) * Kd;
                for (int di = 0; di < kh; di++) {
                    int oi = 2 * i + di;
                    for (int dj = 0; dj < kw; dj++, y += Cout) {
                        int oj = 2 * j + dj - coff;
                        if (oi >= Ho || oj < 0 || oj >= Wo)
                            memset(y, 0, (size_t)Cout * sizeof *y);
                        else
                            memcpy(y, dout + ((size_t)(n0 + n) * opix + (size_t)oi * Wo + oj) * Cout,
                                   (size_t)Cout * sizeof *y);
                    }
                }
            }
        }
        const float *X = in + (size_t)n0 * ipix * Cin;
        gemm(Cin, (int)Kd, (int)rows, X, 1, Cin, dY, Kd, dWp, Kd, n0 > 0);
        if (din) gemm((int)rows, Cin, (int)Kd, dY, Kd, 1, WT, Cin, din + (size_t)n0 * ipix * Cin, Cin, 1);
    }
    for (int c = 0; c < Cin; c++)
        for (int o = 0; o < Cout; o++)
            for (int q = 0; q < kk; q++) dW[((size_t)c * Cout + o) * kk + q] += dWp[(size_t)c * Kd + (size_t)q * Cout + o];
}

void nn_linear_fwd(float *out, const float *in, const float *W, const float *b, size_t rows,
                   int Cin, int Cout, int accumulate)
{
    float *Wt = scratch((size_t)Cin * Cout);   /* (Cin, Cout) = W^T */
    for (int o = 0; o < Cout; o++)
        for (int c = 0; c < Cin; c++) Wt[(size_t)c * Cout + o] = W[(size_t)o * Cin + c];
    fill_bias(out, b, rows, Cout, accumulate);
    gemm((int)rows, Cout, Cin, in, Cin, 1, Wt, Cout, out, Cout, 1);
}

void nn_linear_bwd(float *din, float *dW, float *db, const float *dout, const float *in,
                   const float *W, size_t rows, int Cin, int Cout)
{
    colsum_add(db, dout, rows, Cout);
    gemm(Cout, Cin, (int)rows, dout, 1, Cout, in, Cin, dW, Cin, 1);
    if (din) gemm((int)rows, Cin, Cout, dout, Cout, 1, W, Cin, din, Cin, 1);
}

void nn_weightnorm_fwd(float *W, const float *v, const float *g, size_t rows, size_t rowlen)
{
    for (size_t r = 0; r < rows; r++) {
        const float *vr = v + r * rowlen;
        double ss = 0.0;
        for (size_t k = 0; k < rowlen; k++) ss += (double)vr[k] * vr[k];
        float scale = (float)(g[r] / sqrt(ss));
        for (size_t k = 0; k < rowlen; k++) W[r * rowlen + k] = scale * vr[k];
    }
}

void nn_weightnorm_bwd(float *dv, float *dg, const float *dW, const float *v, const float *g,
                       size_t rows, size_t rowlen)
{
    for (size_t r = 0; r < rows; r++) {
        const float *vr = v + r * rowlen, *dr = dW + r * rowlen;
        double ss = 0.0, dot = 0.0;
        for (size_t k = 0; k < rowlen; k++) {
            ss += (double)vr[k] * vr[k];
            dot += (double)dr[k] * vr[k];
        }
        double n = sqrt(ss);
        dg[r] += (float)(dot / n);
        float a = (float)(g[r] / n), c = (float)(g[r] * dot / (n * ss));
        for (size_t k = 0; k < rowlen; k++) dv[r * rowlen + k] += a * dr[k] - c * vr[k];
    }
}

/* The elementwise layers take exp from exp_array (above): vectorised, <= 0.502
 * ulp, the same bits on every path. elu(z) = z > 0 ? z : exp(z) - 1 (exp(z) - 1
 * rather than expm1: the formula of PyTorch's scalar ELU, absolute error one ulp
 * of 1); elu'(z) = z > 0 ? 1 : exp(z). Rows are done in pieces of EW floats. */
#define EW 256

void nn_concat_elu_fwd(float *out, const float *a, int Ca, const float *b, int Cb, size_t rows)
{
    /* elu(z) and elu(-z) from one exp: e = exp(-|z|) - 1 is elu of whichever of z, -z is
     * negative; z = +-0 gives +0 for both, as elu does. */
    const int C = Ca + Cb;
#pragma omp parallel for schedule(static)
    for (size_t r = 0; r < rows; r++) {
        float t[EW];
        for (int part = 0; part < 2; part++) {
            const int Cp = part ? Cb : Ca, off = part ? Ca : 0;
            const float *x = part ? (b ? b + r * (size_t)Cb : NULL) : a + r * (size_t)Ca;
            float *o = out + r * 2 * (size_t)C + off;
            for (int c0 = 0; c0 < Cp; c0 += EW) {
                int n = Cp - c0 < EW ? Cp - c0 : EW;
                for (int i = 0; i < n; i++) t[i] = -fabsf(x[c0 + i]);
                exp_array(t, t, (size_t)n);
                for (int i = 0; i < n; i++) {
                    float z = x[c0 + i], e = t[i] - 1.0f;
                    o[c0 + i] = z > 0.0f ? z : e;
                    o[C + c0 + i] = z < 0.0f ? -z : e;
                }
            }
        }
    }
}

void nn_concat_elu_bwd(float *da, float *db, const float *dout, const float *a, int Ca,
                       const float *b, int Cb, size_t rows)
{
    /* d/dz [elu(z), elu(-z)] = [elu'(z), -elu'(-z)]; with e = exp(-|z|):
     * elu'(z) = z > 0 ? 1 : e, elu'(-z) = z < 0 ? 1 : e. */
    const int C = Ca + Cb;
#pragma omp parallel for schedule(static)
    for (size_t r = 0; r < rows; r++) {
        float t[EW];
        const float *d = dout + r * 2 * (size_t)C;
        for (int part = 0; part < 2; part++) {
            const int Cp = part ? Cb : Ca, off = part ? Ca : 0;
            float *dx = part ? (db ? db + r * (size_t)Cb : NULL) : (da ? da + r * (size_t)Ca : NULL);
            if (!dx || !Cp) continue;
            const float *x = part ? b + r * (size_t)Cb : a + r * (size_t)Ca;
            for (int c0 = 0; c0 < Cp; c0 += EW) {
                int n = Cp - c0 < EW ? Cp - c0 : EW;
                for (int i = 0; i < n; i++) t[i] = -fabsf(x[c0 + i]);
                exp_array(t, t, (size_t)n);
                for (int i = 0; i < n; i++) {
                    float z = x[c0 + i], e = t[i];
                    dx[c0 + i] += d[off + c0 + i] * (z > 0.0f ? 1.0f : e) -
                                  d[C + off + c0 + i] * (z < 0.0f ? 1.0f : e);
                }
            }
        }
    }
}

void nn_elu_fwd(float *out, const float *x, size_t n)
{
    size_t pieces = (n + EW - 1) / EW;
#pragma omp parallel for schedule(static)
    for (size_t p = 0; p < pieces; p++) {
        float t[EW];
        size_t i0 = p * EW, m = n - i0 < EW ? n - i0 : EW;
        for (size_t i = 0; i < m; i++) t[i] = x[i0 + i];   /* NaN stays NaN */
        exp_array(t, t, m);
        for (size_t i = 0; i < m; i++) out[i0 + i] = x[i0 + i] > 0.0f ? x[i0 + i] : t[i] - 1.0f;
    }
}

void nn_elu_bwd(float *dx, const float *dout, const float *x, size_t n)
{
    size_t pieces = (n + EW - 1) / EW;
#pragma omp parallel for schedule(static)
    for (size_t p = 0; p < pieces; p++) {
        float t[EW];
        size_t i0 = p * EW, m = n - i0 < EW ? n - i0 : EW;
        for (size_t i = 0; i < m; i++) t[i] = x[i0 + i];   /* NaN stays NaN */
        exp_array(t, t, m);
        for (size_t i = 0; i < m; i++) dx[i0 + i] += dout[i0 + i] * (x[i0 + i] > 0.0f ? 1.0f : t[i]);
    }
}

void nn_down_shift(float *out, const float *in, int N, int H, int W, int C, int accumulate)
{
    const size_t row = (size_t)W * C;
    for (int n = 0; n < N; n++) {
        float *o = out + (size_t)n * H * row;
        const float *s = in + (size_t)n * H * row;
        if (!accumulate) {
            memset(o, 0, row * sizeof *o);
            memcpy(o + row, s, (size_t)(H - 1) * row * sizeof *o);
        } else {
            for (size_t k = 0; k < (size_t)(H - 1) * row; k++) o[row + k] += s[k];
        }
    }
}

void nn_down_shift_bwd(float *din, const float *dout, int N, int H, int W, int C)
{
    const size_t row = (size_t)W * C;
    for (int n = 0; n < N; n++) {
        float *d = din + (size_t)n * H * row;
        const float *s = dout + (size_t)n * H * row + row;
        for (size_t k = 0; k < (size_t)(H - 1) * row; k++) d[k] += s[k];
    }
}

void nn_right_shift(float *out, const float *in, int N, int H, int W, int C, int accumulate)
{
    for (size_t r = 0; r < (size_t)N * H; r++) {
        float *o = out + r * W * C;
        const float *s = in + r * W * C;
        if (!accumulate) {
            memset(o, 0, (size_t)C * sizeof *o);
            memcpy(o + C, s, (size_t)(W - 1) * C * sizeof *o);
        } else {
            for (size_t k = 0; k < (size_t)(W - 1) * C; k++) o[C + k] += s[k];
        }
    }
}

void nn_right_shift_bwd(float *din, const float *dout, int N, int H, int W, int C)
{
    for (size_t r = 0; r < (size_t)N * H; r++) {
        float *d = din + r * W * C;
        const float *s = dout + r * W * C + C;
        for (size_t k = 0; k < (size_t)(W - 1) * C; k++) d[k] += s[k];
    }
}

void nn_dropout_mask(float *mask, int N, int C, uint64_t seed, uint64_t step, uint64_t block)
{
    for (int n = 0; n < N; n++)
        for (int c = 0; c < C; c++) {
            uint64_t h = pcnn_rng_hash4(seed, PCNN_RNG_DROPOUT, step, (block << 32) | (uint64_t)n,
                                        (uint64_t)c);
            mask[(size_t)n * C + c] = (h >> 63) ? 0.0f : 2.0f;   /* keep with p = 1/2, scale 1/(1-p) */
        }
}

void nn_dropout_apply(float *x, const float *mask, int N, size_t HW, int C)
{
#pragma omp parallel for schedule(static)
    for (size_t r = 0; r < (size_t)N * HW; r++) {
        const float *m = mask + (r / HW) * C;
        float *xr = x + r * C;
        for (int c = 0; c < C; c++) xr[c] *= m[c];
    }
}

/* sigmoid(z) = 1 / (1 + exp(-z)), exp from exp_array. */
void nn_gate_fwd(float *out, const float *x, const float *c2, size_t rows, int F)
{
#pragma omp parallel for schedule(static)
    for (size_t r = 0; r < rows; r++) {
        float t[EW];
        const float *c = c2 + r * 2 * (size_t)F;
        for (int k0 = 0; k0 < F; k0 += EW) {
            int n = F - k0 < EW ? F - k0 : EW;
            for (int i = 0; i < n; i++) t[i] = -c[F + k0 + i];
            exp_array(t, t, (size_t)n);
            for (int i = 0; i < n; i++) {
                size_t k = r * F + k0 + i;
                out[k] = x[k] + c[k0 + i] * (1.0f / (1.0f + t[i]));
            }
        }
    }
}

void nn_gate_bwd(float *dx, float *dc2, const float *dout, const float *c2, size_t rows, int F)
{
#pragma omp parallel for schedule(static)
    for (size_t r = 0; r < rows; r++) {
        float t[EW];
        const float *c = c2 + r * 2 * (size_t)F;
        float *dc = dc2 + r * 2 * (size_t)F;
        for (int k0 = 0; k0 < F; k0 += EW) {
            int n = F - k0 < EW ? F - k0 : EW;
            for (int i = 0; i < n; i++) t[i] = -c[F + k0 + i];
            exp_array(t, t, (size_t)n);
            for (int i = 0; i < n; i++) {
                int k = k0 + i;
                float d = dout[r * F + k], sg = 1.0f / (1.0f + t[i]);
                dx[r * F + k] += d;
                dc[k] = d * sg;
                dc[F + k] = d * c[k] * sg * (1.0f - sg);
            }
        }
    }
}

void nn_class_fwd(float *c2, const float *hw, const int32_t *labels, int N, size_t HW, int C)
{
#pragma omp parallel for schedule(static)
    for (size_t r = 0; r < (size_t)N * HW; r++) {
        const float *h = hw + (size_t)labels[r / HW] * C;
        float *c = c2 + r * C;
        for (int k = 0; k < C; k++) c[k] += h[k];
    }
}

void nn_class_bwd(float *dhw, const float *dc2, const int32_t *labels, int N, size_t HW, int C)
{
    for (int n = 0; n < N; n++) {
        float *h = dhw + (size_t)labels[n] * C;
        for (size_t p = 0; p < HW; p++) {
            const float *d = dc2 + ((size_t)n * HW + p) * C;
            for (int k = 0; k < C; k++) h[k] += d[k];
        }
    }
}
