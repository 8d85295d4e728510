/*
 * nn_dmol.c — discretized mixture of logistics, SPEC §4 (log-likelihood and
 * its analytic gradient) and §5 (sampler). Float32 arithmetic that follows the
 * PyTorch reference operation by operation (pclucas14
 * discretized_mix_logistic_loss), with the branch chosen by a real select.
 */
#include "nn/nn_dmol.h"

#include "rng.h"

#include <math.h>

#define LOG_127_5 4.8481164f   /* log(127.5) */

/* softplus(z) = log(1 + e^z), stable for all z. */
static inline float softplus(float z) { return fmaxf(z, 0.0f) + log1pf(expf(-fabsf(z))); }
static inline float sigm(float z) { return 1.0f / (1.0f + expf(-z)); }

/* One sub-pixel: log p of value x under the logistic (mu, s) discretised to
 * 256 bins, with d log p / d mu and d log p / d s (s already clamped). */
static float logistic_bin(float x, float mu, float s, float *dmu, float *ds)
{
    float d = x - mu;
    float inv = expf(-s);
    float plus = inv * (d + 1.0f / 255.0f);
    float minus = inv * (d - 1.0f / 255.0f);
    float lp, gd, gs;
    if (x < -0.999f) {                    /* value 0: log sigma(plus) */
        lp = plus - softplus(plus);
        float gp = sigm(-plus);
        gd = inv * gp;
        gs = -gp * plus;
    } else if (x > 0.999f) {              /* value 255: log(1 - sigma(minus)) */
        lp = -softplus(minus);
        float gm = -sigm(minus);
        gd = inv * gm;
        gs = -gm * minus;
    } else {
        float cp = sigm(plus), cm = sigm(minus);
        float delta = cp - cm;
        if (delta > 1e-5f) {              /* interior bin: log(cdf(plus) - cdf(minus)) */
            lp = logf(delta);
            float gp = cp * (1.0f - cp) / delta, gm = -cm * (1.0f - cm) / delta;
            gd = inv * (gp + gm);
            gs = -(gp * plus + gm * minus);
        } else {                          /* tiny bin mass: log density at the centre */
            float mid = inv * d;
            lp = mid - s - 2.0f * softplus(mid) - LOG_127_5;
            float gmid = 1.0f - 2.0f * sigm(mid);
            gd = inv * gmid;
            gs = -mid * gmid - 1.0f;
        }
    }
    *dmu = -gd;
    *ds = gs;
    return lp;
}

float pcnn_dmol_logp(const float *l, const float *x, int M, float *dl)
{
    /* lp[k] = log_softmax(logits)_k + sum_c log p_c,k ; result = logsumexp_k lp[k] */
    float lmax = l[0];
    for (int k = 1; k < M; k++) lmax = fmaxf(lmax, l[k]);
    float se = 0.0f;
    for (int k = 0; k < M; k++) se += expf(l[k] - lmax);
    float lse_logits = lmax + logf(se);

    const float *gR = l + M, *gG = l + 4 * M, *gB = l + 7 * M;   /* colour groups */
    float best = -INFINITY, total;
    /* first pass: lp per component; kept in dl's logit slots temporarily when dl given */
    float lpk_buf[PCNN_DMOL_MAX_M];
    float *lpk = dl ? dl : lpk_buf;   /* dl's logit slots hold lp until the end */
    for (int k = 0; k < M; k++) {
        float a = tanhf(gR[2 * M + k]), b = tanhf(gG[2 * M + k]), c = tanhf(gB[2 * M + k]);
        float mu0 = gR[k], mu1 = gG[k] + a * x[0], mu2 = gB[k] + b * x[0] + c * x[1];
        float s0 = fmaxf(gR[M + k], -7.0f), s1 = fmaxf(gG[M + k], -7.0f), s2 = fmaxf(gB[M + k], -7.0f);
        float dmu[3], ds[3];
        float lp = logistic_bin(x[0], mu0, s0, &dmu[0], &ds[0]) +
                   logistic_bin(x[1], mu1, s1, &dmu[1], &ds[1]) +
                   logistic_bin(x[2], mu2, s2, &dmu[2], &ds[2]);
        lp += l[k] - lse_logits;
        lpk[k] = lp;
        if (lp > best) best = lp;
        if (dl) {
            /* per-component partials, scaled by the responsibility below */
            float *d0 = dl + M, *d1 = dl + 4 * M, *d2 = dl + 7 * M;
            d0[k] = dmu[0];
            d1[k] = dmu[1];
            d2[k] = dmu[2];
            d0[M + k] = gR[M + k] >= -7.0f ? ds[0] : 0.0f;
            d1[M + k] = gG[M + k] >= -7.0f ? ds[1] : 0.0f;
            d2[M + k] = gB[M + k] >= -7.0f ? ds[2] : 0.0f;
            /* mu1 = mG + a*xR ; mu2 = mB + b*xR + c*xG ; a = tanh(raw) */
            d0[2 * M + k] = dmu[1] * x[0] * (1.0f - a * a);
            d1[2 * M + k] = dmu[2] * x[0] * (1.0f - b * b);
            d2[2 * M + k] = dmu[2] * x[1] * (1.0f - c * c);
        }
    }
    float sum = 0.0f;
    for (int k = 0; k < M; k++) sum += expf(lpk[k] - best);
    total = best + logf(sum);
    if (dl) {
        for (int k = 0; k < M; k++) {
            float w = expf(lpk[k] - total);                 /* responsibility */
            float pi = expf(l[k] - lse_logits);             /* mixture weight */
            for (int c = 0; c < 3; c++) {
                float *g = dl + M + 3 * M * c;
                g[k] *= w;
                g[M + k] *= w;
                g[2 * M + k] *= w;
            }
            dl[k] = w - pi;
        }
    }
    return total;
}

void pcnn_dmol_sample_u(const float *l, int M, const float *u, float out[3])
{
    int kbest = 0;
    float best = -INFINITY;
    for (int k = 0; k < M; k++) {
        float uu = 1e-5f + (1.0f - 2e-5f) * u[k];
        float v = l[k] - logf(-logf(uu));
        if (v > best) {
            best = v;
            kbest = k;
        }
    }
    float v[3], co[3];
    for (int c = 0; c < 3; c++) {
        const float *g = l + M + 3 * M * c;
        float s = fmaxf(g[M + kbest], -7.0f);
        float uu = 1e-5f + (1.0f - 2e-5f) * u[M + c];
        v[c] = g[kbest] + expf(s) * (logf(uu) - logf(1.0f - uu));
        co[c] = tanhf(g[2 * M + kbest]);
    }
    out[0] = fminf(fmaxf(v[0], -1.0f), 1.0f);
    out[1] = fminf(fmaxf(v[1] + co[0] * out[0], -1.0f), 1.0f);
    out[2] = fminf(fmaxf(v[2] + co[1] * out[0] + co[2] * out[1], -1.0f), 1.0f);
}

void pcnn_dmol_sample(const float *l, int M, uint64_t seed, uint64_t stream, float out[3])
{
    float u[PCNN_DMOL_MAX_M + 3];
    for (int k = 0; k < M + 3; k++) u[k] = pcnn_rng_uniform(seed, PCNN_RNG_SAMPLE, stream, (uint64_t)k);
    pcnn_dmol_sample_u(l, M, u, out);
}
