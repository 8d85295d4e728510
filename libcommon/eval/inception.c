/* inception.c — pytorch-fid's InceptionV3 blocks 0 and 1 on the CPU (inception.h). */
#include "eval/inception.h"

#include "nn/nn_layers.h"
#include "io/pth.h"
#include "util.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define SIDE 299
#define BN_EPS 0.001

/* The BasicConv2d layers, in order. */
static const struct layer_def {
    const char *name;
    int cin, cout, k, stride, pad;
} LAYERS[] = {
    {"Conv2d_1a_3x3", 3, 32, 3, 2, 0},
    {"Conv2d_2a_3x3", 32, 32, 3, 1, 0},
    {"Conv2d_2b_3x3", 32, 64, 3, 1, 1},
    {"Conv2d_3b_1x1", 64, 80, 1, 1, 0},
    {"Conv2d_4a_3x3", 80, 192, 3, 1, 0},
};
#define NLAYERS 5

struct pcnn_inception {
    int dims, nlayers;             /* 3 layers for dims 64, 5 for 192 */
    float *w[NLAYERS], *b[NLAYERS]; /* folded: W (Cout, Cin, k, k), b (Cout) */
};

struct pcnn_inception_ws {
    float *x;       /* 299 × 299 × 3 */
    float *a, *b;   /* the two largest activations, ping-pong: 147 × 147 × 64 */
    nn_ws col;      /* im2col of Conv2d_1a_3x3: 149 × 149 × 27 */
};

static int read_tensor(pcnn_pth *p, const char *path, const char *layer, const char *what, int ndim,
                       const int64_t *shape, float *out)
{
    char name[128], err[320];
    snprintf(name, sizeof name, "%s.%s", layer, what);
    if (!pcnn_pth_read(p, name, ndim, shape, out, err, sizeof err)) return 0;
    if (!pcnn_pth_has(p, name))
        pcnn_warn("%s: no tensor '%s': not pytorch-fid's InceptionV3 weights "
                  "(pt_inception-2015-12-05-6726825d.pth, docs/FID.md)", path, name);
    else
        pcnn_warn("%s: %s", path, err);
    return -1;
}

pcnn_inception *pcnn_inception_load(const char *path, int dims)
{
    char err[320];
    if (dims != 64 && dims != 192) {
        pcnn_warn("internal error: dims %d (64 or 192)", dims);
        return NULL;
    }
    pcnn_pth *p = pcnn_pth_open(path, err, sizeof err);
    if (!p) {
        pcnn_warn("%s: %s", path, err);
        return NULL;
    }
    pcnn_inception *net = pcnn_xcalloc(1, sizeof *net);
    net->dims = dims;
    net->nlayers = dims == 64 ? 3 : 5;
    for (int l = 0; l < net->nlayers; l++) {
        const struct layer_def *d = &LAYERS[l];
        int64_t ws[4] = {d->cout, d->cin, d->k, d->k}, vs[1] = {d->cout};
        size_t nw = (size_t)d->cout * d->cin * d->k * d->k;
        float *gamma = pcnn_xmalloc(4 * (size_t)d->cout * sizeof(float));
        float *beta = gamma + d->cout, *mean = beta + d->cout, *var = mean + d->cout;
        net->w[l] = pcnn_xmalloc(nw * sizeof(float));
        net->b[l] = pcnn_xmalloc((size_t)d->cout * sizeof(float));
        int bad = read_tensor(p, path, d->name, "conv.weight", 4, ws, net->w[l]) ||
                  read_tensor(p, path, d->name, "bn.weight", 1, vs, gamma) ||
                  read_tensor(p, path, d->name, "bn.bias", 1, vs, beta) ||
                  read_tensor(p, path, d->name, "bn.running_mean", 1, vs, mean) ||
                  read_tensor(p, path, d->name, "bn.running_var", 1, vs, var);
        if (!bad) {
            /* fold eval-mode batch norm: y = γ (x − mean) / sqrt(var + ε) + β (double, then float) */
            size_t per = nw / (size_t)d->cout;
            for (int o = 0; o < d->cout && !bad; o++) {
                if (!(var[o] >= 0) || !isfinite(gamma[o]) || !isfinite(beta[o]) || !isfinite(mean[o])) {
                    pcnn_warn("%s: %s.bn: a running variance below 0 or a value not finite (damaged weights)",
                              path, d->name);
                    bad = 1;
                }
                double s = gamma[o] / sqrt((double)var[o] + BN_EPS);
                for (size_t k = 0; k < per; k++) net->w[l][o * per + k] = (float)(net->w[l][o * per + k] * s);
                net->b[l][o] = (float)(beta[o] - mean[o] * s);
            }
        }
        free(gamma);
        if (bad) {
            pcnn_pth_close(p);
            pcnn_inception_free(net);
            return NULL;
        }
    }
    pcnn_pth_close(p);
    return net;
}

void pcnn_inception_free(pcnn_inception *net)
{
    if (!net) return;
    for (int l = 0; l < NLAYERS; l++) free(net->w[l]), free(net->b[l]);
    free(net);
}

int pcnn_inception_dims(const pcnn_inception *net) { return net->dims; }

pcnn_inception_ws *pcnn_inception_ws_new(const pcnn_inception *net)
{
    pcnn_inception_ws *ws = pcnn_xcalloc(1, sizeof *ws);
    size_t big = (size_t)147 * 147 * 64, col = (size_t)149 * 149 * 27;
    ws->x = pcnn_big_alloc((size_t)SIDE * SIDE * 3 * sizeof(float));
    ws->a = pcnn_big_alloc(big * sizeof(float));
    ws->b = pcnn_big_alloc(big * sizeof(float));
    ws->col = (nn_ws){pcnn_big_alloc(col * sizeof(float)), col};
    return ws;
}

void pcnn_inception_ws_free(pcnn_inception_ws *ws)
{
    if (!ws) return;
    pcnn_big_free(ws->x);
    pcnn_big_free(ws->a);
    pcnn_big_free(ws->b);
    pcnn_big_free(ws->col.p);
    free(ws);
}

/* F.interpolate(mode='bilinear', align_corners=False) taps of one axis, in float as ATen:
 * s = max(0, (d + 0.5) · scale − 0.5), scale = in / out. */
static void taps(int in, int out, int *i0, int *i1, float *l1)
{
    float scale = (float)in / (float)out;
    for (int d = 0; d < out; d++) {
        float s = ((float)d + 0.5f) * scale - 0.5f;
        if (s < 0) s = 0;
        int i = (int)s;
        i0[d] = i;
        i1[d] = i + (i < in - 1);
        l1[d] = s - (float)i;
    }
}

/* x (299, 299, 3) = 2 · resize(rgb / 255) − 1 */
static void resize_input(float *x, const uint8_t *rgb, int h, int w)
{
    int y0[SIDE], y1[SIDE], x0[SIDE], x1[SIDE];
    float ly[SIDE], lx[SIDE];
    taps(h, SIDE, y0, y1, ly);
    taps(w, SIDE, x0, x1, lx);
    for (int i = 0; i < SIDE; i++) {
        const uint8_t *r0 = rgb + (size_t)y0[i] * w * 3, *r1 = rgb + (size_t)y1[i] * w * 3;
        float h1 = ly[i], h0 = 1 - h1;
        for (int j = 0; j < SIDE; j++) {
            float w1 = lx[j], w0 = 1 - w1;
            for (int c = 0; c < 3; c++) {
                float v00 = r0[x0[j] * 3 + c] / 255.0f, v01 = r0[x1[j] * 3 + c] / 255.0f;
                float v10 = r1[x0[j] * 3 + c] / 255.0f, v11 = r1[x1[j] * 3 + c] / 255.0f;
                float v = h0 * (w0 * v00 + w1 * v01) + h1 * (w0 * v10 + w1 * v11);
                x[((size_t)i * SIDE + j) * 3 + c] = 2 * v - 1;
            }
        }
    }
}

static void relu(float *x, size_t n)
{
    for (size_t k = 0; k < n; k++) x[k] = x[k] > 0 ? x[k] : 0;
}

/* out (Ho, Wo, C) = max over 3×3 windows at stride 2 of in (H, W, C), no padding */
static void maxpool(float *out, const float *in, int H, int W, int C, int *Ho, int *Wo)
{
    *Ho = (H - 3) / 2 + 1, *Wo = (W - 3) / 2 + 1;
    for (int i = 0; i < *Ho; i++)
        for (int j = 0; j < *Wo; j++) {
            float *o = out + ((size_t)i * *Wo + j) * C;
            const float *p = in + ((size_t)(2 * i) * W + 2 * j) * C;
            memcpy(o, p, (size_t)C * sizeof *o);
            for (int di = 0; di < 3; di++)
                for (int dj = 0; dj < 3; dj++) {
                    const float *q = in + ((size_t)(2 * i + di) * W + 2 * j + dj) * C;
                    for (int c = 0; c < C; c++) o[c] = q[c] > o[c] ? q[c] : o[c];
                }
        }
}

/* feat[c] = mean over the pixels (summed in double) */
static void avgpool(float *feat, const float *in, size_t npix, int C)
{
    double s[192] = {0};
    for (size_t p = 0; p < npix; p++)
        for (int c = 0; c < C; c++) s[c] += in[p * C + c];
    for (int c = 0; c < C; c++) feat[c] = (float)(s[c] / (double)npix);
}

static void basic_conv(const pcnn_inception *net, int l, float *out, const float *in, int *H, int *W,
                       nn_ws *col)
{
    const struct layer_def *d = &LAYERS[l];
    int Ho = (*H + 2 * d->pad - d->k) / d->stride + 1, Wo = (*W + 2 * d->pad - d->k) / d->stride + 1;
    nn_conv_geom g = {1, *H, *W, d->cin, Ho, Wo, d->cout, d->k, d->k, d->stride, d->pad, d->pad};
    nn_conv_fwd(out, in, net->w[l], net->b[l], &g, 0, col);
    relu(out, (size_t)Ho * Wo * d->cout);
    *H = Ho, *W = Wo;
}

void pcnn_inception_features(const pcnn_inception *net, pcnn_inception_ws *ws, const uint8_t *rgb,
                             int h, int w, float *feat)
{
    int H = SIDE, W = SIDE, Hp, Wp;
    resize_input(ws->x, rgb, h, w);
    basic_conv(net, 0, ws->a, ws->x, &H, &W, &ws->col);   /* 149 × 149 × 32 */
    basic_conv(net, 1, ws->b, ws->a, &H, &W, &ws->col);   /* 147 × 147 × 32 */
    basic_conv(net, 2, ws->a, ws->b, &H, &W, &ws->col);   /* 147 × 147 × 64 */
    maxpool(ws->b, ws->a, H, W, 64, &Hp, &Wp);             /* 73 × 73 × 64 */
    if (net->dims == 64) {
        avgpool(feat, ws->b, (size_t)Hp * Wp, 64);
        return;
    }
    H = Hp, W = Wp;
    basic_conv(net, 3, ws->a, ws->b, &H, &W, &ws->col);   /* 73 × 73 × 80 */
    basic_conv(net, 4, ws->b, ws->a, &H, &W, &ws->col);   /* 71 × 71 × 192 */
    maxpool(ws->a, ws->b, H, W, 192, &Hp, &Wp);            /* 35 × 35 × 192 */
    avgpool(feat, ws->a, (size_t)Hp * Wp, 192);
}
