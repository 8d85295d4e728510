/* adam.cu — Adam (PyTorch semantics) and Polyak averaging in one pass over the
 * flat parameter buffer (cpu_adam in backend_cpu.c, the same float32 formulas). */
#include "cuda_check.h"
#include "kernels.h"

__global__ void k_adam(float *p, const float *g, float *m, float *v, float *polyak, size_t n,
                       float step, float rbc2, float beta1, float beta2, float eps, float decay)
{
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n;
         i += (size_t)gridDim.x * blockDim.x) {
        float gi = g[i];
        float mi = beta1 * m[i] + (1.0f - beta1) * gi;
        float vi = beta2 * v[i] + (1.0f - beta2) * gi * gi;
        float pi = p[i] - step * mi / (sqrtf(vi) / rbc2 + eps);
        m[i] = mi;
        v[i] = vi;
        p[i] = pi;
        polyak[i] = decay * polyak[i] + (1.0f - decay) * pi;
    }
}

void cu_adam(cudaStream_t s, float *p, const float *g, float *m, float *v, float *polyak,
             size_t n, float step, float rbc2, float beta1, float beta2, float eps, float decay)
{
    if (!n) return;
    k_adam<<<pcnn_grid(n), 256, 0, s>>>(p, g, m, v, polyak, n, step, rbc2, beta1, beta2, eps,
                                        decay);
    CK_LAUNCH();
}
