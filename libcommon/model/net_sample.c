/*
 * net_sample.c — the cached sampler (sample.h; Ramachandran et al. 2017, "Fast
 * Generation for Convolutional Autoregressive Models"): the same images as the
 * naive sampler, bit for bit, computing at each pixel position only what the
 * new pixel changes: the u stream one row per image row, the ul stream one
 * pixel per level and position.
 *
 * Why it is exact. Every op of the graph (net_internal.h) is row-causal, and
 * the ul stream also column-causal:
 *   GATED  output row r reads input rows r-2..r (two stacked 2-row convs);
 *          ul blocks (2x2 down-right convs) read columns c-2..c only.
 *   INPUT  row r reads pixel rows r-2..r; the ul part at (r, c) reads pixel
 *          row r-1 at columns c-1..c+1 and (r, c-1).
 *   DOWN   (stride 2, 2-row kernel, top pad 1) output row r reads input rows
 *          2r-1, 2r; the ul one (2x2, left pad 1) columns 2c-1, 2c.
 *   UP     (transposed, stride 2) level-l row y reads level-(l+1) row y/2 only;
 *          the ul one (2x2) column c/2 only.
 *   OUT    pointwise.
 * The conditioning variants (SPEC §3b) change none of this: film's scale is
 * per pixel inside GATED, and the class map is a fixed function of (y, pixel)
 * added to x, so an INPUT window adds the map's part at its own place (the
 * not yet sampled pixels are x = 0 there, as in the naive sampler).
 * Following these through the graph (the down pass feeds the u stream only
 * from the u stream): a u-stream row r at level l (size H/2^l x W/2^l)
 * depends on pixel rows < 2^l r only; a ul-stream pixel (r, c) at level l on
 * pixel rows < 2^l r and on row 2^l r left of column 2^l c only. So with the
 * pixels before (i, j) in raster order sampled and the rest 0 (exactly the
 * naive sampler's x), these values are final as soon as they are computed:
 *   u stream: level-l row i/2^l at (i, 0) when 2^l divides i;
 *   ul stream: level-l pixel (i/2^l, j/2^l) at (i, j) when 2^l divides i and j;
 * and they are all the output at (i, j) reads (level 0 reads level 1 at
 * (i/2, j/2), level 1 reads level 2 at (i/4, j/4)). The op list is walked in
 * order at every position, recomputing what is due (run_op); INPUT gives its
 * u row at j = 0 and its ul pixel at every position; OUT the pixel (i, j).
 * Each value comes from the block-level backend op (nn_backend.h) run on a
 * window gathered into contiguous scratch: rows [r-2, r] and (ul) columns
 * [c-2, c], moved to start at 0 near the top/left edge so that the padding
 * there is the real one; an even-aligned 4-row (4-column) window for DOWN; one
 * input row (pixel) for UP. Only the wanted output row (pixel) goes back to
 * the cache; the window's first rows and columns, computed against the window's
 * own padding, are dropped. Every kept output element is then the same sum
 * over the same inputs as in the full pass, and the CPU GEMM (nn_gemm.c)
 * computes each element as one FMA chain in k order whatever the number of
 * rows. test_sampler checks the whole images bit for bit.
 *
 * The cache is the net's own node buffers (full size); the window ops have
 * their own backend states, and INPUT/OUT their own window-sized backends
 * (those ops take the image size from the backend), made by the backend's
 * window_new: on the CPU plain backends, one set per thread; on the GPU
 * backends on the same stream, sharing cuDNN's plans. Gathers and scatters are
 * the backend's copy_block (device memory). On a GPU the window convolutions
 * may sum in another order than the whole image's (cuDNN picks per shape), so
 * there the cached sampler equals the naive one within rounding, not bit for
 * bit (docs/GPU.md); pcnn_cached_logits lets test_gpu_parity measure that.
 *
 * The position table (S->tab; nn_backend.h copy_table, docs/GPU.md). A position's
 * launches differ from another's of the same shape (the same ops due, the same
 * window sizes) only in where they read and write: the gathers' and scatters' places
 * in the cache, the INPUT window's pixels and its (r0, c0) (the class map's place).
 * With the table, the walk over the ops runs twice per position: first it only
 * records (every copy's two addresses and INPUT's (r0, c0) into the host table,
 * the INPUT window's pixels into host memory, and the shape into a key: every
 * launch argument that is not in the table), then it enqueues: the table's
 * upload, the ops with each copy reading its entry (a gated block's three
 * gathers as one launch), the INPUT window's upload before its op, the logits'
 * download last. With graphs (PCNN_CUDA_GRAPH=1: be->sample_graphs) the
 * enqueueing runs once plainly per key, is captured at the second position of
 * that key and replayed at every later one (pos_graph_begin): 6 graphs per batch
 * size for all positions of an image (j = 0 or not; the deepest level due, by i, or
 * i and j, even or divisible by 4). The copies
 * move the same floats as copy_block, so the table gives the plain path's bytes
 * (test_sampler runs it on the CPU, whose backend offers the table without graphs;
 * test_gpu_parity compares graphs with the plain sampler on a GPU). Without
 * sample_graphs (the default) the walk runs once, plainly, as before.
 */
#include "model/net_internal.h"
#include "nn/nn_dmol.h"
#include "model/sample.h"
#include "rng.h"   // defines: pcnn_rng_hash4 (the position's shape key)
#include "util.h"

#include <omp.h>
#include <stdlib.h>
#include <string.h>

enum { ST_U = 0, ST_UL = 1, ST_BOTH = 2 };

typedef struct win_op {
    int lev;        /* level of the output (0: H x W, 1: H/2, 2: H/4) */
    int stream;     /* ST_U, ST_UL, ST_BOTH (INPUT) */
    int hwin, wwin; /* rows and (ul stream) columns of the input window */
    void *st;       /* backend state for the window (INPUT: full-width rows) */
    void *st3;      /* INPUT: state for the 3 x 3 window */
} win_op;

/* One sampler per thread: images [off, off + N) of the batch, its own window
 * backends (a backend's scratch is not shared between threads) and buffers. */
typedef struct sampler {
    pcnn_net *net;
    int off, N, maxN, F, H, W, M;
    pcnn_backend *bw;             /* GATED, DOWN, UP windows (up to 4 x W) */
    pcnn_backend *bin, *bin3, *bout;  /* window backends: INPUT (3 x W), (3 x 3), OUT (1 x 1) */
    win_op *wo;                   /* one per net op */
    float *in, *a1, *a2, *out, *out2;   /* device (max_batch, 4, W, F) windows */
    float *xwin, *hxwin;          /* device / host (max_batch, 3, W, 3) */
    float *pix, *logits;          /* device (max_batch, F), (max_batch, 10M) */
    float *hlogits;               /* host (max_batch, 10M) */
    /* the position table (tab: on; above): tabcap entries of two words, host (host_alloc)
     * and device; ntab entries so far in this walk; launch: the walk enqueues (0: records
     * only); key: the position's shape so far. hxwin and hlogits are host_alloc memory. */
    int tab, launch, ntab, tabcap;
    uint64_t *htab, *dtab;
    uint64_t key;
} sampler;

static int level_of(const pcnn_net *net, int h)
{
    int l = 0;
    while ((net->H >> l) > h) l++;
    return l;
}

static int min_i(int a, int b) { return a < b ? a : b; }
static int max_i(int a, int b) { return a > b ? a : b; }

/* What an op with output at level l owes position (i, j): 0 nothing, 1 the
 * whole row *r (u stream), 2 the pixel (*r, *c) (ul stream). */
static int due(int stream, int l, int i, int j, int *r, int *c)
{
    int m = (1 << l) - 1;
    *r = i >> l;
    *c = j >> l;
    if (stream == ST_U) return j == 0 && (i & m) == 0 ? 1 : 0;
    return (i & m) == 0 && (j & m) == 0 ? 2 : 0;
}

/* The next entry of the position table: two words (written when the walk records). */
static int tab_put(sampler *S, uint64_t a, uint64_t b)
{
    if (S->ntab >= S->tabcap) pcnn_die("internal error: the cached sampler's position table is full");
    int q = S->ntab++;
    if (!S->launch) {
        S->htab[2 * q] = a;
        S->htab[2 * q + 1] = b;
    }
    return q;
}

/* The position's shape: every launch argument that is not in the table. */
static void key_mix(sampler *S, uint64_t a, uint64_t b, uint64_t c)
{
    S->key = pcnn_rng_hash4(S->key, a, b, c, 0x5a);
}

/* ne copies of one shape: for q < ne, dst[q][n dn + r dr + k] = src[q][n sn + r sr + k]
 * (n < N, r < rows, k < len): copy_block each, or (tab) one copy_table over ne entries. */
static void copies(sampler *S, int ne, float *const *dst, size_t dn, size_t dr,
                   const float *const *src, size_t sn, size_t sr, int rows, size_t len)
{
    if (!S->tab) {
        for (int q = 0; q < ne; q++)
            S->bw->copy_block(S->bw, dst[q], dn, dr, src[q], sn, sr, S->N, rows, len);
        return;
    }
    int e = S->ntab;
    for (int q = 0; q < ne; q++) tab_put(S, (uint64_t)(uintptr_t)dst[q], (uint64_t)(uintptr_t)src[q]);
    key_mix(S, (uint64_t)ne << 32 | (uint64_t)rows, dn, dr);
    key_mix(S, sn, sr, len);
    if (S->launch)
        S->bw->copy_table(S->bw, S->dtab, e, ne, dn, dr, sn, sr, S->N, rows, len);
}

/* dst[q] (N, hw, ww, F) <- rows [r0, r0 + hw), columns [c0, c0 + ww) of node nd[q]
 * (N, h, w, F), q < ne <= 3 (nodes of one size). */
static void gather_n(sampler *S, int ne, float *const *dst, const pcnn_node *const *nd, int r0,
                     int hw, int c0, int ww)
{
    size_t F = (size_t)S->F, w = (size_t)nd[0]->w;
    const float *src[3];
    for (int q = 1; q < ne; q++)
        if (nd[q]->h != nd[0]->h || nd[q]->w != nd[0]->w)
            pcnn_die("internal error: a gated block's inputs differ in size");
    for (int q = 0; q < ne; q++) src[q] = nd[q]->val + (((size_t)S->off * nd[q]->h + r0) * w + c0) * F;
    copies(S, ne, dst, (size_t)hw * ww * F, (size_t)ww * F, src, nd[0]->h * w * F, w * F, hw,
           (size_t)ww * F);
}

static void gather(sampler *S, float *dst, const pcnn_node *nd, int r0, int hw, int c0, int ww)
{
    gather_n(S, 1, &dst, &nd, r0, hw, c0, ww);
}

/* Node (row, [col, col + cnt)) <- window src (N, hw, ww, F) at (rw, [cw, cw + cnt)). */
static void scatter(sampler *S, pcnn_node *nd, int row, int col, const float *src, int hw,
                    int ww, int rw, int cw, int cnt)
{
    size_t F = (size_t)S->F, w = (size_t)nd->w;
    float *d = nd->val + (((size_t)S->off * nd->h + row) * w + col) * F;
    const float *s = src + ((size_t)rw * ww + cw) * F;
    copies(S, 1, &d, nd->h * w * F, w * F, &s, (size_t)hw * ww * F, (size_t)ww * F, 1,
           (size_t)cnt * F);
}

/* A sampler for at most B images. */
static sampler *sampler_new(pcnn_net *net, int B, int tab)
{
    sampler *S = pcnn_xcalloc(1, sizeof *S);
    S->tab = tab;
    S->net = net;
    S->maxN = B;
    S->F = net->F;
    S->H = net->H;
    S->W = net->W;
    S->M = net->M;
    pcnn_backend *full = net->be;
    S->bw = full->window_new(full, B, 4, net->W);
    pcnn_backend *be = S->bw;
    S->bin = full->window_new(full, B, 3, net->W);
    S->bin3 = full->window_new(full, B, 3, 3);
    S->bout = full->window_new(full, B, 1, 1);
    if (!S->bw || !S->bin || !S->bin3 || !S->bout) pcnn_die("cannot make the window backends of the cached sampler");
    S->wo = pcnn_xcalloc((size_t)net->nops, sizeof *S->wo);
    for (int k = 0; k < net->nops; k++) {
        const pcnn_op *o = &net->ops[k];
        win_op *w = &S->wo[k];
        int lin = level_of(net, o->h);
        switch (o->kind) {
        case PCNN_OP_INPUT:
            w->lev = 0, w->stream = ST_BOTH, w->hwin = 3, w->wwin = 3;
            w->st = S->bin->state_new(S->bin, PCNN_OP_INPUT, NULL, 3, net->W);
            w->st3 = S->bin3->state_new(S->bin3, PCNN_OP_INPUT, NULL, 3, 3);
            break;
        case PCNN_OP_GATED:
            w->lev = lin, w->stream = o->b->ul ? ST_UL : ST_U;
            w->hwin = min_i(3, o->h), w->wwin = min_i(3, o->w);
            w->st = be->state_new(be, PCNN_OP_GATED, o->b, w->hwin, o->w);
            break;
        case PCNN_OP_DOWN:
            w->lev = lin + 1, w->stream = o->L->kw == 2 ? ST_UL : ST_U;
            w->hwin = min_i(4, o->h), w->wwin = min_i(4, o->w);
            w->st = be->state_new(be, PCNN_OP_DOWN, o->L, w->hwin, o->w);
            break;
        case PCNN_OP_UP:
            w->lev = lin - 1, w->stream = o->L->kw == 2 ? ST_UL : ST_U, w->hwin = w->wwin = 1;
            w->st = be->state_new(be, PCNN_OP_UP, o->L, 1, o->w);
            break;
        case PCNN_OP_OUT:
            w->lev = 0, w->stream = ST_UL, w->hwin = w->wwin = 1;
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
    S->pix = be->alloc(be, (size_t)B * net->F * sizeof(float));
    S->logits = be->alloc(be, (size_t)B * 10 * net->M * sizeof(float));
    size_t hx = (size_t)B * 3 * net->W * 3 * sizeof(float), hl = (size_t)B * 10 * net->M * sizeof(float);
    if (tab) {
        /* per op at most 4 copies (a gated block's 3 gathers and a scatter); INPUT's (r0, c0) */
        S->tabcap = 4 * net->nops + 4;
        S->htab = be->host_alloc(be, (size_t)S->tabcap * 2 * sizeof(uint64_t));
        S->dtab = be->alloc(be, (size_t)S->tabcap * 2 * sizeof(uint64_t));
        S->hxwin = be->host_alloc(be, hx);
        S->hlogits = be->host_alloc(be, hl);
    } else {
        S->hxwin = pcnn_xmalloc(hx);
        S->hlogits = pcnn_xmalloc(hl);
    }
    return S;
}

static void sampler_free(sampler *S)
{
    if (!S) return;
    pcnn_net *net = S->net;
    pcnn_backend *be = S->bw;
    for (int k = 0; k < net->nops; k++) {
        int kind = net->ops[k].kind;
        pcnn_backend *owner = kind == PCNN_OP_INPUT ? S->bin : kind == PCNN_OP_OUT ? S->bout : be;
        owner->state_free(owner, S->wo[k].st);
        if (S->wo[k].st3) S->bin3->state_free(S->bin3, S->wo[k].st3);
    }
    float *dev[] = {S->in, S->a1, S->a2, S->out, S->out2, S->xwin, S->pix, S->logits};
    for (size_t k = 0; k < sizeof dev / sizeof dev[0]; k++) be->release(be, dev[k]);
    if (S->tab) {
        be->release(be, S->dtab);
        be->host_release(be, S->htab);
        be->host_release(be, S->hxwin);
        be->host_release(be, S->hlogits);
    } else {
        free(S->hxwin);
        free(S->hlogits);
    }
    free(S->wo);
    S->bw->destroy(S->bw);
    S->bin->destroy(S->bin);
    S->bin3->destroy(S->bin3);
    S->bout->destroy(S->bout);
    free(S);
}

/* INPUT: pixel rows [s, s + 3), columns [c0, c0 + ww) of the host image x
 * through backend b; u (if wanted) and ul land in S->out, S->out2. The
 * backend adds the class map (SPEC §3b) at the window's place (s, c0). */
static void input_window(sampler *S, pcnn_backend *b, void *st, const float *x, int s, int c0, int ww)
{
    pcnn_net *net = S->net;
    const size_t bytes = (size_t)S->N * 3 * ww * 3 * sizeof(float);
    if (!S->tab || !S->launch)   /* with the table: filled when the walk records */
        for (int n = 0; n < S->N; n++)
            for (int r = 0; r < 3; r++)
                memcpy(S->hxwin + ((size_t)n * 3 + r) * ww * 3,
                       x + (((size_t)n * S->H + s + r) * S->W + c0) * 3, (size_t)ww * 3 * sizeof(float));
    if (!S->tab) {
        S->bw->upload(S->bw, S->xwin, S->hxwin, bytes);
        b->input_fwd(b, st, net->wp, S->xwin, net->labels + S->off, S->N, s, c0, S->out, S->out2);
        return;
    }
    int q = tab_put(S, (uint64_t)s, (uint64_t)c0);
    key_mix(S, 0x1, (uint64_t)ww, (uint64_t)(b == S->bin3));
    if (!S->launch) return;
    S->bw->upload_async(S->bw, S->xwin, S->hxwin, bytes);
    b->input_fwd_tab(b, st, net->wp, S->xwin, net->labels + S->off, S->N, S->dtab + 2 * q,
                     S->out, S->out2);
}

/* Whether the walk enqueues op k's own launches (what: what it owes the position); a
 * walk that records adds them to the position's shape instead. */
static int enqueue(sampler *S, int k, int what)
{
    if (!S->tab || S->launch) return 1;
    key_mix(S, 0x2, (uint64_t)k, (uint64_t)what);
    return 0;
}

/* Recomputes what op k owes position (i, j); x is the host image batch (N, H, W, 3).
 * Windows: rows [r - hwin + 1, r] and (ul) columns [c - wwin + 1, c], moved to 0
 * at the top/left edge where the padding is then the real one; a DOWN window
 * is even-aligned (output row r reads input rows 2r-1, 2r, column c 2c-1, 2c). */
static void run_op(sampler *S, int k, int i, int j, const float *x)
{
    pcnn_net *net = S->net;
    pcnn_backend *be = S->bw;
    const int32_t *labels = net->labels + S->off;
    const pcnn_op *o = &net->ops[k];
    const win_op *w = &S->wo[k];
    const float *wp = net->wp;
    const int N = S->N;
    int r, c, what;
    switch (o->kind) {
    case PCNN_OP_INPUT: {
        int s = max_i(0, i - 2);
        if (j == 0) {   /* whole rows: u row i (final from now on) and ul row i */
            input_window(S, S->bin, w->st, x, s, 0, S->W);
            scatter(S, &net->nodes[o->out], i, 0, S->out, 3, S->W, i - s, 0, S->W);
            scatter(S, &net->nodes[o->out2], i, 0, S->out2, 3, S->W, i - s, 0, S->W);
        } else {        /* ul (i, j) reads pixel row i-1 at j-1..j+1 and (i, j-1) */
            int c0 = min_i(j - 1, S->W - 3);
            input_window(S, S->bin3, w->st3, x, s, c0, 3);
            scatter(S, &net->nodes[o->out2], i, j, S->out2, 3, 3, i - s, j - c0, 1);
        }
        return;
    }
    case PCNN_OP_GATED: {
        const pcnn_node *nd = &net->nodes[o->in];
        if (!(what = due(w->stream, w->lev, i, j, &r, &c))) return;
        int s = max_i(0, r - w->hwin + 1);
        int c0 = what == 1 ? 0 : max_i(0, c - w->wwin + 1), ww = what == 1 ? nd->w : w->wwin;
        /* x, a1, a2 (one size): three copies, or with the table one launch */
        float *dst[3] = {S->in, NULL, NULL};
        const pcnn_node *src[3] = {nd, NULL, NULL};
        int ne = 1;
        if (o->a1 >= 0) dst[ne] = S->a1, src[ne++] = &net->nodes[o->a1];
        if (o->a2 >= 0) dst[ne] = S->a2, src[ne++] = &net->nodes[o->a2];
        gather_n(S, ne, dst, src, s, w->hwin, c0, ww);
        if (enqueue(S, k, what))
            be->gated_fwd(be, w->st, o->b, wp, S->in, o->a1 >= 0 ? S->a1 : NULL,
                          o->a2 >= 0 ? S->a2 : NULL, labels, N, w->hwin, ww, NULL, S->out);
        if (what == 1)
            scatter(S, &net->nodes[o->out], r, 0, S->out, w->hwin, ww, r - s, 0, ww);
        else
            scatter(S, &net->nodes[o->out], r, c, S->out, w->hwin, ww, r - s, c - c0, 1);
        return;
    }
    case PCNN_OP_DOWN: {
        const pcnn_node *nd = &net->nodes[o->in];
        if (!(what = due(w->stream, w->lev, i, j, &r, &c))) return;
        int s = max_i(0, 2 * r - w->hwin + 2);
        int c0 = what == 1 ? 0 : max_i(0, 2 * c - w->wwin + 2), ww = what == 1 ? nd->w : w->wwin;
        gather(S, S->in, nd, s, w->hwin, c0, ww);
        if (enqueue(S, k, what)) be->down_fwd(be, w->st, o->L, wp, S->in, N, w->hwin, ww, S->out);
        if (what == 1)
            scatter(S, &net->nodes[o->out], r, 0, S->out, w->hwin / 2, ww / 2, (2 * r - s) / 2, 0, ww / 2);
        else
            scatter(S, &net->nodes[o->out], r, c, S->out, w->hwin / 2, ww / 2, (2 * r - s) / 2,
                    (2 * c - c0) / 2, 1);
        return;
    }
    case PCNN_OP_UP: {
        /* output row r reads input row r/2 only (column c: c/2 only, ul stream) */
        const pcnn_node *nd = &net->nodes[o->in];
        if (!(what = due(w->stream, w->lev, i, j, &r, &c))) return;
        int c0 = what == 1 ? 0 : c / 2, ww = what == 1 ? nd->w : 1;
        gather(S, S->in, nd, r / 2, 1, c0, ww);
        if (enqueue(S, k, what)) be->up_fwd(be, w->st, o->L, wp, S->in, N, 1, ww, S->out);
        if (what == 1)
            scatter(S, &net->nodes[o->out], r, 0, S->out, 2, 2 * ww, r % 2, 0, 2 * ww);
        else
            scatter(S, &net->nodes[o->out], r, c, S->out, 2, 2, r % 2, c % 2, 1);
        return;
    }
    case PCNN_OP_OUT: {
        gather(S, S->pix, &net->nodes[o->in], i, 1, j, 1);
        if (!enqueue(S, k, 1)) return;
        S->bout->out_fwd(S->bout, w->st, wp, S->pix, N, S->logits);
        if (S->tab)   /* valid after the position's sync (scan_part) */
            be->download_async(be, S->hlogits, S->logits, (size_t)N * 10 * S->M * sizeof(float));
        else
            be->download(be, S->hlogits, S->logits, (size_t)N * 10 * S->M * sizeof(float));
        return;
    }
    }
}

/* The ops of position (i, j); the logits in S->hlogits after it. With the table (above):
 * the walk that records, then the one that enqueues, or the shape's graph replayed. */
static void run_position(sampler *S, int i, int j, const float *x)
{
    pcnn_net *net = S->net;
    if (!S->tab) {
        for (int k = 0; k < net->nops; k++) run_op(S, k, i, j, x);
        return;
    }
    pcnn_backend *be = S->bw;
    S->launch = 0;
    S->ntab = 0;
    S->key = (uint64_t)S->N;
    for (int k = 0; k < net->nops; k++) run_op(S, k, i, j, x);
    const int nt = S->ntab;
    int g = be->pos_graph_begin ? be->pos_graph_begin(be, S->key) : -1;
    if (g >= 0) net->graph_runs[g]++;   /* graphs: one sampler (the windows share a stream) */
    if (g != 1) {
        S->launch = 1;
        S->ntab = 0;
        be->upload_async(be, S->dtab, S->htab, (size_t)nt * 2 * sizeof(uint64_t));
        for (int k = 0; k < net->nops; k++) run_op(S, k, i, j, x);
        if (S->ntab != nt) pcnn_die("internal error: the cached sampler's two walks differ");
        if (g == 0) be->pos_graph_end(be);
    }
    be->sync(be);   /* the logits are in; the table and the pixels may be written again */
}

/* The raster scan over images [S->off, S->off + S->N) of the batch whose labels
 * are on the device; x: those images, host (N, H, W, 3). Sampling (lout NULL):
 * x starts zeroed and each position's pixel is drawn into it. Teacher forcing
 * (lout, host (N, H, W, 10M)): x holds given images and each position's logits
 * are kept. Completion: rows 0..rows−1 of x are given, and at their positions the ops
 * run (filling the caches, as teacher forcing) but nothing is drawn. Progress (may be
 * NULL) advances by nall * rows done / H. */
static void scan_part(sampler *S, const uint64_t *keys, uint64_t seed, int rows, float *x,
                      float *lout, pcnn_progress *progress, uint64_t base, int nall)
{
    const int H = S->H, W = S->W, M = S->M, N = S->N;
    const size_t per_pixel = (size_t)10 * M;
    for (int i = 0; i < H; i++) {
        for (int j = 0; j < W; j++) {
            run_position(S, i, j, x);
            for (int n = 0; n < N; n++) {
                size_t p = ((size_t)n * H + i) * W + j;
                if (lout) {
                    memcpy(lout + p * per_pixel, S->hlogits + (size_t)n * per_pixel,
                           per_pixel * sizeof *lout);
                    continue;
                }
                if (i < rows) continue;   /* a given pixel */
                uint64_t stream = (keys[n] * (uint64_t)H + (uint64_t)i) * (uint64_t)W + (uint64_t)j;
                pcnn_dmol_sample(S->hlogits + (size_t)n * per_pixel, M, seed, stream, x + p * 3);
            }
        }
        if (progress) pcnn_progress_update(progress, base + (uint64_t)nall * (uint64_t)(i + 1) / (uint64_t)H);
    }
}

/* Whether the samplers use the position table: the net's choice (pcnn_net_set_sample_table),
 * else the backend's (sample_graphs), where the backend offers it. */
static int sample_table(const pcnn_net *net)
{
    const pcnn_backend *be = net->be;
    int want = net->sample_table >= 0 ? net->sample_table : be->sample_graphs;
    return want && be->copy_table && be->input_fwd_tab && be->host_alloc && be->upload_async &&
           be->download_async && be->sync;
}

/* pcnn_sample_cached (lout NULL; x zeroed here) or pcnn_cached_logits (lout). */
static void run_cached(pcnn_net *net, const int32_t *labels, const uint64_t *keys, int N,
                       uint64_t seed, int use_polyak, int rows, float *x, float *lout,
                       pcnn_progress *progress)
{
    pcnn_net_use_weights(net, use_polyak);
    /* The images of a batch are independent: where the window backends may run side by
     * side (the CPU), T threads take one part each and run the whole raster scan without
     * meeting (the positions' ops are too small to split well across threads; the ops
     * inside run single-threaded, as nested OpenMP regions get one thread). A GPU
     * backend runs one stream: one part. */
    int T = omp_in_parallel() || !net->be->windows_threaded ? 1 : omp_get_max_threads();
    T = max_i(1, min_i(T, min_i(N, net->max_batch)));
    int part = (min_i(N, net->max_batch) + T - 1) / T;
    sampler **S = pcnn_xcalloc((size_t)T, sizeof *S);
    for (int t = 0; t < T; t++) S[t] = sampler_new(net, part, sample_table(net));
    size_t img = (size_t)net->H * net->W * 3, lpix = (size_t)net->H * net->W * 10 * net->M;
    uint64_t base = progress ? progress->done : 0;
    if (!lout)   /* below the given rows (all of a sample) x starts at 0 */
        for (int n = 0; n < N; n++)
            memset(x + (size_t)n * img + (size_t)rows * net->W * 3, 0,
                   (size_t)(net->H - rows) * net->W * 3 * sizeof *x);
    for (int n0 = 0; n0 < N; n0 += net->max_batch) {
        int nb = min_i(N - n0, net->max_batch);
        pcnn_net_upload_labels(net, labels + n0, nb);
        for (int k = 0; k < net->nnodes; k++)   /* stale values are never read; zero them anyway */
            net->be->zero(net->be, net->nodes[k].val,
                          (size_t)nb * net->nodes[k].h * net->nodes[k].w * net->F * sizeof(float));
#pragma omp parallel for num_threads(T) schedule(static, 1) if (T > 1)
        for (int t = 0; t < T; t++) {
            sampler *st = S[t];
            st->off = t * part;
            st->N = max_i(0, min_i(part, nb - st->off));
            size_t first = (size_t)n0 + (size_t)st->off;
            if (st->N > 0)
                scan_part(st, keys ? keys + first : NULL, seed, rows, x + first * img,
                          lout ? lout + first * lpix : NULL, t == 0 ? progress : NULL,
                          base + (uint64_t)n0, nb);
        }
    }
    if (progress) pcnn_progress_update(progress, base + (uint64_t)N);
    for (int t = 0; t < T; t++) sampler_free(S[t]);
    free(S);
}

/* Whether the net's backend offers what the cache's windows need. */
static int has_windows(const pcnn_backend *be) { return be->window_new && be->copy_block; }

void pcnn_complete_cached(pcnn_net *net, const pcnn_model_file *m, const int32_t *labels,
                          const uint64_t *keys, int N, uint64_t seed, int use_polyak, int rows,
                          float *x, pcnn_progress *progress)
{
    if (N <= 0) return;
    if (!has_windows(net->be)) {
        pcnn_complete_naive(net, m, labels, keys, N, seed, use_polyak, rows, x, progress);
        return;
    }
    if ((int)m->H != net->H || (int)m->W != net->W || (int)m->M != net->M)
        pcnn_die("internal error: model sizes differ from the network's");
    run_cached(net, labels, keys, N, seed, use_polyak, rows, x, NULL, progress);
}

void pcnn_sample_cached(pcnn_net *net, const pcnn_model_file *m, const int32_t *labels,
                        const uint64_t *keys, int N, uint64_t seed, int use_polyak, float *x,
                        pcnn_progress *progress)
{
    pcnn_complete_cached(net, m, labels, keys, N, seed, use_polyak, 0, x, progress);
}

void pcnn_cached_logits(pcnn_net *net, const float *x, const int32_t *labels, int N,
                        int use_polyak, float *logits)
{
    if (N <= 0) return;
    if (!has_windows(net->be))
        pcnn_die("internal error: the %s backend has no window ops", net->be->name);
    size_t n = (size_t)N * net->H * net->W * 3;
    float *xc = pcnn_xmalloc(n * sizeof *xc);   /* the scan's x is writable */
    memcpy(xc, x, n * sizeof *xc);
    run_cached(net, labels, NULL, N, 0, use_polyak, 0, xc, logits, NULL);
    free(xc);
}
