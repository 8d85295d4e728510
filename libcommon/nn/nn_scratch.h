/*
 * nn_scratch.h — per-thread scratch memory of the CPU primitives: the layers' weight
 * copies and the GEMMs' (fp32 and bf16) packed panels. Each slot of each thread grows
 * to the largest need once (the first step), then is reused; freed at exit.
 *
 *   float *bp = nn_scratch(NN_SCRATCH_PACK, n);   // n floats, this thread's, until the
 *                                                 // next call for the same slot
 */
#ifndef PCNN_NN_SCRATCH_H
#define PCNN_NN_SCRATCH_H

#include <stddef.h>

/* A float buffer of at least n, per calling thread and slot, kept for reuse (it
 * moves when it grows): slot LAYOUT for the layers' weight copies, PACK for the
 * GEMMs' packed panels of B, APACK for bf16's packed rows of A, so they can be in
 * use at once. */
enum { NN_SCRATCH_LAYOUT, NN_SCRATCH_PACK, NN_SCRATCH_APACK, NN_SCRATCH_SLOTS };
float *nn_scratch(int slot, size_t n);

#endif
