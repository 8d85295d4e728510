/* nn_vmath.c — exp and the ELU pieces over float arrays (nn_vmath.h): a scalar
 * reference, and AVX2 / AVX-512 paths doing the same operations in the same
 * order on 8 lanes at once, so every path gives the same bits
 * (tests/unit/test_isa.c checks it).
 *
 * exp: x = (k + r) ln2/32, exp(x) = 2^(k/32) (1 + C2 r + C1 r^2 + C0 r^3) in
 * double, with FMAs in fixed places. Error bound of the algorithm: 0.502 ulp
 * (round to nearest), measured against glibc expf on every float in [-104, 89]. */
#include "nn/nn_vmath.h"

#include "nn/nn_isa.h"

#if defined(__clang__)
#pragma clang fp contract(off)
#elif defined(__GNUC__)
#pragma GCC optimize("fp-contract=off")
#endif

#include <math.h>
#include <stdint.h>
#include <string.h>

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

/* ---------------------------------------------------------------------------
 * Scalar reference */
static void vexp_c(float *y, const float *x, size_t n)
{
    for (size_t i = 0; i < n; i++) y[i] = exp_1(x[i]);
}

static void vcelu_c(float *pos, float *neg, const float *x, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        float z = x[i], e = exp_1(-fabsf(z)) - 1.0f;
        pos[i] = z > 0.0f ? z : e;
        neg[i] = z < 0.0f ? -z : e;
    }
}

static void vcelu_bwd_c(float *dx, const float *dpos, const float *dneg, const float *x, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        float z = x[i], e = exp_1(-fabsf(z));
        dx[i] += dpos[i] * (z > 0.0f ? 1.0f : e) - dneg[i] * (z < 0.0f ? 1.0f : e);
    }
}

static void velu_c(float *y, const float *x, size_t n)
{
    for (size_t i = 0; i < n; i++) y[i] = x[i] > 0.0f ? x[i] : exp_1(x[i]) - 1.0f;
}

static void velu_bwd_c(float *dx, const float *dy, const float *x, size_t n)
{
    for (size_t i = 0; i < n; i++) dx[i] += dy[i] * (x[i] > 0.0f ? 1.0f : exp_1(x[i]));
}

static inline float sigmoid_1(float z) { return 1.0f / (1.0f + exp_1(-z)); }

static void vgate_c(float *out, const float *x, const float *c, const float *g, size_t n)
{
    for (size_t i = 0; i < n; i++) out[i] = x[i] + c[i] * sigmoid_1(g[i]);
}

static void vgate_bwd_c(float *dx, float *dc, float *dg, const float *dout, const float *c,
                        const float *g, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        float d = dout[i], sg = sigmoid_1(g[i]);
        dx[i] += d;
        dc[i] = d * sg;
        dg[i] = d * c[i] * sg * (1.0f - sg);
    }
}

static void vfilm_c(float *c, float *cp, const float *hs, const float *hw, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        cp[i] = c[i];
        c[i] = c[i] * (1.0f + hs[i]) + hw[i];
    }
}

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define HAVE_X86_PATHS 1

/* exp of 8 floats, 4 doubles at a time (AVX2). */
__attribute__((target("avx2,fma"))) static inline __m128 exp4_avx2(__m128 x)
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

__attribute__((target("avx2,fma"))) static inline __m256 exp8_avx2(__m256 x)
{
    return _mm256_set_m128(exp4_avx2(_mm256_extractf128_ps(x, 1)), exp4_avx2(_mm256_castps256_ps128(x)));
}

/* exp of 8 floats as 8 doubles in one zmm (AVX-512): the same operations. */
__attribute__((target("avx512f,avx2,fma"))) static inline __m256 exp8_avx512(__m256 x)
{
    __m256 nan = _mm256_cmp_ps(x, x, _CMP_UNORD_Q);
    __m256 xc = _mm256_min_ps(_mm256_max_ps(x, _mm256_set1_ps(-104.0f)), _mm256_set1_ps(89.0f));
    __m512d z = _mm512_mul_pd(_mm512_set1_pd(EXP_INVLN2N), _mm512_cvtps_pd(xc));
    __m512d kd = _mm512_add_pd(z, _mm512_set1_pd(EXP_SHIFT));
    __m512i ki = _mm512_castpd_si512(kd);
    kd = _mm512_sub_pd(kd, _mm512_set1_pd(EXP_SHIFT));
    __m512d r = _mm512_sub_pd(z, kd);
    /* exp_tab[ki % 32] from registers: two 16-entry permutes (index bits 0-3), the
     * half chosen by bit 4 — the gather's values, several times its speed on Zen 4 */
    __m512i idx = _mm512_and_si512(ki, _mm512_set1_epi64(31));
    const __m512i *tab = (const __m512i *)exp_tab;
    __m512i lo = _mm512_permutex2var_epi64(_mm512_loadu_si512(tab), idx, _mm512_loadu_si512(tab + 1));
    __m512i hi = _mm512_permutex2var_epi64(_mm512_loadu_si512(tab + 2), idx, _mm512_loadu_si512(tab + 3));
    __m512i t = _mm512_mask_blend_epi64(_mm512_test_epi64_mask(idx, _mm512_set1_epi64(16)), lo, hi);
    t = _mm512_add_epi64(t, _mm512_slli_epi64(ki, 47));
    __m512d s = _mm512_castsi512_pd(t);
    __m512d p = _mm512_fmadd_pd(_mm512_set1_pd(EXP_C0), r, _mm512_set1_pd(EXP_C1));
    __m512d r2 = _mm512_mul_pd(r, r);
    __m512d y = _mm512_fmadd_pd(_mm512_set1_pd(EXP_C2), r, _mm512_set1_pd(1.0));
    y = _mm512_mul_pd(_mm512_fmadd_pd(p, r2, y), s);
    return _mm256_blendv_ps(_mm512_cvtpd_ps(y), x, nan);
}

/* The five array functions for one exp8, 8 lanes per step, the tail by the
 * scalar reference. Lane by lane they are the scalar code: -|z| and -z are sign
 * bit operations, the ternaries are blends on the same comparisons. */
#define DEFINE_PATH(NAME, TARGET, EXP8)                                                    \
    __attribute__((target(TARGET))) static void vexp_##NAME(float *y, const float *x, size_t n) \
    {                                                                                      \
        size_t i = 0;                                                                      \
        for (; i + 8 <= n; i += 8) _mm256_storeu_ps(y + i, EXP8(_mm256_loadu_ps(x + i)));  \
        vexp_c(y + i, x + i, n - i);                                                       \
    }                                                                                      \
    __attribute__((target(TARGET))) static void vcelu_##NAME(float *pos, float *neg,       \
                                                             const float *x, size_t n)     \
    {                                                                                      \
        const __m256 sign = _mm256_set1_ps(-0.0f), one = _mm256_set1_ps(1.0f),             \
                     zero = _mm256_setzero_ps();                                           \
        size_t i = 0;                                                                      \
        for (; i + 8 <= n; i += 8) {                                                       \
            __m256 z = _mm256_loadu_ps(x + i);                                             \
            __m256 e = _mm256_sub_ps(EXP8(_mm256_or_ps(z, sign)), one);                    \
            _mm256_storeu_ps(pos + i, _mm256_blendv_ps(e, z, _mm256_cmp_ps(z, zero, _CMP_GT_OQ))); \
            _mm256_storeu_ps(neg + i, _mm256_blendv_ps(e, _mm256_xor_ps(z, sign),          \
                                                       _mm256_cmp_ps(z, zero, _CMP_LT_OQ))); \
        }                                                                                  \
        vcelu_c(pos + i, neg + i, x + i, n - i);                                           \
    }                                                                                      \
    __attribute__((target(TARGET))) static void vcelu_bwd_##NAME(                         \
        float *dx, const float *dpos, const float *dneg, const float *x, size_t n)         \
    {                                                                                      \
        const __m256 sign = _mm256_set1_ps(-0.0f), one = _mm256_set1_ps(1.0f),             \
                     zero = _mm256_setzero_ps();                                           \
        size_t i = 0;                                                                      \
        for (; i + 8 <= n; i += 8) {                                                       \
            __m256 z = _mm256_loadu_ps(x + i), e = EXP8(_mm256_or_ps(z, sign));            \
            __m256 sp = _mm256_blendv_ps(e, one, _mm256_cmp_ps(z, zero, _CMP_GT_OQ));      \
            __m256 sn = _mm256_blendv_ps(e, one, _mm256_cmp_ps(z, zero, _CMP_LT_OQ));      \
            __m256 d = _mm256_sub_ps(_mm256_mul_ps(_mm256_loadu_ps(dpos + i), sp),         \
                                     _mm256_mul_ps(_mm256_loadu_ps(dneg + i), sn));        \
            _mm256_storeu_ps(dx + i, _mm256_add_ps(_mm256_loadu_ps(dx + i), d));           \
        }                                                                                  \
        vcelu_bwd_c(dx + i, dpos + i, dneg + i, x + i, n - i);                             \
    }                                                                                      \
    __attribute__((target(TARGET))) static void velu_##NAME(float *y, const float *x, size_t n) \
    {                                                                                      \
        const __m256 one = _mm256_set1_ps(1.0f), zero = _mm256_setzero_ps();               \
        size_t i = 0;                                                                      \
        for (; i + 8 <= n; i += 8) {                                                       \
            __m256 z = _mm256_loadu_ps(x + i), e = _mm256_sub_ps(EXP8(z), one);            \
            _mm256_storeu_ps(y + i, _mm256_blendv_ps(e, z, _mm256_cmp_ps(z, zero, _CMP_GT_OQ))); \
        }                                                                                  \
        velu_c(y + i, x + i, n - i);                                                       \
    }                                                                                      \
    __attribute__((target(TARGET))) static void velu_bwd_##NAME(float *dx, const float *dy, \
                                                                const float *x, size_t n)  \
    {                                                                                      \
        const __m256 one = _mm256_set1_ps(1.0f), zero = _mm256_setzero_ps();               \
        size_t i = 0;                                                                      \
        for (; i + 8 <= n; i += 8) {                                                       \
            __m256 z = _mm256_loadu_ps(x + i);                                             \
            __m256 s = _mm256_blendv_ps(EXP8(z), one, _mm256_cmp_ps(z, zero, _CMP_GT_OQ)); \
            _mm256_storeu_ps(dx + i, _mm256_add_ps(_mm256_loadu_ps(dx + i),                \
                                                   _mm256_mul_ps(_mm256_loadu_ps(dy + i), s))); \
        }                                                                                  \
        velu_bwd_c(dx + i, dy + i, x + i, n - i);                                          \
    }                                                                                      \
    __attribute__((target(TARGET))) static inline __m256 sigmoid8_##NAME(__m256 z)         \
    {                                                                                      \
        const __m256 one = _mm256_set1_ps(1.0f);                                           \
        return _mm256_div_ps(one, _mm256_add_ps(one, EXP8(_mm256_xor_ps(z, _mm256_set1_ps(-0.0f))))); \
    }                                                                                      \
    __attribute__((target(TARGET))) static void vgate_##NAME(float *out, const float *x,   \
                                                             const float *c, const float *g, \
                                                             size_t n)                     \
    {                                                                                      \
        size_t i = 0;                                                                      \
        for (; i + 8 <= n; i += 8) {                                                       \
            __m256 sg = sigmoid8_##NAME(_mm256_loadu_ps(g + i));                           \
            _mm256_storeu_ps(out + i, _mm256_add_ps(_mm256_loadu_ps(x + i),                \
                                                    _mm256_mul_ps(_mm256_loadu_ps(c + i), sg))); \
        }                                                                                  \
        vgate_c(out + i, x + i, c + i, g + i, n - i);                                      \
    }                                                                                      \
    __attribute__((target(TARGET))) static void vgate_bwd_##NAME(                          \
        float *dx, float *dc, float *dg, const float *dout, const float *c, const float *g,  \
        size_t n)                                                                          \
    {                                                                                      \
        const __m256 one = _mm256_set1_ps(1.0f);                                           \
        size_t i = 0;                                                                      \
        for (; i + 8 <= n; i += 8) {                                                       \
            __m256 d = _mm256_loadu_ps(dout + i);                                          \
            __m256 sg = sigmoid8_##NAME(_mm256_loadu_ps(g + i));                           \
            _mm256_storeu_ps(dx + i, _mm256_add_ps(_mm256_loadu_ps(dx + i), d));           \
            _mm256_storeu_ps(dc + i, _mm256_mul_ps(d, sg));                                \
            __m256 t = _mm256_mul_ps(_mm256_mul_ps(d, _mm256_loadu_ps(c + i)), sg);         \
            _mm256_storeu_ps(dg + i, _mm256_mul_ps(t, _mm256_sub_ps(one, sg)));            \
        }                                                                                  \
        vgate_bwd_c(dx + i, dc + i, dg + i, dout + i, c + i, g + i, n - i);                \
    }                                                                                      \
    __attribute__((target(TARGET))) static void vfilm_##NAME(float *c, float *cp,          \
                                                             const float *hs,              \
                                                             const float *hw, size_t n)    \
    {                                                                                      \
        const __m256 one = _mm256_set1_ps(1.0f);                                           \
        size_t i = 0;                                                                      \
        for (; i + 8 <= n; i += 8) {                                                       \
            __m256 v = _mm256_loadu_ps(c + i);                                             \
            _mm256_storeu_ps(cp + i, v);                                                   \
            __m256 m = _mm256_mul_ps(v, _mm256_add_ps(one, _mm256_loadu_ps(hs + i)));      \
            _mm256_storeu_ps(c + i, _mm256_add_ps(m, _mm256_loadu_ps(hw + i)));            \
        }                                                                                  \
        vfilm_c(c + i, cp + i, hs + i, hw + i, n - i);                                     \
    }

DEFINE_PATH(avx2, "avx2,fma", exp8_avx2)
DEFINE_PATH(avx512, "avx512f,avx2,fma", exp8_avx512)
#endif

/* ---------------------------------------------------------------------------
 * Dispatch on the ISA in use */
#ifdef HAVE_X86_PATHS
#define DISPATCH(FN, ...)                                                                  \
    do {                                                                                   \
        int isa_ = nn_isa();                                                               \
        if (isa_ >= NN_ISA_AVX512)                                                         \
            FN##_avx512(__VA_ARGS__);                                                      \
        else if (isa_ >= NN_ISA_AVX2)                                                      \
            FN##_avx2(__VA_ARGS__);                                                        \
        else                                                                               \
            FN##_c(__VA_ARGS__);                                                           \
    } while (0)
#else
#define DISPATCH(FN, ...) FN##_c(__VA_ARGS__)
#endif

void nn_vexp(float *y, const float *x, size_t n) { DISPATCH(vexp, y, x, n); }
void nn_vcelu(float *pos, float *neg, const float *x, size_t n) { DISPATCH(vcelu, pos, neg, x, n); }
void nn_vcelu_bwd(float *dx, const float *dpos, const float *dneg, const float *x, size_t n)
{
    DISPATCH(vcelu_bwd, dx, dpos, dneg, x, n);
}
void nn_velu(float *y, const float *x, size_t n) { DISPATCH(velu, y, x, n); }
void nn_velu_bwd(float *dx, const float *dy, const float *x, size_t n) { DISPATCH(velu_bwd, dx, dy, x, n); }
void nn_vfilm(float *c, float *cp, const float *hs, const float *hw, size_t n)
{
    DISPATCH(vfilm, c, cp, hs, hw, n);
}
void nn_vgate(float *out, const float *x, const float *c, const float *g, size_t n)
{
    DISPATCH(vgate, out, x, c, g, n);
}
void nn_vgate_bwd(float *dx, float *dc, float *dg, const float *dout, const float *c,
                  const float *g, size_t n)
{
    DISPATCH(vgate_bwd, dx, dc, dg, dout, c, g, n);
}
