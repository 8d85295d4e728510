/*
 * backend_cpu.c — the CPU backend of nn_backend.h: each block built from the
 * primitives of nn_layers.c and the likelihood of nn_dmol.c. This is the
 * reference the CUDA backend is checked against.
 */
#include "model/nn_backend.h"
#include "nn/nn_dmol.h"
#include "nn/nn_prof.h"
#include "nn/nn_layers.h"
#include "nn/nn_isa.h"
#include "threads.h"
#include "util.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct cpu_ctx {
    nn_ws ws;                     /* im2col / col2im scratch */
    float *s1, *s2, *s3, *s4, *s5; /* per-pixel scratch: 2F, 2F, F, 2F, 4F channels at full size */
    float *llpix;                 /* (maxN, H, W) per-pixel log-likelihoods */
} cpu_ctx;

typedef struct cpu_state {
    int op;
    float *xin;                   /* INPUT: (N,H,W,4) */
    float *cex, *cea, *c1, *hd, *mask, *c2;   /* GATED */
    float *c2p;                   /* GATED, film: c2 before the class term (for d hs) */
    float *c1x;                   /* GATED with a skip, PCNN_X_KEEP: conv_input(cex) alone */
    int dropped;                  /* GATED: dropout ran in the last forward */
    float *e;                     /* OUT: elu(ul) */
} cpu_state;

#define CTX(be) ((cpu_ctx *)(be)->ctx)

/* Activations and parameters: zeroed, huge pages for the big ones (util.h). */
static float *falloc(size_t n) { return pcnn_big_alloc(pcnn_mul_size(n, sizeof(float))); }

static void *cpu_alloc(pcnn_backend *be, size_t bytes) { return pcnn_big_alloc(bytes); }
static void cpu_release(pcnn_backend *be, void *p) { pcnn_big_free(p); }
static void cpu_copy(pcnn_backend *be, void *dst, const void *src, size_t bytes) { memcpy(dst, src, bytes); }
static void cpu_zero(pcnn_backend *be, void *p, size_t bytes)
{
    if (bytes % sizeof(float))
        memset(p, 0, bytes);
    else
        nn_zero(p, bytes / sizeof(float));
}

static void cpu_copy_block(pcnn_backend *be, float *dst, size_t dn, size_t dr, const float *src,
                           size_t sn, size_t sr, int N, int rows, size_t len)
{
    for (int n = 0; n < N; n++)
        for (int r = 0; r < rows; r++)
            memcpy(dst + (size_t)n * dn + (size_t)r * dr, src + (size_t)n * sn + (size_t)r * sr,
                   len * sizeof(float));
}

/* The cached sampler's position table on the CPU (nn_backend.h copy_table; the twin of
 * the CUDA one, test_sampler compares it with the plain sampler): "device" memory is host
 * memory, so the table's words are the addresses themselves and the copies are
 * copy_block's; the async copies are plain ones, and no graphs. */
static void *cpu_host_alloc(pcnn_backend *be, size_t bytes) { return pcnn_xmalloc(bytes ? bytes : 1); }
static void cpu_host_release(pcnn_backend *be, void *p) { free(p); }
static void cpu_sync(pcnn_backend *be) { (void)be; }

static void cpu_copy_table(pcnn_backend *be, const uint64_t *tab, int e, int ne, size_t dn,
                           size_t dr, size_t sn, size_t sr, int N, int rows, size_t len)
{
    for (int q = e; q < e + ne; q++)
        cpu_copy_block(be, (float *)(uintptr_t)tab[2 * q], dn, dr,
                       (const float *)(uintptr_t)tab[2 * q + 1], sn, sr, N, rows, len);
}

static void cpu_input_fwd_tab(pcnn_backend *be, void *st, const float *wp, const float *x,
                              const int32_t *labels, int N, const uint64_t *rc, float *u, float *ul)
{
    be->input_fwd(be, st, wp, x, labels, N, (int)rc[0], (int)rc[1], u, ul);
}

/* Windows of the cached sampler: plain CPU backends (each with its own scratch, so
 * that the sampler's threads can each have theirs). */
static pcnn_backend *cpu_window_new(pcnn_backend *be, int max_batch, int H, int W)
{
    return pcnn_backend_cpu_new(be->t, max_batch, H, W);
}

static void *cpu_state_new(pcnn_backend *be, int op, const void *ref, int h, int w)
{
    cpu_state *s = pcnn_xcalloc(1, sizeof *s);
    size_t rows = (size_t)be->max_batch * h * w;
    size_t F = (size_t)be->t->F;
    s->op = op;
    if (op == PCNN_OP_INPUT) {
        s->xin = falloc(rows * 4);
    } else if (op == PCNN_OP_GATED) {
        const pcnn_blockref *b = ref;
        s->cex = falloc(rows * 2 * F);
        if (b->skip) s->cea = falloc(rows * 2 * (size_t)b->skip * F);
        s->c1 = falloc(rows * F);
        s->hd = falloc(rows * 2 * F);
        s->c2 = falloc(rows * 2 * F);
        if (be->t->cond & PCNN_COND_FILM) s->c2p = falloc(rows * 2 * F);
        s->mask = falloc((size_t)be->max_batch * 2 * F);
    } else if (op == PCNN_OP_OUT) {
        s->e = falloc(rows * F);
    }
    return s;
}

static void cpu_state_free(pcnn_backend *be, void *st)
{
    cpu_state *s = st;
    if (!s) return;
    pcnn_big_free(s->xin);
    pcnn_big_free(s->cex);
    pcnn_big_free(s->cea);
    pcnn_big_free(s->c1);
    pcnn_big_free(s->hd);
    pcnn_big_free(s->c2);
    pcnn_big_free(s->c2p);
    pcnn_big_free(s->c1x);
    pcnn_big_free(s->mask);
    pcnn_big_free(s->e);
    free(s);
}

static void cpu_wn_fwd(pcnn_backend *be, const float *params, float *wp)
{
    const pcnn_param_table *t = be->t;
    memcpy(wp, params, t->total * sizeof *wp);
    for (int i = 0; i < t->nlayers; i++) {
        const pcnn_wnlayer *L = &t->layers[i];
        nn_weightnorm_fwd(wp + L->v, params + L->v, params + L->g, L->rows, L->rowlen);
    }
}

static void cpu_wn_bwd(pcnn_backend *be, const float *params, const float *gp, float *grads)
{
    const pcnn_param_table *t = be->t;
    memcpy(grads, gp, t->total * sizeof *grads);   /* bias and hw slots pass through */
    for (int i = 0; i < t->nlayers; i++) {
        const pcnn_wnlayer *L = &t->layers[i];
        memset(grads + L->v, 0, L->rows * L->rowlen * sizeof *grads);
        memset(grads + L->g, 0, L->rows * sizeof *grads);
        nn_weightnorm_bwd(grads + L->v, grads + L->g, gp + L->v, params + L->v, params + L->g,
                          L->rows, L->rowlen);
    }
}

/* Geometry of a shifted conv of layer L (stride from L) on input (N, h, w):
 * down_shifted (kw odd): pad top kh-1, left/right (kw-1)/2; down_right: top kh-1, left kw-1. */
static nn_conv_geom shifted_geom(const pcnn_wnlayer *L, int N, int h, int w, int down_right)
{
    nn_conv_geom g;
    g.N = N;
    g.H = h;
    g.W = w;
    g.Cin = L->cin;
    g.Cout = L->cout;
    g.kh = L->kh;
    g.kw = L->kw;
    g.s = L->stride;
    g.pt = L->kh - 1;
    g.pl = down_right ? L->kw - 1 : (L->kw - 1) / 2;
    int pr = down_right ? 0 : (L->kw - 1) / 2;
    g.Ho = (h + g.pt - g.kh) / g.s + 1;
    g.Wo = (w + g.pl + pr - g.kw) / g.s + 1;
    return g;
}

static void cpu_input_fwd(pcnn_backend *be, void *st, const float *wp, const float *x,
                          const int32_t *labels, int N, int r0, int c0, float *u, float *ul)
{
    cpu_state *s = st;
    const pcnn_param_table *t = be->t;
    int H = be->H, W = be->W, F = t->F;
    /* xin = concat(x [+ class_map[y] at the window's place], 1) */
    nn_input_fwd(s->xin, x, t->cond & PCNN_COND_INPUT ? wp + t->class_map : NULL, labels, N, H, W,
                 t->H, t->W, r0, c0);
    float *tmp = CTX(be)->s3;
    const pcnn_wnlayer *Lu = &t->layers[t->u_init], *L0 = &t->layers[t->ul_init0],
                       *L1 = &t->layers[t->ul_init1];
    nn_conv_geom g = shifted_geom(Lu, N, H, W, 0);
    nn_conv_fwd(tmp, s->xin, wp + Lu->v, wp + Lu->b, &g, 0, &CTX(be)->ws);
    nn_down_shift(u, tmp, N, H, W, F, 0);
    g = shifted_geom(L0, N, H, W, 0);
    nn_conv_fwd(tmp, s->xin, wp + L0->v, wp + L0->b, &g, 0, &CTX(be)->ws);
    nn_down_shift(ul, tmp, N, H, W, F, 0);
    g = shifted_geom(L1, N, H, W, 1);
    nn_conv_fwd(tmp, s->xin, wp + L1->v, wp + L1->b, &g, 0, &CTX(be)->ws);
    nn_right_shift(ul, tmp, N, H, W, F, 1);
}

static void cpu_input_bwd(pcnn_backend *be, void *st, const float *wp, float *gp, const float *x,
                          const int32_t *labels, int N, const float *du, const float *dul)
{
    cpu_state *s = st;
    const pcnn_param_table *t = be->t;
    int H = be->H, W = be->W, F = t->F;
    size_t n = (size_t)N * H * W * F;
    float *dt = CTX(be)->s3;
    /* d xin (N, H, W, 4), wanted for d class_map only (x itself is data) */
    float *dxin = t->cond & PCNN_COND_INPUT ? CTX(be)->s5 : NULL;
    if (dxin) nn_zero(dxin, (size_t)N * H * W * 4);
    const pcnn_wnlayer *Lu = &t->layers[t->u_init], *L0 = &t->layers[t->ul_init0],
                       *L1 = &t->layers[t->ul_init1];
    nn_zero(dt, n);
    nn_down_shift_bwd(dt, du, N, H, W, F);
    nn_conv_geom g = shifted_geom(Lu, N, H, W, 0);
    nn_conv_bwd(dxin, gp + Lu->v, gp + Lu->b, dt, s->xin, wp + Lu->v, &g, &CTX(be)->ws);
    nn_zero(dt, n);
    nn_down_shift_bwd(dt, dul, N, H, W, F);
    g = shifted_geom(L0, N, H, W, 0);
    nn_conv_bwd(dxin, gp + L0->v, gp + L0->b, dt, s->xin, wp + L0->v, &g, &CTX(be)->ws);
    nn_zero(dt, n);
    nn_right_shift_bwd(dt, dul, N, H, W, F);
    g = shifted_geom(L1, N, H, W, 1);
    nn_conv_bwd(dxin, gp + L1->v, gp + L1->b, dt, s->xin, wp + L1->v, &g, &CTX(be)->ws);
    /* xin = x + class_map[y]: d class_map[y] = sum over the images of class y of d xin */
    if (dxin) nn_class_map_bwd(gp + t->class_map, dxin, labels, N, H, W);
}

/* The gated block; xmode 0, or PCNN_X_KEEP / PCNN_X_REUSE (gated_fwd_x, nn_backend.h). */
static void gated_fwd(pcnn_backend *be, void *st, const pcnn_blockref *b, const float *wp,
                      const float *x, const float *a1, const float *a2, const int32_t *labels,
                      int N, int h, int w, const pcnn_dropout *drop, int xmode, float *out)
{
    cpu_state *s = st;
    const pcnn_param_table *t = be->t;
    const int F = t->F;
    const size_t rows = (size_t)N * h * w;
    const pcnn_wnlayer *Li = &t->layers[b->conv_input], *Lo = &t->layers[b->conv_out];
    /* c1 = conv_input(concat_elu(x)) [+ nin_skip(concat_elu(concat(a1, a2)))]. The first term
     * depends on x alone: REUSE takes it from the KEEP call (c1 itself holds it when the
     * block has no skip, since nothing after this writes c1; c1x when it has one). */
    if (xmode != PCNN_X_REUSE) {
        nn_concat_elu_fwd(s->cex, x, F, NULL, 0, rows);
        nn_conv_geom gi = shifted_geom(Li, N, h, w, b->ul);
        nn_conv_fwd(s->c1, s->cex, wp + Li->v, wp + Li->b, &gi, 0, &CTX(be)->ws);
    }
    if (b->skip && xmode == PCNN_X_KEEP) {
        if (!s->c1x) s->c1x = falloc((size_t)be->max_batch * h * w * F);
        memcpy(s->c1x, s->c1, rows * F * sizeof(float));
    } else if (b->skip && xmode == PCNN_X_REUSE) {
        memcpy(s->c1, s->c1x, rows * F * sizeof(float));
    }
    if (b->skip) {
        const pcnn_wnlayer *Ls = &t->layers[b->nin_skip];
        nn_concat_elu_fwd(s->cea, a1, F, b->skip == 2 ? a2 : NULL, b->skip == 2 ? F : 0, rows);
        nn_linear_fwd(s->c1, s->cea, wp + Ls->v, wp + Ls->b, rows, Ls->cin, F, 1);
    }
    /* c2 = conv_out(dropout(concat_elu(c1))) + hw[y], or film: c2 (1 + hs[y]) + hw[y] */
    nn_concat_elu_fwd(s->hd, s->c1, F, NULL, 0, rows);
    if (drop) {
        nn_dropout_mask(s->mask, N, 2 * F, drop->seed, drop->step, drop->block, drop->rep,
                        drop->nrep, drop->img0);
        nn_dropout_apply(s->hd, s->mask, N, (size_t)h * w, 2 * F);
    }
    nn_conv_geom go = shifted_geom(Lo, N, h, w, b->ul);
    nn_conv_fwd(s->c2, s->hd, wp + Lo->v, wp + Lo->b, &go, 0, &CTX(be)->ws);
    if (t->cond & PCNN_COND_FILM)
        nn_film_fwd(s->c2, s->c2p, wp + b->hs, wp + b->hw, labels, N, (size_t)h * w, 2 * F);
    else
        nn_class_fwd(s->c2, wp + b->hw, labels, N, (size_t)h * w, 2 * F);
    nn_gate_fwd(out, x, s->c2, rows, F);
    s->dropped = drop != NULL;
}

static void cpu_gated_fwd(pcnn_backend *be, void *st, const pcnn_blockref *b, const float *wp,
                          const float *x, const float *a1, const float *a2, const int32_t *labels,
                          int N, int h, int w, const pcnn_dropout *drop, float *out)
{
    gated_fwd(be, st, b, wp, x, a1, a2, labels, N, h, w, drop, 0, out);
}

static void cpu_gated_fwd_x(pcnn_backend *be, void *st, const pcnn_blockref *b, const float *wp,
                            const float *x, const float *a1, const float *a2,
                            const int32_t *labels, int N, int h, int w, int xmode, float *out)
{
    gated_fwd(be, st, b, wp, x, a1, a2, labels, N, h, w, NULL, xmode, out);
}

static void cpu_gated_bwd(pcnn_backend *be, void *st, const pcnn_blockref *b, const float *wp,
                          float *gp, const float *x, const float *a1, const float *a2,
                          const int32_t *labels, int N, int h, int w, const float *dout, float *dx,
                          float *da1, float *da2)
{
    cpu_state *s = st;
    cpu_ctx *c = CTX(be);
    const pcnn_param_table *t = be->t;
    const int F = t->F;
    const size_t rows = (size_t)N * h * w;
    const pcnn_wnlayer *Li = &t->layers[b->conv_input], *Lo = &t->layers[b->conv_out];
    float *dc2 = c->s1, *dh = c->s2, *dc1 = c->s3, *dcex = c->s4, *dcea = c->s5;
    nn_gate_bwd(dx, dc2, dout, s->c2, rows, F);
    nn_class_bwd(gp + b->hw, dc2, labels, N, (size_t)h * w, 2 * F);
    if (t->cond & PCNN_COND_FILM)   /* d hs, then dc2 becomes d/d(c2 before the term) */
        nn_film_bwd(gp + b->hs, dc2, s->c2p, wp + b->hs, labels, N, (size_t)h * w, 2 * F);
    nn_conv_geom go = shifted_geom(Lo, N, h, w, b->ul);
    nn_conv_bwd_set(dh, gp + Lo->v, gp + Lo->b, dc2, s->hd, wp + Lo->v, &go, &c->ws);
    if (s->dropped) nn_dropout_apply(dh, s->mask, N, (size_t)h * w, 2 * F);
    nn_zero(dc1, rows * F);
    nn_concat_elu_bwd(dc1, NULL, dh, s->c1, F, NULL, 0, rows);
    if (b->skip) {
        const pcnn_wnlayer *Ls = &t->layers[b->nin_skip];
        nn_linear_bwd_set(dcea, gp + Ls->v, gp + Ls->b, dc1, s->cea, wp + Ls->v, rows, Ls->cin, F);
        nn_concat_elu_bwd(da1, da2, dcea, a1, F, b->skip == 2 ? a2 : NULL, b->skip == 2 ? F : 0,
                          rows);
    }
    nn_conv_geom gi = shifted_geom(Li, N, h, w, b->ul);
    nn_conv_bwd_set(dcex, gp + Li->v, gp + Li->b, dc1, s->cex, wp + Li->v, &gi, &c->ws);
    nn_concat_elu_bwd(dx, NULL, dcex, x, F, NULL, 0, rows);
}

static void cpu_down_fwd(pcnn_backend *be, void *st, const pcnn_wnlayer *L, const float *wp,
                         const float *in, int N, int h, int w, float *out)
{
    nn_conv_geom g = shifted_geom(L, N, h, w, L->kw == 2);
    nn_conv_fwd(out, in, wp + L->v, wp + L->b, &g, 0, &CTX(be)->ws);
}

static void cpu_down_bwd(pcnn_backend *be, void *st, const pcnn_wnlayer *L, const float *wp,
                         float *gp, const float *in, int N, int h, int w, const float *dout,
                         float *din)
{
    nn_conv_geom g = shifted_geom(L, N, h, w, L->kw == 2);
    nn_conv_bwd(din, gp + L->v, gp + L->b, dout, in, wp + L->v, &g, &CTX(be)->ws);
}

/* down_shifted_deconv (2,3) crops columns [1, 2w+1); down_right_shifted (2,2) [0, 2w). */
static void cpu_up_fwd(pcnn_backend *be, void *st, const pcnn_wnlayer *L, const float *wp,
                       const float *in, int N, int h, int w, float *out)
{
    nn_deconv_fwd(out, in, wp + L->v, wp + L->b, N, h, w, L->cin, L->cout, L->kh, L->kw,
                  (L->kw - 1) / 2 * (L->kw == 3), &CTX(be)->ws);
}

static void cpu_up_bwd(pcnn_backend *be, void *st, const pcnn_wnlayer *L, const float *wp,
                       float *gp, const float *in, int N, int h, int w, const float *dout,
                       float *din)
{
    nn_deconv_bwd(din, gp + L->v, gp + L->b, dout, in, wp + L->v, N, h, w, L->cin, L->cout, L->kh,
                  L->kw, (L->kw - 1) / 2 * (L->kw == 3), &CTX(be)->ws);
}

static void cpu_out_fwd(pcnn_backend *be, void *st, const float *wp, const float *ul, int N,
                        float *logits)
{
    cpu_state *s = st;
    const pcnn_wnlayer *L = &be->t->layers[be->t->nin_out];
    size_t rows = (size_t)N * be->H * be->W;
    nn_elu_fwd(s->e, ul, rows * L->cin);
    nn_linear_fwd(logits, s->e, wp + L->v, wp + L->b, rows, L->cin, L->cout, 0);
}

static void cpu_out_bwd(pcnn_backend *be, void *st, const float *wp, float *gp, const float *ul,
                        int N, const float *dlogits, float *dul)
{
    cpu_state *s = st;
    const pcnn_wnlayer *L = &be->t->layers[be->t->nin_out];
    size_t rows = (size_t)N * be->H * be->W;
    float *de = CTX(be)->s3;
    nn_zero(de, rows * L->cin);
    nn_linear_bwd(de, gp + L->v, gp + L->b, dlogits, s->e, wp + L->v, rows, L->cin, L->cout);
    nn_elu_bwd(dul, de, ul, rows * L->cin);
}

static void cpu_dmol(pcnn_backend *be, const float *logits, const float *x, int N, double *ll,
                     float *dlogits, float scale)
{
    const int M = be->t->M, C = 10 * M;
    const size_t HW = (size_t)be->H * be->W, rows = (size_t)N * HW;
    float *lp = CTX(be)->llpix;
#pragma omp parallel for schedule(static)
    for (size_t r = 0; r < rows; r++) {
        float *d = dlogits ? dlogits + r * C : NULL;
        lp[r] = pcnn_dmol_logp(logits + r * C, x + 3 * r, M, d);
        if (d)
            for (int k = 0; k < C; k++) d[k] *= scale;
    }
    for (int n = 0; n < N; n++) {   /* fixed order: deterministic */
        double sum = 0.0;
        for (size_t p = 0; p < HW; p++) sum += lp[n * HW + p];
        ll[n] = sum;
    }
}

static void cpu_adam(pcnn_backend *be, float *params, const float *grads, float *m, float *v,
                     float *polyak, size_t n, float lr, float beta1, float beta2, float eps,
                     uint64_t t, float decay)
{
    /* PyTorch Adam: m = b1 m + (1-b1) g ; v = b2 v + (1-b2) g^2 ;
     * p -= (lr / (1 - b1^t)) * m / (sqrt(v) / sqrt(1 - b2^t) + eps) */
    double bc1 = 1.0 - pow(beta1, (double)t), bc2 = 1.0 - pow(beta2, (double)t);
    float step = (float)(lr / bc1), rbc2 = (float)sqrt(bc2);
#pragma omp parallel for schedule(static)
    for (size_t i = 0; i < n; i++) {
        float g = grads[i];
        m[i] = beta1 * m[i] + (1.0f - beta1) * g;
        v[i] = beta2 * v[i] + (1.0f - beta2) * g * g;
        params[i] -= step * m[i] / (sqrtf(v[i]) / rbc2 + eps);
        polyak[i] = decay * polyak[i] + (1.0f - decay) * params[i];
    }
}

static void cpu_destroy(pcnn_backend *be)
{
    if (!be) return;
    cpu_ctx *c = CTX(be);
    if (c) {
        pcnn_big_free(c->ws.p);
        pcnn_big_free(c->s1);
        pcnn_big_free(c->s2);
        pcnn_big_free(c->s3);
        pcnn_big_free(c->s4);
        pcnn_big_free(c->s5);
        pcnn_big_free(c->llpix);
        free(c);
    }
    free(be);
}

/* Workspace: the largest per-image im2col / deconv matrix over the layers,
 * times as many images as fit in 16 Mi floats (64 MiB), at least two images (one
 * when the batch is one): a bf16 weight gradient may need two per chunk (nn_layers.c). */
static size_t workspace_floats(const pcnn_param_table *t, int max_batch, int H, int W)
{
    size_t per = 0;
    for (int i = 0; i < t->nlayers; i++) {
        const pcnn_wnlayer *L = &t->layers[i];
        size_t pix = (size_t)H * W, k;
        if (L->kind == PCNN_LAYER_DECONV)
            k = pix / 4 * (size_t)L->cout * L->kh * L->kw;   /* input at most H/2 x W/2 */
        else
            k = pix * (size_t)L->cin * L->kh * L->kw;
        if (k > per) per = k;
    }
    size_t cap = (size_t)16 << 20;
    size_t want = per * (size_t)max_batch;
    if (want < cap) cap = want;
    size_t least = per * (max_batch >= 2 ? 2 : 1);
    if (cap < least) cap = least;
    return cap;
}

/* ---- timed ops (PCNN_PROFILE=1, nn_prof.h): each op's exclusive time (its convolutions
 * and GEMMs are timed inside, by kind) goes to the kind named here. */
#define TIMED(kind, bytes, call)    \
    do {                            \
        NN_PROF_BEGIN;              \
        call;                       \
        NN_PROF_END(kind, 0, bytes); \
    } while (0)
#define ACT(N, h, w, C) (4.0 * (double)(N) * (h) * (w) * (C))   /* bytes of an activation */

static void prof_wn_fwd(pcnn_backend *be, const float *params, float *wp)
{
    TIMED(NN_PROF_WEIGHTNORM, 8.0 * be->t->total, cpu_wn_fwd(be, params, wp));
}
static void prof_wn_bwd(pcnn_backend *be, const float *params, const float *gp, float *grads)
{
    TIMED(NN_PROF_WEIGHTNORM, 12.0 * be->t->total, cpu_wn_bwd(be, params, gp, grads));
}
static void prof_input_fwd(pcnn_backend *be, void *st, const float *wp, const float *x,
                           const int32_t *labels, int N, int r0, int c0, float *u, float *ul)
{
    TIMED(NN_PROF_ELEMENTWISE, ACT(N, be->H, be->W, 4 * be->t->F),
          cpu_input_fwd(be, st, wp, x, labels, N, r0, c0, u, ul));
}
static void prof_input_bwd(pcnn_backend *be, void *st, const float *wp, float *gp, const float *x,
                           const int32_t *labels, int N, const float *du, const float *dul)
{
    TIMED(NN_PROF_ELEMENTWISE, ACT(N, be->H, be->W, 4 * be->t->F),
          cpu_input_bwd(be, st, wp, gp, x, labels, N, du, dul));
}
static void prof_gated_fwd(pcnn_backend *be, void *st, const pcnn_blockref *b, const float *wp,
                           const float *x, const float *a1, const float *a2, const int32_t *labels,
                           int N, int h, int w, const pcnn_dropout *drop, float *out)
{
    TIMED(NN_PROF_ELEMENTWISE, ACT(N, h, w, 16 * be->t->F),
          cpu_gated_fwd(be, st, b, wp, x, a1, a2, labels, N, h, w, drop, out));
}
static void prof_gated_fwd_x(pcnn_backend *be, void *st, const pcnn_blockref *b, const float *wp,
                             const float *x, const float *a1, const float *a2,
                             const int32_t *labels, int N, int h, int w, int xmode, float *out)
{
    TIMED(NN_PROF_ELEMENTWISE, ACT(N, h, w, (xmode == PCNN_X_REUSE ? 12 : 16) * be->t->F),
          cpu_gated_fwd_x(be, st, b, wp, x, a1, a2, labels, N, h, w, xmode, out));
}
static void prof_gated_bwd(pcnn_backend *be, void *st, const pcnn_blockref *b, const float *wp,
                           float *gp, const float *x, const float *a1, const float *a2,
                           const int32_t *labels, int N, int h, int w, const float *dout, float *dx,
                           float *da1, float *da2)
{
    TIMED(NN_PROF_ELEMENTWISE, ACT(N, h, w, 24 * be->t->F),
          cpu_gated_bwd(be, st, b, wp, gp, x, a1, a2, labels, N, h, w, dout, dx, da1, da2));
}
static void prof_down_fwd(pcnn_backend *be, void *st, const pcnn_wnlayer *L, const float *wp,
                          const float *in, int N, int h, int w, float *out)
{
    TIMED(NN_PROF_ELEMENTWISE, 0, cpu_down_fwd(be, st, L, wp, in, N, h, w, out));
}
static void prof_down_bwd(pcnn_backend *be, void *st, const pcnn_wnlayer *L, const float *wp,
                          float *gp, const float *in, int N, int h, int w, const float *dout,
                          float *din)
{
    TIMED(NN_PROF_ELEMENTWISE, 0, cpu_down_bwd(be, st, L, wp, gp, in, N, h, w, dout, din));
}
static void prof_up_fwd(pcnn_backend *be, void *st, const pcnn_wnlayer *L, const float *wp,
                        const float *in, int N, int h, int w, float *out)
{
    TIMED(NN_PROF_ELEMENTWISE, 0, cpu_up_fwd(be, st, L, wp, in, N, h, w, out));
}
static void prof_up_bwd(pcnn_backend *be, void *st, const pcnn_wnlayer *L, const float *wp,
                        float *gp, const float *in, int N, int h, int w, const float *dout,
                        float *din)
{
    TIMED(NN_PROF_ELEMENTWISE, 0, cpu_up_bwd(be, st, L, wp, gp, in, N, h, w, dout, din));
}
static void prof_out_fwd(pcnn_backend *be, void *st, const float *wp, const float *ul, int N,
                         float *logits)
{
    TIMED(NN_PROF_ELEMENTWISE, ACT(N, be->H, be->W, 2 * be->t->F), cpu_out_fwd(be, st, wp, ul, N, logits));
}
static void prof_out_bwd(pcnn_backend *be, void *st, const float *wp, float *gp, const float *ul,
                         int N, const float *dlogits, float *dul)
{
    TIMED(NN_PROF_ELEMENTWISE, ACT(N, be->H, be->W, 3 * be->t->F),
          cpu_out_bwd(be, st, wp, gp, ul, N, dlogits, dul));
}
static void prof_dmol(pcnn_backend *be, const float *logits, const float *x, int N, double *ll,
                      float *dlogits, float scale)
{
    TIMED(NN_PROF_DMOL, ACT(N, be->H, be->W, (dlogits ? 20 : 10) * be->t->M + 3),
          cpu_dmol(be, logits, x, N, ll, dlogits, scale));
}
static void prof_adam(pcnn_backend *be, float *params, const float *grads, float *m, float *v,
                      float *polyak, size_t n, float lr, float beta1, float beta2, float eps,
                      uint64_t t, float decay)
{
    TIMED(NN_PROF_ADAM, 36.0 * n,
          cpu_adam(be, params, grads, m, v, polyak, n, lr, beta1, beta2, eps, t, decay));
}

/* PCNN_PREC_* (nn_isa.h) for the GEMMs: bf16 needs the avx512bf16 path, which a CPU
 * without AVX512_BF16 (or PCNN_ISA) rules out. */
static int cpu_set_precision(pcnn_backend *be, int prec)
{
    if (!nn_set_precision(prec)) return 0;
    pcnn_warn("--precision bf16 needs a CPU with AVX512_BF16; this one runs the %s path%s "
              "(use --precision fp32)", nn_isa_name(nn_isa()),
              getenv("PCNN_ISA") ? ", as PCNN_ISA allows" : "");
    return -1;
}

pcnn_backend *pcnn_backend_cpu_new(const pcnn_param_table *t, int max_batch, int H, int W)
{
    pcnn_threads_init();
    nn_prof_init();   /* PCNN_PROFILE=1: the time breakdown on stderr at exit */
    pcnn_backend *be = pcnn_xcalloc(1, sizeof *be);
    cpu_ctx *c = pcnn_xcalloc(1, sizeof *c);
    size_t rows = (size_t)max_batch * H * W, F = (size_t)t->F;
    be->name = "cpu";
    be->ctx = c;
    be->t = t;
    be->max_batch = max_batch;
    be->H = H;
    be->W = W;
    c->ws.cap = workspace_floats(t, max_batch, H, W);
    c->ws.p = falloc(c->ws.cap);
    size_t wide = (size_t)(10 * t->M) > 4 * F ? (size_t)(10 * t->M) : 4 * F;
    c->s1 = falloc(rows * 2 * F);
    c->s2 = falloc(rows * 2 * F);
    c->s3 = falloc(rows * (F > 4 ? F : 4));
    c->s4 = falloc(rows * 2 * F);
    c->s5 = falloc(rows * wide);
    c->llpix = falloc(rows);
    be->destroy = cpu_destroy;
    be->alloc = cpu_alloc;
    be->release = cpu_release;
    be->upload = cpu_copy;
    be->download = cpu_copy;
    be->zero = cpu_zero;
    be->copy_block = cpu_copy_block;
    be->window_new = cpu_window_new;
    be->windows_threaded = 1;
    be->host_alloc = cpu_host_alloc;
    be->host_release = cpu_host_release;
    be->upload_async = cpu_copy;
    be->download_async = cpu_copy;
    be->sync = cpu_sync;
    be->copy_table = cpu_copy_table;
    be->input_fwd_tab = cpu_input_fwd_tab;
    be->sample_graphs = 0;   /* the table only when asked (tests: the CUDA path's twin) */
    be->score_wide = 0;   /* small batches in cache; gated_fwd_x shares the class-free part */
    be->state_new = cpu_state_new;
    be->state_free = cpu_state_free;
    be->wn_fwd = cpu_wn_fwd;
    be->wn_bwd = cpu_wn_bwd;
    be->input_fwd = cpu_input_fwd;
    be->input_bwd = cpu_input_bwd;
    be->gated_fwd = cpu_gated_fwd;
    be->gated_fwd_x = cpu_gated_fwd_x;
    be->gated_bwd = cpu_gated_bwd;
    be->down_fwd = cpu_down_fwd;
    be->down_bwd = cpu_down_bwd;
    be->up_fwd = cpu_up_fwd;
    be->up_bwd = cpu_up_bwd;
    be->out_fwd = cpu_out_fwd;
    be->out_bwd = cpu_out_bwd;
    be->dmol = cpu_dmol;
    be->adam = cpu_adam;
    be->set_precision = cpu_set_precision;
    if (nn_prof_on) {
        be->wn_fwd = prof_wn_fwd;
        be->wn_bwd = prof_wn_bwd;
        be->input_fwd = prof_input_fwd;
        be->input_bwd = prof_input_bwd;
        be->gated_fwd = prof_gated_fwd;
        be->gated_fwd_x = prof_gated_fwd_x;
        be->gated_bwd = prof_gated_bwd;
        be->down_fwd = prof_down_fwd;
        be->down_bwd = prof_down_bwd;
        be->up_fwd = prof_up_fwd;
        be->up_bwd = prof_up_bwd;
        be->out_fwd = prof_out_fwd;
        be->out_bwd = prof_out_bwd;
        be->dmol = prof_dmol;
        be->adam = prof_adam;
    }
    return be;
}
