/* concat_elu.cu — concat_elu and elu forward/backward (CPU twins: nn_concat_elu_*,
 * nn_elu_* in nn_layers.c), plus the fused middle of the gated block. */
#include "cuda_check.h"
#include "kernels.h"

__device__ __forceinline__ float elu_d(float z) { return z > 0.0f ? z : expm1f(z); }
__device__ __forceinline__ float elu_grad_d(float z) { return z > 0.0f ? 1.0f : expf(z); }

/* One thread per (pixel r, channel c < C = Ca + Cb): writes elu(v) at c and elu(-v) at C + c. */
__global__ void k_concat_elu_fwd(float *out, pad_geom pg, const float *a, int Ca, const float *b,
                                 int Cb, size_t total)
{
    const int C = Ca + Cb;
    for (size_t t = blockIdx.x * (size_t)blockDim.x + threadIdx.x; t < total;
         t += (size_t)gridDim.x * blockDim.x) {
        size_t r = t / C;
        int c = (int)(t % C);
        float v = c < Ca ? a[r * Ca + c] : b[r * Cb + (c - Ca)];
        float *o = out + pg.prow(r) * 2 * C;
        o[c] = elu_d(v);
        o[C + c] = elu_d(-v);
    }
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
    const int C = Ca + Cb;
    for (size_t t = blockIdx.x * (size_t)blockDim.x + threadIdx.x; t < total;
         t += (size_t)gridDim.x * blockDim.x) {
        size_t r = t / C;
        int c = (int)(t % C);
        const float *d = dout + pg.prow(r) * 2 * C;
        float dp = d[c], dm = d[C + c];
        if (mask) {
            const float *m = mask + (r / HW) * 2 * C;
            dp *= m[c];
            dm *= m[C + c];
        }
        if (c < Ca) {
            if (!da) continue;
            float v = a[r * Ca + c];
            da[r * Ca + c] += dp * elu_grad_d(v) - dm * elu_grad_d(-v);
        } else {
            if (!db) continue;
            float v = b[r * Cb + (c - Ca)];
            db[r * Cb + (c - Ca)] += dp * elu_grad_d(v) - dm * elu_grad_d(-v);
        }
    }
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
         t += (size_t)gridDim.x * blockDim.x) {
        size_t r = t / F;
        int c = (int)(t % F);
        float v = c1[t] + b1[c];
        if (b2) v += b2[c];
        c1[t] = v;
        float p = elu_d(v), q = elu_d(-v);
        if (mask) {
            const float *m = mask + (r / HW) * 2 * F;
            p *= m[c];
            q *= m[F + c];
        }
        float *o = hd + pg.prow(r) * 2 * F;
        o[c] = p;
        o[F + c] = q;
    }
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
        out[i] = elu_d(x[i]);
}

__global__ void k_elu_bwd(float *dx, const float *dout, const float *x, size_t n)
{
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n;
         i += (size_t)gridDim.x * blockDim.x)
        dx[i] += dout[i] * elu_grad_d(x[i]);
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
