/*
 * conv.h — cuDNN convolutions (legacy cuDNN 9 API, NHWC float32 tensors and
 * NHWC (K, kh, kw, C) filters) with one cached plan per shape: descriptors and,
 * per direction, an algorithm from cuDNN's heuristics (no timing), chosen once
 * per shape at a fixed batch so every batch size and every process runs the same
 * one; deterministic algorithms only, so a rerun gives the same bytes (without a
 * deterministic candidate: the fastest working one and a warning, or an error
 * with PCNN_DETERMINISTIC=1). PCNN_CONV_ALGO=find times the candidates instead
 * (cudnnFind*: may differ between processes); PCNN_CONV_LOG=1 lists them.
 *
 * Shape: x (N, Hi, Wi, Ci) -> y (N, Ho, Wo, Co) with filter (Co, kh, kw, Ci), float32 or,
 * with sh.bf16, bfloat16 tensors summed in fp32 (tensor cores; strict fp32 mode never
 * applies to them),
 * stride s, symmetric zero padding (ph, pw) (the shifted convs pass explicitly
 * padded inputs and ph = pw = 0; the transposed convs are backward-data of a
 * stride-2 conv with pw = column offset of the crop, see backend_cuda.cu).
 *
 *   cu_convs *cv = cu_convs_new(handle, stream, tf32, ws_limit);
 *   conv_shape sh = {N, Ci, Hi, Wi, Co, kh, kw, 1, 0, 0};
 *   cu_conv_fwd(cv, &sh, x, w, 0.0f, y);          // y = conv(x) (+ beta y)
 *   cu_convs_free(cv);
 */
#ifndef PCNN_CUDA_CONV_H
#define PCNN_CUDA_CONV_H

#include <cudnn.h>
#include <stddef.h>

/* bf16 (0 unless set): x, w and y are bfloat16 (uint16_t bits), the sums fp32 (cuDNN's
 * PSEUDO_BFLOAT16 configuration, tensor cores); 0: float32. Another dtype is another plan. */
struct conv_shape {
    int N, Ci, Hi, Wi, Co, kh, kw, stride, ph, pw;
    int bf16;
};

struct cu_convs;
/* tf32: allow TF32 tensor cores (CUDNN_DEFAULT_MATH), else strict float32 (CUDNN_FMA_MATH). */
cu_convs *cu_convs_new(cudnnHandle_t h, cudaStream_t s, int tf32, size_t ws_limit);
void cu_convs_free(cu_convs *cv);
/* Output size (Ho, Wo) of a shape, as cuDNN computes it. */
void cu_conv_out_dims(cu_convs *cv, const conv_shape *sh, int *Ho, int *Wo);
/* Tensors are float * (or uint16_t * bf16 bits when sh->bf16), hence void *. */
/* y = conv(x, w) + beta * y */
void cu_conv_fwd(cu_convs *cv, const conv_shape *sh, const void *x, const void *w, float beta,
                 void *y);
/* dx = conv^T(dy, w) + beta * dx */
void cu_conv_bwd_data(cu_convs *cv, const conv_shape *sh, const void *dy, const void *w,
                      float beta, void *dx);
/* dw = dL/dw from (x, dy) + beta * dw */
void cu_conv_bwd_filter(cu_convs *cv, const conv_shape *sh, const void *x, const void *dy,
                        float beta, void *dw);
/* Whether direction dir of shape sh has an algorithm (planning it): always 1 for float
 * shapes (cuDNN without any dies with the candidates listed); 0 for a bf16 shape whose
 * candidates hold no deterministic algorithm (none is taken that varies run to run): its
 * caller runs that direction in float on the widened bf16 operands instead. */
enum { CU_CONV_FWD = 0, CU_CONV_BWD_DATA = 1, CU_CONV_BWD_FILTER = 2 };
int cu_conv_usable(cu_convs *cv, const conv_shape *sh, int dir);
/* How many times the workspace was made again (bigger): a graph captured before holds the
 * old one and must be captured again (backend_cuda.cu). */
unsigned cu_convs_ws_gen(const cu_convs *cv);
/* Bytes of workspace held now. */
size_t cu_convs_workspace(const cu_convs *cv);

#endif
