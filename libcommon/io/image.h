/*
 * image.h — decode PNG and JPEG files into H×W×3 uint8 RGB, and write 8-bit RGB PNGs.
 *
 *   pcnn_image im;
 *   char err[PCNN_IMAGE_ERRLEN];
 *   if (pcnn_image_load("train/0000001.jpg", &im, err, sizeof err))
 *       pcnn_die("train/0000001.jpg: %s", err);
 *   use(im.w, im.h, im.rgb);              // im.rgb: h × w × 3 bytes, row-major, RGB interleaved
 *   pcnn_image_free(&im);
 *
 *   if (pcnn_png_write_rgb("out.png", NULL, w, h, rgb)) fail;     // message printed
 *
 * What the decoder accepts (the format is sniffed from the bytes, not the file name):
 *   PNG  (libpng): gray, gray+alpha, palette (with or without tRNS), RGB, RGBA; bit depths
 *        1, 2, 4, 8 and 16; Adam7-interlaced or not. 16-bit samples keep their high byte
 *        (as PIL does for RGB), low bit depths are scaled to 0..255 (gray 1-bit: 0 → 0,
 *        1 → 255), palette entries are looked up. Gamma and colour-profile chunks are ignored.
 *   JPEG (libjpeg-turbo): gray, YCbCr, RGB; baseline or progressive; default libjpeg
 *        decoding (ISLOW IDCT, fancy upsampling), which is what PIL and torchvision use.
 *        CMYK and YCCK are converted: R = (255 − C)(255 − K)/255 (rounded), likewise G from M
 *        and B from Y; Adobe-marked files store inverted CMYK and are un-inverted first.
 *        Any libjpeg warning (truncated file, corrupt data) is an error: a damaged image is
 *        never silently padded with gray.
 * Output is always 3 channels: gray is replicated, alpha dropped (not composited).
 *
 * Limits against decompression bombs, checked from the header before any pixel memory
 * is allocated: each side 1..PCNN_IMAGE_MAX_SIDE, w·h ≤ PCNN_IMAGE_MAX_PIXELS; files
 * larger than PCNN_IMAGE_MAX_FILE bytes are refused before they are read.
 *
 * Thread safety: every function here may run in several threads at once (each call
 * has its own decoder state; errors go to the caller's buffer, nothing is printed,
 * except by pcnn_png_write_rgb, which reports with pcnn_warn).
 */
#ifndef PCNN_IMAGE_H
#define PCNN_IMAGE_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define PCNN_IMAGE_MAX_SIDE 16384u
#define PCNN_IMAGE_MAX_PIXELS 100000000u          /* 100 Mpixel: 300 MB as RGB */
#define PCNN_IMAGE_MAX_FILE ((size_t)256 << 20)   /* 256 MiB */
#define PCNN_IMAGE_ERRLEN 256

typedef struct pcnn_image {
    int w, h;          /* width, height in pixels */
    uint8_t *rgb;      /* h × w × 3, row-major, RGB interleaved; owned, pcnn_image_free */
} pcnn_image;

/* Reads and decodes a PNG or JPEG file. 0 on success; -1 on any failure with a
 * one-line reason in err (e.g. "No such file or directory", "truncated PNG: ...",
 * "not a PNG or JPEG file"), im left empty. */
int pcnn_image_load(const char *path, pcnn_image *im, char *err, size_t errlen);

/* The same on bytes in memory (buf, n). */
int pcnn_image_decode(const uint8_t *buf, size_t n, pcnn_image *im, char *err, size_t errlen);

/* Frees im->rgb and clears im; accepts NULL and an empty image. */
void pcnn_image_free(pcnn_image *im);

/* Writes an 8-bit RGB, non-interlaced PNG of w × h pixels from rgb (h × w × 3 bytes).
 * Exactly one of path / fp is used:
 *   path != NULL: written atomically (temporary name + rename, pcnn_outfile), "-" = stdout;
 *   path == NULL: written to the open stream fp, which is flushed but not closed.
 * Returns 0, or -1 after printing "prog: file: why" (e.g. full disk). */
int pcnn_png_write_rgb(const char *path, FILE *fp, int w, int h, const uint8_t *rgb);

#endif
