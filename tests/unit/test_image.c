/* test_image.c — PNG/JPEG decoding of every variant against its expected pixels, damaged
 * files refused with a reason, and the RGB PNG writer (round trip, stream, full disk). */
#include "check.h"
#include "ppm.h"
#include "io/image.h"
#include "util.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char fixdir[4096], tmpdir[4096];

/* Decodes img/<name>.<ext> and compares with img/<name>.ppm; returns max |diff| (999: failed). */
static int decode_vs_ppm(const char *name, const char *ext)
{
    char src[8192], ppm[8192], err[PCNN_IMAGE_ERRLEN];
    snprintf(src, sizeof src, "%s/img/%s.%s", fixdir, name, ext);
    snprintf(ppm, sizeof ppm, "%s/img/%s.ppm", fixdir, name);
    int w, h, worst = 0;
    uint8_t *want = read_ppm(ppm, &w, &h);
    pcnn_image im;
    if (!want || pcnn_image_load(src, &im, err, sizeof err)) {
        printf("#   %s: %s\n", src, want ? err : "no expected .ppm");
        free(want);
        return 999;
    }
    if (im.w != w || im.h != h) worst = 999;
    else
        for (size_t i = 0; i < (size_t)w * h * 3; i++) {
            int d = abs((int)im.rgb[i] - (int)want[i]);
            if (d > worst) worst = d;
        }
    if (worst) printf("#   %s: max |diff| %d\n", name, worst);
    pcnn_image_free(&im);
    free(want);
    return worst;
}

static void test_png_variants(void)
{
    static const char *names[] = {"rgb8",    "rgba8",   "rgb16",   "rgba16", "gray1", "gray2",
                                  "gray4",   "gray8",   "gray16",  "graya8", "graya16", "pal8",
                                  "pal4",    "rgb8_interlaced", "gray8_interlaced", "pal4_interlaced"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) CHECK(decode_vs_ppm(names[i], "png") == 0);
}

static void test_jpeg_variants(void)
{
    /* Same libjpeg-turbo and settings as PIL: equal bytes. */
    CHECK(decode_vs_ppm("colour", "jpg") == 0);
    CHECK(decode_vs_ppm("colour444", "jpg") == 0);
    CHECK(decode_vs_ppm("progressive", "jpg") == 0);
    CHECK(decode_vs_ppm("gray", "jpg") == 0);
    /* CMYK: our (255−C)(255−K)/255 rounds where PIL's MULDIV255 may truncate: within 1. */
    CHECK(decode_vs_ppm("cmyk", "jpg") <= 1);
}

/* Loading bad/<name> fails with a reason containing `want`. */
static int fails_with(const char *name, const char *want)
{
    char src[8192], err[PCNN_IMAGE_ERRLEN] = "";
    snprintf(src, sizeof src, "%s/bad/%s", fixdir, name);
    pcnn_image im = {1, 1, NULL};
    int rc = pcnn_image_load(src, &im, err, sizeof err);
    int ok = rc == -1 && im.rgb == NULL && im.w == 0 && strstr(err, want) != NULL;
    if (!ok) printf("#   %s: rc %d, err '%s', wanted '%s'\n", name, rc, err, want);
    return ok;
}

static void test_damaged_files_refused(void)
{
    CHECK(fails_with("truncated.png", "damaged PNG"));
    CHECK(fails_with("truncated.jpg", "damaged JPEG"));
    CHECK(fails_with("garbage.jpg", "not a PNG or JPEG file"));
    CHECK(fails_with("empty.png", "empty file"));
    CHECK(fails_with("crc.png", "CRC"));
    CHECK(fails_with("bomb.png", "20000x20000 pixels refused"));
    CHECK(fails_with("missing.png", "cannot open: No such file"));
    CHECK(fails_with(".", "not a regular file"));
}

static void test_format_sniffed_not_named(void)
{
    char src[8192], err[PCNN_IMAGE_ERRLEN];
    snprintf(src, sizeof src, "%s/bad/jpeg_named.png", fixdir);
    pcnn_image im;
    CHECK(pcnn_image_load(src, &im, err, sizeof err) == 0 && im.w == 16 && im.h == 12);
    pcnn_image_free(&im);
    pcnn_image_free(NULL);
}

static void test_every_truncation_is_refused(void)
{
    /* Every prefix of a PNG and a JPEG either fails cleanly or (PNG cut after the last
     * IDAT: only IEND missing) decodes to the full image. Never a crash, never gray fill. */
    const char *files[] = {"img/rgb8_interlaced.png", "img/progressive.jpg"};
    for (int f = 0; f < 2; f++) {
        char src[8192], err[PCNN_IMAGE_ERRLEN];
        snprintf(src, sizeof src, "%s/%s", fixdir, files[f]);
        FILE *fp = fopen(src, "rb");
        CHECK(fp != NULL);
        if (!fp) continue;
        uint8_t buf[65536];
        size_t n = fread(buf, 1, sizeof buf, fp);
        fclose(fp);
        pcnn_image full;
        CHECK(pcnn_image_decode(buf, n, &full, err, sizeof err) == 0);
        int wrong = 0;
        for (size_t k = 0; k < n; k++) {
            pcnn_image im;
            if (pcnn_image_decode(buf, k, &im, err, sizeof err) == 0) {
                wrong += memcmp(im.rgb, full.rgb, (size_t)im.w * im.h * 3) != 0 || f == 1;
                pcnn_image_free(&im);
            }
        }
        CHECK(wrong == 0);
        pcnn_image_free(&full);
    }
}

static void test_png_write_roundtrip(void)
{
    int w = 13, h = 7;
    uint8_t *rgb = malloc((size_t)w * h * 3);
    for (int i = 0; i < w * h * 3; i++) rgb[i] = (uint8_t)(i * 31 + 5);
    char path[8192], err[PCNN_IMAGE_ERRLEN];
    snprintf(path, sizeof path, "%s/out.png", tmpdir);
    CHECK(pcnn_png_write_rgb(path, NULL, w, h, rgb) == 0);
    pcnn_image im;
    CHECK(pcnn_image_load(path, &im, err, sizeof err) == 0);
    CHECK(im.w == w && im.h == h && im.rgb && !memcmp(im.rgb, rgb, (size_t)w * h * 3));
    pcnn_image_free(&im);
    /* Stream form: the caller's FILE stays open. */
    snprintf(path, sizeof path, "%s/stream.png", tmpdir);
    FILE *fp = fopen(path, "wb");
    CHECK(fp && pcnn_png_write_rgb(NULL, fp, w, h, rgb) == 0);
    CHECK(fp && fclose(fp) == 0);
    CHECK(pcnn_image_load(path, &im, err, sizeof err) == 0 && !memcmp(im.rgb, rgb, (size_t)w * h * 3));
    pcnn_image_free(&im);
    free(rgb);
}

static void test_png_write_errors(void)
{
    uint8_t px[3] = {1, 2, 3};
    fflush(stderr);
    int saved = dup(2);
    FILE *devnull = freopen("/dev/null", "w", stderr);
    (void)devnull;
    FILE *full = fopen("/dev/full", "wb");
    CHECK(full && pcnn_png_write_rgb(NULL, full, 1, 1, px) == -1);
    if (full) fclose(full);
    char path[8192];
    snprintf(path, sizeof path, "%s/no/such/dir/x.png", tmpdir);
    CHECK(pcnn_png_write_rgb(path, NULL, 1, 1, px) == -1);
    CHECK(pcnn_png_write_rgb(path, NULL, 0, 1, px) == -1);
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
}

int main(void)
{
    const char *r = getenv("PCNN_ROOT");
    snprintf(fixdir, sizeof fixdir, "%s/tests/fixtures/prep", r ? r : ".");
    snprintf(tmpdir, sizeof tmpdir, "%s/pcnn-test-image.XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    if (!mkdtemp(tmpdir)) {
        perror(tmpdir);
        return 1;
    }
    RUN(test_png_variants);
    RUN(test_jpeg_variants);
    RUN(test_damaged_files_refused);
    RUN(test_format_sniffed_not_named);
    RUN(test_every_truncation_is_refused);
    RUN(test_png_write_roundtrip);
    RUN(test_png_write_errors);
    char cmd[8300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    if (system(cmd) != 0) printf("# could not remove %s\n", tmpdir);
    return check_summary();
}
