/* dmol.cu — discretized mixture of logistics: per-pixel log-likelihood and its
 * gradient in one kernel (pcnn_dmol_logp in nn_dmol.c, the same float32
 * operations and branch selects, SPEC §4), and the per-image sum in double.
 * The per-pixel body is km_dmol_row in kernel_math.h (tested on the host). */
#include "cuda_check.h"
#include "kernel_math.h"
#include "kernels.h"

/* One thread per pixel. With a gradient the per-component lp are kept in dl's
 * logit slots (as on the CPU); without, the log-sum-exp runs online. */
__global__ void k_dmol(float *lpix, float *dlogits, const float *logits, const float *x,
                       size_t rows, int M, float scale)
{
    for (size_t r = blockIdx.x * (size_t)blockDim.x + threadIdx.x; r < rows;
         r += (size_t)gridDim.x * blockDim.x)
        km_dmol_row(r, lpix, dlogits, logits, x, M, scale);
}

void cu_dmol(cudaStream_t s, float *lp, float *dl, const float *logits, const float *x,
             size_t rows, int M, float scale)
{
    k_dmol<<<pcnn_grid(rows, 128), 128, 0, s>>>(lp, dl, logits, x, rows, M, scale);
    CK_LAUNCH();
}

/* One block of 256 per image: strided partial sums, then a fixed-order tree. */
__global__ void k_image_sum(double *ll, const float *lp, size_t HW)
{
    __shared__ double sh[256];
    sh[threadIdx.x] = km_image_sum_part(lp, HW, blockIdx.x, threadIdx.x);
    __syncthreads();
    for (int o = 128; o > 0; o >>= 1) {
        if (threadIdx.x < o) sh[threadIdx.x] += sh[threadIdx.x + o];
        __syncthreads();
    }
    if (threadIdx.x == 0) ll[blockIdx.x] = sh[0];
}

void cu_image_sum(cudaStream_t s, double *ll, const float *lp, int N, size_t HW)
{
    if (N <= 0) return;
    k_image_sum<<<N, 256, 0, s>>>(ll, lp, HW);
    CK_LAUNCH();
}
