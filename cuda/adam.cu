/* adam.cu — Adam (PyTorch semantics) and Polyak averaging in one pass over the
 * flat parameter buffer (cpu_adam in backend_cpu.c, the same float32 formulas;
 * the body is km_adam in kernel_math.h, tested on the host). */
#include "cuda_check.h"
#include "kernel_math.h"
#include "kernels.h"

__global__ void k_adam(float *p, const float *g, float *m, float *v, float *polyak, size_t n,
                       float step, float rbc2, float beta1, float beta2, float eps, float decay)
{
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n;
         i += (size_t)gridDim.x * blockDim.x)
        km_adam(i, p, g, m, v, polyak, step, rbc2, beta1, beta2, eps, decay);
}

void cu_adam(cudaStream_t s, float *p, const float *g, float *m, float *v, float *polyak,
             size_t n, float step, float rbc2, float beta1, float beta2, float eps, float decay)
{
    if (!n) return;
    k_adam<<<pcnn_grid(n), 256, 0, s>>>(p, g, m, v, polyak, n, step, rbc2, beta1, beta2, eps,
                                        decay);
    CK_LAUNCH();
}
