/*
 * bench_cpu.c — the pcnn side of `make bench`: CPU training and scoring speed of
 * the network at given sizes, printed as TSV lines like tests/reference/bench_torch.py:
 *
 *   pcnn  1,40,5  train_img_per_s  ..   train step (forward + backward) + Adam/Polyak, batch -b
 *   pcnn  1,40,5  train_ce_all_img_per_s      the hybrid objective (SPEC 6b), CE on every image
 *   pcnn  1,40,5  train_ce_quarter_img_per_s  the same with --ce-fraction 0.25
 *   pcnn  1,40,5  train_bf16_img_per_s  the train step with bf16 GEMMs (pcnn-fit --precision
 *                                       bf16); only on a CPU with AVX512_BF16
 *   pcnn  1,40,5  score_img_per_s  ..   log p(x|c) for all K = 4 classes, eval
 *   pcnn  1,40,5  peak_rss_mib     ..   peak resident memory (the config runs in its own process)
 *
 *   bench_cpu [-b 32] [-s 32] [-r REPS] [-t MIN_SECONDS] [-m train|score] R,F,M ...
 *   bench_cpu -p [-b 32] R,F,M ...   where the time goes (nn_prof.h): REPS training steps,
 *                                    REPS bf16 training steps (AVX512_BF16 only), then REPS
 *                                    scoring batches, each phase's table
 * Inputs are random pixels; timing starts after one warm-up call.
 */
#include "model/model.h"
#include "model/net.h"
#include "nn/nn_layers.h"
#include "nn/nn_prof.h"
#include "nn/nn_isa.h"
#include "util.h"

#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

static int B = 32, S = 32, REPS = 3;
static double MIN_S = 3.0;
static int DO_TRAIN = 1, DO_SCORE = 1;   /* -m train|score: time one only (for profiling) */
static int PROFILE;                      /* -p: the breakdown instead of the rates */

typedef struct bench_ctx {
    pcnn_net *net;
    uint8_t *px;
    int32_t *labels;
    double *ll;
    uint64_t step;
    int n_ce;      /* hybrid step: images carrying the CE term */
} bench_ctx;

static void train_once(bench_ctx *c)
{
    pcnn_net_train_step(c->net, c->px, c->labels, B, 1, c->step++);
    pcnn_net_adam_step(c->net, 2e-4f, 0.9f, 0.999f, 1e-8f, 0.9995f);
}

static void train_hybrid_once(bench_ctx *c)
{
    pcnn_net_hybrid_step(c->net, c->px, c->labels, B, c->n_ce, 1.0f, 10.0f, 1, 1, c->step++);
    pcnn_net_adam_step(c->net, 2e-4f, 0.9f, 0.999f, 1e-8f, 0.9995f);
}

static void score_once(bench_ctx *c)
{
    pcnn_net_loglik(c->net, c->px, B, 1, c->ll);
}

static double rate(void (*fn)(bench_ctx *), bench_ctx *c)
{
    fn(c);
    int n = 0;
    double t0 = pcnn_now();
    while (n < REPS || pcnn_now() - t0 < MIN_S) {
        fn(c);
        n++;
    }
    return (double)n * B / (pcnn_now() - t0);
}

/* One phase's breakdown: a warm-up call, then REPS calls timed by kind. */
static void profile_phase(void (*fn)(bench_ctx *), bench_ctx *c, const char *cfg, const char *what)
{
    fn(c);
    nn_prof_reset();
    double t0 = pcnn_now();
    for (int i = 0; i < REPS; i++) fn(c);
    printf("\n%s: %s, batch %d, %d calls\n", cfg, what, B, REPS);
    nn_prof_report(stdout, pcnn_now() - t0);
    fflush(stdout);
}

/* c on a net of its own from m training in bf16 (the same weights c's net started from). */
static bench_ctx bf16_ctx(const bench_ctx *c, const pcnn_model_file *m)
{
    bench_ctx cb = *c;
    cb.net = pcnn_net_create(m, "cpu", B);
    if (!cb.net || pcnn_net_set_precision(cb.net, PCNN_PREC_BF16)) exit(1);
    cb.step = 0;
    return cb;
}

static void run_config(const char *cfg)
{
    int R, F, M;
    if (sscanf(cfg, "%d,%d,%d", &R, &F, &M) != 3) pcnn_die("bad config '%s' (want R,F,M)", cfg);
    const int K = 4;
    pcnn_model_file *m = pcnn_model_create((uint32_t)R, (uint32_t)F, (uint32_t)M, K, (uint32_t)S,
                                           (uint32_t)S, 0, NULL, 1);
    bench_ctx c = {0};
    c.net = pcnn_net_create(m, "cpu", B);
    if (!c.net) exit(1);
    size_t npix = (size_t)B * S * S * 3;
    c.px = pcnn_xmalloc(npix);
    c.labels = pcnn_xmalloc((size_t)B * sizeof *c.labels);
    c.ll = pcnn_xmalloc((size_t)B * K * sizeof *c.ll);
    srand(1);
    for (size_t i = 0; i < npix; i++) c.px[i] = (uint8_t)(rand() & 255);
    for (int i = 0; i < B; i++) c.labels[i] = i % K;
    int bf16 = DO_TRAIN && nn_isa() >= NN_ISA_AVX512BF16;
    if (PROFILE) {
        profile_phase(train_once, &c, cfg, "training step (fwd + bwd + Adam)");
        if (bf16) {
            bench_ctx cb = bf16_ctx(&c, m);
            profile_phase(train_once, &cb, cfg, "training step in bf16 (fwd + bwd + Adam)");
            pcnn_net_free(cb.net);
        }
        profile_phase(score_once, &c, cfg, "scoring batch (4 classes)");
        fflush(stdout);
        _exit(0);   /* not exit: no whole-run report from nn_prof's atexit */
    }
    double tr = DO_TRAIN ? rate(train_once, &c) : 0;
    double sc = DO_SCORE ? rate(score_once, &c) : 0;
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);   /* before the hybrid net: the peak of training as PyTorch's */
    double tr_bf16 = 0;
    if (bf16) {   /* after the peak too: two nets at once are not what pcnn-fit holds */
        bench_ctx cb = bf16_ctx(&c, m);
        tr_bf16 = rate(train_once, &cb);
        pcnn_net_free(cb.net);
    }
    double tr_all = 0, tr_quarter = 0;
    if (DO_TRAIN) {   /* a net wide enough for the CE term on every image: B * K rows */
        pcnn_net_free(c.net);
        c.net = pcnn_net_create(m, "cpu", B * K);
        c.n_ce = B;
        tr_all = rate(train_hybrid_once, &c);
        c.n_ce = (B + 3) / 4;
        tr_quarter = rate(train_hybrid_once, &c);
    }
    if (DO_TRAIN) printf("pcnn\t%s\ttrain_img_per_s\t%.2f\n", cfg, tr);
    if (DO_TRAIN) printf("pcnn\t%s\ttrain_ce_all_img_per_s\t%.2f\n", cfg, tr_all);
    if (DO_TRAIN) printf("pcnn\t%s\ttrain_ce_quarter_img_per_s\t%.2f\n", cfg, tr_quarter);
    if (tr_bf16 > 0) printf("pcnn\t%s\ttrain_bf16_img_per_s\t%.2f\n", cfg, tr_bf16);
    if (DO_SCORE) printf("pcnn\t%s\tscore_img_per_s\t%.2f\n", cfg, sc);
    printf("pcnn\t%s\tpeak_rss_mib\t%.1f\n", cfg, (double)ru.ru_maxrss / 1024.0);
    fflush(stdout);
    free(c.px);
    free(c.labels);
    free(c.ll);
    pcnn_net_free(c.net);
    pcnn_model_file_free(m);
}

int main(int argc, char **argv)
{
    pcnn_init(argv[0]);
    int c;
    long v;
    double d;
    while ((c = getopt(argc, argv, "b:s:r:t:m:p")) != -1) {
        switch (c) {
        case 'b': if (pcnn_parse_long(optarg, 1, 4096, &v)) pcnn_usage_error("-b"); B = (int)v; break;
        case 's': if (pcnn_parse_long(optarg, 4, 1024, &v) || v % 4) pcnn_usage_error("-s"); S = (int)v; break;
        case 'r': if (pcnn_parse_long(optarg, 1, 100000, &v)) pcnn_usage_error("-r"); REPS = (int)v; break;
        case 'm':
            if (!strcmp(optarg, "train")) DO_SCORE = 0;
            else if (!strcmp(optarg, "score")) DO_TRAIN = 0;
            else pcnn_usage_error("-m: want train or score");
            break;
        case 'p': PROFILE = 1; nn_prof_on = 1; break;
        case 't': if (pcnn_parse_double(optarg, 0, 1e6, &d)) pcnn_usage_error("-t"); MIN_S = d; break;
        default: pcnn_usage_error("usage: bench_cpu [-b N] [-s SIZE] [-r REPS] [-t SECONDS] [-m train|score] [-p] R,F,M ...");
        }
    }
    fprintf(stderr, "bench: pcnn CPU path %s (PCNN_ISA lowers it)%s\n", nn_isa_name(nn_isa()),
            nn_isa() >= NN_ISA_AVX512BF16 ? "; bf16 training measured too"
                                          : "; no AVX512_BF16: no bf16 training row");
    for (int i = optind; i < argc; i++) {
        /* each config in its own process, so peak RSS is its own */
        fflush(stdout);
        pid_t pid = fork();
        if (pid == 0) {
            run_config(argv[i]);
            _exit(0);
        }
        int st;
        if (pid < 0 || waitpid(pid, &st, 0) < 0 || !WIFEXITED(st) || WEXITSTATUS(st))
            pcnn_die("config %s failed", argv[i]);
    }
    return 0;
}
