/* weightnorm.cu — weight norm over all layers at once, one warp per row
 * (nn_weightnorm_fwd/bwd in nn_layers.c: sums in double, as there), and the
 * filter layout changes between PyTorch's (K, C, kh, kw) and cuDNN's NHWC
 * filters (K, kh, kw, C). */
#include "cuda_check.h"
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
    double ss = 0.0;
    for (int k = lane; k < len; k += 32) ss += (double)v[k] * v[k];
    ss = warp_sum(ss);
    float scale = (float)(params[rg[row]] / sqrt(ss));
    float *w = wp + rv[row];
    for (int k = lane; k < len; k += 32) w[k] = scale * v[k];
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
    double ss = 0.0, dot = 0.0;
    for (int k = lane; k < len; k += 32) {
        ss += (double)v[k] * v[k];
        dot += (double)dw[k] * v[k];
    }
    ss = warp_sum(ss);
    dot = warp_sum(dot);
    double n = sqrt(ss), g = params[rg[row]];
    if (lane == 0) grads[rg[row]] = (float)(dot / n);
    float a = (float)(g / n), c = (float)(g * dot / (n * ss));
    float *dv = grads + rv[row];
    for (int k = lane; k < len; k += 32) dv[k] = a * dw[k] - c * v[k];
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
         t += (size_t)gridDim.x * blockDim.x) {
        size_t c = t % C, rs = (t / C) % RS, k = t / ((size_t)C * RS);
        dst[t] = src[(k * C + c) * RS + rs];
    }
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
         t += (size_t)gridDim.x * blockDim.x) {
        size_t rs = t % RS, c = (t / RS) % C, k = t / ((size_t)C * RS);
        dst[t] += src[(k * RS + rs) * C + c];
    }
}

void cu_w_from_krsc_add(cudaStream_t s, float *dst, const float *src, int K, int C, int RS)
{
    size_t total = (size_t)K * C * RS;
    k_w_from_krsc_add<<<pcnn_grid(total), 256, 0, s>>>(dst, src, C, RS, total);
    CK_LAUNCH();
}
