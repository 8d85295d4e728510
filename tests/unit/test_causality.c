/*
 * test_causality.c — the output at raster position (i, j) depends only on
 * pixels before (i, j) (SPEC §3): perturbing pixel (i, j) leaves the network
 * output at every earlier position bit-identical, for several positions and
 * classes, through both streams (the u stream sees rows above, the ul stream
 * also the pixels to the left in the same row). Also: the output at (i, j)
 * itself and later DOES move (the test is not vacuous). The conditioning
 * variants (SPEC §3b, film scales and the class map set non-zero) keep it: the
 * class map is added to x at each pixel, so it is no path around the mask.
 */
#include "check.h"
#include "model/model.h"
#include "model/net.h"
#include "model/nn_backend.h"
#include "model/net_hooks.h"
#include "rng.h"
#include "util.h"

#include <stdlib.h>
#include <string.h>

/* hs and class_map (zero at creation) to U(-0.5, 0.5), so they take part. */
static void randomise_cond(pcnn_net *net)
{
    const pcnn_param_table *t = pcnn_net_table(net);
    float *p = pcnn_net_buffer(net, PCNN_BUF_PARAMS);
    for (int i = 0; i < t->n; i++) {
        const char *name = t->p[i].name;
        size_t len = strlen(name);
        if (strcmp(name, "class_map") && (len < 3 || strcmp(name + len - 3, ".hs"))) continue;
        for (size_t k = 0; k < t->p[i].size; k++)
            p[t->p[i].offset + k] = pcnn_rng_uniform(3, 4, (uint64_t)i, k) - 0.5f;
    }
    pcnn_net_invalidate(net);
}

static void check_config(int R, int F, int M, int K, int H, int W, unsigned cond)
{
    pcnn_model_file *m = pcnn_model_create(R, F, M, K, H, W, cond, NULL, 5);
    pcnn_net *net = pcnn_net_create(m, "cpu", 1);
    CHECK(net != NULL);
    if (!net) return;
    CHECK(pcnn_net_table(net)->cond == cond);
    randomise_cond(net);
    size_t npix = (size_t)H * W, C = 10 * (size_t)M;
    float *x = pcnn_xmalloc(npix * 3 * sizeof *x), *x2 = pcnn_xmalloc(npix * 3 * sizeof *x2);
    float *o1 = pcnn_xmalloc(npix * C * sizeof *o1), *o2 = pcnn_xmalloc(npix * C * sizeof *o2);
    for (size_t i = 0; i < npix * 3; i++) x[i] = pcnn_rng_uniform(9, 9, i, 0) * 2 - 1;
    const int pos[][2] = {{0, 0}, {0, W - 1}, {1, 0}, {H / 2, W / 2}, {H - 1, 1}, {H - 1, W - 1}, {3, W - 2}};
    for (int c = 0; c < K && c < 3; c++) {
        int32_t lab = c;
        pcnn_net_forward_logits(net, x, &lab, 1, 0, o1);
        for (size_t p = 0; p < sizeof pos / sizeof pos[0]; p++) {
            int pi = pos[p][0], pj = pos[p][1];
            size_t at = (size_t)pi * W + pj;
            memcpy(x2, x, npix * 3 * sizeof *x2);
            for (int ch = 0; ch < 3; ch++) x2[at * 3 + ch] = -x2[at * 3 + ch] + 0.3f;
            pcnn_net_forward_logits(net, x2, &lab, 1, 0, o2);
            /* every earlier position: bit-identical */
            CHECK(!memcmp(o1, o2, at * C * sizeof *o1));
            if (memcmp(o1, o2, at * C * sizeof *o1))
                printf("#   class %d, pixel (%d,%d) changed an earlier output\n", c, pi, pj);
            /* the next position in the same row sees it through ul; the one below through u */
            if (pj + 1 < W) CHECK(memcmp(o1 + (at + 1) * C, o2 + (at + 1) * C, C * sizeof *o1) != 0);
            if (pi + 1 < H) CHECK(memcmp(o1 + (at + W) * C, o2 + (at + W) * C, C * sizeof *o1) != 0);
            /* its own output does not depend on itself (teacher forcing is in the likelihood) */
            CHECK(!memcmp(o1 + at * C, o2 + at * C, C * sizeof *o1));
        }
    }
    free(x), free(x2), free(o1), free(o2);
    pcnn_net_free(net);
    pcnn_model_file_free(m);
}

static void test_causality_small(void) { check_config(1, 4, 2, 2, 8, 8, 0); }
static void test_causality_odd(void) { check_config(2, 3, 3, 3, 8, 12, 0); }
static void test_causality_film_input(void) { check_config(2, 3, 3, 3, 8, 12, PCNN_COND_ALL); }
static void test_causality_input(void) { check_config(1, 4, 2, 2, 8, 8, PCNN_COND_INPUT); }

/* The class changes the output everywhere (hw enters every block). */
static void test_class_matters(void)
{
    pcnn_model_file *m = pcnn_model_create(1, 4, 2, 2, 8, 8, 0, NULL, 5);
    pcnn_net *net = pcnn_net_create(m, "cpu", 1);
    float x[8 * 8 * 3] = {0}, o1[64 * 20], o2[64 * 20];
    int32_t a = 0, b = 1;
    pcnn_net_forward_logits(net, x, &a, 1, 0, o1);
    pcnn_net_forward_logits(net, x, &b, 1, 0, o2);
    CHECK(memcmp(o1, o2, 20 * sizeof *o1) != 0);   /* even at (0, 0) */
    pcnn_net_free(net);
    pcnn_model_file_free(m);
}

int main(void)
{
    RUN(test_causality_small);
    RUN(test_causality_odd);
    RUN(test_causality_film_input);
    RUN(test_causality_input);
    RUN(test_class_matters);
    return check_summary();
}
