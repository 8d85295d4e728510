/*
 * fuzz_modelfile — libFuzzer harness of the model file reader (libcommon/io/modelfile.c).
 *
 * The reader takes a path and checks a CRC-32 over the whole file, which random
 * mutations almost never get right. So every input is read twice from an
 * in-memory file (memfd): once as it is (the checksum path) and once with its
 * last 4 bytes replaced by the correct CRC, so the fuzzer reaches the fields
 * behind the checksum. A file that is accepted must hold only finite floats and
 * consistent sizes; it is then described (pcnn-info), written to /dev/shm and
 * read back, and the copy must equal the original field by field.
 * Seeds: tests/fuzz/corpus/fuzz_modelfile (make_corpus.sh).
 */
#include "io/modelfile.h"
#include "fuzz_common.h"

#include <math.h>
#include <string.h>
#include <zlib.h>

static char shm_path[64];

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    fuzz_quiet();
    snprintf(shm_path, sizeof shm_path, "/dev/shm/pcnn-fuzz-model.%d", (int)getpid());
    return 0;
}

static void check_model(const pcnn_model_file *m)
{
    if (m->K < 1 || m->K > PCNN_DATA_MAX_CLASSES || m->C < 1 || m->C > PCNN_DATA_MAX_CHANNELS)
        abort();
    if (!isfinite(m->lr)) abort();
    for (uint32_t i = 0; i < m->ntensors; i++) {
        const pcnn_tensor *t = &m->tensors[i];
        size_t n = 1;
        for (uint32_t d = 0; d < t->ndim; d++) n *= t->dims[d];
        if (t->ndim < 1 || t->ndim > 4 || n != t->n) abort();
        for (size_t j = 0; j < t->n; j++)
            if (!isfinite(t->data[j])) abort();
    }
}

static int same_model(const pcnn_model_file *a, const pcnn_model_file *b)
{
    if (a->R != b->R || a->F != b->F || a->M != b->M || a->K != b->K || a->H != b->H ||
        a->W != b->W || a->C != b->C || a->step != b->step || a->epoch != b->epoch ||
        a->seed != b->seed || memcmp(&a->lr, &b->lr, sizeof a->lr) || a->nmeta != b->nmeta ||
        a->ntensors != b->ntensors)
        return 0;
    for (uint32_t k = 0; k < a->K; k++)
        if (strcmp(a->class_names[k], b->class_names[k])) return 0;
    for (uint32_t i = 0; i < a->nmeta; i++)
        if (strcmp(a->meta[i].key, b->meta[i].key) || strcmp(a->meta[i].val, b->meta[i].val))
            return 0;
    for (uint32_t i = 0; i < a->ntensors; i++) {
        const pcnn_tensor *s = &a->tensors[i], *t = &b->tensors[i];
        if (strcmp(s->name, t->name) || s->ndim != t->ndim || s->n != t->n ||
            memcmp(s->dims, t->dims, sizeof s->dims) || memcmp(s->data, t->data, s->n * sizeof(float)))
            return 0;
    }
    return 1;
}

static void one(const uint8_t *data, size_t n)
{
    char path[64];
    int fd = fuzz_memfile(data, n, path, sizeof path);
    pcnn_model_file *m = pcnn_model_file_read(path);
    close(fd);
    if (!m) return;
    check_model(m);
    pcnn_model_file_describe(m, "fuzz", stderr);
    if (pcnn_model_file_write(shm_path, m) == 0) {
        pcnn_model_file *b = pcnn_model_file_read(shm_path);
        if (!b || !same_model(m, b)) abort();   /* what was written must read back equal */
        pcnn_model_file_free(b);
        unlink(shm_path);
    }
    pcnn_model_file_free(m);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t n)
{
    one(data, n);
    if (n >= 16) {
        uint8_t *fixed = malloc(n);
        memcpy(fixed, data, n);
        uint32_t c = (uint32_t)crc32(0, fixed, (uInt)(n - 4));
        for (int i = 0; i < 4; i++) fixed[n - 4 + i] = (uint8_t)(c >> (8 * i));
        if (memcmp(fixed, data, n)) one(fixed, n);
        free(fixed);
    }
    return 0;
}
