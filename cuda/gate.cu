/* gate.cu — the gate with bias and class term (nn_gate_*, nn_class_*, and the
 * film term nn_film_* of SPEC §3b), the dropout mask (nn_dropout_mask), and the
 * deterministic bias / class-term gradient reductions (colsum_add, nn_class_bwd
 * in nn_layers.c). */
#include "cuda_check.h"
#include "kernels.h"
#include "rng.h"

__device__ __forceinline__ float sigmoid_d(float z) { return 1.0f / (1.0f + expf(-z)); }

/* One thread per (pixel r, k < F): c2[k], c2[F+k] get bias and class term
 * (film: saved to c2p, then scaled by 1 + hs and shifted by hw); out = x + a sig(g). */
__global__ void k_gate_fwd(float *out, const float *x, float *c2, float *c2p, const float *b,
                           const float *hw, const float *hs, const int32_t *labels, size_t HW,
                           int F, size_t total)
{
    for (size_t t = blockIdx.x * (size_t)blockDim.x + threadIdx.x; t < total;
         t += (size_t)gridDim.x * blockDim.x) {
        size_t r = t / F;
        int k = (int)(t % F);
        size_t y = (size_t)labels[r / HW] * 2 * F;
        const float *h = hw + y;
        float *c = c2 + r * 2 * F;
        float a = c[k] + b[k];
        float g = c[F + k] + b[F + k];
        if (hs) {
            c2p[r * 2 * F + k] = a;
            c2p[r * 2 * F + F + k] = g;
            a = a * (1.0f + hs[y + k]) + h[k];
            g = g * (1.0f + hs[y + F + k]) + h[F + k];
        } else {
            a += h[k];
            g += h[F + k];
        }
        c[k] = a;
        c[F + k] = g;
        out[t] = x[t] + a * sigmoid_d(g);
    }
}

void cu_gate_fwd(cudaStream_t s, float *out, const float *x, float *c2, float *c2p,
                 const float *b, const float *hw, const float *hs, const int32_t *labels, int N,
                 size_t HW, int F)
{
    size_t total = (size_t)N * HW * F;
    k_gate_fwd<<<pcnn_grid(total), 256, 0, s>>>(out, x, c2, c2p, b, hw, hs, labels, HW, F, total);
    CK_LAUNCH();
}

__global__ void k_film_bwd(float *prod, float *dc2, const float *c2p, const float *hs,
                           const int32_t *labels, size_t HW, int C, size_t total)
{
    for (size_t t = blockIdx.x * (size_t)blockDim.x + threadIdx.x; t < total;
         t += (size_t)gridDim.x * blockDim.x) {
        size_t r = t / C;
        float d = dc2[t];
        prod[t] = d * c2p[t];
        dc2[t] = d * (1.0f + hs[(size_t)labels[r / HW] * C + t % C]);
    }
}

void cu_film_bwd(cudaStream_t s, float *prod, float *dc2, const float *c2p, const float *hs,
                 const int32_t *labels, int N, size_t HW, int C)
{
    size_t total = (size_t)N * HW * C;
    k_film_bwd<<<pcnn_grid(total), 256, 0, s>>>(prod, dc2, c2p, hs, labels, HW, C, total);
    CK_LAUNCH();
}

__global__ void k_gate_bwd(float *dx, float *dc2, const float *dout, const float *c2, int F,
                           size_t total)
{
    for (size_t t = blockIdx.x * (size_t)blockDim.x + threadIdx.x; t < total;
         t += (size_t)gridDim.x * blockDim.x) {
        size_t r = t / F;
        int k = (int)(t % F);
        const float *c = c2 + r * 2 * F;
        float d = dout[t], sg = sigmoid_d(c[F + k]);
        dx[t] += d;
        dc2[r * 2 * F + k] = d * sg;
        dc2[r * 2 * F + F + k] = d * c[k] * sg * (1.0f - sg);
    }
}

void cu_gate_bwd(cudaStream_t s, float *dx, float *dc2, const float *dout, const float *c2,
                 size_t rows, int F)
{
    size_t total = rows * F;
    k_gate_bwd<<<pcnn_grid(total), 256, 0, s>>>(dx, dc2, dout, c2, F, total);
    CK_LAUNCH();
}

__global__ void k_dropout_mask(float *mask, int N, int C, uint64_t seed, uint64_t step,
                               uint64_t block, uint64_t rep, uint64_t nrep, uint64_t img0)
{
    size_t total = (size_t)N * C;
    for (size_t t = blockIdx.x * (size_t)blockDim.x + threadIdx.x; t < total;
         t += (size_t)gridDim.x * blockDim.x) {
        uint64_t n = t / C, c = t % C;
        uint64_t img = pcnn_dropout_image(n, rep, nrep, img0);
        uint64_t h = pcnn_rng_hash4(seed, PCNN_RNG_DROPOUT, step, (block << 32) | img, c);
        mask[t] = (h >> 63) ? 0.0f : 2.0f;
    }
}

void cu_dropout_mask(cudaStream_t s, float *mask, int N, int C, uint64_t seed, uint64_t step,
                     uint64_t block, uint64_t rep, uint64_t nrep, uint64_t img0)
{
    k_dropout_mask<<<pcnn_grid((size_t)N * C), 256, 0, s>>>(mask, N, C, seed, step, block, rep,
                                                            nrep, img0);
    CK_LAUNCH();
}

/* Per-image column sums. Grid (ceil(C/32), N); block (32, 8): thread (cx, ry)
 * sums rows ry, ry+8, ... of image n for channel c, then the 8 partial sums are
 * added in a fixed order through shared memory. */
__global__ void k_image_colsum(float *partial, const float *x, size_t HW, int C)
{
    __shared__ float sh[8][33];
    int c = blockIdx.x * 32 + threadIdx.x, n = blockIdx.y;
    float acc = 0.0f;
    if (c < C) {
        const float *xi = x + (size_t)n * HW * C + c;
        for (size_t p = threadIdx.y; p < HW; p += 8) acc += xi[p * C];
    }
    sh[threadIdx.y][threadIdx.x] = acc;
    __syncthreads();
    if (threadIdx.y == 0 && c < C) {
        float sum = 0.0f;
        for (int k = 0; k < 8; k++) sum += sh[k][threadIdx.x];
        partial[(size_t)n * C + c] = sum;
    }
}

void cu_image_colsum(cudaStream_t s, float *partial, const float *x, int N, size_t HW, int C)
{
    dim3 grid((unsigned)((C + 31) / 32), (unsigned)N), block(32, 8);
    k_image_colsum<<<grid, block, 0, s>>>(partial, x, HW, C);
    CK_LAUNCH();
}

/* One thread per channel, images in order. */
__global__ void k_colsum_finish(float *db, float *db2, float *dhw, const int32_t *labels,
                                const float *partial, int N, int C)
{
    int c = blockIdx.x * blockDim.x + threadIdx.x;
    if (c >= C) return;
    float sum = 0.0f;
    for (int n = 0; n < N; n++) {
        float p = partial[(size_t)n * C + c];
        sum += p;
        if (dhw) dhw[(size_t)labels[n] * C + c] += p;
    }
    if (db) db[c] += sum;
    if (db2) db2[c] += sum;
}

void cu_colsum_finish(cudaStream_t s, float *db, float *db2, float *dhw, const int32_t *labels,
                      const float *partial, int N, int C)
{
    k_colsum_finish<<<(C + 127) / 128, 128, 0, s>>>(db, db2, dhw, labels, partial, N, C);
    CK_LAUNCH();
}

__global__ void k_bias_rows(float *out, const float *b, int C, int acc, size_t total)
{
    for (size_t t = blockIdx.x * (size_t)blockDim.x + threadIdx.x; t < total;
         t += (size_t)gridDim.x * blockDim.x) {
        float v = b[t % C];
        out[t] = acc ? out[t] + v : v;
    }
}

void cu_bias_rows(cudaStream_t s, float *out, const float *b, size_t rows, int C, int acc)
{
    size_t total = rows * C;
    k_bias_rows<<<pcnn_grid(total), 256, 0, s>>>(out, b, C, acc, total);
    CK_LAUNCH();
}
