/* shift.cu — explicit zero padding for the shifted convolutions, and the
 * down/right shifts with bias (nn_down_shift, nn_right_shift in nn_layers.c).
 * The per-element bodies are in kernel_math.h (tested on the host). */
#include "cuda_check.h"
#include "kernel_math.h"
#include "kernels.h"

__global__ void k_input_pad(float *xin, pad_geom pg, const float *x, const float *cmap,
                            const int32_t *labels, int Hc, int Wc, int r0, int c0, size_t rows)
{
    for (size_t r = blockIdx.x * (size_t)blockDim.x + threadIdx.x; r < rows;
         r += (size_t)gridDim.x * blockDim.x)
        km_input_pad(r, xin, pg, x, cmap, labels, Hc, Wc, r0, c0);
}

void cu_input_pad(cudaStream_t s, float *xin, pad_geom pg, const float *x, const float *cmap,
                  const int32_t *labels, int Hc, int Wc, int r0, int c0)
{
    k_input_pad<<<pcnn_grid(pg.rows()), 256, 0, s>>>(xin, pg, x, cmap, labels, Hc, Wc, r0, c0,
                                                     pg.rows());
    CK_LAUNCH();
}

/* k_input_pad with the window's place (r0, c0) = (rc[0], rc[1]) read from device memory:
 * the cached sampler's position table, so that a captured launch serves every position. */
__global__ void k_input_pad_dev(float *xin, pad_geom pg, const float *x, const float *cmap,
                                const int32_t *labels, int Hc, int Wc, const uint64_t *rc,
                                size_t rows)
{
    const int r0 = (int)rc[0], c0 = (int)rc[1];
    for (size_t r = blockIdx.x * (size_t)blockDim.x + threadIdx.x; r < rows;
         r += (size_t)gridDim.x * blockDim.x)
        km_input_pad(r, xin, pg, x, cmap, labels, Hc, Wc, r0, c0);
}

void cu_input_pad_dev(cudaStream_t s, float *xin, pad_geom pg, const float *x, const float *cmap,
                      const int32_t *labels, int Hc, int Wc, const uint64_t *rc)
{
    k_input_pad_dev<<<pcnn_grid(pg.rows()), 256, 0, s>>>(xin, pg, x, cmap, labels, Hc, Wc, rc,
                                                         pg.rows());
    CK_LAUNCH();
}

/* One thread per (c, pixel q) of the map: the images in order, each into its class's row. */
__global__ void k_class_map_bwd(float *dcmap, const float *dxin, const int32_t *labels, int N,
                                size_t plane)
{
    for (size_t t = blockIdx.x * (size_t)blockDim.x + threadIdx.x; t < 3 * plane;
         t += (size_t)gridDim.x * blockDim.x)
        km_class_map_bwd(t, dcmap, dxin, labels, N, plane);
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
         t += (size_t)gridDim.x * blockDim.x)
        km_pad_copy(t, dst, pg, src, C);
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
         t += (size_t)gridDim.x * blockDim.x)
        km_unpad_add(t, din, dpad, pg, C);
}

void cu_unpad_add(cudaStream_t s, float *din, const float *dpad, pad_geom pg, int C)
{
    size_t total = pg.rows() * C;
    k_unpad_add<<<pcnn_grid(total), 256, 0, s>>>(din, dpad, pg, C, total);
    CK_LAUNCH();
}

__global__ void k_copy_block(float *dst, size_t dn, size_t dr, const float *src, size_t sn,
                             size_t sr, int rows, size_t len, size_t total)
{
    for (size_t t = blockIdx.x * (size_t)blockDim.x + threadIdx.x; t < total;
         t += (size_t)gridDim.x * blockDim.x)
        km_copy_block(t, dst, dn, dr, src, sn, sr, rows, len);
}

void cu_copy_block(cudaStream_t s, float *dst, size_t dn, size_t dr, const float *src, size_t sn,
                   size_t sr, int N, int rows, size_t len)
{
    size_t total = (size_t)N * rows * len;
    if (!total) return;
    k_copy_block<<<pcnn_grid(total), 256, 0, s>>>(dst, dn, dr, src, sn, sr, rows, len, total);
    CK_LAUNCH();
}

__global__ void k_copy_table(const uint64_t *ent, size_t dn, size_t dr, size_t sn, size_t sr,
                             int N, int rows, size_t len, size_t total)
{
    for (size_t t = blockIdx.x * (size_t)blockDim.x + threadIdx.x; t < total;
         t += (size_t)gridDim.x * blockDim.x)
        km_copy_table(t, ent, dn, dr, sn, sr, N, rows, len);
}

void cu_copy_table(cudaStream_t s, const uint64_t *tab, int e, int ne, size_t dn, size_t dr,
                   size_t sn, size_t sr, int N, int rows, size_t len)
{
    size_t total = (size_t)ne * N * rows * len;
    if (!total) return;
    k_copy_table<<<pcnn_grid(total), 256, 0, s>>>(tab + 2 * (size_t)e, dn, dr, sn, sr, N, rows,
                                                  len, total);
    CK_LAUNCH();
}

__global__ void k_shift_bias(float *out, const float *t, const float *b, int H, int W, int C,
                             int dy, int dx, int acc, size_t total)
{
    for (size_t e = blockIdx.x * (size_t)blockDim.x + threadIdx.x; e < total;
         e += (size_t)gridDim.x * blockDim.x)
        km_shift_bias(e, out, t, b, H, W, C, dy, dx, acc);
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
         e += (size_t)gridDim.x * blockDim.x)
        km_unshift(e, dt, d, H, W, C, dy, dx);
}

void cu_unshift(cudaStream_t s, float *dt, const float *d, int N, int H, int W, int C, int dy,
                int dx)
{
    size_t total = (size_t)N * H * W * C;
    k_unshift<<<pcnn_grid(total), 256, 0, s>>>(dt, d, H, W, C, dy, dx, total);
    CK_LAUNCH();
}
