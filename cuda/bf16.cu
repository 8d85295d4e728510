/* bf16.cu — the conversions of the bf16 mode (PCNN_PRECISION=bf16, or a training step of
 * pcnn-fit --precision bf16): activations and gradients to bfloat16 operands of cuDNN and
 * cuBLAS, their bf16 results back to float, filters to bf16 NHWC once per step, and the
 * fused writers of the gated block's operands (concat_elu, the c1 finish, elu). The
 * per-element bodies are in kernel_math.h (host-tested bit for bit against the CPU's
 * nn_bf16_round); bf16 values are uint16_t here, as there. */
#include "cuda_check.h"
#include "kernel_math.h"
#include "kernels.h"

#define GRID_STRIDE(t, total)                                                                  \
    for (size_t t = blockIdx.x * (size_t)blockDim.x + threadIdx.x; t < (total);              \
         t += (size_t)gridDim.x * blockDim.x)

__global__ void k_to_bf16(uint16_t *dst, const float *src, size_t n)
{
    GRID_STRIDE(t, n) km_to_bf16(t, dst, src);
}

void cu_to_bf16(cudaStream_t s, uint16_t *dst, const float *src, size_t n)
{
    if (!n) return;
    k_to_bf16<<<pcnn_grid(n), 256, 0, s>>>(dst, src, n);
    CK_LAUNCH();
}

__global__ void k_from_bf16(float *dst, const uint16_t *src, float beta, size_t n)
{
    GRID_STRIDE(t, n) km_from_bf16(t, dst, src, beta);
}

void cu_from_bf16(cudaStream_t s, float *dst, const uint16_t *src, float beta, size_t n)
{
    if (!n) return;
    k_from_bf16<<<pcnn_grid(n), 256, 0, s>>>(dst, src, beta, n);
    CK_LAUNCH();
}

__global__ void k_w_to_krsc_bf16(uint16_t *dst, const float *src, int C, int RS, size_t total)
{
    GRID_STRIDE(t, total) km_w_to_krsc_bf16(t, dst, src, C, RS);
}

void cu_w_to_krsc_bf16(cudaStream_t s, uint16_t *dst, const float *src, int K, int C, int RS)
{
    size_t total = (size_t)K * C * RS;
    k_w_to_krsc_bf16<<<pcnn_grid(total), 256, 0, s>>>(dst, src, C, RS, total);
    CK_LAUNCH();
}

__global__ void k_w_from_krsc_add_bf16(float *dst, const uint16_t *src, int C, int RS,
                                       size_t total)
{
    GRID_STRIDE(t, total) km_w_from_krsc_add_bf16(t, dst, src, C, RS);
}

void cu_w_from_krsc_add_bf16(cudaStream_t s, float *dst, const uint16_t *src, int K, int C,
                             int RS)
{
    size_t total = (size_t)K * C * RS;
    k_w_from_krsc_add_bf16<<<pcnn_grid(total), 256, 0, s>>>(dst, src, C, RS, total);
    CK_LAUNCH();
}

__global__ void k_concat_elu_fwd_bf16(uint16_t *out, pad_geom pg, const float *a, int Ca,
                                      const float *b, int Cb, size_t total)
{
    GRID_STRIDE(t, total) km_concat_elu_fwd_bf16(t, out, pg, a, Ca, b, Cb);
}

void cu_concat_elu_fwd_bf16(cudaStream_t s, uint16_t *out, pad_geom pg, const float *a, int Ca,
                            const float *b, int Cb)
{
    size_t total = pg.rows() * (size_t)(Ca + Cb);
    k_concat_elu_fwd_bf16<<<pcnn_grid(total), 256, 0, s>>>(out, pg, a, Ca, b, Cb, total);
    CK_LAUNCH();
}

__global__ void k_c1_finish_fwd_bf16(float *c1, const float *b1, const float *b2, uint16_t *hd,
                                     pad_geom pg, int F, const float *mask, size_t HW,
                                     size_t total)
{
    GRID_STRIDE(t, total) km_c1_finish_fwd_bf16(t, c1, b1, b2, hd, pg, F, mask, HW);
}

void cu_c1_finish_fwd_bf16(cudaStream_t s, float *c1, const float *b1, const float *b2,
                           uint16_t *hd, pad_geom pg, int F, const float *mask)
{
    size_t total = pg.rows() * (size_t)F;
    k_c1_finish_fwd_bf16<<<pcnn_grid(total), 256, 0, s>>>(c1, b1, b2, hd, pg, F, mask,
                                                          (size_t)pg.h * pg.w, total);
    CK_LAUNCH();
}

__global__ void k_elu_bf16(uint16_t *out, const float *x, size_t n)
{
    GRID_STRIDE(t, n) km_elu_bf16(t, out, x);
}

void cu_elu_bf16(cudaStream_t s, uint16_t *out, const float *x, size_t n)
{
    if (!n) return;
    k_elu_bf16<<<pcnn_grid(n), 256, 0, s>>>(out, x, n);
    CK_LAUNCH();
}

__global__ void k_c1_finish_fwd_bf16in(float *c1, const uint16_t *conv, int acc, const float *b1,
                                       const float *b2, uint16_t *hd, pad_geom pg, int F,
                                       const float *mask, size_t HW, size_t total)
{
    GRID_STRIDE(t, total) km_c1_finish_fwd_bf16in(t, c1, conv, acc, b1, b2, hd, pg, F, mask, HW);
}

void cu_c1_finish_fwd_bf16in(cudaStream_t s, float *c1, const uint16_t *conv, int acc,
                             const float *b1, const float *b2, uint16_t *hd, pad_geom pg, int F,
                             const float *mask)
{
    size_t total = pg.rows() * (size_t)F;
    k_c1_finish_fwd_bf16in<<<pcnn_grid(total), 256, 0, s>>>(c1, conv, acc, b1, b2, hd, pg, F,
                                                            mask, (size_t)pg.h * pg.w, total);
    CK_LAUNCH();
}

__global__ void k_gate_fwd_bf16in(float *out, const float *x, float *c2, const uint16_t *c2in,
                                  float *c2p, const float *b, const float *hw, const float *hs,
                                  const int32_t *labels, size_t HW, int F, size_t total)
{
    GRID_STRIDE(t, total) km_gate_fwd_bf16in(t, out, x, c2, c2in, c2p, b, hw, hs, labels, HW, F);
}

void cu_gate_fwd_bf16in(cudaStream_t s, float *out, const float *x, float *c2, const uint16_t *c2in,
                        float *c2p, const float *b, const float *hw, const float *hs,
                        const int32_t *labels, int N, size_t HW, int F)
{
    size_t total = (size_t)N * HW * F;
    k_gate_fwd_bf16in<<<pcnn_grid(total), 256, 0, s>>>(out, x, c2, c2in, c2p, b, hw, hs, labels,
                                                       HW, F, total);
    CK_LAUNCH();
}
