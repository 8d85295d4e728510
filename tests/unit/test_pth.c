/* test_pth — the PyTorch state_dict writer (io/pth_write.c) against the reader (io/pth.c):
 * what one writes the other reads back, bit for bit, across the pickle's size boundaries
 * (memo indices past 255: LONG_BINPUT/LONG_BINGET; SETITEMS batches of 1000 and a last
 * batch of one: SETITEM; ints of 1, 2, 4 and more bytes), and the zip's layout. The bytes
 * against torch.save's own are checked by tests/bats/import.bats (committed fixtures). */
#include "io/pth.h"
#include "io/pth_write.h"
#include "util.h"

#include "check.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char path[64];

/* n entries: shapes cycle through 0..4 axes; entry 3 has 70000 elements (BININT numel),
 * entry 4 a dimension of 300 (BININT2). Values: a function of (entry, element). */
static pcnn_pth_entry *make(int n, float **store, char ***names)
{
    pcnn_pth_entry *t = calloc((size_t)n + 1, sizeof *t);
    *store = NULL;
    *names = calloc((size_t)n + 1, sizeof **names);
    size_t total = 0, off[4096];
    for (int i = 0; i < n; i++) {
        char buf[64];
        snprintf(buf, sizeof buf, "layer.%d.weight_%s", i, i % 2 ? "v" : "g");
        (*names)[i] = strdup(buf);
        t[i].name = (*names)[i];
        t[i].ndim = i % 5;
        for (int d = 0; d < t[i].ndim; d++) t[i].shape[d] = 1 + (i + d) % 3;
        if (i == 3) t[i].ndim = 2, t[i].shape[0] = 700, t[i].shape[1] = 100;
        if (i == 4) t[i].ndim = 1, t[i].shape[0] = 300;
        int64_t m = 1;
        for (int d = 0; d < t[i].ndim; d++) m *= t[i].shape[d];
        off[i % 4096] = total;
        total += (size_t)m;
    }
    *store = malloc((total + 1) * sizeof **store);
    for (size_t j = 0; j < total; j++) (*store)[j] = (float)j * 0.001f - 3.5f;
    for (int i = 0; i < n; i++) t[i].data = *store + off[i % 4096];
    return t;
}

static void free_made(pcnn_pth_entry *t, float *store, char **names, int n)
{
    for (int i = 0; i < n; i++) free(names[i]);
    free(names);
    free(store);
    free(t);
}

static int64_t numel(const pcnn_pth_entry *e)
{
    int64_t m = 1;
    for (int d = 0; d < e->ndim; d++) m *= e->shape[d];
    return m;
}

static void roundtrip(int n)
{
    float *store;
    char **names;
    pcnn_pth_entry *t = make(n, &store, &names);
    FILE *fp = fopen(path, "wb");
    CHECK(fp && pcnn_pth_write(fp, t, n) == 0);
    if (fp) fclose(fp);
    char err[256];
    pcnn_pth *p = pcnn_pth_open(path, err, sizeof err);
    CHECK(p != NULL);
    if (!p) {
        printf("#   %d entries: %s\n", n, err);
        free_made(t, store, names, n);
        return;
    }
    CHECK(!strcmp(pcnn_pth_format(p), "zip"));
    CHECK(pcnn_pth_count(p) == n);
    CHECK(pcnn_pth_stray(p) == NULL);
    int bad = 0;
    for (int i = 0; i < n && i < pcnn_pth_count(p); i++) {
        int64_t shape[8];
        bad += strcmp(pcnn_pth_name(p, i), t[i].name) != 0;
        bad += pcnn_pth_shape(p, t[i].name, shape) != t[i].ndim;
        for (int d = 0; d < t[i].ndim; d++) bad += shape[d] != t[i].shape[d];
        int64_t m = numel(&t[i]);
        float *got = malloc((size_t)m * sizeof *got);
        double *got64 = malloc((size_t)m * sizeof *got64);
        bad += pcnn_pth_read(p, t[i].name, t[i].ndim, t[i].shape, got, err, sizeof err) != 0;
        bad += memcmp(got, t[i].data, (size_t)m * sizeof *got) != 0;
        bad += pcnn_pth_read_f64(p, t[i].name, got64, err, sizeof err) != 0;
        for (int64_t j = 0; j < m; j++) bad += got64[j] != (double)t[i].data[j];
        free(got);
        free(got64);
    }
    CHECK(bad == 0);
    if (bad) printf("#   %d entries: %d differences\n", n, bad);
    pcnn_pth_close(p);
    free_made(t, store, names, n);
}

static void test_roundtrip_sizes(void)
{
    int sizes[] = {0, 1, 2, 40, 999, 1000, 1001, 2001};
    for (size_t k = 0; k < sizeof sizes / sizeof *sizes; k++) roundtrip(sizes[k]);
    unlink(path);
}

/* Every record's data at a multiple of 64 bytes; the archive's entries as torch names them. */
static void test_zip_layout(void)
{
    float v[3] = {1, 2, 3};
    pcnn_pth_entry t[1] = {{"w", 1, {3}, v}};
    FILE *fp = fopen(path, "wb");
    CHECK(fp && pcnn_pth_write(fp, t, 1) == 0);
    if (fp) fclose(fp);
    fp = fopen(path, "rb");
    uint8_t b[4096];
    size_t n = fp ? fread(b, 1, sizeof b, fp) : 0;
    if (fp) fclose(fp);
    CHECK(n > 300 && n < sizeof b);
    int records = 0, aligned = 0;
    const char *want[] = {"archive/data.pkl", "archive/data/0", "archive/version", "archive/byteorder"};
    for (size_t q = 0; q + 30 < n; q++) {
        if (pcnn_get_u32(b + q) != 0x04034b50) continue;
        size_t nl = pcnn_get_u16(b + q + 26), xl = pcnn_get_u16(b + q + 28);
        if (records < 4) CHECK(nl == strlen(want[records]) && !memcmp(b + q + 30, want[records], nl));
        aligned += (q + 30 + nl + xl) % 64 == 0;
        records++;
    }
    CHECK(records == 4 && aligned == 4);
    /* the end record: 4 entries, the central directory where it says */
    CHECK(pcnn_get_u32(b + n - 22) == 0x06054b50 && pcnn_get_u16(b + n - 12) == 4);
    CHECK(pcnn_get_u32(b + pcnn_get_u32(b + n - 6)) == 0x02014b50);
    unlink(path);
}

static void test_write_errors(void)
{
    float v[2] = {0, 0};
    pcnn_pth_entry t[2] = {{"a", 1, {2}, v}, {"", 1, {2}, v}};
    FILE *fp = fopen("/dev/full", "wb");
    if (fp) {
        errno = 0;
        CHECK(pcnn_pth_write(fp, t, 1) == -1 && errno == ENOSPC);
        fclose(fp);
    }
    fp = fopen(path, "wb");
    errno = 0;
    CHECK(fp && pcnn_pth_write(fp, t, 2) == -1 && errno == EINVAL);   /* an empty name */
    if (fp) fclose(fp);
    unlink(path);
}

int main(void)
{
    snprintf(path, sizeof path, "/tmp/pcnn-test-pth.%d.pth", (int)getpid());
    RUN(test_roundtrip_sizes);
    RUN(test_zip_layout);
    RUN(test_write_errors);
    return check_summary();
}
