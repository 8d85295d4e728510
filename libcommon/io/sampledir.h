/*
 * sampledir.h — the folder of generated samples as the CPEN 455 evaluation and pytorch-fid
 * read it: DIR/<class>_image_<NN>.png, 8-bit RGB, the index 1.. zero-padded to two digits
 * (three from 100 images per class, and so on); and the montage of a run, one row per class.
 *
 *   if (pcnn_sample_dir_make("samples")) return 1;
 *   int width = pcnn_sample_name_width(25);                        // 2: "_01" .. "_25"
 *   pcnn_sample_png_write("samples", "Dog", 1, width, px, 32, 32); // samples/Dog_image_01.png
 */
#ifndef PCNN_SAMPLEDIR_H
#define PCNN_SAMPLEDIR_H

#include <stddef.h>
#include <stdint.h>

/* Creates dir when missing: 0 when it is a writable folder, -1 after a message. */
int pcnn_sample_dir_make(const char *dir);

/* Digits of the index for n images per class: 2 below 100, else as many as n has. */
int pcnn_sample_name_width(size_t n);

/* "<cls>_image_<idx, zero-padded to width digits>.png" into buf: 0, or -1 when it does not
 * fit in len. */
int pcnn_sample_name(char *buf, size_t len, const char *cls, size_t idx, int width);

/* Writes px (H, W, 3) as dir/<its name>: 0, or -1 after a message. */
int pcnn_sample_png_write(const char *dir, const char *cls, size_t idx, int width,
                          const uint8_t *px, int H, int W);

/* The montage: nclasses rows of n images px (nclasses * n, H, W, 3), 2-pixel white gutters,
 * as a PNG at path: 0, or -1 after a message. */
int pcnn_sample_grid_write(const char *path, const uint8_t *px, int nclasses, int n, int H, int W);

#endif
