/* judge.c — the k-NN judge of samples (judge.h). */
#include "eval/judge.h"

#include "eval/knn.h"
#include "io/sampledir.h"
#include "util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

pcnn_dataset *pcnn_judge_load(const char *path, const char *opt, const pcnn_model_file *m, size_t need)
{
    pcnn_dataset *d = pcnn_dataset_load(path);
    if (!d) return NULL;
    const char *name = pcnn_display_name(path);
    const char *hint = "give real labelled images of the model's size and classes, e.g. its training set";
    if (d->h.H != m->H || d->h.W != m->W || d->h.C != 3) {
        pcnn_warn("%s: %s: images are %ux%ux%u, the model's samples %ux%ux3 (%s)", opt, name,
                  d->h.H, d->h.W, d->h.C, m->H, m->W, hint);
        goto bad;
    }
    if (d->h.K != m->K) {
        pcnn_warn("%s: %s: %u classes, the model has %u (%s)", opt, name, d->h.K, m->K, hint);
        goto bad;
    }
    for (uint32_t k = 0; k < m->K; k++)
        if (strcmp(d->h.class_names[k], m->class_names[k])) {
            pcnn_warn("%s: %s: class %u is '%s', the model's class %u is '%s' (%s)", opt, name, k,
                      d->h.class_names[k], k, m->class_names[k], hint);
            goto bad;
        }
    size_t nl = pcnn_knn_labelled(d->labels, (size_t)d->n);
    if (nl == 0) {
        pcnn_warn("%s: %s: no labelled images (%s)", opt, name, hint);
        goto bad;
    }
    if (nl < need) {
        pcnn_warn("%s: %s: %zu labelled images, fewer than the %zu neighbours of --judge-k", opt, name, nl, need);
        goto bad;
    }
    return d;
bad:
    pcnn_dataset_free(d);
    return NULL;
}

/* "Cat 50.0% (1/2), Dog 25.0% (1/4)": hits among totals, for the classes with images. */
static void print_shares(const pcnn_model_file *m, const size_t *hit, const size_t *tot)
{
    const char *sep = "";
    for (uint32_t k = 0; k < m->K; k++) {
        if (!tot[k]) continue;
        fprintf(stderr, "%s%s %.1f%% (%zu/%zu)", sep, m->class_names[k], 100.0 * (double)hit[k] / (double)tot[k],
                hit[k], tot[k]);
        sep = ", ";
    }
    fputc('\n', stderr);
}

/* Per class: how many of n images (true classes truth) there are (tot) and how many were
 * judged their class (hit); returns the hits in all. */
static size_t tally(size_t *hit, size_t *tot, size_t K, const int32_t *truth, const int32_t *pred,
                    size_t n)
{
    size_t correct = 0;
    memset(hit, 0, K * sizeof *hit);
    memset(tot, 0, K * sizeof *tot);
    for (size_t i = 0; i < n; i++) {
        tot[truth[i]]++;
        hit[truth[i]] += pred[i] == truth[i];
        correct += pred[i] == truth[i];
    }
    return correct;
}

/* The ceiling: the labelled real images of j->val through the same judge, on stderr. */
static void print_ceiling(const pcnn_judge *j, const pcnn_model_file *m, size_t *hit, size_t *tot)
{
    size_t per = (size_t)m->H * m->W * 3, nv = (size_t)j->val->n;
    size_t vl = pcnn_knn_labelled(j->val->labels, nv), n = 0;
    uint8_t *vx = pcnn_xmalloc(pcnn_mul_size(vl, per));
    int32_t *vy = pcnn_xmalloc(pcnn_mul_size(vl, sizeof *vy));
    int32_t *vp = pcnn_xmalloc(pcnn_mul_size(vl, sizeof *vp));
    for (size_t i = 0; i < nv; i++)
        if (j->val->labels[i] >= 0) {
            memcpy(vx + n * per, j->val->pixels + i * per, per);
            vy[n++] = j->val->labels[i];
        }
    pcnn_knn_classify(vp, NULL, NULL, vx, vl, j->real->pixels, j->real->labels, (size_t)j->real->n, per, m->K, j->k);
    size_t vc = tally(hit, tot, m->K, vy, vp, vl);
    fprintf(stderr, "%s: judge ceiling: %d-NN over %s classifies %.1f%% of %s's labelled images as their class (%zu/%zu): ",
            pcnn_progname, j->k, pcnn_display_name(j->real_path), 100.0 * (double)vc / (double)vl,
            pcnn_display_name(j->val_path), vc, vl);
    print_shares(m, hit, tot);
    free(vx);
    free(vy);
    free(vp);
}

/* The per-sample TSV: 0, or -1 (said). */
static int write_tsv(const char *path, const pcnn_model_file *m, const int32_t *drawn, const int32_t *pred,
                     const uint64_t *near, size_t total, size_t per_class)
{
    pcnn_outfile *o = pcnn_outfile_open(path);
    if (!o) return -1;
    int rc = 0, width = pcnn_sample_name_width(per_class);
    char name[PCNN_DATA_MAX_NAME + 64];
    fprintf(o->fp, "file\tdrawn\tjudged\tnearest_sqdist\n");
    for (size_t i = 0; i < total && !rc; i++) {
        rc = pcnn_sample_name(name, sizeof name, m->class_names[drawn[i]], i % per_class + 1, width);
        fprintf(o->fp, "%s\t%s\t%s\t%llu\n", name, m->class_names[drawn[i]], m->class_names[pred[i]],
                (unsigned long long)near[i]);
    }
    if (rc) {
        pcnn_outfile_abort(o);
        return -1;
    }
    return pcnn_outfile_commit(o) ? -1 : 0;
}

int pcnn_judge_samples(const pcnn_judge *j, const pcnn_model_file *m, const uint8_t *px,
                       const int32_t *drawn, size_t total, size_t per_class)
{
    size_t per = (size_t)m->H * m->W * 3, K = m->K;
    int32_t *pred = pcnn_xmalloc(pcnn_mul_size(total, sizeof *pred));
    uint64_t *near = pcnn_xmalloc(pcnn_mul_size(total, sizeof *near));
    size_t *hit = pcnn_xcalloc(K, sizeof *hit), *tot = pcnn_xcalloc(K, sizeof *tot);
    pcnn_knn_classify(pred, near, NULL, px, total, j->real->pixels, j->real->labels, (size_t)j->real->n, per, m->K, j->k);
    size_t correct = tally(hit, tot, K, drawn, pred, total);
    size_t nl = pcnn_knn_labelled(j->real->labels, (size_t)j->real->n);
    if (!j->quiet) {
        fprintf(stderr, "%s: judge: %d-NN over %s (%zu labelled images) classifies %.1f%% of the samples as their class (%zu/%zu): ",
                pcnn_progname, j->k, pcnn_display_name(j->real_path), nl, 100.0 * (double)correct / (double)total, correct, total);
        print_shares(m, hit, tot);
        if (j->val) print_ceiling(j, m, hit, tot);
    }
    int rc = j->out_path ? write_tsv(j->out_path, m, drawn, pred, near, total, per_class) : 0;
    free(pred);
    free(near);
    free(hit);
    free(tot);
    return rc;
}
