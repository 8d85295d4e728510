/* dmol.cu — discretized mixture of logistics: per-pixel log-likelihood and its
 * gradient in one kernel (pcnn_dmol_logp in nn_dmol.c, the same float32
 * operations and branch selects, SPEC §4), and the per-image sum in double. */
#include "cuda_check.h"
#include "kernels.h"

#define LOG_127_5 4.8481164f

__device__ __forceinline__ float softplus_d(float z) { return fmaxf(z, 0.0f) + log1pf(expf(-fabsf(z))); }
__device__ __forceinline__ float sigm_d(float z) { return 1.0f / (1.0f + expf(-z)); }

/* log p of sub-pixel x under the discretised logistic (mu, s), with d/dmu, d/ds. */
__device__ float logistic_bin_d(float x, float mu, float s, float *dmu, float *ds)
{
    float d = x - mu;
    float inv = expf(-s);
    float plus = inv * (d + 1.0f / 255.0f);
    float minus = inv * (d - 1.0f / 255.0f);
    float lp, gd, gs;
    if (x < -0.999f) {
        lp = plus - softplus_d(plus);
        float gp = sigm_d(-plus);
        gd = inv * gp;
        gs = -gp * plus;
    } else if (x > 0.999f) {
        lp = -softplus_d(minus);
        float gm = -sigm_d(minus);
        gd = inv * gm;
        gs = -gm * minus;
    } else {
        float cp = sigm_d(plus), cm = sigm_d(minus);
        float delta = cp - cm;
        if (delta > 1e-5f) {
            lp = logf(delta);
            float gp = cp * (1.0f - cp) / delta, gm = -cm * (1.0f - cm) / delta;
            gd = inv * (gp + gm);
            gs = -(gp * plus + gm * minus);
        } else {
            float mid = inv * d;
            lp = mid - s - 2.0f * softplus_d(mid) - LOG_127_5;
            float gmid = 1.0f - 2.0f * sigm_d(mid);
            gd = inv * gmid;
            gs = -mid * gmid - 1.0f;
        }
    }
    *dmu = -gd;
    *ds = gs;
    return lp;
}

/* Component k's log p: log_softmax_k + sum over colours (and its partials into dl). */
__device__ float component_d(const float *l, const float *x, int M, int k, float lse, float *dl)
{
    const float *gR = l + M, *gG = l + 4 * M, *gB = l + 7 * M;
    float a = tanhf(gR[2 * M + k]), b = tanhf(gG[2 * M + k]), c = tanhf(gB[2 * M + k]);
    float mu0 = gR[k], mu1 = gG[k] + a * x[0], mu2 = gB[k] + b * x[0] + c * x[1];
    float s0 = fmaxf(gR[M + k], -7.0f), s1 = fmaxf(gG[M + k], -7.0f), s2 = fmaxf(gB[M + k], -7.0f);
    float dmu0, dmu1, dmu2, ds0, ds1, ds2;
    float lp = logistic_bin_d(x[0], mu0, s0, &dmu0, &ds0) +
               logistic_bin_d(x[1], mu1, s1, &dmu1, &ds1) +
               logistic_bin_d(x[2], mu2, s2, &dmu2, &ds2);
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

/* One thread per pixel. With a gradient the per-component lp are kept in dl's
 * logit slots (as on the CPU); without, the log-sum-exp runs online. */
__global__ void k_dmol(float *lpix, float *dlogits, const float *logits, const float *x,
                       size_t rows, int M, float scale)
{
    const int C = 10 * M;
    for (size_t r = blockIdx.x * (size_t)blockDim.x + threadIdx.x; r < rows;
         r += (size_t)gridDim.x * blockDim.x) {
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
                float lp = component_d(l, xr, M, k, lse, dl);
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
                float lp = component_d(l, xr, M, k, lse, nullptr);
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
}

void cu_dmol(cudaStream_t s, float *lp, float *dl, const float *logits, const float *x,
             size_t rows, int M, float scale)
{
    k_dmol<<<pcnn_grid(rows, 128), 128, 0, s>>>(lp, dl, logits, x, rows, M, scale);
    CK_LAUNCH();
}

/* One block of 256 per image: strided partial sums, then a fixed-order tree. */
__global__ void k_image_sum(double *ll, const float *lp, size_t HW)
{
    __shared__ double sh[256];
    const float *p = lp + blockIdx.x * HW;
    double acc = 0.0;
    for (size_t i = threadIdx.x; i < HW; i += 256) acc += p[i];
    sh[threadIdx.x] = acc;
    __syncthreads();
    for (int o = 128; o > 0; o >>= 1) {
        if (threadIdx.x < o) sh[threadIdx.x] += sh[threadIdx.x + o];
        __syncthreads();
    }
    if (threadIdx.x == 0) ll[blockIdx.x] = sh[0];
}

void cu_image_sum(cudaStream_t s, double *ll, const float *lp, int N, size_t HW)
{
    if (N <= 0) return;
    k_image_sum<<<N, 256, 0, s>>>(ll, lp, HW);
    CK_LAUNCH();
}
