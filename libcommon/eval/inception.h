/*
 * inception.h — the first blocks of pytorch-fid's InceptionV3, on the CPU: the image
 * features behind FID at dims 64 and 192 (docs/FID.md).
 *
 *   pcnn_inception *net = pcnn_inception_load("pt_inception-2015-12-05-6726825d.pth", 192);
 *   if (!net) return 1;                              // message printed, file named
 *   pcnn_inception_ws *ws = pcnn_inception_ws_new(net);   // one per thread
 *   float f[192];
 *   pcnn_inception_features(net, ws, im.rgb, im.h, im.w, f);
 *   pcnn_inception_ws_free(ws); pcnn_inception_free(net);
 *
 * The recipe, as pytorch-fid (inception.py blocks 0 and 1, fid_score.py):
 *   x = rgb / 255 (3 × h × w, float)
 *   x = bilinear resize to 299 × 299, align_corners = False, no antialias (F.interpolate):
 *       source coordinate s = max(0, (d + 0.5) · in / 299 − 0.5), i0 = floor(s),
 *       i1 = min(i0 + 1, in − 1), weights (1 − (s − i0), s − i0), per axis
 *   x = 2x − 1
 *   BasicConv2d(Cin → Cout, k, stride, pad) = relu(batch_norm_eval(conv(x), eps = 0.001));
 *   the batch norm is folded into the conv at load time:
 *       W' = W · γ / sqrt(var + 0.001),  b' = β − mean · γ / sqrt(var + 0.001)
 *   Conv2d_1a_3x3   3 → 32, 3×3, stride 2       299 → 149
 *   Conv2d_2a_3x3  32 → 32, 3×3                 149 → 147
 *   Conv2d_2b_3x3  32 → 64, 3×3, padding 1      147 → 147
 *   max_pool 3×3 stride 2                       147 → 73      dims 64: global average
 *   Conv2d_3b_1x1  64 → 80, 1×1                  73 → 73
 *   Conv2d_4a_3x3  80 → 192, 3×3                 73 → 71
 *   max_pool 3×3 stride 2                        71 → 35      dims 192: global average
 * Activations are NHWC float32; the convolutions are the CPU backend's GEMMs
 * (nn_conv_fwd: implicit GEMM for stride 1, im2col for Conv2d_1a_3x3). A call runs on
 * the calling thread only, so callers run one image per thread (fid.c does).
 */
#ifndef PCNN_INCEPTION_H
#define PCNN_INCEPTION_H

#include <stddef.h>
#include <stdint.h>

typedef struct pcnn_inception pcnn_inception;
typedef struct pcnn_inception_ws pcnn_inception_ws;

/* The weights that dims (64 or 192) needs, read from a pytorch-fid InceptionV3 state_dict
 * (pth.h: zip or legacy torch.save). NULL after printing "prog: path: why" (missing file,
 * not a checkpoint, a tensor missing or of another shape). */
pcnn_inception *pcnn_inception_load(const char *path, int dims);
void pcnn_inception_free(pcnn_inception *net);
int pcnn_inception_dims(const pcnn_inception *net);

/* Activation buffers for one thread (about 22 MB). */
pcnn_inception_ws *pcnn_inception_ws_new(const pcnn_inception *net);
void pcnn_inception_ws_free(pcnn_inception_ws *ws);

/* feat (dims) of one h × w × 3 RGB image. */
void pcnn_inception_features(const pcnn_inception *net, pcnn_inception_ws *ws, const uint8_t *rgb,
                             int h, int w, float *feat);

#endif
