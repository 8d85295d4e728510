/* test_resize.c — antialiased bilinear resize: invariants, the exact 2x weights, and
 * agreement with torchvision resize(antialias=True) + rounding on committed fixtures
 * (tests/reference/make_resize_fixture.py) and, when present, real CPEN 455 images. */
#include "check.h"
#include "ppm.h"
#include "io/image.h"
#include "io/resize.h"
#include "util.h"

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static char fixdir[4096];

static void test_identity_copies(void)
{
    uint8_t src[5 * 7 * 3], dst[5 * 7 * 3];
    for (size_t i = 0; i < sizeof src; i++) src[i] = (uint8_t)(i * 37);
    pcnn_resize_u8(dst, 5, 7, src, 5, 7, 3);
    CHECK(!memcmp(src, dst, sizeof src));
}

static void test_constant_stays_constant(void)
{
    /* Weights are normalised, so a flat image stays flat at any scale, edges included. */
    static const int sizes[][4] = {{64, 64, 32, 32}, {28, 28, 32, 32}, {37, 100, 32, 32},
                                   {1, 1, 9, 5},     {70, 20, 3, 1},   {5, 5, 64, 64}};
    for (size_t t = 0; t < sizeof sizes / sizeof sizes[0]; t++) {
        int ih = sizes[t][0], iw = sizes[t][1], oh = sizes[t][2], ow = sizes[t][3];
        uint8_t *s = malloc((size_t)ih * iw * 2), *d = malloc((size_t)oh * ow * 2);
        for (int i = 0; i < ih * iw; i++) s[2 * i] = 200, s[2 * i + 1] = 7;
        pcnn_resize_u8(d, oh, ow, s, ih, iw, 2);
        int bad = 0;
        for (int i = 0; i < oh * ow; i++) bad += d[2 * i] != 200 || d[2 * i + 1] != 7;
        CHECK(bad == 0);
        free(s);
        free(d);
    }
}

static void test_halving_weights(void)
{
    /* Shrinking by 2: support 2, weights tri((j − c + 0.5)/2) = 1/4, 3/4, 3/4, 1/4 → 1/8, 3/8,
     * 3/8, 1/8; at the left edge only 3/4, 3/4, 1/4 remain → 3/7, 3/7, 1/7. One row, 8 → 4. */
    const uint8_t s[8] = {0, 80, 160, 240, 16, 32, 64, 128};
    uint8_t d[4];
    pcnn_resize_u8(d, 1, 4, s, 1, 8, 1);
    CHECK(d[0] == (uint8_t)(3.0 / 7 * 0 + 3.0 / 7 * 80 + 1.0 / 7 * 160 + 0.5));          /* 57 */
    CHECK(d[1] == (uint8_t)((80 + 3 * 160 + 3 * 240 + 16) / 8.0 + 0.5));                  /* 162 */
    CHECK(d[2] == (uint8_t)((240 + 3 * 16 + 3 * 32 + 64) / 8.0 + 0.5));                   /* 56 */
    CHECK(d[3] == (uint8_t)((1.0 * 32 + 3 * 64 + 3 * 128) / 7.0 + 0.5));                  /* 87 */
    /* A tie rounds half up: output 2 sees the 4 with weight 1/8, exactly 0.5 → 1. */
    const uint8_t t[8] = {0, 0, 0, 0, 0, 0, 4, 0};
    pcnn_resize_u8(d, 1, 4, t, 1, 8, 1);
    CHECK(d[2] == 1 && d[1] == 0);
}

/* Compares our resize of src to a torchvision PPM; returns the max |diff|, adds counts. */
static int compare_one(const char *src, const char *ppm, long *same, long *total)
{
    pcnn_image im;
    char err[PCNN_IMAGE_ERRLEN];
    int w, h;
    uint8_t *want = read_ppm(ppm, &w, &h);
    if (!want || pcnn_image_load(src, &im, err, sizeof err)) {
        printf("#   cannot read %s or %s\n", src, ppm);
        free(want);
        return 999;
    }
    uint8_t *got = malloc((size_t)w * h * 3);
    pcnn_resize_u8(got, h, w, im.rgb, im.h, im.w, 3);
    int worst = 0;
    for (size_t i = 0; i < (size_t)w * h * 3; i++) {
        int d = abs((int)got[i] - (int)want[i]);
        if (d > worst) worst = d;
        *same += d == 0;
        (*total)++;
    }
    free(got);
    free(want);
    pcnn_image_free(&im);
    return worst;
}

static void test_matches_torchvision_synthetic(void)
{
    static const char *names[] = {"noise64.png", "smooth64.jpg", "gray64.jpg", "odd100x37.png",
                                  "up28.png", "mixed20x70.png"};
    int worst = 0;
    long same = 0, total = 0;
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        char src[8192], ppm[8192];
        snprintf(src, sizeof src, "%s/resize/%s", fixdir, names[i]);
        snprintf(ppm, sizeof ppm, "%s/resize/expected/%.*s.ppm", fixdir,
                 (int)(strrchr(names[i], '.') - names[i]), names[i]);
        int d = compare_one(src, ppm, &same, &total);
        if (d > worst) worst = d;
    }
    /* ±1: torchvision computes in float32 and rounds half to even; we compute in double. */
    CHECK(worst <= 1);
    printf("# synthetic fixtures vs torchvision: max |diff| %d, %.2f%% of %ld values equal\n", worst,
           100.0 * same / (total ? total : 1), total);
}

static void test_matches_torchvision_cpen455(void)
{
    const char *root = getenv("CPEN455");
    char list[8192], line[512];
    snprintf(list, sizeof list, "%s/resize/expected/cpen455.csv", fixdir);
    FILE *fp = fopen(list, "r");
    CHECK(fp != NULL);
    if (!fp) return;
    int worst = 0, n = 0;
    long same = 0, total = 0;
    while (fgets(line, sizeof line, fp)) {
        char *comma = strchr(line, ',');
        if (!comma) continue;
        *comma = 0;
        comma[strcspn(comma + 1, "\r\n") + 1] = 0;
        char src[8192], ppm[8192];
        snprintf(src, sizeof src, "%s/%s", root, line);
        snprintf(ppm, sizeof ppm, "%s/resize/expected/cpen455/%s", fixdir, comma + 1);
        int d = compare_one(src, ppm, &same, &total);
        if (d > worst) worst = d;
        n++;
    }
    fclose(fp);
    CHECK(n == 8);
    CHECK(worst <= 1);
    printf("# %d CPEN 455 images vs torchvision: max |diff| %d, %.2f%% of %ld values equal\n", n, worst,
           100.0 * same / (total ? total : 1), total);
}

int main(void)
{
    const char *r = getenv("PCNN_ROOT");
    snprintf(fixdir, sizeof fixdir, "%s/tests/fixtures/prep", r ? r : ".");
    RUN(test_identity_copies);
    RUN(test_constant_stays_constant);
    RUN(test_halving_weights);
    RUN(test_matches_torchvision_synthetic);
    struct stat sb;
    char def[4096];
    snprintf(def, sizeof def, "%s/../shared/cpen455", r ? r : ".");
    if (!getenv("CPEN455")) setenv("CPEN455", def, 1);
    if (stat(getenv("CPEN455"), &sb) == 0 && S_ISDIR(sb.st_mode))
        RUN(test_matches_torchvision_cpen455);
    else
        SKIP(test_matches_torchvision_cpen455, "no CPEN 455 images at $CPEN455 (default ../shared/cpen455)");
    return check_summary();
}
