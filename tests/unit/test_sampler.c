/*
 * test_sampler.c — the cached sampler (net_sample.c) draws exactly the naive
 * sampler's images: the sampled floats x are compared byte for byte (memcmp),
 * on small configurations that exercise every part of the cache: both streams,
 * several classes in one batch, N >= 2, R = 1 and 2, odd sizes (8x12, 12x8,
 * and 4x4 where the lowest level is one pixel), batches larger than max_batch,
 * batches split across threads.
 * The weights are "trained-looking": g, biases and hw perturbed away from the
 * PyTorch-default initialisation so no layer is near identity or zero. The
 * conditioning variants (SPEC §3b) too, with hs and class_map non-zero.
 * pcnn_cached_logits (the cache on given images) gives the whole forward
 * pass's logits at every position, byte for byte.
 * The cached sampler's position table (pcnn_net_set_sample_table: every copy's
 * addresses and the INPUT window's place from a table, the way the CUDA graphs
 * replay a position; the CPU backend is its twin, docs/GPU.md) gives the same bytes
 * in every case above (samples, completion, logits, threads).
 */
#include "check.h"
#include "model/model.h"
#include "model/net.h"
#include "model/nn_backend.h"
#include "rng.h"
#include "model/sample.h"
#include "model/net_hooks.h"
#include "util.h"

#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

/* Perturbs g (x U(0.5, 2)), biases (+ U(+-0.3)), hw (+ U(+-0.5)) and the
 * variants' hs and class_map (+ U(+-0.5)) of the Polyak copy (what the samplers use). */
static void perturb(pcnn_net *net, uint64_t seed)
{
    const pcnn_param_table *t = pcnn_net_table(net);
    float *p = pcnn_net_buffer(net, PCNN_BUF_POLYAK);
    for (int l = 0; l < t->nlayers; l++) {
        const pcnn_wnlayer *L = &t->layers[l];
        for (size_t r = 0; r < L->rows; r++) p[L->g + r] *= 0.5f + 1.5f * pcnn_rng_uniform(seed, 1, (uint64_t)l, r);
        for (int c = 0; c < L->cout; c++) p[L->b + c] += 0.6f * (pcnn_rng_uniform(seed, 2, (uint64_t)l, (uint64_t)c) - 0.5f);
    }
    const pcnn_blockref *lists[] = {t->up_u, t->up_ul, t->down_u, t->down_ul};
    const int counts[] = {3 * t->R, 3 * t->R, 3 * t->R + 2, 3 * t->R + 2};
    for (int k = 0; k < 4; k++)
        for (int b = 0; b < counts[k]; b++)
            for (size_t e = 0; e < (size_t)t->K * 2 * t->F; e++)
                p[lists[k][b].hw + e] += pcnn_rng_uniform(seed, 3, (uint64_t)(k * 1000 + b), e) - 0.5f;
    for (int k = 0; k < 4; k++)
        for (int b = 0; b < counts[k] && (t->cond & PCNN_COND_FILM); b++)
            for (size_t e = 0; e < (size_t)t->K * 2 * t->F; e++)
                p[lists[k][b].hs + e] += pcnn_rng_uniform(seed, 4, (uint64_t)(k * 1000 + b), e) - 0.5f;
    if (t->cond & PCNN_COND_INPUT)
        for (size_t e = 0; e < (size_t)t->K * 3 * t->H * t->W; e++)
            p[t->class_map + e] += pcnn_rng_uniform(seed, 5, 0, e) - 0.5f;
    pcnn_net_invalidate(net);
}

/* Samples N images (classes cycling through K) both ways and compares. */
static void check_cond(int R, int F, int M, int K, int H, int W, int N, int max_batch,
                       uint64_t seed, unsigned cond)
{
    pcnn_model_file *m = pcnn_model_create(R, F, M, K, H, W, cond, NULL, seed);
    pcnn_net *net = pcnn_net_create(m, "cpu", max_batch);
    CHECK(net != NULL);
    if (!net) {
        pcnn_model_file_free(m);
        return;
    }
    perturb(net, seed + 7);
    size_t n = (size_t)N * H * W * 3;
    float *a = pcnn_xmalloc(n * sizeof *a), *b = pcnn_xmalloc(n * sizeof *b);
    int32_t *labels = pcnn_xmalloc((size_t)N * sizeof *labels);
    uint64_t *keys = pcnn_xmalloc((size_t)N * sizeof *keys);
    for (int i = 0; i < N; i++) {
        labels[i] = i % K;
        keys[i] = ((uint64_t)labels[i] << 24) | (uint64_t)i;
    }
    pcnn_sample_naive(net, m, labels, keys, N, seed, 1, a, NULL);
    /* the position table's twin first (the same bytes), then the plain cache into b */
    pcnn_net_set_sample_table(net, 1);
    pcnn_sample_cached(net, m, labels, keys, N, seed, 1, b, NULL);
    pcnn_net_set_sample_table(net, -1);
    int same_tab = !memcmp(a, b, n * sizeof *a);
    CHECK(same_tab);
    if (!same_tab) printf("#   the position table's samples differ from the naive sampler's\n");
    pcnn_sample_cached(net, m, labels, keys, N, seed, 1, b, NULL);
    int same = !memcmp(a, b, n * sizeof *a);
    CHECK(same);
    if (!same) {
        size_t first = 0, ndiff = 0;
        float maxd = 0;
        for (size_t i = 0; i < n; i++)
            if (memcmp(&a[i], &b[i], sizeof *a)) {
                if (!ndiff) first = i;
                ndiff++;
                float d = a[i] > b[i] ? a[i] - b[i] : b[i] - a[i];
                if (d > maxd) maxd = d;
            }
        size_t pix = first / 3;
        printf("#   R=%d F=%d M=%d K=%d %dx%d %s N=%d: %zu of %zu floats differ, max %g, first "
               "at image %zu (%zu,%zu)\n", R, F, M, K, H, W, pcnn_cond_name(cond), N, ndiff, n,
               (double)maxd, pix / ((size_t)H * W), pix / W % H, pix % W);
    }
    /* not vacuous: the samples vary, and they are in [-1, 1] */
    int varied = 0, inrange = 1;
    for (size_t i = 0; i < n; i++) {
        varied |= b[i] != b[0];
        inrange &= b[i] >= -1.0f && b[i] <= 1.0f;
    }
    CHECK(varied);
    CHECK(inrange);
    free(a), free(b), free(labels), free(keys);
    pcnn_net_free(net);
    pcnn_model_file_free(m);
}

static void check_same(int R, int F, int M, int K, int H, int W, int N, int max_batch, uint64_t seed)
{
    check_cond(R, F, M, K, H, W, N, max_batch, seed, 0);
}

static void test_cached_8x8_r1(void) { check_same(1, 4, 2, 2, 8, 8, 2, 2, 11); }
static void test_cached_8x12_r2(void) { check_same(2, 5, 3, 3, 8, 12, 3, 3, 12); }
static void test_cached_12x8_r1(void) { check_same(1, 6, 2, 4, 12, 8, 4, 4, 13); }
static void test_cached_16x16_r2(void) { check_same(2, 8, 4, 3, 16, 16, 3, 3, 14); }
static void test_cached_4x4(void) { check_same(1, 3, 1, 2, 4, 4, 2, 2, 15); }
/* N > max_batch: the sampler runs in chunks; N = 1: one-row GEMMs. */
static void test_cached_chunks(void) { check_same(1, 4, 2, 3, 8, 12, 5, 2, 16); }
static void test_cached_one_image(void) { check_same(2, 4, 2, 2, 12, 8, 1, 1, 17); }
/* The variants: film scales in every block, the class map added at each input
 * window (its 3 x W rows and 3 x 3 pixels at their place), odd sizes, chunks. */
static void test_cached_film_input(void) { check_cond(2, 5, 3, 3, 8, 12, 3, 3, 19, PCNN_COND_ALL); }
static void test_cached_input_chunks(void) { check_cond(1, 4, 2, 3, 12, 8, 5, 2, 20, PCNN_COND_INPUT); }
static void test_cached_film_4x4(void) { check_cond(1, 3, 1, 2, 4, 4, 2, 2, 21, PCNN_COND_FILM); }
/* The logits cases: 8 x 12 images, film + input, M = 2, N = 5 in chunks of max_batch 2
 * with a repeated class, perturbed weights, random pixels, and the whole forward pass's
 * logits ("all", Polyak weights). */
enum { LH = 8, LW = 12, LN = 5, LC = 10 * 2 };
static const int32_t LLAB[LN] = {2, 0, 2, 1, 0};
typedef struct logits_case {
    pcnn_model_file *m;
    pcnn_net *net;
    float *x, *all;   /* (LN, LH, LW, 3), (LN, LH, LW, LC) */
    size_t npix;
} logits_case;

static int logits_case_new(logits_case *lc, int R, uint64_t seed)
{
    memset(lc, 0, sizeof *lc);
    lc->m = pcnn_model_create(R, 4, 2, 3, LH, LW, PCNN_COND_ALL, NULL, seed);
    lc->net = pcnn_net_create(lc->m, "cpu", 2);
    CHECK(lc->net != NULL);
    if (!lc->net) {
        pcnn_model_file_free(lc->m);
        return 0;
    }
    perturb(lc->net, seed + 1);
    lc->npix = (size_t)LN * LH * LW;
    lc->x = pcnn_xmalloc(lc->npix * 3 * sizeof *lc->x);
    lc->all = pcnn_xmalloc(lc->npix * LC * sizeof *lc->all);
    for (size_t k = 0; k < lc->npix * 3; k++) lc->x[k] = 2.0f * pcnn_rng_uniform(seed + 2, 1, 0, k) - 1.0f;
    pcnn_net_forward_logits(lc->net, lc->x, LLAB, LN, 1, lc->all);
    return 1;
}

static void logits_case_free(logits_case *lc)
{
    free(lc->x);
    free(lc->all);
    pcnn_net_free(lc->net);
    pcnn_model_file_free(lc->m);
}

/* pcnn_net_forward_logits_at (the naive sampler's pass): for every position,
 * exactly the bytes of the whole output at (n, i, j). */
static void test_logits_at(void)
{
    logits_case lc;
    if (!logits_case_new(&lc, 1, 31)) return;
    float *at = pcnn_xmalloc((size_t)LN * LC * sizeof *at);
    size_t bad = 0;
    for (int i = 0; i < LH; i++)
        for (int j = 0; j < LW; j++) {
            pcnn_net_forward_logits_at(lc.net, lc.x, LLAB, LN, 1, i, j, at);
            for (int n = 0; n < LN; n++)
                bad += memcmp(at + (size_t)n * LC, lc.all + (((size_t)n * LH + i) * LW + j) * LC,
                              LC * sizeof *at) != 0;
        }
    CHECK(bad == 0);
    free(at);
    logits_case_free(&lc);
}

/* pcnn_cached_logits (teacher forcing: the cache's windows on given images): at every
 * position, R = 2 (three levels), 1 and 3 threads: exactly the bytes of the whole
 * forward pass's logits. */
static void test_cached_logits(void)
{
    logits_case lc;
    if (!logits_case_new(&lc, 2, 41)) return;
    float *cached = pcnn_xmalloc(lc.npix * LC * sizeof *cached);
    /* 1 and 3 threads, plainly and with the position table (tab) */
    for (int run = 0; run < 4; run++) {
        int threads = run & 1 ? 3 : 1, tab = run >= 2;
        int prev = omp_get_max_threads();
        omp_set_num_threads(threads);
        for (size_t k = 0; k < lc.npix * LC; k++) cached[k] = NAN;
        pcnn_net_set_sample_table(lc.net, tab);
        pcnn_cached_logits(lc.net, lc.x, LLAB, LN, 1, cached);
        pcnn_net_set_sample_table(lc.net, -1);
        omp_set_num_threads(prev);
        size_t bad = 0;
        for (size_t p = 0; p < lc.npix; p++)
            bad += memcmp(cached + p * LC, lc.all + p * LC, LC * sizeof *cached) != 0;
        if (bad) printf("#   %d threads%s: %zu of %zu positions differ\n", threads,
                        tab ? ", position table" : "", bad, lc.npix);
        CHECK(bad == 0);
    }
    free(cached);
    logits_case_free(&lc);
}

/* Three threads, each sampling its own part of a batch (parts 2, 2, 0 then 2, 1, 0). */
static void test_cached_threads(void)
{
    int prev = omp_get_max_threads();
    omp_set_num_threads(3);
    check_same(1, 4, 2, 3, 8, 12, 7, 4, 18);
    omp_set_num_threads(prev);
}

/* Completion (sample.h): given rows come back untouched (floats and bytes), the rows below
 * are the naive completion's bytes, other given images change only what lies below their
 * given rows, and rows = 0 is sampling; the film and input variants included. */
static void check_complete(int R, int F, int M, int K, int H, int W, int N, int max_batch,
                           uint64_t seed, unsigned cond, int rows)
{
    pcnn_model_file *m = pcnn_model_create(R, F, M, K, H, W, cond, NULL, seed);
    pcnn_net *net = pcnn_net_create(m, "cpu", max_batch);
    CHECK(net != NULL);
    if (!net) {
        pcnn_model_file_free(m);
        return;
    }
    perturb(net, seed + 7);
    size_t img = (size_t)H * W * 3, n = (size_t)N * img, given = (size_t)rows * W * 3;
    float *a = pcnn_xmalloc(n * sizeof *a), *b = pcnn_xmalloc(n * sizeof *b), *g = pcnn_xmalloc(n * sizeof *g);
    uint8_t *px = pcnn_xmalloc(n), *out = pcnn_xmalloc(n);
    int32_t *labels = pcnn_xmalloc((size_t)N * sizeof *labels);
    uint64_t *keys = pcnn_xmalloc((size_t)N * sizeof *keys);
    for (size_t i = 0; i < n; i++) px[i] = (uint8_t)(pcnn_rng_uniform(seed, 9, 0, i) * 256);
    pcnn_sample_from_u8(px, n, g);
    for (int i = 0; i < N; i++) {
        labels[i] = i % K;
        keys[i] = ((uint64_t)labels[i] << 24) | (uint64_t)i;
    }
    memcpy(a, g, n * sizeof *a);
    memcpy(b, g, n * sizeof *b);
    for (size_t i = 0; i < n; i++) b[i] = (i % img) < given ? b[i] : 99.0f;   /* ignored below */
    pcnn_complete_naive(net, m, labels, keys, N, seed, 1, rows, a, NULL);
    float *bt = pcnn_xmalloc(n * sizeof *bt);   /* the position table's twin */
    memcpy(bt, b, n * sizeof *bt);
    pcnn_complete_cached(net, m, labels, keys, N, seed, 1, rows, b, NULL);
    CHECK(!memcmp(a, b, n * sizeof *a));
    pcnn_net_set_sample_table(net, 1);
    pcnn_complete_cached(net, m, labels, keys, N, seed, 1, rows, bt, NULL);
    pcnn_net_set_sample_table(net, -1);
    CHECK(!memcmp(a, bt, n * sizeof *a));
    free(bt);
    pcnn_sample_to_u8(b, n, out);
    int kept = 1, moved = 0;
    for (int i = 0; i < N; i++) {
        kept &= !memcmp(b + i * img, g + i * img, given * sizeof *b);
        kept &= !memcmp(out + i * img, px + i * img, given);
        moved |= memcmp(out + i * img + given, px + i * img + given, img - given) != 0;
    }
    CHECK(kept);
    CHECK(moved || rows == H);
    /* rows = 0: the sampler's bytes */
    if (rows == 0) {
        pcnn_sample_cached(net, m, labels, keys, N, seed, 1, a, NULL);
        CHECK(!memcmp(a, b, n * sizeof *a));
    }
    free(a);
    free(b);
    free(g);
    free(px);
    free(out);
    free(labels);
    free(keys);
    pcnn_net_free(net);
    pcnn_model_file_free(m);
}

static void test_complete_rows(void) { check_complete(1, 4, 2, 3, 8, 8, 3, 3, 31, 0, 3); }
static void test_complete_chunks(void) { check_complete(2, 5, 3, 2, 12, 8, 5, 2, 32, 0, 5); }
static void test_complete_variants(void) { check_complete(1, 4, 2, 3, 8, 12, 3, 3, 33, PCNN_COND_ALL, 4); }
static void test_complete_edges(void)
{
    check_complete(1, 3, 1, 2, 4, 4, 2, 2, 34, 0, 0);   /* nothing given: a sample */
    check_complete(1, 3, 1, 2, 4, 4, 2, 2, 35, 0, 4);   /* everything given */
    check_complete(1, 3, 1, 2, 8, 8, 2, 2, 36, 0, 7);   /* one row left */
}

/* The network's input of every byte comes back as that byte. */
static void test_u8_round_trip(void)
{
    uint8_t p[256], q[256];
    float x[256];
    for (int i = 0; i < 256; i++) p[i] = (uint8_t)i;
    pcnn_sample_from_u8(p, 256, x);
    pcnn_sample_to_u8(x, 256, q);
    CHECK(!memcmp(p, q, 256));
    CHECK(x[0] == -1.0f && x[255] == 1.0f);
}

int main(void)
{
    /* One thread unless a test says otherwise: results never depend on the
     * thread count (threads.h), and on a loaded machine OpenMP barriers in
     * the naive sampler's H*W passes make the test slow. */
    omp_set_num_threads(1);
    RUN(test_logits_at);
    RUN(test_cached_8x8_r1);
    RUN(test_cached_8x12_r2);
    RUN(test_cached_12x8_r1);
    RUN(test_cached_16x16_r2);
    RUN(test_cached_4x4);
    RUN(test_cached_chunks);
    RUN(test_cached_one_image);
    RUN(test_cached_threads);
    RUN(test_cached_logits);
    RUN(test_cached_film_input);
    RUN(test_cached_input_chunks);
    RUN(test_cached_film_4x4);
    RUN(test_complete_rows);
    RUN(test_complete_chunks);
    RUN(test_complete_variants);
    RUN(test_complete_edges);
    RUN(test_u8_round_trip);
    return check_summary();
}
