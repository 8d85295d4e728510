/*
 * backend_cuda.h — the CUDA backend (backend_cuda.cu): pcnn_backend_cuda_new
 * as declared in nn_backend.h. net.c enables "--device cuda" when this header
 * is present in a PCNN_HAVE_CUDA build.
 *
 *   pcnn_backend *be = pcnn_backend_cuda_new(t, 64, 32, 32);   // NULL: no GPU (message printed)
 *   ... be->wn_fwd(be, params, wp); be->input_fwd(...); ...
 *   be->destroy(be);
 *
 * Environment: PCNN_PRECISION=fp32 (default) | tf32; PCNN_CONV_ALGO=find
 * (default: cuDNN algorithms chosen by measurement) | heuristic.
 */
#ifndef PCNN_BACKEND_CUDA_H
#define PCNN_BACKEND_CUDA_H

#include "nn_backend.h"

#endif
