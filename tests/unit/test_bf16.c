/*
 * test_bf16.c — the bf16 training mode (nn_set_precision, pcnn_net_set_precision):
 *
 * - the instruction itself: VCVTNEPS2BF16 is the rounding nn_bf16_round writes
 *   down, and VDPBF16PS on this CPU is the chain nn_gemm.h documents (odd k first,
 *   each step one fp32 rounding, subnormal results flushed, a subnormal
 *   accumulator read as zero), compared with a scalar emulation on random
 *   ordinary, arbitrary-bit and subnormal-range operands;
 * - nn_gemm and nn_tap_gemm in bf16 against that emulation, bit for bit: odd K,
 *   K across the 512-k block, tile edges (M not a multiple of 6, N around the 16..64
 *   panels), beta / load, A plain, transposed and with both strides, 1 and 2 threads;
 * - the weight gradients' chunking (nn_layers.c): the same bits for any workspace;
 * - the whole network: a bf16 training step against fp32 (loss within 1e-2,
 *   gradients nearly parallel), the same bytes twice and for 1 and 2 threads, eval
 *   passes still fp32; and the refusal where AVX512_BF16 is missing (forced
 *   with nn_set_isa, as PCNN_ISA=avx512 does).
 * Everything but the refusal is skipped, with the reason, on a CPU without
 * AVX512_BF16.
 */
#include "check.h"
#include "model/model.h"
#include "model/net.h"
#include "model/nn_backend.h"
#include "model/net_hooks.h"
#include "nn/nn_gemm_bf16.h"
#include "nn/nn_layers.h"
#include "nn/nn_isa.h"
#include "rng.h"
#include "util.h"

#include <float.h>
#include <omp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* The emulation rounds where it says it does, nowhere else. */
#if defined(__clang__)
#pragma clang fp contract(off)
#elif defined(__GNUC__)
#pragma GCC optimize("fp-contract=off")
#endif

static uint64_t rctr;
static float urand(void) { return pcnn_rng_uniform(13, 17, rctr++, 0) * 2.0f - 1.0f; }
static float *rvec(size_t n, float scale)
{
    float *p = pcnn_xmalloc((n ? n : 1) * sizeof *p);
    for (size_t i = 0; i < n; i++) p[i] = scale * urand();
    return p;
}
static uint32_t bits(float x)
{
    uint32_t u;
    memcpy(&u, &x, 4);
    return u;
}
static float from_bits(uint32_t u)
{
    float x;
    memcpy(&x, &u, 4);
    return x;
}

/* ---------------------------------------------------------------------------
 * The scalar emulation, written from the definitions (not from nn_gemm_bf16.c). */

/* bf16(x) as a float: 8 significant bits, round to nearest even; a subnormal x
 * becomes a zero of its sign; infinities and NaN stay. */
static float ref_bf16(float x)
{
    if (!isfinite(x)) return x;
    if (fabsf(x) < FLT_MIN) return copysignf(0.0f, x);
    int e;
    float m = frexpf(x, &e);                     /* x = m 2^e, 0.5 <= |m| < 1 */
    return ldexpf(rintf(m * 256.0f), e - 8);     /* rintf: nearest even (default mode) */
}

static float ftz(float x) { return fabsf(x) < FLT_MIN ? copysignf(0.0f, x) : x; }

/* One VDPBF16PS lane as nn_gemm.h writes it: acc + a1 b1, then + a0 b0, each one fp32
 * rounding (fmaf; the bf16 products are exact), results flushed, acc and the bf16
 * inputs read with daz (the GEMMs' operands are never subnormal: bf16() flushes). */
static float ref_dp(float acc, float a0, float a1, float b0, float b1)
{
    acc = ftz(fmaf(ftz(a1), ftz(b1), ftz(acc)));
    return ftz(fmaf(ftz(a0), ftz(b0), acc));
}

/* The chain of one element: acc, then k in pairs over a[k*as] b[k*bs], a zero pair
 * member past an odd K. */
static float ref_chain(float acc, const float *a, size_t as, const float *b, size_t bs, int K)
{
    for (int k = 0; k < K; k += 2) {
        float a1 = k + 1 < K ? ref_bf16(a[(size_t)(k + 1) * as]) : 0.0f;
        float b1 = k + 1 < K ? ref_bf16(b[(size_t)(k + 1) * bs]) : 0.0f;
        acc = ref_dp(acc, ref_bf16(a[(size_t)k * as]), a1, ref_bf16(b[(size_t)k * bs]), b1);
    }
    return acc;
}

/* Bitwise equality; prints the first difference. */
static int same_bits(const char *what, const float *want, const float *got, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (bits(want[i]) != bits(got[i])) {
            printf("#   %s: element %zu of %zu: %a (emulation) vs %a\n", what, i, n, want[i], got[i]);
            return 0;
        }
    return 1;
}

/* ---------------------------------------------------------------------------
 * The instructions themselves */
#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define BF16_TARGET __attribute__((target("avx512bf16,avx512f,avx512bw,avx512vl")))

BF16_TARGET static uint16_t hw_cvt(float x)
{
    __m256bh h = _mm512_cvtneps_pbh(_mm512_set1_ps(x));
    uint16_t o[16];
    memcpy(o, &h, sizeof o);
    return o[7];
}

/* One lane of VDPBF16PS: acc + the pair (a0, a1) . (b0, b1), bf16 given as bits. */
BF16_TARGET static float hw_dp(float acc, uint16_t a0, uint16_t a1, uint16_t b0, uint16_t b1)
{
    __m512i a = _mm512_set1_epi32((int)(a0 | (uint32_t)a1 << 16));
    __m512i b = _mm512_set1_epi32((int)(b0 | (uint32_t)b1 << 16));
    __m512 c = _mm512_dpbf16_ps(_mm512_set1_ps(acc), (__m512bh)a, (__m512bh)b);
    float o[16];
    _mm512_storeu_ps(o, c);
    return o[5];
}
#endif

static float bf_of(uint16_t h) { return from_bits((uint32_t)h << 16); }

static void test_rounding(void)
{
    /* hand-made: ties to even both ways, the carry into the exponent, overflow,
     * subnormals to signed zero, NaN kept */
    const struct { uint32_t x; uint16_t want; } hand[] = {
        {0x3f800000, 0x3f80}, {0x3f808000, 0x3f80}, {0x3f818000, 0x3f82}, {0x3f808001, 0x3f81},
        {0x3f7fffff, 0x3f80}, {0x7f7fffff, 0x7f80}, {0xff7fffff, 0xff80}, {0x007fffff, 0x0000},
        {0x807fffff, 0x8000}, {0x00800000, 0x0080}, {0x7f800000, 0x7f80}, {0x80000000, 0x8000},
    };
    for (size_t i = 0; i < sizeof hand / sizeof *hand; i++) {
        float x = from_bits(hand[i].x);
        uint16_t got = nn_bf16_round(x);
        if (got != hand[i].want) printf("#   bf16(%08x) = %04x, want %04x\n", hand[i].x, got, hand[i].want);
        CHECK(got == hand[i].want);
        CHECK(bits(ref_bf16(x)) == (uint32_t)hand[i].want << 16);
    }
    CHECK((nn_bf16_round(NAN) & 0x7fc0) == 0x7fc0);
#if defined(__x86_64__) && defined(__GNUC__)
    /* the instruction, on a million random bit patterns: NaN quiet, the rest the rule */
    int bad = 0;
    for (uint64_t i = 0; i < 1000000; i++) {
        uint32_t u = (uint32_t)pcnn_rng_hash4(21, 22, i, 0, 0);
        float x = from_bits(u);
        uint16_t h = hw_cvt(x), r = nn_bf16_round(x);
        int ok = h == r && (isnan(x) || bits(ref_bf16(x)) == (uint32_t)h << 16);
        if (!ok && bad++ < 5) printf("#   cvt %08x: instruction %04x, nn_bf16_round %04x\n", u, h, r);
    }
    CHECK(bad == 0);
#endif
}

/* A random bf16 (bits) of one of three kinds: ordinary values over 2^-10..2^10, any
 * bits (infinities and NaN included), or the range near the smallest normals. */
static uint16_t rand_bf16(int kind, uint64_t *ctr)
{
    uint32_t u = (uint32_t)pcnn_rng_hash4(31, 32, (*ctr)++, (uint64_t)kind, 0);
    if (kind == 0) {
        float f = ((float)(u % 2000001u) - 1e6f) / 1e6f * ldexpf(1.0f, (int)((u >> 21) % 20) - 10);
        return nn_bf16_round(f);
    }
    if (kind == 1) return (uint16_t)u;
    return (uint16_t)((u & 0x807f) | (((u >> 16) % 6) << 7));   /* exponent 0..5 */
}

static void test_instruction(void)
{
#if defined(__x86_64__) && defined(__GNUC__)
    /* 3e6 lanes here (3e7 when the emulation was written: no difference). Sums that
     * overflow are left out: there the CPU gives an infinity where Intel's
     * pseudocode gives NaN (nn_gemm.h). */
    uint64_t ctr = 0;
    long n = 0, bad = 0;
    for (long it = 0; it < 3000000; it++) {
        int kind = (int)(it % 3);
        uint16_t a0 = rand_bf16(kind, &ctr), a1 = rand_bf16(kind, &ctr);
        uint16_t b0 = rand_bf16(kind, &ctr), b1 = rand_bf16(kind, &ctr);
        uint32_t ub = (uint32_t)pcnn_rng_hash4(33, 34, (uint64_t)it, 0, 0);
        float acc = kind == 2 ? from_bits(ub & 0x80ffffffu)   /* subnormal and tiny sums */
                  : kind == 1 ? from_bits(ub)
                              : bf_of(rand_bf16(0, &ctr)) * bf_of(rand_bf16(0, &ctr));
        float want = ref_dp(acc, bf_of(a0), bf_of(a1), bf_of(b0), bf_of(b1));
        if (!isfinite(acc) || !isfinite(want)) continue;
        float got = hw_dp(acc, a0, a1, b0, b1);
        n++;
        if (bits(got) != bits(want) && bad++ < 5)
            printf("#   acc %a + (%a, %a).(%a, %a): instruction %a, emulation %a\n", acc,
                   bf_of(a0), bf_of(a1), bf_of(b0), bf_of(b1), got, want);
    }
    printf("#   VDPBF16PS = emulation on %ld of %ld finite lanes\n", n - bad, n);
    CHECK(bad == 0 && n > 2000000);
    /* and the order is the odd product first: 1 + 2^-24 rounds back to 1 (a tie to
     * even), so (1 + 2^-24 * 1) + 2^-23 * 1 = 1 + 2^-23, while the even first gives
     * (1 + 2^-23) + 2^-24 = 1 + 2^-22 (a tie up to even) */
    float got = hw_dp(1.0f, nn_bf16_round(0x1p-23f), nn_bf16_round(0x1p-24f), 0x3f80, 0x3f80);
    CHECK(got == 1.0f + 0x1p-23f);
#endif
}

/* ---------------------------------------------------------------------------
 * nn_gemm in bf16 */
typedef struct gemm_case {
    int M, N, K, layout, beta;   /* layout 0: A (M, K); 1: A stored (K, M); 2: strides 3K+1 and 3 */
    float scale;
} gemm_case;

static int gemm_case_ok(const gemm_case *g)
{
    int M = g->M, N = g->N, K = g->K;
    size_t ldb = (size_t)N + 1, ldc = (size_t)N + 3;
    size_t ars = g->layout == 0 ? (size_t)K : g->layout == 1 ? 1 : 3 * (size_t)K + 1;
    size_t acs = g->layout == 0 ? 1 : g->layout == 1 ? (size_t)M : 3;
    size_t na = (size_t)(M - 1) * ars + (size_t)(K - 1) * acs + 1;
    float *A = rvec(na, g->scale), *B = rvec((size_t)K * ldb, g->scale);
    float *C0 = rvec((size_t)M * ldc, 1.0f), *want = pcnn_xmalloc((size_t)M * ldc * sizeof *want);
    float *got = pcnn_xmalloc((size_t)M * ldc * sizeof *got);
    memcpy(want, C0, (size_t)M * ldc * sizeof *want);
    for (int i = 0; i < M; i++)
        for (int j = 0; j < N; j++)
            want[i * ldc + j] = ref_chain(g->beta ? C0[i * ldc + j] : 0.0f, A + i * ars, acs, B + j, ldb, K);
    memcpy(got, C0, (size_t)M * ldc * sizeof *got);
    nn_gemm(M, N, K, A, ars, acs, B, ldb, got, ldc, g->beta);
    char what[128];
    snprintf(what, sizeof what, "bf16 gemm M=%d N=%d K=%d layout=%d beta=%d scale=%g", M, N, K,
             g->layout, g->beta, g->scale);
    int ok = same_bits(what, want, got, (size_t)M * ldc);
    free(A), free(B), free(C0), free(want), free(got);
    return ok;
}

static void test_gemm_shapes(void)
{
    const int Ms[] = {1, 5, 6, 7, 13}, Ns[] = {1, 15, 16, 17, 33, 40, 48, 63, 65, 80, 160};
    const int Ks[] = {1, 2, 3, 7, 511, 512, 513, 1025};
    nn_set_precision(PCNN_PREC_BF16);
    int n = 0;
    for (size_t a = 0; a < sizeof Ms / sizeof *Ms; a++)
        for (size_t b = 0; b < sizeof Ns / sizeof *Ns; b++)
            for (size_t c = 0; c < sizeof Ks / sizeof *Ks; c++, n++) {
                gemm_case g = {Ms[a], Ns[b], Ks[c], n % 3, (n / 3) % 2, 1.0f};
                CHECK(gemm_case_ok(&g));
            }
    /* products and sums in the subnormal range: the flushes inside the kernels */
    gemm_case tiny = {7, 40, 33, 0, 1, 3e-20f}, tiny_t = {13, 17, 64, 1, 0, 3e-20f};
    CHECK(gemm_case_ok(&tiny));
    CHECK(gemm_case_ok(&tiny_t));
    nn_set_precision(PCNN_PREC_FP32);
}

/* Big enough to be split among threads (along M, then along N): 1 and 2 threads, the
 * same bits. (Not more: a third OpenMP thread that ends before the program takes its
 * thread-local GEMM scratch with it, which a SANITIZE=1 build reports as a leak.) */
static void test_gemm_threads(void)
{
    int prev = omp_get_max_threads();
    nn_set_precision(PCNN_PREC_BF16);
    const gemm_case cases[] = {{300, 200, 521, 0, 1, 1.0f}, {20, 300, 520, 1, 0, 1.0f}};
    for (int t = 1; t <= 2; t++) {
        omp_set_num_threads(t);
        for (int i = 0; i < 2; i++) CHECK(gemm_case_ok(&cases[i]));
    }
    omp_set_num_threads(prev);
    nn_set_precision(PCNN_PREC_FP32);
}

/* ---------------------------------------------------------------------------
 * nn_tap_gemm in bf16: the row of A is built by the tap rule of nn_gemm.h */
static void test_tap_gemm(void)
{
    /* N, sh, sw, kc (channels), N out, kh, kw, pt, pl, sgn, load */
    const int cases[][11] = {
        {2, 5, 7, 5, 3, 2, 3, 1, 1, -1, 0},     /* odd kc: pairs across taps; odd K = 30 */
        {1, 4, 6, 7, 40, 2, 3, 1, 1, -1, 1},    /* K = 42, a partial 48 panel */
        {2, 6, 5, 16, 80, 2, 2, 1, 1, -1, 0},   /* 64 + 16 panels */
        {1, 3, 9, 9, 17, 1, 3, 0, 1, -1, 1},    /* K = 27 */
        {2, 5, 7, 5, 33, 2, 3, 1, 1, 1, 1},     /* the input gradient's direction */
        {1, 8, 8, 20, 160, 2, 2, 1, 1, 1, 0},
    };
    nn_set_precision(PCNN_PREC_BF16);
    for (size_t t = 0; t < sizeof cases / sizeof *cases; t++) {
        const int *c = cases[t];
        int Nimg = c[0], sh = c[1], sw = c[2], kc = c[3], N = c[4], kh = c[5], kw = c[6];
        int pt = c[7], pl = c[8], sgn = c[9], load = c[10];
        int T = kh * kw, K = T * kc, M = Nimg * sh * sw;
        size_t ldb = ((size_t)N + 15) / 16 * 16, ldc = (size_t)N + 2;
        float *src = rvec((size_t)M * kc, 1.0f), *B = pcnn_xcalloc((size_t)K * ldb, sizeof *B);
        float *zero = pcnn_xcalloc((size_t)kc, sizeof *zero), *row = pcnn_xmalloc((size_t)K * sizeof *row);
        for (int k = 0; k < K; k++)
            for (int j = 0; j < N; j++) B[(size_t)k * ldb + j] = urand();
        float *C0 = rvec((size_t)M * ldc, 1.0f), *want = pcnn_xmalloc((size_t)M * ldc * sizeof *want);
        float *got = pcnn_xmalloc((size_t)M * ldc * sizeof *got);
        /* rows = source pixels (same grid); oi, oj as the forward (-pt) or gradient (pt) */
        nn_tapmap m = {src, kc, sh, sw, sh, sw, kh, kw, sgn < 0 ? -pt : pt, sgn < 0 ? -pl : pl, sgn};
        memcpy(want, C0, (size_t)M * ldc * sizeof *want);
        for (int i = 0; i < M; i++) {
            int j = i % sw, ii = i / sw % sh, n = i / (sw * sh);
            for (int q = 0; q < T; q++) {
                int si = ii + m.oi - sgn * (q / kw), sj = j + m.oj - sgn * (q % kw);
                for (int ch = 0; ch < kc; ch++)
                    row[q * kc + ch] = si < 0 || si >= sh || sj < 0 || sj >= sw
                                           ? 0.0f
                                           : src[(((size_t)n * sh + si) * sw + sj) * kc + ch];
            }
            for (int o = 0; o < N; o++)
                want[i * ldc + o] = ref_chain(load ? C0[i * ldc + o] : 0.0f, row, 1, B + o, ldb, K);
        }
        memcpy(got, C0, (size_t)M * ldc * sizeof *got);
        nn_tap_gemm(&m, M, N, kc, B, ldb, got, ldc, load, zero);
        char what[96];
        snprintf(what, sizeof what, "bf16 tap gemm case %zu (kc %d, K %d, N %d)", t, kc, K, N);
        CHECK(same_bits(what, want, got, (size_t)M * ldc));
        free(src), free(B), free(zero), free(row), free(C0), free(want), free(got);
    }
    nn_set_precision(PCNN_PREC_FP32);
}

/* ---------------------------------------------------------------------------
 * Weight gradients over chunks of images: odd rows per image, workspaces of 2, 3
 * (cut to 2) and all images: the same bits, and the emulated one-chain value. */
static void test_wgrad_chunks(void)
{
    /* N, H, W, Cin, Ho, Wo, Cout, kh, kw, s, pt, pl: 3x5 (15 rows an image) */
    const nn_conv_geom g = {5, 3, 5, 6, 3, 5, 7, 2, 3, 1, 1, 1};
    const int kk = g.kh * g.kw;
    const size_t Kc = (size_t)g.Cin * kk, opix = (size_t)g.Ho * g.Wo, rows = g.N * opix;
    const size_t nw = (size_t)g.Cout * Kc;
    float *in = rvec((size_t)g.N * g.H * g.W * g.Cin, 1.0f), *W = rvec(nw, 1.0f);
    float *dout = rvec(rows * g.Cout, 1.0f), *want = pcnn_xcalloc(nw, sizeof *want);
    /* dW[o, c, di, dj] = sum over rows (n, i, j) in order of in(n, i+di-pt, j+dj-pl, c) dout(n,i,j,o) */
    float *col = pcnn_xcalloc(rows * Kc, sizeof *col);
    for (size_t r = 0; r < rows; r++) {
        int n = (int)(r / opix), i = (int)(r % opix / g.Wo), j = (int)(r % g.Wo);
        for (int q = 0; q < kk; q++) {
            int si = i + q / g.kw - g.pt, sj = j + q % g.kw - g.pl;
            if (si < 0 || si >= g.H || sj < 0 || sj >= g.W) continue;
            for (int c = 0; c < g.Cin; c++)
                col[r * Kc + (size_t)q * g.Cin + c] = in[(((size_t)n * g.H + si) * g.W + sj) * g.Cin + c];
        }
    }
    for (int o = 0; o < g.Cout; o++)
        for (int c = 0; c < g.Cin; c++)
            for (int q = 0; q < kk; q++)
                want[((size_t)o * g.Cin + c) * kk + q] =
                    0.0f + ref_chain(0.0f, col + (size_t)q * g.Cin + c, Kc, dout + o, (size_t)g.Cout, (int)rows);
    nn_set_precision(PCNN_PREC_BF16);
    const size_t caps[] = {2 * opix * Kc, 3 * opix * Kc, g.N * opix * Kc};
    for (int t = 0; t < 3; t++) {
        nn_ws ws = {pcnn_xmalloc(caps[t] * sizeof(float)), caps[t]};
        float *dW = pcnn_xcalloc(nw, sizeof *dW);
        nn_conv_bwd(NULL, dW, NULL, dout, in, W, &g, &ws);
        char what[64];
        snprintf(what, sizeof what, "bf16 weight gradient, workspace of %zu images", caps[t] / (opix * Kc));
        CHECK(same_bits(what, want, dW, nw));
        free(ws.p), free(dW);
    }
    /* a transposed conv's weight gradient (rows = 3x5 input pixels): every workspace alike */
    const int N = 5, H = 3, Wd = 5, Cin = 6, Cout = 5, kh = 2, kw = 3;
    const size_t Kd = (size_t)Cout * kh * kw, ipix = (size_t)H * Wd, nwd = (size_t)Cin * Kd;
    float *din = rvec((size_t)N * ipix * Cin, 1.0f), *Wt = rvec(nwd, 1.0f);
    float *dy = rvec((size_t)N * 4 * ipix * Cout, 1.0f), *first = NULL;
    for (int t = 0; t < 3; t++) {
        size_t cap = (size_t)(t + 2) * ipix * Kd * (t == 2 ? 2 : 1);
        nn_ws ws = {pcnn_xmalloc(cap * sizeof(float)), cap};
        float *dW = pcnn_xcalloc(nwd, sizeof *dW);
        nn_deconv_bwd(NULL, dW, NULL, dy, din, Wt, N, H, Wd, Cin, Cout, kh, kw, 1, &ws);
        if (!first) first = dW;
        else {
            CHECK(same_bits("bf16 deconv weight gradient, workspaces", first, dW, nwd));
            free(dW);
        }
        free(ws.p);
    }
    nn_set_precision(PCNN_PREC_FP32);
    free(first), free(din), free(Wt), free(dy);
    free(in), free(W), free(dout), free(want), free(col);
}

/* ---------------------------------------------------------------------------
 * The whole network */
typedef struct step_out {
    float loss;
    float *grads;   /* pcnn_net_num_params */
} step_out;

static step_out net_step(pcnn_net *net, const uint8_t *px, const int32_t *lab, int N)
{
    step_out s;
    s.loss = pcnn_net_grad_step(net, px, lab, N, 1, 77, 3);
    size_t n = pcnn_net_num_params(net);
    s.grads = pcnn_xmalloc(n * sizeof *s.grads);
    memcpy(s.grads, pcnn_net_buffer(net, PCNN_BUF_GRADS), n * sizeof *s.grads);
    return s;
}

static void test_network(void)
{
    const int R = 1, F = 20, M = 3, K = 3, N = 3, H = 8, W = 12;
    pcnn_model_file *m = pcnn_model_create(R, F, M, K, H, W, PCNN_COND_ALL, NULL, 1);
    pcnn_net *net = pcnn_net_create(m, "cpu", N);
    uint8_t *px = pcnn_xmalloc((size_t)N * H * W * 3);
    int32_t lab[3] = {0, 2, 1};
    for (size_t k = 0; k < (size_t)N * H * W * 3; k++) px[k] = (uint8_t)(pcnn_rng_hash4(3, 4, k, 0, 0) & 255);
    const size_t np = pcnn_net_num_params(net);
    double *ll_f = pcnn_xmalloc((size_t)N * K * sizeof *ll_f), *ll_b = pcnn_xmalloc((size_t)N * K * sizeof *ll_b);
    pcnn_net_loglik(net, px, N, 0, ll_f);
    step_out f = net_step(net, px, lab, N);
    CHECK(pcnn_net_set_precision(net, PCNN_PREC_BF16) == 0);
    CHECK(nn_precision() == PCNN_PREC_FP32);   /* on only inside a step */
    step_out b = net_step(net, px, lab, N);
    CHECK(nn_precision() == PCNN_PREC_FP32);
    /* eval passes stay fp32 in a bf16 net: the same scores to the bit */
    pcnn_net_loglik(net, px, N, 0, ll_b);
    CHECK(!memcmp(ll_f, ll_b, (size_t)N * K * sizeof *ll_f));
    /* The loss (about 6 nats per subpixel here) through convs whose operands carry
     * bf16's 2^-9 relative rounding: measured 4e-6 relative to fp32's; 1e-2 is the
     * bound the issue asks for, room for other data and shapes. The gradient as one
     * vector: measured cosine 0.999998 to fp32's; 0.999 still means the same direction. */
    double rel = fabs((double)b.loss - f.loss) / fabs((double)f.loss);
    double dot = 0, nf = 0, nb = 0;
    for (size_t i = 0; i < np; i++) {
        dot += (double)f.grads[i] * b.grads[i];
        nf += (double)f.grads[i] * f.grads[i];
        nb += (double)b.grads[i] * b.grads[i];
    }
    double cosine = dot / sqrt(nf * nb);
    printf("#   bf16 vs fp32: loss %.7g vs %.7g (relative %.2e), gradient cosine %.7f\n", b.loss,
           f.loss, rel, cosine);
    CHECK(rel < 1e-2);
    CHECK(cosine > 0.999);
    CHECK(memcmp(f.grads, b.grads, np * sizeof *f.grads) != 0);   /* bf16 did run */
    /* the same bytes again, and for 1 and 2 threads */
    int prev = omp_get_max_threads();
    for (int t = 1; t <= 2; t++) {
        omp_set_num_threads(t);
        step_out again = net_step(net, px, lab, N);
        CHECK(bits(again.loss) == bits(b.loss));
        CHECK(!memcmp(again.grads, b.grads, np * sizeof *b.grads));
        free(again.grads);
    }
    omp_set_num_threads(prev);
    /* a net with room for a larger batch (another workspace) gives the same bytes */
    pcnn_net *wide = pcnn_net_create(m, "cpu", 64);
    CHECK(pcnn_net_set_precision(wide, PCNN_PREC_BF16) == 0);
    step_out w = net_step(wide, px, lab, N);
    CHECK(!memcmp(w.grads, b.grads, np * sizeof *b.grads));
    /* the hybrid step (every class of an image in one batch) runs in bf16 too */
    float h = pcnn_net_hybrid_step(wide, px, lab, N, 2, 1.0f, 1.0f, 1, 77, 3);
    CHECK(isfinite(h) && bits(h) == bits(b.loss));   /* its likelihood part is the plain step's */
    free(w.grads);
    pcnn_net_free(wide);
    free(f.grads), free(b.grads), free(ll_f), free(ll_b), free(px);
    pcnn_net_free(net);
    pcnn_model_file_free(m);
}

/* ---------------------------------------------------------------------------
 * Refusal where the CPU lacks AVX512_BF16, forced (as PCNN_ISA=avx512 does). */
static void test_refusal(void)
{
    int had = nn_isa();
    nn_set_isa(NN_ISA_AVX512);
    CHECK(nn_set_precision(PCNN_PREC_BF16) == -1);
    CHECK(nn_precision() == PCNN_PREC_FP32);
    pcnn_model_file *m = pcnn_model_create(1, 4, 2, 2, 8, 8, 0, NULL, 1);
    pcnn_net *net = pcnn_net_create(m, "cpu", 2);
    printf("#   expected message: ");
    fflush(stdout);
    CHECK(pcnn_net_set_precision(net, PCNN_PREC_BF16) == -1);
    CHECK(pcnn_net_precision(net) == PCNN_PREC_FP32);
    CHECK(pcnn_net_set_precision(net, PCNN_PREC_FP32) == 0);
    pcnn_net_free(net);
    pcnn_model_file_free(m);
    nn_set_isa(had);
    /* and lowering the ISA while bf16 is on turns it off */
    if (nn_isa() >= NN_ISA_AVX512BF16) {
        CHECK(nn_set_precision(PCNN_PREC_BF16) == 0);
        nn_set_isa(NN_ISA_AVX2);
        CHECK(nn_precision() == PCNN_PREC_FP32);
        nn_set_isa(had);
    }
    int p;
    CHECK(pcnn_precision_parse("bf16", &p) == 0 && p == PCNN_PREC_BF16);
    CHECK(pcnn_precision_parse("fp32", &p) == 0 && p == PCNN_PREC_FP32);
    CHECK(pcnn_precision_parse("fp16", &p) == -1);
}

int main(void)
{
    pcnn_init("test_bf16");
    printf("# CPU path: %s\n", nn_isa_name(nn_isa()));
    RUN(test_refusal);
    if (nn_isa() < NN_ISA_AVX512BF16) {
        const char *why = "this CPU has no AVX512_BF16 (or PCNN_ISA lowers the path): bf16 not checked";
        SKIP(test_rounding, why);
        SKIP(test_instruction, why);
        SKIP(test_gemm_shapes, why);
        SKIP(test_gemm_threads, why);
        SKIP(test_tap_gemm, why);
        SKIP(test_wgrad_chunks, why);
        SKIP(test_network, why);
        return check_summary();
    }
    RUN(test_rounding);
    RUN(test_instruction);
    RUN(test_gemm_shapes);
    RUN(test_gemm_threads);
    RUN(test_tap_gemm);
    RUN(test_wgrad_chunks);
    RUN(test_network);
    return check_summary();
}
