/* ood.c — log p(x), the input-complexity score and its threshold; the maths is in ood.h. */
#include "eval/ood.h"

#include "eval/metrics.h"
#include "util.h"

#include <assert.h>
#include <math.h>
#include <stdlib.h>

double pcnn_ood_log_px(const double *logp, const double *logprior, uint32_t K)
{
    double *t = pcnn_xmalloc((size_t)K * sizeof *t);
    for (uint32_t c = 0; c < K; c++) t[c] = logp[c] + (logprior ? logprior[c] : -log((double)K));
    double r = pcnn_logsumexp(t, K);
    free(t);
    return r;
}

double pcnn_ood_complexity_score(double log_px_nats, double png_bits)
{
    return -log_px_nats / M_LN2 - png_bits;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

double pcnn_ood_threshold(double *s, size_t n, double q)
{
    assert(n >= 1 && q > 0 && q <= 1);
    qsort(s, n, sizeof *s, cmp_double);
    /* 1-based rank ⌈q·n⌉; q·n carries the rounding of q (0.99·300 = 297.00000000000006),
     * which must not add a rank: 1e−9·n is far above that error, far below a rank. */
    size_t rank = (size_t)ceil(q * (double)n - 1e-9 * (double)n);
    if (rank < 1) rank = 1;
    if (rank > n) rank = n;
    return s[rank - 1];
}

int pcnn_ood_rejects(double score, double threshold)
{
    return score > threshold;
}
