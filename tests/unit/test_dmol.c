/*
 * test_dmol.c — the discretized mixture of logistics at its edges (SPEC §4, §5):
 * values 0 and 255, the < 1e-5 branch, the log-scale clamp at -7, extreme
 * logits and means: no NaN or Inf in the value or the gradient, and values
 * equal to hand-derived formulas (evaluated in double; tolerance 1e-5
 * relative: the float32 evaluation is a handful of roundings of O(1) terms).
 */
#include "check.h"
#include "nn/nn_dmol.h"

#include <math.h>
#include <string.h>

/* One component (M = 1): l = [logit, mR, sR, cR, mG, sG, cG, mB, sB, cB]. */
static void one(float *l, float m, float s, float c)
{
    l[0] = 0;
    for (int k = 0; k < 3; k++) {
        l[1 + 3 * k] = m;
        l[2 + 3 * k] = s;
        l[3 + 3 * k] = c;
    }
}

static int all_finite(const float *v, int n)
{
    for (int i = 0; i < n; i++)
        if (!isfinite(v[i])) return 0;
    return 1;
}

static double log_sigmoid(double z) { return -log1p(exp(-z)); }

static void test_interior(void)
{
    float l[10], dl[10], x[3] = {0, 0, 0};
    one(l, 0, 0, 0);
    /* sigma(a) - sigma(-a) = tanh(a/2), a = 1/255 */
    double want = 3 * log(tanh(1.0 / 510.0));
    float got = pcnn_dmol_logp(l, x, 1, dl);
    CHECK_NEAR(got, want, 1e-5 * fabs(want));
    CHECK(all_finite(dl, 10));
    CHECK_NEAR(dl[0], 0, 1e-7);   /* one component: the logit has no effect */
}

static void test_edges_0_and_255(void)
{
    float l[10], dl[10];
    float x0[3] = {-1, -1, -1}, x1[3] = {1, 1, 1};
    one(l, 0, 0, 0);
    /* value 0: log sigma((x - mu + 1/255) / scale); value 255: log(1 - sigma((x - mu - 1/255)/scale)) */
    double want = 3 * log_sigmoid(-254.0 / 255.0);
    CHECK_NEAR(pcnn_dmol_logp(l, x0, 1, dl), want, 1e-5 * fabs(want));
    CHECK(all_finite(dl, 10));
    CHECK_NEAR(pcnn_dmol_logp(l, x1, 1, dl), want, 1e-5 * fabs(want));
    CHECK(all_finite(dl, 10));
    /* far-away means and tiny scales: log sigma of a huge negative argument stays finite */
    one(l, 50, -7, 0);
    float v = pcnn_dmol_logp(l, x0, 1, dl);
    CHECK(isfinite(v) && v < -1e4);
    CHECK(all_finite(dl, 10));
    one(l, -50, -7, 0);
    v = pcnn_dmol_logp(l, x1, 1, dl);
    CHECK(isfinite(v) && v < -1e4);
    CHECK(all_finite(dl, 10));
}

static void test_tiny_bin_branch_and_clamp(void)
{
    float l[10], dl[10], x[3] = {0.5f, 0.5f, 0.5f};
    /* log_scale -20 is clamped to -7: inv = e^7; the bin mass underflows (< 1e-5),
     * so log p = mid - s - 2 softplus(mid) - log 127.5 with mid = e^7 * 0.5 */
    one(l, 0, -20, 0);
    double mid = exp(7.0) * 0.5;
    double want = 3 * (mid + 7 - 2 * (mid + log1p(exp(-mid))) - log(127.5));
    float got = pcnn_dmol_logp(l, x, 1, dl);
    CHECK_NEAR(got, want, 1e-5 * fabs(want));
    CHECK(all_finite(dl, 10));
    /* below the clamp the log-scale gets no gradient */
    CHECK(dl[2] == 0 && dl[5] == 0 && dl[8] == 0);
    /* the same at exactly -7 (clamp inactive at equality, as torch.clamp's backward) */
    one(l, 0, -7, 0);
    CHECK_NEAR(pcnn_dmol_logp(l, x, 1, dl), want, 1e-5 * fabs(want));
    CHECK(dl[2] != 0);
}

static void test_mixture(void)
{
    /* identical components under any logits give the single-component value */
    float l[20], l1[10], x[3] = {0.2f, -0.4f, 0.6f}, dl[20];
    one(l1, 0.1f, -1.5f, 0.3f);
    float want = pcnn_dmol_logp(l1, x, 1, NULL);
    l[0] = 3.0f, l[1] = -2.0f;
    for (int c = 0; c < 3; c++)
        for (int k = 0; k < 2; k++) {
            l[2 + 6 * c + k] = 0.1f;
            l[2 + 6 * c + 2 + k] = -1.5f;
            l[2 + 6 * c + 4 + k] = 0.3f;
        }
    CHECK_NEAR(pcnn_dmol_logp(l, x, 2, dl), want, 1e-5 * fabs(want));
    CHECK_NEAR(dl[0], 0, 1e-6);
    CHECK_NEAR(dl[1], 0, 1e-6);
    /* huge logits: log-softmax stays finite */
    l[0] = 1e4f, l[1] = -1e4f;
    CHECK(isfinite(pcnn_dmol_logp(l, x, 2, dl)));
    CHECK(all_finite(dl, 20));
}

static void test_sampler(void)
{
    /* logits (100, -100): component 0 always; tiny scale; means 0.3, -0.2, 5 (clamped to 1);
     * coefficient of R on G: tanh(1) */
    float l[20] = {0}, u[5], out[3];
    l[0] = 100, l[1] = -100;
    float mean[3] = {0.3f, -0.2f, 5.0f};
    for (int c = 0; c < 3; c++) {
        l[2 + 6 * c] = mean[c];
        l[2 + 6 * c + 2] = -20;     /* clamped to -7 */
        l[2 + 6 * c + 4] = c == 0 ? 1.0f : 0.0f;
    }
    for (int t = 0; t < 20; t++) {
        for (int k = 0; k < 5; k++) u[k] = (float)((t * 7 + k * 3) % 20) / 20.0f;
        pcnn_dmol_sample_u(l, 2, u, out);
        double e = exp(-7.0) * 11.6;   /* |log u - log(1-u)| <= 11.6 for u in [1e-5, 1-1e-5] */
        CHECK(fabs(out[0] - 0.3) <= e);
        CHECK(fabs(out[1] - (-0.2 + tanh(1.0) * out[0])) <= e + 1e-6);
        CHECK(out[2] == 1.0f);
    }
    /* the rng form is a pure function of (seed, stream) */
    float a[3], b[3];
    pcnn_dmol_sample(l, 2, 1, 77, a);
    pcnn_dmol_sample(l, 2, 1, 77, b);
    CHECK(!memcmp(a, b, sizeof a));
}

int main(void)
{
    RUN(test_interior);
    RUN(test_edges_0_and_255);
    RUN(test_tiny_bin_branch_and_clamp);
    RUN(test_mixture);
    RUN(test_sampler);
    return check_summary();
}
