/*
 * backend_cuda_stub.c — pcnn_backend_cuda_new when the CUDA parts are not
 * built (GPU=0, or no nvcc/cuDNN at build time): says so and returns NULL, so
 * "--device cuda" is a clear error and "auto" falls back to the CPU. With
 * PCNN_HAVE_CUDA the real one is in cuda/backend_cuda.cu.
 */
#include "nn_backend.h"

#ifndef PCNN_HAVE_CUDA

#include "util.h"

pcnn_backend *pcnn_backend_cuda_new(const pcnn_param_table *t, int max_batch, int H, int W)
{
    (void)t;
    (void)max_batch;
    (void)H;
    (void)W;
    pcnn_warn("built without CUDA (rebuild with make GPU=1 on a machine with the CUDA toolkit "
              "and cuDNN)");
    return NULL;
}

#else

/* ISO C wants at least one declaration in a translation unit. */
typedef int pcnn_backend_cuda_stub_unused;

#endif
