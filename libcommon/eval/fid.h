/*
 * fid.h — the Fréchet Inception Distance of pytorch-fid between two sets of images
 * (docs/FID.md), shared by pcnn-fid and pcnn-gen --fid-against.
 *
 *   double fid;
 *   if (pcnn_fid_run("pt_inception.pth", 192, "samples", "data/test", &fid)) return 1;
 *   printf("%.6f\n", fid);
 *
 * A source is a folder (its *.png, *.jpg, *.jpeg files, any case, sorted by name; any
 * other image type there is an error, since pytorch-fid would read it) or a pcnn data
 * file (pcnn-prep's output: its images as stored, gray replicated to RGB).
 *
 * FID (Heusel et al. 2017), as pytorch-fid's calculate_frechet_distance:
 *   FID = ‖μ_a − μ_b‖² + tr Σ_a + tr Σ_b − 2 tr (Σ_a Σ_b)^{1/2}
 * μ the mean of the features, Σ their covariance with N − 1 (np.cov), all in double.
 * tr (Σ_a Σ_b)^{1/2} = Σ_i sqrt(λ_i) over the eigenvalues λ_i of Σ_a^{1/2} Σ_b Σ_a^{1/2}
 * (the same as those of Σ_a Σ_b), from two symmetric eigendecompositions (LAPACK dsyev),
 * Σ_a^{1/2} = V diag(sqrt(max(d, 0))) Vᵀ; eigenvalues below 0 (rounding of singular,
 * positive semi-definite matrices: fewer images than dims) count as 0. This is the trace
 * of scipy's sqrtm that pytorch-fid takes (its imaginary parts dropped) and stays finite
 * when the covariances are singular. When the result is not finite all the same,
 * pytorch-fid's fallback is taken: 1e-6 added to both diagonals, with a message.
 */
#ifndef PCNN_FID_H
#define PCNN_FID_H

#include "eval/inception.h"

#include <stdint.h>

#define PCNN_FID_EPS 1e-6

/* Features (n × dims floats, malloc'd; *n images) of every image of a source, one image
 * per OpenMP thread. NULL after printing "prog: file: why" (a folder that cannot be read,
 * an image that cannot be decoded, no image at all). */
float *pcnn_fid_features(const pcnn_inception *net, const char *src, int64_t *n);

/* mu (dims) and sigma (dims × dims) of n ≥ 2 feature rows. */
void pcnn_fid_stats(const float *feat, int64_t n, int dims, double *mu, double *sigma);

/* FID of two (mu, sigma); *offset = 1 when the ε fallback was taken (message printed
 * unless pcnn_quiet). NaN when even that is not finite. */
double pcnn_fid_distance(const double *mu1, const double *s1, const double *mu2, const double *s2,
                         int dims, int *offset);

/* The whole computation: weights file, dims (64 or 192), two sources. 0 and *fid, or -1
 * after printing why. With pcnn_quiet unset, prints a summary (images, time) on stderr. */
int pcnn_fid_run(const char *weights, int dims, const char *src_a, const char *src_b, double *fid);

#endif
