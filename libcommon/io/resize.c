/* resize.c — antialiased bilinear resize (PIL BILINEAR / torchvision antialias=True); see resize.h. */
#include "io/resize.h"

#include "util.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Taps of one axis: for output i, input samples lo[i] .. lo[i]+cnt[i]-1 with weights
 * w[i·kmax .. i·kmax+cnt[i]-1] (normalised to sum 1). */
typedef struct taps {
    int *lo, *cnt;
    double *w;
    int kmax;
} taps;

static double tri(double t)
{
    t = fabs(t);
    return t < 1.0 ? 1.0 - t : 0.0;
}

static void taps_make(taps *t, int n, int m)
{
    double s = (double)n / m, f = s > 1.0 ? s : 1.0, r = f;
    /* At most ceil(r)·2 + 1 samples fall in [c − r, c + r]. */
    t->kmax = (int)ceil(r) * 2 + 1;
    t->lo = pcnn_xmalloc(sizeof *t->lo * (size_t)m);
    t->cnt = pcnn_xmalloc(sizeof *t->cnt * (size_t)m);
    t->w = pcnn_xcalloc((size_t)m * (size_t)t->kmax, sizeof *t->w);
    for (int i = 0; i < m; i++) {
        double c = s * (i + 0.5);
        int lo = (int)(c - r + 0.5), hi = (int)(c + r + 0.5);   /* trunc, as PIL and ATen */
        if (lo < 0) lo = 0;
        if (hi > n) hi = n;
        if (hi - lo > t->kmax) hi = lo + t->kmax;
        double *w = t->w + (size_t)i * t->kmax, sum = 0;
        for (int j = lo; j < hi; j++) sum += w[j - lo] = tri((j - c + 0.5) / f);
        if (sum != 0)
            for (int j = lo; j < hi; j++) w[j - lo] /= sum;
        t->lo[i] = lo;
        t->cnt[i] = hi - lo;
    }
}

static void taps_free(taps *t)
{
    free(t->lo);
    free(t->cnt);
    free(t->w);
}

void pcnn_resize_u8(uint8_t *dst, int oh, int ow, const uint8_t *src, int ih, int iw, int C)
{
    if (oh == ih && ow == iw) {
        memcpy(dst, src, (size_t)oh * ow * C);
        return;
    }
    taps tx, ty;
    taps_make(&tx, iw, ow);
    taps_make(&ty, ih, oh);
    /* Horizontal pass: tmp (ih × ow × C) = src (ih × iw × C) · Wx. */
    size_t rowo = (size_t)ow * C, rowi = (size_t)iw * C;
    double *tmp = pcnn_xmalloc(sizeof *tmp * (size_t)ih * rowo);
    for (int y = 0; y < ih; y++) {
        const uint8_t *s = src + (size_t)y * rowi;
        double *o = tmp + (size_t)y * rowo;
        for (int x = 0; x < ow; x++) {
            const double *w = tx.w + (size_t)x * tx.kmax;
            const uint8_t *sp = s + (size_t)tx.lo[x] * C;
            for (int c = 0; c < C; c++) {
                double acc = 0;
                for (int k = 0; k < tx.cnt[x]; k++) acc += w[k] * sp[(size_t)k * C + c];
                o[(size_t)x * C + c] = acc;
            }
        }
    }
    /* Vertical pass: dst (oh × ow × C) = Wy · tmp, rounded half away from zero, clamped. */
    for (int y = 0; y < oh; y++) {
        const double *w = ty.w + (size_t)y * ty.kmax;
        const double *t0 = tmp + (size_t)ty.lo[y] * rowo;
        uint8_t *o = dst + (size_t)y * rowo;
        for (size_t i = 0; i < rowo; i++) {
            double acc = 0;
            for (int k = 0; k < ty.cnt[y]; k++) acc += w[k] * t0[(size_t)k * rowo + i];
            double v = floor(acc + 0.5);
            o[i] = (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
        }
    }
    free(tmp);
    taps_free(&tx);
    taps_free(&ty);
}
