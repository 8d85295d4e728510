/*
 * net_sample.c — the cached sampler (sample.h; Ramachandran et al. 2017, "Fast
 * Generation for Convolutional Autoregressive Models"): the same images as the
 * naive sampler, bit for bit, computing at each pixel position only the rows
 * (and column prefixes) of the activations that the new position changes.
 *
 * Why it is exact. Every op of the graph (net_internal.h) is row-causal, and
 * the ul stream is also column-causal:
 *   GATED  output row r reads input rows r-2..r (two stacked 2-row convs);
 *          ul blocks (2x2 down-right convs) read columns <= c only.
 *   INPUT  row r reads pixel rows r-2..r; the ul part at column c reads pixel
 *          row r-1 up to column c+1 and row r up to c-1.
 *   DOWN   (stride 2, 2-row kernel, top pad 1) output row r reads input rows
 *          2r-1, 2r; the ul one (2x2, left pad 1) columns 2c-1, 2c.
 *   UP     (transposed, stride 2) level-l row y reads level-(l+1) row y/2 only;
 *          the ul one (2x2) column c/2 only.
 *   OUT    pointwise.
 * Following these through the graph: a u-stream row r at level l (size H/2^l)
 * depends on pixel rows < 2^l r only; a ul-stream row r at level l on pixel
 * rows <= 2^l r (and at level 0 on row r left of the column only). So at pixel
 * position (i, j), with pixels before (i, j) in raster order sampled and the
 * rest 0 (exactly the naive sampler's x), the cache below holds, for every
 * node and every row the output at (i, j) reads, the value a full forward pass
 * would give now, once these rows are recomputed (op list order):
 *   u stream, at j = 0: level-l row i/2^l when 2^l divides i (final from then on);
 *   ul stream, level l row i/2^l when 2^l divides i: columns [0, roundup4(j+1)/2^l)
 *     (enough for the output at (i, j): level 0 reads level 1 at column j/2,
 *     level 1 reads level 2 at j/4);
 *   ul stream, level l >= 1 at j = 0 of row i = 2^l r + 1: the whole row r once
 *     more (its pixel row 2^l r is complete now; final from then on);
 *   INPUT: rows of pixel row i (full width, it is cheap); OUT: the pixel (i, j).
 * Each recomputed row comes from the block-level backend op (nn_backend.h) run
 * on a window of input rows gathered into contiguous scratch: rows
 * [max(0, r-2), r] for GATED/INPUT (so the top padding is real), the
 * even-aligned [2r-2, 2r+2) for DOWN, row r/2 for UP, a column prefix for the
 * ul stream (the left padding is real); only the wanted output row goes back
 * to the cache. Every output element is then the same sum over the same im2col
 * values as in the full pass; the GEMM gives the same per-element result for
 * fewer rows (OpenBLAS: per element the same K order; test_sampler proves it
 * on the configurations it runs).
 *
 * The cache is the net's own node buffers (full size); the window ops have
 * their own backend states. Window gathers copy device memory with memcpy, so
 * this runs on the CPU backend; on another backend it falls back to the naive
 * sampler.
 */
#include "net_internal.h"
#include "nn_dmol.h"
#include "sample.h"
#include "util.h"

#include <stdlib.h>
#include <string.h>

enum { ST_U = 0, ST_UL = 1, ST_BOTH = 2 };

typedef struct win_op {
    int lev;        /* level of the output (0: H x W, 1: H/2, 2: H/4) */
    int stream;     /* ST_U, ST_UL, ST_BOTH (INPUT) */
    int hwin;       /* rows of the input window */
    void *st;       /* backend state for the window */
} win_op;

typedef struct sampler {
    pcnn_net *net;
    int N, F, H, W, M;
    pcnn_backend *bin, *bout;     /* window backends: INPUT (3 x W), OUT (1 x 1) */
    win_op *wo;                   /* one per net op */
    float *in, *a1, *a2, *out, *out2;   /* device (max_batch, 4, W, F) windows */
    float *xwin, *hxwin;          /* device / host (max_batch, 3, W, 3) */
    float *pix, *logits;          /* device (max_batch, F), (max_batch, 10M) */
    float *hlogits;               /* host (max_batch, 10M) */
} sampler;

static int level_of(const pcnn_net *net, int h)
{
    int l = 0;
    while ((net->H >> l) > h) l++;
    return l;
}

static int min_i(int a, int b) { return a < b ? a : b; }
static int max_i(int a, int b) { return a > b ? a : b; }

/* Row of level l (or -1) to recompute at position (i, j) for a stream, and its
 * width (columns [0, *width)). See the header comment. */
static int due(int stream, int l, int i, int j, int W, int *width)
{
    int m = (1 << l) - 1, Wl = W >> l;
    if (stream == ST_U) {
        *width = Wl;
        return j == 0 && (i & m) == 0 ? i >> l : -1;
    }
    if ((i & m) == 0) {
        int pre = (j + 1 + 3) / 4 * 4;   /* roundup4(j + 1) <= W */
        *width = min_i(pre, W) >> l;
        return i >> l;
    }
    *width = Wl;
    return j == 0 && (i & m) == 1 ? i >> l : -1;
}

/* dst (N, hwin, wl, F) <- rows [s, s + hwin), columns [0, wl) of node (N, h, w, F). */
static void gather(const sampler *S, float *dst, const pcnn_node *nd, int s, int hwin, int wl)
{
    size_t F = (size_t)S->F;
    for (int n = 0; n < S->N; n++)
        for (int r = 0; r < hwin; r++)
            memcpy(dst + (((size_t)n * hwin + r) * wl) * F,
                   nd->val + (((size_t)n * nd->h + s + r) * nd->w) * F, (size_t)wl * F * sizeof(float));
}

/* Row `row`, columns [0, wl) of node <- row rw of the window src (N, hwin, wl, F). */
static void scatter(const sampler *S, pcnn_node *nd, int row, const float *src, int hwin, int rw, int wl)
{
    size_t F = (size_t)S->F;
    for (int n = 0; n < S->N; n++)
        memcpy(nd->val + (((size_t)n * nd->h + row) * nd->w) * F,
               src + (((size_t)n * hwin + rw) * wl) * F, (size_t)wl * F * sizeof(float));
}

static sampler *sampler_new(pcnn_net *net)
{
    sampler *S = pcnn_xcalloc(1, sizeof *S);
    pcnn_backend *be = net->be;
    S->net = net;
    S->F = net->F;
    S->H = net->H;
    S->W = net->W;
    S->M = net->M;
    int B = net->max_batch;
    S->bin = net->be_new(net->t, B, 3, net->W);
    S->bout = net->be_new(net->t, B, 1, 1);
    if (!S->bin || !S->bout) pcnn_die("cannot make the window backends of the cached sampler");
    S->wo = pcnn_xcalloc((size_t)net->nops, sizeof *S->wo);
    for (int k = 0; k < net->nops; k++) {
        const pcnn_op *o = &net->ops[k];
        win_op *w = &S->wo[k];
        int lin = level_of(net, o->h);
        switch (o->kind) {
        case PCNN_OP_INPUT:
            w->lev = 0, w->stream = ST_BOTH, w->hwin = 3;
            w->st = S->bin->state_new(S->bin, PCNN_OP_INPUT, NULL, 3, net->W);
            break;
        case PCNN_OP_GATED:
            w->lev = lin, w->stream = o->b->ul ? ST_UL : ST_U, w->hwin = min_i(3, o->h);
            w->st = be->state_new(be, PCNN_OP_GATED, o->b, w->hwin, o->w);
            break;
        case PCNN_OP_DOWN:
            w->lev = lin + 1, w->stream = o->L->kw == 2 ? ST_UL : ST_U, w->hwin = min_i(4, o->h);
            w->st = be->state_new(be, PCNN_OP_DOWN, o->L, w->hwin, o->w);
            break;
        case PCNN_OP_UP:
            w->lev = lin - 1, w->stream = o->L->kw == 2 ? ST_UL : ST_U, w->hwin = 1;
            w->st = be->state_new(be, PCNN_OP_UP, o->L, 1, o->w);
            break;
        case PCNN_OP_OUT:
            w->lev = 0, w->stream = ST_UL, w->hwin = 1;
            w->st = S->bout->state_new(S->bout, PCNN_OP_OUT, o->L, 1, 1);
            break;
        }
    }
    size_t win = (size_t)B * 4 * net->W * net->F * sizeof(float);
    S->in = be->alloc(be, win);
    S->a1 = be->alloc(be, win);
    S->a2 = be->alloc(be, win);
    S->out = be->alloc(be, win);
    S->out2 = be->alloc(be, win);
    S->xwin = be->alloc(be, (size_t)B * 3 * net->W * 3 * sizeof(float));
    S->hxwin = pcnn_xmalloc((size_t)B * 3 * net->W * 3 * sizeof(float));
    S->pix = be->alloc(be, (size_t)B * net->F * sizeof(float));
    S->logits = be->alloc(be, (size_t)B * 10 * net->M * sizeof(float));
    S->hlogits = pcnn_xmalloc((size_t)B * 10 * net->M * sizeof(float));
    return S;
}

static void sampler_free(sampler *S)
{
    if (!S) return;
    pcnn_net *net = S->net;
    pcnn_backend *be = net->be;
    for (int k = 0; k < net->nops; k++) {
        int kind = net->ops[k].kind;
        pcnn_backend *owner = kind == PCNN_OP_INPUT ? S->bin : kind == PCNN_OP_OUT ? S->bout : be;
        owner->state_free(owner, S->wo[k].st);
    }
    float *dev[] = {S->in, S->a1, S->a2, S->out, S->out2, S->xwin, S->pix, S->logits};
    for (size_t k = 0; k < sizeof dev / sizeof dev[0]; k++) be->release(be, dev[k]);
    free(S->hxwin);
    free(S->hlogits);
    free(S->wo);
    S->bin->destroy(S->bin);
    S->bout->destroy(S->bout);
    free(S);
}

/* Recomputes what op k owes position (i, j); x is the host image batch (N, H, W, 3). */
static void run_op(sampler *S, int k, int i, int j, const float *x)
{
    pcnn_net *net = S->net;
    pcnn_backend *be = net->be;
    const pcnn_op *o = &net->ops[k];
    const win_op *w = &S->wo[k];
    const float *wp = net->wp;
    const int N = S->N, W = S->W;
    int width, r;
    switch (o->kind) {
    case PCNN_OP_INPUT: {
        /* pixel rows [s, s + 3), full width, from the host image */
        int s = max_i(0, i - 2);
        size_t rowf = (size_t)W * 3;
        for (int n = 0; n < N; n++)
            memcpy(S->hxwin + (size_t)n * 3 * rowf, x + ((size_t)n * S->H + s) * rowf,
                   3 * rowf * sizeof(float));
        be->upload(be, S->xwin, S->hxwin, (size_t)N * 3 * rowf * sizeof(float));
        S->bin->input_fwd(S->bin, w->st, wp, S->xwin, N, S->out, S->out2);
        if (j == 0) scatter(S, &net->nodes[o->out], i, S->out, 3, i - s, W);
        scatter(S, &net->nodes[o->out2], i, S->out2, 3, i - s, W);
        return;
    }
    case PCNN_OP_GATED: {
        if ((r = due(w->stream, w->lev, i, j, W, &width)) < 0) return;
        int s = max_i(0, r - w->hwin + 1);
        gather(S, S->in, &net->nodes[o->in], s, w->hwin, width);
        if (o->a1 >= 0) gather(S, S->a1, &net->nodes[o->a1], s, w->hwin, width);
        if (o->a2 >= 0) gather(S, S->a2, &net->nodes[o->a2], s, w->hwin, width);
        be->gated_fwd(be, w->st, o->b, wp, S->in, o->a1 >= 0 ? S->a1 : NULL,
                      o->a2 >= 0 ? S->a2 : NULL, net->labels, N, w->hwin, width, NULL, S->out);
        scatter(S, &net->nodes[o->out], r, S->out, w->hwin, r - s, width);
        return;
    }
    case PCNN_OP_DOWN: {
        /* output row r reads input rows 2r-1, 2r: the even-aligned window
         * [s, s + hwin) gives hwin/2 output rows; row r is window row (2r - s)/2 */
        if ((r = due(w->stream, w->lev, i, j, W, &width)) < 0) return;
        int s = max_i(0, 2 * r - w->hwin + 2);
        gather(S, S->in, &net->nodes[o->in], s, w->hwin, 2 * width);
        be->down_fwd(be, w->st, o->L, wp, S->in, N, w->hwin, 2 * width, S->out);
        scatter(S, &net->nodes[o->out], r, S->out, w->hwin / 2, (2 * r - s) / 2, width);
        return;
    }
    case PCNN_OP_UP:
        /* output row r reads input row r/2 only: one input row gives rows 2(r/2), 2(r/2)+1 */
        if ((r = due(w->stream, w->lev, i, j, W, &width)) < 0) return;
        gather(S, S->in, &net->nodes[o->in], r / 2, 1, width / 2);
        be->up_fwd(be, w->st, o->L, wp, S->in, N, 1, width / 2, S->out);
        scatter(S, &net->nodes[o->out], r, S->out, 2, r % 2, width);
        return;
    case PCNN_OP_OUT: {
        const pcnn_node *ul = &net->nodes[o->in];
        size_t F = (size_t)S->F;
        for (int n = 0; n < N; n++)
            memcpy(S->pix + n * F, ul->val + (((size_t)n * S->H + i) * W + j) * F, F * sizeof(float));
        S->bout->out_fwd(S->bout, w->st, wp, S->pix, N, S->logits);
        be->download(be, S->hlogits, S->logits, (size_t)N * 10 * S->M * sizeof(float));
        return;
    }
    }
}

/* Samples N <= max_batch images into x (N, H, W, 3), host. */
static void sample_batch(sampler *S, const int32_t *labels, const uint64_t *keys, int N,
                         uint64_t seed, float *x, pcnn_progress *progress, uint64_t base)
{
    pcnn_net *net = S->net;
    pcnn_backend *be = net->be;
    const int H = S->H, W = S->W, M = S->M;
    const size_t per_pixel = (size_t)10 * M;
    S->N = N;
    memset(x, 0, (size_t)N * H * W * 3 * sizeof *x);
    pcnn_net_upload_labels(net, labels, N);
    /* stale rows are never read for a wanted output; zero them anyway */
    for (int k = 0; k < net->nnodes; k++)
        be->zero(be, net->nodes[k].val,
                 (size_t)N * net->nodes[k].h * net->nodes[k].w * S->F * sizeof(float));
    for (int i = 0; i < H; i++) {
        for (int j = 0; j < W; j++) {
            for (int k = 0; k < net->nops; k++) run_op(S, k, i, j, x);
            for (int n = 0; n < N; n++) {
                size_t p = ((size_t)n * H + i) * W + j;
                uint64_t stream = (keys[n] * (uint64_t)H + (uint64_t)i) * (uint64_t)W + (uint64_t)j;
                pcnn_dmol_sample(S->hlogits + (size_t)n * per_pixel, M, seed, stream, x + p * 3);
            }
        }
        if (progress) pcnn_progress_update(progress, base + (uint64_t)N * (uint64_t)(i + 1) / (uint64_t)H);
    }
}

void pcnn_sample_cached(pcnn_net *net, const pcnn_model_file *m, const int32_t *labels,
                        const uint64_t *keys, int N, uint64_t seed, int use_polyak, float *x,
                        pcnn_progress *progress)
{
    if (strcmp(net->be->name, "cpu") != 0) {
        pcnn_sample_naive(net, m, labels, keys, N, seed, use_polyak, x, progress);
        return;
    }
    if ((int)m->H != net->H || (int)m->W != net->W || (int)m->M != net->M)
        pcnn_die("internal error: model sizes differ from the network's");
    pcnn_net_use_weights(net, use_polyak);
    sampler *S = sampler_new(net);
    size_t img = (size_t)net->H * net->W * 3;
    uint64_t base = progress ? progress->done : 0;
    for (int n0 = 0; n0 < N; n0 += net->max_batch) {
        int nb = min_i(N - n0, net->max_batch);
        sample_batch(S, labels + n0, keys + n0, nb, seed, x + (size_t)n0 * img, progress,
                     base + (uint64_t)n0);
    }
    sampler_free(S);
}
