/*
 * idx.h — the IDX files of MNIST / Fashion-MNIST (gzip'd or plain), read with zlib.
 *
 * Layout (big-endian): u8 0, u8 0, u8 type (0x08 = unsigned byte), u8 ndims, then ndims
 * × u32 sizes, then the data, row-major. Images: ndims 3, [n, rows, cols]; labels:
 * ndims 1, [n].
 *
 *   pcnn_idx *im = pcnn_idx_read("train-images-idx3-ubyte.gz", 3);   // NULL: message printed
 *   pcnn_idx *lb = pcnn_idx_read("train-labels-idx1-ubyte.gz", 1);
 *   // im->dims = {n, 28, 28}; image i is im->data + i·28·28; lb->data[i] its label
 *   pcnn_idx_free(im); pcnn_idx_free(lb);
 *
 * Checks: the magic (zero bytes, type 0x08, the expected ndims), every size ≥ 1, rows and
 * cols ≤ PCNN_IDX_MAX_SIDE, total ≤ PCNN_IDX_MAX_BYTES; the data must be exactly as long as
 * the sizes say (a short file is "truncated", extra bytes are an error too). Memory grows
 * with the data actually read, never with what the header claims.
 */
#ifndef PCNN_IDX_H
#define PCNN_IDX_H

#include <stddef.h>
#include <stdint.h>

#define PCNN_IDX_MAX_SIDE 4096u
#define PCNN_IDX_MAX_BYTES ((uint64_t)4 << 30)

typedef struct pcnn_idx {
    int ndims;
    uint32_t dims[3];
    size_t size;        /* product of dims (bytes of data) */
    uint8_t *data;
} pcnn_idx;

/* Reads an unsigned-byte IDX file with ndims (1 or 3) dimensions. */
pcnn_idx *pcnn_idx_read(const char *path, int ndims);
void pcnn_idx_free(pcnn_idx *x);

#endif
