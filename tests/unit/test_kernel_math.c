/*
 * test_kernel_math.c — the CUDA kernels' bodies (cuda/kernel_math.h), compiled
 * for the host, against the CPU ops (the reference) on every machine: each
 * test drives a body with a loop over the thread index t exactly as the
 * kernel's grid-stride loop does (and emulates the shared-memory and warp
 * reductions that stay in the .cu files), on small NHWC tensors with H != W
 * (5 x 7 here, so an h/w or i/j swap cannot pass) and labels {2, 0, 2, 1} (a
 * repeated class), then compares with the CPU op's output. Padded outputs
 * start as NaN sentinels: the interior must match and the border stay
 * untouched; padded inputs carry NaN in the border, which no body may read.
 *
 * Tolerances (|a - b| <= atol + rtol |b| per element; 0, 0: bit-exact):
 *   - bit-exact where the arithmetic is the same operations in the same order
 *     (no transcendental, or the same libm call on both sides): indexing,
 *     shifts, padding, class terms and film, the dropout mask, Adam + Polyak,
 *     the dmol likelihood and gradient (nn_dmol.c and the body call the same
 *     libm functions here), the class-map gradient.
 *   - EXP_ATOL / EXP_RTOL where the CPU uses its own exp (nn_vmath.c, 0.502
 *     ulp, and elu as exp(z) - 1) and the body libm's expf / expm1f: concat_elu,
 *     elu, the gate's sigmoid. exp(z) - 1 near z = 0 has an absolute error of
 *     one ulp of 1 (6e-8) where expm1f is relatively exact, hence an absolute
 *     term; the measured maximum here is printed with each comparison.
 *   - SUM_RTOL for reductions whose order differs from the CPU's one chain
 *     (8 strided partial sums, then images in order): bias, class-term and
 *     film-scale gradients; relative to the sum of |terms|.
 *   - weight norm: sums in double in another order (32 lanes), results cast
 *     to float: at most 1 ulp (WN_RTOL), nearly always exact.
 *   - the dmol likelihood without a gradient uses an online log-sum-exp over
 *     components (one pass, another rounding): DMOL_RTOL.
 *   - the bf16 mode's bodies (bf16.cu): bit-exact. km_bf16_round gives the 16 bits of
 *     the CPU's nn_bf16_round (nn_gemm_bf16.h) at every 61st of all 2^32 floats and at
 *     each special (zeros, subnormals, the largest finite values, infinities, NaNs,
 *     ties both ways), and an independent frexp/rint rounding for finite values;
 *     every fused writer equals km_bf16_round of its float body's output, and the
 *     fused widenings (the c1 finish and the gate reading cuDNN's bf16 result) equal
 *     widening first.
 * What the host cannot check (the GPU parity test does): CUDA's own expf /
 * expm1f / logf / log1pf / tanhf (1-2 ulp), nvcc's FMA contraction, and
 * everything cuDNN and cuBLAS compute.
 */
#if defined(__clang__)
#pragma clang fp contract(off)
#elif defined(__GNUC__)
#pragma GCC optimize("fp-contract=off")
#endif

#include "../../cuda/kernel_math.h"
#include "check.h"
#include "model/nn_backend.h"
#include "nn/nn_dmol.h"
#include "nn/nn_gemm_bf16.h"
#include "nn/nn_layers.h"
#include "model/params.h"
#include "rng.h"
#include "util.h"

#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

enum { N = 4, H = 5, W = 7, F = 6, K = 3, M = 3 };
static const int32_t LABELS[N] = {2, 0, 2, 1};

/* Tolerances (each comparison prints its measured maximum): EXP_* about 2x the
 * largest seen here (1.2e-7 abs, the masked elu: 2 x one ulp of 1); SUM_RTOL about
 * 10x (1.1e-7); WN_RTOL one float ulp (measured: exact); DMOL_RTOL a few ulps of
 * an online log-sum-exp over M = 3 components (measured: exact). */
static const double EXP_ATOL = 2.5e-7, EXP_RTOL = 5e-7;
static const double SUM_RTOL = 1e-6;
static const double WN_RTOL = 1.2e-7;   /* one float ulp (2^-23) */
static const double DMOL_RTOL = 1e-6;

static uint64_t draw;
static float urand(float lo, float hi)
{
    return lo + (hi - lo) * pcnn_rng_uniform(4242, PCNN_RNG_INIT, 77, draw++);
}

static float *frand(size_t n, float lo, float hi)
{
    float *p = pcnn_xmalloc((n ? n : 1) * sizeof *p);
    for (size_t i = 0; i < n; i++) p[i] = urand(lo, hi);
    return p;
}

static float *fdup(const float *src, size_t n)
{
    float *p = pcnn_xmalloc((n ? n : 1) * sizeof *p);
    memcpy(p, src, n * sizeof *p);
    return p;
}

static const uint32_t SENTINEL = 0x7fc0dea1u;   /* a quiet NaN with a payload */
static float sentinel(void)
{
    float f;
    memcpy(&f, &SENTINEL, 4);
    return f;
}
static int is_sentinel(float f)
{
    uint32_t u;
    memcpy(&u, &f, 4);
    return u == SENTINEL;
}

static float *fsentinel(size_t n)
{
    float *p = pcnn_xmalloc((n ? n : 1) * sizeof *p);
    for (size_t i = 0; i < n; i++) p[i] = sentinel();
    return p;
}

/* Every |a - b| <= atol + rtol |b| (atol = rtol = 0: equal as floats), no NaN. */
static void cmp(const char *what, const float *a, const float *ref, size_t n, double atol,
                double rtol)
{
    size_t exact = 0, bad = 0;
    double maxabs = 0, maxrel = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - ref[i]);
        if (a[i] == ref[i]) exact++;
        if (d > maxabs) maxabs = d;
        if (ref[i] != 0 && d / fabs(ref[i]) > maxrel) maxrel = d / fabs(ref[i]);
        if (isnan(a[i]) || isnan(ref[i]) || !(d <= atol + rtol * fabs(ref[i]))) bad++;
    }
    printf("#   %-30s n=%-5zu exact %5.1f%%  max abs %.3g  max rel %.3g%s\n", what, n,
           100.0 * (double)exact / (double)(n ? n : 1), maxabs, maxrel, bad ? "  FAILED" : "");
    CHECK(bad == 0);
}

/* The padded buffer p (pg, C channels per pixel): interior equals ref (N, h, w, C)
 * within the tolerance, border still the sentinel. The interior is addressed
 * here with nested loops, not with km_prow. */
static void cmp_padded(const char *what, const float *p, km_pad pg, int C, const float *ref,
                       double atol, double rtol)
{
    int hp = pg.h + pg.pt, wp = pg.w + pg.pl + pg.pr;
    size_t rows = (size_t)pg.N * pg.h * pg.w, border_bad = 0;
    float *in = pcnn_xmalloc(rows * C * sizeof *in);
    for (int n = 0; n < pg.N; n++)
        for (int i = 0; i < hp; i++)
            for (int j = 0; j < wp; j++) {
                const float *src = p + (((size_t)n * hp + i) * wp + j) * C;
                int ii = i - pg.pt, jj = j - pg.pl;
                if (ii >= 0 && ii < pg.h && jj >= 0 && jj < pg.w)
                    memcpy(in + (((size_t)n * pg.h + ii) * pg.w + jj) * C, src, C * sizeof *in);
                else
                    for (int c = 0; c < C; c++) border_bad += !is_sentinel(src[c]);
            }
    cmp(what, in, ref, rows * C, atol, rtol);
    if (border_bad) printf("#   %s: %zu border elements written\n", what, border_bad);
    CHECK(border_bad == 0);
    free(in);
}

/* A padded copy of src (N, h, w, C) with NaN sentinels in the border. */
static float *to_padded(const float *src, km_pad pg, int C)
{
    int hp = pg.h + pg.pt, wp = pg.w + pg.pl + pg.pr;
    float *p = fsentinel((size_t)pg.N * hp * wp * C);
    for (int n = 0; n < pg.N; n++)
        for (int i = 0; i < pg.h; i++)
            memcpy(p + (((size_t)n * hp + i + pg.pt) * wp + pg.pl) * C,
                   src + (((size_t)n * pg.h + i) * pg.w) * C, (size_t)pg.w * C * sizeof *p);
    return p;
}

static size_t padded_floats(km_pad pg, int C)
{
    return (size_t)pg.N * (pg.h + pg.pt) * (pg.w + pg.pl + pg.pr) * C;
}

/* The two paddings of the gated blocks: down_shifted (2x3: top 1, left/right 1)
 * and down_right_shifted (2x2: top 1, left 1). */
static km_pad pad_of(int down_right)
{
    km_pad g = {N, H, W, 1, 1, down_right ? 0 : 1};
    return g;
}

/* ------------------------------------------------------------ concat_elu.cu */

static void test_concat_elu(void)
{
    const size_t rows = (size_t)N * H * W, HW = (size_t)H * W;
    for (int dr = 0; dr < 2; dr++)
        for (int Cb = 0; Cb <= F; Cb += F) {
            const int C = F + Cb;
            km_pad pg = pad_of(dr);
            float *a = frand(rows * F, -3, 3), *b = frand(rows * (Cb ? Cb : 1), -3, 3);
            a[0] = 0.0f;
            a[1] = -0.0f;
            a[2] = 1e-4f;
            a[3] = -1e-4f;
            /* forward into the padded buffer */
            float *out = fsentinel(padded_floats(pg, 2 * C)), *ref = frand(rows * 2 * C, 0, 1);
            for (size_t t = 0; t < rows * C; t++) km_concat_elu_fwd(t, out, pg, a, F, b, Cb);
            nn_concat_elu_fwd(ref, a, F, Cb ? b : NULL, Cb, rows);
            char what[64];
            snprintf(what, sizeof what, "concat_elu fwd %s C=%d", dr ? "2x2" : "2x3", C);
            cmp_padded(what, out, pg, 2 * C, ref, EXP_ATOL, EXP_RTOL);
            /* backward, with and without the dropout mask, da and db accumulated */
            for (int masked = 0; masked < 2; masked++) {
                float *d = frand(rows * 2 * C, -1, 1), *dpad = to_padded(d, pg, 2 * C);
                float *mask = pcnn_xmalloc((size_t)N * 2 * C * sizeof *mask);
                nn_dropout_mask(mask, N, 2 * C, 9, 3, 5, 1, 0, 0);
                float *da = frand(rows * F, -1, 1), *db = frand(rows * (Cb ? Cb : 1), -1, 1);
                float *da_ref = fdup(da, rows * F), *db_ref = fdup(db, rows * (Cb ? Cb : 1));
                for (size_t t = 0; t < rows * C; t++)
                    km_concat_elu_bwd(t, da, Cb ? db : NULL, dpad, pg, a, F, b, Cb,
                                      masked ? mask : NULL, HW);
                if (masked) nn_dropout_apply(d, mask, N, HW, 2 * C);
                nn_concat_elu_bwd(da_ref, Cb ? db_ref : NULL, d, a, F, Cb ? b : NULL, Cb, rows);
                snprintf(what, sizeof what, "concat_elu bwd da%s C=%d", masked ? " mask" : "", C);
                cmp(what, da, da_ref, rows * F, EXP_ATOL, EXP_RTOL);
                if (Cb) {
                    snprintf(what, sizeof what, "concat_elu bwd db%s", masked ? " mask" : "");
                    cmp(what, db, db_ref, rows * Cb, EXP_ATOL, EXP_RTOL);
                }
                free(d);
                free(dpad);
                free(mask);
                free(da);
                free(db);
                free(da_ref);
                free(db_ref);
            }
            free(a);
            free(b);
            free(out);
            free(ref);
        }
}

/* c1 += b1 (+ b2); hd = concat_elu(c1) * mask, into the padded input of conv_out.
 * The CPU folds the biases into its conv / GEMM chains; here the reference adds
 * them first as the GPU does (that association is the parity test's to measure). */
static void test_c1_finish(void)
{
    const size_t rows = (size_t)N * H * W, HW = (size_t)H * W;
    for (int variant = 0; variant < 4; variant++) {
        int two = variant & 1, masked = variant >> 1;
        km_pad pg = pad_of(variant == 1);
        float *c1 = frand(rows * F, -3, 3), *b1 = frand(F, -1, 1), *b2 = frand(F, -1, 1);
        float *mask = pcnn_xmalloc((size_t)N * 2 * F * sizeof *mask);
        for (size_t t = 0; t < (size_t)N * 2 * F; t++) km_dropout_mask(t, mask, 2 * F, 77, 5, 3, 1, 0, 0);
        float *v = pcnn_xmalloc(rows * F * sizeof *v);
        for (size_t r = 0; r < rows; r++)
            for (int c = 0; c < F; c++) {
                float s = c1[r * F + c] + b1[c];
                v[r * F + c] = two ? s + b2[c] : s;
            }
        float *hd = fsentinel(padded_floats(pg, 2 * F)), *ref = frand(rows * 2 * F, 0, 1);
        for (size_t t = 0; t < rows * F; t++)
            km_c1_finish_fwd(t, c1, b1, two ? b2 : NULL, hd, pg, F, masked ? mask : NULL, HW);
        nn_concat_elu_fwd(ref, v, F, NULL, 0, rows);
        if (masked) nn_dropout_apply(ref, mask, N, HW, 2 * F);
        char what[64];
        snprintf(what, sizeof what, "c1_finish c1 (b2 %d mask %d)", two, masked);
        cmp(what, c1, v, rows * F, 0, 0);
        snprintf(what, sizeof what, "c1_finish hd (b2 %d mask %d)", two, masked);
        cmp_padded(what, hd, pg, 2 * F, ref, EXP_ATOL, EXP_RTOL);
        free(c1);
        free(b1);
        free(b2);
        free(mask);
        free(v);
        free(hd);
        free(ref);
    }
}

static void test_elu(void)
{
    const size_t n = (size_t)N * H * W * F;
    float *x = frand(n, -4, 4), *y = frand(n, 0, 1), *ref = frand(n, 0, 1);
    for (size_t i = 0; i < n; i++) y[i] = km_elu(x[i]);
    nn_elu_fwd(ref, x, n);
    cmp("elu fwd", y, ref, n, EXP_ATOL, EXP_RTOL);
    float *d = frand(n, -1, 1), *dx = frand(n, -1, 1), *dx_ref = fdup(dx, n);
    for (size_t i = 0; i < n; i++) dx[i] += d[i] * km_elu_grad(x[i]);
    nn_elu_bwd(dx_ref, d, x, n);
    cmp("elu bwd", dx, dx_ref, n, EXP_ATOL, EXP_RTOL);
    free(x);
    free(y);
    free(ref);
    free(d);
    free(dx);
    free(dx_ref);
}

/* ------------------------------------------------------------------ gate.cu */

static void test_dropout_mask(void)
{
    /* the plain batch and the hybrid objective's expanded one (rep 3, nrep 2) */
    const int n = 8, C = 2 * F;
    for (int hyb = 0; hyb < 2; hyb++) {
        float *m = frand((size_t)n * C, 5, 6), *ref = frand((size_t)n * C, 5, 6);
        for (size_t t = 0; t < (size_t)n * C; t++)
            km_dropout_mask(t, m, C, 123, 9, 4, hyb ? 3 : 1, hyb ? 2 : 0, hyb ? 5 : 0);
        nn_dropout_mask(ref, n, C, 123, 9, 4, hyb ? 3 : 1, hyb ? 2 : 0, hyb ? 5 : 0);
        cmp(hyb ? "dropout mask (hybrid rows)" : "dropout mask", m, ref, (size_t)n * C, 0, 0);
        free(m);
        free(ref);
    }
}

/* The backend's column sums (cu_image_colsum, then cu_colsum_finish) with the
 * shared-memory stage emulated: partial (N, C). */
static void emulate_colsum(float *partial, const float *x, size_t HW, int C)
{
    for (int n = 0; n < N; n++)
        for (int c = 0; c < C; c++) {
            float sh[8];
            for (int ry = 0; ry < 8; ry++) sh[ry] = km_colsum_part(x, HW, C, n, c, (size_t)ry);
            partial[(size_t)n * C + c] = km_colsum_combine(sh, 1);
        }
}

/* Column sums of x (rows, C) in double and the sums of |x|, for SUM_RTOL. */
static void colsum_ref(double *sum, double *abs_sum, const float *x, const float *init,
                       size_t rows, int C)
{
    for (int c = 0; c < C; c++) {
        sum[c] = init ? init[c] : 0.0;
        abs_sum[c] = init ? fabs(init[c]) : 0.0;
    }
    for (size_t r = 0; r < rows; r++)
        for (int c = 0; c < C; c++) {
            sum[c] += x[r * C + c];
            abs_sum[c] += fabs(x[r * C + c]);
        }
}

/* a (n floats) against ref within SUM_RTOL of the sums of |terms| (abs_sum). */
static void cmp_sums(const char *what, const float *a, const float *ref, const double *abs_sum,
                     size_t n)
{
    size_t bad = 0, exact = 0;
    double worst = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - ref[i]), lim = SUM_RTOL * (abs_sum[i] > 1 ? abs_sum[i] : 1);
        exact += a[i] == ref[i];
        if (d / (abs_sum[i] > 1 ? abs_sum[i] : 1) > worst) worst = d / (abs_sum[i] > 1 ? abs_sum[i] : 1);
        bad += isnan(a[i]) || !(d <= lim);
    }
    printf("#   %-30s n=%-5zu exact %5.1f%%  max err / sum|terms| %.3g%s\n", what, n,
           100.0 * (double)exact / (double)(n ? n : 1), worst, bad ? "  FAILED" : "");
    CHECK(bad == 0);
}

static void test_gate(void)
{
    const size_t HW = (size_t)H * W, rows = (size_t)N * HW;
    for (int film = 0; film < 2; film++) {
        float *x = frand(rows * F, -2, 2), *c2 = frand(rows * 2 * F, -3, 3), *b = frand(2 * F, -1, 1);
        float *hw = frand((size_t)K * 2 * F, -1, 1), *hs = frand((size_t)K * 2 * F, -0.5f, 0.5f);
        float *out = frand(rows * F, 7, 8), *c2p = frand(rows * 2 * F, 7, 8);
        /* reference: conv_out's bias first (as the GPU), then the CPU's class term and gate */
        float *ref_c2 = pcnn_xmalloc(rows * 2 * F * sizeof *ref_c2);
        for (size_t r = 0; r < rows; r++)
            for (int k = 0; k < 2 * F; k++) ref_c2[r * 2 * F + k] = c2[r * 2 * F + k] + b[k];
        float *ref_c2p = frand(rows * 2 * F, 7, 8), *ref_out = frand(rows * F, 7, 8);
        for (size_t t = 0; t < rows * F; t++)
            km_gate_fwd(t, out, x, c2, film ? c2p : NULL, b, hw, film ? hs : NULL, LABELS, HW, F);
        if (film)
            nn_film_fwd(ref_c2, ref_c2p, hs, hw, LABELS, N, HW, 2 * F);
        else
            nn_class_fwd(ref_c2, hw, LABELS, N, HW, 2 * F);
        nn_gate_fwd(ref_out, x, ref_c2, rows, F);
        cmp(film ? "gate fwd c2 (film)" : "gate fwd c2", c2, ref_c2, rows * 2 * F, 0, 0);
        if (film) cmp("gate fwd c2p (film)", c2p, ref_c2p, rows * 2 * F, 0, 0);
        cmp(film ? "gate fwd out (film)" : "gate fwd out", out, ref_out, rows * F, EXP_ATOL,
            EXP_RTOL);

        /* backward: the gate, then the class term (and film) and bias gradients as
         * backend_cuda.c's cu_gated_bwd orders them */
        float *dout = frand(rows * F, -1, 1), *dx = frand(rows * F, -1, 1), *dx_ref = fdup(dx, rows * F);
        float *dc2 = frand(rows * 2 * F, 7, 8), *dc2_ref = frand(rows * 2 * F, 7, 8);
        for (size_t t = 0; t < rows * F; t++) km_gate_bwd(t, dx, dc2, dout, c2, F);
        nn_gate_bwd(dx_ref, dc2_ref, dout, ref_c2, rows, F);
        cmp("gate bwd dx", dx, dx_ref, rows * F, 0, 0);
        cmp("gate bwd dc2", dc2, dc2_ref, rows * 2 * F, EXP_ATOL, EXP_RTOL);
        /* from here both sides start from the CPU's dc2, so only the reductions differ */
        memcpy(dc2, dc2_ref, rows * 2 * F * sizeof *dc2);
        const int C = 2 * F;
        float *partial = pcnn_xmalloc((size_t)N * C * sizeof *partial);
        float *dhw = frand((size_t)K * C, -1, 1), *dhw_ref = fdup(dhw, (size_t)K * C);
        float *dhs = frand((size_t)K * C, -1, 1), *dhs_ref = fdup(dhs, (size_t)K * C);
        float *db = frand(C, -1, 1), *db_init = fdup(db, C), *db2 = fdup(db, C);
        double abs_hw[K * 2 * F], abs_hs[K * 2 * F], sum_b[2 * F], abs_b[2 * F];
        for (int i = 0; i < K * C; i++) abs_hw[i] = abs_hs[i] = fabs(dhw[i]) + fabs(dhs[i]);
        for (size_t r = 0; r < rows; r++)
            for (int k = 0; k < C; k++) {
                size_t y = (size_t)LABELS[r / HW] * C + k;
                abs_hw[y] += fabs(dc2[r * C + k]);
                abs_hs[y] += fabs(dc2[r * C + k] * c2p[r * C + k]);
            }
        emulate_colsum(partial, dc2, HW, C);
        nn_class_bwd(dhw_ref, dc2_ref, LABELS, N, HW, C);
        if (film) {
            float *prod = frand(rows * C, 7, 8);
            for (int c = 0; c < C; c++) km_colsum_finish(c, NULL, NULL, dhw, LABELS, partial, N, C);
            for (size_t t = 0; t < rows * C; t++) km_film_bwd(t, prod, dc2, c2p, hs, LABELS, HW, C);
            emulate_colsum(partial, prod, HW, C);
            for (int c = 0; c < C; c++) km_colsum_finish(c, NULL, NULL, dhs, LABELS, partial, N, C);
            emulate_colsum(partial, dc2, HW, C);
            for (int c = 0; c < C; c++) km_colsum_finish(c, db, db2, NULL, NULL, partial, N, C);
            nn_film_bwd(dhs_ref, dc2_ref, c2p, hs, LABELS, N, HW, C);
            cmp("film bwd dc2", dc2, dc2_ref, rows * C, 0, 0);
            cmp_sums("film bwd d hs (sums)", dhs, dhs_ref, abs_hs, (size_t)K * C);
            free(prod);
        } else {
            for (int c = 0; c < C; c++) km_colsum_finish(c, db, db2, dhw, LABELS, partial, N, C);
        }
        cmp_sums(film ? "class bwd d hw (sums, film)" : "class bwd d hw (sums)", dhw, dhw_ref,
                 abs_hw, (size_t)K * C);
        /* d b (and the second bias with the same gradient) = db + column sums of dc2 */
        float ref_b[2 * F];
        colsum_ref(sum_b, abs_b, dc2_ref, db_init, rows, C);
        for (int c = 0; c < C; c++) ref_b[c] = (float)sum_b[c];
        cmp_sums("bias bwd d b (sums)", db, ref_b, abs_b, C);
        cmp("bias bwd d b2 == d b", db2, db, C, 0, 0);
        float *prow = frand(rows * C, 0, 1), *prow_ref = fdup(prow, rows * C);
        for (size_t t = 0; t < rows * C; t++) km_bias_rows(t, prow, b, C, 1);
        for (size_t r = 0; r < rows; r++)
            for (int c = 0; c < C; c++) prow_ref[r * C + c] += b[c];
        cmp("bias_rows acc", prow, prow_ref, rows * C, 0, 0);
        for (size_t t = 0; t < rows * C; t++) km_bias_rows(t, prow, b, C, 0);
        for (size_t r = 0; r < rows; r++) memcpy(prow_ref + r * C, b, C * sizeof *b);
        cmp("bias_rows set", prow, prow_ref, rows * C, 0, 0);
        float *arr[] = {x, c2, b, hw, hs, out, c2p, ref_c2, ref_c2p, ref_out, dout, dx, dx_ref,
                        dc2, dc2_ref, partial, dhw, dhw_ref, dhs, dhs_ref, db, db_init, db2,
                        prow, prow_ref};
        for (size_t i = 0; i < sizeof arr / sizeof *arr; i++) free(arr[i]);
    }
}

/* ----------------------------------------------------------------- shift.cu */

static void test_input_pad(void)
{
    /* the whole image, and the cached sampler's window: rows [1, 4), columns [3, 6) */
    const int Hc = H, Wc = W;
    float *cmap = frand((size_t)K * 3 * Hc * Wc, -1, 1);
    for (int win = 0; win < 2; win++)
        for (int with_map = 0; with_map < 2; with_map++) {
            int h = win ? 3 : H, w = win ? 3 : W, r0 = win ? 1 : 0, c0 = win ? 3 : 0;
            size_t rows = (size_t)N * h * w;
            float *x = frand(rows * 3, -1, 1), *ref = frand(rows * 4, 5, 6);
            nn_input_fwd(ref, x, with_map ? cmap : NULL, LABELS, N, h, w, Hc, Wc, r0, c0);
            for (int k = 0; k < 3; k++) {   /* the three input convs' paddings */
                km_pad pg = {N, h, w, k == 1 ? 0 : 1, k == 2 ? 0 : 1, k == 2 ? 0 : 1};
                float *xin = fsentinel(padded_floats(pg, 4));
                for (size_t r = 0; r < rows; r++)
                    km_input_pad(r, xin, pg, x, with_map ? cmap : NULL, LABELS, Hc, Wc, r0, c0);
                char what[64];
                snprintf(what, sizeof what, "input_pad %s%s pad %d", win ? "window" : "image",
                         with_map ? " +map" : "", k);
                cmp_padded(what, xin, pg, 4, ref, 0, 0);
                free(xin);
            }
            free(x);
            free(ref);
        }
    /* d class_map: images in order into their class's plane */
    size_t plane = (size_t)H * W;
    float *dxin = frand((size_t)N * plane * 4, -1, 1), *dc = frand((size_t)K * 3 * plane, -1, 1);
    float *dc_ref = fdup(dc, (size_t)K * 3 * plane);
    for (size_t t = 0; t < 3 * plane; t++) km_class_map_bwd(t, dc, dxin, LABELS, N, plane);
    nn_class_map_bwd(dc_ref, dxin, LABELS, N, H, W);
    cmp("class_map bwd", dc, dc_ref, (size_t)K * 3 * plane, 0, 0);
    free(dxin);
    free(dc);
    free(dc_ref);
    free(cmap);
}

/* The cached sampler's window gather and scatter (copy_block): rows [1, 4), columns
 * [2, 5) of (N, H, W, F) into a (N, 3, 3, F) window, and one window pixel back into
 * row 3, column 6; the body against the CPU backend's copy_block, the elements
 * not copied left as they were (NaN sentinels in the window, random in the node). */
static void test_copy_block(void)
{
    const size_t node = (size_t)N * H * W * F, win = (size_t)N * 3 * 3 * F;
    pcnn_param_table *t = pcnn_params_build(1, F, M, K, 0, H, W);
    pcnn_backend *cpu = pcnn_backend_cpu_new(t, N, H, W);
    float *src = frand(node, -1, 1), *a = fsentinel(win), *b = fsentinel(win);
    const size_t sn = (size_t)H * W * F, sr = (size_t)W * F, dn = 3 * 3 * F, dr = 3 * F;
    const float *s0 = src + ((size_t)1 * W + 2) * F;
    for (size_t e = 0; e < (size_t)N * 3 * 3 * F; e++) km_copy_block(e, a, dn, dr, s0, sn, sr, 3, 3 * F);
    cpu->copy_block(cpu, b, dn, dr, s0, sn, sr, N, 3, 3 * F);
    cmp("copy_block gather", a, b, win, 0, 0);
    size_t wrong = 0;
    for (int n = 0; n < N; n++)
        for (int r = 0; r < 3; r++)
            for (int k = 0; k < 3 * F; k++)
                wrong += memcmp(&a[n * dn + r * dr + k], &src[n * sn + (r + 1) * sr + 2 * F + k], 4) != 0;
    CHECK(wrong == 0);
    float *na = fdup(src, node), *nb = fdup(src, node);
    float *d0a = na + ((size_t)3 * W + 6) * F, *d0b = nb + ((size_t)3 * W + 6) * F;
    const float *w0 = a + (2 * 3 + 1) * F;   /* window (2, 1) */
    for (size_t e = 0; e < (size_t)N * F; e++) km_copy_block(e, d0a, sn, sr, w0, dn, dr, 1, F);
    cpu->copy_block(cpu, d0b, sn, sr, w0, dn, dr, N, 1, F);
    cmp("copy_block scatter", na, nb, node, 0, 0);
    size_t changed = 0;
    for (size_t i = 0; i < node; i++) changed += na[i] != src[i];
    CHECK(changed > 0 && changed <= (size_t)N * F);
    free(src), free(a), free(b), free(na), free(nb);
    cpu->destroy(cpu);
    pcnn_params_free(t);
}

/* The cached sampler's table-driven copies (copy_table, docs/GPU.md): one launch over
 * three table entries (the gathers of a gated block's x, a1, a2 from three nodes at
 * other places) and one over a scatter entry, against the plain copies (km_copy_block
 * per entry, and the CPU backend's copy_block) bit for bit; the CPU backend's
 * copy_table (the sampler's CPU twin) from the same table too. Elements not copied
 * stay as they were (sentinels in the windows' slack, random in the nodes). */
static void test_copy_table(void)
{
    const size_t node = (size_t)N * H * W * F, win = (size_t)N * 3 * 4 * F;
    const size_t sn = (size_t)H * W * F, sr = (size_t)W * F, dn = 3 * 4 * F, dr = 4 * F;
    pcnn_param_table *t = pcnn_params_build(1, F, M, K, 0, H, W);
    pcnn_backend *cpu = pcnn_backend_cpu_new(t, N, H, W);
    CHECK(cpu->copy_table != NULL);
    float *src[3], *a[3], *b[3], *c[3];
    uint64_t tab[2 * 3];
    const int r0[3] = {0, 1, 2}, c0[3] = {4, 0, 2};
    for (int q = 0; q < 3; q++) {
        src[q] = frand(node, -1, 1);
        a[q] = fsentinel(win), b[q] = fsentinel(win), c[q] = fsentinel(win);
    }
    /* gathers: rows [r0, r0 + 3), columns [c0, c0 + 3) into the first 3 of 4 window columns */
    for (int q = 0; q < 3; q++) {
        tab[2 * q] = (uint64_t)(uintptr_t)a[q];
        tab[2 * q + 1] = (uint64_t)(uintptr_t)(src[q] + ((size_t)r0[q] * W + c0[q]) * F);
    }
    const size_t per = (size_t)N * 3 * 3 * F;
    for (size_t e = 0; e < 3 * per; e++) km_copy_table(e, tab, dn, dr, sn, sr, N, 3, 3 * F);
    for (int q = 0; q < 3; q++) {
        const float *s0 = src[q] + ((size_t)r0[q] * W + c0[q]) * F;
        for (size_t e = 0; e < per; e++) km_copy_block(e, b[q], dn, dr, s0, sn, sr, 3, 3 * F);
        cpu->copy_block(cpu, c[q], dn, dr, s0, sn, sr, N, 3, 3 * F);
    }
    size_t diff = 0, slack = 0;
    for (int q = 0; q < 3; q++) {
        diff += memcmp(a[q], b[q], win * sizeof(float)) != 0;
        diff += memcmp(a[q], c[q], win * sizeof(float)) != 0;
        for (size_t i = 0; i < win; i++) slack += is_sentinel(a[q][i]);
    }
    /* the CPU twin: the same table through the backend */
    for (int q = 0; q < 3; q++) {
        for (size_t i = 0; i < win; i++) c[q][i] = sentinel();
        tab[2 * q] = (uint64_t)(uintptr_t)c[q];
    }
    cpu->copy_table(cpu, tab, 0, 3, dn, dr, sn, sr, N, 3, 3 * F);
    for (int q = 0; q < 3; q++) diff += memcmp(a[q], c[q], win * sizeof(float)) != 0;
    printf("#   %-30s 3 entries: %zu of 9 windows differ from the plain copies; %zu slack "
           "elements untouched (want %zu)\n", "copy_table gathers", diff, slack,
           (size_t)3 * N * 3 * F);
    CHECK(diff == 0);
    CHECK(slack == (size_t)3 * N * 3 * F);
    /* a scatter (entry 1 of a table: the first is another op's): window (2, 1) into the
     * node's (3, 6) */
    float *na = fdup(src[0], node), *nb = fdup(src[0], node), *nc = fdup(src[0], node);
    uint64_t stab[4] = {0, 0, (uint64_t)(uintptr_t)(na + ((size_t)3 * W + 6) * F),
                        (uint64_t)(uintptr_t)(a[1] + (2 * 4 + 1) * F)};
    for (size_t e = 0; e < (size_t)N * F; e++) km_copy_table(e, stab + 2, sn, sr, dn, dr, N, 1, F);
    for (size_t e = 0; e < (size_t)N * F; e++)
        km_copy_block(e, nb + ((size_t)3 * W + 6) * F, sn, sr, a[1] + (2 * 4 + 1) * F, dn, dr, 1, F);
    stab[2] = (uint64_t)(uintptr_t)(nc + ((size_t)3 * W + 6) * F);
    cpu->copy_table(cpu, stab, 1, 1, sn, sr, dn, dr, N, 1, F);
    size_t changed = 0;
    for (size_t i = 0; i < node; i++) changed += memcmp(&na[i], &src[0][i], 4) != 0;
    CHECK(!memcmp(na, nb, node * sizeof(float)));
    CHECK(!memcmp(na, nc, node * sizeof(float)));
    CHECK(changed > 0 && changed <= (size_t)N * F);
    printf("#   %-30s %zu node elements written (at most %d)\n", "copy_table scatter", changed, N * F);
    for (int q = 0; q < 3; q++) free(src[q]), free(a[q]), free(b[q]), free(c[q]);
    free(na), free(nb), free(nc);
    cpu->destroy(cpu);
    pcnn_params_free(t);
}

static void test_pad_shift(void)
{
    const size_t rows = (size_t)N * H * W;
    /* pad_copy writes the interior, unpad_add reads it back */
    km_pad pg = {N, H, W, 1, 2, 0};
    float *src = frand(rows * F, -1, 1), *dst = fsentinel(padded_floats(pg, F));
    for (size_t t = 0; t < rows * F; t++) km_pad_copy(t, dst, pg, src, F);
    cmp_padded("pad_copy", dst, pg, F, src, 0, 0);
    float *din = frand(rows * F, -1, 1), *din_ref = fdup(din, rows * F);
    for (size_t t = 0; t < rows * F; t++) km_unpad_add(t, din, dst, pg, F);
    for (size_t i = 0; i < rows * F; i++) din_ref[i] += src[i];
    cmp("unpad_add", din, din_ref, rows * F, 0, 0);
    /* shifts with bias: the CPU shifts conv + b; here t + b is formed as on the GPU */
    float *t = frand(rows * F, -1, 1), *b = frand(F, -1, 1), *tb = pcnn_xmalloc(rows * F * sizeof *tb);
    for (size_t r = 0; r < rows; r++)
        for (int c = 0; c < F; c++) tb[r * F + c] = t[r * F + c] + b[c];
    float *out = frand(rows * F, 5, 6), *ref = frand(rows * F, 5, 6);
    for (size_t e = 0; e < rows * F; e++) km_shift_bias(e, out, t, b, H, W, F, 1, 0, 0);
    nn_down_shift(ref, tb, N, H, W, F, 0);
    cmp("down_shift + bias", out, ref, rows * F, 0, 0);
    for (size_t e = 0; e < rows * F; e++) km_shift_bias(e, out, t, b, H, W, F, 0, 1, 1);
    nn_right_shift(ref, tb, N, H, W, F, 1);
    cmp("right_shift + bias (acc)", out, ref, rows * F, 0, 0);
    /* their backward into a zeroed gradient (the CPU accumulates into zeros) */
    float *d = frand(rows * F, -1, 1);
    for (int right = 0; right < 2; right++) {
        memset(ref, 0, rows * F * sizeof *ref);
        for (size_t e = 0; e < rows * F; e++) km_unshift(e, out, d, H, W, F, !right, right);
        if (right)
            nn_right_shift_bwd(ref, d, N, H, W, F);
        else
            nn_down_shift_bwd(ref, d, N, H, W, F);
        cmp(right ? "right_shift bwd" : "down_shift bwd", out, ref, rows * F, 0, 0);
    }
    /* filters: PyTorch (K, C, kh, kw) to NHWC (K, kh, kw, C) and back */
    const int Ko = 5, Ci = 4, RS = 6;
    size_t nw = (size_t)Ko * Ci * RS;
    float *w = frand(nw, -1, 1), *krsc = frand(nw, 5, 6), *back = calloc(nw, sizeof *back);
    for (size_t i = 0; i < nw; i++) km_w_to_krsc(i, krsc, w, Ci, RS);
    size_t wrong = 0;
    for (int k = 0; k < Ko; k++)
        for (int c = 0; c < Ci; c++)
            for (int rs = 0; rs < RS; rs++)
                wrong += krsc[((size_t)k * RS + rs) * Ci + c] != w[((size_t)k * Ci + c) * RS + rs];
    CHECK(wrong == 0);
    for (size_t i = 0; i < nw; i++) km_w_from_krsc_add(i, back, krsc, Ci, RS);
    cmp("filter to KRSC and back", back, w, nw, 0, 0);
    float *arr[] = {src, dst, din, din_ref, t, b, tb, out, ref, d, w, krsc, back};
    for (size_t i = 0; i < sizeof arr / sizeof *arr; i++) free(arr[i]);
}

/* ------------------------------------------------------------ weightnorm.cu */

/* The warp's butterfly (__shfl_xor_sync over offsets 16, 8, 4, 2, 1): every lane
 * ends with the same sum, the pairs added in this order. */
static void butterfly(double lane[32])
{
    for (int o = 16; o > 0; o >>= 1) {
        double nv[32];
        for (int l = 0; l < 32; l++) nv[l] = lane[l] + lane[l ^ o];
        memcpy(lane, nv, sizeof nv);
    }
}

static void test_weightnorm(void)
{
    /* every layer of a small table (rows of 24 to 160 floats: fewer and more than a warp) */
    pcnn_param_table *t = pcnn_params_build(1, 8, 3, K, PCNN_COND_ALL, 8, 12);
    pcnn_backend *cpu = pcnn_backend_cpu_new(t, 2, 8, 12);
    float *p = frand(t->total, -0.5f, 0.5f);
    for (int l = 0; l < t->nlayers; l++)
        for (size_t r = 0; r < t->layers[l].rows; r++) p[t->layers[l].g + r] = urand(0.5f, 1.5f);
    float *wp = fdup(p, t->total), *wp_ref = frand(t->total, 0, 1);
    float *gp = frand(t->total, -1, 1), *gr = fdup(gp, t->total), *gr_ref = frand(t->total, 0, 1);
    for (int l = 0; l < t->nlayers; l++) {
        const pcnn_wnlayer *L = &t->layers[l];
        for (size_t r = 0; r < L->rows; r++) {   /* one warp per row, as k_wn_fwd / k_wn_bwd */
            size_t v = L->v + r * L->rowlen, g = L->g + r;
            int len = (int)L->rowlen;
            double ss[32], sb[32], dot[32];
            for (int lane = 0; lane < 32; lane++) {
                ss[lane] = km_wn_lane_ss(p + v, len, lane);
                km_wn_lane_sums(p + v, gp + v, len, lane, &sb[lane], &dot[lane]);
            }
            butterfly(ss);
            butterfly(sb);
            butterfly(dot);
            for (int lane = 0; lane < 32; lane++) {
                km_wn_fwd_lane(wp + v, p + v, len, lane, p[g], ss[lane]);
                km_wn_bwd_lane(gr + v, gr + g, gp + v, p + v, len, lane, p[g], sb[lane], dot[lane]);
            }
        }
    }
    cpu->wn_fwd(cpu, p, wp_ref);
    cpu->wn_bwd(cpu, p, gp, gr_ref);
    cmp("wn fwd (every layer)", wp, wp_ref, t->total, 0, WN_RTOL);
    cmp("wn bwd (every layer)", gr, gr_ref, t->total, 0, WN_RTOL);
    float *arr[] = {p, wp, wp_ref, gp, gr, gr_ref};
    for (size_t i = 0; i < sizeof arr / sizeof *arr; i++) free(arr[i]);
    cpu->destroy(cpu);
    pcnn_params_free(t);
}

/* ------------------------------------------------------------------ dmol.cu */

static void test_dmol(void)
{
    const size_t HW = (size_t)H * W, rows = (size_t)N * HW, C = 10 * M;
    float *l = pcnn_xmalloc(rows * C * sizeof *l), *x = pcnn_xmalloc(rows * 3 * sizeof *x);
    for (size_t r = 0; r < rows; r++) {
        for (size_t k = 0; k < C; k++) l[r * C + k] = urand(-2.0f, 2.0f);
        /* log-scales: below the -7 clamp, tiny (the pdf-at-centre branch), ordinary */
        for (int c = 0; c < 3; c++)
            for (int k = 0; k < M; k++) {
                float *s = &l[r * C + M + 3 * M * c + M + k];
                *s = (r + k) % 7 == 0 ? -8.0f : (r + k) % 5 == 0 ? -6.5f : urand(-4.0f, 0.5f);
            }
        for (int c = 0; c < 3; c++) {   /* on the pixel grid, the edges 0 and 255 present */
            int v = (int)urand(0.0f, 256.0f);
            if ((r + c) % 11 == 0) v = 0;
            if ((r + c) % 13 == 0) v = 255;
            x[3 * r + c] = ((float)v / 255.0f - 0.5f) * 2.0f;
        }
    }
    const float scale = -1.0f / N;
    float *lp = frand(rows, 5, 6), *lp2 = frand(rows, 5, 6), *lp_ref = frand(rows, 5, 6);
    float *dl = frand(rows * C, 5, 6), *dl_ref = frand(rows * C, 5, 6);
    for (size_t r = 0; r < rows; r++) km_dmol_row(r, lp, dl, l, x, M, scale);
    for (size_t r = 0; r < rows; r++) km_dmol_row(r, lp2, NULL, l, x, M, scale);
    for (size_t r = 0; r < rows; r++) {   /* cpu_dmol */
        float *d = dl_ref + r * C;
        lp_ref[r] = pcnn_dmol_logp(l + r * C, x + 3 * r, M, d);
        for (size_t k = 0; k < C; k++) d[k] *= scale;
    }
    cmp("dmol lp (with gradient)", lp, lp_ref, rows, 0, 0);
    cmp("dmol dlogits", dl, dl_ref, rows * C, 0, 0);
    cmp("dmol lp (online, no gradient)", lp2, lp_ref, rows, 0, DMOL_RTOL);
    /* per-image sums in double: 256 strided partials, then k_image_sum's tree */
    for (int n = 0; n < N; n++) {
        double sh[256], ref = 0.0;
        for (int tid = 0; tid < 256; tid++) sh[tid] = km_image_sum_part(lp, HW, (size_t)n, (size_t)tid);
        for (int o = 128; o > 0; o >>= 1)
            for (int tid = 0; tid < o; tid++) sh[tid] += sh[tid + o];
        for (size_t i = 0; i < HW; i++) ref += lp_ref[(size_t)n * HW + i];
        CHECK_NEAR(sh[0], ref, 1e-12 * fabs(ref));
    }
    float *arr[] = {l, x, lp, lp2, lp_ref, dl, dl_ref};
    for (size_t i = 0; i < sizeof arr / sizeof *arr; i++) free(arr[i]);
}

/* ------------------------------------------------------------------ adam.cu */

/* Three Adam steps over a table with class tables at 20x the rate: cu_adam_op
 * per run of one rate (net.c's runs), against the CPU backend's adam. */
static void test_adam(void)
{
    pcnn_param_table *t = pcnn_params_build(1, 8, 3, K, PCNN_COND_ALL, 8, 12);
    pcnn_backend *cpu = pcnn_backend_cpu_new(t, 2, 8, 12);
    size_t n = t->total;
    float *p = frand(n, -1, 1), *m = frand(n, -0.1f, 0.1f), *v = frand(n, 0, 0.01f);
    float *pol = frand(n, -1, 1);
    float *pc = fdup(p, n), *mc = fdup(m, n), *vc = fdup(v, n), *polc = fdup(pol, n);
    const float lr = 2e-4f, mult = 20.0f, b1 = 0.9f, b2 = 0.999f, eps = 1e-8f, decay = 0.9995f;
    int ncls = 0;
    for (uint64_t step = 1; step <= 3; step++) {
        float *g = frand(n, -1, 1);
        for (int i = 0; i < t->n;) {   /* runs of tensors of one rate, as net.c cuts them */
            int cls = pcnn_params_is_class_table(t->p[i].name), j = i + 1;
            while (j < t->n && pcnn_params_is_class_table(t->p[j].name) == cls) j++;
            size_t off = t->p[i].offset, len = t->p[j - 1].offset + t->p[j - 1].size - off;
            float rate = cls ? lr * mult : lr, st, rbc2;
            ncls += cls;
            km_adam_consts(rate, b1, b2, step, &st, &rbc2);
            for (size_t k = 0; k < len; k++)
                km_adam(k, p + off, g + off, m + off, v + off, pol + off, st, rbc2, b1, b2, eps, decay);
            cpu->adam(cpu, pc + off, g + off, mc + off, vc + off, polc + off, len, rate, b1, b2,
                      eps, step, decay);
            i = j;
        }
        free(g);
    }
    CHECK(ncls > 0);
    cmp("adam params (class lr x20)", p, pc, n, 0, 0);
    cmp("adam m", m, mc, n, 0, 0);
    cmp("adam v", v, vc, n, 0, 0);
    cmp("adam polyak", pol, polc, n, 0, 0);
    float *arr[] = {p, m, v, pol, pc, mc, vc, polc};
    for (size_t i = 0; i < sizeof arr / sizeof *arr; i++) free(arr[i]);
    cpu->destroy(cpu);
    pcnn_params_free(t);
}

/* The GPUs' gradient sum (nccl_reduce.cu) adds the ranks' copies of a piece in rank order,
 * as dist.c's host sum does: ((v0 + v1) + v2) + ..., the same bits. */
static void test_sum_ranks(void)
{
    /* where the order shows: (1e8 + 1) - 1e8 is 0 in float, 1 + (1e8 - 1e8) is 1 */
    const float tricky[3] = {1e8f, 1.0f, -1e8f};
    float out = -1.0f;
    km_sum_ranks(0, &out, tricky, 3, 1);
    CHECK(out == 0.0f);
    for (int nr = 1; nr <= 4; nr++) {
        size_t m = 37;
        float *in = frand((size_t)nr * m, -1, 1), *got = frand(m, 0, 1), *want = frand(m, 0, 1);
        for (size_t i = 0; i < m; i++) {
            km_sum_ranks(i, got, in, nr, m);
            float s = in[i];   /* dist.c's loop */
            for (int r = 1; r < nr; r++) s += in[(size_t)r * m + i];
            want[i] = s;
        }
        cmp("sum over ranks", got, want, m, 0, 0);
        free(in);
        free(got);
        free(want);
    }
}

/* ------------------------------------------------------------------ bf16.cu */

/* bf16 of a finite float from the definition (not from bits): 8 significant bits,
 * nearest even (rintf in the default mode), a subnormal to a zero of its sign; a
 * value that rounds past the largest bf16 becomes infinity. */
static uint16_t ref_bf16(float x)
{
    if (fabsf(x) < FLT_MIN) return (uint16_t)(km_f2u(x) >> 16 & 0x8000u);
    int e;
    float m = frexpf(x, &e);                        /* x = m 2^e, 0.5 <= |m| < 1 */
    float r = ldexpf(rintf(m * 256.0f), e - 8);     /* overflows to inf as it should */
    return (uint16_t)(km_f2u(r) >> 16);
}

/* km_bf16_round is the CPU's rounding, bit for bit, and the definition's. */
static void test_bf16_round(void)
{
    size_t n = 0, diff_cpu = 0, diff_def = 0;
    uint32_t first_bad = 0;
    /* a stride through all 2^32 patterns (61 is odd: every residue class of the low
     * bits is hit, so round-half cases and the sticky bits are all sampled) */
    for (uint64_t u = 0; u <= 0xffffffffull; u += 61) {
        float x = km_u2f((uint32_t)u);
        uint16_t k = km_bf16_round(x);
        n++;
        if (k != nn_bf16_round(x) && !diff_cpu++) first_bad = (uint32_t)u;
        if (isfinite(x) && k != ref_bf16(x)) diff_def++;
    }
    /* the specials, and ties: 1 + 2^-8 (tie, even below: 0x3f80), 1 + 3 2^-8 (tie, even
     * above: 0x3f82), just over a tie, the largest float (rounds to inf), FLT_MIN,
     * subnormals, NaNs with payloads, both zeros and infinities */
    const uint32_t sp[] = {0x00000000u, 0x80000000u, 0x00000001u, 0x807fffffu, 0x00800000u,
                           0x80800000u, 0x3f808000u, 0x3f818000u, 0x3f808001u, 0x3f80ffffu,
                           0x7f7fffffu, 0xff7fffffu, 0x7f7f7fffu, 0x7f7f8000u, 0x7f800000u,
                           0xff800000u, 0x7f800001u, 0xffc00000u, 0x7fbfffffu, 0x7fc0dea1u};
    const uint16_t want[] = {0x0000, 0x8000, 0x0000, 0x8000, 0x0080, 0x8080, 0x3f80, 0x3f82,
                             0x3f81, 0x3f81, 0x7f80, 0xff80, 0x7f7f, 0x7f80, 0x7f80, 0xff80,
                             0x7fc0, 0xffc0, 0x7fff, 0x7fc0};
    size_t bad_sp = 0;
    for (size_t i = 0; i < sizeof sp / sizeof *sp; i++) {
        uint16_t k = km_bf16_round(km_u2f(sp[i]));
        if (k != want[i] || k != nn_bf16_round(km_u2f(sp[i]))) {
            printf("#   bf16(0x%08x) = 0x%04x, want 0x%04x (cpu 0x%04x)\n", sp[i], k, want[i],
                   nn_bf16_round(km_u2f(sp[i])));
            bad_sp++;
        }
        /* the widening is exact: bf16 -> float -> bf16 is the identity off NaN */
        if (!isnan(km_bf16_float(k)) && km_bf16_round(km_bf16_float(k)) != k) bad_sp++;
    }
    printf("#   bf16 rounding: %zu floats, %zu differ from nn_bf16_round (first 0x%08x), %zu "
           "from the definition; %zu specials wrong\n", n, diff_cpu, first_bad, diff_def, bad_sp);
    CHECK(n > 70000000);
    CHECK(diff_cpu == 0);
    CHECK(diff_def == 0);
    CHECK(bad_sp == 0);
}

/* Bits of the bf16 array a equal those of ref (n). */
static void cmp16(const char *what, const uint16_t *a, const uint16_t *ref, size_t n)
{
    size_t bad = 0;
    for (size_t i = 0; i < n; i++) bad += a[i] != ref[i];
    printf("#   %-30s n=%-5zu %zu of the bf16 values differ%s\n", what, n, bad, bad ? "  FAILED" : "");
    CHECK(bad == 0);
}

static uint16_t *u16new(size_t n, uint16_t fill)
{
    uint16_t *p = pcnn_xmalloc((n ? n : 1) * sizeof *p);
    for (size_t i = 0; i < n; i++) p[i] = fill;
    return p;
}

/* The conversions and the fused writers: each equals km_bf16_round of the float body. */
static void test_bf16_bodies(void)
{
    const size_t rows = (size_t)N * H * W, HW = (size_t)H * W;
    const uint16_t S16 = 0x7fc1;   /* a NaN sentinel in bf16 */
    /* to / from bf16; beta 0 must not read dst (a NaN there), beta 1 adds */
    size_t n = rows * F;
    float *x = frand(n, -40, 40), *back = fsentinel(n), *acc = frand(n, -1, 1), *acc_ref = fdup(acc, n);
    x[0] = 1e-39f;   /* a subnormal: to zero */
    uint16_t *h = u16new(n, S16), *href = u16new(n, 0);
    for (size_t t = 0; t < n; t++) km_to_bf16(t, h, x);
    for (size_t t = 0; t < n; t++) href[t] = nn_bf16_round(x[t]);
    cmp16("to_bf16", h, href, n);
    float *wide = pcnn_xmalloc(n * sizeof *wide);
    for (size_t t = 0; t < n; t++) wide[t] = km_u2f((uint32_t)href[t] << 16);
    for (size_t t = 0; t < n; t++) km_from_bf16(t, back, h, 0.0f);
    cmp("from_bf16 beta 0", back, wide, n, 0, 0);
    for (size_t t = 0; t < n; t++) km_from_bf16(t, acc, h, 1.0f);
    for (size_t t = 0; t < n; t++) acc_ref[t] += wide[t];
    cmp("from_bf16 beta 1", acc, acc_ref, n, 0, 0);
    /* filters: KRSC in bf16 and back, added */
    const int Ko = 5, Ci = 6, RS = 6;
    size_t nw = (size_t)Ko * Ci * RS;
    float *w = frand(nw, -2, 2), *krsc = fsentinel(nw), *g = frand(nw, -1, 1), *g_ref = fdup(g, nw);
    uint16_t *k16 = u16new(nw, S16), *k16ref = u16new(nw, 0);
    for (size_t t = 0; t < nw; t++) km_w_to_krsc(t, krsc, w, Ci, RS);
    for (size_t t = 0; t < nw; t++) km_w_to_krsc_bf16(t, k16, w, Ci, RS);
    for (size_t t = 0; t < nw; t++) k16ref[t] = nn_bf16_round(krsc[t]);
    cmp16("filter to KRSC bf16", k16, k16ref, nw);
    float *kwide = pcnn_xmalloc(nw * sizeof *kwide);
    for (size_t t = 0; t < nw; t++) kwide[t] = km_u2f((uint32_t)k16[t] << 16);
    for (size_t t = 0; t < nw; t++) km_w_from_krsc_add_bf16(t, g, k16, Ci, RS);
    for (size_t t = 0; t < nw; t++) km_w_from_krsc_add(t, g_ref, kwide, Ci, RS);
    cmp("filter grad from KRSC bf16", g, g_ref, nw, 0, 0);
    /* concat_elu into padded bf16 buffers (border untouched), with a second input */
    for (int dr = 0; dr < 2; dr++)
        for (int Cb = 0; Cb <= F; Cb += F) {
            const int C = F + Cb;
            km_pad pg = pad_of(dr);
            size_t np = padded_floats(pg, 2 * C);
            float *a = frand(rows * F, -3, 3), *b = frand(rows * (Cb ? Cb : 1), -3, 3);
            float *o32 = fsentinel(np);
            uint16_t *o16 = u16new(np, S16), *o16ref = u16new(np, S16);
            for (size_t t = 0; t < rows * C; t++) km_concat_elu_fwd(t, o32, pg, a, F, b, Cb);
            for (size_t t = 0; t < rows * C; t++) km_concat_elu_fwd_bf16(t, o16, pg, a, F, b, Cb);
            for (size_t i = 0; i < np; i++)
                if (!is_sentinel(o32[i])) o16ref[i] = nn_bf16_round(o32[i]);
            char what[64];
            snprintf(what, sizeof what, "concat_elu bf16 %s C=%d", dr ? "2x2" : "2x3", C);
            cmp16(what, o16, o16ref, np);   /* the border: S16 on both */
            free(a);
            free(b);
            free(o32);
            free(o16);
            free(o16ref);
        }
    /* the c1 finish: c1 the float body's bits, hd its rounding; with and without mask,
     * one and two biases */
    for (int v = 0; v < 4; v++) {
        const int masked = v & 1, two = v >> 1;
        km_pad pg = pad_of(v & 1);
        size_t np = padded_floats(pg, 2 * F);
        float *c1 = frand(rows * F, -3, 3), *c1b = fdup(c1, rows * F);
        float *b1 = frand(F, -1, 1), *b2 = frand(F, -1, 1);
        float *mask = pcnn_xmalloc((size_t)N * 2 * F * sizeof *mask);
        nn_dropout_mask(mask, N, 2 * F, 9, 3, 5, 1, 0, 0);
        float *hd = fsentinel(np);
        uint16_t *hd16 = u16new(np, S16), *hd16ref = u16new(np, S16);
        for (size_t t = 0; t < rows * F; t++)
            km_c1_finish_fwd(t, c1, b1, two ? b2 : NULL, hd, pg, F, masked ? mask : NULL, HW);
        for (size_t t = 0; t < rows * F; t++)
            km_c1_finish_fwd_bf16(t, c1b, b1, two ? b2 : NULL, hd16, pg, F, masked ? mask : NULL, HW);
        for (size_t i = 0; i < np; i++)
            if (!is_sentinel(hd[i])) hd16ref[i] = nn_bf16_round(hd[i]);
        char what[64];
        snprintf(what, sizeof what, "c1 finish bf16 c1 m%d b%d", masked, 1 + two);
        cmp(what, c1b, c1, rows * F, 0, 0);
        snprintf(what, sizeof what, "c1 finish bf16 hd m%d b%d", masked, 1 + two);
        cmp16(what, hd16, hd16ref, np);
        float *arr[] = {c1, c1b, b1, b2, mask, hd};
        for (size_t i = 0; i < sizeof arr / sizeof *arr; i++) free(arr[i]);
        free(hd16);
        free(hd16ref);
    }
    /* the fused widenings: the c1 finish reading conv_input's bf16 result (with and without
     * nin_skip's part already in c1), the gate reading conv_out's; against widening first */
    for (int v = 0; v < 4; v++) {
        const int sk = v & 1, film = v >> 1;
        km_pad pg = pad_of(v & 1);
        size_t np = padded_floats(pg, 2 * F);
        float *gemm = frand(rows * F, -2, 2), *b1 = frand(F, -1, 1), *b2 = frand(F, -1, 1);
        float *cf = frand(rows * F, -3, 3);
        uint16_t *conv = u16new(rows * F, 0);
        for (size_t t = 0; t < rows * F; t++) conv[t] = nn_bf16_round(cf[t]);
        float *c1a = fdup(gemm, rows * F), *c1b = pcnn_xmalloc(rows * F * sizeof *c1b);
        uint16_t *hda = u16new(np, S16), *hdb = u16new(np, S16);
        for (size_t t = 0; t < rows * F; t++)
            km_c1_finish_fwd_bf16in(t, c1a, conv, sk, b1, sk ? b2 : NULL, hda, pg, F, NULL, HW);
        for (size_t t = 0; t < rows * F; t++) km_from_bf16(t, c1b, conv, 0.0f);
        if (sk)   /* the GEMM adding into c1 (cuBLAS beta 1): one addition */
            for (size_t t = 0; t < rows * F; t++) c1b[t] = gemm[t] + c1b[t];
        for (size_t t = 0; t < rows * F; t++)
            km_c1_finish_fwd_bf16(t, c1b, b1, sk ? b2 : NULL, hdb, pg, F, NULL, HW);
        char what[64];
        snprintf(what, sizeof what, "c1 finish bf16in c1 skip%d", sk);
        cmp(what, c1a, c1b, rows * F, 0, 0);
        snprintf(what, sizeof what, "c1 finish bf16in hd skip%d", sk);
        cmp16(what, hda, hdb, np);
        /* the gate: (rows, 2F) bf16 in; film on and off */
        float *c2f = frand(rows * 2 * F, -3, 3), *gx = frand(rows * F, -1, 1);
        float *bb = frand(2 * F, -1, 1), *hw = frand((size_t)K * 2 * F, -1, 1);
        float *hs = frand((size_t)K * 2 * F, -0.5f, 0.5f);
        uint16_t *c2in = u16new(rows * 2 * F, 0);
        for (size_t t = 0; t < rows * 2 * F; t++) c2in[t] = nn_bf16_round(c2f[t]);
        float *c2a = fsentinel(rows * 2 * F), *c2b = pcnn_xmalloc(rows * 2 * F * sizeof *c2b);
        float *pa = fsentinel(rows * 2 * F), *pb = fsentinel(rows * 2 * F);
        float *oa = fsentinel(rows * F), *ob = fsentinel(rows * F);
        for (size_t t = 0; t < rows * F; t++)
            km_gate_fwd_bf16in(t, oa, gx, c2a, c2in, pa, bb, hw, film ? hs : NULL, LABELS, HW, F);
        for (size_t t = 0; t < rows * 2 * F; t++) km_from_bf16(t, c2b, c2in, 0.0f);
        for (size_t t = 0; t < rows * F; t++)
            km_gate_fwd(t, ob, gx, c2b, pb, bb, hw, film ? hs : NULL, LABELS, HW, F);
        snprintf(what, sizeof what, "gate bf16in out film%d", film);
        cmp(what, oa, ob, rows * F, 0, 0);
        snprintf(what, sizeof what, "gate bf16in c2 film%d", film);
        cmp(what, c2a, c2b, rows * 2 * F, 0, 0);
        if (film) cmp("gate bf16in c2p", pa, pb, rows * 2 * F, 0, 0);
        float *arr[] = {gemm, b1, b2, cf, c1a, c1b, c2f, gx, bb, hw, hs, c2a, c2b, pa, pb, oa, ob};
        for (size_t i = 0; i < sizeof arr / sizeof *arr; i++) free(arr[i]);
        uint16_t *arr16[] = {conv, hda, hdb, c2in};
        for (size_t i = 0; i < sizeof arr16 / sizeof *arr16; i++) free(arr16[i]);
    }
    /* elu into bf16 (nin_out's operand) */
    uint16_t *e16 = u16new(n, S16), *e16ref = u16new(n, 0);
    for (size_t t = 0; t < n; t++) km_elu_bf16(t, e16, x);
    for (size_t t = 0; t < n; t++) e16ref[t] = nn_bf16_round(km_elu(x[t]));
    cmp16("elu bf16", e16, e16ref, n);
    float *arr[] = {x, back, acc, acc_ref, wide, w, krsc, g, g_ref, kwide};
    for (size_t i = 0; i < sizeof arr / sizeof *arr; i++) free(arr[i]);
    uint16_t *arr16[] = {h, href, k16, k16ref, e16, e16ref};
    for (size_t i = 0; i < sizeof arr16 / sizeof *arr16; i++) free(arr16[i]);
}


int main(void)
{
    setvbuf(stdout, NULL, _IOLBF, 0);   /* lines out as they happen, even before a crash */
    pcnn_init("test_kernel_math");
    RUN(test_concat_elu);
    RUN(test_c1_finish);
    RUN(test_elu);
    RUN(test_dropout_mask);
    RUN(test_gate);
    RUN(test_input_pad);
    RUN(test_pad_shift);
    RUN(test_copy_block);
    RUN(test_copy_table);
    RUN(test_weightnorm);
    RUN(test_dmol);
    RUN(test_adam);
    RUN(test_sum_ranks);
    RUN(test_bf16_round);
    RUN(test_bf16_bodies);
    return check_summary();
}
