/*
 * fuzz_scoretsv — libFuzzer harness of the score TSV reader (libcommon/io/scoretsv.c).
 *
 * The input is a whole score TSV read as a stream (fmemopen): the header, then
 * every row until the end or an error. An accepted row must have an id without
 * TAB/CR/LF, a label in -1..K-1 and K finite scores.
 * Seeds: tests/fuzz/corpus/fuzz_scoretsv (make_corpus.sh).
 */
#include "io/scoretsv.h"
#include "io/datafile.h"
#include "fuzz_common.h"

#include <math.h>

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    fuzz_quiet();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t n)
{
    if (n == 0) return 0;   /* fmemopen refuses a zero-size buffer */
    FILE *fp = fmemopen((void *)data, n, "r");
    if (!fp) abort();
    pcnn_score_reader *r = pcnn_score_open_stream(fp, "fuzz");
    if (r) {
        uint32_t K = pcnn_score_nclasses(r);
        char *const *names = pcnn_score_class_names(r);
        if (K < 1 || K > PCNN_DATA_MAX_CLASSES) abort();
        for (uint32_t k = 0; k < K; k++)
            if (pcnn_data_check_class_name(names[k])) abort();
        pcnn_score_row row;
        while (pcnn_score_next(r, &row) == 1) {
            if (pcnn_data_check_id(row.id)) abort();
            if (row.label < -1 || row.label >= (int32_t)K) abort();
            for (uint32_t k = 0; k < K; k++)
                if (!isfinite(row.logp[k])) abort();
        }
        pcnn_score_close(r);
    }
    fclose(fp);
    return 0;
}
