/*
 * nn_dmol.h — the discretized mixture of logistics (SPEC §4, §5): per-pixel
 * log-likelihood with its analytic gradient, and the per-pixel sampler.
 *
 * Per pixel, l holds 10*M floats: M mixture logits, then for colour c = R, G, B
 * a group of 3M starting at M + 3M*c: M means, M log-scales, M raw coefficients
 * (tanh of the R group's gives alpha, G's beta, B's gamma). x holds the 3
 * sub-pixels in [-1, 1].
 *
 *   double lp = pcnn_dmol_logp(l, x, M, dl);     // dl (10M) = d lp / d l, or NULL
 *   float u[M + 3]; ... fill with uniforms in [0,1) ...
 *   pcnn_dmol_sample_u(l, M, u, out);            // out[3] in [-1, 1]
 */
#ifndef PCNN_NN_DMOL_H
#define PCNN_NN_DMOL_H

#include <stdint.h>

/* Largest number of mixture components (net creation refuses more). */
#define PCNN_DMOL_MAX_M 256

/* log p(pixel) in nats (float32 arithmetic, SPEC §4 branches by real selects,
 * log-sum-exp over components). When dl is not NULL it receives the gradient
 * of the returned value with respect to the 10M outputs (overwritten). */
float pcnn_dmol_logp(const float *l, const float *x, int M, float *dl);

/* One pixel sample (SPEC §5) from the outputs l (10M) and M + 3 uniforms u in
 * [0, 1): u[0..M) for the Gumbel choice of the component, u[M..M+3) for the
 * logistic noise of R, G, B. Each u is mapped to 1e-5 + (1 - 2e-5) * u, i.e.
 * into U(1e-5, 1 - 1e-5). out (3) in [-1, 1]. */
void pcnn_dmol_sample_u(const float *l, int M, const float *u, float out[3]);

/* The same with the uniforms drawn from rng.h: u_k = pcnn_rng_uniform(seed,
 * PCNN_RNG_SAMPLE, stream, k), where stream identifies the pixel (e.g.
 * (image index * H + i) * W + j), so the naive and the cached sampler draw the
 * same numbers for the same pixel. */
void pcnn_dmol_sample(const float *l, int M, uint64_t seed, uint64_t stream, float out[3]);

#endif
