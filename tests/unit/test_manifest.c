/* test_manifest.c — the CSV manifest reader (line ends, header, BOM, malformed rows with
 * line numbers, relative paths) and the IDX reader (magic, sizes, truncation, extra bytes). */
#include "check.h"
#include "io/idx.h"
#include "io/manifest.h"
#include "util.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

static char tmpdir[4096];

static const char *tmp(const char *name)
{
    static char p[8192];
    snprintf(p, sizeof p, "%s/%s", tmpdir, name);
    return p;
}

static void put(const char *name, const void *data, size_t n)
{
    FILE *fp = fopen(tmp(name), "wb");
    if (!fp || fwrite(data, 1, n, fp) != n || fclose(fp)) printf("#   cannot write %s\n", name);
}

static void quiet(int on)
{
    static int saved = -1;
    fflush(stderr);
    if (on) {
        saved = dup(2);
        FILE *f = freopen("/dev/null", "w", stderr);
        (void)f;
    } else if (saved >= 0) {
        dup2(saved, 2);
        close(saved);
        saved = -1;
    }
}

static void test_crlf_no_header(void)
{
    const char s[] = "train/0000001.jpg,0\r\ntrain/0000002.jpg,3\r\ntest/0000021.jpg,-1\r\n";
    put("a.csv", s, sizeof s - 1);
    pcnn_manifest *m = pcnn_manifest_read(tmp("a.csv"));
    CHECK(m && m->n == 3 && !m->has_header);
    if (!m) return;
    CHECK(!strcmp(m->rows[0].id, "train/0000001.jpg") && m->rows[0].label == 0 && !m->rows[0].err);
    CHECK(m->rows[1].label == 3 && m->rows[2].label == -1 && m->rows[2].line == 3);
    char want[8192];
    snprintf(want, sizeof want, "%s/test/0000021.jpg", tmpdir);
    CHECK(!strcmp(m->rows[2].file, want));
    pcnn_manifest_free(m);
}

static void test_header_bom_blank_lines(void)
{
    const char s[] = "\xEF\xBB\xBFid,label\n\n  a.png , 1 \n/abs/b.png,2\nc,with,comma.png,0";
    put("b.csv", s, sizeof s - 1);
    pcnn_manifest *m = pcnn_manifest_read(tmp("b.csv"));
    CHECK(m && m->n == 3 && m->has_header);
    if (!m) return;
    CHECK(!strcmp(m->rows[0].id, "a.png") && m->rows[0].label == 1 && m->rows[0].line == 3);
    CHECK(!strcmp(m->rows[1].file, "/abs/b.png"));                   /* absolute kept */
    CHECK(!strcmp(m->rows[2].id, "c,with,comma.png") && m->rows[2].line == 5);   /* no final newline */
    pcnn_manifest_free(m);
}

static void test_malformed_rows_keep_line_numbers(void)
{
    const char s[] = "a.png,0\nno_comma\nb.png,\n,1\nc.png,x\nd.png,-2\ne.png,99999999999\nf.png,1\n";
    put("c.csv", s, sizeof s - 1);
    pcnn_manifest *m = pcnn_manifest_read(tmp("c.csv"));
    CHECK(m && m->n == 8);
    if (!m) return;
    CHECK(!m->rows[0].err && !m->rows[7].err && m->rows[7].line == 8);
    for (int i = 1; i <= 6; i++) CHECK(m->rows[i].err && m->rows[i].line == (unsigned long)i + 1);
    CHECK(strstr(m->rows[1].err, "expected 'path,label'"));
    CHECK(strstr(m->rows[2].err, "empty label"));
    CHECK(strstr(m->rows[3].err, "empty path"));
    CHECK(strstr(m->rows[4].err, "not an integer"));
    pcnn_manifest_free(m);
}

static void test_unreadable_manifests(void)
{
    quiet(1);
    CHECK(pcnn_manifest_read(tmp("missing.csv")) == NULL);
    put("nul.csv", "a.png,0\n\0b", 10);
    CHECK(pcnn_manifest_read(tmp("nul.csv")) == NULL);
    quiet(0);
    put("empty.csv", "", 0);
    pcnn_manifest *m = pcnn_manifest_read(tmp("empty.csv"));
    CHECK(m && m->n == 0);
    pcnn_manifest_free(m);
}

/* Writes a gzip'd IDX file: header bytes as given, then n data bytes (i * 7). */
static void put_idx(const char *name, const uint8_t *hdr, size_t hn, size_t n)
{
    gzFile g = gzopen(tmp(name), "wb");
    gzwrite(g, hdr, (unsigned)hn);
    for (size_t i = 0; i < n; i++) {
        uint8_t b = (uint8_t)(i * 7);
        gzwrite(g, &b, 1);
    }
    gzclose(g);
}

static void test_idx_images_and_labels(void)
{
    const uint8_t im[] = {0, 0, 8, 3, 0, 0, 0, 2, 0, 0, 0, 3, 0, 0, 0, 4};
    const uint8_t lb[] = {0, 0, 8, 1, 0, 0, 0, 2};
    put_idx("im.gz", im, sizeof im, 24);
    put_idx("lb.gz", lb, sizeof lb, 2);
    pcnn_idx *x = pcnn_idx_read(tmp("im.gz"), 3), *y = pcnn_idx_read(tmp("lb.gz"), 1);
    CHECK(x && x->dims[0] == 2 && x->dims[1] == 3 && x->dims[2] == 4 && x->size == 24);
    CHECK(x && x->data[23] == (uint8_t)(23 * 7));
    CHECK(y && y->size == 2 && y->data[1] == 7);
    pcnn_idx_free(x);
    pcnn_idx_free(y);
    /* Plain (not gzip'd) IDX reads the same. */
    uint8_t raw[16 + 24];
    memcpy(raw, im, 16);
    for (int i = 0; i < 24; i++) raw[16 + i] = (uint8_t)(i * 7);
    put("im.raw", raw, sizeof raw);
    x = pcnn_idx_read(tmp("im.raw"), 3);
    CHECK(x && x->size == 24 && x->data[5] == 35);
    pcnn_idx_free(x);
}

static void test_idx_damage_refused(void)
{
    const uint8_t im[] = {0, 0, 8, 3, 0, 0, 0, 2, 0, 0, 0, 3, 0, 0, 0, 4};
    const uint8_t wrongtype[] = {0, 0, 9, 3, 0, 0, 0, 2, 0, 0, 0, 3, 0, 0, 0, 4};
    const uint8_t huge[] = {0, 0, 8, 3, 0x7f, 0xff, 0xff, 0xff, 0, 0, 0x10, 0, 0, 0, 0x10, 0};
    const uint8_t zero[] = {0, 0, 8, 3, 0, 0, 0, 0, 0, 0, 0, 3, 0, 0, 0, 4};
    quiet(1);
    put_idx("short.gz", im, sizeof im, 23);
    CHECK(pcnn_idx_read(tmp("short.gz"), 3) == NULL);
    put_idx("long.gz", im, sizeof im, 25);
    CHECK(pcnn_idx_read(tmp("long.gz"), 3) == NULL);
    put_idx("type.gz", wrongtype, sizeof wrongtype, 24);
    CHECK(pcnn_idx_read(tmp("type.gz"), 3) == NULL);
    CHECK(pcnn_idx_read(tmp("short.gz"), 1) == NULL);          /* images file read as labels */
    put_idx("huge.gz", huge, sizeof huge, 100);                  /* 2^31 × 4096 × 4096: refused */
    CHECK(pcnn_idx_read(tmp("huge.gz"), 3) == NULL);
    put_idx("zero.gz", zero, sizeof zero, 0);
    CHECK(pcnn_idx_read(tmp("zero.gz"), 3) == NULL);
    put_idx("hdr.gz", im, 7, 0);
    CHECK(pcnn_idx_read(tmp("hdr.gz"), 3) == NULL);
    CHECK(pcnn_idx_read(tmp("nothing.gz"), 3) == NULL);
    /* A gzip stream cut in the middle. */
    put_idx("cut.gz", im, sizeof im, 24);
    FILE *fp = fopen(tmp("cut.gz"), "rb");
    uint8_t b[4096];
    size_t n = fp ? fread(b, 1, sizeof b, fp) : 0;
    if (fp) fclose(fp);
    put("cut.gz", b, n - 12);
    CHECK(pcnn_idx_read(tmp("cut.gz"), 3) == NULL);
    quiet(0);
}

int main(void)
{
    snprintf(tmpdir, sizeof tmpdir, "%s/pcnn-test-manifest.XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    if (!mkdtemp(tmpdir)) {
        perror(tmpdir);
        return 1;
    }
    RUN(test_crlf_no_header);
    RUN(test_header_bom_blank_lines);
    RUN(test_malformed_rows_keep_line_numbers);
    RUN(test_unreadable_manifests);
    RUN(test_idx_images_and_labels);
    RUN(test_idx_damage_refused);
    char cmd[8300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    if (system(cmd) != 0) printf("# could not remove %s\n", tmpdir);
    return check_summary();
}
