/*
 * fuzz_calibration — libFuzzer harness of the calibration file reader of pcnn-argmax
 * (pcnn_calibration_read in libcommon/io/calibration.c).
 *
 * The input is a calibration file, read by path from an in-memory file (memfd), for 4
 * classes named Class0..Class3 and, when that fails, for 1 class. An accepted file must
 * give a finite temperature > 0 and, when it has a threshold, a finite one with a quantile
 * in (0, 1].
 * Seeds: tests/fuzz/corpus/calibration (make_corpus.sh).
 */
#include "io/calibration.h"
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
    pcnn_calibration c;
    if (pcnn_calibration_read(path, K, names, &c)) return;
    if (!(c.temperature > 0) || !isfinite(c.temperature) || c.K != K) abort();
    if (c.has_reject && (!isfinite(c.reject_threshold) || !(c.reject_quantile > 0) ||
                         c.reject_quantile > 1))
        abort();
    pcnn_calibration_free(&c);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t n)
{
    fuzz_class_file(data, n, check);
    return 0;
}
