/* pngsize.c — the byte count of an image as a PNG, written to nowhere; see pngsize.h. */
#include "io/pngsize.h"

#include "io/image.h"
#include "util.h"

#include <png.h>
#include <setjmp.h>
#include <stdio.h>

typedef struct png_count {
    uint64_t bytes;
    char msg[200];
} png_count;

static void count_fn(png_structp png, png_bytep data, size_t n)
{
    (void)data;
    ((png_count *)png_get_io_ptr(png))->bytes += n;
}

static void flush_fn(png_structp png)
{
    (void)png;
}

static void error_fn(png_structp png, png_const_charp msg)
{
    png_count *s = png_get_error_ptr(png);
    snprintf(s->msg, sizeof s->msg, "%s", msg);
    png_longjmp(png, 1);
}

static void warn_fn(png_structp png, png_const_charp msg)
{
    (void)png, (void)msg;
}

int pcnn_png_bits(const uint8_t *px, int H, int W, int C, uint64_t *bits)
{
    if (H < 1 || W < 1 || (unsigned)H > PCNN_IMAGE_MAX_SIDE || (unsigned)W > PCNN_IMAGE_MAX_SIDE ||
        (C != 1 && C != 3)) {
        pcnn_warn("cannot measure a PNG of %dx%dx%d pixels (C must be 1 or 3)", H, W, C);
        return -1;
    }
    /* volatile: the counter is read after a longjmp out of libpng */
    png_count s = {0, {0}};
    png_count *volatile sp = &s;
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, sp, error_fn, warn_fn);
    if (!png) {
        pcnn_warn("out of memory in libpng");
        return -1;
    }
    png_infop info = png_create_info_struct(png);
    if (!info || setjmp(png_jmpbuf(png))) {
        pcnn_warn("PNG size: libpng: %s", sp->msg[0] ? sp->msg : "out of memory");
        png_destroy_write_struct(&png, info ? &info : NULL);
        return -1;
    }
    png_set_write_fn(png, sp, count_fn, flush_fn);
    png_set_compression_level(png, 9);
    png_set_IHDR(png, info, (png_uint_32)W, (png_uint_32)H, 8,
                 C == 3 ? PNG_COLOR_TYPE_RGB : PNG_COLOR_TYPE_GRAY, PNG_INTERLACE_NONE,
                 PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    png_write_info(png, info);
    for (int y = 0; y < H; y++) png_write_row(png, (png_const_bytep)(px + (size_t)y * W * C));
    png_write_end(png, info);
    png_destroy_write_struct(&png, &info);
    *bits = 8 * sp->bytes;
    return 0;
}
