/*
 * fuzz_prior — libFuzzer harness of the class prior reader of pcnn-argmax
 * (pcnn_prior_read in libcommon/io/scoretsv.c).
 *
 * The input is a prior file, read by path from an in-memory file (memfd), for 4
 * classes named Class0..Class3 (the CPEN 455 names) and, when that fails, for
 * 1 class. An accepted prior must hold log-probabilities that are not NaN, at
 * most 0, and sum (as probabilities) to 1.
 * Seeds: tests/fuzz/corpus/fuzz_prior (make_corpus.sh).
 */
#include "io/scoretsv.h"
#include "fuzz_common.h"

#include <math.h>

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    fuzz_quiet();
    return 0;
}

static void check(const char *path, uint32_t K, char *const *names)
{
    double lp[4];
    if (pcnn_prior_read(path, K, names, lp)) return;
    double sum = 0;
    for (uint32_t k = 0; k < K; k++) {
        if (isnan(lp[k]) || lp[k] > 1e-12) abort();
        sum += exp(lp[k]);
    }
    if (fabs(sum - 1) > 1e-9) abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t n)
{
    fuzz_class_file(data, n, check);
    return 0;
}
