/*
 * kernel_math.h — the bodies of the CUDA backend's elementwise kernels: what
 * one iteration of each kernel's grid-stride loop does (index decomposition,
 * loads, arithmetic, stores), as functions that compile for the device
 * (__host__ __device__ under nvcc) and for the host C compiler (C11). The
 * kernels in the cuda/ .cu files keep only their loops, launch geometry, shared memory
 * and warp shuffles; everything else is here, so that
 * tests/unit/test_kernel_math.c can run the same code on the host against the
 * CPU ops (nn_layers.c, nn_dmol.c, backend_cpu.c) in `make test`, on any
 * machine. A GPU run then only has to confirm launches, layouts and
 * cuDNN/cuBLAS.
 *
 *   __global__ void k_gate_bwd(float *dx, ..., size_t total)
 *   {
 *       for (size_t t = blockIdx.x * (size_t)blockDim.x + threadIdx.x; t < total;
 *            t += (size_t)gridDim.x * blockDim.x)
 *           km_gate_bwd(t, dx, dc2, dout, c2, F);
 *   }
 *
 * Arithmetic: the same float operations in the same order on both sides, with
 * two differences that the host cannot reproduce: the device's expf, expm1f,
 * logf, log1pf, tanhf are CUDA's (each within 1-2 ulp, CUDA C Programming
 * Guide, "Mathematical Functions"), the host's are libm's; and nvcc contracts
 * a*b + c into an FMA (-fmad=true), the host C compiler does not (-std=c11).
 * Shapes are NHWC float32, element counts size_t (kernels.h has the ops).
 */
#ifndef PCNN_CUDA_KERNEL_MATH_H
#define PCNN_CUDA_KERNEL_MATH_H

#include "rng.h"   /* PCNN_HD, the dropout hash */

#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#if defined(__CUDACC__)
#define KM_INLINE static __forceinline__ PCNN_HD
#else
#define KM_INLINE static inline
#endif

/* Interior of a zero-padded buffer (N, h + pt, w + pl + pr, C): data at rows
 * [pt, pt + h), columns [pl, pl + w) (kernels.h: pad_geom adds its methods). */
typedef struct km_pad {
    int N, h, w, pt, pl, pr;
} km_pad;

/* Row (pixel) in the padded buffer of interior pixel r = (n*h + i)*w + j. */
KM_INLINE size_t km_prow(km_pad g, size_t r)
{
    size_t j = r % (size_t)g.w, ni = r / (size_t)g.w;
    size_t i = ni % (size_t)g.h, n = ni / (size_t)g.h;
    return (n * (size_t)(g.h + g.pt) + i + (size_t)g.pt) * (size_t)(g.w + g.pl + g.pr) + j +
           (size_t)g.pl;
}

/* ---------------------------------------------------------- concat_elu.cu */

/* elu(z) = z > 0 ? z : e^z - 1 (expm1f; the CPU: exp(z) - 1, nn_vmath.h);
 * elu'(z) = z > 0 ? 1 : e^z. */
KM_INLINE float km_elu(float z) { return z > 0.0f ? z : expm1f(z); }
KM_INLINE float km_elu_grad(float z) { return z > 0.0f ? 1.0f : expf(z); }

/* t = (pixel r, channel c < C = Ca + Cb): out (padded pg, 2C) gets elu(v) at c
 * and elu(-v) at C + c, v = concat(a, b)[r, c]. */
/* Element t's input v = concat(a, b)[r, c]; *o its offset in out (in elements): elu(v)
 * goes there, elu(-v) C elements on. Shared by the float and bf16 writers (each stores
 * elu(v) before computing elu(-v), the order of the original kernel). */
KM_INLINE float km_concat_elu_in(size_t t, km_pad pg, const float *a, int Ca, const float *b,
                                 int Cb, size_t *o)
{
    const int C = Ca + Cb;
    size_t r = t / C;
    int c = (int)(t % C);
    *o = km_prow(pg, r) * 2 * C + c;
    return c < Ca ? a[r * Ca + c] : b[r * Cb + (c - Ca)];
}

KM_INLINE void km_concat_elu_fwd(size_t t, float *out, km_pad pg, const float *a, int Ca,
                                 const float *b, int Cb)
{
    size_t o;
    float v = km_concat_elu_in(t, pg, a, Ca, b, Cb, &o);
    out[o] = km_elu(v);
    out[o + Ca + Cb] = km_elu(-v);
}

/* t as above: da or db (acc) += d/dv from dout (padded pg, 2C), which mask
 * (N, 2C, may be NULL: dropout backward) multiplies first; HW pixels per image. */
KM_INLINE void km_concat_elu_bwd(size_t t, float *da, float *db, const float *dout, km_pad pg,
                                 const float *a, int Ca, const float *b, int Cb,
                                 const float *mask, size_t HW)
{
    const int C = Ca + Cb;
    size_t r = t / C;
    int c = (int)(t % C);
    const float *d = dout + km_prow(pg, r) * 2 * C;
    float dp = d[c], dm = d[C + c];
    if (mask) {
        const float *m = mask + (r / HW) * 2 * C;
        dp *= m[c];
        dm *= m[C + c];
    }
    if (c < Ca) {
        if (!da) return;
        float v = a[r * Ca + c];
        da[r * Ca + c] += dp * km_elu_grad(v) - dm * km_elu_grad(-v);
    } else {
        if (!db) return;
        float v = b[r * Cb + (c - Ca)];
        db[r * Cb + (c - Ca)] += dp * km_elu_grad(v) - dm * km_elu_grad(-v);
    }
}

/* t = (pixel r, c < F): c1[t] += b1[c] (+ b2[c]) in place; hd (padded pg, 2F)
 * = [elu(c1), elu(-c1)] * mask[n] (mask (N, 2F) or NULL). */
/* c1[t] finished in place and hd's two values of t (*p at the returned offset of hd, *q
 * F elements on): shared by the float and bf16 writers. */
KM_INLINE size_t km_c1_finish_vals(size_t t, float *c1, const float *b1, const float *b2,
                                   km_pad pg, int F, const float *mask, size_t HW, float *pp,
                                   float *qq)
{
    size_t r = t / F;
    int c = (int)(t % F);
    float v = c1[t] + b1[c];
    if (b2) v += b2[c];
    c1[t] = v;
    float p = km_elu(v), q = km_elu(-v);
    if (mask) {
        const float *m = mask + (r / HW) * 2 * F;
        p *= m[c];
        q *= m[F + c];
    }
    *pp = p;
    *qq = q;
    return km_prow(pg, r) * 2 * F + c;
}

KM_INLINE void km_c1_finish_fwd(size_t t, float *c1, const float *b1, const float *b2, float *hd,
                                km_pad pg, int F, const float *mask, size_t HW)
{
    float p, q;
    size_t o = km_c1_finish_vals(t, c1, b1, b2, pg, F, mask, HW, &p, &q);
    hd[o] = p;
    hd[o + F] = q;
}

/* ---------------------------------------------------------------- gate.cu */

KM_INLINE float km_sigmoid(float z) { return 1.0f / (1.0f + expf(-z)); }

/* t = (pixel r, k < F), c2 (rows, 2F): a = c2[k] + b[k], g = c2[F+k] + b[F+k],
 * plus the class term of image n's label y: a += hw[y, k], g += hw[y, F+k];
 * film (hs not NULL): c2p <- (a, g), then a = a (1 + hs[y, k]) + hw[y, k] (and
 * g). c2 <- (a, g); out[t] = x[t] + a sigmoid(g). */
KM_INLINE void km_gate_fwd(size_t t, float *out, const float *x, float *c2, float *c2p,
                           const float *b, const float *hw, const float *hs,
                           const int32_t *labels, size_t HW, int F)
{
    size_t r = t / F;
    int k = (int)(t % F);
    size_t y = (size_t)labels[r / HW] * 2 * F;
    const float *h = hw + y;
    float *c = c2 + r * 2 * F;
    float a = c[k] + b[k];
    float g = c[F + k] + b[F + k];
    if (hs) {
        c2p[r * 2 * F + k] = a;
        c2p[r * 2 * F + F + k] = g;
        a = a * (1.0f + hs[y + k]) + h[k];
        g = g * (1.0f + hs[y + F + k]) + h[F + k];
    } else {
        a += h[k];
        g += h[F + k];
    }
    c[k] = a;
    c[F + k] = g;
    out[t] = x[t] + a * km_sigmoid(g);
}

/* t over (N, HW, C): prod = dc2 c2p (d hs before the sums); dc2 *= 1 + hs[y]. */
KM_INLINE void km_film_bwd(size_t t, float *prod, float *dc2, const float *c2p, const float *hs,
                           const int32_t *labels, size_t HW, int C)
{
    size_t r = t / C;
    float d = dc2[t];
    prod[t] = d * c2p[t];
    dc2[t] = d * (1.0f + hs[(size_t)labels[r / HW] * C + t % C]);
}

/* t = (pixel r, k < F): dx[t] += dout[t]; dc2 (rows, 2F) = d/d(a, g) of
 * out = x + a sigmoid(g). */
KM_INLINE void km_gate_bwd(size_t t, float *dx, float *dc2, const float *dout, const float *c2,
                           int F)
{
    size_t r = t / F;
    int k = (int)(t % F);
    const float *c = c2 + r * 2 * F;
    float d = dout[t], sg = km_sigmoid(c[F + k]);
    dx[t] += d;
    dc2[r * 2 * F + k] = d * sg;
    dc2[r * 2 * F + F + k] = d * c[k] * sg * (1.0f - sg);
}

/* t = (n, c < C): mask[t] = 0 or 2 (Dropout2d p = 1/2), nn_dropout_mask's hash. */
KM_INLINE void km_dropout_mask(size_t t, float *mask, int C, uint64_t seed, uint64_t step,
                               uint64_t block, uint64_t rep, uint64_t nrep, uint64_t img0)
{
    uint64_t n = t / C, c = t % C;
    uint64_t img = pcnn_dropout_image(n, rep, nrep, img0);
    uint64_t h = pcnn_rng_hash4(seed, PCNN_RNG_DROPOUT, step, (block << 32) | img, c);
    mask[t] = (h >> 63) ? 0.0f : 2.0f;
}

/* Per-image column sums, first stage: thread (channel c, ry < 8) of image n
 * sums rows ry, ry + 8, ... of x (N, HW, C) in order. */
KM_INLINE float km_colsum_part(const float *x, size_t HW, int C, int n, int c, size_t ry)
{
    float acc = 0.0f;
    const float *xi = x + (size_t)n * HW * C + c;
    for (size_t p = ry; p < HW; p += 8) acc += xi[p * C];
    return acc;
}

/* ... then the 8 partial sums of one (n, c), ry in order: part[ry * stride]. */
KM_INLINE float km_colsum_combine(const float *part, int stride)
{
    float sum = 0.0f;
    for (int k = 0; k < 8; k++) sum += part[k * stride];
    return sum;
}

/* Channel c: db, db2 (acc, may be NULL) += sum_n partial[n, c], images in
 * order; dhw (acc, may be NULL) [labels[n], c] += partial[n, c]. */
KM_INLINE void km_colsum_finish(int c, float *db, float *db2, float *dhw, const int32_t *labels,
                                const float *partial, int N, int C)
{
    float sum = 0.0f;
    for (int n = 0; n < N; n++) {
        float p = partial[(size_t)n * C + c];
        sum += p;
        if (dhw) dhw[(size_t)labels[n] * C + c] += p;
    }
    if (db) db[c] += sum;
    if (db2) db2[c] += sum;
}

/* t over (rows, C): out[t] = (acc ? out[t] : 0) + b[c]. */
KM_INLINE void km_bias_rows(size_t t, float *out, const float *b, int C, int acc)
{
    float v = b[t % C];
    out[t] = acc ? out[t] + v : v;
}

/* --------------------------------------------------------------- shift.cu */

/* Pixel r of the (N, h, w) grid of pg: xin (padded pg, 4) interior = concat(x
 * [+ cmap[labels[n], :, r0 + i, c0 + j]], 1); cmap (K, 3, Hc, Wc) or NULL. */
KM_INLINE void km_input_pad(size_t r, float *xin, km_pad pg, const float *x, const float *cmap,
                            const int32_t *labels, int Hc, int Wc, int r0, int c0)
{
    size_t plane = (size_t)Hc * Wc;
    float *o = xin + km_prow(pg, r) * 4;
    if (cmap) {
        size_t j = r % pg.w, i = r / pg.w % pg.h, n = r / ((size_t)pg.w * pg.h);
        const float *cm = cmap + (size_t)labels[n] * 3 * plane + (r0 + i) * Wc + c0 + j;
        o[0] = x[3 * r] + cm[0];
        o[1] = x[3 * r + 1] + cm[plane];
        o[2] = x[3 * r + 2] + cm[2 * plane];
    } else {
        o[0] = x[3 * r];
        o[1] = x[3 * r + 1];
        o[2] = x[3 * r + 2];
    }
    o[3] = 1.0f;
}

/* t = (colour c < 3, map pixel q): dcmap[labels[n], c, q] += dxin[n, q, c]
 * (dxin (N, plane, 4)), the images in order. */
KM_INLINE void km_class_map_bwd(size_t t, float *dcmap, const float *dxin, const int32_t *labels,
                                int N, size_t plane)
{
    size_t c = t / plane, q = t % plane;
    for (int n = 0; n < N; n++)
        dcmap[((size_t)labels[n] * 3 + c) * plane + q] += dxin[((size_t)n * plane + q) * 4 + c];
}

/* t over (N, h, w, C): dst (padded pg) interior <- src; din += dpad interior. */
KM_INLINE void km_pad_copy(size_t t, float *dst, km_pad pg, const float *src, int C)
{
    size_t r = t / C;
    dst[km_prow(pg, r) * C + t % C] = src[t];
}

KM_INLINE void km_unpad_add(size_t t, float *din, const float *dpad, km_pad pg, int C)
{
    size_t r = t / C;
    din[t] += dpad[km_prow(pg, r) * C + t % C];
}

/* t over (N, rows, len): the strided block copy of the backend's copy_block
 * (nn_backend.h): dst[n dn + r dr + k] = src[n sn + r sr + k]. */
KM_INLINE void km_copy_block(size_t t, float *dst, size_t dn, size_t dr, const float *src,
                             size_t sn, size_t sr, int rows, size_t len)
{
    size_t k = t % len, nr = t / len;
    size_t r = nr % (size_t)rows, n = nr / (size_t)rows;
    dst[n * dn + r * dr + k] = src[n * sn + r * sr + k];
}

/* t over (ne, N, rows, len): the cached sampler's copies from its position table
 * (nn_backend.h copy_table): entry q's two words ent[2q], ent[2q + 1] are the
 * destination's and the source's addresses (written by the host for each position),
 * and the copy between them is km_copy_block's. The strides and sizes are the
 * launch's, the same at every position of a shape; only the table changes. */
KM_INLINE void km_copy_table(size_t t, const uint64_t *ent, size_t dn, size_t dr, size_t sn,
                             size_t sr, int N, int rows, size_t len)
{
    size_t per = (size_t)N * (size_t)rows * len, q = t / per;
    km_copy_block(t % per, (float *)(uintptr_t)ent[2 * q], dn, dr,
                  (const float *)(uintptr_t)ent[2 * q + 1], sn, sr, rows, len);
}

/* e over (N, H, W, C): out[n,i,j] (= or acc) t[n, i-dy, j-dx] + b, zero where
 * i < dy or j < dx. */
KM_INLINE void km_shift_bias(size_t e, float *out, const float *t, const float *b, int H, int W,
                             int C, int dy, int dx, int acc)
{
    int c = (int)(e % C);
    size_t pix = e / C;
    int j = (int)(pix % W), i = (int)((pix / W) % H);
    float v = 0.0f;
    if (i >= dy && j >= dx) v = t[e - ((size_t)dy * W + dx) * C] + b[c];
    out[e] = acc ? out[e] + v : v;
}

/* e as above: dt[n,i,j] = d[n, i+dy, j+dx], zero past the edge. */
KM_INLINE void km_unshift(size_t e, float *dt, const float *d, int H, int W, int C, int dy,
                          int dx)
{
    size_t pix = e / C;
    int j = (int)(pix % W), i = (int)((pix / W) % H);
    dt[e] = (i + dy < H && j + dx < W) ? d[e + ((size_t)dy * W + dx) * C] : 0.0f;
}

/* ---------------------------------------------------------- weightnorm.cu */

/* One weight-norm row (len floats of v and dW) is one warp: lane l sums the
 * elements l, l + 32, ... in double (then a butterfly of shuffles adds the 32
 * lanes); the CPU (nn_weightnorm_*) sums the row in order, also in double. */
KM_INLINE double km_wn_lane_ss(const float *v, int len, int lane)
{
    double ss = 0.0;
    for (int k = lane; k < len; k += 32) ss += (double)v[k] * v[k];
    return ss;
}

KM_INLINE void km_wn_lane_sums(const float *v, const float *dw, int len, int lane, double *ss,
                               double *dot)
{
    double s = 0.0, d = 0.0;
    for (int k = lane; k < len; k += 32) {
        s += (double)v[k] * v[k];
        d += (double)dw[k] * v[k];
    }
    *ss = s;
    *dot = d;
}

/* W = (g / ||v||) v over lane's elements, from the row's ss = ||v||^2. */
KM_INLINE void km_wn_fwd_lane(float *w, const float *v, int len, int lane, float g, double ss)
{
    float scale = (float)(g / sqrt(ss));
    for (int k = lane; k < len; k += 32) w[k] = scale * v[k];
}

/* dg = dW.v / n (lane 0 writes it); dv = (g/n) dW - (g dW.v / (n ss)) v over
 * lane's elements, n = sqrt(ss). */
KM_INLINE void km_wn_bwd_lane(float *dv, float *dg, const float *dw, const float *v, int len,
                              int lane, float g_, double ss, double dot)
{
    double n = sqrt(ss), g = g_;
    if (lane == 0) *dg = (float)(dot / n);
    float a = (float)(g / n), c = (float)(g * dot / (n * ss));
    for (int k = lane; k < len; k += 32) dv[k] = a * dw[k] - c * v[k];
}

/* t over (K, RS, C): dst (K, RS, C) <- src (K, C, RS) (PyTorch filter to NHWC);
 * t over (K, C, RS): dst (K, C, RS) += src (K, RS, C). */
KM_INLINE void km_w_to_krsc(size_t t, float *dst, const float *src, int C, int RS)
{
    size_t c = t % C, rs = (t / C) % RS, k = t / ((size_t)C * RS);
    dst[t] = src[(k * C + c) * RS + rs];
}

KM_INLINE void km_w_from_krsc_add(size_t t, float *dst, const float *src, int C, int RS)
{
    size_t rs = t % RS, c = (t / RS) % C, k = t / ((size_t)C * RS);
    dst[t] += src[(k * RS + rs) * C + c];
}

/* ---------------------------------------------------------------- dmol.cu */

#define KM_LOG_127_5 4.8481164f   /* log(127.5) */

KM_INLINE float km_softplus(float z) { return fmaxf(z, 0.0f) + log1pf(expf(-fabsf(z))); }

/* log p of sub-pixel x under the logistic (mu, s) discretised to 256 bins
 * (SPEC §4, nn_dmol.c's logistic_bin), with d/dmu, d/ds. */
KM_INLINE float km_logistic_bin(float x, float mu, float s, float *dmu, float *ds)
{
    float d = x - mu;
    float inv = expf(-s);
    float plus = inv * (d + 1.0f / 255.0f);
    float minus = inv * (d - 1.0f / 255.0f);
    float lp, gd, gs;
    if (x < -0.999f) {
        lp = plus - km_softplus(plus);
        float gp = km_sigmoid(-plus);
        gd = inv * gp;
        gs = -gp * plus;
    } else if (x > 0.999f) {
        lp = -km_softplus(minus);
        float gm = -km_sigmoid(minus);
        gd = inv * gm;
        gs = -gm * minus;
    } else {
        float cp = km_sigmoid(plus), cm = km_sigmoid(minus);
        float delta = cp - cm;
        if (delta > 1e-5f) {
            lp = logf(delta);
            float gp = cp * (1.0f - cp) / delta, gm = -cm * (1.0f - cm) / delta;
            gd = inv * (gp + gm);
            gs = -(gp * plus + gm * minus);
        } else {
            float mid = inv * d;
            lp = mid - s - 2.0f * km_softplus(mid) - KM_LOG_127_5;
            float gmid = 1.0f - 2.0f * km_sigmoid(mid);
            gd = inv * gmid;
            gs = -mid * gmid - 1.0f;
        }
    }
    *dmu = -gd;
    *ds = gs;
    return lp;
}

/* Component k's log p: log_softmax_k + the three colours' log p; with dl, the
 * colours' partials go to dl's mean, log-scale and coefficient slots. */
KM_INLINE float km_dmol_component(const float *l, const float *x, int M, int k, float lse,
                                  float *dl)
{
    const float *gR = l + M, *gG = l + 4 * M, *gB = l + 7 * M;
    float a = tanhf(gR[2 * M + k]), b = tanhf(gG[2 * M + k]), c = tanhf(gB[2 * M + k]);
    float mu0 = gR[k], mu1 = gG[k] + a * x[0], mu2 = gB[k] + b * x[0] + c * x[1];
    float s0 = fmaxf(gR[M + k], -7.0f), s1 = fmaxf(gG[M + k], -7.0f), s2 = fmaxf(gB[M + k], -7.0f);
    float dmu0, dmu1, dmu2, ds0, ds1, ds2;
    float lp = km_logistic_bin(x[0], mu0, s0, &dmu0, &ds0) +
               km_logistic_bin(x[1], mu1, s1, &dmu1, &ds1) +
               km_logistic_bin(x[2], mu2, s2, &dmu2, &ds2);
    lp += l[k] - lse;
    if (dl) {
        float *d0 = dl + M, *d1 = dl + 4 * M, *d2 = dl + 7 * M;
        d0[k] = dmu0;
        d1[k] = dmu1;
        d2[k] = dmu2;
        d0[M + k] = gR[M + k] >= -7.0f ? ds0 : 0.0f;
        d1[M + k] = gG[M + k] >= -7.0f ? ds1 : 0.0f;
        d2[M + k] = gB[M + k] >= -7.0f ? ds2 : 0.0f;
        d0[2 * M + k] = dmu1 * x[0] * (1.0f - a * a);
        d1[2 * M + k] = dmu2 * x[0] * (1.0f - b * b);
        d2[2 * M + k] = dmu2 * x[1] * (1.0f - c * c);
    }
    return lp;
}

/* Pixel r: lpix[r] = log p(x[r] | logits[r]) (pcnn_dmol_logp); dlogits (rows,
 * 10M, may be NULL) = scale * d lpix[r] / d logits[r]. With a gradient the
 * per-component lp are kept in dl's logit slots (as on the CPU); without, the
 * log-sum-exp over components runs online (one pass, another rounding). */
KM_INLINE void km_dmol_row(size_t r, float *lpix, float *dlogits, const float *logits,
                           const float *x, int M, float scale)
{
    const int C = 10 * M;
    const float *l = logits + r * C, *xr = x + 3 * r;
    float lmax = l[0];
    for (int k = 1; k < M; k++) lmax = fmaxf(lmax, l[k]);
    float se = 0.0f;
    for (int k = 0; k < M; k++) se += expf(l[k] - lmax);
    float lse = lmax + logf(se);
    float total;
    if (dlogits) {
        float *dl = dlogits + r * C;
        float best = -INFINITY;
        for (int k = 0; k < M; k++) {
            float lp = km_dmol_component(l, xr, M, k, lse, dl);
            dl[k] = lp;
            best = fmaxf(best, lp);
        }
        float sum = 0.0f;
        for (int k = 0; k < M; k++) sum += expf(dl[k] - best);
        total = best + logf(sum);
        for (int k = 0; k < M; k++) {
            float w = expf(dl[k] - total), pi = expf(l[k] - lse);
            for (int c = 0; c < 3; c++) {
                float *g = dl + M + 3 * M * c;
                g[k] = g[k] * w * scale;
                g[M + k] = g[M + k] * w * scale;
                g[2 * M + k] = g[2 * M + k] * w * scale;
            }
            dl[k] = (w - pi) * scale;
        }
    } else {
        float best = -INFINITY, sum = 0.0f;
        for (int k = 0; k < M; k++) {
            float lp = km_dmol_component(l, xr, M, k, lse, NULL);
            if (lp > best) {
                sum = sum * expf(best - lp) + 1.0f;
                best = lp;
            } else {
                sum += expf(lp - best);
            }
        }
        total = best + logf(sum);
    }
    lpix[r] = total;
}

/* Per-image sum of lp (N, HW) in double, first stage: thread tid of 256 sums
 * elements tid, tid + 256, ... of image n in order (a fixed-order tree of the
 * 256 partials follows in shared memory). */
KM_INLINE double km_image_sum_part(const float *lp, size_t HW, size_t n, size_t tid)
{
    const float *p = lp + n * HW;
    double acc = 0.0;
    for (size_t i = tid; i < HW; i += 256) acc += p[i];
    return acc;
}

/* ---------------------------------------------------------------- adam.cu */

/* Element i: Adam (PyTorch: m, v moments; step = lr / (1 - b1^t), rbc2 =
 * sqrt(1 - b2^t): p -= step m / (sqrt(v) / rbc2 + eps)), then Polyak. */
KM_INLINE void km_adam(size_t i, float *p, const float *g, float *m, float *v, float *polyak,
                       float step, float rbc2, float beta1, float beta2, float eps, float decay)
{
    float gi = g[i];
    float mi = beta1 * m[i] + (1.0f - beta1) * gi;
    float vi = beta2 * v[i] + (1.0f - beta2) * gi * gi;
    float pi = p[i] - step * mi / (sqrtf(vi) / rbc2 + eps);
    m[i] = mi;
    v[i] = vi;
    p[i] = pi;
    polyak[i] = decay * polyak[i] + (1.0f - decay) * pi;
}

/* The host-side constants of one Adam call at step t (>= 1) at rate lr (the
 * class tables' rate is lr * mult, net.c): in double, then cast (cpu_adam's). */
static inline void km_adam_consts(float lr, float beta1, float beta2, uint64_t t, float *step,
                                  float *rbc2)
{
    double bc1 = 1.0 - pow(beta1, (double)t), bc2 = 1.0 - pow(beta2, (double)t);
    *step = (float)(lr / bc1);
    *rbc2 = (float)sqrt(bc2);
}

/* ---------------------------------------------------------- nccl_reduce.cu */

/* Element i of this rank's piece of a gradient sum: in holds every rank's piece (nranks x m,
 * rank r's at row r); out[i] = ((in[0][i] + in[1][i]) + in[2][i]) + ..., rank order, the
 * order of pcnn_dist_sum_floats (dist.c), so the two give the same bits (additions only:
 * nothing for nvcc to contract). */
KM_INLINE void km_sum_ranks(size_t i, float *out, const float *in, int nranks, size_t m)
{
    float s = in[i];
    for (int r = 1; r < nranks; r++) s += in[(size_t)r * m + i];
    out[i] = s;
}

/* ---------------------------------------------------------------- bf16.cu
 * The bf16 mode (PCNN_PRECISION=bf16, pcnn-fit --precision bf16 on the GPU): the
 * operands of the convolutions and 1x1 GEMMs are bfloat16, stored as uint16_t (the
 * upper 16 bits of the float: sign, 8 exponent bits, 7 mantissa bits), products summed
 * in fp32 by the tensor cores. One bf16 = one float rounded by km_bf16_round, whose
 * rule is the CPU's (nn_bf16_round in nn/nn_gemm_bf16.h, VCVTNEPS2BF16): round to
 * nearest, ties to even; a subnormal float to a zero of its sign; a NaN to a quiet NaN
 * (0x40 set) with its upper payload; +-inf stays; a finite float from 0x7f7f8000 up
 * rounds to inf (like the hardware). test_kernel_math checks it against
 * nn_bf16_round bit for bit over a stride through all 2^32 floats. */

KM_INLINE uint32_t km_f2u(float x)
{
#if defined(__CUDA_ARCH__)
    return __float_as_uint(x);
#else
    uint32_t u;
    memcpy(&u, &x, 4);
    return u;
#endif
}

KM_INLINE float km_u2f(uint32_t u)
{
#if defined(__CUDA_ARCH__)
    return __uint_as_float(u);
#else
    float x;
    memcpy(&x, &u, 4);
    return x;
#endif
}

KM_INLINE uint16_t km_bf16_round(float x)
{
    uint32_t u = km_f2u(x);
    if ((u & 0x7f800000u) == 0) u &= 0x80000000u;                                  /* daz */
    if ((u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((u >> 16) | 0x40u);     /* NaN */
    return (uint16_t)((u + 0x7fffu + ((u >> 16) & 1u)) >> 16);                   /* RNE */
}

/* The float a bf16 stands for: exact (its bits, then 16 zero bits). */
KM_INLINE float km_bf16_float(uint16_t h) { return km_u2f((uint32_t)h << 16); }

/* t over n: dst[t] = bf16(src[t]) (an activation or a gradient becomes a GEMM operand). */
KM_INLINE void km_to_bf16(size_t t, uint16_t *dst, const float *src)
{
    dst[t] = km_bf16_round(src[t]);
}

/* t over n: dst[t] = float(src[t]) (beta 0: dst is not read), or + beta dst[t]
 * (beta 1: a result accumulated as cuDNN's beta would; with beta = 1 the product is
 * exact, so nvcc's contraction into an FMA gives the host's bits). */
KM_INLINE void km_from_bf16(size_t t, float *dst, const uint16_t *src, float beta)
{
    float v = km_bf16_float(src[t]);
    dst[t] = beta == 0.0f ? v : v + beta * dst[t];
}

/* km_w_to_krsc with the result rounded to bf16: t over (K, RS, C), dst (K, RS, C) bf16
 * <- src (K, C, RS); and its way back, added: t over (K, C, RS), dst += src (K, RS, C). */
KM_INLINE void km_w_to_krsc_bf16(size_t t, uint16_t *dst, const float *src, int C, int RS)
{
    size_t c = t % C, rs = (t / C) % RS, k = t / ((size_t)C * RS);
    dst[t] = km_bf16_round(src[(k * C + c) * RS + rs]);
}

KM_INLINE void km_w_from_krsc_add_bf16(size_t t, float *dst, const uint16_t *src, int C, int RS)
{
    size_t rs = t % RS, c = (t / RS) % C, k = t / ((size_t)C * RS);
    dst[t] += km_bf16_float(src[(k * RS + rs) * C + c]);
}

/* km_concat_elu_fwd with the outputs rounded to bf16 (the gated block's conv_input and
 * nin_skip operands, written once in the precision the convolution reads). */
KM_INLINE void km_concat_elu_fwd_bf16(size_t t, uint16_t *out, km_pad pg, const float *a, int Ca,
                                      const float *b, int Cb)
{
    size_t o;
    float v = km_concat_elu_in(t, pg, a, Ca, b, Cb, &o);
    out[o] = km_bf16_round(km_elu(v));
    out[o + Ca + Cb] = km_bf16_round(km_elu(-v));
}

/* km_c1_finish_fwd with hd rounded to bf16 (conv_out's operand); c1 stays float (the
 * backward reads it). */
KM_INLINE void km_c1_finish_fwd_bf16(size_t t, float *c1, const float *b1, const float *b2,
                                     uint16_t *hd, km_pad pg, int F, const float *mask, size_t HW)
{
    float p, q;
    size_t o = km_c1_finish_vals(t, c1, b1, b2, pg, F, mask, HW, &p, &q);
    hd[o] = km_bf16_round(p);
    hd[o + F] = km_bf16_round(q);
}

/* t over n: out[t] = bf16(elu(x[t])) (nin_out's operand). */
KM_INLINE void km_elu_bf16(size_t t, uint16_t *out, const float *x)
{
    out[t] = km_bf16_round(km_elu(x[t]));
}

/* km_c1_finish_fwd_bf16 taking conv_input's result as cuDNN left it, in bf16 (conv, (rows, F)):
 * the widening pass fused in. c1 holds nin_skip's GEMM (acc = 1) or nothing (acc = 0):
 * v = (acc ? c1[t] + conv[t] : conv[t]) + b1 (+ b2), which is the unfused order (c1 =
 * float(conv), then c1 += GEMM: one addition, commutative) to the bit. */
KM_INLINE void km_c1_finish_fwd_bf16in(size_t t, float *c1, const uint16_t *conv, int acc,
                                       const float *b1, const float *b2, uint16_t *hd, km_pad pg,
                                       int F, const float *mask, size_t HW)
{
    float v = km_bf16_float(conv[t]);
    if (acc) v = c1[t] + v;
    c1[t] = v;
    km_c1_finish_fwd_bf16(t, c1, b1, b2, hd, pg, F, mask, HW);
}

/* km_gate_fwd reading conv_out's result in bf16 (c2in, (rows, 2F)) and writing c2 (float,
 * saved for backward) itself: the widening pass fused in, the same arithmetic. */
KM_INLINE void km_gate_fwd_bf16in(size_t t, float *out, const float *x, float *c2,
                                  const uint16_t *c2in, float *c2p, const float *b,
                                  const float *hw, const float *hs, const int32_t *labels,
                                  size_t HW, int F)
{
    size_t r = t / F;
    int k = (int)(t % F);
    float *c = c2 + r * 2 * F;
    const uint16_t *ci = c2in + r * 2 * F;
    c[k] = km_bf16_float(ci[k]);
    c[F + k] = km_bf16_float(ci[F + k]);
    km_gate_fwd(t, out, x, c2, c2p, b, hw, hs, labels, HW, F);
}

#endif
