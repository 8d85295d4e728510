/*
 * fuzz_common.h — what the libFuzzer harnesses share (tests/fuzz/fuzz_*.c).
 *
 *   int LLVMFuzzerInitialize(int *argc, char ***argv) { fuzz_quiet(); return 0; }
 *   int LLVMFuzzerTestOneInput(const uint8_t *data, size_t n) {
 *       char path[64];
 *       int fd = fuzz_memfile(data, n, path, sizeof path);   // "/proc/self/fd/N"
 *       reader(path); close(fd);
 *   }
 *
 * Readers that take a path (model file, manifest, IDX, prior) read an in-memory
 * file (memfd_create): a regular file with a size, opened again through
 * /proc/self/fd/N, so nothing touches the disk. Readers that take a FILE * get
 * fmemopen. The parsers' messages (pcnn_warn writes to the stdio stream stderr)
 * go to /dev/null unless PCNN_FUZZ_VERBOSE is set; sanitizer and libFuzzer reports
 * write to file descriptor 2 directly and are not affected.
 */
#ifndef PCNN_FUZZ_COMMON_H
#define PCNN_FUZZ_COMMON_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

static inline void fuzz_quiet(void)
{
    if (getenv("PCNN_FUZZ_VERBOSE")) return;
    FILE *null = fopen("/dev/null", "w");
    if (null) stderr = null;
}

/* An in-memory regular file holding data[0..n); its path in path. The caller
 * closes the returned descriptor. Aborts on failure (a harness problem, not a
 * finding in the parser). */
static inline int fuzz_memfile(const uint8_t *data, size_t n, char *path, size_t pathlen)
{
    int fd = memfd_create("pcnn-fuzz", 0);
    if (fd < 0) abort();
    size_t off = 0;
    while (off < n) {
        ssize_t w = write(fd, data + off, n - off);
        if (w <= 0) abort();
        off += (size_t)w;
    }
    snprintf(path, pathlen, "/proc/self/fd/%d", fd);
    return fd;
}

/* The class files of pcnn-argmax (a prior, a calibration) are read against the model's
 * class names: check(path, K, names) runs on data as an in-memory file for 4 classes
 * named Class0..Class3 (the CPEN 455 names) and for 1 class (Class0). */
typedef void fuzz_class_check(const char *path, uint32_t K, char *const *names);
static inline void fuzz_class_file(const uint8_t *data, size_t n, fuzz_class_check *check)
{
    static char *const names[4] = {"Class0", "Class1", "Class2", "Class3"};
    char path[64];
    int fd = fuzz_memfile(data, n, path, sizeof path);
    check(path, 4, names);
    check(path, 1, names);
    close(fd);
}

#endif
