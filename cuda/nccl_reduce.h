/*
 * nccl_reduce.h — the gradient sum of data parallelism on CUDA GPUs (docs/SCALE.md): one rank
 * per GPU, the gradient buffers summed in device memory over NCCL, in the fixed order of
 * dist.c's host sum, so the two paths give the same bits.
 *
 * The CUDA backend fills in one pcnn_dist_device (dist.h) per backend; dist.c bootstraps it
 * over MPI (rank 0's ncclGetUniqueId, MPI_Bcast, ncclCommInitRank on every rank) and calls it.
 * NCCL itself (libnccl.so.2) is loaded only when a job of several ranks opens it: the CUDA
 * library needs no NCCL to load, a one-GPU run never touches it, and a machine without it
 * falls back to the host sum with a one-line note. A build without nccl.h (make NCCL=0)
 * says so in that note.
 *
 *   pcnn_nccl_device_init(&ctx->coll, stream, device);   // at backend creation
 *   be->coll = &ctx->coll;
 *   ...
 *   pcnn_nccl_device_free(&ctx->coll);                    // at backend destruction
 *
 * The sum (n floats, N ranks, rank j owning piece j = [lo_j, hi_j) as pcnn_dist_shard cuts
 * it): a reduce-scatter as point-to-point transfers (rank j receives piece j of every rank
 * into an N x |piece j| buffer), km_sum_ranks adding the N copies in rank order, and an
 * all-gather of the summed pieces, again point to point. Only copies and one fixed-order
 * addition: the bits depend on nothing NCCL chooses (ring or tree, protocol, channels,
 * topology), and the volume per rank is a ring all-reduce's, 2 (N - 1)/N · n · 4 bytes.
 *
 * Environment: PCNN_NCCL=0 (the host sum), PCNN_NCCL_LIB (the library to load, default
 * libnccl.so.2 on the loader's path and this library's runpath).
 */
#ifndef PCNN_CUDA_NCCL_REDUCE_H
#define PCNN_CUDA_NCCL_REDUCE_H

#include <cuda_runtime.h>

extern "C" {
#include "dist.h"
}

/* d's functions and context for the GPU `device`, summing on `stream` (the backend's). */
void pcnn_nccl_device_init(pcnn_dist_device *d, cudaStream_t stream, int device);
/* Frees the context and the NCCL communicator, if one was joined. */
void pcnn_nccl_device_free(pcnn_dist_device *d);

#endif
