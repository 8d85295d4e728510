/* concat_elu.cu — concat_elu and elu forward/backward (CPU twins: nn_concat_elu_*,
 * nn_elu_* in nn_layers.c), plus the fused middle of the gated block. The
 * per-element bodies are in kernel_math.h (tested on the host). */
#include "cuda_check.h"
#include "kernel_math.h"
#include "kernels.h"

/* One thread per (pixel r, channel c < C = Ca + Cb): writes elu(v) at c and elu(-v) at C + c. */
__global__ void k_concat_elu_fwd(float *out, pad_geom pg, const float *a, int Ca, const float *b,
                                 int Cb, size_t total)
{
    for (size_t t = blockIdx.x * (size_t)blockDim.x + threadIdx.x; t < total;
         t += (size_t)gridDim.x * blockDim.x)
        km_concat_elu_fwd(t, out, pg, a, Ca, b, Cb);
}

void cu_concat_elu_fwd(cudaStream_t s, float *out, pad_geom pg, const float *a, int Ca,
                       const float *b, int Cb)
{
    size_t total = pg.rows() * (size_t)(Ca + Cb);
    k_concat_elu_fwd<<<pcnn_grid(total), 256, 0, s>>>(out, pg, a, Ca, b, Cb, total);
    CK_LAUNCH();
}

__global__ void k_concat_elu_bwd(float *da, float *db, const float *dout, pad_geom pg,
                                 const float *a, int Ca, const float *b, int Cb,
                                 const float *mask, size_t HW, size_t total)
{
    for (size_t t = blockIdx.x * (size_t)blockDim.x + threadIdx.x; t < total;
         t += (size_t)gridDim.x * blockDim.x)
        km_concat_elu_bwd(t, da, db, dout, pg, a, Ca, b, Cb, mask, HW);
}

void cu_concat_elu_bwd(cudaStream_t s, float *da, float *db, const float *dout, pad_geom pg,
                       const float *a, int Ca, const float *b, int Cb, const float *mask)
{
    size_t total = pg.rows() * (size_t)(Ca + Cb);
    k_concat_elu_bwd<<<pcnn_grid(total), 256, 0, s>>>(da, db, dout, pg, a, Ca, b, Cb, mask,
                                                     (size_t)pg.h * pg.w, total);
    CK_LAUNCH();
}

__global__ void k_c1_finish_fwd(float *c1, const float *b1, const float *b2, float *hd,
                                pad_geom pg, int F, const float *mask, size_t HW, size_t total)
{
    for (size_t t = blockIdx.x * (size_t)blockDim.x + threadIdx.x; t < total;
         t += (size_t)gridDim.x * blockDim.x)
        km_c1_finish_fwd(t, c1, b1, b2, hd, pg, F, mask, HW);
}

void cu_c1_finish_fwd(cudaStream_t s, float *c1, const float *b1, const float *b2, float *hd,
                      pad_geom pg, int F, const float *mask)
{
    size_t total = pg.rows() * (size_t)F;
    k_c1_finish_fwd<<<pcnn_grid(total), 256, 0, s>>>(c1, b1, b2, hd, pg, F, mask,
                                                    (size_t)pg.h * pg.w, total);
    CK_LAUNCH();
}

__global__ void k_elu_fwd(float *out, const float *x, size_t n)
{
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n;
         i += (size_t)gridDim.x * blockDim.x)
        out[i] = km_elu(x[i]);
}

__global__ void k_elu_bwd(float *dx, const float *dout, const float *x, size_t n)
{
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n;
         i += (size_t)gridDim.x * blockDim.x)
        dx[i] += dout[i] * km_elu_grad(x[i]);
}

void cu_elu_fwd(cudaStream_t s, float *out, const float *x, size_t n)
{
    k_elu_fwd<<<pcnn_grid(n), 256, 0, s>>>(out, x, n);
    CK_LAUNCH();
}

void cu_elu_bwd(cudaStream_t s, float *dx, const float *dout, const float *x, size_t n)
{
    k_elu_bwd<<<pcnn_grid(n), 256, 0, s>>>(dx, dout, x, n);
    CK_LAUNCH();
}
