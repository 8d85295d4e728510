/* metrics.c — softmax, argmax and confusion-matrix metrics; see metrics.h. */
#include "eval/metrics.h"

#include "util.h"

#include <math.h>
#include <stdlib.h>

double pcnn_logsumexp(const double *x, size_t n)
{
    double m = x[0];
    for (size_t i = 1; i < n; i++)
        if (x[i] > m) m = x[i];
    if (isinf(m)) return m;   /* all −inf (or a +inf, which callers never pass) */
    double s = 0;             /* Σ exp(x_i − m) ∈ [1, n]: the max term is exactly 1 */
    for (size_t i = 0; i < n; i++) s += exp(x[i] - m);
    return m + log(s);
}

void pcnn_softmax(double *out, const double *x, size_t n)
{
    double lse = pcnn_logsumexp(x, n);
    for (size_t i = 0; i < n; i++) out[i] = exp(x[i] - lse);
}

size_t pcnn_argmax(const double *x, size_t n)
{
    size_t best = 0;
    for (size_t i = 1; i < n; i++)
        if (x[i] > x[best]) best = i;   /* strict: the first maximum stays */
    return best;
}

double pcnn_bits_per_dim(double loglik_nats, uint32_t H, uint32_t W, uint32_t C)
{
    return -loglik_nats / ((double)H * W * C * M_LN2);
}

void pcnn_tally_add(pcnn_tally *t, const double *ll, const int32_t *labels, size_t n, uint32_t K,
                    uint32_t H, uint32_t W, uint32_t C)
{
    for (size_t i = 0; i < n; i++) {
        if (labels[i] < 0) continue;
        const double *row = ll + i * K;
        t->correct += pcnn_argmax(row, K) == (size_t)labels[i];
        t->bpd_sum += pcnn_bits_per_dim(row[labels[i]], H, W, C);
        t->labelled++;
    }
}

pcnn_confusion *pcnn_confusion_new(uint32_t K)
{
    pcnn_confusion *c = pcnn_xcalloc(1, sizeof *c);
    c->K = K;
    c->m = pcnn_xcalloc(pcnn_mul_size(K, K), sizeof *c->m);
    return c;
}

void pcnn_confusion_free(pcnn_confusion *c)
{
    if (!c) return;
    free(c->m);
    free(c);
}

void pcnn_confusion_add(pcnn_confusion *c, uint32_t truth, uint32_t pred)
{
    c->m[(size_t)truth * c->K + pred]++;
    c->n++;
}

uint64_t pcnn_confusion_correct(const pcnn_confusion *c)
{
    uint64_t s = 0;
    for (uint32_t k = 0; k < c->K; k++) s += c->m[(size_t)k * c->K + k];
    return s;
}

double pcnn_confusion_accuracy(const pcnn_confusion *c)
{
    return c->n ? (double)pcnn_confusion_correct(c) / (double)c->n : 0.0;
}

void pcnn_confusion_class(const pcnn_confusion *c, uint32_t k, pcnn_class_metrics *o)
{
    uint32_t K = c->K;
    o->tp = c->m[(size_t)k * K + k];
    o->support = o->predicted = 0;
    for (uint32_t j = 0; j < K; j++) {
        o->support += c->m[(size_t)k * K + j];     /* row k: true class k */
        o->predicted += c->m[(size_t)j * K + k];   /* column k: predicted k */
    }
    o->precision = o->predicted ? (double)o->tp / (double)o->predicted : 0.0;
    o->recall = o->support ? (double)o->tp / (double)o->support : 0.0;
    double pr = o->precision + o->recall;
    o->f1 = pr > 0 ? 2 * o->precision * o->recall / pr : 0.0;
}

double pcnn_confusion_macro_f1(const pcnn_confusion *c)
{
    double s = 0;
    uint32_t used = 0;
    for (uint32_t k = 0; k < c->K; k++) {
        pcnn_class_metrics cm;
        pcnn_confusion_class(c, k, &cm);
        if (!cm.support && !cm.predicted) continue;   /* absent from truth and predictions */
        s += cm.f1;
        used++;
    }
    return used ? s / used : 0.0;
}

int pcnn_confusion_report(const pcnn_confusion *c, char *const *names, uint64_t unknown, FILE *out)
{
    uint32_t K = c->K;
    fprintf(out, "# Classification report\n\n");
    fprintf(out, "- images: %llu (%llu labelled, %llu without a label)\n",
            (unsigned long long)(c->n + unknown), (unsigned long long)c->n,
            (unsigned long long)unknown);
    if (!c->n) {
        fprintf(out, "- accuracy: unknown (no labelled images)\n");
        return ferror(out) ? -1 : 0;
    }
    fprintf(out, "- accuracy: %.6f (%llu/%llu)\n", pcnn_confusion_accuracy(c),
            (unsigned long long)pcnn_confusion_correct(c), (unsigned long long)c->n);
    fprintf(out, "- macro-F1: %.6f\n\n", pcnn_confusion_macro_f1(c));
    fprintf(out, "| class | precision | recall | F1 | support | predicted |\n");
    fprintf(out, "|---|---:|---:|---:|---:|---:|\n");
    for (uint32_t k = 0; k < K; k++) {
        pcnn_class_metrics cm;
        pcnn_confusion_class(c, k, &cm);
        fprintf(out, "| %s | %.6f | %.6f | %.6f | %llu | %llu |\n", names[k], cm.precision,
                cm.recall, cm.f1, (unsigned long long)cm.support, (unsigned long long)cm.predicted);
    }
    fprintf(out, "\nConfusion matrix (rows = true class, columns = predicted class):\n\n");
    fprintf(out, "| true \\ predicted |");
    for (uint32_t k = 0; k < K; k++) fprintf(out, " %s |", names[k]);
    fprintf(out, "\n|---|");
    for (uint32_t k = 0; k < K; k++) fprintf(out, "---:|");
    fputc('\n', out);
    for (uint32_t t = 0; t < K; t++) {
        fprintf(out, "| %s |", names[t]);
        for (uint32_t p = 0; p < K; p++)
            fprintf(out, " %llu |", (unsigned long long)c->m[(size_t)t * K + p]);
        fputc('\n', out);
    }
    return ferror(out) ? -1 : 0;
}
