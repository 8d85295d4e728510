/* image.c — PNG/JPEG decoding to RGB and RGB PNG writing; see image.h. */
#include "io/image.h"

#include "util.h"

#include <errno.h>
#include <jpeglib.h>
#include <png.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static void seterr(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void seterr(char *err, size_t errlen, const char *fmt, ...)
{
    if (!err || !errlen) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

void pcnn_image_free(pcnn_image *im)
{
    if (!im) return;
    free(im->rgb);
    im->rgb = NULL;
    im->w = im->h = 0;
}

/* Side and pixel-count limits, checked from the header before allocating. */
static int size_ok(uint64_t w, uint64_t h, const char *kind, char *err, size_t errlen)
{
    if (w < 1 || h < 1 || w > PCNN_IMAGE_MAX_SIDE || h > PCNN_IMAGE_MAX_SIDE ||
        w * h > PCNN_IMAGE_MAX_PIXELS) {
        seterr(err, errlen, "%s of %llux%llu pixels refused (limits: sides 1..%u, %u pixels)",
               kind, (unsigned long long)w, (unsigned long long)h, PCNN_IMAGE_MAX_SIDE,
               PCNN_IMAGE_MAX_PIXELS);
        return 0;
    }
    return 1;
}

/* ---- PNG ---- */

typedef struct png_src {
    const uint8_t *buf;
    size_t n, pos;
    char msg[200];
    uint8_t *rgb;           /* owned until handed to the image */
    png_bytep *rows;
} png_src;

static void png_err_fn(png_structp png, png_const_charp msg)
{
    png_src *s = png_get_error_ptr(png);
    snprintf(s->msg, sizeof s->msg, "%s", msg);
    png_longjmp(png, 1);
}

static void png_warn_fn(png_structp png, png_const_charp msg)
{
    (void)png;
    (void)msg;   /* warnings (bad iCCP profile, ...) do not change pixels we use */
}

static void png_read_fn(png_structp png, png_bytep out, png_size_t len)
{
    png_src *s = png_get_io_ptr(png);
    if (len > s->n - s->pos) {
        snprintf(s->msg, sizeof s->msg, "file ends early");
        png_longjmp(png, 1);
    }
    memcpy(out, s->buf + s->pos, len);
    s->pos += len;
}

static int decode_png(const uint8_t *buf, size_t n, pcnn_image *im, char *err, size_t errlen)
{
    png_src s = {.buf = buf, .n = n};
    png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &s, png_err_fn, png_warn_fn);
    if (!png) {
        seterr(err, errlen, "out of memory in libpng");
        return -1;
    }
    png_infop info = png_create_info_struct(png);
    /* s lives outside the jump: its pointers stay valid after a longjmp. */
    if (!info || setjmp(png_jmpbuf(png))) {
        seterr(err, errlen, "damaged PNG: %s", s.msg[0] ? s.msg : "libpng error");
        png_destroy_read_struct(&png, info ? &info : NULL, NULL);
        free(s.rgb);
        free(s.rows);
        return -1;
    }
    png_set_read_fn(png, &s, png_read_fn);
    png_read_info(png, info);
    png_uint_32 w = png_get_image_width(png, info), h = png_get_image_height(png, info);
    if (!size_ok(w, h, "PNG", err, errlen)) {
        png_destroy_read_struct(&png, &info, NULL);
        return -1;
    }
    int depth = png_get_bit_depth(png, info), ct = png_get_color_type(png, info);
    if (depth == 16) png_set_strip_16(png);                    /* keep the high byte */
    if (ct == PNG_COLOR_TYPE_PALETTE) png_set_palette_to_rgb(png);
    if (ct == PNG_COLOR_TYPE_GRAY && depth < 8) png_set_expand_gray_1_2_4_to_8(png);
    /* Alpha, and the alpha that palette expansion makes of a tRNS chunk, is dropped. */
    if ((ct & PNG_COLOR_MASK_ALPHA) || png_get_valid(png, info, PNG_INFO_tRNS)) png_set_strip_alpha(png);
    if (!(ct & PNG_COLOR_MASK_COLOR)) png_set_gray_to_rgb(png);
    png_set_interlace_handling(png);
    png_read_update_info(png, info);
    size_t rowbytes = png_get_rowbytes(png, info);
    if (rowbytes != (size_t)w * 3) {
        snprintf(s.msg, sizeof s.msg, "unexpected row size %zu after conversion", rowbytes);
        png_longjmp(png, 1);
    }
    s.rgb = malloc((size_t)w * h * 3);
    s.rows = malloc(sizeof *s.rows * h);
    if (!s.rgb || !s.rows) {
        snprintf(s.msg, sizeof s.msg, "out of memory for %ux%u pixels", (unsigned)w, (unsigned)h);
        png_longjmp(png, 1);
    }
    for (png_uint_32 y = 0; y < h; y++) s.rows[y] = s.rgb + (size_t)y * w * 3;
    png_read_image(png, s.rows);
    png_destroy_read_struct(&png, &info, NULL);
    free(s.rows);
    im->w = (int)w;
    im->h = (int)h;
    im->rgb = s.rgb;
    return 0;
}

/* ---- JPEG ---- */

typedef struct jpg_err {
    struct jpeg_error_mgr pub;
    jmp_buf jb;
    char msg[JMSG_LENGTH_MAX];
} jpg_err;

static void jpg_error_exit(j_common_ptr cinfo)
{
    jpg_err *e = (jpg_err *)cinfo->err;
    cinfo->err->format_message(cinfo, e->msg);
    longjmp(e->jb, 1);
}

/* Warnings (level −1) mean corrupt or truncated data: treated as errors. Trace
 * messages (level ≥ 0) are ignored. */
static void jpg_emit(j_common_ptr cinfo, int level)
{
    if (level < 0) jpg_error_exit(cinfo);
}

typedef struct jpg_state {
    uint8_t *rgb, *row;
} jpg_state;

static int decode_jpeg(const uint8_t *buf, size_t n, pcnn_image *im, char *err, size_t errlen)
{
    struct jpeg_decompress_struct cinfo;
    jpg_err e;
    jpg_state st = {0};
    cinfo.err = jpeg_std_error(&e.pub);
    e.pub.error_exit = jpg_error_exit;
    e.pub.emit_message = jpg_emit;
    e.msg[0] = 0;
    jpeg_create_decompress(&cinfo);
    /* st is not modified between setjmp and longjmp in a register-cached way:
     * it is only written through its address. */
    jpg_state *volatile stp = &st;
    if (setjmp(e.jb)) {
        seterr(err, errlen, "damaged JPEG: %s", e.msg);
        jpeg_destroy_decompress(&cinfo);
        free(stp->rgb);
        free(stp->row);
        return -1;
    }
    jpeg_mem_src(&cinfo, buf, (unsigned long)n);
    jpeg_read_header(&cinfo, TRUE);
    if (!size_ok(cinfo.image_width, cinfo.image_height, "JPEG", err, errlen)) {
        jpeg_destroy_decompress(&cinfo);
        return -1;
    }
    int cmyk = cinfo.jpeg_color_space == JCS_CMYK || cinfo.jpeg_color_space == JCS_YCCK;
    int inverted = cmyk && cinfo.saw_Adobe_marker;
    cinfo.out_color_space = cmyk ? JCS_CMYK : JCS_RGB;
    jpeg_start_decompress(&cinfo);
    size_t w = cinfo.output_width, h = cinfo.output_height;
    int nc = cinfo.output_components;
    if (nc != (cmyk ? 4 : 3)) {
        snprintf(e.msg, sizeof e.msg, "unexpected %d output components", nc);
        longjmp(e.jb, 1);
    }
    stp->rgb = malloc(w * h * 3);
    stp->row = malloc(w * (size_t)nc);
    if (!stp->rgb || !stp->row) {
        snprintf(e.msg, sizeof e.msg, "out of memory for %zux%zu pixels", w, h);
        longjmp(e.jb, 1);
    }
    while (cinfo.output_scanline < h) {
        size_t y = cinfo.output_scanline;
        JSAMPROW rp = cmyk ? stp->row : stp->rgb + y * w * 3;
        if (jpeg_read_scanlines(&cinfo, &rp, 1) != 1) {
            snprintf(e.msg, sizeof e.msg, "no scanline %zu", y);
            longjmp(e.jb, 1);
        }
        if (cmyk) {
            /* R = (255 − C)(255 − K)/255, rounded; inverted files store 255 − C etc. */
            uint8_t *o = stp->rgb + y * w * 3;
            for (size_t x = 0; x < w; x++) {
                const uint8_t *p = stp->row + 4 * x;
                unsigned k = inverted ? p[3] : 255u - p[3];
                for (int c = 0; c < 3; c++) {
                    unsigned v = inverted ? p[c] : 255u - p[c];
                    o[3 * x + c] = (uint8_t)((v * k + 127) / 255);
                }
            }
        }
    }
    jpeg_finish_decompress(&cinfo);
    jpeg_destroy_decompress(&cinfo);
    free(stp->row);
    im->w = (int)w;
    im->h = (int)h;
    im->rgb = stp->rgb;
    return 0;
}

int pcnn_image_decode(const uint8_t *buf, size_t n, pcnn_image *im, char *err, size_t errlen)
{
    static const uint8_t png_sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    im->w = im->h = 0;
    im->rgb = NULL;
    if (n == 0) {
        seterr(err, errlen, "empty file");
        return -1;
    }
    if (n >= 8 && !memcmp(buf, png_sig, 8)) return decode_png(buf, n, im, err, errlen);
    if (n >= 3 && buf[0] == 0xFF && buf[1] == 0xD8 && buf[2] == 0xFF)
        return decode_jpeg(buf, n, im, err, errlen);
    seterr(err, errlen, "not a PNG or JPEG file");
    return -1;
}

int pcnn_image_load(const char *path, pcnn_image *im, char *err, size_t errlen)
{
    im->w = im->h = 0;
    im->rgb = NULL;
    FILE *fp = fopen(path, "rb");
    if (!fp) {
        seterr(err, errlen, "cannot open: %s", strerror(errno));
        return -1;
    }
    struct stat sb;
    if (fstat(fileno(fp), &sb) != 0 || !S_ISREG(sb.st_mode)) {
        seterr(err, errlen, "not a regular file");
        fclose(fp);
        return -1;
    }
    if ((uint64_t)sb.st_size > PCNN_IMAGE_MAX_FILE) {
        seterr(err, errlen, "file of %lld bytes refused (limit %zu)", (long long)sb.st_size,
               PCNN_IMAGE_MAX_FILE);
        fclose(fp);
        return -1;
    }
    size_t n = (size_t)sb.st_size;
    uint8_t *buf = malloc(n ? n : 1);
    if (!buf) {
        seterr(err, errlen, "out of memory reading %zu bytes", n);
        fclose(fp);
        return -1;
    }
    size_t got = fread(buf, 1, n, fp);
    int rerr = ferror(fp);
    fclose(fp);
    if (got != n || rerr) {
        seterr(err, errlen, "read error: %s", rerr ? strerror(errno ? errno : EIO) : "short read");
        free(buf);
        return -1;
    }
    int rc = pcnn_image_decode(buf, n, im, err, errlen);
    free(buf);
    return rc;
}

/* ---- PNG writer ---- */

typedef struct png_wr {
    char msg[200];
} png_wr;

static void png_werr_fn(png_structp png, png_const_charp msg)
{
    png_wr *s = png_get_error_ptr(png);
    snprintf(s->msg, sizeof s->msg, "%s", msg);
    png_longjmp(png, 1);
}

/* Writes the PNG stream to fp; -1 with the reason in msg. */
static int png_write_stream(FILE *fp, int w, int h, const uint8_t *rgb, png_wr *s)
{
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, s, png_werr_fn, png_warn_fn);
    if (!png) {
        snprintf(s->msg, sizeof s->msg, "out of memory in libpng");
        return -1;
    }
    png_infop info = png_create_info_struct(png);
    if (!info || setjmp(png_jmpbuf(png))) {
        png_destroy_write_struct(&png, info ? &info : NULL);
        return -1;
    }
    png_init_io(png, fp);
    png_set_IHDR(png, info, (png_uint_32)w, (png_uint_32)h, 8, PNG_COLOR_TYPE_RGB,
                 PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    png_write_info(png, info);
    for (int y = 0; y < h; y++) png_write_row(png, (png_const_bytep)(rgb + (size_t)y * w * 3));
    png_write_end(png, info);
    png_destroy_write_struct(&png, &info);
    return 0;
}

int pcnn_png_write_rgb(const char *path, FILE *fp, int w, int h, const uint8_t *rgb)
{
    const char *name = path ? (strcmp(path, "-") ? path : "<stdout>") : "<stream>";
    if (w < 1 || h < 1 || (unsigned)w > PCNN_IMAGE_MAX_SIDE || (unsigned)h > PCNN_IMAGE_MAX_SIDE) {
        pcnn_warn("%s: cannot write a PNG of %dx%d pixels", name, w, h);
        return -1;
    }
    png_wr s = {{0}};
    if (!path) {
        errno = 0;
        if (png_write_stream(fp, w, h, rgb, &s) || fflush(fp) != 0 || ferror(fp)) {
            pcnn_warn("%s: write error: %s", name,
                      s.msg[0] ? s.msg : strerror(errno ? errno : EIO));
            return -1;
        }
        return 0;
    }
    pcnn_outfile *o = pcnn_outfile_open(path);
    if (!o) return -1;
    errno = 0;
    if (png_write_stream(o->fp, w, h, rgb, &s)) {
        pcnn_warn("%s: write error: %s", name, s.msg[0] ? s.msg : strerror(errno ? errno : EIO));
        pcnn_outfile_abort(o);
        return -1;
    }
    return pcnn_outfile_commit(o);
}
