/*
 * test_nn_grad.c — central-difference checks of every backward pass: the CPU
 * primitives (conv at every geometry of the network, stride 1 and 2, transposed
 * conv, linear, weight norm, concat_elu, elu, shifts, gate, class term, dropout,
 * film class term, class-map input),
 * the discretized-logistic likelihood, and the whole network (train mode, with
 * dropout: its mask is a pure function of (seed, step), so it is the same in
 * every evaluation), on tiny configurations.
 *
 * Layer checks use the scalar L = sum(r * out) with fixed random r, so L is
 * linear in each input of a linear layer and the central difference is exact
 * up to float rounding. Tolerances: |fd - analytic| <= ATOL + RTOL * |analytic|,
 * see the constants below for how each was chosen.
 */
#include "check.h"
#include "model/model.h"
#include "model/net.h"
#include "model/nn_backend.h"
#include "model/net_hooks.h"
#include "nn/nn_dmol.h"
#include "nn/nn_layers.h"
#include "rng.h"
#include "util.h"

#include <stdlib.h>
#include <string.h>

static uint64_t rctr;
static float urand(void) { return pcnn_rng_uniform(42, 99, rctr++, 0) * 2.0f - 1.0f; }
static float *rvec(size_t n, float scale)
{
    float *p = pcnn_xmalloc(n * sizeof *p);
    for (size_t i = 0; i < n; i++) p[i] = scale * urand();
    return p;
}
static float *zvec(size_t n) { return pcnn_xcalloc(n, sizeof(float)); }

/* The loss of the current check: a closure in globals (tests are single-threaded here). */
typedef double (*loss_fn)(void);

/* Central differences on `count` random entries (all when n <= count) of p,
 * against the analytic gradient g. Returns the worst error ratio
 * |fd - g| / (atol + rtol |g|) (<= 1 passes). */
static double fd_check(const char *what, loss_fn f, float *p, const float *g, size_t n, int count,
                       float h, double atol, double rtol)
{
    double worst = 0.0;
    for (int k = 0; k < count && (size_t)k < n; k++) {
        size_t i = n <= (size_t)count ? (size_t)k : (size_t)(pcnn_rng_hash4(7, 7, rctr++, 0, 0) % n);
        float save = p[i];
        p[i] = save + h;
        double lp = f();
        p[i] = save - h;
        double lm = f();
        p[i] = save;
        double fd = (lp - lm) / (2.0 * ((double)(save + h) - (double)save));
        double err = fabs(fd - g[i]) / (atol + rtol * fabs(g[i]));
        if (err > worst) worst = err;
        if (err > 1.0)
            printf("#   %s[%zu]: analytic %.7g, central difference %.7g\n", what, i, g[i], fd);
    }
    return worst;
}

/* ---------- layer checks: L = sum(r * out) ---------- */

/* Layer tolerances: the layers are linear in each input (except the elementwise
 * nonlinearities), L is a sum of ~1e3 float terms of size ~1, so its rounding
 * error is ~1e-4; with h = 1e-2 that is 1e-2 / 2... we use h = 0.05 and
 * ATOL 2e-3, RTOL 2e-3 (curvature terms of elu/sigmoid are O(h^2) = 2.5e-3
 * relative at worst over these input ranges). */
#define LH 0.05f
#define LATOL 2e-3
#define LRTOL 3e-3

static nn_conv_geom G;
static float *Cin_, *CW, *Cb, *Cr, *Cout_;
static nn_ws WS;
static double conv_loss(void)
{
    size_t no = (size_t)G.N * G.Ho * G.Wo * G.Cout;
    nn_conv_fwd(Cout_, Cin_, CW, Cb, &G, 0, &WS);
    double s = 0;
    for (size_t i = 0; i < no; i++) s += (double)Cr[i] * Cout_[i];
    return s;
}

static void check_conv(int kh, int kw, int s, int down_right, int H, int W)
{
    G = (nn_conv_geom){.N = 2, .H = H, .W = W, .Cin = 3, .Cout = 4, .kh = kh, .kw = kw, .s = s};
    G.pt = kh - 1;
    G.pl = down_right ? kw - 1 : (kw - 1) / 2;
    int pr = down_right ? 0 : (kw - 1) / 2;
    G.Ho = (H + G.pt - kh) / s + 1;
    G.Wo = (W + G.pl + pr - kw) / s + 1;
    size_t ni = (size_t)G.N * H * W * G.Cin, no = (size_t)G.N * G.Ho * G.Wo * G.Cout,
           nw = (size_t)G.Cout * G.Cin * kh * kw;
    Cin_ = rvec(ni, 1);
    CW = rvec(nw, 0.5f);
    Cb = rvec(G.Cout, 0.5f);
    Cr = rvec(no, 1);
    Cout_ = zvec(no);
    WS.cap = (size_t)G.Ho * G.Wo * G.Cin * kh * kw;   /* one image: exercises the chunking */
    WS.p = zvec(WS.cap);
    float *din = zvec(ni), *dW = zvec(nw), *db = zvec(G.Cout);
    nn_conv_bwd(din, dW, db, Cr, Cin_, CW, &G, &WS);
    CHECK(fd_check("conv din", conv_loss, Cin_, din, ni, 40, LH, LATOL, LRTOL) <= 1);
    CHECK(fd_check("conv dW", conv_loss, CW, dW, nw, 40, LH, LATOL, LRTOL) <= 1);
    CHECK(fd_check("conv db", conv_loss, Cb, db, G.Cout, 40, LH, LATOL, LRTOL) <= 1);
    free(Cin_), free(CW), free(Cb), free(Cr), free(Cout_), free(WS.p), free(din), free(dW), free(db);
}

static void test_conv_shapes(void)
{
    check_conv(2, 3, 1, 0, 4, 6);   /* u stream, u_init */
    check_conv(2, 2, 1, 1, 4, 6);   /* ul stream */
    check_conv(1, 3, 1, 0, 4, 6);   /* ul_init.0 */
    check_conv(2, 1, 1, 1, 4, 6);   /* ul_init.1 */
    check_conv(2, 3, 2, 0, 4, 8);   /* downsize_u */
    check_conv(2, 2, 2, 1, 8, 4);   /* downsize_ul */
    check_conv(1, 1, 1, 0, 3, 3);   /* pointwise path */
}

static int DH, DW_, DCi, DCo, Dkh, Dkw, Dcoff;
static double deconv_loss(void)
{
    size_t no = (size_t)2 * 2 * DH * 2 * DW_ * DCo;
    nn_deconv_fwd(Cout_, Cin_, CW, Cb, 2, DH, DW_, DCi, DCo, Dkh, Dkw, Dcoff, &WS);
    double s = 0;
    for (size_t i = 0; i < no; i++) s += (double)Cr[i] * Cout_[i];
    return s;
}

static void check_deconv(int kw, int coff)
{
    DH = 3, DW_ = 4, DCi = 3, DCo = 2, Dkh = 2, Dkw = kw, Dcoff = coff;
    size_t ni = (size_t)2 * DH * DW_ * DCi, no = (size_t)2 * 4 * DH * DW_ * DCo,
           nw = (size_t)DCi * DCo * Dkh * Dkw;
    Cin_ = rvec(ni, 1);
    CW = rvec(nw, 0.5f);
    Cb = rvec(DCo, 0.5f);
    Cr = rvec(no, 1);
    Cout_ = zvec(no);
    WS.cap = (size_t)DH * DW_ * DCo * Dkh * Dkw;
    WS.p = zvec(WS.cap);
    float *din = zvec(ni), *dW = zvec(nw), *db = zvec(DCo);
    nn_deconv_bwd(din, dW, db, Cr, Cin_, CW, 2, DH, DW_, DCi, DCo, Dkh, Dkw, Dcoff, &WS);
    CHECK(fd_check("deconv din", deconv_loss, Cin_, din, ni, 40, LH, LATOL, LRTOL) <= 1);
    CHECK(fd_check("deconv dW", deconv_loss, CW, dW, nw, 48, LH, LATOL, LRTOL) <= 1);
    CHECK(fd_check("deconv db", deconv_loss, Cb, db, DCo, 4, LH, LATOL, LRTOL) <= 1);
    free(Cin_), free(CW), free(Cb), free(Cr), free(Cout_), free(WS.p), free(din), free(dW), free(db);
}

static void test_deconv(void)
{
    check_deconv(3, 1);   /* down_shifted_deconv: crop columns [1, 2W+1) */
    check_deconv(2, 0);   /* down_right_shifted_deconv: [0, 2W) */
}

/* Hand-computed deconv: 1x1 image, 1 channel, W = 1 (kernel 2x3, coff 1):
 * full output (3 x 4) rows 0..1 hold w[di][dj] at columns dj; crop col [1, 3). */
static void test_deconv_values(void)
{
    float in[1] = {2.0f}, W[6] = {1, 2, 3, 4, 5, 6}, b[1] = {0.5f}, out[4];
    float ws[6];
    nn_ws w = {ws, 6};
    nn_deconv_fwd(out, in, W, b, 1, 1, 1, 1, 1, 2, 3, 1, &w);
    /* out[oi][oj] = 0.5 + 2 * W[oi][oj + 1] */
    CHECK_NEAR(out[0], 0.5 + 2 * 2, 1e-6);
    CHECK_NEAR(out[1], 0.5 + 2 * 3, 1e-6);
    CHECK_NEAR(out[2], 0.5 + 2 * 5, 1e-6);
    CHECK_NEAR(out[3], 0.5 + 2 * 6, 1e-6);
}

static size_t WNr, WNl;
static float *WNv, *WNg, *WNr_;
static double wn_loss(void)
{
    float *W = zvec(WNr * WNl);
    nn_weightnorm_fwd(W, WNv, WNg, WNr, WNl);
    double s = 0;
    for (size_t i = 0; i < WNr * WNl; i++) s += (double)WNr_[i] * W[i];
    free(W);
    return s;
}

static void test_weightnorm(void)
{
    WNr = 3, WNl = 5;
    WNv = rvec(WNr * WNl, 1);
    WNg = rvec(WNr, 1);
    WNr_ = rvec(WNr * WNl, 1);
    float *dv = zvec(WNr * WNl), *dg = zvec(WNr);
    nn_weightnorm_bwd(dv, dg, WNr_, WNv, WNg, WNr, WNl);
    /* weight norm is nonlinear in v: h = 1e-2 keeps the O(h^2) term below 1e-3 */
    CHECK(fd_check("wn dv", wn_loss, WNv, dv, WNr * WNl, 15, 1e-2f, 1e-3, 3e-3) <= 1);
    CHECK(fd_check("wn dg", wn_loss, WNg, dg, WNr, 3, 1e-2f, 1e-3, 3e-3) <= 1);
    /* forward: each row of W has norm |g| */
    float W[15];
    nn_weightnorm_fwd(W, WNv, WNg, WNr, WNl);
    for (size_t r = 0; r < WNr; r++) {
        double ss = 0;
        for (size_t k = 0; k < WNl; k++) ss += (double)W[r * WNl + k] * W[r * WNl + k];
        CHECK_NEAR(sqrt(ss), fabs(WNg[r]), 1e-6);
    }
    free(WNv), free(WNg), free(WNr_), free(dv), free(dg);
}

/* elementwise: concat_elu of two inputs, elu, gate, class term, shifts, dropout,
 * film class term and class-map input (SPEC §3b) */
static float *Ea, *Eb, *Er, *Eo, *Ep;
static int Emode;
static int32_t Elab[2] = {1, 0};
static float Emask[2 * 6];
static double elem_loss(void)
{
    const size_t rows = 2 * 3 * 4;   /* N = 2, 3 x 4 */
    size_t no = 0;
    switch (Emode) {
    case 0: nn_concat_elu_fwd(Eo, Ea, 2, Eb, 1, rows); no = rows * 6; break;
    case 1: nn_elu_fwd(Eo, Ea, rows * 3); no = rows * 3; break;
    case 2: nn_gate_fwd(Eo, Ea, Eb, rows, 3); no = rows * 3; break;
    case 3:
        memcpy(Eo, Eb, rows * 6 * sizeof *Eo);
        nn_class_fwd(Eo, Ea, Elab, 2, 12, 6);
        no = rows * 6;
        break;
    case 4: nn_down_shift(Eo, Ea, 2, 3, 4, 3, 0); no = rows * 3; break;
    case 5: nn_right_shift(Eo, Ea, 2, 3, 4, 3, 0); no = rows * 3; break;
    case 6:
        memcpy(Eo, Eb, rows * 6 * sizeof *Eo);
        nn_dropout_apply(Eo, Emask, 2, 12, 6);
        no = rows * 6;
        break;
    case 7:   /* film: c2 = Eb, hs = Ea[0, 12), hw = Ea[12, 24) (K = 2, 6 channels) */
        memcpy(Eo, Eb, rows * 6 * sizeof *Eo);
        nn_film_fwd(Eo, Ep, Ea, Ea + 12, Elab, 2, 12, 6);
        no = rows * 6;
        break;
    case 8:   /* input: x = Ea (2, 3, 4, 3), class map = Eb (2 classes, 3, 3, 4) */
        nn_input_fwd(Eo, Ea, Eb, Elab, 2, 3, 4, 3, 4, 0, 0);
        no = rows * 4;
        break;
    }
    double s = 0;
    for (size_t i = 0; i < no; i++) s += (double)Er[i] * Eo[i];
    return s;
}

static void test_elementwise(void)
{
    const size_t rows = 24;
    Ea = rvec(rows * 6, 2);
    Eb = rvec(rows * 6, 2);
    Er = rvec(rows * 6, 1);
    Eo = zvec(rows * 6);
    float *da = zvec(rows * 6), *db = zvec(rows * 6);
    /* 0: concat_elu of concat(a (2 ch), b (1 ch)) */
    Emode = 0;
    nn_concat_elu_bwd(da, db, Er, Ea, 2, Eb, 1, rows);
    CHECK(fd_check("concat_elu da", elem_loss, Ea, da, rows * 2, 48, 1e-2f, 1e-3, 3e-3) <= 1);
    CHECK(fd_check("concat_elu db", elem_loss, Eb, db, rows, 24, 1e-2f, 1e-3, 3e-3) <= 1);
    /* 1: elu */
    Emode = 1;
    memset(da, 0, rows * 6 * sizeof *da);
    nn_elu_bwd(da, Er, Ea, rows * 3);
    CHECK(fd_check("elu", elem_loss, Ea, da, rows * 3, 72, 1e-2f, 1e-3, 3e-3) <= 1);
    /* 2: gate out = x + c2[:F] sigmoid(c2[F:]) */
    Emode = 2;
    memset(da, 0, rows * 6 * sizeof *da);
    nn_gate_bwd(da, db, Er, Eb, rows, 3);
    CHECK(fd_check("gate dx", elem_loss, Ea, da, rows * 3, 72, 1e-2f, 1e-3, 3e-3) <= 1);
    CHECK(fd_check("gate dc2", elem_loss, Eb, db, rows * 6, 144, 1e-2f, 1e-3, 3e-3) <= 1);
    /* 3: class term, hw (K = 2, 6) in Ea */
    Emode = 3;
    memset(da, 0, rows * 6 * sizeof *da);
    nn_class_bwd(da, Er, Elab, 2, 12, 6);
    CHECK(fd_check("class dhw", elem_loss, Ea, da, 12, 12, LH, LATOL, LRTOL) <= 1);
    /* 4, 5: shifts */
    Emode = 4;
    memset(da, 0, rows * 6 * sizeof *da);
    nn_down_shift_bwd(da, Er, 2, 3, 4, 3);
    CHECK(fd_check("down_shift", elem_loss, Ea, da, rows * 3, 72, LH, LATOL, LRTOL) <= 1);
    Emode = 5;
    memset(da, 0, rows * 6 * sizeof *da);
    nn_right_shift_bwd(da, Er, 2, 3, 4, 3);
    CHECK(fd_check("right_shift", elem_loss, Ea, da, rows * 3, 72, LH, LATOL, LRTOL) <= 1);
    /* 6: dropout: gradient is the mask; masks have both values and are reproducible */
    Emode = 6;
    nn_dropout_mask(Emask, 2, 6, 5, 9, 3, 1, 0, 0);
    float m2[12];
    nn_dropout_mask(m2, 2, 6, 5, 9, 3, 1, 0, 0);
    CHECK(!memcmp(Emask, m2, sizeof m2));
    int zeros = 0;
    for (int i = 0; i < 12; i++) zeros += Emask[i] == 0.0f;
    CHECK(zeros > 0 && zeros < 12);
    memcpy(db, Er, rows * 6 * sizeof *db);
    nn_dropout_apply(db, Emask, 2, 12, 6);
    CHECK(fd_check("dropout", elem_loss, Eb, db, rows * 6, 144, LH, LATOL, LRTOL) <= 1);
    /* 7: film c2 (1 + hs[y]) + hw[y]: d hs, d hw (nn_class_bwd), d c2 */
    Emode = 7;
    Ep = zvec(rows * 6);
    memset(da, 0, rows * 6 * sizeof *da);
    memcpy(db, Er, rows * 6 * sizeof *db);
    elem_loss();   /* the forward saves c2 in Ep */
    nn_class_bwd(da + 12, db, Elab, 2, 12, 6);
    nn_film_bwd(da, db, Ep, Ea, Elab, 2, 12, 6);
    CHECK(fd_check("film dhs, dhw", elem_loss, Ea, da, 24, 24, LH, LATOL, LRTOL) <= 1);
    CHECK(fd_check("film dc2", elem_loss, Eb, db, rows * 6, 144, LH, LATOL, LRTOL) <= 1);
    /* film with hs = 0 is the plain class term, to the bit */
    float *hs0 = zvec(12), *o2 = zvec(rows * 6);
    memcpy(Eo, Eb, rows * 6 * sizeof *Eo);
    nn_film_fwd(Eo, Ep, hs0, Ea + 12, Elab, 2, 12, 6);
    memcpy(o2, Eb, rows * 6 * sizeof *o2);
    nn_class_fwd(o2, Ea + 12, Elab, 2, 12, 6);
    CHECK(!memcmp(Eo, o2, rows * 6 * sizeof *o2));
    /* 8: class map: d class_map[y] = sum over class-y images of d xin */
    Emode = 8;
    memset(db, 0, rows * 6 * sizeof *db);
    nn_class_map_bwd(db, Er, Elab, 2, 3, 4);
    CHECK(fd_check("class_map", elem_loss, Eb, db, 72, 72, LH, LATOL, LRTOL) <= 1);
    /* a window (rows 1..2, columns 2..3) adds the map at its own place */
    elem_loss();
    float xw[2 * 2 * 2 * 3], ow[2 * 2 * 2 * 4];
    for (int n = 0; n < 2; n++)
        for (int i = 0; i < 2; i++)
            memcpy(xw + ((n * 2 + i) * 2) * 3, Ea + ((n * 3 + 1 + i) * 4 + 2) * 3, 6 * sizeof *xw);
    nn_input_fwd(ow, xw, Eb, Elab, 2, 2, 2, 3, 4, 1, 2);
    int same = 1;
    for (int n = 0; n < 2; n++)
        for (int i = 0; i < 2; i++)
            same &= !memcmp(ow + ((n * 2 + i) * 2) * 4, Eo + ((n * 3 + 1 + i) * 4 + 2) * 4, 8 * sizeof *ow);
    CHECK(same);
    free(hs0), free(o2), free(Ep);
    free(Ea), free(Eb), free(Er), free(Eo), free(da), free(db);
}

/* ---------- likelihood ---------- */
static float Ll[30 * 4], Lx[3];
static int LM;
static double dmol_loss(void) { return pcnn_dmol_logp(Ll, Lx, LM, NULL); }

static void test_dmol_grad(void)
{
    float dl[40];
    const float xs[4][3] = {{0.1f, -0.3f, 0.7f}, {-1.0f, 1.0f, 0.2f}, {1.0f, -1.0f, -1.0f}, {0.5f, 0.5f, 0.5f}};
    for (int t = 0; t < 4; t++) {
        LM = 3;
        for (int i = 0; i < 10 * LM; i++) Ll[i] = urand();
        memcpy(Lx, xs[t], sizeof Lx);
        pcnn_dmol_logp(Ll, Lx, LM, dl);
        /* log p is O(10) in float: rounding ~1e-6; h = 1e-2, curvature O(h^2) */
        CHECK(fd_check("dmol dl", dmol_loss, Ll, dl, 30, 30, 1e-2f, 2e-3, 5e-3) <= 1);
    }
}

/* ---------- the whole network ---------- */
static pcnn_net *NET;
static uint8_t NPIX[3 * 8 * 12 * 3];
static int32_t NLAB[3] = {1, 0, 1};
/* The hybrid objective of SPEC §6b: HYB_NCE of the HYB_N images carry lambda CE. */
static int HYB_N, HYB_NCE, HYB_DRAWN;   /* HYB_DRAWN: pcnn_net_set_ce_classes (0 all) */
static double *HYB_PRIOR;                /* pcnn_net_set_ce_prior (NULL: uniform) */
static int HYB_NODROP;                   /* the hybrid step without dropout (pcnn-fit --dropout 0) */
static const float HYB_LAMBDA = 0.7f, HYB_TAU = 3.0f;
static double net_loss(void)
{
    pcnn_net_invalidate(NET);
    if (!HYB_NCE) {
        pcnn_net_train_step(NET, NPIX, NLAB, 2, 3, 17);
        return pcnn_net_last_loss(NET);
    }
    pcnn_net_set_ce_prior(NET, HYB_PRIOR);
    pcnn_net_hybrid_step(NET, NPIX, NLAB, HYB_N, HYB_NCE, HYB_LAMBDA, HYB_TAU, !HYB_NODROP, 3, 17);
    /* L = (1/N) sum_n [-l(n, y_n)] + lambda (1/N) sum_{n < n_ce} CE_n */
    return pcnn_net_last_loss(NET) + HYB_LAMBDA * pcnn_net_last_ce(NET) * HYB_NCE / HYB_N;
}

/* The conditioning variants' tensors (SPEC §3b; zero at creation) to U(+-0.5),
 * so the film scale and the class map take part in the loss. */
static void randomise_cond(const pcnn_param_table *t, float *p)
{
    for (int i = 0; i < t->n; i++) {
        const char *name = t->p[i].name;
        size_t len = strlen(name);
        if (strcmp(name, "class_map") && (len < 3 || strcmp(name + len - 3, ".hs"))) continue;
        for (size_t k = 0; k < t->p[i].size; k++) p[t->p[i].offset + k] = 0.5f * urand();
    }
}

/* With a conditioning variant only the tensors next to its code are checked
 * (the rest is the base model's backward, checked by the base cases, and each
 * tensor costs four passes): hs, hw, class_map, conv_out (its gradient passes
 * the film scale) and the init convs (they see x + class_map). */
static int variant_tensor(const char *name)
{
    size_t len = strlen(name);
    return !strcmp(name, "class_map") || strstr(name, ".conv_out.") || strstr(name, "_init") ||
           (len > 3 && (!strcmp(name + len - 3, ".hs") || !strcmp(name + len - 3, ".hw")));
}

static void check_network(int R, int F, int M, int K, int H, int W, unsigned cond)
{
    pcnn_model_file *m = pcnn_model_create(R, F, M, K, H, W, cond, NULL, 11);
    NET = pcnn_net_create(m, "cpu", HYB_NCE ? HYB_NCE * K + HYB_N - HYB_NCE : 2);
    CHECK(NET != NULL);
    if (!NET) return;
    pcnn_net_set_ce_classes(NET, HYB_DRAWN);
    for (size_t i = 0; i < sizeof NPIX; i++) NPIX[i] = (uint8_t)(pcnn_rng_hash4(1, 2, i, 0, 0) & 255);
    NPIX[0] = 0, NPIX[1] = 255;   /* both edge branches present */
    const pcnn_param_table *t = pcnn_net_table(NET);
    float *p = pcnn_net_buffer(NET, PCNN_BUF_PARAMS);
    CHECK(t->cond == cond);
    randomise_cond(t, p);
    float *g0 = pcnn_net_buffer(NET, PCNN_BUF_GRADS);
    net_loss();
    float *g = pcnn_xmalloc(t->total * sizeof *g);
    memcpy(g, g0, t->total * sizeof *g);
    if (HYB_PRIOR) {   /* the prior's gradient: d L / d b_c = lambda / N * sum_i (p_ic - [c = y_i]) */
        double gb[8], worst_b = 0;
        memcpy(gb, pcnn_net_ce_prior_grad(NET), (size_t)K * sizeof *gb);
        for (int c = 0; c < K; c++) {
            double save = HYB_PRIOR[c], hb = 0.05;
            HYB_PRIOR[c] = save + hb;
            double lp = net_loss();
            HYB_PRIOR[c] = save - hb;
            double lm = net_loss();
            HYB_PRIOR[c] = save;
            double an = HYB_LAMBDA * gb[c] / HYB_N, fd = (lp - lm) / (2 * hb);
            worst_b = fmax(worst_b, fabs(fd - an) / (1e-3 + 1e-2 * fabs(an)));
        }
        printf("#   the log prior's gradient against central differences: worst error ratio %.3f\n", worst_b);
        CHECK(worst_b <= 1);
        net_loss();
    }
    /* Per tensor, central differences along two directions d: the normalised
     * gradient itself and a random +-1/sqrt(n) direction; the analytic value is g.d.
     * A direction sums many entries, so the signal is far above the noise of the
     * float32 forward (measured 1e-5..1e-4 relative... about 1e-4 to 5e-4 nats on a
     * loss of ~1800, i.e. <= 2.5e-3 on a central difference with h = 0.1). The
     * O(h^2) curvature error measured at this h is <= 1.5 % (h = 0.025..0.4 scans).
     * Tolerance: 5e-3 + 2e-2 |g.d|. A wrong backward path is off by far more. */
    double worst = 0;
    float *save = pcnn_xmalloc(t->total * sizeof *save), *d = pcnn_xmalloc(t->total * sizeof *d);
    const float h = 0.1f;
    for (int i = 0; i < t->n; i++) {
        const pcnn_param *q = &t->p[i];
        if (cond && !variant_tensor(q->name)) continue;
        float *pp = p + q->offset;
        const float *gg = g + q->offset;
        for (int dir = 0; dir < 2; dir++) {
            double gn = 0, an = 0, dn = 0;
            for (size_t k = 0; k < q->size; k++) gn += (double)gg[k] * gg[k];
            for (size_t k = 0; k < q->size; k++) {
                d[k] = dir == 0 ? (gn > 0 ? (float)(gg[k] / sqrt(gn)) : 0.0f) : (urand() < 0 ? -1.0f : 1.0f);
                dn += (double)d[k] * d[k];
            }
            if (dir == 1)
                for (size_t k = 0; k < q->size; k++) d[k] /= (float)sqrt(dn);
            for (size_t k = 0; k < q->size; k++) an += (double)gg[k] * d[k];
            memcpy(save, pp, q->size * sizeof *save);
            for (size_t k = 0; k < q->size; k++) pp[k] = save[k] + h * d[k];
            double lp = net_loss();
            for (size_t k = 0; k < q->size; k++) pp[k] = save[k] - h * d[k];
            double lm = net_loss();
            memcpy(pp, save, q->size * sizeof *save);
            double fd = (lp - lm) / (2.0 * h);
            double err = fabs(fd - an) / (5e-3 + 2e-2 * fabs(an));
            if (err > 1) printf("#   %s along %s: analytic %.7g, central difference %.7g\n", q->name,
                                dir ? "a random direction" : "the gradient", an, fd);
            if (err > worst) worst = err;
        }
    }
    free(save);
    free(d);
    char what[64] = "";
    if (HYB_NCE && HYB_NODROP) snprintf(what, sizeof what, " (hybrid loss, no dropout)");
    else if (HYB_NCE && HYB_PRIOR) snprintf(what, sizeof what, " (hybrid loss, a log prior)");
    else if (HYB_NCE && HYB_DRAWN) snprintf(what, sizeof what, " (hybrid loss, %d classes drawn)", HYB_DRAWN);
    else if (HYB_NCE) snprintf(what, sizeof what, " (hybrid loss)");
    printf("#   network R=%d F=%d M=%d K=%d %dx%d %s%s: loss %.6f, worst error ratio %.3f (<= 1 passes)\n",
           R, F, M, K, H, W, pcnn_cond_name(cond), what, net_loss(), worst);
    CHECK(worst <= 1);
    free(g);
    pcnn_net_free(NET);
    pcnn_model_file_free(m);
}

static void test_network_small(void) { check_network(1, 4, 2, 2, 8, 8, 0); }
static void test_network_odd(void) { check_network(2, 3, 3, 3, 8, 12, 0); }
/* Film and input (SPEC §3b) together: d hs, d class_map and every other
 * gradient through the scaled class term and the shifted input. */
static void test_network_variants(void) { check_network(1, 3, 2, 2, 8, 8, PCNN_COND_ALL); }
/* The hybrid loss: 2 of 3 images carry the CE term, 3 classes, dropout on. */
static void test_network_hybrid(void)
{
    HYB_N = 3, HYB_NCE = 2;
    check_network(1, 4, 2, 3, 8, 12, 0);
    HYB_N = HYB_NCE = 0;
}

/* The same with each CE image's posterior over its class and 1 of the 2 others, drawn by
 * (seed, step, image): the loss of a step is a fixed function of the parameters, the drawn
 * class's logit raised by log 2. */
static void test_network_hybrid_drawn(void)
{
    HYB_N = 3, HYB_NCE = 2, HYB_DRAWN = 2;
    check_network(1, 4, 2, 3, 8, 12, 0);
    HYB_N = HYB_NCE = HYB_DRAWN = 0;
}

/* The same with a log prior in the CE term's posterior (pcnn_net_set_ce_prior): every
 * gradient through the shifted posterior, and the prior's own against central differences. */
static void test_network_hybrid_prior(void)
{
    double b[3] = {2.0, -1.5, 0.5};
    HYB_N = 3, HYB_NCE = 2, HYB_PRIOR = b;
    check_network(1, 4, 2, 3, 8, 12, 0);
    HYB_N = HYB_NCE = 0, HYB_PRIOR = NULL;
}

/* The hybrid step without dropout (pcnn-fit --dropout 0): the eval-mode forward's gradient. */
static void test_network_hybrid_nodrop(void)
{
    HYB_N = 3, HYB_NCE = 2, HYB_NODROP = 1;
    check_network(1, 4, 2, 3, 8, 12, 0);
    HYB_N = HYB_NCE = HYB_NODROP = 0;
}

/* The CE term of one image from its rows' log-likelihoods (pcnn_hybrid_row_weights), in
 * double: the weights are the gradient of (-l_y + lambda r) / n_total (central differences,
 * h = 1e-3 nats on log-likelihoods of ~100); with all classes r is tau times -log softmax;
 * with k drawn, the mean over draws of the estimated partition sum, exp(r / tau + z_y),
 * is the full one (the shift log((K-1)/(k-1)) makes it unbiased). */
static double hyb_f(const double *l, const int32_t *cls, int k, int K, int y, const double *b,
                    int *jy)
{
    float w[8];
    double r = pcnn_hybrid_row_weights(l, cls, k, K, y, 0.7, 3.0, 4, b, w, jy, NULL);
    return (-l[*jy] + 0.7 * r) / 4;
}

/* The worst error ratio of the row weights w against central differences of hyb_f in l. */
static double hyb_weights_error(double *l, const int32_t *cls, int k, int K, int y,
                                const double *b, const float *w)
{
    double worst = 0;
    int jy;
    for (int j = 0; j < k; j++) {
        double save = l[j], h = 1e-3;
        l[j] = save + h;
        double fp = hyb_f(l, cls, k, K, y, b, &jy);
        l[j] = save - h;
        double fm = hyb_f(l, cls, k, K, y, b, &jy);
        l[j] = save;
        worst = fmax(worst, fabs((fp - fm) / (2 * h) - w[j]) / (1e-7 + 1e-5 * fabs(w[j])));
    }
    return worst;
}

/* With a log prior b (pcnn_net_set_ce_prior): the row weights are still the gradient with
 * respect to l, r is tau times -log softmax((l + b) / tau)_y, and gb the gradient of r with
 * respect to b (central differences in double); b = 0 gives the uniform prior's bytes. */
static void test_hybrid_row_weights_prior(void)
{
    const int K = 5, y = 1;
    double lall[5], l[5], b[5], zero[5] = {0};
    for (int c = 0; c < K; c++) lall[c] = -100.0 + 10.0 * urand(), b[c] = 8.0 * urand();
    for (int k = 3; k <= K; k += 2) {
        int32_t cls[5];
        pcnn_net_ce_class_set(K, k, y, 4, 2, 1, cls);
        for (int j = 0; j < k; j++) l[j] = lall[cls[j]];
        float w[8], w0[8], wu[8];
        double gb[5] = {0}, gz[5] = {0};
        int jy;
        double r = pcnn_hybrid_row_weights(l, cls, k, K, y, 0.7, 3.0, 4, b, w, &jy, gb);
        double r0 = pcnn_hybrid_row_weights(l, cls, k, K, y, 0.7, 3.0, 4, zero, w0, &jy, gz);
        double ru = pcnn_hybrid_row_weights(l, cls, k, K, y, 0.7, 3.0, 4, NULL, wu, &jy, NULL);
        CHECK(r0 == ru && !memcmp(w0, wu, (size_t)k * sizeof *w0));
        double worst = hyb_weights_error(l, cls, k, K, y, b, w), sum = 0;
        for (int c = 0; c < K; c++) {
            double save = b[c], h = 1e-3, rp, rm;
            float wf[8];
            b[c] = save + h;
            rp = pcnn_hybrid_row_weights(l, cls, k, K, y, 0.7, 3.0, 4, b, wf, &jy, NULL);
            b[c] = save - h;
            rm = pcnn_hybrid_row_weights(l, cls, k, K, y, 0.7, 3.0, 4, b, wf, &jy, NULL);
            b[c] = save;
            worst = fmax(worst, fabs((rp - rm) / (2 * h) - gb[c]) / (1e-7 + 1e-5 * fabs(gb[c])));
            sum += gb[c];
        }
        if (k == K) {   /* tau * -log softmax((l + b) / tau)_y */
            double mx = -1e300, e = 0;
            for (int c = 0; c < K; c++) mx = fmax(mx, (lall[c] + b[c]) / 3);
            for (int c = 0; c < K; c++) e += exp((lall[c] + b[c]) / 3 - mx);
            CHECK(fabs(r - 3 * (mx + log(e) - (lall[y] + b[y]) / 3)) < 1e-12);
        }
        printf("#   k = %d of %d with a log prior: CE %.6f, worst error ratio of the row and prior "
               "gradients %.3f, their sum over classes %.2g\n", k, K, r, worst, sum);
        CHECK(worst <= 1);
        if (k == K) CHECK(fabs(sum) < 1e-12);   /* the posterior sums to 1, the label once */
    }
}

static void test_hybrid_row_weights(void)
{
    const int K = 5, y = 2;
    double lall[5], l[5];
    for (int c = 0; c < K; c++) lall[c] = -100.0 + 10.0 * urand();
    for (int k = 2; k <= K; k++) {
        int32_t cls[5];
        pcnn_net_ce_class_set(K, k, y, 9, 1, 0, cls);
        for (int j = 0; j < k; j++) l[j] = lall[cls[j]];
        float w[8];
        int jy;
        double r = pcnn_hybrid_row_weights(l, cls, k, K, y, 0.7, 3.0, 4, NULL, w, &jy, NULL);
        CHECK(cls[jy] == y);
        double worst = hyb_weights_error(l, cls, k, K, y, NULL, w);
        printf("#   k = %d of %d: CE %.6f, worst error ratio of the row weights %.3f\n", k, K, r, worst);
        CHECK(worst <= 1);
        if (k == K) {   /* tau * -log softmax(l / tau)_y */
            double mx = lall[0] / 3, s = 0;
            for (int c = 1; c < K; c++) mx = fmax(mx, lall[c] / 3);
            for (int c = 0; c < K; c++) s += exp(lall[c] / 3 - mx);
            CHECK(fabs(r - 3 * (mx + log(s) - lall[y] / 3)) < 1e-12);
        }
    }
    /* unbiased partition sum: k = 2 of 5, 40000 draws */
    double full = 0, mean = 0;
    for (int c = 0; c < K; c++) full += exp(lall[c] / 3 - lall[y] / 3);
    const int draws = 40000;
    for (int t = 0; t < draws; t++) {
        int32_t cls[2];
        int jy;
        float w[2];
        pcnn_net_ce_class_set(K, 2, y, 5, (uint64_t)t, 3, cls);
        for (int j = 0; j < 2; j++) l[j] = lall[cls[j]];
        double r = pcnn_hybrid_row_weights(l, cls, 2, K, y, 0.7, 3.0, 4, NULL, w, &jy, NULL);
        mean += exp(r / 3) / draws;   /* r / tau = log(sum) - z_y */
    }
    printf("#   k = 2 of 5: mean estimated partition sum %.5f, the full one %.5f\n", mean, full);
    CHECK(fabs(mean / full - 1) < 0.03);
}

/* The classes a CE image runs under: its label first, distinct, in range; all K in order
 * when k >= K; the draw depends on the step and the image, and each other class is drawn
 * about (k - 1) / (K - 1) of the time. */
static void test_ce_class_set(void)
{
    int32_t c[10];
    pcnn_net_ce_class_set(4, 4, 2, 1, 5, 7, c);
    CHECK(c[0] == 0 && c[1] == 1 && c[2] == 2 && c[3] == 3);
    pcnn_net_ce_class_set(4, 0, 2, 1, 5, 7, c);
    CHECK(c[0] == 0 && c[3] == 3);
    int count[10] = {0}, ok = 1, moved = 0;
    const int K = 10, k = 4, draws = 20000;
    int32_t first[4];
    for (int t = 0; t < draws; t++) {
        int32_t y = t % K;
        pcnn_net_ce_class_set(K, k, y, 3, (uint64_t)t / 7, (uint64_t)t % 7, c);
        ok &= c[0] == y;
        for (int j = 1; j < k; j++) {
            ok &= c[j] >= 0 && c[j] < K && c[j] != y;
            for (int i = 1; i < j; i++) ok &= c[i] != c[j];
            if (y == 0) count[c[j]]++;
        }
        if (t == 0) memcpy(first, c, sizeof first);
        else if (y == 0) moved |= memcmp(first, c, sizeof first) != 0;
    }
    CHECK(ok);
    CHECK(moved);
    /* 2000 draws with y = 0: each other class 2000 * 3/9 = 667 times, sd ~21 */
    for (int c2 = 1; c2 < K; c2++) CHECK(count[c2] > 667 - 110 && count[c2] < 667 + 110);
    CHECK(count[0] == 0);
}

/* The hybrid step runs an image once per class under one dropout mask: its
 * likelihood part equals the plain step's to the bit (the true-label rows are the
 * plain rows, computed alike at any batch size), whatever share carries the CE
 * term; with no share (or lambda 0) the gradients are the plain step's bytes. */
static void test_hybrid_matches_plain(void)
{
    pcnn_model_file *m = pcnn_model_create(1, 4, 2, 3, 8, 12, 0, NULL, 5);
    pcnn_net *net = pcnn_net_create(m, "cpu", 9);
    const pcnn_param_table *t = pcnn_net_table(net);
    size_t bytes = t->total * sizeof(float);
    float *g = pcnn_xmalloc(bytes);
    for (size_t i = 0; i < sizeof NPIX; i++) NPIX[i] = (uint8_t)(pcnn_rng_hash4(7, 2, i, 0, 0) & 255);
    float plain = pcnn_net_train_step(net, NPIX, NLAB, 3, 4, 2);
    memcpy(g, pcnn_net_buffer(net, PCNN_BUF_GRADS), bytes);
    for (int drawn = 0; drawn <= 2; drawn += 2) {   /* all 3 classes, and 2 of them */
        pcnn_net_set_ce_classes(net, drawn);
        for (int nce = 0; nce <= 3; nce++) {
            float l = pcnn_net_hybrid_step(net, NPIX, NLAB, 3, nce, 0.5f, 2.0f, 1, 4, 2);
            CHECK(l == plain);
            if (nce == 0) CHECK(!memcmp(g, pcnn_net_buffer(net, PCNN_BUF_GRADS), bytes));
            else CHECK(memcmp(g, pcnn_net_buffer(net, PCNN_BUF_GRADS), bytes) != 0);
            if (nce) CHECK(pcnn_net_last_ce(net) > 0);
        }
    }
    /* k = K is the posterior over all classes: the same bytes as the default */
    float *ga = pcnn_xmalloc(bytes);
    pcnn_net_set_ce_classes(net, 0);
    pcnn_net_hybrid_step(net, NPIX, NLAB, 3, 2, 0.5f, 2.0f, 1, 4, 2);
    memcpy(ga, pcnn_net_buffer(net, PCNN_BUF_GRADS), bytes);
    double ce_all = pcnn_net_last_ce(net);
    pcnn_net_set_ce_classes(net, 3);
    pcnn_net_hybrid_step(net, NPIX, NLAB, 3, 2, 0.5f, 2.0f, 1, 4, 2);
    CHECK(!memcmp(ga, pcnn_net_buffer(net, PCNN_BUF_GRADS), bytes));
    CHECK(pcnn_net_last_ce(net) == ce_all);
    free(ga);
    pcnn_net_set_ce_classes(net, 0);
    pcnn_net_hybrid_step(net, NPIX, NLAB, 3, 3, 0.0f, 2.0f, 1, 4, 2);
    CHECK(!memcmp(g, pcnn_net_buffer(net, PCNN_BUF_GRADS), bytes));
    free(g);
    pcnn_net_free(net);
    pcnn_model_file_free(m);
}

/* --class-lr-mult: Adam moves the class tables (hw) at lr * mult and every other
 * tensor exactly as with one rate. Adam's first step is lr * g / (|g| + eps'), so
 * the class tables move mult times as far. */
static void test_class_lr_mult(void)
{
    pcnn_model_file *m = pcnn_model_create(1, 4, 2, 3, 8, 12, 0, NULL, 5);
    pcnn_net *a = pcnn_net_create(m, "cpu", 3), *b = pcnn_net_create(m, "cpu", 3);
    const pcnn_param_table *t = pcnn_net_table(a);
    float *p0 = pcnn_xmalloc(t->total * sizeof *p0);
    memcpy(p0, pcnn_net_buffer(a, PCNN_BUF_PARAMS), t->total * sizeof *p0);
    pcnn_net_set_class_lr_mult(b, 10.0f);
    pcnn_net_train_step(a, NPIX, NLAB, 3, 1, 1);
    pcnn_net_train_step(b, NPIX, NLAB, 3, 1, 1);
    pcnn_net_adam_step(a, 1e-3f, 0.9f, 0.999f, 1e-8f, 0.9f);
    pcnn_net_adam_step(b, 1e-3f, 0.9f, 0.999f, 1e-8f, 0.9f);
    const float *pa = pcnn_net_buffer(a, PCNN_BUF_PARAMS), *pb = pcnn_net_buffer(b, PCNN_BUF_PARAMS);
    int nclass = 0;
    double worst = 0;
    for (int i = 0; i < t->n; i++) {
        const pcnn_param *q = &t->p[i];
        if (!pcnn_params_is_class_table(q->name)) {
            CHECK(!memcmp(pa + q->offset, pb + q->offset, q->size * sizeof(float)));
            continue;
        }
        nclass++;
        for (size_t k = q->offset; k < q->offset + q->size; k++) {
            double da = pa[k] - p0[k], db = pb[k] - p0[k];
            if (fabs(da) > 1e-4) worst = fmax(worst, fabs(db / da - 10.0));
        }
    }
    printf("#   %d class tables, worst |step ratio - 10| %.2g\n", nclass, worst);
    CHECK(nclass == 16);   /* R = 1: 3 x 2 up blocks, (1 + 2 + 2) x 2 down blocks */
    CHECK(worst < 0.05);
    CHECK(pcnn_params_is_class_table("up_layers.0.u_stream.0.hw"));
    CHECK(pcnn_params_is_class_table("class_map"));
    CHECK(!pcnn_params_is_class_table("nin_out.lin_a.bias"));
    free(p0);
    pcnn_net_free(a);
    pcnn_net_free(b);
    pcnn_model_file_free(m);
}

/* Same inputs, seed and step: the same loss and gradient bytes; another step: another mask. */
static void test_train_deterministic(void)
{
    pcnn_model_file *m = pcnn_model_create(1, 4, 2, 2, 8, 8, 0, NULL, 3);
    pcnn_net *net = pcnn_net_create(m, "cpu", 2);
    const pcnn_param_table *t = pcnn_net_table(net);
    size_t bytes = t->total * sizeof(float);
    float *g1 = pcnn_xmalloc(bytes);
    float l1 = pcnn_net_train_step(net, NPIX, NLAB, 2, 9, 4);
    memcpy(g1, pcnn_net_buffer(net, PCNN_BUF_GRADS), bytes);
    float l2 = pcnn_net_train_step(net, NPIX, NLAB, 2, 9, 4);
    CHECK(l1 == l2);
    CHECK(!memcmp(g1, pcnn_net_buffer(net, PCNN_BUF_GRADS), bytes));
    float l3 = pcnn_net_train_step(net, NPIX, NLAB, 2, 9, 5);
    CHECK(l3 != l1);
    free(g1);
    pcnn_net_free(net);
    pcnn_model_file_free(m);
}

/* A few Adam steps on one tiny batch lower its loss; store/load round-trips the state. */
static void test_adam_reduces_loss(void)
{
    pcnn_model_file *m = pcnn_model_create(1, 4, 2, 2, 8, 8, 0, NULL, 3);
    pcnn_net *net = pcnn_net_create(m, "cpu", 2);
    double first = 0, last = 0;
    for (int s = 0; s < 20; s++) {
        pcnn_net_grad_step(net, NPIX, NLAB, 2, 0, 0, 0);
        double l = pcnn_net_last_loss(net);
        if (s == 0) first = l;
        last = l;
        pcnn_net_adam_step(net, 1e-2f, 0.9f, 0.999f, 1e-8f, 0.9f);
    }
    printf("#   loss %.2f -> %.2f nats after 20 Adam steps\n", first, last);
    CHECK(last < first - 0.05 * fabs(first));
    CHECK(pcnn_net_step(net) == 20);
    /* store, reload: same step, parameters, Polyak and Adam state, hence same next step */
    CHECK(pcnn_net_store(net, m) == 0);
    pcnn_net *net2 = pcnn_net_create(m, "cpu", 2);
    CHECK(net2 && pcnn_net_step(net2) == 20);
    size_t bytes = pcnn_net_table(net)->total * sizeof(float);
    for (int b = PCNN_BUF_PARAMS; b <= PCNN_BUF_ADAM_V; b++)
        if (b != PCNN_BUF_GRADS) CHECK(!memcmp(pcnn_net_buffer(net, b), pcnn_net_buffer(net2, b), bytes));
    double ll1[4], ll2[4];
    pcnn_net_loglik(net, NPIX, 2, 1, ll1);
    pcnn_net_loglik(net2, NPIX, 2, 1, ll2);
    CHECK(!memcmp(ll1, ll2, sizeof ll1));
    pcnn_net_free(net2);
    pcnn_net_free(net);
    pcnn_model_file_free(m);
}

int main(void)
{
    for (size_t i = 0; i < sizeof NPIX; i++) NPIX[i] = (uint8_t)(pcnn_rng_hash4(1, 2, i, 0, 0) & 255);
    RUN(test_train_deterministic);
    RUN(test_adam_reduces_loss);
    RUN(test_conv_shapes);
    RUN(test_deconv);
    RUN(test_deconv_values);
    RUN(test_weightnorm);
    RUN(test_elementwise);
    RUN(test_dmol_grad);
    RUN(test_network_small);
    RUN(test_network_odd);
    RUN(test_network_variants);
    RUN(test_network_hybrid);
    RUN(test_network_hybrid_drawn);
    RUN(test_network_hybrid_prior);
    RUN(test_network_hybrid_nodrop);
    RUN(test_ce_class_set);
    RUN(test_hybrid_row_weights);
    RUN(test_hybrid_row_weights_prior);
    RUN(test_hybrid_matches_plain);
    RUN(test_class_lr_mult);
    return check_summary();
}
