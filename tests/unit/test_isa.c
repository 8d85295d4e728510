/*
 * test_isa.c — every fast path of the CPU primitives (AVX2, AVX-512) gives the
 * same bits as the scalar reference (nn_isa.h: nn_set_isa), so results do not
 * depend on the machine: the GEMM at shapes that hit every tile edge (rows not a
 * multiple of 6, columns around the 16, 32, 48 and 64 panel widths, k around the 256
 * block), the implicit conv GEMM forward and backward at the network's
 * geometries, transposed convs, the elementwise math on ordinary and special
 * values, and the whole network (log-likelihoods, a training step's loss and
 * every gradient). Paths this CPU lacks are skipped with the reason.
 */
#include "check.h"
#include "model/model.h"
#include "model/net.h"
#include "model/nn_backend.h"
#include "model/net_hooks.h"
#include "nn/nn_gemm.h"
#include "nn/nn_layers.h"
#include "nn/nn_vmath.h"
#include "nn/nn_isa.h"
#include "rng.h"
#include "util.h"

#include <omp.h>
#include <stdlib.h>
#include <string.h>

static uint64_t rctr;
static float *rvec(size_t n)
{
    float *p = pcnn_xmalloc((n ? n : 1) * sizeof *p);
    for (size_t i = 0; i < n; i++) p[i] = pcnn_rng_uniform(5, 6, rctr++, 0) * 2.0f - 1.0f;
    return p;
}

/* Bitwise equality of two float arrays; prints the first difference. */
static int same_bits(const char *what, const float *a, const float *b, size_t n)
{
    if (!memcmp(a, b, n * sizeof *a)) return 1;
    for (size_t i = 0; i < n; i++)
        if (memcmp(a + i, b + i, sizeof *a)) {
            printf("#   %s: element %zu of %zu: %.9g (scalar) vs %.9g\n", what, i, n, a[i], b[i]);
            break;
        }
    return 0;
}

/* The fast ISAs this CPU has (above scalar), for the loops below. */
static int fast_isas[2], n_fast;

static void find_isas(void)
{
    for (int isa = NN_ISA_AVX2; isa <= NN_ISA_AVX512; isa++)
        if (nn_set_isa(isa) == isa) fast_isas[n_fast++] = isa;
    nn_set_isa(NN_ISA_AVX512);
}

/* Runs fn(out) under the scalar path, then under each fast path, and compares. */
typedef void (*compute_fn)(float *out, const void *arg);
static void compare_paths(const char *what, compute_fn fn, const void *arg, size_t n)
{
    float *ref = pcnn_xcalloc(n ? n : 1, sizeof *ref), *got = pcnn_xcalloc(n ? n : 1, sizeof *got);
    nn_set_isa(NN_ISA_SCALAR);
    fn(ref, arg);
    for (int i = 0; i < n_fast; i++) {
        nn_set_isa(fast_isas[i]);
        memset(got, 0xff, n * sizeof *got);   /* NaN poison: every element must be written */
        fn(got, arg);
        char name[160];
        snprintf(name, sizeof name, "%s [%s]", what, nn_isa_name(fast_isas[i]));
        CHECK(same_bits(name, ref, got, n));
    }
    nn_set_isa(NN_ISA_AVX512);
    free(ref);
    free(got);
}

/* ---------------------------------------------------------------------------
 * GEMM */
typedef struct gemm_case {
    int M, N, K, trans, beta;
    const float *A, *B, *C0;
} gemm_case;

static void run_gemm(float *out, const void *arg)
{
    const gemm_case *g = arg;
    size_t ldc = (size_t)g->N + 3;   /* a row stride wider than N: columns past N must stay */
    memcpy(out, g->C0, (size_t)g->M * ldc * sizeof *out);
    if (g->trans)   /* A stored (K, M): A(i, k) = A[k*M + i] */
        nn_gemm(g->M, g->N, g->K, g->A, 1, (size_t)g->M, g->B, (size_t)g->N + 1, out, ldc, g->beta);
    else
        nn_gemm(g->M, g->N, g->K, g->A, (size_t)g->K, 1, g->B, (size_t)g->N + 1, out, ldc, g->beta);
}

static void test_gemm_shapes(void)
{
    const int Ms[] = {1, 5, 6, 7, 13, 64}, Ns[] = {1, 15, 16, 17, 31, 32, 33, 40, 48, 49, 63, 64, 65, 80, 97, 160};
    const int Ks[] = {1, 3, 255, 256, 257, 600};
    for (size_t a = 0; a < sizeof Ms / sizeof *Ms; a++)
        for (size_t b = 0; b < sizeof Ns / sizeof *Ns; b++)
            for (size_t c = 0; c < sizeof Ks / sizeof *Ks; c++) {
                int M = Ms[a], N = Ns[b], K = Ks[c];
                gemm_case g = {M, N, K, (int)((a + b + c) % 2), (int)((a + c) % 2), NULL, NULL, NULL};
                float *A = rvec((size_t)M * K), *B = rvec((size_t)K * (N + 1)),
                      *C0 = rvec((size_t)M * (N + 3));
                g.A = A, g.B = B, g.C0 = C0;
                char what[96];
                snprintf(what, sizeof what, "gemm M=%d N=%d K=%d trans=%d beta=%d", M, N, K, g.trans, g.beta);
                compare_paths(what, run_gemm, &g, (size_t)M * (N + 3));
                free(A), free(B), free(C0);
            }
}

/* Big enough for the threaded split (and the wide kernels' thread units). */
static void test_gemm_threaded(void)
{
    int M = 300, N = 200, K = 520;   /* B is sized for the second case's N = 300 too */
    float *A = rvec((size_t)M * K), *B = rvec((size_t)K * 301), *C0 = rvec((size_t)M * (N + 3));
    gemm_case g = {M, N, K, 0, 1, A, B, C0};
    compare_paths("gemm 300x200x520", run_gemm, &g, (size_t)M * (N + 3));
    g.M = 20, g.N = 300, g.trans = 1;   /* more column panels than row tiles: split along N */
    compare_paths("gemm 20x300x520 (A transposed)", run_gemm, &g, (size_t)20 * 303);
    free(A), free(B), free(C0);
}

/* ---------------------------------------------------------------------------
 * Convolutions: forward output, then input / weight / bias gradients, one
 * buffer, for the shifted geometries of the network and a few odd ones. */
typedef struct conv_case {
    nn_conv_geom g;
    const float *in, *W, *b, *dout;
} conv_case;

static size_t conv_out_n(const nn_conv_geom *g)
{
    return (size_t)g->N * g->Ho * g->Wo * g->Cout;
}
static size_t conv_all_n(const nn_conv_geom *g)
{
    return conv_out_n(g) + (size_t)g->N * g->H * g->W * g->Cin +
           (size_t)g->Cout * g->Cin * g->kh * g->kw + (size_t)g->Cout;
}

static void run_conv(float *out, const void *arg)
{
    const conv_case *c = arg;
    const nn_conv_geom *g = &c->g;
    size_t no = conv_out_n(g), ni = (size_t)g->N * g->H * g->W * g->Cin,
           nw = (size_t)g->Cout * g->Cin * g->kh * g->kw;
    size_t cap = 1 << 20;
    nn_ws ws = {pcnn_xmalloc(cap * sizeof(float)), cap};
    float *din = out + no, *dW = din + ni, *db = dW + nw;
    memset(din, 0, (ni + nw + (size_t)g->Cout) * sizeof *din);
    nn_conv_fwd(out, c->in, c->W, c->b, g, 0, &ws);
    nn_conv_bwd(din, dW, db, c->dout, c->in, c->W, g, &ws);
    free(ws.p);
}

static void test_conv_paths(void)
{
    /* N, H, W, Cin, Ho, Wo, Cout, kh, kw, s, pt, pl */
    const nn_conv_geom gs[] = {
        {2, 8, 8, 20, 8, 8, 10, 2, 3, 1, 1, 1},     /* down_shifted, F = 10 */
        {2, 8, 8, 20, 8, 8, 20, 2, 2, 1, 1, 1},     /* down_right_shifted, 2F out */
        {3, 8, 12, 16, 8, 12, 80, 2, 3, 1, 1, 1},   /* 80 out: 64 + 16 panels */
        {1, 12, 8, 33, 12, 8, 40, 2, 3, 1, 1, 1},   /* 40 out: a partial 48 */
        {1, 8, 8, 24, 8, 8, 160, 2, 2, 1, 1, 1},    /* 160 out: 64 + 64 + 32 */
        {2, 9, 7, 5, 9, 7, 3, 1, 1, 1, 0, 0},       /* pointwise */
        {2, 8, 8, 12, 4, 4, 12, 2, 3, 2, 1, 1},     /* stride-2 down-sampling */
        {2, 8, 8, 12, 4, 4, 36, 2, 2, 2, 1, 1},
    };
    for (size_t i = 0; i < sizeof gs / sizeof *gs; i++) {
        const nn_conv_geom *g = &gs[i];
        conv_case c = {*g, rvec((size_t)g->N * g->H * g->W * g->Cin),
                       rvec((size_t)g->Cout * g->Cin * g->kh * g->kw), rvec((size_t)g->Cout),
                       rvec(conv_out_n(g))};
        char what[96];
        snprintf(what, sizeof what, "conv %dx%d s%d %d->%d (%dx%d)", g->kh, g->kw, g->s, g->Cin,
                 g->Cout, g->H, g->W);
        compare_paths(what, run_conv, &c, conv_all_n(g));
        free((void *)c.in), free((void *)c.W), free((void *)c.b), free((void *)c.dout);
    }
}

/* The weight gradient without im2col (nn_tap_wgrad) gives the bits of the im2col
 * GEMM (PCNN_IM2COL_WGRAD forces that path; for 1x1 layers, the transposed GEMM): every path, 1 and 2 threads, rows
 * that cross its 128-row blocks mid image row, signed zeros in the input and the
 * output gradient (the skipped padding terms must change no sign). */
static void test_implicit_wgrad(void)
{
    /* N, H, W, Cin, Ho, Wo, Cout, kh, kw, s, pt, pl */
    const nn_conv_geom gs[] = {
        {3, 8, 12, 32, 8, 12, 40, 2, 3, 1, 1, 1},    /* down_shifted, 2F = 32 in: 32-wide panel */
        {2, 12, 8, 80, 12, 8, 40, 2, 2, 1, 1, 1},    /* down_right_shifted: 64 + 16 panels */
        {1, 7, 9, 160, 7, 9, 13, 2, 3, 1, 1, 1},     /* 64 + 64 + 32; rows of 9, partial row tiles */
        {2, 5, 6, 16, 5, 6, 8, 3, 3, 1, 1, 1},       /* centred 3x3: padding on every side */
        {1, 4, 4, 48, 4, 4, 6, 2, 3, 1, 1, 1},       /* fewer rows than a block */
        {3, 12, 12, 32, 12, 12, 24, 1, 1, 1, 0, 0},  /* pointwise (the nin layers' path) */
    };
    for (size_t i = 0; i < sizeof gs / sizeof *gs; i++) {
        const nn_conv_geom *g = &gs[i];
        size_t ni = (size_t)g->N * g->H * g->W * g->Cin, no = conv_out_n(g),
               nw = (size_t)g->Cout * g->Cin * g->kh * g->kw;
        conv_case c = {*g, rvec(ni), rvec(nw), rvec((size_t)g->Cout), rvec(no)};
        float *in = (float *)c.in, *dout = (float *)c.dout;
        for (size_t k = 0; k < ni; k += 7) in[k] = k % 2 ? -0.0f : 0.0f;
        for (size_t k = 0; k < no; k += 5) dout[k] = k % 3 ? -0.0f : 0.0f;
        for (int isa = NN_ISA_SCALAR; isa <= NN_ISA_AVX512; isa++) {
            if (nn_set_isa(isa) != isa) continue;
            for (int threads = 1; threads <= 2; threads++) {
                omp_set_num_threads(threads);
                size_t n = conv_all_n(g);
                float *ref = pcnn_xmalloc(n * sizeof *ref), *got = pcnn_xmalloc(n * sizeof *got);
                setenv("PCNN_IM2COL_WGRAD", "1", 1);
                run_conv(ref, &c);
                unsetenv("PCNN_IM2COL_WGRAD");
                run_conv(got, &c);
                char what[128];
                snprintf(what, sizeof what, "implicit weight gradient %dx%d %d->%d (%d x %dx%d) [%s, %d threads]",
                         g->kh, g->kw, g->Cin, g->Cout, g->N, g->H, g->W, nn_isa_name(isa), threads);
                CHECK(same_bits(what, ref, got, n));
                free(ref), free(got);
            }
        }
        omp_set_num_threads(2);
        nn_set_isa(NN_ISA_AVX512);
        free(in), free((void *)c.W), free((void *)c.b), free(dout);
    }
}

/* nn_conv_bwd_set / nn_linear_bwd_set (din overwritten) on a NaN-poisoned din give the
 * bits of nn_conv_bwd / nn_linear_bwd on a zeroed one: stride 1 (implicit), stride 2
 * (col2im), pointwise, and a linear layer. */
static void test_bwd_set(void)
{
    /* N, H, W, Cin, Ho, Wo, Cout, kh, kw, s, pt, pl */
    const nn_conv_geom gs[] = {
        {2, 8, 12, 32, 8, 12, 40, 2, 3, 1, 1, 1},
        {2, 8, 8, 12, 4, 4, 12, 2, 3, 2, 1, 1},
        {2, 9, 7, 32, 9, 7, 24, 1, 1, 1, 0, 0},
    };
    size_t cap = 1 << 20;
    nn_ws ws = {pcnn_xmalloc(cap * sizeof(float)), cap};
    for (size_t i = 0; i < sizeof gs / sizeof *gs; i++) {
        const nn_conv_geom *g = &gs[i];
        size_t ni = (size_t)g->N * g->H * g->W * g->Cin, nw = (size_t)g->Cout * g->Cin * g->kh * g->kw;
        float *in = rvec(ni), *W = rvec(nw), *dout = rvec(conv_out_n(g));
        float *a = pcnn_xcalloc(ni + nw + (size_t)g->Cout, sizeof *a);
        float *b = pcnn_xcalloc(ni + nw + (size_t)g->Cout, sizeof *b);
        memset(b, 0xff, ni * sizeof *b);   /* NaN: every element of din must be written */
        nn_conv_bwd(a, a + ni, a + ni + nw, dout, in, W, g, &ws);
        nn_conv_bwd_set(b, b + ni, b + ni + nw, dout, in, W, g, &ws);
        char what[96];
        snprintf(what, sizeof what, "conv_bwd_set %dx%d s%d %d->%d", g->kh, g->kw, g->s, g->Cin, g->Cout);
        CHECK(same_bits(what, a, b, ni + nw + (size_t)g->Cout));
        free(in), free(W), free(dout), free(a), free(b);
    }
    const int rows = 300, Cin = 48, Cout = 20;
    float *in = rvec((size_t)rows * Cin), *W = rvec((size_t)Cout * Cin), *dout = rvec((size_t)rows * Cout);
    size_t n = (size_t)rows * Cin + (size_t)Cout * Cin + Cout;
    float *a = pcnn_xcalloc(n, sizeof *a), *b = pcnn_xcalloc(n, sizeof *b);
    memset(b, 0xff, (size_t)rows * Cin * sizeof *b);
    nn_linear_bwd(a, a + rows * Cin, a + rows * Cin + Cout * Cin, dout, in, W, rows, Cin, Cout);
    nn_linear_bwd_set(b, b + rows * Cin, b + rows * Cin + Cout * Cin, dout, in, W, rows, Cin, Cout);
    CHECK(same_bits("linear_bwd_set 48->20", a, b, n));
    free(in), free(W), free(dout), free(a), free(b), free(ws.p);
}

typedef struct deconv_case {
    int N, H, W, Cin, Cout, kh, kw, coff;
    const float *in, *Wt, *b, *dout;
} deconv_case;

static void run_deconv(float *out, const void *arg)
{
    const deconv_case *d = arg;
    size_t no = (size_t)d->N * 4 * d->H * d->W * d->Cout, ni = (size_t)d->N * d->H * d->W * d->Cin,
           nw = (size_t)d->Cin * d->Cout * d->kh * d->kw;
    size_t cap = 1 << 20;
    nn_ws ws = {pcnn_xmalloc(cap * sizeof(float)), cap};
    float *din = out + no, *dW = din + ni, *db = dW + nw;
    memset(din, 0, (ni + nw + (size_t)d->Cout) * sizeof *din);
    nn_deconv_fwd(out, d->in, d->Wt, d->b, d->N, d->H, d->W, d->Cin, d->Cout, d->kh, d->kw, d->coff, &ws);
    nn_deconv_bwd(din, dW, db, d->dout, d->in, d->Wt, d->N, d->H, d->W, d->Cin, d->Cout, d->kh,
                  d->kw, d->coff, &ws);
    free(ws.p);
}

static void test_deconv_paths(void)
{
    const int shapes[][8] = {{2, 4, 4, 12, 12, 2, 3, 1}, {2, 4, 6, 20, 20, 2, 2, 0}, {1, 3, 5, 40, 40, 2, 3, 1}};
    for (size_t i = 0; i < sizeof shapes / sizeof *shapes; i++) {
        const int *s = shapes[i];
        deconv_case d = {s[0], s[1], s[2], s[3], s[4], s[5], s[6], s[7], NULL, NULL, NULL, NULL};
        size_t no = (size_t)d.N * 4 * d.H * d.W * d.Cout, ni = (size_t)d.N * d.H * d.W * d.Cin,
               nw = (size_t)d.Cin * d.Cout * d.kh * d.kw;
        d.in = rvec(ni), d.Wt = rvec(nw), d.b = rvec((size_t)d.Cout), d.dout = rvec(no);
        char what[96];
        snprintf(what, sizeof what, "deconv %dx%d %d->%d (%dx%d)", d.kh, d.kw, d.Cin, d.Cout, d.H, d.W);
        compare_paths(what, run_deconv, &d, no + ni + nw + (size_t)d.Cout);
        free((void *)d.in), free((void *)d.Wt), free((void *)d.b), free((void *)d.dout);
    }
}

/* ---------------------------------------------------------------------------
 * Elementwise math: random values over the whole exp range, and the special
 * ones (signed zeros, the clamp edges, tiny and huge, infinities). */
#define EW_N 1000
static float ew_x[EW_N], ew_d1[EW_N], ew_d2[EW_N];

static void fill_ew(void)
{
    const float special[] = {0.0f, -0.0f, 1e-30f, -1e-30f, 1e-40f, -1e-40f, -104.0f, -104.5f,
                             89.0f, 89.5f, 88.7f, -87.3f, 1.0f, -1.0f, 0.5f, -0.5f, 3e38f,
                             -3e38f, INFINITY, -INFINITY};
    size_t ns = sizeof special / sizeof *special;
    for (size_t i = 0; i < EW_N; i++) {
        float u = pcnn_rng_uniform(8, 9, rctr++, 0) * 2.0f - 1.0f;
        ew_x[i] = i < ns ? special[i] : (i % 3 ? u * 10.0f : u * 100.0f);
        ew_d1[i] = pcnn_rng_uniform(8, 10, rctr++, 0) - 0.5f;
        ew_d2[i] = pcnn_rng_uniform(8, 11, rctr++, 0) - 0.5f;
    }
}

static void run_ew(float *out, const void *arg)
{
    (void)arg;
    /* every length 0..23 at an odd offset (vector bodies and scalar tails), then all */
    float *o = out;
    for (size_t n = 0; n < 24; n++, o += 6 * 24) {
        nn_vexp(o, ew_x + 3, n);
        nn_vcelu(o + 24, o + 48, ew_x + 5, n);
        memcpy(o + 72, ew_d1, n * sizeof *o);
        nn_vcelu_bwd(o + 72, ew_d1 + 1, ew_d2 + 2, ew_x + 7, n);
        nn_velu(o + 96, ew_x + 9, n);
        memcpy(o + 120, ew_d2, n * sizeof *o);
        nn_velu_bwd(o + 120, ew_d1 + 4, ew_x + 11, n);
        for (size_t i = n; i < 24; i++)
            for (int k = 0; k < 6; k++) o[k * 24 + i] = 0.0f;
    }
    nn_vexp(o, ew_x, EW_N);
    nn_vcelu(o + EW_N, o + 2 * EW_N, ew_x, EW_N);
    memcpy(o + 3 * EW_N, ew_d2, EW_N * sizeof *o);
    nn_vcelu_bwd(o + 3 * EW_N, ew_d1, ew_d2, ew_x, EW_N);
    nn_velu(o + 4 * EW_N, ew_x, EW_N);
    memcpy(o + 5 * EW_N, ew_d1, EW_N * sizeof *o);
    nn_velu_bwd(o + 5 * EW_N, ew_d2, ew_x, EW_N);
    /* the layers on top: concat_elu of two inputs, its backward, the gate */
    float *l = o + 6 * EW_N;
    nn_concat_elu_fwd(l, ew_x, 30, ew_x + 300, 20, 6);   /* 6 rows of 100 */
    memset(l + 600, 0, 300 * sizeof *l);
    nn_concat_elu_bwd(l + 600, l + 780, ew_d1, ew_x, 30, ew_x + 300, 20, 6);
    nn_gate_fwd(l + 900, ew_x + 17, ew_x + 200, 10, 12);   /* 10 rows, F = 12: 120 out */
    float *gb = l + 1020;   /* the gate's backward: dx (120, accumulated), dc2 (240) */
    memcpy(gb, ew_d1, 120 * sizeof *gb);
    nn_gate_bwd(gb, gb + 120, ew_d2, ew_x + 400, 10, 12);
    float *gv = gb + 360;   /* the row functions at a length with a scalar tail (23) */
    nn_vgate(gv, ew_x + 31, ew_x + 600, ew_x + 700, 23);
    memcpy(gv + 23, ew_d2 + 5, 23 * sizeof *gv);
    nn_vgate_bwd(gv + 23, gv + 46, gv + 69, ew_d1 + 9, ew_x + 650, ew_x + 750, 23);
    float *fv = gv + 92;    /* film at length 23: c (changed), cp */
    memcpy(fv, ew_x + 40, 23 * sizeof *fv);
    nn_vfilm(fv, fv + 23, ew_d1 + 20, ew_d2 + 30, 23);
}

static void test_elementwise_paths(void)
{
    fill_ew();
    compare_paths("exp / elu / concat_elu / gate", run_ew, NULL, 6 * 24 * 24 + 6 * EW_N + 1020 + 452 + 46);
    /* and the values themselves are the ones of the definitions */
    float e[4], x[4] = {0.0f, 1.0f, -1.0f, -200.0f}, p[4], n[4];
    nn_vexp(e, x, 4);
    CHECK(e[0] == 1.0f && e[3] == 0.0f);
    CHECK_NEAR(e[1], 2.718281828, 3e-7);
    nn_vcelu(p, n, x, 4);
    CHECK(p[0] == 0.0f && !signbit(p[0]) && n[0] == 0.0f && !signbit(n[0]));
    CHECK(p[1] == 1.0f && n[2] == 1.0f && p[3] == -1.0f && n[3] == 200.0f);
    CHECK_NEAR(n[1], expf(-1.0f) - 1.0f, 1e-7);
}

/* ---------------------------------------------------------------------------
 * The whole network, train step and scores */
typedef struct net_case {
    pcnn_net *net;
    const uint8_t *px;
    const int32_t *lab;
    int N, K;
} net_case;

static void run_net(float *out, const void *arg)
{
    const net_case *c = arg;
    double *ll = pcnn_xmalloc((size_t)c->N * c->K * sizeof *ll);
    pcnn_net_loglik(c->net, c->px, c->N, 0, ll);
    for (int i = 0; i < c->N * c->K; i++) out[i] = (float)ll[i];
    out[c->N * c->K] = pcnn_net_grad_step(c->net, c->px, c->lab, c->N, 1, 77, 3);
    const float *g = pcnn_net_buffer(c->net, PCNN_BUF_GRADS);
    memcpy(out + c->N * c->K + 1, g, pcnn_net_num_params(c->net) * sizeof *out);
    free(ll);
}

static void test_network_paths(void)
{
    /* R, F, M, K, conditioning (SPEC §3b; its hs and class_map set non-zero) */
    const int cfg[][5] = {{1, 8, 2, 3, 0}, {2, 20, 3, 2, 0}, {1, 8, 2, 3, PCNN_COND_ALL}};
    for (int i = 0; i < 3; i++) {
        int R = cfg[i][0], F = cfg[i][1], M = cfg[i][2], K = cfg[i][3], N = 3, H = 8, W = 12;
        pcnn_model_file *m = pcnn_model_create((uint32_t)R, (uint32_t)F, (uint32_t)M, (uint32_t)K,
                                               (uint32_t)H, (uint32_t)W, (unsigned)cfg[i][4], NULL, 1);
        for (uint32_t t = 0; t < m->ntensors; t++) {
            const char *name = m->tensors[t].name;
            size_t len = strlen(name);
            if (!strcmp(name, "class_map") || (len > 3 && !strcmp(name + len - 3, ".hs")))
                for (size_t k = 0; k < m->tensors[t].n; k++)
                    m->tensors[t].data[k] = pcnn_rng_uniform(5, 6, t, k) - 0.5f;
        }
        net_case c = {pcnn_net_create(m, "cpu", N), NULL, NULL, N, K};
        uint8_t *px = pcnn_xmalloc((size_t)N * H * W * 3);
        int32_t lab[3] = {0, K - 1, 1 % K};
        for (size_t k = 0; k < (size_t)N * H * W * 3; k++) px[k] = (uint8_t)(pcnn_rng_hash4(3, 4, k, 0, 0) & 255);
        c.px = px, c.lab = lab;
        char what[64];
        snprintf(what, sizeof what, "network R=%d F=%d M=%d K=%d %s", R, F, M, K,
                 pcnn_cond_name((unsigned)cfg[i][4]));
        compare_paths(what, run_net, &c, (size_t)N * K + 1 + pcnn_net_num_params(c.net));
        free(px);
        pcnn_net_free(c.net);
        pcnn_model_file_free(m);
    }
}

int main(void)
{
    pcnn_init("test_isa");
    find_isas();
    printf("# fast paths on this CPU:");
    for (int i = 0; i < n_fast; i++) printf(" %s", nn_isa_name(fast_isas[i]));
    printf("%s\n", n_fast ? "" : " none");
    if (!n_fast) {
        SKIP(test_isa_paths, "this CPU has no AVX2/FMA: only the scalar path exists");
        return check_summary();
    }
    RUN(test_gemm_shapes);
    RUN(test_gemm_threaded);
    RUN(test_conv_paths);
    RUN(test_implicit_wgrad);
    RUN(test_bwd_set);
    RUN(test_deconv_paths);
    RUN(test_elementwise_paths);
    RUN(test_network_paths);
    if (n_fast < 2) SKIP(test_avx512_paths, "this CPU has no AVX-512: its kernels were not checked");
    return check_summary();
}
