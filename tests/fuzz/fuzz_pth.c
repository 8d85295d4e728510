/*
 * fuzz_pth — libFuzzer harness of the PyTorch checkpoint reader (libcommon/io/pth.c), which
 * pcnn-import runs on files from anywhere, and of the writer beside it (io/pth_write.c).
 *
 * Every input is opened as a file (memfd). When it opens, every tensor's shape is asked for
 * and every tensor of at most 65536 elements is read (as float and as double: a refusal is
 * fine, a crash or a read out of bounds is not). The float tensors of at most 4 axes are
 * then written with pcnn_pth_write to /dev/shm and read back: the copy must hold the same
 * names, shapes and bits.
 * Seeds: tests/fuzz/corpus/fuzz_pth (make_corpus.sh: small zip and legacy files).
 */
#include "io/pth.h"
#include "io/pth_write.h"
#include "fuzz_common.h"

#include <string.h>

static char shm_path[64];

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    fuzz_quiet();
    snprintf(shm_path, sizeof shm_path, "/dev/shm/pcnn-fuzz-pth.%d", (int)getpid());
    return 0;
}

enum { MAXN = 65536, MAXT = 64 };

static void roundtrip(pcnn_pth_entry *t, int n)
{
    FILE *fp = fopen(shm_path, "wb");
    if (!fp) return;
    int rc = pcnn_pth_write(fp, t, n);
    fclose(fp);
    if (rc) {
        unlink(shm_path);
        return;
    }
    char err[256];
    pcnn_pth *q = pcnn_pth_open(shm_path, err, sizeof err);
    if (!q || pcnn_pth_count(q) != n) abort();   /* what was written must read back */
    float *v = malloc(MAXN * sizeof *v + 1);
    for (int i = 0; i < n; i++) {
        int64_t shape[8];
        if (strcmp(pcnn_pth_name(q, i), t[i].name) || pcnn_pth_shape(q, t[i].name, shape) != t[i].ndim) abort();
        size_t m = 1;
        for (int d = 0; d < t[i].ndim; d++) {
            if (shape[d] != t[i].shape[d]) abort();
            m *= (size_t)shape[d];
        }
        if (pcnn_pth_read(q, t[i].name, t[i].ndim, t[i].shape, v, err, sizeof err) ||
            memcmp(v, t[i].data, m * sizeof *v))
            abort();
    }
    free(v);
    pcnn_pth_close(q);
    unlink(shm_path);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t n)
{
    char path[64], err[256];
    int fd = fuzz_memfile(data, n, path, sizeof path);
    pcnn_pth *p = pcnn_pth_open(path, err, sizeof err);
    close(fd);
    if (!p) return 0;
    (void)pcnn_pth_format(p);
    (void)pcnn_pth_stray(p);
    pcnn_pth_entry t[MAXT];
    float *keep[MAXT];
    int nt = 0;
    double *d = malloc(MAXN * sizeof *d);
    for (int i = 0; i < pcnn_pth_count(p); i++) {
        const char *name = pcnn_pth_name(p, i);
        int64_t shape[8];
        int ndim = pcnn_pth_shape(p, name, shape);
        if (ndim < 0 || ndim > 8) abort();
        size_t m = 1;
        int small = 1;
        for (int k = 0; k < ndim; k++) {
            if (shape[k] < 0 || (shape[k] > 0 && m > MAXN / (size_t)shape[k])) small = 0;
            else m *= (size_t)shape[k];
        }
        if (!small) continue;
        (void)pcnn_pth_read_f64(p, name, d, err, sizeof err);
        float *f = malloc(m * sizeof *f + 1);
        int ok = !pcnn_pth_read(p, name, ndim, shape, f, err, sizeof err);
        if (ok && ndim <= 4 && nt < MAXT && name[0]) {
            int dup = 0;
            for (int j = 0; j < nt; j++) dup |= !strcmp(t[j].name, name);
            if (!dup) {
                t[nt] = (pcnn_pth_entry){name, ndim, {0}, f};
                for (int k = 0; k < ndim; k++) t[nt].shape[k] = shape[k];
                keep[nt++] = f;
                continue;
            }
        }
        free(f);
    }
    roundtrip(t, nt);
    for (int j = 0; j < nt; j++) free(keep[j]);
    free(d);
    pcnn_pth_close(p);
    return 0;
}
