/*
 * sample.h — class-conditional sampling (SPEC §5): raster order, one pixel
 * position at a time, each sub-pixel fed back as the continuous value sampled.
 *
 * Random numbers: the uniforms of pixel (i, j) of an image come from
 * pcnn_dmol_sample(..., seed, stream = (key·H + i)·W + j) (nn_dmol.h), where
 * key identifies the image (pcnn-gen uses class·2^24 + index within the class),
 * so an image does not depend on the batch it was drawn in, and the naive and
 * the cached sampler draw the same numbers.
 *
 *   float *x = malloc(N * H * W * 3 * sizeof *x);
 *   pcnn_sample_cached(net, model, labels, keys, N, seed, 1, x, &progress);  // or _naive
 *   pcnn_sample_to_u8(x, N * H * W * 3, pixels);
 */
#ifndef PCNN_SAMPLE_H
#define PCNN_SAMPLE_H

#include "model/net.h"
#include "util.h"

#include <stddef.h>
#include <stdint.h>

/* The reference sampler: the whole network runs once per pixel position
 * (H·W passes), and only that position's output comes back from the device
 * (pcnn_net_forward_logits_at); m gives the sizes (H, W, M). x (N, H, W, 3) is overwritten. progress (may be NULL) is
 * advanced by N images when the last row is done and by rows as it goes. */
void pcnn_sample_naive(pcnn_net *net, const pcnn_model_file *m, const int32_t *labels, const uint64_t *keys, int N,
                       uint64_t seed, int use_polyak, float *x, pcnn_progress *progress);

/* The cached sampler (net_sample.c; Ramachandran et al. 2017): the same
 * arguments and exactly the same x, bit for bit, as pcnn_sample_naive, but at
 * each position it recomputes only the activation rows (and, in the ul stream,
 * column prefixes) that the new pixel changes: the u stream once per image row,
 * the lower resolutions only on their rows. Bit for bit on the CPU; on a GPU
 * within rounding (cuDNN may sum a window in another order than a whole image). */
void pcnn_sample_cached(pcnn_net *net, const pcnn_model_file *m, const int32_t *labels,
                        const uint64_t *keys, int N, uint64_t seed, int use_polyak, float *x,
                        pcnn_progress *progress);

/* Class-conditional completion: x (N, H, W, 3) holds on entry N images of which the first
 * `rows` rows (0..H) are given; they are kept exactly (the network sees them as the true
 * pixels, teacher forcing) and the rows below are sampled for labels[n] as SPEC §5, with
 * the random numbers of the same (seed, key, position) as the samplers above. The given
 * rows are read, never written; what x holds below them on entry is ignored. rows = 0 is
 * pcnn_sample_*; the cached completion gives the naive one's bytes on the CPU. */
void pcnn_complete_naive(pcnn_net *net, const pcnn_model_file *m, const int32_t *labels,
                         const uint64_t *keys, int N, uint64_t seed, int use_polyak, int rows,
                         float *x, pcnn_progress *progress);
void pcnn_complete_cached(pcnn_net *net, const pcnn_model_file *m, const int32_t *labels,
                          const uint64_t *keys, int N, uint64_t seed, int use_polyak, int rows,
                          float *x, pcnn_progress *progress);

/* For tests: the logits, host (N, H, W, 10M), that the cached sampler's window ops
 * give at every position when the images are x (N, H, W, 3) instead of sampled
 * pixels (teacher forcing). By causality they are pcnn_net_forward_logits's on x:
 * bit for bit on the CPU, within rounding on a GPU. */
void pcnn_cached_logits(pcnn_net *net, const float *x, const int32_t *labels, int N,
                        int use_polyak, float *logits);

/* Rounds x in [-1, 1] to uint8 as SPEC §5: (x + 1)·127.5, rounded, clamped. */
void pcnn_sample_to_u8(const float *x, size_t n, uint8_t *out);

/* The network's input of uint8 pixels, SPEC §2: x = (p / 255 − 0.5)·2, as pcnn_net computes
 * it; pcnn_sample_to_u8 gives p back for every p in 0..255. */
void pcnn_sample_from_u8(const uint8_t *px, size_t n, float *x);

#endif
