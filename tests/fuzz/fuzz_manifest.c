/*
 * fuzz_manifest — libFuzzer harness of the CSV manifest reader (libcommon/io/manifest.c).
 *
 * The input is a whole CSV, read from an in-memory file (memfd) by path. Checks
 * the reader's promises: every row has a line number that grows, a well-formed
 * row has a non-empty id without TAB/CR/LF, a file name that ends in the id, and a
 * label >= -1; a malformed row has its reason set.
 * Seeds: tests/fuzz/corpus/fuzz_manifest (make_corpus.sh).
 */
#include "io/manifest.h"
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
    char path[64];
    int fd = fuzz_memfile(data, n, path, sizeof path);
    pcnn_manifest *m = pcnn_manifest_read(path);
    close(fd);
    if (!m) return 0;
    unsigned long last = 0;
    for (size_t i = 0; i < m->n; i++) {
        const pcnn_manifest_row *r = &m->rows[i];
        if (r->line <= last) abort();
        last = r->line;
        if (r->err) continue;
        if (!r->id || !r->file || !r->id[0] || r->label < -1) abort();
        if (strpbrk(r->id, "\t\r\n")) abort();
        size_t li = strlen(r->id), lf = strlen(r->file);
        if (lf < li || strcmp(r->file + lf - li, r->id)) abort();
    }
    pcnn_manifest_free(m);
    return 0;
}
