/*
 * fuzz_datafile — libFuzzer harness of the data file reader (libcommon/io/datafile.c).
 *
 * The input is a whole data file, read as a stream (fmemopen) the way a pipe is
 * read: header, then every record until the end marker or an error. Checks what
 * the reader promises of a record it hands out: the id is 1..4095 bytes without
 * TAB/CR/LF, the label is in -1..K-1, and all H·W·C pixel bytes are readable.
 * Seeds: tests/fuzz/corpus/fuzz_datafile (make_corpus.sh).
 */
#include "io/datafile.h"
#include "fuzz_common.h"

#include <string.h>

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    fuzz_quiet();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t n)
{
    if (n == 0) return 0;   /* fmemopen refuses a zero-size buffer */
    FILE *fp = fmemopen((void *)data, n, "rb");
    if (!fp) abort();
    pcnn_data_reader *r = pcnn_data_open_stream(fp, "fuzz");
    if (r) {
        const pcnn_data_header *h = pcnn_data_get_header(r);
        if (h->H < 1 || h->H > PCNN_DATA_MAX_SIDE || h->W < 1 || h->W > PCNN_DATA_MAX_SIDE ||
            h->C < 1 || h->C > PCNN_DATA_MAX_CHANNELS || h->K < 1 || h->K > PCNN_DATA_MAX_CLASSES)
            abort();
        for (uint32_t k = 0; k < h->K; k++)
            if (pcnn_data_check_class_name(h->class_names[k])) abort();
        size_t npix = (size_t)h->H * h->W * h->C;
        pcnn_record rec;
        int st;
        unsigned sum = 0;
        while ((st = pcnn_data_next(r, &rec)) == 1) {
            if (pcnn_data_check_id(rec.id)) abort();
            if (rec.label < -1 || rec.label >= (int32_t)h->K) abort();
            /* touch every pixel byte: ASan reports a short buffer */
            for (size_t i = 0; i < npix; i++) sum += rec.pixels[i];
        }
        if (st == 0 && h->count != PCNN_DATA_COUNT_UNKNOWN && pcnn_data_index(r) != h->count)
            abort();
        (void)sum;
        pcnn_data_close(r);
    }
    fclose(fp);
    return 0;
}
