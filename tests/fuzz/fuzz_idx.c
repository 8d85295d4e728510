/*
 * fuzz_idx — libFuzzer harness of the IDX reader (libcommon/io/idx.c), plain or gzip'd.
 *
 * The input is a whole IDX file in an in-memory file (memfd), read by path both
 * as images (3 dimensions) and as labels (1 dimension). An accepted file must
 * have sizes that multiply to its data size, every byte readable.
 * Seeds: tests/fuzz/corpus/fuzz_idx (make_corpus.sh).
 */
#include "io/idx.h"
#include "fuzz_common.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    fuzz_quiet();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t n)
{
    char path[64];
    int fd = fuzz_memfile(data, n, path, sizeof path);
    for (int nd = 1; nd <= 3; nd += 2) {
        pcnn_idx *x = pcnn_idx_read(path, nd);
        if (!x) continue;
        size_t total = 1;
        for (int d = 0; d < nd; d++) total *= x->dims[d];
        if (x->ndims != nd || total != x->size) abort();
        unsigned sum = 0;
        for (size_t i = 0; i < x->size; i++) sum += x->data[i];
        (void)sum;
        pcnn_idx_free(x);
    }
    close(fd);
    return 0;
}
