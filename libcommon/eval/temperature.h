/*
 * temperature.h — temperature scaling (Guo et al., ICML 2017): one number T that makes the
 * generative classifier's posteriors honest.
 *
 *   double T;
 *   pcnn_temperature_fit(z, y, n, K, &T);     // z: n × K logits, y: n labels (validation)
 *   p(c | x) = softmax_c(z_c / T)             // pcnn-argmax --probs with the fitted T
 *
 * The logits are z_c = log p(x | c) + log p(c) in nats. Log-likelihoods of one image differ
 * between classes by tens to hundreds of nats, so softmax(z) is almost always 0/1 and far
 * too sure of itself; dividing by one T > 1 fitted on held-out data fixes most of it and
 * changes no decision (argmax z/T = argmax z).
 *
 * The fit minimises the negative log-likelihood of the labels. In β = 1/T,
 *     N(β)   = Σ_n [ lse_c(β z_nc) − β z_{n,y_n} ]
 *     N'(β)  = Σ_n ( E_{p_β}[z_n] − z_{n,y_n} )        p_β = softmax(β z_n)
 *     N''(β) = Σ_n Var_{p_β}[z_n] ≥ 0
 * so N is convex in β and its minimum is the root of N'. N'(0) = Σ_n (mean_c z_nc − z_{n,y})
 * is < 0 when the labels score above average at all; N' grows to Σ_n (z at the argmax −
 * z_{n,y}) ≥ 0 as β → ∞, which is 0 only when every image is classified correctly: then the
 * NLL falls forever (T → 0) and no finite T is optimal.
 */
#ifndef PCNN_TEMPERATURE_H
#define PCNN_TEMPERATURE_H

#include <stddef.h>
#include <stdint.h>

/* What pcnn_temperature_fit found. */
enum {
    PCNN_TEMP_OK = 0,         /* T is the minimiser */
    PCNN_TEMP_SEPARABLE = 1,  /* every image is already classified correctly, so the NLL
                               * keeps falling as T → 0; T is the smallest tried (1e−6) */
    PCNN_TEMP_FLAT = 2,       /* the labels do not score above average (N'(0) ≥ 0): the
                               * logits carry no information; T is the largest tried (1e9) */
};

/* Mean NLL (nats per image) of the labels under softmax(z / T); rows with y < 0 skipped. */
double pcnn_temperature_nll(const double *z, const int32_t *y, size_t n, uint32_t K, double T);

/* Fits T on the rows with y ≥ 0 (at least one; z finite): safeguarded Newton on N'(β) = 0
 * (a bisection step whenever Newton leaves the bracket), to a relative 1e−12 in β. Returns
 * PCNN_TEMP_OK, _SEPARABLE or _FLAT, with T in *T either way. */
int pcnn_temperature_fit(const double *z, const int32_t *y, size_t n, uint32_t K, double *T);

#endif
