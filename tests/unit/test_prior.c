/* test_prior.c — the fitted class prior and temperature (eval/prior.h) against a closed form,
 * the optimality conditions, invariances and the degenerate cases. */
#include "check.h"
#include "eval/prior.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>

/* Two classes, log-likelihoods around −6000 nats 100 apart either way: z = (−6000,
 * −6000 + 100 d). P(y = 1) = σ(β·100 d + γ). At d = +1: 3 images of class 1, 1 of class 0;
 * at d = −1: 1 of each. The maximum-likelihood fit matches the frequencies exactly:
 *     100 β + γ = log 3,  −100 β + γ = 0   →   β = log 3 / 200, γ = log 3 / 2
 * so T = 200 / log 3 and b_1 = γ / β = 100 nats. */
static void test_closed_form_two_classes(void)
{
    const double d[6] = {1, 1, 1, 1, -1, -1};
    const int32_t y[6] = {1, 1, 1, 0, 1, 0};
    double z[12];
    for (int i = 0; i < 6; i++) z[2 * i] = -6000, z[2 * i + 1] = -6000 + 100 * d[i];
    pcnn_prior_fit r;
    CHECK(pcnn_prior_fit_run(z, y, 6, 2, &r) == PCNN_PRIOR_OK);
    CHECK_NEAR(r.T, 200 / log(3.0), 1e-6);
    CHECK(r.b[0] == 0);
    CHECK_NEAR(r.b[1], 100.0, 1e-6);
    CHECK(r.n == 6);
    /* the NLL there: −[3 log 3/4 + log 1/4 + 2 log 1/2] / 6 */
    CHECK_NEAR(r.nll, -(3 * log(0.75) + log(0.25) + 2 * log(0.5)) / 6, 1e-10);
    CHECK(r.nll <= r.nll_uniform);
    CHECK_NEAR(pcnn_prior_nll(z, y, 6, 2, r.b, r.T), r.nll, 1e-10);
}

/* Three classes, a noisy synthetic classifier biased towards class 2: at the fit, no
 * small move of b or T lowers the NLL (a minimum), the offsets undo the bias, and shifting
 * each image's scores by a constant changes nothing. */
static void test_optimality_and_invariance(void)
{
    enum { N = 300, K = 3 };
    double z[N * K], z2[N * K];
    int32_t y[N];
    uint64_t s = 12345;
    for (int i = 0; i < N; i++) {
        y[i] = i % K;
        for (int c = 0; c < K; c++) {
            s = s * 6364136223846793005ULL + 1442695040888963407ULL;
            double u = (double)(s >> 11) / 9007199254740992.0;   /* [0, 1) */
            z[i * K + c] = -5000 + (c == y[i] ? 40 : 0) + (c == 2 ? 60 : 0) + 120 * (u - 0.5);
            z2[i * K + c] = z[i * K + c] + 37.5 * (i % 7) - 900;
        }
    }
    pcnn_prior_fit r, r2;
    CHECK(pcnn_prior_fit_run(z, y, N, K, &r) == PCNN_PRIOR_OK);
    CHECK(pcnn_prior_fit_run(z2, y, N, K, &r2) == PCNN_PRIOR_OK);
    CHECK_NEAR(r2.T, r.T, 1e-6 * r.T);
    for (int c = 0; c < K; c++) CHECK_NEAR(r2.b[c], r.b[c], 1e-6);
    /* class 2's bonus of 60 nats is taken back (within the noise of 300 images) */
    CHECK(r.b[2] < -30 && r.b[2] > -90);
    CHECK(fabs(r.b[1]) < 30);
    double base = pcnn_prior_nll(z, y, N, K, r.b, r.T);
    CHECK_NEAR(base, r.nll, 1e-10);
    for (int c = 1; c < K; c++)
        for (int sgn = -1; sgn <= 1; sgn += 2) {
            double b[K] = {r.b[0], r.b[1], r.b[2]};
            b[c] += sgn * 0.5;
            CHECK(pcnn_prior_nll(z, y, N, K, b, r.T) > base);
        }
    CHECK(pcnn_prior_nll(z, y, N, K, r.b, r.T * 1.01) > base);
    CHECK(pcnn_prior_nll(z, y, N, K, r.b, r.T / 1.01) > base);
    CHECK(r.nll < r.nll_uniform);
    /* the decisions with the offsets beat the uniform prior on this biased classifier */
    const double zero[K] = {0, 0, 0};
    int right0 = 0, right1 = 0;
    for (int i = 0; i < N; i++) {
        right0 += pcnn_prior_argmax(z + i * K, K, zero) == (uint32_t)y[i];
        right1 += pcnn_prior_argmax(z + i * K, K, r.b) == (uint32_t)y[i];
    }
    CHECK(right1 > right0);
}

static void test_degenerate(void)
{
    /* exactly separable by the scores: no finite minimum */
    double z[8] = {0, 10, 0, 20, 0, -10, 0, -30};
    int32_t y[4] = {1, 1, 0, 0};
    pcnn_prior_fit r;
    CHECK(pcnn_prior_fit_run(z, y, 4, 2, &r) == PCNN_PRIOR_SEPARABLE);
    /* anti-informative scores: no β > 0 helps */
    int32_t anti[4] = {0, 0, 1, 1};
    double za[8] = {0, 10, 0, 20, 0, -10, 0, -30};
    CHECK(pcnn_prior_fit_run(za, anti, 4, 2, &r) == PCNN_PRIOR_FLAT);
    CHECK(r.b[1] == 0);
    /* no labelled rows; a non-finite score; too many classes */
    int32_t none[4] = {-1, -1, -1, -1};
    CHECK(pcnn_prior_fit_run(z, none, 4, 2, &r) == PCNN_PRIOR_ERROR);
    double bad[4] = {0, NAN, 0, 1};
    int32_t yb[2] = {0, 1};
    CHECK(pcnn_prior_fit_run(bad, yb, 2, 2, &r) == PCNN_PRIOR_ERROR);
    CHECK(pcnn_prior_fit_run(z, y, 1, PCNN_PRIOR_MAX_K + 1, &r) == PCNN_PRIOR_ERROR);
    /* argmax: the first of ties */
    const double t[3] = {1, 2, 2}, b0[3] = {1, 0, 0};
    CHECK(pcnn_prior_argmax(t, 3, b0) == 0);
}

int main(void)
{
    RUN(test_closed_form_two_classes);
    RUN(test_optimality_and_invariance);
    RUN(test_degenerate);
    return check_summary();
}
