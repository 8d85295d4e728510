/*
 * init_from.h — a new model that starts from the weights of a trained one (pcnn-fit --init):
 * the same network, trained on smaller images of the same classes — the coarse stage of a
 * two-resolution run (docs/QUALITY.md, "Coarse to fine").
 *
 *   pcnn_model_file *m = pcnn_model_init_from(coarse, "coarse.bin", 32, 32, seed);
 *
 * Every tensor of the network is copied from the source's scoring weights (best.* when
 * pcnn-fit kept a best epoch, else polyak.*, else the raw ones): convolutions, weight norms
 * and class tables do not depend on the image size. The one that does, the input
 * variant's class image class_map (K, 3, Hs, Ws), is resized to (K, 3, H, W) by nearest
 * neighbour: fine pixel (y, x) takes coarse pixel (y Hs / H, x Ws / W) — for a whole
 * factor f each coarse pixel covers an f x f block, and adding a constant to a block adds
 * it to the block's mean, the coarse image's pixel. The result is a fresh model otherwise
 * (step and epoch 0, no Polyak copy or Adam moments, the given seed), with meta init_from
 * (the source's name), init_size ("16x16") and init_epochs (the source's epochs).
 */
#ifndef PCNN_INIT_FROM_H
#define PCNN_INIT_FROM_H

#include "io/modelfile.h"

#include <stdint.h>

/* The new model, or NULL (message printed naming src_name: no weights in it). */
pcnn_model_file *pcnn_model_init_from(const pcnn_model_file *src, const char *src_name,
                                      uint32_t H, uint32_t W, uint64_t seed);

/* Nearest-neighbour resize of K x C planes of Hs x Ws floats to H x W (as above). */
void pcnn_resize_planes_nearest(const float *src, uint32_t planes, uint32_t Hs, uint32_t Ws,
                                float *dst, uint32_t H, uint32_t W);

#endif
