/* test_temperature.c — temperature scaling (eval/temperature.h) against closed forms, the
 * expected calibration error and reliability bins (eval/reliability.h) against a hand
 * computation, and the calibration file (io/calibration.h) round trip and refusals. */
#include "check.h"
#include "eval/reliability.h"
#include "eval/temperature.h"
#include "io/calibration.h"
#include "util.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char tmpdir[] = "/tmp/pcnn-test-temperature-XXXXXX";

static const char *tmp_path(const char *name)
{
    static char buf[256];
    snprintf(buf, sizeof buf, "%s/%s", tmpdir, name);
    return buf;
}

/* Two classes, logits (a, 0) shifted to around −6000 nats: m images of class 0 (margin +a)
 * and k of class 1 (margin −a). With β = 1/T the NLL is m·softplus(−βa) + k·softplus(βa);
 * its derivative vanishes where σ(βa) = m / (m + k), so T* = a / ln(m / k). */
static void test_two_class_closed_form(void)
{
    const double a = 10;
    const int m = 3, k = 1;
    double z[8];
    int32_t y[4];
    for (int i = 0; i < 4; i++) {
        z[2 * i] = -6000 + a;
        z[2 * i + 1] = -6000;
        y[i] = i < m ? 0 : 1;
    }
    double T = 0;
    CHECK(pcnn_temperature_fit(z, y, 4, 2, &T) == PCNN_TEMP_OK);
    /* the fit stops at a relative 1e−12 in β; 1e−9 leaves room for the sums' rounding */
    CHECK_NEAR(T, a / log((double)m / k), 1e-9 * T);
    /* the NLL at T* is the binary entropy of m/(m+k), and T* is a minimum */
    double p = (double)m / (m + k), h = -(p * log(p) + (1 - p) * log(1 - p));
    CHECK_NEAR(pcnn_temperature_nll(z, y, 4, 2, T), h, 1e-12);
    CHECK(pcnn_temperature_nll(z, y, 4, 2, T * 1.01) > pcnn_temperature_nll(z, y, 4, 2, T));
    CHECK(pcnn_temperature_nll(z, y, 4, 2, T * 0.99) > pcnn_temperature_nll(z, y, 4, 2, T));
    /* unlabelled rows change nothing */
    double z2[10];
    int32_t y2[5];
    memcpy(z2, z, sizeof z);
    memcpy(y2, y, sizeof y);
    z2[8] = -5000, z2[9] = -7000, y2[4] = -1;
    double T2 = 0;
    CHECK(pcnn_temperature_fit(z2, y2, 5, 2, &T2) == PCNN_TEMP_OK);
    CHECK(T2 == T);
}

/* K classes, every image with the true logit a above K−1 equal others and a fraction q of
 * them labelled as the top class: the optimum has p_top = q, i.e.
 * e^{βa} / (e^{βa} + K − 1) = q, so β = ln(q (K − 1) / (1 − q)) / a. */
static void test_k_class_closed_form(void)
{
    enum { N = 10, K = 4 };
    const double a = 50;
    double z[N * K];
    int32_t y[N];
    for (int i = 0; i < N; i++) {
        for (int c = 0; c < K; c++) z[i * K + c] = c == 2 ? -3000 + a : -3000;
        y[i] = i < 7 ? 2 : i % 3 == 0 ? 0 : 1;   /* q = 0.7 right; the wrong ones spread */
    }
    double T = 0, q = 0.7;
    CHECK(pcnn_temperature_fit(z, y, N, K, &T) == PCNN_TEMP_OK);
    CHECK_NEAR(T, a / log(q * (K - 1) / (1 - q)), 1e-9 * T);
}

static void test_degenerate(void)
{
    /* every image right: no finite optimum */
    double z[4] = {0, -5, -5, 0};
    int32_t y[2] = {0, 1};
    double T = 0;
    CHECK(pcnn_temperature_fit(z, y, 2, 2, &T) == PCNN_TEMP_SEPARABLE);
    CHECK(T > 0 && T <= 1e-5);
    /* every image wrong: the logits point away from the labels */
    int32_t w[2] = {1, 0};
    CHECK(pcnn_temperature_fit(z, w, 2, 2, &T) == PCNN_TEMP_FLAT);
    CHECK(T >= 1e8);
}

/* Six images by hand, confidences and correctness:
 *   0.95 right, 0.97 wrong  -> bin 14 (0.933, 1]: n 2, conf 0.96, acc 0.5, gap 0.46
 *   0.50 right, 0.52 right  -> bin 7 (0.467, 0.533]: n 2, conf 0.51, acc 1, gap 0.49
 *   0.30 wrong              -> bin 4 (0.267, 0.333]: n 1, conf 0.30, acc 0, gap 0.30
 *   1/15 exactly, right     -> bin 0 (the edge belongs below): n 1, gap 1 − 1/15
 *   ECE = (2·0.46 + 2·0.49 + 0.30 + 14/15) / 6 = (0.92 + 0.98 + 0.30 + 0.933333) / 6. */
static void test_ece_by_hand(void)
{
    pcnn_reliability r = {0};
    CHECK(pcnn_reliability_ece(&r) == 0);
    pcnn_reliability_add(&r, 0.95, 1);
    pcnn_reliability_add(&r, 0.97, 0);
    pcnn_reliability_add(&r, 0.50, 1);
    pcnn_reliability_add(&r, 0.52, 1);
    pcnn_reliability_add(&r, 0.30, 0);
    pcnn_reliability_add(&r, 1.0 / 15, 1);
    CHECK(r.n == 6 && r.count[14] == 2 && r.count[7] == 2 && r.count[4] == 1 && r.count[0] == 1);
    CHECK(r.correct[14] == 1 && r.correct[7] == 2 && r.correct[4] == 0);
    CHECK_NEAR(pcnn_reliability_ece(&r), (0.92 + 0.98 + 0.30 + 14.0 / 15) / 6, 1e-12);
    CHECK(pcnn_reliability_bin(1.0) == 14);
    CHECK(pcnn_reliability_bin(0.0) == 0);
    CHECK(pcnn_reliability_bin(2.0 / 15 + 1e-12) == 2);
    /* the report names both ECEs and the bins */
    char *buf = NULL;
    size_t len = 0;
    FILE *fp = open_memstream(&buf, &len);
    CHECK(pcnn_reliability_report(&r, &r, 2.5, fp) == 0);
    fclose(fp);
    CHECK(strstr(buf, "ECE at T = 1 (softmax of the log-likelihoods): 0.5222") != NULL);
    CHECK(strstr(buf, "ECE at T = 2.5: 0.5222") != NULL);
    CHECK(strstr(buf, "| (0.933–1.000] | 2 | 0.960 | 0.500 | 2 | 0.960 | 0.500 |") != NULL);
    CHECK(strstr(buf, "| [0.000–0.067] | 1 | 0.067 | 1.000 |") != NULL);
    free(buf);
}

static void test_calibration_file(void)
{
    char *names[2] = {"cat", "dog"};
    pcnn_calibration c = {.K = 2, .class_names = names, .temperature = 31.25, .has_reject = 1,
                          .reject_quantile = 0.99, .reject_threshold = -1234.5678901234567};
    const char *p = tmp_path("cal.txt");
    CHECK(pcnn_calibration_write(p, &c, "test") == 0);
    pcnn_calibration r;
    CHECK(pcnn_calibration_read(p, 2, names, &r) == 0);
    CHECK(r.temperature == 31.25 && r.has_reject && r.reject_quantile == 0.99 &&
          r.reject_threshold == c.reject_threshold);
    pcnn_calibration_free(&r);
    /* the numbers as written: 0.99 stays short */
    FILE *fp = fopen(p, "r");
    char text[512] = {0};
    CHECK(fp && fread(text, 1, sizeof text - 1, fp) > 0);
    if (fp) fclose(fp);
    CHECK(strstr(text, "reject_quantile\t0.99\n") != NULL);
    /* other classes are refused */
    char *other[2] = {"cat", "cow"};
    CHECK(pcnn_calibration_read(p, 2, other, &r) == -1);
    CHECK(pcnn_calibration_read(p, 1, names, &r) == -1);
    /* without a threshold */
    c.has_reject = 0;
    CHECK(pcnn_calibration_write(p, &c, NULL) == 0);
    CHECK(pcnn_calibration_read(p, 2, names, &r) == 0);
    CHECK(!r.has_reject && r.temperature == 31.25);
    pcnn_calibration_free(&r);
    /* damaged files */
    static const char *bad[] = {
        "",                                                               /* empty */
        "temperature\t2\n",                                               /* no version first */
        "pcnn-calibration\t2\nclasses\tcat,dog\ntemperature\t2\n",        /* version */
        "pcnn-calibration\t1\nclasses\tcat,dog\n",                        /* cut: no temperature */
        "pcnn-calibration\t1\nclasses\tcat,dog\ntemperature\t0\n",        /* T = 0 */
        "pcnn-calibration\t1\nclasses\tcat,dog\ntemperature\tnan\n",
        "pcnn-calibration\t1\nclasses\tcat,dog\ntemperature\t2\ntemperature\t3\n",   /* twice */
        "pcnn-calibration\t1\nclasses\tcat,dog\ntemperature\t2\nreject_threshold\t5\n",   /* alone */
        "pcnn-calibration\t1\nclasses\tcat,dog\ntemperature\t2\nfoo\t1\n",    /* unknown key */
        "pcnn-calibration\t1\nclasses\tcat,dog\ntemperature 2\n",            /* no tab */
        "pcnn-calibration\t1\nclasses\tcat,dog,\ntemperature\t2\n",          /* classes */
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        fp = fopen(p, "w");
        fputs(bad[i], fp);
        fclose(fp);
        int rc = pcnn_calibration_read(p, 2, names, &r);
        CHECK(rc == -1);
        if (rc == 0) {
            printf("# accepted bad file %zu\n", i);
            pcnn_calibration_free(&r);
        }
    }
    CHECK(pcnn_calibration_read(tmp_path("missing.txt"), 2, names, &r) == -1);
    /* CRLF and comments are fine */
    fp = fopen(p, "w");
    fputs("# made by hand\r\npcnn-calibration\t1\r\n\r\nclasses\tcat,dog\r\ntemperature\t4\r\n", fp);
    fclose(fp);
    CHECK(pcnn_calibration_read(p, 2, names, &r) == 0 && r.temperature == 4);
    pcnn_calibration_free(&r);
}

int main(void)
{
    if (!mkdtemp(tmpdir)) {
        perror("mkdtemp");
        return 1;
    }
    pcnn_init("test_temperature");
    pcnn_quiet = 1;
    RUN(test_two_class_closed_form);
    RUN(test_k_class_closed_form);
    RUN(test_degenerate);
    RUN(test_ece_by_hand);
    RUN(test_calibration_file);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    if (system(cmd) != 0) printf("# could not remove %s\n", tmpdir);
    return check_summary();
}
