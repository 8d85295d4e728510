/*
 * nn_vmath.h — the elementwise math of the CPU layers over float arrays
 * (internal to libcommon): exp and the ELU pieces, each in a scalar reference
 * and AVX2 / AVX-512 paths that give the same bits (the ISA is nn_isa()).
 *
 * exp: the algorithm of glibc's expf (Szabolcs Nagy, ARM optimized-routines;
 * same table and polynomial) in double precision, error <= 0.502 ulp, inputs
 * clamped to [-104, 89] (exp underflows to 0 / overflows the same), NaN stays NaN.
 * elu(z) = z > 0 ? z : exp(z) - 1 (exp(z) - 1 rather than expm1: the formula of
 * PyTorch's scalar ELU, absolute error one ulp of 1); elu'(z) = z > 0 ? 1 : exp(z).
 */
#ifndef PCNN_NN_VMATH_H
#define PCNN_NN_VMATH_H

#include <stddef.h>

/* y[i] = exp(x[i]); y may be x. */
void nn_vexp(float *y, const float *x, size_t n);

/* concat_elu's two halves from one exp each: pos[i] = elu(x[i]), neg[i] = elu(-x[i])
 * (e = exp(-|x|) - 1 is the elu of whichever of x, -x is negative; x = +-0 gives +0). */
void nn_vcelu(float *pos, float *neg, const float *x, size_t n);
/* dx[i] += dpos[i] elu'(x[i]) - dneg[i] elu'(-x[i]); with e = exp(-|x|):
 * elu'(x) = x > 0 ? 1 : e, elu'(-x) = x < 0 ? 1 : e. */
void nn_vcelu_bwd(float *dx, const float *dpos, const float *dneg, const float *x, size_t n);

/* y[i] = elu(x[i]); dx[i] += dy[i] elu'(x[i]). */
void nn_velu(float *y, const float *x, size_t n);
void nn_velu_bwd(float *dx, const float *dy, const float *x, size_t n);

/* FiLM's class term (SPEC §3b) on one row: cp[i] = c[i] (kept for the backward), then
 * c[i] = c[i] (1 + hs[i]) + hw[i]. */
void nn_vfilm(float *c, float *cp, const float *hs, const float *hw, size_t n);

/* The gate (SPEC §3: x + a sigmoid(b)), sigmoid(z) = 1 / (1 + exp(-z)):
 * out[i] = x[i] + c[i] sg[i], sg = sigmoid(g[i]); and its backward from dout:
 * dx[i] += dout[i], dc[i] = dout[i] sg, dg[i] = dout[i] c[i] sg (1 - sg) (overwritten),
 * products left to right. */
void nn_vgate(float *out, const float *x, const float *c, const float *g, size_t n);
void nn_vgate_bwd(float *dx, float *dc, float *dg, const float *dout, const float *c,
                  const float *g, size_t n);

#endif
