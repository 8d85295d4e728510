/* nn_layers.c — CPU primitives (see nn_layers.h for shapes and semantics). */
#include "nn/nn_layers.h"
#include "nn/nn_prof.h"

#include "nn/nn_gemm.h"
#include "nn/nn_isa.h"
#include "nn/nn_scratch.h"
#include "nn/nn_vmath.h"
#include "rng.h"
#include "util.h"

/* Every rounding step here is explicit (fmaf/_mm256_fmadd_* where a fused
 * multiply-add is meant): never let the compiler contract a*b+c on its own, or
 * the SIMD and scalar paths (and builds with other flags) would differ. -std=c11
 * already implies this for GCC; the pragmas keep it so under other flags. */
#if defined(__clang__)
#pragma clang fp contract(off)
#elif defined(__GNUC__)
#pragma GCC optimize("fp-contract=off")
#endif

#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <stdint.h>
#include <string.h>

/* Columns per thread share in the column-parallel sums below. */
#define COLS 16

/* db[c] += sum over rows of x[r, c], rows in order (deterministic); the threads
 * take blocks of columns, so each sum is still one chain in row order. */
static void colsum_add(float *db, const float *x, size_t rows, int C)
{
    if (!db) return;
#pragma omp parallel for schedule(static)
    for (int c0 = 0; c0 < C; c0 += COLS)
        nn_colsum_rows(db, x, (size_t)C, 0, rows, c0, c0 + COLS < C ? c0 + COLS : C);
}

static void fill_bias(float *out, const float *b, size_t rows, int C, int accumulate)
{
    if (!accumulate) {
        if (b) {
#pragma omp parallel for schedule(static)
            for (size_t r = 0; r < rows; r++) memcpy(out + r * (size_t)C, b, (size_t)C * sizeof *b);
        } else {
            memset(out, 0, rows * (size_t)C * sizeof *out);
        }
    } else if (b) {
#pragma omp parallel for schedule(static)
        for (size_t r = 0; r < rows; r++)
            for (int c = 0; c < C; c++) out[r * (size_t)C + c] += b[c];
    }
}

/* Weight copies in GEMM-friendly layouts go to this thread's layout scratch. */
static float *scratch(size_t n) { return nn_scratch(NN_SCRATCH_LAYOUT, n); }

/* ---------------------------------------------------------------------------
 * Convolutions. The GEMM's k runs over the kernel taps in (di, dj, c) order, so
 * a row of the im2col matrix is kh*kw contiguous copies of input pixels (NHWC)
 * and the weights are laid out once per call to match:
 *   Wt (Kc, Cout): Wt[(di*kw + dj)*Cin + c, o] = W[o, c, di, dj]   (forward)
 *   Wp (Cout, Kc): Wp[o, (di*kw + dj)*Cin + c] = W[o, c, di, dj]   (backward) */

/* Weight gradients without the im2col copy (nn_tap_wgrad) where the input channels
 * fill whole panels (up to 1024 of them); otherwise im2col and nn_gemm (in fp32 the same bits, nn_gemm.h).
 * nn_tap_wgrad is fp32 in either precision: in bf16 training it is both faster (no
 * transposed A to convert and pack) and exact, so the weight gradients it takes
 * stay fp32. PCNN_IM2COL_WGRAD (set: any value) forces the im2col path, for tests
 * and timing. */
static int implicit_wgrad(int Cin)
{
    return Cin % NN_GEMM_NR == 0 && Cin <= NN_TAP_WGRAD_MAX_C && getenv("PCNN_IM2COL_WGRAD") == NULL;
}

/* Images per chunk so that per_img floats each fit the workspace. */
static int chunk_images(const nn_ws *ws, size_t per_img, int N)
{
    size_t k = ws->cap / (per_img ? per_img : 1);
    if (k < 1) pcnn_die("internal error: workspace of %zu floats < %zu for one image", ws->cap, per_img);
    return k >= (size_t)N ? N : (int)k;
}

/* The same for a weight gradient, whose GEMM sums over the rows of every image
 * (rows_per_img each) in one chain cut at the chunks (beta = 1 after the first).
 * In bf16 that chain takes k in pairs counted from each call's first row
 * (nn_gemm.h), so a chunk of an odd number of rows would pair them otherwise than
 * one call over all: there every chunk but the last holds an even number of rows,
 * and the gradient does not depend on the workspace (nor on the net's max batch,
 * which sizes it). fp32 chains do not care. */
static int wgrad_chunk_images(const nn_ws *ws, size_t per_img, int N, size_t rows_per_img)
{
    int k = chunk_images(ws, per_img, N);
    if (nn_precision() == PCNN_PREC_BF16 && k < N && k % 2 && rows_per_img % 2) {
        if (k == 1)
            pcnn_die("internal error: workspace of %zu floats < %zu for the two images a bf16 "
                     "weight gradient needs", ws->cap, 2 * per_img);
        k--;
    }
    return k;
}

static int is_pointwise(const nn_conv_geom *g)
{
    return g->kh == 1 && g->kw == 1 && g->s == 1 && g->pt == 0 && g->pl == 0 && g->Ho == g->H &&
           g->Wo == g->W;
}

/* col (nb*Ho*Wo, kh*kw*Cin): col[(n,i,j), (di*kw + dj)*Cin + c] = in[n, i*s+di-pt, j*s+dj-pl, c] or 0. */
static void im2col(float *col, const float *in, int nb, const nn_conv_geom *g)
{
    const int Cin = g->Cin, kh = g->kh, kw = g->kw;
    const size_t Kc = (size_t)Cin * kh * kw, cb = (size_t)Cin * sizeof(float);
#pragma omp parallel for schedule(static)
    for (int ni = 0; ni < nb * g->Ho; ni++) {
        int n = ni / g->Ho, i = ni % g->Ho;
        for (int j = 0; j < g->Wo; j++) {
            float *c = col + ((size_t)ni * g->Wo + j) * Kc;
            for (int di = 0; di < kh; di++) {
                int ii = i * g->s + di - g->pt;
                for (int dj = 0; dj < kw; dj++, c += Cin) {
                    int jj = j * g->s + dj - g->pl;
                    if (ii < 0 || ii >= g->H || jj < 0 || jj >= g->W)
                        memset(c, 0, cb);
                    else
                        memcpy(c, in + (((size_t)n * g->H + ii) * g->W + jj) * Cin, cb);
                }
            }
        }
    }
}

/* din += col2im(dcol): each input pixel gathers the columns that read it, taps in (di, dj) order. */
static void col2im_add(float *din, const float *col, int nb, const nn_conv_geom *g)
{
    const int Cin = g->Cin, kh = g->kh, kw = g->kw, s = g->s;
    const size_t Kc = (size_t)Cin * kh * kw;
#pragma omp parallel for schedule(static)
    for (int ni = 0; ni < nb * g->H; ni++) {
        int n = ni / g->H, ii = ni % g->H;
        for (int jj = 0; jj < g->W; jj++) {
            float *d = din + ((size_t)ni * g->W + jj) * Cin;
            for (int di = 0; di < kh; di++) {
                int t = ii + g->pt - di;
                if (t < 0 || t % s) continue;
                int io = t / s;
                if (io >= g->Ho) continue;
                for (int dj = 0; dj < kw; dj++) {
                    int u = jj + g->pl - dj;
                    if (u < 0 || u % s) continue;
                    int jo = u / s;
                    if (jo >= g->Wo) continue;
                    const float *c = col + (((size_t)n * g->Ho + io) * g->Wo + jo) * Kc +
                                     (size_t)(di * kw + dj) * Cin;
                    for (int ci = 0; ci < Cin; ci++) d[ci] += c[ci];
                }
            }
        }
    }
}

static void linear_fwd_body(float *out, const float *in, const float *W, const float *b,
                            size_t rows, int Cin, int Cout, int accumulate);
static void linear_bwd_body(float *din, float *dW, float *db, const float *dout, const float *in,
                            const float *W, size_t rows, int Cin, int Cout, int din_set);

static size_t round_nr(int n) { return ((size_t)n + NN_GEMM_NR - 1) / NN_GEMM_NR * NN_GEMM_NR; }

static void conv_fwd_body(float *out, const float *in, const float *W, const float *b,
                 const nn_conv_geom *g, int accumulate, nn_ws *ws)
{
    const int kk = g->kh * g->kw, Cin = g->Cin, Cout = g->Cout;
    const size_t Kc = (size_t)Cin * kk;
    const size_t opix = (size_t)g->Ho * g->Wo, ipix = (size_t)g->H * g->W;
    if (is_pointwise(g)) {
        linear_fwd_body(out, in, W, b, (size_t)g->N * opix, g->Cin, g->Cout, accumulate);
        return;
    }
    if (g->s == 1 && kk <= 64) {
        /* implicit GEMM: Wt (Kc, ldb) zero padded to whole panels, then a zero pixel */
        size_t ldb = round_nr(Cout);
        float *Wt = scratch(Kc * ldb + (size_t)Cin), *zero = Wt + Kc * ldb;
        memset(Wt, 0, (Kc * ldb + (size_t)Cin) * sizeof *Wt);
#pragma omp parallel for schedule(static)
        for (int o = 0; o < Cout; o++)
            for (int c = 0; c < Cin; c++)
                for (int q = 0; q < kk; q++) Wt[((size_t)q * Cin + c) * ldb + o] = W[((size_t)o * Cin + c) * kk + q];
        nn_tapmap m = {in, Cin, g->H, g->W, g->Ho, g->Wo, g->kh, g->kw, -g->pt, -g->pl, -1};
        fill_bias(out, b, (size_t)g->N * opix, Cout, accumulate);
        nn_tap_gemm(&m, (int)((size_t)g->N * opix), Cout, Cin, Wt, ldb, out, Cout, 1, zero);
        return;
    }
    float *Wt = scratch(Kc * Cout);   /* (Kc, Cout) */
#pragma omp parallel for schedule(static)
    for (int o = 0; o < Cout; o++)
        for (int c = 0; c < Cin; c++)
            for (int q = 0; q < kk; q++) Wt[((size_t)q * Cin + c) * Cout + o] = W[((size_t)o * Cin + c) * kk + q];
    int chunk = chunk_images(ws, opix * Kc, g->N);
    for (int n0 = 0; n0 < g->N; n0 += chunk) {
        int nb = g->N - n0 < chunk ? g->N - n0 : chunk;
        size_t rows = (size_t)nb * opix;
        float *o = out + (size_t)n0 * opix * Cout;
        im2col(ws->p, in + (size_t)n0 * ipix * Cin, nb, g);
        fill_bias(o, b, rows, Cout, accumulate);
        nn_gemm((int)rows, Cout, (int)Kc, ws->p, Kc, 1, Wt, Cout, o, Cout, 1);
    }
}

/* din_set: din is overwritten (the caller need not zero it), else accumulated.
 * Returns 1 when the weight gradient ran as nn_tap_wgrad (fp32 in either precision). */
static int conv_bwd_body(float *din, float *dW, float *db, const float *dout, const float *in,
                 const float *W, const nn_conv_geom *g, nn_ws *ws, int din_set)
{
    const int kk = g->kh * g->kw, Cin = g->Cin, Cout = g->Cout;
    const size_t Kc = (size_t)Cin * kk;
    const size_t opix = (size_t)g->Ho * g->Wo, ipix = (size_t)g->H * g->W;
    if (is_pointwise(g)) {
        linear_bwd_body(din, dW, db, dout, in, W, (size_t)g->N * opix, g->Cin, g->Cout, din_set);
        return 0;
    }
    const int implicit = g->s == 1 && kk <= 64, tap_wgrad = implicit && implicit_wgrad(Cin);
    /* Wp (Cout, Kc) and dWt (Kc, Cout), tap-major; then room for the implicit din's weights */
    float *Wp = scratch(2 * Kc * Cout + (size_t)kk * Cout * round_nr(Cin) + (size_t)Cout), *dWt = Wp + Kc * Cout;
    if (tap_wgrad) {
        /* dWc (Cout, Kc) = dO^T col, col never made, db on the way (nn_tap_wgrad) */
        float *dWc = dWt;
        nn_tapmap m = {in, Cin, g->H, g->W, g->Ho, g->Wo, g->kh, g->kw, -g->pt, -g->pl, -1};
        nn_tap_wgrad(&m, (int)((size_t)g->N * opix), Cout, Cin, dout, Cout, dWc, Kc, 0, db);
#pragma omp parallel for schedule(static)
        for (int o = 0; o < Cout; o++)
            for (int c = 0; c < Cin; c++)
                for (int q = 0; q < kk; q++)
                    dW[((size_t)o * Cin + c) * kk + q] += dWc[(size_t)o * Kc + (size_t)q * Cin + c];
    } else {
        colsum_add(db, dout, (size_t)g->N * opix, Cout);
        if (din && !implicit) {   /* din through dcol and col2im, which adds */
            if (din_set) nn_zero(din, (size_t)g->N * ipix * Cin);
#pragma omp parallel for schedule(static)
            for (int o = 0; o < Cout; o++)
                for (int c = 0; c < Cin; c++)
                    for (int q = 0; q < kk; q++) Wp[(size_t)o * Kc + (size_t)q * Cin + c] = W[((size_t)o * Cin + c) * kk + q];
        }
        int chunk = wgrad_chunk_images(ws, opix * Kc, g->N, opix);
        for (int n0 = 0; n0 < g->N; n0 += chunk) {
            int nb = g->N - n0 < chunk ? g->N - n0 : chunk;
            size_t rows = (size_t)nb * opix;
            const float *dO = dout + (size_t)n0 * opix * Cout;
            /* dWt (Kc, Cout) += col^T (Kc, rows) dO (rows, Cout): one chain over all images.
             * (This way round the GEMM's long side is Kc and its B panels are dO's rows.) */
            im2col(ws->p, in + (size_t)n0 * ipix * Cin, nb, g);
            nn_gemm((int)Kc, Cout, (int)rows, ws->p, 1, Kc, dO, Cout, dWt, Cout, n0 > 0);
            if (din && !implicit) {
                /* dcol (rows, Kc) = dO (rows, Cout) Wp (Cout, Kc) */
                nn_gemm((int)rows, (int)Kc, Cout, dO, Cout, 1, Wp, Kc, ws->p, Kc, 0);
                col2im_add(din + (size_t)n0 * ipix * Cin, ws->p, nb, g);
            }
        }
#pragma omp parallel for schedule(static)
        for (int o = 0; o < Cout; o++)
            for (int c = 0; c < Cin; c++)
                for (int q = 0; q < kk; q++)
                    dW[((size_t)o * Cin + c) * kk + q] += dWt[((size_t)q * Cin + c) * Cout + o];
    }
    if (din && implicit) {
        NN_PROF_BEGIN;
        /* din[n,i,j,c] += sum over taps q = (di,dj), o of dout[n, i+pt-di, j+pl-dj, o] W[o,c,di,dj]:
         * implicit GEMM, B = Wb (kk*Cout, ldb): Wb[q*Cout + o, c] = W[o, c, q]; k = (q, o). */
        size_t ldb = round_nr(Cin);
        float *Wb = dWt + Kc * Cout, *zero = Wb + (size_t)kk * Cout * ldb;
        memset(Wb, 0, ((size_t)kk * Cout * ldb + (size_t)Cout) * sizeof *Wb);
#pragma omp parallel for schedule(static)
        for (int o = 0; o < Cout; o++)
            for (int c = 0; c < Cin; c++)
                for (int q = 0; q < kk; q++) Wb[((size_t)q * Cout + o) * ldb + c] = W[((size_t)o * Cin + c) * kk + q];
        nn_tapmap m = {dout, Cout, g->Ho, g->Wo, g->H, g->W, g->kh, g->kw, g->pt, g->pl, 1};
        nn_tap_gemm(&m, (int)((size_t)g->N * ipix), Cin, Cout, Wb, ldb, din, Cin, !din_set, zero);
        NN_PROF_END(NN_PROF_CONV_DGRAD, 2.0 * (double)g->N * opix * Cout * Kc,
                    4.0 * ((double)g->N * (opix * Cout + ipix * Cin) + (double)Cout * Kc));
    }
    return tap_wgrad;
}

/* Deconv: Y (rows, kh*kw*Cout) = X (rows, Cin) Wd, Wd (Cin, Kd) tap-major:
 * Wd[c, (di*kw + dj)*Cout + o] = W[c, o, di, dj]. */
static void deconv_fwd_body(float *out, const float *in, const float *W, const float *b, int N, int H,
                   int Wd, int Cin, int Cout, int kh, int kw, int coff, nn_ws *ws)
{
    const int kk = kh * kw, Ho = 2 * H, Wo = 2 * Wd;
    const size_t Kd = (size_t)Cout * kk, ipix = (size_t)H * Wd, opix = (size_t)Ho * Wo;
    float *Wt = scratch((size_t)Cin * Kd);
#pragma omp parallel for schedule(static)
    for (int c = 0; c < Cin; c++)
        for (int o = 0; o < Cout; o++)
            for (int q = 0; q < kk; q++) Wt[(size_t)c * Kd + (size_t)q * Cout + o] = W[((size_t)c * Cout + o) * kk + q];
    int chunk = chunk_images(ws, ipix * Kd, N);
    for (int n0 = 0; n0 < N; n0 += chunk) {
        int nb = N - n0 < chunk ? N - n0 : chunk;
        size_t rows = (size_t)nb * ipix;
        const float *Y = ws->p;
        nn_gemm((int)rows, (int)Kd, Cin, in + (size_t)n0 * ipix * Cin, Cin, 1, Wt, Kd, ws->p, Kd, 0);
#pragma omp parallel for schedule(static)
        for (int ni = 0; ni < nb * Ho; ni++) {
            int n = ni / Ho, oi = ni % Ho;
            for (int oj = 0; oj < Wo; oj++) {
                float *o = out + ((size_t)(n0 + n) * opix + (size_t)oi * Wo + oj) * Cout;
                for (int c = 0; c < Cout; c++) o[c] = b ? b[c] : 0.0f;
                for (int di = 0; di < kh; di++) {
                    int i2 = oi - di;
                    if (i2 < 0 || (i2 & 1) || i2 / 2 >= H) continue;
                    for (int dj = 0; dj < kw; dj++) {
                        int j2 = oj + coff - dj;
                        if (j2 < 0 || (j2 & 1) || j2 / 2 >= Wd) continue;
                        const float *y = Y + (((size_t)n * H + i2 / 2) * Wd + j2 / 2) * Kd +
                                         (size_t)(di * kw + dj) * Cout;
                        for (int c = 0; c < Cout; c++) o[c] += y[c];
                    }
                }
            }
        }
    }
}

static void deconv_bwd_body(float *din, float *dW, float *db, const float *dout, const float *in,
                   const float *W, int N, int H, int Wd, int Cin, int Cout, int kh, int kw,
                   int coff, nn_ws *ws)
{
    const int kk = kh * kw, Ho = 2 * H, Wo = 2 * Wd;
    const size_t Kd = (size_t)Cout * kk, ipix = (size_t)H * Wd, opix = (size_t)Ho * Wo;
    colsum_add(db, dout, (size_t)N * opix, Cout);
    /* WT (Kd, Cin): WT[(di*kw + dj)*Cout + o, c] = W[c, o, di, dj]; dWt (Kd, Cin) likewise */
    float *WT = scratch(2 * (size_t)Cin * Kd), *dWt = WT + (size_t)Cin * Kd;
#pragma omp parallel for schedule(static)
    for (int c = 0; c < Cin; c++)
        for (int o = 0; o < Cout; o++)
            for (int q = 0; q < kk; q++) WT[((size_t)q * Cout + o) * Cin + c] = W[((size_t)c * Cout + o) * kk + q];
    int chunk = wgrad_chunk_images(ws, ipix * Kd, N, ipix);
    for (int n0 = 0; n0 < N; n0 += chunk) {
        int nb = N - n0 < chunk ? N - n0 : chunk;
        size_t rows = (size_t)nb * ipix;
        float *dY = ws->p;
        /* dY[(n,i,j), (di*kw + dj)*Cout + c] = dout[n, 2i+di, 2j+dj-coff, c] inside the crop, else 0 */
#pragma omp parallel for schedule(static)
        for (int ni = 0; ni < nb * H; ni++) {
            int n = ni / H, i = ni % H;
            for (int j = 0; j < Wd; j++) {
                float *y = dY + ((size_t)ni * Wd + j) * Kd;
                for (int di = 0; di < kh; di++) {
                    int oi = 2 * i + di;
                    for (int dj = 0; dj < kw; dj++, y += Cout) {
                        int oj = 2 * j + dj - coff;
                        if (oi >= Ho || oj < 0 || oj >= Wo)
                            memset(y, 0, (size_t)Cout * sizeof *y);
                        else
                            memcpy(y, dout + ((size_t)(n0 + n) * opix + (size_t)oi * Wo + oj) * Cout,
                                   (size_t)Cout * sizeof *y);
                    }
                }
            }
        }
        const float *X = in + (size_t)n0 * ipix * Cin;
        /* dWt (Kd, Cin) += dY^T (Kd, rows) X (rows, Cin) */
        nn_gemm((int)Kd, Cin, (int)rows, dY, 1, Kd, X, Cin, dWt, Cin, n0 > 0);
        if (din) nn_gemm((int)rows, Cin, (int)Kd, dY, Kd, 1, WT, Cin, din + (size_t)n0 * ipix * Cin, Cin, 1);
    }
#pragma omp parallel for schedule(static)
    for (int c = 0; c < Cin; c++)
        for (int o = 0; o < Cout; o++)
            for (int q = 0; q < kk; q++) dW[((size_t)c * Cout + o) * kk + q] += dWt[((size_t)q * Cout + o) * Cin + c];
}

static void linear_fwd_body(float *out, const float *in, const float *W, const float *b, size_t rows,
                   int Cin, int Cout, int accumulate)
{
    float *Wt = scratch((size_t)Cin * Cout);   /* (Cin, Cout) = W^T */
#pragma omp parallel for schedule(static)
    for (int o = 0; o < Cout; o++)
        for (int c = 0; c < Cin; c++) Wt[(size_t)c * Cout + o] = W[(size_t)o * Cin + c];
    fill_bias(out, b, rows, Cout, accumulate);
    nn_gemm((int)rows, Cout, Cin, in, Cin, 1, Wt, Cout, out, Cout, 1);
}

static void linear_bwd_body(float *din, float *dW, float *db, const float *dout, const float *in,
                   const float *W, size_t rows, int Cin, int Cout, int din_set)
{
    float *dWt = scratch((size_t)Cin * Cout);
    if (implicit_wgrad(Cin)) {   /* db on the way */
        /* dWt (Cout, Cin) = dout^T (Cout, rows) in (rows, Cin): the rows as one image row
         * of a 1x1 tap map, so the input is read in place */
        nn_tapmap m = {in, Cin, 1, (int)rows, 1, (int)rows, 1, 1, 0, 0, -1};
        nn_tap_wgrad(&m, (int)rows, Cout, Cin, dout, Cout, dWt, Cin, 0, db);
#pragma omp parallel for schedule(static)
        for (size_t i = 0; i < (size_t)Cout * Cin; i++) dW[i] += dWt[i];
    } else {
        colsum_add(db, dout, rows, Cout);
        /* dWt (Cin, Cout) = in^T (Cin, rows) dout (rows, Cout), then dW += dWt^T */
        nn_gemm(Cin, Cout, (int)rows, in, 1, Cin, dout, Cout, dWt, Cout, 0);
#pragma omp parallel for schedule(static)
        for (int o = 0; o < Cout; o++)
            for (int c = 0; c < Cin; c++) dW[(size_t)o * Cin + c] += dWt[(size_t)c * Cout + o];
    }
    if (din) nn_gemm((int)rows, Cin, Cout, dout, Cout, 1, W, Cin, din, Cin, !din_set);
}

void nn_weightnorm_fwd(float *W, const float *v, const float *g, size_t rows, size_t rowlen)
{
#pragma omp parallel for schedule(static) if (rows * rowlen > 16384)
    for (size_t r = 0; r < rows; r++) {
        const float *vr = v + r * rowlen;
        double ss = 0.0;
        for (size_t k = 0; k < rowlen; k++) ss += (double)vr[k] * vr[k];
        float scale = (float)(g[r] / sqrt(ss));
        for (size_t k = 0; k < rowlen; k++) W[r * rowlen + k] = scale * vr[k];
    }
}

void nn_weightnorm_bwd(float *dv, float *dg, const float *dW, const float *v, const float *g,
                       size_t rows, size_t rowlen)
{
#pragma omp parallel for schedule(static) if (rows * rowlen > 16384)
    for (size_t r = 0; r < rows; r++) {
        const float *vr = v + r * rowlen, *dr = dW + r * rowlen;
        double ss = 0.0, dot = 0.0;
        for (size_t k = 0; k < rowlen; k++) {
            ss += (double)vr[k] * vr[k];
            dot += (double)dr[k] * vr[k];
        }
        double n = sqrt(ss);
        dg[r] += (float)(dot / n);
        float a = (float)(g[r] / n), c = (float)(g[r] * dot / (n * ss));
        for (size_t k = 0; k < rowlen; k++) dv[r * rowlen + k] += a * dr[k] - c * vr[k];
    }
}

/* The elementwise layers take their math from nn_vmath.h (vectorised, the same
 * bits on every path). Long loops go in pieces of EW floats. */
#define EW 256

void nn_concat_elu_fwd(float *out, const float *a, int Ca, const float *b, int Cb, size_t rows)
{
    /* out row = [elu(a), elu(b), elu(-a), elu(-b)] */
    const size_t C = (size_t)Ca + (size_t)Cb;
#pragma omp parallel for schedule(static)
    for (size_t r = 0; r < rows; r++) {
        float *o = out + r * 2 * C;
        nn_vcelu(o, o + C, a + r * (size_t)Ca, (size_t)Ca);
        if (b && Cb) nn_vcelu(o + Ca, o + C + Ca, b + r * (size_t)Cb, (size_t)Cb);
    }
}

void nn_concat_elu_bwd(float *da, float *db, const float *dout, const float *a, int Ca,
                       const float *b, int Cb, size_t rows)
{
    const size_t C = (size_t)Ca + (size_t)Cb;
#pragma omp parallel for schedule(static)
    for (size_t r = 0; r < rows; r++) {
        const float *d = dout + r * 2 * C;
        if (da) nn_vcelu_bwd(da + r * (size_t)Ca, d, d + C, a + r * (size_t)Ca, (size_t)Ca);
        if (db && b && Cb)
            nn_vcelu_bwd(db + r * (size_t)Cb, d + Ca, d + C + Ca, b + r * (size_t)Cb, (size_t)Cb);
    }
}

void nn_elu_fwd(float *out, const float *x, size_t n)
{
    size_t pieces = (n + EW - 1) / EW;
#pragma omp parallel for schedule(static)
    for (size_t p = 0; p < pieces; p++) {
        size_t i0 = p * EW;
        nn_velu(out + i0, x + i0, n - i0 < EW ? n - i0 : EW);
    }
}

void nn_elu_bwd(float *dx, const float *dout, const float *x, size_t n)
{
    size_t pieces = (n + EW - 1) / EW;
#pragma omp parallel for schedule(static)
    for (size_t p = 0; p < pieces; p++) {
        size_t i0 = p * EW;
        nn_velu_bwd(dx + i0, dout + i0, x + i0, n - i0 < EW ? n - i0 : EW);
    }
}

void nn_down_shift(float *out, const float *in, int N, int H, int W, int C, int accumulate)
{
    const size_t row = (size_t)W * C;
    for (int n = 0; n < N; n++) {
        float *o = out + (size_t)n * H * row;
        const float *s = in + (size_t)n * H * row;
        if (!accumulate) {
            memset(o, 0, row * sizeof *o);
            memcpy(o + row, s, (size_t)(H - 1) * row * sizeof *o);
        } else {
            for (size_t k = 0; k < (size_t)(H - 1) * row; k++) o[row + k] += s[k];
        }
    }
}

void nn_down_shift_bwd(float *din, const float *dout, int N, int H, int W, int C)
{
    const size_t row = (size_t)W * C;
    for (int n = 0; n < N; n++) {
        float *d = din + (size_t)n * H * row;
        const float *s = dout + (size_t)n * H * row + row;
        for (size_t k = 0; k < (size_t)(H - 1) * row; k++) d[k] += s[k];
    }
}

void nn_right_shift(float *out, const float *in, int N, int H, int W, int C, int accumulate)
{
    for (size_t r = 0; r < (size_t)N * H; r++) {
        float *o = out + r * W * C;
        const float *s = in + r * W * C;
        if (!accumulate) {
            memset(o, 0, (size_t)C * sizeof *o);
            memcpy(o + C, s, (size_t)(W - 1) * C * sizeof *o);
        } else {
            for (size_t k = 0; k < (size_t)(W - 1) * C; k++) o[C + k] += s[k];
        }
    }
}

void nn_right_shift_bwd(float *din, const float *dout, int N, int H, int W, int C)
{
    for (size_t r = 0; r < (size_t)N * H; r++) {
        float *d = din + r * W * C;
        const float *s = dout + r * W * C + C;
        for (size_t k = 0; k < (size_t)(W - 1) * C; k++) d[k] += s[k];
    }
}

void nn_dropout_mask(float *mask, int N, int C, uint64_t seed, uint64_t step, uint64_t block,
                     uint64_t rep, uint64_t nrep, uint64_t img0)
{
    for (int n = 0; n < N; n++)
        for (int c = 0; c < C; c++) {
            uint64_t img = pcnn_dropout_image((uint64_t)n, rep, nrep, img0);
            uint64_t h = pcnn_rng_hash4(seed, PCNN_RNG_DROPOUT, step, (block << 32) | img, (uint64_t)c);
            mask[(size_t)n * C + c] = (h >> 63) ? 0.0f : 2.0f;   /* keep with p = 1/2, scale 1/(1-p) */
        }
}

void nn_dropout_apply(float *x, const float *mask, int N, size_t HW, int C)
{
#pragma omp parallel for schedule(static)
    for (size_t r = 0; r < (size_t)N * HW; r++) {
        const float *m = mask + (r / HW) * C;
        float *xr = x + r * C;
        for (int c = 0; c < C; c++) xr[c] *= m[c];
    }
}

/* sigmoid(z) = 1 / (1 + exp(-z)), exp from nn_vexp (nn_vgate, one row at a time). */
void nn_gate_fwd(float *out, const float *x, const float *c2, size_t rows, int F)
{
#pragma omp parallel for schedule(static)
    for (size_t r = 0; r < rows; r++) {
        const float *c = c2 + r * 2 * (size_t)F;
        nn_vgate(out + r * F, x + r * F, c, c + F, (size_t)F);
    }
}

void nn_gate_bwd(float *dx, float *dc2, const float *dout, const float *c2, size_t rows, int F)
{
#pragma omp parallel for schedule(static)
    for (size_t r = 0; r < rows; r++) {
        const float *c = c2 + r * 2 * (size_t)F;
        float *dc = dc2 + r * 2 * (size_t)F;
        nn_vgate_bwd(dx + r * F, dc, dc + F, dout + r * F, c, c + F, (size_t)F);
    }
}

void nn_class_fwd(float *c2, const float *hw, const int32_t *labels, int N, size_t HW, int C)
{
#pragma omp parallel for schedule(static)
    for (size_t r = 0; r < (size_t)N * HW; r++) {
        const float *h = hw + (size_t)labels[r / HW] * C;
        float *c = c2 + r * C;
        for (int k = 0; k < C; k++) c[k] += h[k];
    }
}

void nn_class_bwd(float *dhw, const float *dc2, const int32_t *labels, int N, size_t HW, int C)
{
    /* each dhw element: one chain over images, then pixels, in order; threads take columns */
#pragma omp parallel for schedule(static)
    for (int k0 = 0; k0 < C; k0 += COLS) {
        int nk = C - k0 < COLS ? C - k0 : COLS;
        for (int n = 0; n < N; n++) {
            float *h = dhw + (size_t)labels[n] * C + k0, acc[COLS] = {0};
            memcpy(acc, h, (size_t)nk * sizeof *acc);
            for (size_t p = 0; p < HW; p++) {
                const float *d = dc2 + ((size_t)n * HW + p) * C + k0;
                if (nk == COLS)
                    for (int k = 0; k < COLS; k++) acc[k] += d[k];
                else
                    for (int k = 0; k < nk; k++) acc[k] += d[k];
            }
            memcpy(h, acc, (size_t)nk * sizeof *acc);
        }
    }
}

void nn_film_fwd(float *c2, float *c2p, const float *hs, const float *hw, const int32_t *labels,
                 int N, size_t HW, int C)
{
#pragma omp parallel for schedule(static)
    for (size_t r = 0; r < (size_t)N * HW; r++) {
        size_t y = (size_t)labels[r / HW] * C;
        nn_vfilm(c2 + r * C, c2p + r * C, hs + y, hw + y, (size_t)C);
    }
}

void nn_film_bwd(float *dhs, float *dc2, const float *c2p, const float *hs,
                 const int32_t *labels, int N, size_t HW, int C)
{
    /* dhs: as nn_class_bwd, the products summed in one chain per element */
#pragma omp parallel for schedule(static)
    for (int k0 = 0; k0 < C; k0 += COLS) {
        int nk = C - k0 < COLS ? C - k0 : COLS;
        for (int n = 0; n < N; n++) {
            float *h = dhs + (size_t)labels[n] * C + k0, acc[COLS] = {0};
            memcpy(acc, h, (size_t)nk * sizeof *acc);
            for (size_t p = 0; p < HW; p++) {
                size_t at = ((size_t)n * HW + p) * C + k0;
                for (int k = 0; k < nk; k++) acc[k] += dc2[at + k] * c2p[at + k];
            }
            memcpy(h, acc, (size_t)nk * sizeof *acc);
        }
    }
#pragma omp parallel for schedule(static)
    for (size_t r = 0; r < (size_t)N * HW; r++) {
        const float *s = hs + (size_t)labels[r / HW] * C;
        float *d = dc2 + r * C;
        for (int k = 0; k < C; k++) d[k] *= 1.0f + s[k];
    }
}

void nn_input_fwd(float *xin, const float *x, const float *cmap, const int32_t *labels, int N,
                  int h, int w, int Hc, int Wc, int r0, int c0)
{
    const size_t plane = (size_t)Hc * Wc;
#pragma omp parallel for schedule(static)
    for (size_t r = 0; r < (size_t)N * h * w; r++) {
        const float *xr = x + 3 * r;
        float *o = xin + 4 * r;
        if (cmap) {
            size_t n = r / ((size_t)h * w), i = r / w % h, j = r % w;
            const float *cm = cmap + (size_t)labels[n] * 3 * plane + (r0 + i) * Wc + c0 + j;
            for (int c = 0; c < 3; c++) o[c] = xr[c] + cm[c * plane];
        } else {
            for (int c = 0; c < 3; c++) o[c] = xr[c];
        }
        o[3] = 1.0f;
    }
}

void nn_class_map_bwd(float *dcmap, const float *dxin, const int32_t *labels, int N, int H,
                      int W)
{
    const size_t plane = (size_t)H * W;
#pragma omp parallel for schedule(static)
    for (size_t q = 0; q < plane; q++)
        for (int n = 0; n < N; n++) {
            float *d = dcmap + (size_t)labels[n] * 3 * plane + q;
            const float *g = dxin + ((size_t)n * plane + q) * 4;
            for (int c = 0; c < 3; c++) d[c * plane] += g[c];
        }
}

void nn_zero(float *p, size_t n)
{
    const size_t piece = (size_t)1 << 16;
    if (n < 4 * piece) {
        memset(p, 0, n * sizeof *p);
        return;
    }
#pragma omp parallel for schedule(static)
    for (size_t i = 0; i < n; i += piece) memset(p + i, 0, (n - i < piece ? n - i : piece) * sizeof *p);
}

/* ---- the public primitives: the bodies above, timed by kind when PCNN_PROFILE=1
 * (nn_prof.h); flops count multiply-adds as 2, bytes the tensors read and written. */

static double conv_flops(const nn_conv_geom *g)
{
    return 2.0 * g->N * g->Ho * g->Wo * (double)g->Cout * g->Cin * g->kh * g->kw;
}

static double conv_bytes(const nn_conv_geom *g)
{
    return 4.0 * ((double)g->N * ((double)g->H * g->W * g->Cin + (double)g->Ho * g->Wo * g->Cout) +
                  (double)g->Cout * g->Cin * g->kh * g->kw);
}

static int conv_kind(const nn_conv_geom *g, int fwd)
{
    if (is_pointwise(g)) return NN_PROF_NIN;
    if (g->s != 1) return NN_PROF_STRIDE2;
    return fwd ? NN_PROF_CONV_FWD : NN_PROF_CONV_WGRAD;
}

void nn_conv_fwd(float *out, const float *in, const float *W, const float *b,
                 const nn_conv_geom *g, int accumulate, nn_ws *ws)
{
    NN_PROF_BEGIN;
    conv_fwd_body(out, in, W, b, g, accumulate, ws);
    NN_PROF_END(conv_kind(g, 1), conv_flops(g), conv_bytes(g));
}

/* stride 1: the weight gradient here, the input gradient timed inside (CONV_DGRAD) */
static void conv_bwd(float *din, float *dW, float *db, const float *dout, const float *in,
                     const float *W, const nn_conv_geom *g, nn_ws *ws, int din_set)
{
    NN_PROF_BEGIN;
    int fp32 = conv_bwd_body(din, dW, db, dout, in, W, g, ws, din_set) ? NN_PROF_AS_FP32 : 0;
    int stride1 = conv_kind(g, 0) == NN_PROF_CONV_WGRAD;
    NN_PROF_END(conv_kind(g, 0) | fp32, conv_flops(g) * (din && !stride1 ? 2 : 1), conv_bytes(g));
}

void nn_conv_bwd(float *din, float *dW, float *db, const float *dout, const float *in,
                 const float *W, const nn_conv_geom *g, nn_ws *ws)
{
    conv_bwd(din, dW, db, dout, in, W, g, ws, 0);
}

void nn_conv_bwd_set(float *din, float *dW, float *db, const float *dout, const float *in,
                     const float *W, const nn_conv_geom *g, nn_ws *ws)
{
    conv_bwd(din, dW, db, dout, in, W, g, ws, 1);
}

void nn_deconv_fwd(float *out, const float *in, const float *W, const float *b, int N, int H,
                   int Wd, int Cin, int Cout, int kh, int kw, int coff, nn_ws *ws)
{
    NN_PROF_BEGIN;
    deconv_fwd_body(out, in, W, b, N, H, Wd, Cin, Cout, kh, kw, coff, ws);
    NN_PROF_END(NN_PROF_DECONV, 2.0 * N * H * Wd * (double)Cin * Cout * kh * kw,
                4.0 * ((double)N * H * Wd * (Cin + 4.0 * Cout) + (double)Cin * Cout * kh * kw));
}

void nn_deconv_bwd(float *din, float *dW, float *db, const float *dout, const float *in,
                   const float *W, int N, int H, int Wd, int Cin, int Cout, int kh, int kw,
                   int coff, nn_ws *ws)
{
    NN_PROF_BEGIN;
    deconv_bwd_body(din, dW, db, dout, in, W, N, H, Wd, Cin, Cout, kh, kw, coff, ws);
    NN_PROF_END(NN_PROF_DECONV, 2.0 * N * H * Wd * (double)Cin * Cout * kh * kw * (din ? 2 : 1),
                4.0 * ((double)N * H * Wd * (2.0 * Cin + 4.0 * Cout) + (double)Cin * Cout * kh * kw));
}

void nn_linear_fwd(float *out, const float *in, const float *W, const float *b, size_t rows,
                   int Cin, int Cout, int accumulate)
{
    NN_PROF_BEGIN;
    linear_fwd_body(out, in, W, b, rows, Cin, Cout, accumulate);
    NN_PROF_END(NN_PROF_NIN, 2.0 * rows * Cin * Cout, 4.0 * ((double)rows * (Cin + Cout) + (double)Cin * Cout));
}

static void linear_bwd(float *din, float *dW, float *db, const float *dout, const float *in,
                       const float *W, size_t rows, int Cin, int Cout, int din_set)
{
    NN_PROF_BEGIN;
    linear_bwd_body(din, dW, db, dout, in, W, rows, Cin, Cout, din_set);
    NN_PROF_END(NN_PROF_NIN, 2.0 * rows * Cin * Cout * (din ? 2 : 1),
                4.0 * ((double)rows * (2.0 * Cin + Cout) + (double)Cin * Cout));
}

void nn_linear_bwd(float *din, float *dW, float *db, const float *dout, const float *in,
                   const float *W, size_t rows, int Cin, int Cout)
{
    linear_bwd(din, dW, db, dout, in, W, rows, Cin, Cout, 0);
}

void nn_linear_bwd_set(float *din, float *dW, float *db, const float *dout, const float *in,
                       const float *W, size_t rows, int Cin, int Cout)
{
    linear_bwd(din, dW, db, dout, in, W, rows, Cin, Cout, 1);
}
