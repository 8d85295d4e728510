/* nn_scratch.c — per-thread scratch of the layers and both GEMMs (nn_scratch.h). */
#include "nn/nn_scratch.h"

#include "util.h"

#include <stdlib.h>

/* Scratch buffers, NN_SCRATCH_SLOTS per thread: each grows to the largest
 * need once (the first step), then is reused. */
static _Thread_local float *scratch_p[NN_SCRATCH_SLOTS];
static _Thread_local size_t scratch_cap[NN_SCRATCH_SLOTS];

float *nn_scratch(int slot, size_t n)
{
    if (n > scratch_cap[slot]) {
        free(scratch_p[slot]);
        scratch_p[slot] = pcnn_xmalloc(n * sizeof(float));
        scratch_cap[slot] = n;
    }
    return scratch_p[slot];
}

__attribute__((destructor)) static void scratch_free(void)
{
    for (int i = 0; i < NN_SCRATCH_SLOTS; i++) {
        free(scratch_p[i]);
        scratch_p[i] = NULL;
        scratch_cap[i] = 0;
    }
}
