/* weightnorm.cu — weight norm over all layers at once, one warp per row
 * (nn_weightnorm_fwd/bwd in nn_layers.c: sums in double, as there), and the
 * filter layout changes between PyTorch's (K, C, kh, kw) and cuDNN's NHWC
 * filters (K, kh, kw, C). The per-lane and per-element bodies are in
 * kernel_math.h (tested on the host, the shuffles emulated). */
#include "cuda_check.h"
#include "kernel_math.h"
#include "kernels.h"

__device__ __forceinline__ double warp_sum(double v)
{
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}

/* W[r,:] = (g[r] / ||v[r,:]||) v[r,:] */
__global__ void k_wn_fwd(float *wp, const float *params, const size_t *rv, const size_t *rg,
                         const int *rlen, size_t nrows)
{
    size_t row = (blockIdx.x * (size_t)blockDim.x + threadIdx.x) / 32;
    int lane = threadIdx.x & 31;
    if (row >= nrows) return;
    const float *v = params + rv[row];
    int len = rlen[row];
    double ss = warp_sum(km_wn_lane_ss(v, len, lane));
    km_wn_fwd_lane(wp + rv[row], v, len, lane, params[rg[row]], ss);
}

void cu_wn_fwd(cudaStream_t s, float *wp, const float *params, wn_rows rows)
{
    if (!rows.n) return;
    k_wn_fwd<<<pcnn_grid(rows.n * 32), 256, 0, s>>>(wp, params, rows.v, rows.g, rows.len, rows.n);
    CK_LAUNCH();
}

/* dg = dW.v / n ; dv = (g/n) dW - (g dW.v / (n ss)) v, n = sqrt(ss) */
__global__ void k_wn_bwd(float *grads, const float *gp, const float *params, const size_t *rv,
                         const size_t *rg, const int *rlen, size_t nrows)
{
    size_t row = (blockIdx.x * (size_t)blockDim.x + threadIdx.x) / 32;
    int lane = threadIdx.x & 31;
    if (row >= nrows) return;
    const float *v = params + rv[row], *dw = gp + rv[row];
    int len = rlen[row];
    double ss, dot;
    km_wn_lane_sums(v, dw, len, lane, &ss, &dot);
    ss = warp_sum(ss);
    dot = warp_sum(dot);
    km_wn_bwd_lane(grads + rv[row], grads + rg[row], dw, v, len, lane, params[rg[row]], ss, dot);
}

void cu_wn_bwd(cudaStream_t s, float *grads, const float *gp, const float *params, wn_rows rows)
{
    if (!rows.n) return;
    k_wn_bwd<<<pcnn_grid(rows.n * 32), 256, 0, s>>>(grads, gp, params, rows.v, rows.g, rows.len,
                                                    rows.n);
    CK_LAUNCH();
}

__global__ void k_w_to_krsc(float *dst, const float *src, int C, int RS, size_t total)
{
    for (size_t t = blockIdx.x * (size_t)blockDim.x + threadIdx.x; t < total;
         t += (size_t)gridDim.x * blockDim.x)
        km_w_to_krsc(t, dst, src, C, RS);
}

void cu_w_to_krsc(cudaStream_t s, float *dst, const float *src, int K, int C, int RS)
{
    size_t total = (size_t)K * C * RS;
    k_w_to_krsc<<<pcnn_grid(total), 256, 0, s>>>(dst, src, C, RS, total);
    CK_LAUNCH();
}

__global__ void k_w_from_krsc_add(float *dst, const float *src, int C, int RS, size_t total)
{
    for (size_t t = blockIdx.x * (size_t)blockDim.x + threadIdx.x; t < total;
         t += (size_t)gridDim.x * blockDim.x)
        km_w_from_krsc_add(t, dst, src, C, RS);
}

void cu_w_from_krsc_add(cudaStream_t s, float *dst, const float *src, int K, int C, int RS)
{
    size_t total = (size_t)K * C * RS;
    k_w_from_krsc_add<<<pcnn_grid(total), 256, 0, s>>>(dst, src, C, RS, total);
    CK_LAUNCH();
}
