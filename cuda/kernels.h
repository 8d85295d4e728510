/*
 * kernels.h — host launchers of the CUDA kernels of the backend, one .cu per
 * op family, named after the CPU primitives in libcommon/nn/nn_layers.h. All run
 * on stream s, NHWC, float32; "acc" means += into the output, else =.
 *
 * Padded buffers: a stride-1 shifted conv reads its input from an explicitly
 * zero-padded copy (cuDNN pads symmetrically only; SPEC §3 pads top kh-1,
 * left pl, right pr, bottom 0). pad_geom names the interior of such a buffer:
 * (N, h + pt, w + pl + pr, C) with the data at rows [pt, pt+h), columns
 * [pl, pl+w). The borders are zeroed once at allocation and never written, so
 * a kernel that writes the interior leaves a valid padded tensor.
 *
 * The kernels' per-element bodies are in kernel_math.h (host-tested).
 */
#ifndef PCNN_CUDA_KERNELS_H
#define PCNN_CUDA_KERNELS_H

#include "kernel_math.h"

#include <cuda_runtime.h>
#include <stddef.h>
#include <stdint.h>

struct pad_geom : km_pad {
    __host__ __device__ int hp() const { return h + pt; }
    __host__ __device__ int wp() const { return w + pl + pr; }
    /* Row index (pixel) in the padded buffer of interior pixel r = (n*h + i)*w + j. */
    __host__ __device__ size_t prow(size_t r) const { return km_prow(*this, r); }
    size_t rows() const { return (size_t)N * h * w; }
    size_t prows() const { return (size_t)N * hp() * wp(); }
};

static inline pad_geom pad_none(int N, int h, int w)
{
    pad_geom g;
    g.N = N;
    g.h = h;
    g.w = w;
    g.pt = g.pl = g.pr = 0;
    return g;
}

/* ---- concat_elu.cu ---- */
/* out (padded pg, 2(Ca+Cb) channels) = [elu(a), elu(b), elu(-a), elu(-b)] (SPEC §3). */
void cu_concat_elu_fwd(cudaStream_t s, float *out, pad_geom pg, const float *a, int Ca,
                       const float *b, int Cb);
/* da (acc) += d/da, db (acc) += d/db of the above from dout (padded pg); mask
 * (N, 2(Ca+Cb)) or NULL multiplies dout first (dropout backward). */
void cu_concat_elu_bwd(cudaStream_t s, float *da, float *db, const float *dout, pad_geom pg,
                       const float *a, int Ca, const float *b, int Cb, const float *mask);
/* Gated block middle: c1 += b1 (+ b2) in place (c1 (rows, F)); then
 * hd (padded pg, 2F) = concat_elu(c1) * mask[n] (mask (N, 2F) or NULL). */
void cu_c1_finish_fwd(cudaStream_t s, float *c1, const float *b1, const float *b2, float *hd,
                      pad_geom pg, int F, const float *mask);
/* out = elu(x); dx (acc) += dout * elu'(x). n elements. */
void cu_elu_fwd(cudaStream_t s, float *out, const float *x, size_t n);
void cu_elu_bwd(cudaStream_t s, float *dx, const float *dout, const float *x, size_t n);

/* ---- gate.cu: gate, class term, dropout mask, bias and class reductions ---- */
/* c2 (rows, 2F) += b + hw[labels[n]] in place; out = x + c2[:F] * sigmoid(c2[F:]).
 * Film (hs (K, 2F) not NULL, SPEC §3b): c2p = c2 + b (saved), then
 * c2 = c2p (1 + hs[labels[n]]) + hw[labels[n]] (nn_film_fwd). */
void cu_gate_fwd(cudaStream_t s, float *out, const float *x, float *c2, float *c2p,
                 const float *b, const float *hw, const float *hs, const int32_t *labels, int N,
                 size_t HW, int F);
/* Film backward (nn_film_bwd), c2p, dc2, prod (N, HW, C): prod = dc2 * c2p (its
 * per-image column sums go to d hs by cu_image_colsum + cu_colsum_finish), then
 * dc2 *= (1 + hs[labels[n]]) in place. */
void cu_film_bwd(cudaStream_t s, float *prod, float *dc2, const float *c2p, const float *hs,
                 const int32_t *labels, int N, size_t HW, int C);
/* dx (acc) += dout; dc2 (=) = d/dc2. */
void cu_gate_bwd(cudaStream_t s, float *dx, float *dc2, const float *dout, const float *c2,
                 size_t rows, int F);
/* mask (N, C) = 0 or 2 (Dropout2d p = 1/2), the same pure function as nn_dropout_mask
 * (rows keyed by pcnn_dropout_image(n, rep, nrep), rng.h). */
void cu_dropout_mask(cudaStream_t s, float *mask, int N, int C, uint64_t seed, uint64_t step,
                     uint64_t block, uint64_t rep, uint64_t nrep, uint64_t img0);
/* The same with the step in device memory (*step, read by the kernel: graph replays). */
void cu_dropout_mask_dev(cudaStream_t s, float *mask, int N, int C, uint64_t seed,
                         const uint64_t *step, uint64_t block, uint64_t rep, uint64_t nrep,
                         uint64_t img0);
/* partial (N, C) = per-image column sums of x (N, HW, C). Fixed order: deterministic. */
void cu_image_colsum(cudaStream_t s, float *partial, const float *x, int N, size_t HW, int C);
/* db (acc) += sum_n partial[n, :] (db may be NULL); db2 likewise (a second bias
 * with the same gradient); dhw (acc, may be NULL) [labels[n], :] += partial[n, :]. */
void cu_colsum_finish(cudaStream_t s, float *db, float *db2, float *dhw, const int32_t *labels,
                      const float *partial, int N, int C);
/* out (rows, C) (= or acc) b broadcast over rows. */
void cu_bias_rows(cudaStream_t s, float *out, const float *b, size_t rows, int C, int acc);

/* ---- shift.cu ---- */
/* xin (padded pg, 4 channels) interior = concat(x (N,h,w,3), 1), or with cmap
 * (K, 3, Hc, Wc) concat(x + cmap[labels[n]] at rows r0 + i, columns c0 + j, 1)
 * (nn_input_fwd). */
void cu_input_pad(cudaStream_t s, float *xin, pad_geom pg, const float *x, const float *cmap,
                  const int32_t *labels, int Hc, int Wc, int r0, int c0);
/* The same with (r0, c0) = (rc[0], rc[1]) read from device memory when it runs (the
 * cached sampler's position table). */
void cu_input_pad_dev(cudaStream_t s, float *xin, pad_geom pg, const float *x, const float *cmap,
                      const int32_t *labels, int Hc, int Wc, const uint64_t *rc);
/* dcmap (K, 3, H, W) (acc) [labels[n], c, i, j] += dxin[n, i, j, c], c < 3,
 * images in order (nn_class_map_bwd). dxin (N, H, W, 4). */
void cu_class_map_bwd(cudaStream_t s, float *dcmap, const float *dxin, const int32_t *labels,
                      int N, int H, int W);
/* dst (padded pg, C) interior = src (N,h,w,C). */
void cu_pad_copy(cudaStream_t s, float *dst, pad_geom pg, const float *src, int C);
/* din (N,h,w,C) += interior of dpad (padded pg). */
void cu_unpad_add(cudaStream_t s, float *din, const float *dpad, pad_geom pg, int C);
/* For n < N, r < rows, k < len: dst[n dn + r dr + k] = src[n sn + r sr + k] (floats;
 * the backend's copy_block: the cached sampler's window gathers and scatters). */
void cu_copy_block(cudaStream_t s, float *dst, size_t dn, size_t dr, const float *src, size_t sn,
                   size_t sr, int N, int rows, size_t len);
/* One launch of ne such copies, entry q = e..e+ne-1 of the device table tab (two words:
 * dst's and src's addresses, the cached sampler's position table; km_copy_table). */
void cu_copy_table(cudaStream_t s, const uint64_t *tab, int e, int ne, size_t dn, size_t dr,
                   size_t sn, size_t sr, int N, int rows, size_t len);
/* out[n,i,j] (= or acc) t[n,i-dy,j-dx] + b, zero where i < dy or j < dx
 * (down_shift: dy = 1, right_shift: dx = 1). (N,H,W,C). */
void cu_shift_bias(cudaStream_t s, float *out, const float *t, const float *b, int N, int H,
                   int W, int C, int dy, int dx, int acc);
/* dt[n,i,j] = d[n,i+dy,j+dx], zero past the edge (backward of the shift). */
void cu_unshift(cudaStream_t s, float *dt, const float *d, int N, int H, int W, int C, int dy,
                int dx);

/* ---- weightnorm.cu ---- */
/* Rows of every weight-normalised layer, flattened (built once per backend). */
struct wn_rows {
    size_t n;                 /* rows */
    const size_t *v;          /* device: offset of row r of v (and of W) */
    const size_t *g;          /* device: offset of g[r] */
    const int *len;           /* device: row length */
};
/* wp[v-row] = g v / ||v|| for every row (wp's other slots untouched). */
void cu_wn_fwd(cudaStream_t s, float *wp, const float *params, wn_rows rows);
/* grads[v-row] = (g/n)(dW - (dW.v / n^2) v), grads[g] = dW.v / n, dW = gp[v-row]
 * (overwritten; the other slots untouched). */
void cu_wn_bwd(cudaStream_t s, float *grads, const float *gp, const float *params, wn_rows rows);
/* dst (K, RS, C) = src (K, C, RS): PyTorch filter layout to cuDNN NHWC (KRSC). */
void cu_w_to_krsc(cudaStream_t s, float *dst, const float *src, int K, int C, int RS);
/* dst (K, C, RS) += src (K, RS, C). */
void cu_w_from_krsc_add(cudaStream_t s, float *dst, const float *src, int K, int C, int RS);

/* ---- dmol.cu ---- */
/* lp (rows) = log p(pixel) (SPEC §4, the float32 code of nn_dmol.c); dl (rows,
 * 10M, may be NULL) = scale * d lp / d logits (overwritten). */
void cu_dmol(cudaStream_t s, float *lp, float *dl, const float *logits, const float *x,
             size_t rows, int M, float scale);
/* ll (N doubles) = sum over HW of lp[n, :], in double, fixed order. */
void cu_image_sum(cudaStream_t s, double *ll, const float *lp, int N, size_t HW);

/* ---- adam.cu ---- */
/* Adam (PyTorch, step = lr / (1 - b1^t), rbc2 = sqrt(1 - b2^t)) then Polyak, n floats. */
void cu_adam(cudaStream_t s, float *p, const float *g, float *m, float *v, float *polyak,
             size_t n, float step, float rbc2, float beta1, float beta2, float eps, float decay);

/* ---- bf16.cu: the bf16 mode's operands (uint16_t = bfloat16 bits, kernel_math.h) ---- */
/* dst (n) = bf16(src); dst (n) = float(src) (+ beta dst, beta 0 or 1; 0: dst not read). */
void cu_to_bf16(cudaStream_t s, uint16_t *dst, const float *src, size_t n);
void cu_from_bf16(cudaStream_t s, float *dst, const uint16_t *src, float beta, size_t n);
/* cu_w_to_krsc / cu_w_from_krsc_add with a bf16 filter on the NHWC (KRSC) side. */
void cu_w_to_krsc_bf16(cudaStream_t s, uint16_t *dst, const float *src, int K, int C, int RS);
void cu_w_from_krsc_add_bf16(cudaStream_t s, float *dst, const uint16_t *src, int K, int C,
                             int RS);
/* cu_concat_elu_fwd and cu_c1_finish_fwd writing their padded outputs in bf16 (c1 stays
 * float); out (n) = bf16(elu(x)). */
void cu_concat_elu_fwd_bf16(cudaStream_t s, uint16_t *out, pad_geom pg, const float *a, int Ca,
                            const float *b, int Cb);
void cu_c1_finish_fwd_bf16(cudaStream_t s, float *c1, const float *b1, const float *b2,
                           uint16_t *hd, pad_geom pg, int F, const float *mask);
void cu_elu_bf16(cudaStream_t s, uint16_t *out, const float *x, size_t n);
/* The same two with conv_input's / conv_out's bf16 result read directly (the widening pass
 * fused in): c1 = (acc ? c1 + conv : conv) + biases, then as cu_c1_finish_fwd_bf16; c2 =
 * float(c2in), then as cu_gate_fwd. */
void cu_c1_finish_fwd_bf16in(cudaStream_t s, float *c1, const uint16_t *conv, int acc,
                             const float *b1, const float *b2, uint16_t *hd, pad_geom pg, int F,
                             const float *mask);
void cu_gate_fwd_bf16in(cudaStream_t s, float *out, const float *x, float *c2, const uint16_t *c2in,
                        float *c2p, const float *b, const float *hw, const float *hs,
                        const int32_t *labels, int N, size_t HW, int F);

#endif
