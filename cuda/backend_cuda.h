/*
 * backend_cuda.h — the CUDA backend (backend_cuda.cu), built as its own shared
 * library lib/pcnn/libpcnn-cuda.so; the tools reach it through
 * pcnn_backend_cuda_new (nn_backend.h, libcommon/model/backend_cuda_load.c), which
 * loads the library and calls pcnn_cuda_backend_create. net.c enables
 * "--device cuda" when this header is present in a PCNN_HAVE_CUDA build.
 *
 *   pcnn_backend *be = pcnn_backend_cuda_new(t, 64, 32, 32);   // NULL: no GPU (message printed)
 *   ... be->wn_fwd(be, params, wp); be->input_fwd(...); ...
 *   be->destroy(be);
 *
 * Environment: PCNN_PRECISION=fp32 (default) | tf32 | bf16 (bf16 operands in every
 * pass; be->set_precision(be, PCNN_PREC_BF16) in training steps only); PCNN_CUDA_GRAPH=1
 * (training steps and eval passes replayed as CUDA graphs); PCNN_CONV_ALGO=find (time
 * the cuDNN candidates instead of the default heuristics: faster, not reproducible
 * across processes); PCNN_CONV_LOG=1; PCNN_DETERMINISTIC=1 (see conv.h).
 */
#ifndef PCNN_BACKEND_CUDA_H
#define PCNN_BACKEND_CUDA_H

#include "model/nn_backend.h"

#ifdef __cplusplus
extern "C" {
#endif
/* The library's entry point: as pcnn_backend_cuda_new, once a GPU is known to exist, on the
 * GPU of the rank at place (NULL: one process, GPU 0): its node-local rank mod the visible
 * GPUs, said once per process when there are several ranks. */
pcnn_backend *pcnn_cuda_backend_create_at(const pcnn_param_table *t, int max_batch, int H, int W,
                                          const pcnn_rank_place *place);
/* The same for one process (place NULL). */
pcnn_backend *pcnn_cuda_backend_create(const pcnn_param_table *t, int max_batch, int H, int W);
#ifdef __cplusplus
}
#endif

#endif
