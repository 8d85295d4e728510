/*
 * ood.h — is an image like the training data at all? Scores and the threshold that flags
 * it (pcnn-score --ood writes the inputs, pcnn-argmax --reject applies them).
 *
 *   double lpx = pcnn_ood_log_px(logp, NULL, K);          // log p(x), uniform prior
 *   double s   = pcnn_ood_complexity_score(lpx, L_bits);  // S(x) in bits
 *   double t   = pcnn_ood_threshold(s_val, n_val, 0.99);   // on validation: its 99th percentile
 *   if (pcnn_ood_rejects(s, t)) label = -1;
 *
 * The marginal likelihood of the class-conditional model,
 *     log p(x) = log Σ_c p(x | c) p(c)                     (nats)
 * is a poor out-of-distribution score alone: PixelCNN++ gives simple images (SVHN against
 * CIFAR-10; a constant image against anything) a higher likelihood than its own data
 * (Nalisnick et al., ICLR 2019), because the likelihood is dominated by how much there is
 * to code at all. The input-complexity score (Serrà et al., ICLR 2020) subtracts that:
 *     S(x) = −log₂ p(x) − L(x)                              (bits)
 * with L(x) the length of a generic lossless code of x (a PNG, io/pngsize.h). It is the
 * log-likelihood ratio of a universal coder against the model: large S = the model codes
 * x worse than a general-purpose compressor does = unlike the training data.
 */
#ifndef PCNN_OOD_H
#define PCNN_OOD_H

#include <stddef.h>
#include <stdint.h>

/* log Σ_c exp(logp[c] + logprior[c]) by log-sum-exp; logprior NULL means the uniform prior
 * log p(c) = −log K. logp: K log-likelihoods in nats. */
double pcnn_ood_log_px(const double *logp, const double *logprior, uint32_t K);

/* S(x) = −log_px / ln 2 − png_bits, in bits (log_px in nats). */
double pcnn_ood_complexity_score(double log_px_nats, double png_bits);

/* The threshold of a calibration set's scores s[0..n−1] at quantile q ∈ (0, 1]: the
 * nearest-rank q-quantile, the ⌈q·n⌉-th smallest score (s is sorted in place). Images
 * whose score is strictly above it are flagged, so at most n − ⌈q·n⌉ of the calibration
 * images are (fewer on ties): q = 0.99 flags at most 1 % of validation. n ≥ 1. */
double pcnn_ood_threshold(double *s, size_t n, double q);

/* 1 when score > threshold (flagged out of distribution), else 0. */
int pcnn_ood_rejects(double score, double threshold);

#endif
