/* sampledir.c — the folder of generated samples and the montage (sampledir.h). */
#include "io/sampledir.h"

#include "io/image.h"
#include "util.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int pcnn_sample_dir_make(const char *dir)
{
    if (mkdir(dir, 0777) == 0 || errno == EEXIST) {
        struct stat st;
        if (stat(dir, &st) == 0 && S_ISDIR(st.st_mode) && access(dir, W_OK) == 0) return 0;
        pcnn_warn("%s: not a writable folder", dir);
        return -1;
    }
    pcnn_warn("%s: cannot create folder: %s", dir, strerror(errno));
    return -1;
}

int pcnn_sample_name_width(size_t n)
{
    return n >= 100 ? (int)floor(log10((double)n)) + 1 : 2;
}

int pcnn_sample_name(char *buf, size_t len, const char *cls, size_t idx, int width)
{
    int n = snprintf(buf, len, "%s_image_%0*zu.png", cls, width, idx);
    return n < 0 || (size_t)n >= len ? -1 : 0;
}

int pcnn_sample_png_write(const char *dir, const char *cls, size_t idx, int width,
                          const uint8_t *px, int H, int W)
{
    /* a class name, the index's digits (at most 20) and the rest */
    size_t len = strlen(dir) + strlen(cls) + 64;
    char *path = pcnn_xmalloc(len);
    size_t dirlen = (size_t)snprintf(path, len, "%s/", dir);
    int rc = pcnn_sample_name(path + dirlen, len - dirlen, cls, idx, width);
    if (rc)
        pcnn_warn("%s: a sample's file name does not fit", dir);
    else
        rc = pcnn_png_write_rgb(path, NULL, W, H, px);
    free(path);
    return rc ? -1 : 0;
}

int pcnn_sample_grid_write(const char *path, const uint8_t *px, int nclasses, int n, int H, int W)
{
    int g = 2, gw = n * (W + g) + g, gh = nclasses * (H + g) + g;
    uint8_t *img = pcnn_xmalloc((size_t)gw * gh * 3);
    memset(img, 255, (size_t)gw * gh * 3);
    for (int c = 0; c < nclasses; c++)
        for (int k = 0; k < n; k++) {
            const uint8_t *src = px + ((size_t)c * n + k) * H * W * 3;
            for (int i = 0; i < H; i++)
                memcpy(img + (((size_t)(g + c * (H + g) + i)) * gw + g + k * (W + g)) * 3,
                       src + (size_t)i * W * 3, (size_t)W * 3);
        }
    int rc = pcnn_png_write_rgb(path, NULL, gw, gh, img);
    free(img);
    return rc ? -1 : 0;
}
