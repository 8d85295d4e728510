/* shift.cu — explicit zero padding for the shifted convolutions, and the
 * down/right shifts with bias (nn_down_shift, nn_right_shift in nn_layers.c). */
#include "cuda_check.h"
#include "kernels.h"

__global__ void k_input_pad(float *xin, pad_geom pg, const float *x, const float *cmap,
                            const int32_t *labels, int Hc, int Wc, int r0, int c0, size_t rows)
{
    size_t plane = (size_t)Hc * Wc;
    for (size_t r = blockIdx.x * (size_t)blockDim.x + threadIdx.x; r < rows;
         r += (size_t)gridDim.x * blockDim.x) {
        float *o = xin + pg.prow(r) * 4;
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
}

void cu_input_pad(cudaStream_t s, float *xin, pad_geom pg, const float *x, const float *cmap,
                  const int32_t *labels, int Hc, int Wc, int r0, int c0)
{
    k_input_pad<<<pcnn_grid(pg.rows()), 256, 0, s>>>(xin, pg, x, cmap, labels, Hc, Wc, r0, c0,
                                                     pg.rows());
    CK_LAUNCH();
}

/* One thread per (c, pixel q) of the map: the images in order, each into its class's row. */
__global__ void k_class_map_bwd(float *dcmap, const float *dxin, const int32_t *labels, int N,
                                size_t plane)
{
    for (size_t t = blockIdx.x * (size_t)blockDim.x + threadIdx.x; t < 3 * plane;
         t += (size_t)gridDim.x * blockDim.x) {
        size_t c = t / plane, q = t % plane;
        for (int n = 0; n < N; n++)
            dcmap[((size_t)labels[n] * 3 + c) * plane + q] += dxin[((size_t)n * plane + q) * 4 + c];
    }
}

void cu_class_map_bwd(cudaStream_t s, float *dcmap, const float *dxin, const int32_t *labels,
                      int N, int H, int W)
{
    size_t plane = (size_t)H * W;
    k_class_map_bwd<<<pcnn_grid(3 * plane), 256, 0, s>>>(dcmap, dxin, labels, N, plane);
    CK_LAUNCH();
}

__global__ void k_pad_copy(float *dst, pad_geom pg, const float *src, int C, size_t total)
{
    for (size_t t = blockIdx.x * (size_t)blockDim.x + threadIdx.x; t < total;
         t += (size_t)gridDim.x * blockDim.x) {
        size_t r = t / C;
        dst[pg.prow(r) * C + t % C] = src[t];
    }
}

void cu_pad_copy(cudaStream_t s, float *dst, pad_geom pg, const float *src, int C)
{
    size_t total = pg.rows() * C;
    k_pad_copy<<<pcnn_grid(total), 256, 0, s>>>(dst, pg, src, C, total);
    CK_LAUNCH();
}

__global__ void k_unpad_add(float *din, const float *dpad, pad_geom pg, int C, size_t total)
{
    for (size_t t = blockIdx.x * (size_t)blockDim.x + threadIdx.x; t < total;
         t += (size_t)gridDim.x * blockDim.x) {
        size_t r = t / C;
        din[t] += dpad[pg.prow(r) * C + t % C];
    }
}

void cu_unpad_add(cudaStream_t s, float *din, const float *dpad, pad_geom pg, int C)
{
    size_t total = pg.rows() * C;
    k_unpad_add<<<pcnn_grid(total), 256, 0, s>>>(din, dpad, pg, C, total);
    CK_LAUNCH();
}

__global__ void k_shift_bias(float *out, const float *t, const float *b, int H, int W, int C,
                             int dy, int dx, int acc, size_t total)
{
    for (size_t e = blockIdx.x * (size_t)blockDim.x + threadIdx.x; e < total;
         e += (size_t)gridDim.x * blockDim.x) {
        int c = (int)(e % C);
        size_t pix = e / C;
        int j = (int)(pix % W), i = (int)((pix / W) % H);
        float v = 0.0f;
        if (i >= dy && j >= dx) v = t[e - ((size_t)dy * W + dx) * C] + b[c];
        out[e] = acc ? out[e] + v : v;
    }
}

void cu_shift_bias(cudaStream_t s, float *out, const float *t, const float *b, int N, int H,
                   int W, int C, int dy, int dx, int acc)
{
    size_t total = (size_t)N * H * W * C;
    k_shift_bias<<<pcnn_grid(total), 256, 0, s>>>(out, t, b, H, W, C, dy, dx, acc, total);
    CK_LAUNCH();
}

__global__ void k_unshift(float *dt, const float *d, int H, int W, int C, int dy, int dx,
                          size_t total)
{
    for (size_t e = blockIdx.x * (size_t)blockDim.x + threadIdx.x; e < total;
         e += (size_t)gridDim.x * blockDim.x) {
        size_t pix = e / C;
        int j = (int)(pix % W), i = (int)((pix / W) % H);
        dt[e] = (i + dy < H && j + dx < W) ? d[e + ((size_t)dy * W + dx) * C] : 0.0f;
    }
}

void cu_unshift(cudaStream_t s, float *dt, const float *d, int N, int H, int W, int C, int dy,
                int dx)
{
    size_t total = (size_t)N * H * W * C;
    k_unshift<<<pcnn_grid(total), 256, 0, s>>>(dt, d, H, W, C, dy, dx, total);
    CK_LAUNCH();
}
