/* pcnn-craft — a test helper (built into build/tests/bin, never installed): hostile files
 * for tests/bats/faults.bats, made in C so the tests need no Python.
 *
 *   pcnn-craft data-header FILE H W C COUNT   rewrite a data file's H, W, C and record count
 *                                             and fix its header CRC (K is kept)
 *   pcnn-craft poison FILE nan|inf|-inf       set element 0 of a model file's first tensor
 *                                             and fix the file's CRC
 *   pcnn-craft png-bomb FILE                  a PNG claiming 100000x100000 RGB pixels whose
 *                                             IDAT holds 4 MiB of zero rows, compressed
 *   pcnn-craft pth FILE                       a small state_dict as pcnn-export writes it
 *                                             (w (2, 3), b (3,), s ()): a fuzzing seed
 * Byte layouts: docs/FORMATS.md. Exit 0, 1 on a file error, 2 on a usage error. */
#include "io/pth_write.h"
#include "util.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

static void usage(FILE *fp)
{
    fprintf(fp,
        "usage: pcnn-craft data-header FILE H W C COUNT\n"
        "       pcnn-craft poison FILE nan|inf|-inf\n"
        "       pcnn-craft png-bomb FILE\n"
        "       pcnn-craft pth FILE\n");
}

static uint8_t *slurp(const char *path, size_t *n)
{
    FILE *fp = fopen(path, "rb");
    if (!fp) pcnn_die("%s: cannot open", path);
    size_t cap = 1 << 16;
    uint8_t *b = pcnn_xmalloc(cap);
    *n = 0;
    for (size_t got; (got = fread(b + *n, 1, cap - *n, fp)) > 0;)
        if ((*n += got) == cap) b = pcnn_xrealloc(b, cap *= 2);
    fclose(fp);
    return b;
}

static void spill(const char *path, const uint8_t *b, size_t n)
{
    FILE *fp = fopen(path, "wb");
    if (!fp || fwrite(b, 1, n, fp) != n || fclose(fp)) pcnn_die("%s: cannot write", path);
}

static size_t skip_str(const uint8_t *b, size_t n, size_t off)
{
    if (off + 2 > n) pcnn_die("not the file expected (a string past its end)");
    return off + 2 + pcnn_get_u16(b + off);
}

static uint32_t num(const char *s)
{
    uint64_t v;
    if (pcnn_parse_u64(s, &v) || v > UINT32_MAX) pcnn_usage_error("bad number '%s'", s);
    return (uint32_t)v;
}

/* data file: magic 8, version 4, H W C K at 12, u64 count at 28, K names, header CRC */
static void data_header(const char *path, uint32_t H, uint32_t W, uint32_t C, uint64_t count)
{
    size_t n;
    uint8_t *b = slurp(path, &n);
    if (n < 40 || memcmp(b, "PCNNDATA", 8)) pcnn_die("%s: not a data file", path);
    pcnn_put_u32(b + 12, H);
    pcnn_put_u32(b + 16, W);
    pcnn_put_u32(b + 20, C);
    pcnn_put_u64(b + 28, count);
    size_t off = 36;
    for (uint32_t k = 0, K = pcnn_get_u32(b + 24); k < K; k++) off = skip_str(b, n, off);
    if (off + 4 > n) pcnn_die("%s: damaged", path);
    pcnn_put_u32(b + off, (uint32_t)crc32(0, b, (uInt)off));
    spill(path, b, n);
    free(b);
}

/* model file: magic, version, 7 sizes, K names, 4 x 8 counters, meta, tensors, CRC */
static void poison(const char *path, float v)
{
    size_t n;
    uint8_t *b = slurp(path, &n);
    if (n < 44 || memcmp(b, "PCNNMODL", 8)) pcnn_die("%s: not a model file", path);
    size_t off = 40;
    for (uint32_t k = 0, K = pcnn_get_u32(b + 24); k < K; k++) off = skip_str(b, n, off);
    off += 32;
    if (off + 8 > n) pcnn_die("%s: damaged", path);
    uint32_t nmeta = pcnn_get_u32(b + off);
    off += 4;
    for (uint32_t i = 0; i < 2 * nmeta; i++) off = skip_str(b, n, off);
    off = skip_str(b, n, off + 4);   /* the tensor count, the first tensor's name */
    if (off + 4 > n) pcnn_die("%s: damaged", path);
    off += 4 + 4 * (size_t)pcnn_get_u32(b + off);
    if (off + 4 > n - 4) pcnn_die("%s: damaged", path);
    uint32_t bits;
    memcpy(&bits, &v, 4);
    pcnn_put_u32(b + off, bits);
    pcnn_put_u32(b + n - 4, (uint32_t)crc32(0, b, (uInt)(n - 4)));
    spill(path, b, n);
    free(b);
}

static void chunk(FILE *fp, const char *type, const uint8_t *d, size_t n)
{
    uint8_t be[4] = {(uint8_t)(n >> 24), (uint8_t)(n >> 16), (uint8_t)(n >> 8), (uint8_t)n};
    fwrite(be, 1, 4, fp);
    fwrite(type, 1, 4, fp);
    if (n) fwrite(d, 1, n, fp);
    uint32_t c = (uint32_t)crc32(crc32(0, (const uint8_t *)type, 4), d, (uInt)n);
    uint8_t cb[4] = {(uint8_t)(c >> 24), (uint8_t)(c >> 16), (uint8_t)(c >> 8), (uint8_t)c};
    fwrite(cb, 1, 4, fp);
}

static void png_bomb(const char *path)
{
    size_t rawn = (size_t)4 << 20;
    uint8_t *raw = pcnn_xcalloc(rawn, 1);
    uLongf zn = compressBound((uLong)rawn);
    uint8_t *z = pcnn_xmalloc(zn);
    if (compress2(z, &zn, raw, (uLong)rawn, 9) != Z_OK) pcnn_die("zlib failed");
    FILE *fp = fopen(path, "wb");
    if (!fp) pcnn_die("%s: cannot write", path);
    fwrite("\x89PNG\r\n\x1a\n", 1, 8, fp);
    uint8_t ihdr[13] = {0, 1, 0x86, 0xa0, 0, 1, 0x86, 0xa0, 8, 2, 0, 0, 0};   /* 100000 x 100000, 8-bit RGB */
    chunk(fp, "IHDR", ihdr, 13);
    chunk(fp, "IDAT", z, zn);
    chunk(fp, "IEND", NULL, 0);
    if (fclose(fp)) pcnn_die("%s: cannot write", path);
    free(raw);
    free(z);
}

int main(int argc, char **argv)
{
    pcnn_init(argv[0]);
    if (argc == 2 && !strcmp(argv[1], "-h")) {
        usage(stdout);
        return pcnn_close_stdout() ? 1 : 0;
    }
    if (argc == 7 && !strcmp(argv[1], "data-header")) {
        uint64_t count;
        if (pcnn_parse_u64(argv[6], &count)) pcnn_usage_error("bad count '%s'", argv[6]);
        data_header(argv[2], num(argv[3]), num(argv[4]), num(argv[5]), count);
    } else if (argc == 4 && !strcmp(argv[1], "poison")) {
        float v = !strcmp(argv[3], "nan") ? NAN : !strcmp(argv[3], "inf") ? INFINITY
                : !strcmp(argv[3], "-inf") ? -INFINITY : 0;
        if (v == 0) pcnn_usage_error("poison: nan, inf or -inf, not '%s'", argv[3]);
        poison(argv[2], v);
    } else if (argc == 3 && !strcmp(argv[1], "png-bomb")) {
        png_bomb(argv[2]);
    } else if (argc == 3 && !strcmp(argv[1], "pth")) {
        static const float w[6] = {1, -2, 0.5f, 3, 0, -1}, b[3] = {0.25f, 0, 1}, sc[1] = {7};
        pcnn_pth_entry t[3] = {{"w", 2, {2, 3}, w}, {"b", 1, {3}, b}, {"s", 0, {0}, sc}};
        FILE *fp = fopen(argv[2], "wb");
        if (!fp || pcnn_pth_write(fp, t, 3) || fclose(fp)) pcnn_die("%s: cannot write", argv[2]);
    } else {
        usage(stderr);
        return 2;
    }
    return 0;
}
