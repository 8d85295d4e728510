/*
 * resize.h — antialiased bilinear resizing of uint8 images, the filter of PIL's
 * Image.resize(BILINEAR) and torchvision's resize(..., antialias=True) (SPEC §2).
 *
 *   uint8_t out[32 * 32 * 3];
 *   pcnn_resize_u8(out, 32, 32, im.rgb, im.h, im.w, 3);    // 64×64×3 → 32×32×3
 *
 * The math, per axis (separable: a horizontal pass, then a vertical pass). For an input
 * of n samples and an output of m, scale s = n / m and filter scale f = max(s, 1). The
 * triangle filter tri(t) = max(0, 1 − |t|) gets support r = f (one input pixel when
 * enlarging, s input pixels when shrinking). Output sample i (0 ≤ i < m) has centre
 * c = s·(i + 0.5) in input coordinates and reads the input samples j in
 *     [ max(0, trunc(c − r + 0.5)),  min(n, trunc(c + r + 0.5)) )
 * with weights w_j = tri((j − c + 0.5) / f), divided by their sum (so the edge samples
 * renormalise instead of reading outside the image). These are exactly the bounds and
 * weights of PIL's precompute_coeffs and of ATen's _upsample_bilinear2d_aa.
 *
 * Everything is computed in double without rounding between the passes; the final value
 * is rounded half away from zero and clamped to 0..255. PIL rounds to uint8 after each
 * pass in 22-bit fixed point and torchvision computes in float32, so either may differ
 * from this by 1 where the exact value sits near a half (tests/unit/test_resize.c).
 * Equal sizes copy the input exactly.
 *
 * Thread safety: reentrant (scratch memory is allocated per call).
 */
#ifndef PCNN_RESIZE_H
#define PCNN_RESIZE_H

#include <stdint.h>

/* dst: oh × ow × C, src: ih × iw × C, both row-major with channels interleaved.
 * Sides ≥ 1, C ≥ 1; dst and src must not overlap. */
void pcnn_resize_u8(uint8_t *dst, int oh, int ow, const uint8_t *src, int ih, int iw, int C);

#endif
