/*
 * reliability.h — how far stated confidence is from accuracy: the expected calibration
 * error over 15 equal-width bins and the reliability diagram (Guo et al., ICML 2017;
 * Naeini et al. 2015), as pcnn-argmax --report prints them.
 *
 *   pcnn_reliability r = {0};
 *   for each labelled image: pcnn_reliability_add(&r, max_c p(c | x), yhat == y);
 *   double ece = pcnn_reliability_ece(&r);
 *
 * An image of confidence p = max_c p(c | x) falls in bin b when b/15 < p ≤ (b+1)/15
 * (p = 0 in bin 0); with n_b images in bin b, acc_b the fraction of them classified
 * correctly and conf_b their mean confidence,
 *     ECE = Σ_b (n_b / n) · |acc_b − conf_b|.
 * A perfectly calibrated classifier has acc_b = conf_b in every bin and ECE 0.
 */
#ifndef PCNN_RELIABILITY_H
#define PCNN_RELIABILITY_H

#include <stdint.h>
#include <stdio.h>

#define PCNN_RELIABILITY_BINS 15

typedef struct pcnn_reliability {
    uint64_t n;                                 /* images added */
    uint64_t count[PCNN_RELIABILITY_BINS];      /* n_b */
    uint64_t correct[PCNN_RELIABILITY_BINS];    /* images of bin b classified correctly */
    double conf_sum[PCNN_RELIABILITY_BINS];     /* Σ confidence over bin b */
} pcnn_reliability;

/* The bin of a confidence in [0, 1]. */
int pcnn_reliability_bin(double confidence);
/* Adds one image: its confidence max_c p(c | x) in [0, 1] and whether it was right. */
void pcnn_reliability_add(pcnn_reliability *r, double confidence, int correct);
/* ECE in [0, 1]; 0 when empty. */
double pcnn_reliability_ece(const pcnn_reliability *r);

/* Markdown: the ECE of each and the reliability diagram as a table, one row per bin that
 * holds an image in either (range, then images, mean confidence and accuracy under each).
 * before: raw posteriors (T = 1); after: at temperature T (NULL: the table has one). -1 on a
 * write error. */
int pcnn_reliability_report(const pcnn_reliability *before, const pcnn_reliability *after,
                            double T, FILE *out);

#endif
