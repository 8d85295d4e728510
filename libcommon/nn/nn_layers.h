/*
 * nn_layers.h — CPU primitives of the network (SPEC §3), NHWC activations.
 * Every backward ACCUMULATES (+=) into its gradient outputs (input gradients and
 * parameter gradients alike); callers zero them once per step. Weights are in
 * PyTorch's layout (params.h), so no conversion is ever needed:
 *   conv  W (Cout, Cin, kh, kw)  used as the GEMM matrix (Cout, Cin*kh*kw)
 *   deconv W (Cin, Cout, kh, kw) used as (Cin, Cout*kh*kw)
 *   linear W (Cout, Cin)
 * Convolutions are GEMMs over all N*H*W rows through the file's own GEMM
 * (nn_gemm.c): each output element is one fma chain in a fixed k order, so a
 * value never depends on the batch, a row window (the cached sampler) or the
 * thread count, which OpenBLAS does not promise. Stride-1 convs read the input
 * through per-tap pointers (no im2col), their weight gradients too when the input
 * channels are a multiple of 16 (nn_tap_wgrad: fp32 in either precision, the
 * same bits as the im2col GEMM; other widths build the im2col matrix); stride 2
 * and transposed convs use a workspace
 * matrix (the chunk is as large as the workspace allows).
 *
 *   nn_ws ws = nn_ws_make(pcnn_xmalloc(cap * sizeof(float)), cap);
 *   nn_conv_fwd(out, in, W, b, N, H, W_, Cin, Ho, Wo, Cout, kh, kw, stride, pt, pl, 0, &ws);
 */
#ifndef PCNN_NN_LAYERS_H
#define PCNN_NN_LAYERS_H

#include <stddef.h>
#include <stdint.h>

/* p[0..n) = 0, by all threads when n is large. */
void nn_zero(float *p, size_t n);

/* Scratch memory for im2col / col2im. */
typedef struct nn_ws {
    float *p;
    size_t cap;   /* floats */
} nn_ws;

/* Conv geometry. Output (Ho, Wo) from input (H, W): zero padding pt rows on top
 * and pl columns on the left (the right/bottom padding is implied by Ho, Wo):
 *   out[n,i,j,o] = b[o] + sum_{c,di,dj} in[n, i*s+di-pt, j*s+dj-pl, c] W[o,c,di,dj] */
typedef struct nn_conv_geom {
    int N, H, W, Cin, Ho, Wo, Cout, kh, kw, s, pt, pl;
} nn_conv_geom;

/* out (N,Ho,Wo,Cout) = conv(in) + b; accumulate: out += conv(in) + b instead. */
void nn_conv_fwd(float *out, const float *in, const float *W, const float *b,
                 const nn_conv_geom *g, int accumulate, nn_ws *ws);
/* din += dL/din (din may be NULL); dW += dL/dW; db += dL/db. */
void nn_conv_bwd(float *din, float *dW, float *db, const float *dout, const float *in,
                 const float *W, const nn_conv_geom *g, nn_ws *ws);
/* The same with din = dL/din: overwritten, so a fresh buffer needs no zeroing first
 * (the same bits as zeroing it and calling nn_conv_bwd: the chains start at +0). */
void nn_conv_bwd_set(float *din, float *dW, float *db, const float *dout, const float *in,
                     const float *W, const nn_conv_geom *g, nn_ws *ws);

/* Transposed conv, stride 2, output_padding 1 (PyTorch ConvTranspose2d), then crop
 * rows [0, 2H) and columns [coff, coff + 2W): out (N, 2H, 2W, Cout), in (N,H,W,Cin),
 * W (Cin, Cout, kh, kw):
 *   out[n,oi,oj,o] = b[o] + sum over 2i+di = oi, 2j+dj = oj+coff of in[n,i,j,c] W[c,o,di,dj] */
void nn_deconv_fwd(float *out, const float *in, const float *W, const float *b, int N, int H,
                   int Wd, int Cin, int Cout, int kh, int kw, int coff, nn_ws *ws);
void nn_deconv_bwd(float *din, float *dW, float *db, const float *dout, const float *in,
                   const float *W, int N, int H, int Wd, int Cin, int Cout, int kh, int kw,
                   int coff, nn_ws *ws);

/* Linear over rows: out (rows, Cout) = in (rows, Cin) W^T + b (or += with accumulate). */
void nn_linear_fwd(float *out, const float *in, const float *W, const float *b, size_t rows,
                   int Cin, int Cout, int accumulate);
void nn_linear_bwd(float *din, float *dW, float *db, const float *dout, const float *in,
                   const float *W, size_t rows, int Cin, int Cout);
/* din overwritten, as nn_conv_bwd_set. */
void nn_linear_bwd_set(float *din, float *dW, float *db, const float *dout, const float *in,
                       const float *W, size_t rows, int Cin, int Cout);

/* Weight norm (dim 0): W[r,:] = g[r] v[r,:] / ||v[r,:]||, rows x rowlen. */
void nn_weightnorm_fwd(float *W, const float *v, const float *g, size_t rows, size_t rowlen);
/* From dW: dg[r] += (dW.v)/n ; dv += (g/n) (dW - (dW.v / n^2) v), n = ||v[r,:]||. */
void nn_weightnorm_bwd(float *dv, float *dg, const float *dW, const float *v, const float *g,
                       size_t rows, size_t rowlen);

/* concat_elu of concat(a (Ca channels), b (Cb channels, may be NULL with Cb = 0)):
 * out (rows, 2(Ca+Cb)) = [elu(a), elu(b), elu(-a), elu(-b)]. */
void nn_concat_elu_fwd(float *out, const float *a, int Ca, const float *b, int Cb, size_t rows);
/* da += ..., db += ... (either may be NULL to skip). */
void nn_concat_elu_bwd(float *da, float *db, const float *dout, const float *a, int Ca,
                       const float *b, int Cb, size_t rows);
/* out = elu(x) ; dx += dout * elu'(x). n elements. */
void nn_elu_fwd(float *out, const float *x, size_t n);
void nn_elu_bwd(float *dx, const float *dout, const float *x, size_t n);

/* down_shift: out[n,i] = in[n,i-1], row 0 zero. right_shift: out[n,i,j] = in[n,i,j-1],
 * column 0 zero. accumulate: out += instead of =. bwd: din += shifted-back dout. */
void nn_down_shift(float *out, const float *in, int N, int H, int W, int C, int accumulate);
void nn_down_shift_bwd(float *din, const float *dout, int N, int H, int W, int C);
void nn_right_shift(float *out, const float *in, int N, int H, int W, int C, int accumulate);
void nn_right_shift_bwd(float *din, const float *dout, int N, int H, int W, int C);

/* Channel dropout (Dropout2d p = 0.5): mask (N, C) of 0 or 2 from rng.h,
 * keyed by (seed, step, block, n, c); n = pcnn_dropout_image (rng.h). x (N, HW, C) *= mask
 * in place. */
void nn_dropout_mask(float *mask, int N, int C, uint64_t seed, uint64_t step, uint64_t block,
                     uint64_t rep, uint64_t nrep, uint64_t img0);
void nn_dropout_apply(float *x, const float *mask, int N, size_t HW, int C);

/* Gate: out = x + c2[:F] * sigmoid(c2[F:]) per pixel; c2 (rows, 2F).
 * bwd: dx += dout; dc2 = dL/dc2 (overwritten). */
void nn_gate_fwd(float *out, const float *x, const float *c2, size_t rows, int F);
void nn_gate_bwd(float *dx, float *dc2, const float *dout, const float *c2, size_t rows, int F);

/* Class term: c2[n, p, :] += hw[labels[n], :] ; bwd dhw[labels[n]] += sum_p dc2[n,p,:]. */
void nn_class_fwd(float *c2, const float *hw, const int32_t *labels, int N, size_t HW, int C);
void nn_class_bwd(float *dhw, const float *dc2, const int32_t *labels, int N, size_t HW, int C);

/* Film class term (SPEC §3b), c2 (N, HW, C), hs and hw (K, C):
 *   c2p = c2 (saved for the backward);  c2[n,p,:] = c2p[n,p,:] (1 + hs[y_n,:]) + hw[y_n,:]
 * With hs = 0 the result is nn_class_fwd's to the bit (c2p * 1 + hw).
 * bwd, from dc2 = dL/dc2 (after the term; dhw is nn_class_bwd's):
 *   dhs[y_n,:] += sum_p dc2[n,p,:] c2p[n,p,:]   (one chain per element, images then
 *   pixels in order);  then dc2 *= (1 + hs[y_n,:]) in place: dL/dc2p. */
void nn_film_fwd(float *c2, float *c2p, const float *hs, const float *hw, const int32_t *labels,
                 int N, size_t HW, int C);
void nn_film_bwd(float *dhs, float *dc2, const float *c2p, const float *hs,
                 const int32_t *labels, int N, size_t HW, int C);

/* Network input (SPEC §3, §3b): xin (N, h, w, 4) = concat(x + class_map[y_n], 1) with
 * x (N, h, w, 3) the window at rows [r0, r0 + h), columns [c0, c0 + w) of the
 * image; cmap (K, 3, Hc, Wc) in PyTorch layout, or NULL for concat(x, 1).
 * bwd: dcmap[y, c, i, j] += sum over images n with label y, in order, of
 * dxin[n, i, j, c] (c < 3), whole images (N, H, W, 4). */
void nn_input_fwd(float *xin, const float *x, const float *cmap, const int32_t *labels, int N,
                  int h, int w, int Hc, int Wc, int r0, int c0);
void nn_class_map_bwd(float *dcmap, const float *dxin, const int32_t *labels, int N, int H,
                      int W);

#endif
