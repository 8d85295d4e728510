/* temperature.c — fitting one softmax temperature on labelled logits; the maths is in
 * temperature.h. */
#include "eval/temperature.h"

#include "eval/metrics.h"

#include <assert.h>
#include <math.h>

/* Σ_n N_n(β) and its first two derivatives over the labelled rows (temperature.h). Each row
 * is shifted by its max first: lse(β(z − m)) − β(z_y − m) is the same number, without
 * exp() of −6000·β. */
static void nll_derivs(const double *z, const int32_t *y, size_t n, uint32_t K, double beta,
                       double *f, double *d1, double *d2)
{
    double F = 0, D1 = 0, D2 = 0;
    for (size_t i = 0; i < n; i++) {
        if (y[i] < 0) continue;
        const double *zi = z + i * K;
        double m = zi[pcnn_argmax(zi, K)], s = 0, e1 = 0, e2 = 0;
        for (uint32_t c = 0; c < K; c++) {
            double d = zi[c] - m, w = exp(beta * d);   /* ≤ 1 */
            s += w;
            e1 += w * d;
            e2 += w * d * d;
        }
        e1 /= s;
        e2 /= s;
        F += log(s) - beta * (zi[y[i]] - m);
        D1 += e1 - (zi[y[i]] - m);
        D2 += fmax(e2 - e1 * e1, 0);   /* a variance: rounding must not make it negative */
    }
    *f = F, *d1 = D1, *d2 = D2;
}

double pcnn_temperature_nll(const double *z, const int32_t *y, size_t n, uint32_t K, double T)
{
    double f, d1, d2;
    size_t m = 0;
    for (size_t i = 0; i < n; i++) m += y[i] >= 0;
    nll_derivs(z, y, n, K, 1 / T, &f, &d1, &d2);
    return m ? f / (double)m : 0;
}

/* β range searched: T from 1e−6 to 1e9 nats covers logit gaps from far below rounding to far
 * above any image's log-likelihood (−6000 nats at 32×32×3). */
#define BETA_MIN 1e-9
#define BETA_MAX 1e6

int pcnn_temperature_fit(const double *z, const int32_t *y, size_t n, uint32_t K, double *T)
{
    double f, d1, d2;
    nll_derivs(z, y, n, K, BETA_MIN, &f, &d1, &d2);
    if (d1 >= 0) {
        *T = 1 / BETA_MIN;
        return PCNN_TEMP_FLAT;
    }
    /* bracket the root of N': lo has N' < 0, hi N' > 0, found by doubling from β = 1 */
    double lo = BETA_MIN, hi = 1;
    for (;;) {
        nll_derivs(z, y, n, K, hi, &f, &d1, &d2);
        if (d1 > 0) break;
        lo = hi;
        hi *= 2;
        if (hi > BETA_MAX) {
            *T = 1 / BETA_MAX;
            return PCNN_TEMP_SEPARABLE;
        }
    }
    /* Newton from the bracket's middle; a step that leaves (lo, hi) is replaced by the
     * bisection, so this converges whatever the curvature (Numerical Recipes' rtsafe) */
    double b = 0.5 * (lo + hi);
    for (int it = 0; it < 200; it++) {
        nll_derivs(z, y, n, K, b, &f, &d1, &d2);
        if (d1 < 0) lo = b;
        else if (d1 > 0) hi = b;
        else break;
        double nb = d2 > 0 ? b - d1 / d2 : -1;
        if (!(nb > lo && nb < hi)) nb = 0.5 * (lo + hi);
        /* 1e−12 relative: β then has ~12 good digits, more than any use of T needs and
         * above the ~1e−16 rounding of the sums, so the loop ends */
        int done = fabs(nb - b) <= 1e-12 * b || hi - lo <= 1e-12 * hi;
        b = nb;
        if (done) break;
    }
    assert(b > 0);
    *T = 1 / b;
    return PCNN_TEMP_OK;
}
