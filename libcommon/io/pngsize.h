/*
 * pngsize.h — L(x): the length in bits of an image losslessly compressed as a PNG, the
 * complexity estimate of the input-complexity OOD score (Serrà et al., ICLR 2020, who
 * used PNG at the highest compression level; eval/ood.h has the score).
 *
 *   uint64_t bits;
 *   if (pcnn_png_bits(pixels, H, W, 3, &bits)) fail;   // message printed
 *
 * The PNG is the whole file as libpng writes it, never stored: 8 bits per channel, RGB
 * (C = 3) or gray (C = 1), no interlace, libpng's default adaptive row filters, zlib
 * level 9. It includes the signature and the IHDR/IDAT/IEND chunk framing (57 bytes with
 * one IDAT), a constant that cancels in any comparison of images of one size. The
 * number depends on the zlib build (Debian 12's zlib 1.2.13 here), so compare scores
 * made by one build.
 */
#ifndef PCNN_PNGSIZE_H
#define PCNN_PNGSIZE_H

#include <stdint.h>

/* px: H×W×C uint8 in raster order, C = 1 or 3. 8 × the PNG's byte count in *bits;
 * 0, or −1 (printed) on a bad size or a libpng error. */
int pcnn_png_bits(const uint8_t *px, int H, int W, int C, uint64_t *bits);

#endif
