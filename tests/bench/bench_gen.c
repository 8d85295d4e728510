/*
 * bench_gen.c — `make bench-gen`: sampling speed of the naive and the cached
 * sampler (sample.h) on the CPU, K = 4 classes, images S x S, as a table:
 *
 *   R,F,M      sampler        images  batch   seconds   images/s  speed-up same bytes
 *   1,40,5     naive*8           100     32      ...       ...      1.00x          -
 *   1,40,5     naive               1      1      ...       ...      ..x          yes
 *   1,40,5     cached            100     32      ...       ...      ..x          -
 *
 *   bench_gen [-n 100] [-N NAIVE] [-p PASSES] [-b 32] [-s 32] R,F,M[:NAIVE] ...
 * cached: -n images (25 per class when 100) in batches of -b, timed whole.
 * naive*P: the naive sampler costs H*W full network passes per batch (plus
 * H*W pixel samples, negligible), so its time for the same images and batch
 * size is H*W times one pass, measured over P passes (a whole naive run at
 * (2,80,10) takes hours here). naive: a real naive run on NAIVE images (-N, or
 * per config R,F,M:NAIVE; default none), batch min(NAIVE, -b); "same bytes"
 * says whether its images equal the cached sampler's first ones bit for bit.
 * Weights: fresh initialisation (speed does not depend on the values).
 */
#include "model/model.h"
#include "model/net.h"
#include "model/sample.h"
#include "util.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int B = 32, S = 32, NIMG = 100, NNAIVE = 0, PASSES = 8;

typedef void (*sampler_fn)(pcnn_net *, const pcnn_model_file *, const int32_t *, const uint64_t *,
                           int, uint64_t, int, float *, pcnn_progress *);

/* Samples n images in batches of B; returns seconds. */
static double run(sampler_fn fn, pcnn_net *net, const pcnn_model_file *m, const int32_t *labels,
                  const uint64_t *keys, int n, float *x)
{
    size_t per = (size_t)S * S * 3;
    double t0 = pcnn_now();
    for (int i = 0; i < n; i += B) {
        int nb = n - i < B ? n - i : B;
        fn(net, m, labels + i, keys + i, nb, 1, 1, x + (size_t)i * per, NULL);
    }
    return pcnn_now() - t0;
}

static void row(const char *cfg, const char *what, int n, int b, double sec, double rate,
                const char *speedup, const char *same)
{
    printf("%-10s %-13s %7d %6d %9.2f %10.3f %9s %10s\n", cfg, what, n, b, sec, rate, speedup, same);
}

static void run_config(const char *arg)
{
    int R, F, M, nnaive = NNAIVE;
    char cfg[64];
    int got = sscanf(arg, "%d,%d,%d:%d", &R, &F, &M, &nnaive);
    if (got < 3) pcnn_die("bad config '%s' (want R,F,M or R,F,M:NAIVE_IMAGES)", arg);
    snprintf(cfg, sizeof cfg, "%d,%d,%d", R, F, M);
    const int K = 4;
    pcnn_model_file *m = pcnn_model_create((uint32_t)R, (uint32_t)F, (uint32_t)M, K, (uint32_t)S,
                                           (uint32_t)S, 0, NULL, 1);
    pcnn_net *net = pcnn_net_create(m, "cpu", B);
    if (!net) exit(1);
    int n = NIMG > nnaive ? NIMG : nnaive;
    size_t per = (size_t)S * S * 3;
    int32_t *labels = pcnn_xmalloc((size_t)n * sizeof *labels);
    uint64_t *keys = pcnn_xmalloc((size_t)n * sizeof *keys);
    int per_class = (NIMG + K - 1) / K;
    for (int i = 0; i < n; i++) {
        labels[i] = (i / per_class) % K;
        keys[i] = ((uint64_t)labels[i] << 24) | (uint64_t)(i % per_class);
    }
    float *xc = pcnn_xmalloc((size_t)n * per * sizeof *xc), *xn = pcnn_xmalloc((size_t)n * per * sizeof *xn);
    double tc = run(pcnn_sample_cached, net, m, labels, keys, NIMG, xc);
    double rc = NIMG / tc;

    /* The naive sampler's cost per batch is H*W full passes of that batch (and
     * H*W pixel samples, negligible): time PASSES passes on a full batch, after
     * one warm-up, and scale. */
    int bn = NIMG < B ? NIMG : B;
    float *logits = pcnn_xmalloc((size_t)bn * S * S * 10 * M * sizeof *logits);
    memset(xn, 0, (size_t)bn * per * sizeof *xn);
    pcnn_net_forward_logits(net, xn, labels, bn, 1, logits);
    double t0 = pcnn_now();
    for (int p = 0; p < PASSES; p++) pcnn_net_forward_logits(net, xn, labels, bn, 1, logits);
    double tpass = (pcnn_now() - t0) / PASSES;
    double tn_est = tpass * S * S * ((NIMG + bn - 1) / bn);
    double rn = NIMG / tn_est;
    free(logits);
    char sp[32], what[32];
    snprintf(what, sizeof what, "naive*%d", PASSES);
    row(cfg, what, NIMG, bn, tn_est, rn, "1.00x", "-");
    snprintf(sp, sizeof sp, "%.1fx", rc / rn);

    /* A real naive run on a few images: its rate, and the bytes it must share. */
    if (nnaive) {
        double tn = run(pcnn_sample_naive, net, m, labels, keys, nnaive, xn);
        int same = nnaive <= NIMG && !memcmp(xc, xn, (size_t)nnaive * per * sizeof *xc);
        char sp2[32];
        snprintf(sp2, sizeof sp2, "%.2fx", (nnaive / tn) / rn);
        row(cfg, "naive", nnaive, nnaive < B ? nnaive : B, tn, nnaive / tn, sp2, nnaive > NIMG ? "-" : same ? "yes" : "NO");
    }
    row(cfg, "cached", NIMG, bn, tc, rc, sp, "-");
    fflush(stdout);
    free(labels), free(keys), free(xc), free(xn);
    pcnn_net_free(net);
    pcnn_model_file_free(m);
}

static void loadavg(const char *when)
{
    char buf[128] = "?";
    FILE *fp = fopen("/proc/loadavg", "r");
    if (fp) {
        if (!fgets(buf, sizeof buf, fp)) strcpy(buf, "?\n");
        fclose(fp);
    }
    printf("# load average %s: %s", when, buf);
}

int main(int argc, char **argv)
{
    pcnn_init(argv[0]);
    int c;
    long v;
    while ((c = getopt(argc, argv, "n:N:b:s:p:")) != -1) {
        switch (c) {
        case 'n': if (pcnn_parse_long(optarg, 1, 100000, &v)) pcnn_usage_error("-n: 1..100000"); NIMG = (int)v; break;
        case 'N': if (pcnn_parse_long(optarg, 0, 100000, &v)) pcnn_usage_error("-N: 0..100000"); NNAIVE = (int)v; break;
        case 'b': if (pcnn_parse_long(optarg, 1, 4096, &v)) pcnn_usage_error("-b: 1..4096"); B = (int)v; break;
        case 'p': if (pcnn_parse_long(optarg, 1, 100000, &v)) pcnn_usage_error("-p: 1..100000"); PASSES = (int)v; break;
        case 's': if (pcnn_parse_long(optarg, 4, 1024, &v) || v % 4) pcnn_usage_error("-s: a multiple of 4"); S = (int)v; break;
        default: pcnn_usage_error("usage: bench_gen [-n N] [-N NAIVE] [-p PASSES] [-b B] [-s SIZE] R,F,M[:NAIVE] ...");
        }
    }
    if (optind == argc) pcnn_usage_error("usage: bench_gen [-n N] [-N NAIVE] [-p PASSES] [-b B] [-s SIZE] R,F,M[:NAIVE] ...");
    const char *thr = getenv("OMP_NUM_THREADS");
    printf("# bench-gen: %dx%d, K = 4, seed 1, %ld cores, OMP_NUM_THREADS=%s\n", S, S,
           sysconf(_SC_NPROCESSORS_ONLN), thr ? thr : "(unset)");
    loadavg("before");
    printf("%-10s %-13s %7s %6s %9s %10s %9s %10s\n", "R,F,M", "sampler", "images", "batch", "seconds",
           "images/s", "speed-up", "same bytes");
    for (int i = optind; i < argc; i++) run_config(argv[i]);
    loadavg("after");
    printf("# naive*P: the naive sampler's time, H*W full passes per batch, from P passes timed;\n"
           "# naive: a real naive run on fewer images (same bytes: equal to the cached ones).\n");
    return 0;
}
