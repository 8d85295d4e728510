/*
 * cuda_check.h — one checking macro for every CUDA runtime, cuDNN and cuBLAS
 * call: on failure it prints the expression, file, line and the library's
 * message, then dies (exit 1). Kernel launches are followed by CK_LAUNCH().
 *
 *   CK(cudaMemcpyAsync(dst, src, n, cudaMemcpyDeviceToDevice, s));
 *   CK(cudnnConvolutionForward(...));
 *   CK(cublasSgemm(...));
 *   my_kernel<<<grid, block, 0, s>>>(...); CK_LAUNCH();
 *
 * Out of memory (cudaErrorMemoryAllocation, CUDNN_STATUS_ALLOC_FAILED,
 * CUBLAS_STATUS_ALLOC_FAILED) calls pcnn_cuda_oom(), which prints how large a
 * batch would fit (backend_cuda.cu) before dying.
 */
#ifndef PCNN_CUDA_CHECK_H
#define PCNN_CUDA_CHECK_H

#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <cudnn.h>

extern "C" {
#include "util.h"
}

/* Set by backend_cuda.cu: prints the batch-size advice, then dies. */
[[noreturn]] void pcnn_cuda_oom(const char *expr, const char *file, int line);

static inline const char *pcnn_cublas_str(cublasStatus_t s)
{
    switch (s) {
    case CUBLAS_STATUS_SUCCESS: return "success";
    case CUBLAS_STATUS_NOT_INITIALIZED: return "not initialized";
    case CUBLAS_STATUS_ALLOC_FAILED: return "allocation failed";
    case CUBLAS_STATUS_INVALID_VALUE: return "invalid value";
    case CUBLAS_STATUS_ARCH_MISMATCH: return "architecture mismatch";
    case CUBLAS_STATUS_MAPPING_ERROR: return "mapping error";
    case CUBLAS_STATUS_EXECUTION_FAILED: return "execution failed";
    case CUBLAS_STATUS_INTERNAL_ERROR: return "internal error";
    case CUBLAS_STATUS_NOT_SUPPORTED: return "not supported";
    default: return "unknown cuBLAS status";
    }
}

/* One overload per status type, so CK() works on any of the three libraries. */
static inline void pcnn_ck(cudaError_t e, const char *expr, const char *file, int line)
{
    if (e == cudaSuccess) return;
    if (e == cudaErrorMemoryAllocation) pcnn_cuda_oom(expr, file, line);
    pcnn_die("CUDA error at %s:%d: %s: %s", file, line, expr, cudaGetErrorString(e));
}
static inline void pcnn_ck(cudnnStatus_t e, const char *expr, const char *file, int line)
{
    if (e == CUDNN_STATUS_SUCCESS) return;
    if (e == CUDNN_STATUS_ALLOC_FAILED) pcnn_cuda_oom(expr, file, line);
    pcnn_die("cuDNN error at %s:%d: %s: %s", file, line, expr, cudnnGetErrorString(e));
}
static inline void pcnn_ck(cublasStatus_t e, const char *expr, const char *file, int line)
{
    if (e == CUBLAS_STATUS_SUCCESS) return;
    if (e == CUBLAS_STATUS_ALLOC_FAILED) pcnn_cuda_oom(expr, file, line);
    pcnn_die("cuBLAS error at %s:%d: %s: %s", file, line, expr, pcnn_cublas_str(e));
}

#define CK(expr) pcnn_ck((expr), #expr, __FILE__, __LINE__)
/* After every kernel launch (configuration errors; execution errors surface
 * at the next synchronising call, which is checked too). */
#define CK_LAUNCH() pcnn_ck(cudaGetLastError(), "kernel launch", __FILE__, __LINE__)

/* Blocks of 256 threads covering n elements, capped (grid-stride loops do the rest). */
static inline unsigned pcnn_grid(size_t n, unsigned threads = 256)
{
    size_t b = (n + threads - 1) / threads;
    if (b > 65535u * 16u) b = 65535u * 16u;
    return b ? (unsigned)b : 1u;
}

#endif
