/* prior.c — the class prior and temperature of a generative classifier, fitted by Newton's
 * method on the conditional likelihood of the labels (prior.h has the maths). */
#include "eval/prior.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define D_MAX PCNN_PRIOR_MAX_K   /* θ = (β, γ_1 … γ_{K−1}): K numbers */

typedef struct fitdata {
    const double *z;   /* n × K, each row shifted by its max (≤ 0) */
    const int32_t *y;
    size_t n;
    uint32_t K;
    int with_gamma;    /* 0: β alone (γ = 0), dimension 1 */
} fitdata;

static int dim(const fitdata *f) { return f->with_gamma ? (int)f->K : 1; }

/* ℓ_c = β z_c + γ_c of one row */
static void logits(const fitdata *f, const double *th, const double *z, double *l)
{
    for (uint32_t c = 0; c < f->K; c++) l[c] = th[0] * z[c] + (f->with_gamma && c ? th[c] : 0);
}

static double lse(const double *l, uint32_t K)
{
    double m = l[0];
    for (uint32_t c = 1; c < K; c++)
        if (l[c] > m) m = l[c];
    double s = 0;
    for (uint32_t c = 0; c < K; c++) s += exp(l[c] - m);
    return m + log(s);
}

/* mean NLL; with g and h (D and D×D) also its gradient and Hessian */
static double objective(const fitdata *f, const double *th, double *g, double *h)
{
    const uint32_t K = f->K;
    const int D = dim(f);
    double l[D_MAX], p[D_MAX], mu[D_MAX], total = 0;
    if (g) memset(g, 0, sizeof(double) * (size_t)D);
    if (h) memset(h, 0, sizeof(double) * (size_t)D * (size_t)D);
    for (size_t i = 0; i < f->n; i++) {
        const double *z = f->z + i * K;
        const int y = f->y[i];
        logits(f, th, z, l);
        double Z = lse(l, K);
        total += Z - l[y];
        if (!g) continue;
        for (uint32_t c = 0; c < K; c++) p[c] = exp(l[c] - Z);
        /* μ = Σ_c p_c φ_c with φ_c = (z_c, e_c) */
        memset(mu, 0, sizeof(double) * (size_t)D);
        for (uint32_t c = 0; c < K; c++) {
            mu[0] += p[c] * z[c];
            if (D > 1 && c) mu[c] += p[c];
        }
        /* ∇: Σ_c p_c φ_c − φ_y */
        for (int a = 0; a < D; a++) g[a] += mu[a];
        g[0] -= z[y];
        if (D > 1 && y) g[y] -= 1;
        /* ∇²: Σ_c p_c φ_c φ_cᵀ − μ μᵀ; φ_c has z_c at 0 and 1 at c (c ≥ 1) */
        for (uint32_t c = 0; c < K; c++) {
            h[0] += p[c] * z[c] * z[c];
            if (D > 1 && c) {
                h[c] += p[c] * z[c];              /* (0, c) */
                h[(size_t)c * D] += p[c] * z[c];  /* (c, 0) */
                h[(size_t)c * D + c] += p[c];
            }
        }
        for (int a = 0; a < D; a++)
            for (int b = 0; b < D; b++) h[(size_t)a * D + b] -= mu[a] * mu[b];
    }
    const double inv = 1.0 / (double)f->n;
    if (g)
        for (int a = 0; a < D; a++) g[a] *= inv;
    if (h)
        for (int a = 0; a < D * D; a++) h[a] *= inv;
    return total * inv;
}

/* Solves h d = r (D×D symmetric positive semi-definite) by Cholesky with a ridge that grows
 * until the factorisation succeeds; -1 if it never does. */
static int solve_spd(const double *h, const double *r, double *d, int D)
{
    double a[D_MAX * D_MAX], scale = 0;
    for (int i = 0; i < D; i++) scale = fmax(scale, fabs(h[i * D + i]));
    if (!(scale > 0)) scale = 1;
    for (double ridge = 1e-12; ridge < 1e6; ridge *= 100) {
        memcpy(a, h, sizeof(double) * (size_t)D * (size_t)D);
        for (int i = 0; i < D; i++) a[i * D + i] += ridge * scale;
        int ok = 1;
        for (int j = 0; j < D && ok; j++) {
            double s = a[j * D + j];
            for (int k = 0; k < j; k++) s -= a[j * D + k] * a[j * D + k];
            if (!(s > 0)) { ok = 0; break; }
            a[j * D + j] = sqrt(s);
            for (int i = j + 1; i < D; i++) {
                double t = a[i * D + j];
                for (int k = 0; k < j; k++) t -= a[i * D + k] * a[j * D + k];
                a[i * D + j] = t / a[j * D + j];
            }
        }
        if (!ok) continue;
        for (int i = 0; i < D; i++) {   /* L w = r */
            double t = r[i];
            for (int k = 0; k < i; k++) t -= a[i * D + k] * d[k];
            d[i] = t / a[i * D + i];
        }
        for (int i = D - 1; i >= 0; i--) {   /* Lᵀ d = w */
            double t = d[i];
            for (int k = i + 1; k < D; k++) t -= a[k * D + i] * d[k];
            d[i] = t / a[i * D + i];
        }
        return 0;
    }
    return -1;
}

/* Newton with backtracking from th; returns PCNN_PRIOR_OK / _SEPARABLE and the iterations. */
static int newton(const fitdata *f, double *th, double beta_max, int *iters)
{
    const int D = dim(f);
    double g[D_MAX], h[D_MAX * D_MAX], d[D_MAX], r[D_MAX], trial[D_MAX];
    double N = objective(f, th, g, h);
    for (int it = 0; it < 200; it++) {
        *iters = it;
        double gmax = 0;
        for (int a = 0; a < D; a++) gmax = fmax(gmax, fabs(g[a]) * (a ? 1 : fabs(th[0])));
        if (gmax < 1e-9) return PCNN_PRIOR_OK;
        if (th[0] > beta_max || N < 1e-12) return PCNN_PRIOR_SEPARABLE;
        for (int a = 0; a < D; a++) r[a] = -g[a];
        if (solve_spd(h, r, d, D)) return PCNN_PRIOR_SEPARABLE;
        double slope = 0;
        for (int a = 0; a < D; a++) slope += g[a] * d[a];
        if (slope >= 0)   /* not a descent direction (a singular Hessian): the gradient */
            for (int a = 0; a < D; a++) d[a] = -g[a], slope -= g[a] * g[a];
        double t = 1, Nt = 0;
        for (int k = 0; k < 60; k++, t *= 0.5) {
            for (int a = 0; a < D; a++) trial[a] = th[a] + t * d[a];
            Nt = objective(f, trial, NULL, NULL);
            if (Nt <= N + 1e-4 * t * slope) break;
        }
        if (!(Nt <= N)) return PCNN_PRIOR_OK;   /* no progress left in double precision */
        memcpy(th, trial, sizeof(double) * (size_t)D);
        N = objective(f, th, g, h);
    }
    *iters = 200;
    return PCNN_PRIOR_OK;
}

int pcnn_prior_fit_run(const double *z, const int32_t *y, size_t n, uint32_t K, pcnn_prior_fit *r)
{
    if (K < 1 || K > PCNN_PRIOR_MAX_K) return PCNN_PRIOR_ERROR;
    memset(r, 0, sizeof *r);
    r->K = K;
    /* the labelled rows, each shifted by its max */
    double *zs = malloc(sizeof(double) * (n ? n : 1) * K);
    int32_t *ys = malloc(sizeof(int32_t) * (n ? n : 1));
    if (!zs || !ys) { free(zs); free(ys); return PCNN_PRIOR_ERROR; }
    size_t m = 0;
    double spread = 0;
    for (size_t i = 0; i < n; i++) {
        if (y[i] < 0 || (uint32_t)y[i] >= K) continue;
        double mx = z[i * K], mean = 0, var = 0;
        for (uint32_t c = 0; c < K; c++) {
            if (!isfinite(z[i * K + c])) { free(zs); free(ys); return PCNN_PRIOR_ERROR; }
            if (z[i * K + c] > mx) mx = z[i * K + c];
            mean += z[i * K + c] / K;
        }
        for (uint32_t c = 0; c < K; c++) {
            zs[m * K + c] = z[i * K + c] - mx;
            var += (z[i * K + c] - mean) * (z[i * K + c] - mean) / K;
        }
        spread += sqrt(var);
        ys[m++] = y[i];
    }
    if (!m) { free(zs); free(ys); return PCNN_PRIOR_ERROR; }
    r->n = m;
    spread /= (double)m;
    const double beta0 = spread > 0 ? 1 / spread : 1, beta_max = beta0 * 1e8;

    fitdata f = {zs, ys, m, K, 0};
    double th[D_MAX] = {beta0};
    int it = 0, rc;
    /* the temperature alone, for comparison (and the start of the joint fit) */
    rc = newton(&f, th, beta_max, &it);
    r->nll_uniform = objective(&f, th, NULL, NULL);
    int flat = !(th[0] > 0);
    if (flat) th[0] = beta0;
    f.with_gamma = K > 1;
    for (uint32_t c = 1; c < K; c++) th[c] = 0;
    rc = newton(&f, th, beta_max, &it);
    r->iterations = it;
    r->nll = objective(&f, th, NULL, NULL);
    if (!(th[0] > 0)) {   /* the scores do not help: the prior alone (β → 0⁺) */
        r->T = 1e9;
        for (uint32_t c = 0; c < K; c++) r->b[c] = 0;
        free(zs);
        free(ys);
        return PCNN_PRIOR_FLAT;
    }
    r->T = 1 / th[0];
    r->b[0] = 0;
    for (uint32_t c = 1; c < K; c++) r->b[c] = th[c] / th[0];
    /* every row decided right: scaling (β, γ) up lowers the NLL for ever, so there is no
     * minimum, only a direction (Newton stops early once the NLL underflows) */
    if (pcnn_prior_accuracy(zs, ys, m, K, r->b) == 1) rc = PCNN_PRIOR_SEPARABLE;
    free(zs);
    free(ys);
    return rc;
}

double pcnn_prior_nll(const double *z, const int32_t *y, size_t n, uint32_t K, const double *b,
                      double T)
{
    double l[D_MAX], total = 0;
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        if (y[i] < 0 || (uint32_t)y[i] >= K) continue;
        for (uint32_t c = 0; c < K; c++) l[c] = (z[i * K + c] + b[c]) / T;
        total += lse(l, K) - l[y[i]];
        m++;
    }
    return m ? total / (double)m : NAN;
}

uint32_t pcnn_prior_argmax(const double *z, uint32_t K, const double *b)
{
    uint32_t best = 0;
    for (uint32_t c = 1; c < K; c++)
        if (z[c] + (b ? b[c] : 0) > z[best] + (b ? b[best] : 0)) best = c;
    return best;
}

double pcnn_prior_accuracy(const double *z, const int32_t *y, size_t n, uint32_t K, const double *b)
{
    size_t right = 0, labelled = 0;
    for (size_t i = 0; i < n; i++) {
        if (y[i] < 0 || (uint32_t)y[i] >= K) continue;
        labelled++;
        right += pcnn_prior_argmax(z + i * K, K, b) == (uint32_t)y[i];
    }
    return labelled ? (double)right / (double)labelled : NAN;
}
