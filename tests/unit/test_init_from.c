/*
 * test_init_from.c — a model started from another's weights (pcnn-fit --init,
 * model/init_from.h): every tensor of the network copied from the source's scoring
 * weights (best.* over polyak.* over the raw ones), the class image resized by nearest
 * neighbour to the new size (known values, a whole factor, a shrink and an odd ratio),
 * a fresh model otherwise (counters 0, no Polyak or Adam tensors, the given seed, the
 * provenance in its meta), and a source without weights refused.
 * (End to end through pcnn-fit: tests/bats/fit.bats "--init".)
 */
#include "check.h"
#include "model/init_from.h"
#include "model/model.h"
#include "model/params.h"
#include "rng.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void test_resize_known_values(void)
{
    /* one 2 x 2 plane to 4 x 4: every coarse pixel a 2 x 2 block */
    const float a[4] = {1, 2, 3, 4};
    float b[16];
    pcnn_resize_planes_nearest(a, 1, 2, 2, b, 4, 4);
    const float want[16] = {1, 1, 2, 2, 1, 1, 2, 2, 3, 3, 4, 4, 3, 3, 4, 4};
    CHECK(!memcmp(b, want, sizeof want));
    /* two 4 x 4 planes to 2 x 2: the top-left pixel of each block, plane by plane */
    float c[32], d[8];
    for (int i = 0; i < 32; i++) c[i] = (float)i;
    pcnn_resize_planes_nearest(c, 2, 4, 4, d, 2, 2);
    const float want2[8] = {0, 2, 8, 10, 16, 18, 24, 26};
    CHECK(!memcmp(d, want2, sizeof want2));
    /* 3 wide to 7 wide (one row): x 0..6 -> floor(3x / 7) = 0 0 0 1 1 2 2 */
    const float e[3] = {5, 6, 7};
    float f[7];
    pcnn_resize_planes_nearest(e, 1, 1, 3, f, 1, 7);
    const float want3[7] = {5, 5, 5, 6, 6, 7, 7};
    CHECK(!memcmp(f, want3, sizeof want3));
}

/* A trained-looking 8 x 8 source: raw, polyak.* and (with best) best.* buffers that
 * differ, the class image non-zero. */
static pcnn_model_file *source(unsigned cond, int with_best, pcnn_param_table **tp)
{
    const uint32_t R = 1, F = 4, M = 2, K = 3, H = 8, W = 8;
    pcnn_model_file *m = pcnn_model_create(R, F, M, K, H, W, cond, NULL, 7);
    pcnn_param_table *t = pcnn_params_build(R, F, M, K, cond, H, W);
    float *p = malloc(t->total * sizeof *p);
    static const char *const prefixes[] = {"", "polyak.", "best."};
    for (int k = 0; k < (with_best ? 3 : 2); k++) {
        for (size_t i = 0; i < t->total; i++)
            p[i] = (float)k + pcnn_rng_uniform(11, 0, (uint64_t)k, i);
        pcnn_model_store_buffer(m, t, prefixes[k], p);
    }
    free(p);
    m->step = 40;
    m->epoch = 5;
    *tp = t;
    return m;
}

static void test_weights_copied_class_image_resized(void)
{
    for (int with_best = 0; with_best < 2; with_best++) {
        pcnn_param_table *ts;
        pcnn_model_file *src = source(PCNN_COND_ALL, with_best, &ts);
        pcnn_model_file *m = pcnn_model_init_from(src, "coarse.bin", 16, 24, 99);
        CHECK(m != NULL);
        if (!m) return;
        CHECK(m->H == 16 && m->W == 24 && m->K == 3 && m->R == 1 && m->F == 4 && m->M == 2);
        CHECK(m->step == 0 && m->epoch == 0 && m->seed == 99);
        CHECK(!strcmp(m->class_names[2], "Class2"));
        CHECK(pcnn_model_conditioning(m) == PCNN_COND_ALL);
        CHECK(!pcnn_model_file_find(m, "polyak.nin_out.lin_a.bias"));
        CHECK(!pcnn_model_file_find(m, "adam_m.nin_out.lin_a.bias"));
        CHECK(!pcnn_model_file_find(m, "best.nin_out.lin_a.bias"));
        const char *s = pcnn_model_file_get_meta(m, "init_from");
        CHECK(s && !strcmp(s, "coarse.bin"));
        s = pcnn_model_file_get_meta(m, "init_size");
        CHECK(s && !strcmp(s, "8x8"));
        s = pcnn_model_file_get_meta(m, "init_epochs");
        CHECK(s && !strcmp(s, "5"));

        float *want = malloc(ts->total * sizeof *want);
        CHECK(pcnn_model_load_buffer(src, ts, with_best ? "best." : "polyak.", want) == 1);
        pcnn_param_table *t = pcnn_params_build(1, 4, 2, 3, PCNN_COND_ALL, 16, 24);
        float *got = malloc(t->total * sizeof *got);
        CHECK(pcnn_model_load_buffer(m, t, "", got) == 1);
        /* every tensor before the class image, bit for bit */
        CHECK(t->class_map == ts->class_map);
        CHECK(!memcmp(got, want, ts->class_map * sizeof *got));
        /* the class image: (k, c, y, x) from (k, c, y / 2, x / 3) */
        int bad = 0;
        for (int kc = 0; kc < 3 * 3; kc++)
            for (int y = 0; y < 16; y++)
                for (int x = 0; x < 24; x++)
                    bad += got[t->class_map + ((size_t)kc * 16 + y) * 24 + x] !=
                           want[ts->class_map + ((size_t)kc * 8 + y / 2) * 8 + x / 3];
        CHECK(bad == 0);
        CHECK(t->total == ts->total + 3 * 3 * (16 * 24 - 8 * 8));
        free(want);
        free(got);
        pcnn_params_free(t);
        pcnn_params_free(ts);
        pcnn_model_file_free(m);
        pcnn_model_file_free(src);
    }
}

/* 1 when model a's tensors under prefix pa equal model b's under pb, every float of table t. */
static int same_weights(const pcnn_model_file *a, const char *pa, const pcnn_model_file *b,
                        const char *pb, const pcnn_param_table *t)
{
    float *x = malloc(t->total * sizeof *x), *y = malloc(t->total * sizeof *y);
    int same = pcnn_model_load_buffer(a, t, pa, x) == 1 && pcnn_model_load_buffer(b, t, pb, y) == 1 &&
               !memcmp(x, y, t->total * sizeof *x);
    free(x);
    free(y);
    return same;
}

static void test_base_and_film_copy_everything(void)
{
    /* without the input variant nothing depends on the size: the whole buffer */
    const unsigned conds[] = {0, PCNN_COND_FILM};
    for (int i = 0; i < 2; i++) {
        pcnn_param_table *ts;
        pcnn_model_file *src = source(conds[i], 1, &ts);
        pcnn_model_file *m = pcnn_model_init_from(src, "c.bin", 32, 32, 1);
        CHECK(m != NULL);
        if (!m) return;
        CHECK(pcnn_model_conditioning(m) == conds[i]);
        CHECK(same_weights(src, "best.", m, "", ts));
        pcnn_params_free(ts);
        pcnn_model_file_free(m);
        pcnn_model_file_free(src);
    }
}

static void test_raw_weights_when_nothing_else(void)
{
    pcnn_model_file *src = pcnn_model_create(1, 4, 2, 2, 8, 8, PCNN_COND_INPUT, NULL, 3);
    pcnn_model_file *m = pcnn_model_init_from(src, "fresh.bin", 8, 8, 3);
    CHECK(m != NULL);
    if (!m) return;
    /* the same size, the same seed, raw weights only: the same tensors as the source */
    pcnn_param_table *t = pcnn_params_build(1, 4, 2, 2, PCNN_COND_INPUT, 8, 8);
    CHECK(same_weights(src, "", m, "", t));
    pcnn_params_free(t);
    pcnn_model_file_free(m);
    pcnn_model_file_free(src);
}

static void test_no_weights_refused(void)
{
    char *names[2] = {"a", "b"};
    pcnn_model_file *src = pcnn_model_file_new(1, 4, 2, 2, 8, 8, 3, names);
    check_quiet(1);
    pcnn_model_file *m = pcnn_model_init_from(src, "empty.bin", 16, 16, 1);
    check_quiet(0);
    CHECK(m == NULL);
    pcnn_model_file_free(src);
}

int main(void)
{
    RUN(test_resize_known_values);
    RUN(test_weights_copied_class_image_resized);
    RUN(test_base_and_film_copy_everything);
    RUN(test_raw_weights_when_nothing_else);
    RUN(test_no_weights_refused);
    return check_summary();
}
