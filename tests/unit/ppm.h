/* ppm.h — test helper: reads the binary PPM (P6, maxval 255) files that the
 * fixture scripts write as expected outputs. */
#ifndef PCNN_TEST_PPM_H
#define PCNN_TEST_PPM_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

/* The pixels (h × w × 3, malloc'd), or NULL if the file cannot be read as such. */
static inline uint8_t *read_ppm(const char *path, int *w, int *h)
{
    FILE *fp = fopen(path, "rb");
    if (!fp) return NULL;
    int mx;
    uint8_t *p = NULL;
    if (fscanf(fp, "P6 %d %d %d", w, h, &mx) == 3 && mx == 255 && fgetc(fp) != EOF && *w > 0 && *h > 0) {
        size_t n = (size_t)*w * *h * 3;
        p = malloc(n);
        if (fread(p, 1, n, fp) != n) {
            free(p);
            p = NULL;
        }
    }
    fclose(fp);
    return p;
}

#endif
