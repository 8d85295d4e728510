/*
 * test_conditioning.c — the conditioning variants of SPEC §3b (film: a class
 * scale hs per gated block; input: a class image class_map added to the input)
 * around the network: names and parsing, the parameter table (the variants
 * append a tail, the base tensors keep index and offset), model files (each
 * variant round-trips through a file and is told by its tensor names), old
 * files (a base file loads as the base model), and the exactness promised by
 * the spec: with hs = 0 and class_map = 0 a variant model is the base model of
 * the same seed to the bit, forward and backward.
 * (Gradients: test_nn_grad; PyTorch values: test_golden film.model;
 * causality: test_causality; the cached sampler: test_sampler.)
 */
#include "check.h"
#include "model/model.h"
#include "model/net.h"
#include "model/net_internal.h"
#include "model/nn_backend.h"
#include "model/params.h"
#include "model/net_hooks.h"
#include "rng.h"
#include "util.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char tmpdir[] = "/tmp/pcnn-test-conditioning-XXXXXX";

static const char *tmp(const char *name)
{
    static char buf[256];
    snprintf(buf, sizeof buf, "%s/%s", tmpdir, name);
    return buf;
}

static const unsigned CONDS[] = {0, PCNN_COND_FILM, PCNN_COND_INPUT, PCNN_COND_ALL};

static int is_variant_tensor(const char *name)
{
    size_t len = strlen(name);
    return !strcmp(name, "class_map") || (len > 3 && !strcmp(name + len - 3, ".hs"));
}

/* hs and class_map tensors of m to U(-0.5, 0.5) (they are 0 at creation). */
static void randomise_cond(pcnn_model_file *m)
{
    for (uint32_t i = 0; i < m->ntensors; i++)
        if (is_variant_tensor(m->tensors[i].name))
            for (size_t k = 0; k < m->tensors[i].n; k++)
                m->tensors[i].data[k] = pcnn_rng_uniform(6, 7, i, k) - 0.5f;
}

static uint8_t PIX[5 * 8 * 12 * 3];   /* 5 images of 8 x 12 */
static const int32_t LAB[3] = {1, 0, 1};

static void test_names(void)
{
    const char *good[] = {"none", "base", "film", "input", "film,input", "input,film"};
    const unsigned want[] = {0, 0, PCNN_COND_FILM, PCNN_COND_INPUT, PCNN_COND_ALL, PCNN_COND_ALL};
    for (size_t i = 0; i < sizeof good / sizeof *good; i++) {
        unsigned c = 99;
        CHECK(pcnn_cond_parse(good[i], &c) == 0 && c == want[i]);
    }
    const char *bad[] = {"", "film,", ",input", "film,film", "FILM", "films", "film input", "hw"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        unsigned c = 99;
        CHECK(pcnn_cond_parse(bad[i], &c) == -1 && c == 99);
    }
    CHECK(!strcmp(pcnn_cond_name(0), "base"));
    CHECK(!strcmp(pcnn_cond_name(PCNN_COND_FILM), "film"));
    CHECK(!strcmp(pcnn_cond_name(PCNN_COND_INPUT), "input"));
    CHECK(!strcmp(pcnn_cond_name(PCNN_COND_ALL), "film,input"));
}

/* A variant's table = the base table + hs per block (named after the block's
 * hw, shape K x 2F) + class_map (K, 3, H, W). */
static void test_table(void)
{
    const int R = 2, F = 3, M = 2, K = 3, H = 8, W = 12, nblocks = 2 * (3 * R + 3 * R + 2);
    pcnn_param_table *b = pcnn_params_build(R, F, M, K, 0, H, W);
    for (size_t c = 0; c < sizeof CONDS / sizeof *CONDS; c++) {
        unsigned cond = CONDS[c];
        pcnn_param_table *t = pcnn_params_build(R, F, M, K, cond, H, W);
        int film = (cond & PCNN_COND_FILM) != 0, inp = (cond & PCNN_COND_INPUT) != 0;
        CHECK(t->cond == cond);
        CHECK(t->n == b->n + film * nblocks + inp);
        for (int i = 0; i < b->n; i++)
            CHECK(!strcmp(t->p[i].name, b->p[i].name) && t->p[i].offset == b->p[i].offset &&
                  t->p[i].size == b->p[i].size);
        const pcnn_blockref *lists[] = {t->up_u, t->up_ul, t->down_u, t->down_ul};
        const int counts[] = {3 * R, 3 * R, 3 * R + 2, 3 * R + 2};
        int named = 0;
        for (int l = 0; l < 4 && film; l++)
            for (int k = 0; k < counts[l]; k++) {
                const pcnn_blockref *br = &lists[l][k];
                int ihw = -1, ihs = -1;
                for (int i = 0; i < t->n; i++) {
                    if (t->p[i].offset == br->hw) ihw = i;
                    if (t->p[i].offset == br->hs) ihs = i;
                }
                CHECK(ihw >= 0 && ihs >= b->n);
                if (ihw < 0 || ihs < 0) continue;
                size_t len = strlen(t->p[ihw].name);
                named += !strncmp(t->p[ihs].name, t->p[ihw].name, len - 2) &&
                         !strcmp(t->p[ihs].name + len - 2, "hs") && t->p[ihs].ndim == 2 &&
                         t->p[ihs].dims[0] == (uint32_t)K && t->p[ihs].dims[1] == (uint32_t)(2 * F);
            }
        CHECK(named == film * nblocks);
        int icm = pcnn_params_find(t, "class_map");
        CHECK(inp ? icm == t->n - 1 : icm == -1);
        if (inp && icm >= 0) {
            const pcnn_param *p = &t->p[icm];
            CHECK(p->ndim == 4 && p->dims[0] == (uint32_t)K && p->dims[1] == 3 &&
                  p->dims[2] == (uint32_t)H && p->dims[3] == (uint32_t)W && p->offset == t->class_map);
        }
        size_t extra = (size_t)film * nblocks * K * 2 * F + (size_t)inp * K * 3 * H * W;
        CHECK(t->total == b->total + extra);
        pcnn_params_free(t);
    }
    pcnn_params_free(b);
}

/* Every variant: create, write, read back; the file tells its conditioning;
 * the network built from the file scores the same bytes as the one built from
 * the model in memory; pcnn_net_store writes back the same tensors. */
static void test_file_roundtrip(void)
{
    for (size_t c = 0; c < sizeof CONDS / sizeof *CONDS; c++) {
        unsigned cond = CONDS[c];
        pcnn_model_file *m = pcnn_model_create(1, 4, 2, 2, 8, 12, cond, NULL, 9);
        randomise_cond(m);
        CHECK(pcnn_model_conditioning(m) == cond);
        CHECK(pcnn_model_file_write(tmp("v.model"), m) == 0);
        pcnn_model_file *r = pcnn_model_file_read(tmp("v.model"));
        CHECK(r != NULL);
        if (!r) {
            pcnn_model_file_free(m);
            continue;
        }
        CHECK(pcnn_model_conditioning(r) == cond);
        pcnn_net *a = pcnn_net_create(m, "cpu", 3), *b = pcnn_net_create(r, "cpu", 3);
        CHECK(a && b);
        if (a && b) {
            CHECK(pcnn_net_table(b)->cond == cond);
            double la[6], lb[6];
            pcnn_net_loglik(a, PIX, 3, 1, la);
            pcnn_net_loglik(b, PIX, 3, 1, lb);
            CHECK(!memcmp(la, lb, sizeof la));
            /* store into a fresh file: the same parameter tensors, Polyak and Adam added */
            pcnn_model_file *s = pcnn_model_file_new(1, 4, 2, 2, 8, 12, 3, m->class_names);
            CHECK(pcnn_net_store(b, s) == 0);
            CHECK(pcnn_model_conditioning(s) == cond);
            const pcnn_param_table *t = pcnn_net_table(b);
            int same = 1;
            for (int i = 0; i < t->n; i++) {
                const pcnn_tensor *x = pcnn_model_file_find(m, t->p[i].name),
                                  *y = pcnn_model_file_find(s, t->p[i].name);
                same &= x && y && x->n == y->n && !memcmp(x->data, y->data, x->n * sizeof(float));
            }
            CHECK(same);
            CHECK(s->ntensors == 4 * (uint32_t)t->n);
            pcnn_model_file_free(s);
        }
        pcnn_net_free(a);
        pcnn_net_free(b);
        pcnn_model_file_free(r);
        pcnn_model_file_free(m);
    }
    unlink(tmp("v.model"));
}

/* SPEC §3b: "a model without them is exactly §3"; with hs = 0 and class_map = 0
 * a variant is the base model. pcnn_model_create gives the variant the base
 * model's weights for the same seed (its tensors are a tail), so the outputs,
 * the loss and the base tensors' gradients must be the same bytes; the
 * variants' own gradients are not zero (they learn from the first step). */
static void test_zero_is_base(void)
{
    pcnn_model_file *m0 = pcnn_model_create(1, 4, 2, 2, 8, 12, 0, NULL, 21);
    pcnn_net *n0 = pcnn_net_create(m0, "cpu", 3);
    const pcnn_param_table *t0 = pcnn_net_table(n0);
    size_t base = t0->total, npix = 8 * 12, C = 20;
    float *x = pcnn_xmalloc(3 * npix * 3 * sizeof *x);
    for (size_t i = 0; i < 3 * npix * 3; i++) x[i] = (PIX[i] / 255.0f - 0.5f) * 2.0f;
    float *o0 = pcnn_xmalloc(3 * npix * C * sizeof *o0), *o1 = pcnn_xmalloc(3 * npix * C * sizeof *o1);
    double l0[6], l1[6];
    pcnn_net_forward_logits(n0, x, LAB, 3, 0, o0);
    pcnn_net_loglik(n0, PIX, 3, 0, l0);
    float loss0 = pcnn_net_train_step(n0, PIX, LAB, 3, 5, 1);
    const float *g0 = pcnn_net_buffer(n0, PCNN_BUF_GRADS);
    for (size_t c = 1; c < sizeof CONDS / sizeof *CONDS; c++) {
        pcnn_model_file *m1 = pcnn_model_create(1, 4, 2, 2, 8, 12, CONDS[c], NULL, 21);
        int weights = 1;
        for (uint32_t i = 0; i < m0->ntensors; i++) {
            const pcnn_tensor *a = &m0->tensors[i], *b = pcnn_model_file_find(m1, a->name);
            weights &= b && b->n == a->n && !memcmp(a->data, b->data, a->n * sizeof(float));
        }
        CHECK(weights);
        pcnn_net *n1 = pcnn_net_create(m1, "cpu", 3);
        const pcnn_param_table *t1 = pcnn_net_table(n1);
        pcnn_net_forward_logits(n1, x, LAB, 3, 0, o1);
        CHECK(!memcmp(o0, o1, 3 * npix * C * sizeof *o0));
        pcnn_net_loglik(n1, PIX, 3, 0, l1);
        CHECK(!memcmp(l0, l1, sizeof l0));
        float loss1 = pcnn_net_train_step(n1, PIX, LAB, 3, 5, 1);
        CHECK(loss0 == loss1);
        const float *g1 = pcnn_net_buffer(n1, PCNN_BUF_GRADS);
        CHECK(!memcmp(g0, g1, base * sizeof *g0));
        /* every hs and class_map tensor gets a gradient */
        int moving = 0, variant = 0;
        for (int i = 0; i < t1->n; i++) {
            if (!is_variant_tensor(t1->p[i].name)) continue;
            variant++;
            double s = 0;
            for (size_t k = 0; k < t1->p[i].size; k++) s += fabs(g1[t1->p[i].offset + k]);
            moving += s > 0;
        }
        CHECK(variant == t1->n - t0->n && moving == variant);
        printf("#   %s: output, loss and base gradients = base model's; %d variant tensors, all "
               "with gradients\n", pcnn_cond_name(CONDS[c]), variant);
        pcnn_net_free(n1);
        pcnn_model_file_free(m1);
    }
    free(x), free(o0), free(o1);
    pcnn_net_free(n0);
    pcnn_model_file_free(m0);
}

/* Scoring K classes runs what the class does not reach once per batch (issue 13): without
 * the class image at the input, the INPUT op and the first up-pass block of each stream's
 * concat_elu(x) and conv_input. pcnn_net_loglik must give the bytes of K plain forwards
 * (pcnn_net_loglik_labels with every label c), with batches split (max batch 2 of 3 images)
 * and R = 2 (later up-pass blocks read class-dependent x and must not share). */
static void test_shared_classes(void)
{
    for (size_t c = 0; c < sizeof CONDS / sizeof *CONDS; c++) {
        unsigned cond = CONDS[c];
        pcnn_model_file *m = pcnn_model_create(2, 4, 2, 3, 8, 12, cond, NULL, 5);
        randomise_cond(m);
        pcnn_net *net = pcnn_net_create(m, "cpu", 2);
        int shared = 0;
        for (int i = 0; i < net->nops; i++) shared += net->ops[i].x_indep;
        CHECK(shared == (cond & PCNN_COND_INPUT ? 0 : 2));
        CHECK(net->share_x == !(cond & PCNN_COND_INPUT));
        double la[9], lb[9], one[3];
        pcnn_net_loglik(net, PIX, 3, 0, la);
        for (int k = 0; k < 3; k++) {
            int32_t lab[3] = {k, k, k};
            pcnn_net_loglik_labels(net, PIX, lab, 3, 0, one);
            for (int n = 0; n < 3; n++) lb[n * 3 + k] = one[n];
        }
        CHECK(!memcmp(la, lb, sizeof la));
        /* and the same once more (the kept part is rewritten, not stale) */
        pcnn_net_loglik(net, PIX + 3 * 8 * 12, 2, 0, la);
        pcnn_net_loglik(net, PIX, 3, 0, la);
        CHECK(!memcmp(la, lb, sizeof la));
        printf("#   %s: %d blocks scored once per batch, K classes = K plain passes bit for bit\n",
               pcnn_cond_name(cond), shared);
        pcnn_net_free(net);
        pcnn_model_file_free(m);
    }
}

/* Scoring's wide pass (issue 27: the K classes of max_batch / K images in one pass of
 * max_batch rows, the pixels replicated on the device; the GPU's default): the bytes of the
 * K-pass path (which shares the class-free part, test_shared_classes) on the CPU, for every
 * variant, with a batch that leaves a short last pass (max batch 7, K = 3: 2 images a pass,
 * 5 images) and again after a K-pass call (the labels and the replicated x are rewritten);
 * and a max batch below K falls back to K passes. */
static void test_wide_classes(void)
{
    for (size_t c = 0; c < sizeof CONDS / sizeof *CONDS; c++) {
        unsigned cond = CONDS[c];
        pcnn_model_file *m = pcnn_model_create(2, 4, 2, 3, 8, 12, cond, NULL, 9);
        randomise_cond(m);
        pcnn_net *net = pcnn_net_create(m, "cpu", 7), *small = pcnn_net_create(m, "cpu", 2);
        CHECK(net->score_wide == 0);   /* the CPU's default: K passes */
        double lk[15], lw[15], lw2[15], ls[15];
        pcnn_net_loglik(net, PIX, 5, 1, lk);
        pcnn_net_set_score_wide(net, 1);
        pcnn_net_loglik(net, PIX, 5, 1, lw);
        pcnn_net_set_score_wide(net, 0);
        pcnn_net_loglik(net, PIX + 8 * 12 * 3, 3, 1, lw2);   /* other images in between */
        pcnn_net_set_score_wide(net, 1);
        pcnn_net_loglik(net, PIX, 5, 1, lw2);
        pcnn_net_set_score_wide(small, 1);   /* 2 rows < K = 3: K passes of 2 */
        pcnn_net_loglik(small, PIX, 5, 1, ls);
        int same = !memcmp(lk, lw, sizeof lk), again = !memcmp(lk, lw2, sizeof lk),
            fallback = !memcmp(lk, ls, sizeof lk);
        printf("#   %s: wide pass = K passes: %s; again: %s; max batch < K: %s\n",
               pcnn_cond_name(cond), same ? "bit for bit" : "DIFFERS", again ? "bit for bit" : "DIFFERS",
               fallback ? "bit for bit" : "DIFFERS");
        CHECK(same);
        CHECK(again);
        CHECK(fallback);
        CHECK(lk[0] != lk[1]);   /* the classes score differently: the rows are not all one class */
        pcnn_net_free(net);
        pcnn_net_free(small);
        pcnn_model_file_free(m);
    }
}

/* A file from before the variants (the committed golden small.model, written
 * by PyTorch with SPEC §3 names only) is the base model: told as base, its
 * table has no hs or class_map, and it scores as its golden values say
 * (test_golden checks them to 1e-4; here the file is also told right). */
static void test_old_file(void)
{
    const char *root = getenv("PCNN_ROOT");
    char path[512];
    snprintf(path, sizeof path, "%s/tests/fixtures/golden/small.model", root ? root : ".");
    pcnn_model_file *m = pcnn_model_file_read(path);
    CHECK(m != NULL);
    if (!m) return;
    CHECK(pcnn_model_conditioning(m) == 0);
    pcnn_net *net = pcnn_net_create(m, "cpu", 3);
    CHECK(net != NULL);
    if (net) {
        const pcnn_param_table *t = pcnn_net_table(net);
        pcnn_param_table *b = pcnn_params_build((int)m->R, (int)m->F, (int)m->M, (int)m->K, 0, 0, 0);
        CHECK(t->cond == 0 && t->n == b->n && t->total == b->total);
        int none = 1;
        for (int i = 0; i < t->n; i++) none &= !is_variant_tensor(t->p[i].name);
        CHECK(none);
        const pcnn_tensor *ti = pcnn_model_file_find(m, "golden.images"),
                          *tl = pcnn_model_file_find(m, "golden.loglik");
        if (ti && tl) {
            uint8_t *px = pcnn_xmalloc(ti->n);
            for (size_t i = 0; i < ti->n; i++) px[i] = (uint8_t)ti->data[i];
            double *ll = pcnn_xmalloc(tl->n * sizeof *ll), worst = 0;
            pcnn_net_loglik(net, px, (int)(tl->n / m->K), 0, ll);
            for (size_t i = 0; i < tl->n; i++)
                worst = fmax(worst, fabs(ll[i] - tl->data[i]) / fabs(tl->data[i]));
            CHECK(worst <= 1e-4);
            free(px), free(ll);
        }
        pcnn_params_free(b);
    }
    pcnn_net_free(net);
    pcnn_model_file_free(m);
}

/* A variant file that lacks some of its tensors, or has a class map of the
 * wrong size, is refused with a message (not read as the base model). */
static void test_incomplete_refused(void)
{
    pcnn_model_file *m = pcnn_model_create(1, 4, 2, 2, 8, 12, PCNN_COND_ALL, NULL, 4);
    pcnn_model_file *cut = pcnn_model_file_new(1, 4, 2, 2, 8, 12, 3, m->class_names);
    for (uint32_t i = 0; i < m->ntensors; i++) {
        const pcnn_tensor *x = &m->tensors[i];
        if (strcmp(x->name, "down_layers.2.ul_stream.1.hs"))
            memcpy(pcnn_model_file_add(cut, x->name, x->ndim, x->dims)->data, x->data,
                   x->n * sizeof(float));
    }
    CHECK(pcnn_model_conditioning(cut) == PCNN_COND_ALL);
    check_quiet(1);
    pcnn_net *net = pcnn_net_create(cut, "cpu", 1);
    check_quiet(0);
    CHECK(net == NULL);
    pcnn_net_free(net);
    /* a class map for 8 x 8 images in an 8 x 12 model */
    uint32_t dims[4] = {2, 3, 8, 8};
    pcnn_model_file_add(m, "class_map", 4, dims);
    check_quiet(1);
    net = pcnn_net_create(m, "cpu", 1);
    check_quiet(0);
    CHECK(net == NULL);
    pcnn_net_free(net);
    pcnn_model_file_free(cut);
    pcnn_model_file_free(m);
}

int main(void)
{
    pcnn_init("test_conditioning");
    if (!mkdtemp(tmpdir)) {
        perror("mkdtemp");
        return 1;
    }
    for (size_t i = 0; i < sizeof PIX; i++) PIX[i] = (uint8_t)(pcnn_rng_hash4(2, 3, i, 0, 0) & 255);
    RUN(test_names);
    RUN(test_table);
    RUN(test_file_roundtrip);
    RUN(test_zero_is_base);
    RUN(test_shared_classes);
    RUN(test_wide_classes);
    RUN(test_old_file);
    RUN(test_incomplete_refused);
    rmdir(tmpdir);
    return check_summary();
}
