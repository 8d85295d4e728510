/* gate.cu — the gate with bias and class term (nn_gate_*, nn_class_*, and the
 * film term nn_film_* of SPEC §3b), the dropout mask (nn_dropout_mask), and the
 * deterministic bias / class-term gradient reductions (colsum_add, nn_class_bwd
 * in nn_layers.c). */
#include "cuda_check.h"
#include "kernel_math.h"
#include "kernels.h"

/* One thread per (pixel r, k < F): c2[k], c2[F+k] get bias and class term
 * (film: saved to c2p, then scaled by 1 + hs and shifted by hw); out = x + a sig(g). */
__global__ void k_gate_fwd(float *out, const float *x, float *c2, float *c2p, const float *b,
                           const float *hw, const float *hs, const int32_t *labels, size_t HW,
                           int F, size_t total)
{
    for (size_t t = blockIdx.x * (size_t)blockDim.x + threadIdx.x; t < total;
         t += (size_t)gridDim.x * blockDim.x)
        km_gate_fwd(t, out, x, c2, c2p, b, hw, hs, labels, HW, F);
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
         t += (size_t)gridDim.x * blockDim.x)
        km_film_bwd(t, prod, dc2, c2p, hs, labels, HW, C);
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
         t += (size_t)gridDim.x * blockDim.x)
        km_gate_bwd(t, dx, dc2, dout, c2, F);
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
         t += (size_t)gridDim.x * blockDim.x)
        km_dropout_mask(t, mask, C, seed, step, block, rep, nrep, img0);
}

void cu_dropout_mask(cudaStream_t s, float *mask, int N, int C, uint64_t seed, uint64_t step,
                     uint64_t block, uint64_t rep, uint64_t nrep, uint64_t img0)
{
    k_dropout_mask<<<pcnn_grid((size_t)N * C), 256, 0, s>>>(mask, N, C, seed, step, block, rep,
                                                            nrep, img0);
    CK_LAUNCH();
}

/* The same mask with the step read from device memory (a captured graph's launches keep
 * their arguments; the step is written before each replay: backend_cuda.cu's graphs). */
__global__ void k_dropout_mask_dev(float *mask, int N, int C, uint64_t seed, const uint64_t *step,
                                   uint64_t block, uint64_t rep, uint64_t nrep, uint64_t img0)
{
    const uint64_t st = *step;
    size_t total = (size_t)N * C;
    for (size_t t = blockIdx.x * (size_t)blockDim.x + threadIdx.x; t < total;
         t += (size_t)gridDim.x * blockDim.x)
        km_dropout_mask(t, mask, C, seed, st, block, rep, nrep, img0);
}

void cu_dropout_mask_dev(cudaStream_t s, float *mask, int N, int C, uint64_t seed,
                         const uint64_t *step, uint64_t block, uint64_t rep, uint64_t nrep,
                         uint64_t img0)
{
    k_dropout_mask_dev<<<pcnn_grid((size_t)N * C), 256, 0, s>>>(mask, N, C, seed, step, block,
                                                                rep, nrep, img0);
    CK_LAUNCH();
}

/* Per-image column sums. Grid (ceil(C/32), N); block (32, 8): thread (cx, ry)
 * sums rows ry, ry+8, ... of image n for channel c, then the 8 partial sums are
 * added in a fixed order through shared memory. */
__global__ void k_image_colsum(float *partial, const float *x, size_t HW, int C)
{
    __shared__ float sh[8][33];
    int c = blockIdx.x * 32 + threadIdx.x, n = blockIdx.y;
    sh[threadIdx.y][threadIdx.x] = c < C ? km_colsum_part(x, HW, C, n, c, threadIdx.y) : 0.0f;
    __syncthreads();
    if (threadIdx.y == 0 && c < C)
        partial[(size_t)n * C + c] = km_colsum_combine(&sh[0][threadIdx.x], 33);
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
    if (c < C) km_colsum_finish(c, db, db2, dhw, labels, partial, N, C);
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
         t += (size_t)gridDim.x * blockDim.x)
        km_bias_rows(t, out, b, C, acc);
}

void cu_bias_rows(cudaStream_t s, float *out, const float *b, size_t rows, int C, int acc)
{
    size_t total = rows * C;
    k_bias_rows<<<pcnn_grid(total), 256, 0, s>>>(out, b, C, acc, total);
    CK_LAUNCH();
}
