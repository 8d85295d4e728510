/*
 * prior.h — the class prior of a generative classifier, fitted: Bayes' rule with
 * offsets b_c instead of a uniform p(c).
 *
 *   pcnn_prior_fit r;
 *   pcnn_prior_fit_run(z, y, n, K, &r);       // z: n × K log p(x | c) (nats), y: labels
 *   decide:  ŷ = argmax_c  z_c + b_c            (b_0 = 0; b_c = log p(c) − log p(0))
 *   p(c | x) = softmax_c((z_c + b_c) / T)
 *
 * Why: a class-conditional PixelCNN++ trained by the likelihood alone gives the classes
 * whose images are simpler (smoother, more background) a higher log p(x | c) on every
 * image, by tens of nats; with a uniform prior the argmax then over-predicts them (on
 * CPEN 455 a likelihood-only model sends 43 % of the validation images to one class of
 * 25 %). The offsets of one log-prior per class correct that bias; they are K − 1 numbers,
 * fitted on labelled scores that the decision is not judged on (pcnn-argmax fits them on
 * a subset of the training images).
 *
 * The fit is the maximum of the conditional likelihood of the labels, jointly with one
 * temperature (the offsets are in nats of z, the temperature says how sure to be):
 *     ℓ_nc = β z_nc + γ_c     (γ_0 = 0; T = 1/β, b_c = γ_c / β)
 *     N(β, γ) = Σ_n [ lse_c(ℓ_nc) − ℓ_{n,y_n} ]
 * N is convex in θ = (β, γ_1 … γ_{K−1}): ℓ is linear in θ with features
 * φ_nc = (z_nc, e_c) (e_c the indicator of class c ≥ 1), and
 *     ∇N = Σ_n Σ_c (p_nc − [c = y_n]) φ_nc
 *     ∇²N = Σ_n ( Σ_c p_nc φ_nc φ_ncᵀ − μ_n μ_nᵀ ),   μ_n = Σ_c p_nc φ_nc
 * (multinomial logistic regression on K features). Newton steps with a backtracking line
 * search from θ = (1 / spread, 0). Each image's z may be shifted by a constant (softmax
 * ignores it): the fit subtracts max_c z_nc first, which keeps ℓ small.
 *
 * When the labels can be separated exactly by some (β, γ), N has no minimum (it falls
 * towards 0 as β grows): the fit stops at β_max and says so. When the labels do not score
 * above average at all (no β > 0 helps), the fit returns β at its lower bound and says so.
 */
#ifndef PCNN_PRIOR_H
#define PCNN_PRIOR_H

#include <stddef.h>
#include <stdint.h>

enum {
    PCNN_PRIOR_OK = 0,         /* the minimiser, to a gradient of 1e−9 per image */
    PCNN_PRIOR_SEPARABLE = 1,  /* exactly separable: β reached its bound, b is a direction */
    PCNN_PRIOR_FLAT = 2,       /* no β > 0 helps: the scores carry no information */
    PCNN_PRIOR_ERROR = -1,     /* no labelled rows, or a non-finite score */
};

typedef struct pcnn_prior_fit {
    uint32_t K;
    double b[64];        /* offsets in nats of z, b[0] = 0 (K ≤ 64 classes) */
    double T;            /* the temperature fitted with them */
    double nll;          /* mean NLL per image at the fit (nats) */
    double nll_uniform;  /* mean NLL with b = 0 and the best T alone, for comparison */
    int iterations;
    size_t n;            /* labelled rows used */
} pcnn_prior_fit;

#define PCNN_PRIOR_MAX_K 64

/* Fits (T, b) on the rows with 0 ≤ y < K. Returns one of the PCNN_PRIOR_* codes; r is
 * filled for OK, SEPARABLE and FLAT. */
int pcnn_prior_fit_run(const double *z, const int32_t *y, size_t n, uint32_t K, pcnn_prior_fit *r);

/* Mean NLL per labelled image of softmax((z + b) / T). */
double pcnn_prior_nll(const double *z, const int32_t *y, size_t n, uint32_t K, const double *b,
                      double T);

/* argmax_c z_c + b_c of one row (the first of ties). */
uint32_t pcnn_prior_argmax(const double *z, uint32_t K, const double *b);

/* Accuracy of that decision over the rows with 0 ≤ y < K (NaN when there are none); b NULL:
 * a uniform prior. */
double pcnn_prior_accuracy(const double *z, const int32_t *y, size_t n, uint32_t K, const double *b);

#endif
