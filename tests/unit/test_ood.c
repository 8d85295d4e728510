/* test_ood.c — the out-of-distribution scores (eval/ood.h): log p(x) over the classes, the
 * input-complexity score, the calibrated threshold applied exactly; L(x) of known images
 * (io/pngsize.h). */
#include "check.h"
#include "eval/ood.h"
#include "io/pngsize.h"
#include "util.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* log Σ_c p(x | c) p(c) by hand: two classes at −6000 and −6001 nats, uniform prior:
 * log((e^−6000 + e^−6001)/2) = −6000 + log(1 + e^−1) − log 2. */
static void test_log_px(void)
{
    double lp[2] = {-6000, -6001};
    CHECK_NEAR(pcnn_ood_log_px(lp, NULL, 2), -6000 + log1p(exp(-1.0)) - log(2.0), 1e-12);
    /* a prior that excludes class 1: log p(x) = log p(x | 0) */
    double prior[2] = {0, -INFINITY};
    CHECK(pcnn_ood_log_px(lp, prior, 2) == -6000);
    /* S(x) = −log2 p(x) − L(x): 6000 nats = 6000 / ln 2 bits */
    CHECK_NEAR(pcnn_ood_complexity_score(-6000, 5000), 6000 / M_LN2 - 5000, 1e-9);
}

/* The threshold is the ⌈q·n⌉-th smallest score; only scores strictly above it are flagged. */
static void test_threshold_exact(void)
{
    /* 10 scores; q = 0.8: rank 8, the 8th smallest is 70 */
    double s[10] = {30, 10, 100, 70, 20, 90, 40, 80, 60, 50};
    double t = pcnn_ood_threshold(s, 10, 0.8);
    CHECK(t == 80);
    for (int i = 1; i < 10; i++) CHECK(s[i - 1] <= s[i]);   /* sorted in place */
    CHECK(!pcnn_ood_rejects(80, t));               /* at the threshold: kept */
    CHECK(pcnn_ood_rejects(nextafter(80, 1e9), t)); /* one ulp above: flagged */
    CHECK(!pcnn_ood_rejects(-1e300, t));
    int flagged = 0;
    for (int i = 0; i < 10; i++) flagged += pcnn_ood_rejects(s[i], t);
    CHECK(flagged == 2);                           /* n − ⌈q·n⌉ */
    /* q·n with rounding: 0.99 · 300 = 297.00000000000006 in doubles must give rank 297 */
    double *u = malloc(300 * sizeof *u);
    for (int i = 0; i < 300; i++) u[i] = 299 - i;
    CHECK(pcnn_ood_threshold(u, 300, 0.99) == 296);   /* the 297th smallest of 0..299 */
    CHECK(pcnn_ood_threshold(u, 300, 1.0) == 299);    /* q = 1: the largest, nothing flagged */
    CHECK(pcnn_ood_threshold(u, 300, 1e-9) == 0);     /* the smallest */
    free(u);
    double one = 5;
    CHECK(pcnn_ood_threshold(&one, 1, 0.5) == 5);
}

/* A 1×1 black RGB image, worked out byte by byte: PNG signature 8, IHDR 12 + 13, IEND 12,
 * IDAT 12 + its zlib stream. The row is filter byte 0 and 0 0 0. libpng filters rows, so it
 * asks zlib for the Z_FILTERED strategy, which codes matches shorter than 6 bytes as
 * literals: one fixed-Huffman block of 3 header bits, four literals 0 (8 bits each) and the
 * end of block (7 bits) = 42 bits = 6 bytes, plus the 2-byte zlib header and the 4-byte
 * Adler-32: 12 bytes. Total 8 + 25 + 12 + 24 = 69 bytes = 552 bits. */
static void test_png_bits_known(void)
{
    uint8_t px[3] = {0, 0, 0};
    uint64_t bits = 0;
    CHECK(pcnn_png_bits(px, 1, 1, 3, &bits) == 0);
    CHECK(bits == 552);
    /* a gray image is smaller than its RGB copy; a constant one far smaller than noise */
    enum { H = 32, W = 32 };
    uint8_t *flat = calloc(H * W * 3, 1), *noise = malloc(H * W * 3);
    uint64_t s = 12345;
    for (size_t i = 0; i < H * W * 3; i++) {   /* splitmix64 bytes */
        uint64_t z = (s += 0x9E3779B97F4A7C15ull);
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
        noise[i] = (uint8_t)((z ^ (z >> 31)) >> 56);
    }
    uint64_t bflat, bnoise, bgray;
    CHECK(pcnn_png_bits(flat, H, W, 3, &bflat) == 0);
    CHECK(pcnn_png_bits(noise, H, W, 3, &bnoise) == 0);
    CHECK(pcnn_png_bits(flat, H, W, 1, &bgray) == 0);
    /* random bytes do not compress: at least the raw 8·H·W·3 bits */
    CHECK(bnoise >= 8ull * H * W * 3);
    CHECK(bflat < 8ull * 200);
    CHECK(bgray <= bflat);
    /* the same image, the same length */
    uint64_t again;
    CHECK(pcnn_png_bits(noise, H, W, 3, &again) == 0 && again == bnoise);
    /* bad sizes are refused */
    CHECK(pcnn_png_bits(px, 0, 1, 3, &bits) == -1);
    CHECK(pcnn_png_bits(px, 1, 1, 4, &bits) == -1);
    free(flat);
    free(noise);
}

int main(void)
{
    pcnn_init("test_ood");
    RUN(test_log_px);
    RUN(test_threshold_exact);
    RUN(test_png_bits_known);
    return check_summary();
}
