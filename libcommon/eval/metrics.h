/*
 * metrics.h — classification from per-class log-likelihoods, and the numbers
 * that judge it: log-sum-exp softmax, argmax, bits/dim, the tally of a scored set
 * (accuracy and mean bits/dim: pcnn-fit's validation, pcnn-score's summary and
 * pcnn-gen's verdict on its samples all count here, so they cannot disagree),
 * confusion matrix, accuracy, per-class precision / recall / F1 and macro-F1, and a
 * readable report.
 *
 *   double post[K];
 *   pcnn_softmax(post, logp, K);              // p(c | x) from log p(x | c) (+ log prior)
 *   uint32_t yhat = pcnn_argmax(logp, K);     // ties: lowest class index
 *   pcnn_confusion *cm = pcnn_confusion_new(K);
 *   pcnn_confusion_add(cm, y_true, yhat);     // for every labelled image
 *   pcnn_confusion_report(cm, class_names, stdout);
 *   pcnn_confusion_free(cm);
 *
 * Conventions (those of scikit-learn, which the CPEN 455 leaderboard used):
 *   precision_k = TP_k / (TP_k + FP_k), 0 when nothing was predicted as k;
 *   recall_k    = TP_k / (TP_k + FN_k), 0 when class k has no true images;
 *   F1_k        = 2·P·R / (P + R), 0 when P + R = 0;
 *   macro-F1    = mean of F1_k over the classes that occur as a true or a
 *                 predicted label (sklearn f1_score(average="macro")).
 */
#ifndef PCNN_METRICS_H
#define PCNN_METRICS_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* log Σ_i exp(x_i), computed as m + log Σ_i exp(x_i − m) with m = max_i x_i, so
 * log-likelihoods of −6000 nats neither underflow nor lose precision.
 * Entries may be −inf (a class with prior 0); all −inf gives −inf. n ≥ 1. */
double pcnn_logsumexp(const double *x, size_t n);

/* out_i = exp(x_i − logsumexp(x)); out may alias x. Sums to 1 within rounding. */
void pcnn_softmax(double *out, const double *x, size_t n);

/* Index of the largest x_i; the lowest index wins ties. n ≥ 1. */
size_t pcnn_argmax(const double *x, size_t n);

/* Bits per dimension of a log-likelihood in nats of an H×W×C image:
 * −ll / (H·W·C·ln 2). */
double pcnn_bits_per_dim(double loglik_nats, uint32_t H, uint32_t W, uint32_t C);

/* What the model's own scores say of a set of labelled images: of the images with a
 * label (≥ 0; the others are skipped), how many pcnn_argmax over their row of
 * log p(x | c) gives their label, and the sum of their bits/dim under it (in image
 * order). Start from {0}; accuracy = correct / labelled, mean bits/dim =
 * bpd_sum / labelled. */
typedef struct pcnn_tally {
    uint64_t labelled, correct;
    double bpd_sum;
} pcnn_tally;
/* Adds n images: ll (n × K) in nats, labels (n), each image H×W×C. */
void pcnn_tally_add(pcnn_tally *t, const double *ll, const int32_t *labels, size_t n, uint32_t K,
                    uint32_t H, uint32_t W, uint32_t C);

/* K×K counts: m[t·K + p] = images of true class t predicted as p. */
typedef struct pcnn_confusion {
    uint32_t K;
    uint64_t n;   /* images added */
    uint64_t *m;
} pcnn_confusion;

pcnn_confusion *pcnn_confusion_new(uint32_t K);
void pcnn_confusion_free(pcnn_confusion *c);   /* accepts NULL */
/* truth and pred in 0..K-1 (checked by the caller). */
void pcnn_confusion_add(pcnn_confusion *c, uint32_t truth, uint32_t pred);

typedef struct pcnn_class_metrics {
    uint64_t tp, support, predicted;   /* TP_k, TP_k + FN_k, TP_k + FP_k */
    double precision, recall, f1;
} pcnn_class_metrics;

uint64_t pcnn_confusion_correct(const pcnn_confusion *c);     /* trace */
double pcnn_confusion_accuracy(const pcnn_confusion *c);      /* 0 when empty */
void pcnn_confusion_class(const pcnn_confusion *c, uint32_t k, pcnn_class_metrics *out);
double pcnn_confusion_macro_f1(const pcnn_confusion *c);      /* 0 when empty */

/* A Markdown report: counts, accuracy, macro-F1, a per-class table and the
 * confusion matrix (rows = true class, columns = predicted class).
 * unknown = images without a label (counted, not scored). -1 on a write error. */
int pcnn_confusion_report(const pcnn_confusion *c, char *const *class_names, uint64_t unknown,
                          FILE *out);

#endif
