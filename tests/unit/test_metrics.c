/* test_metrics.c — log-sum-exp softmax, argmax, bits/dim, the tally and confusion metrics (metrics.h)
 * against hand-computed values. */
#include "check.h"
#include "eval/metrics.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

static void test_logsumexp_no_underflow(void)
{
    /* log-likelihoods of a 32x32x3 image are around -6000 nats: exp() of them is 0 in
     * double, but log Σ exp = -6000 + log(1 + e^-1 + e^-1000) exactly. */
    double x[3] = {-6000.0, -6001.0, -7000.0};
    CHECK_NEAR(pcnn_logsumexp(x, 3), -6000.0 + log1p(exp(-1.0)), 1e-12);
    double one[1] = {-1e6};
    CHECK(pcnn_logsumexp(one, 1) == -1e6);
    double withinf[2] = {-INFINITY, -5.0};
    CHECK(pcnn_logsumexp(withinf, 2) == -5.0);
    double allinf[2] = {-INFINITY, -INFINITY};
    CHECK(isinf(pcnn_logsumexp(allinf, 2)) && pcnn_logsumexp(allinf, 2) < 0);
}

/* x − logsumexp(x) at −6000 carries the rounding of numbers near 6000:
 * ulp(6000) = 9.1e−13, so posteriors agree with the closed form to a few 1e−12. */
#define SOFTMAX_TOL 4e-12

static void test_softmax(void)
{
    double x[4] = {-6000.0, -6001.0, -6000.0, -9000.0}, p[4];
    pcnn_softmax(p, x, 4);
    double z = 2 + exp(-1.0), sum = 0;
    CHECK_NEAR(p[0], 1 / z, SOFTMAX_TOL);
    CHECK_NEAR(p[1], exp(-1.0) / z, SOFTMAX_TOL);
    CHECK(p[0] == p[2]);
    CHECK(p[3] == 0);   /* e^-3000: underflows to 0 in the result only */
    for (int i = 0; i < 4; i++) {
        CHECK(isfinite(p[i]));
        sum += p[i];
    }
    CHECK_NEAR(sum, 1.0, SOFTMAX_TOL);
    /* in place, with a class excluded by a zero prior */
    double y[3] = {-6000.0, -INFINITY, -6000.5};
    pcnn_softmax(y, y, 3);
    CHECK(y[1] == 0);
    CHECK_NEAR(y[0] + y[2], 1.0, SOFTMAX_TOL);
    CHECK_NEAR(y[0], 1 / (1 + exp(-0.5)), SOFTMAX_TOL);
}

static void test_argmax_ties(void)
{
    double a[4] = {-3, -1, -1, -2};
    CHECK(pcnn_argmax(a, 4) == 1);
    double b[3] = {-5, -5, -5};
    CHECK(pcnn_argmax(b, 3) == 0);
    double c[3] = {-5, -5, -4.5};
    CHECK(pcnn_argmax(c, 3) == 2);
    double d[1] = {0};
    CHECK(pcnn_argmax(d, 1) == 0);
}

/* The hand example also used by tests/bats/argmax.bats (fixtures/argmax/report.tsv):
 * K = 4, class 3 never occurs; (true, predicted) pairs:
 *   (0,0) (0,0) (0,1) (1,1) (1,2) (2,2) (2,2) (2,1)
 * confusion rows = true: [2 1 0 0] [0 1 1 0] [0 1 2 0] [0 0 0 0]
 * accuracy 5/8; class 0: P 2/2, R 2/3, F1 0.8; class 1: P 1/3, R 1/2, F1 0.4;
 * class 2: P 2/3, R 2/3, F1 2/3; macro-F1 over the 3 classes that occur
 * = (0.8 + 0.4 + 2/3) / 3 = 0.622222... */
static pcnn_confusion *hand_example(void)
{
    static const int pairs[8][2] = {{0, 0}, {0, 0}, {0, 1}, {1, 1}, {1, 2}, {2, 2}, {2, 2}, {2, 1}};
    pcnn_confusion *c = pcnn_confusion_new(4);
    for (int i = 0; i < 8; i++) pcnn_confusion_add(c, (uint32_t)pairs[i][0], (uint32_t)pairs[i][1]);
    return c;
}

static void test_confusion_hand_example(void)
{
    pcnn_confusion *c = hand_example();
    static const uint64_t want[16] = {2, 1, 0, 0, 0, 1, 1, 0, 0, 1, 2, 0, 0, 0, 0, 0};
    for (int i = 0; i < 16; i++) CHECK(c->m[i] == want[i]);
    CHECK(c->n == 8);
    CHECK(pcnn_confusion_correct(c) == 5);
    CHECK_NEAR(pcnn_confusion_accuracy(c), 0.625, 1e-15);
    pcnn_class_metrics m;
    pcnn_confusion_class(c, 0, &m);
    CHECK(m.tp == 2 && m.support == 3 && m.predicted == 2);
    CHECK_NEAR(m.precision, 1.0, 1e-15);
    CHECK_NEAR(m.recall, 2.0 / 3, 1e-15);
    CHECK_NEAR(m.f1, 0.8, 1e-15);
    pcnn_confusion_class(c, 1, &m);
    CHECK(m.tp == 1 && m.support == 2 && m.predicted == 3);
    CHECK_NEAR(m.precision, 1.0 / 3, 1e-15);
    CHECK_NEAR(m.recall, 0.5, 1e-15);
    CHECK_NEAR(m.f1, 0.4, 1e-15);
    pcnn_confusion_class(c, 2, &m);
    CHECK_NEAR(m.f1, 2.0 / 3, 1e-15);
    pcnn_confusion_class(c, 3, &m);   /* absent: all 0, no division by zero */
    CHECK(m.tp == 0 && m.support == 0 && m.predicted == 0);
    CHECK(m.precision == 0 && m.recall == 0 && m.f1 == 0);
    CHECK_NEAR(pcnn_confusion_macro_f1(c), (0.8 + 0.4 + 2.0 / 3) / 3, 1e-15);
    pcnn_confusion_free(c);
}

static void test_confusion_empty(void)
{
    pcnn_confusion *c = pcnn_confusion_new(2);
    CHECK(pcnn_confusion_accuracy(c) == 0);
    CHECK(pcnn_confusion_macro_f1(c) == 0);
    pcnn_confusion_free(c);
    pcnn_confusion_free(NULL);
}

static void test_report_text(void)
{
    pcnn_confusion *c = hand_example();
    char *names[4] = {"Class0", "Class1", "Class2", "Class3"};
    char buf[4096] = {0};
    FILE *fp = fmemopen(buf, sizeof buf - 1, "w");
    CHECK(pcnn_confusion_report(c, names, 2, fp) == 0);
    fclose(fp);
    CHECK(strstr(buf, "- images: 10 (8 labelled, 2 without a label)\n") != NULL);
    CHECK(strstr(buf, "- accuracy: 0.625000 (5/8)\n") != NULL);
    CHECK(strstr(buf, "- macro-F1: 0.622222\n") != NULL);
    CHECK(strstr(buf, "| Class1 | 0.333333 | 0.500000 | 0.400000 | 2 | 3 |\n") != NULL);
    CHECK(strstr(buf, "| Class2 | 0 | 1 | 2 | 0 |\n") != NULL);
    pcnn_confusion_free(c);
}

/* bits/dim = -ll / (H W C ln 2): an image of 2x2x3 values at ll = -12 ln 2 nats is 1 bit
 * per value; ll = 0 is 0. */
static void test_bits_per_dim(void)
{
    CHECK_NEAR(pcnn_bits_per_dim(-12.0 * M_LN2, 2, 2, 3), 1.0, 1e-15);
    CHECK(pcnn_bits_per_dim(0.0, 32, 32, 3) == 0.0);
    CHECK_NEAR(pcnn_bits_per_dim(-6000.0, 32, 32, 3), 6000.0 / (3072.0 * M_LN2), 1e-12);
}

/* The tally of a scored set: unlabelled rows skipped, ties to the lowest class (as
 * pcnn_argmax), bits/dim summed under the label; adding in two parts gives the bits of one. */
static void test_tally(void)
{
    const double ll[4 * 3] = {
        -10, -20, -30,      /* label 0: right */
        -5, -5, -9,         /* label 1: a tie of 0 and 1 goes to 0: wrong */
        -1, -2, -3,         /* unlabelled: skipped */
        -40, -30, -20,      /* label 2: right */
    };
    const int32_t labels[4] = {0, 1, -1, 2};
    pcnn_tally t = {0};
    pcnn_tally_add(&t, ll, labels, 4, 3, 2, 2, 3);
    CHECK(t.labelled == 3);
    CHECK(t.correct == 2);
    double want = pcnn_bits_per_dim(-10, 2, 2, 3) + pcnn_bits_per_dim(-5, 2, 2, 3) +
                  pcnn_bits_per_dim(-20, 2, 2, 3);
    CHECK(t.bpd_sum == want);
    pcnn_tally parts = {0};
    pcnn_tally_add(&parts, ll, labels, 1, 3, 2, 2, 3);
    pcnn_tally_add(&parts, ll + 3, labels + 1, 3, 3, 2, 2, 3);
    CHECK(parts.labelled == t.labelled && parts.correct == t.correct && parts.bpd_sum == t.bpd_sum);
}

int main(void)
{
    RUN(test_logsumexp_no_underflow);
    RUN(test_softmax);
    RUN(test_argmax_ties);
    RUN(test_bits_per_dim);
    RUN(test_tally);
    RUN(test_confusion_hand_example);
    RUN(test_confusion_empty);
    RUN(test_report_text);
    return check_summary();
}
