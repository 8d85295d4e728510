/* pcnn-linear — a reference, not a pcnn classifier: multinomial logistic regression on the
 * raw pixels, the floor a generative classifier must clear (make quality's reference row;
 * docs/QUALITY.md). A discriminative model: never a substitute for pcnn's Bayes rule.
 *
 *   pcnn-linear [-l L,L,...] [-i ITERS] TRAIN VAL [TEST]
 *
 * Features: the H·W·C pixel values, standardised with the training set's mean and standard
 * deviation per value (a constant value gets deviation 1). Model: p(c | x) = softmax(W x + b),
 * W (K × D), trained on the labelled images of TRAIN by minimising
 *     L(W, b) = (1/n) Σ_i −log p(y_i | x_i) + (λ/2) ‖W‖²
 * (convex) with L-BFGS (memory 10, backtracking line search on the Armijo condition), from
 * zero, ITERS iterations at most (default 300) or until the gradient's largest entry is below
 * 1e-5. λ is chosen from the list (default 1e-4,1e-3,1e-2,1e-1,1) by VAL's accuracy (ties:
 * the larger λ). Prints one line per λ on stderr and the result on stdout:
 *     linear: lambda 0.01, val accuracy 76.11 % (395/519), test accuracy 75.00 % (30/40)
 * (test only when TEST has labels). Deterministic (double precision, one thread's BLAS order
 * aside). Exit 0, 1 on a bad file, 2 on a usage error. */
#include "io/datafile.h"
#include "util.h"

#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct problem {
    size_t n, D, K;
    double *X;          /* (n, D) standardised */
    int32_t *y;         /* (n) */
} problem;

/* The labelled images of d as standardised features (mean, sd of length D: computed when
 * fit, else applied). */
static problem features(const pcnn_dataset *d, double *mean, double *sd, int fit)
{
    size_t D = (size_t)d->h.H * d->h.W * d->h.C, n = 0;
    for (uint64_t i = 0; i < d->n; i++) n += d->labels[i] >= 0;
    problem p = {n, D, d->h.K, pcnn_xmalloc(pcnn_mul_size(pcnn_mul_size(n, D), sizeof(double))),
                 pcnn_xmalloc((n + 1) * sizeof(int32_t))};
    size_t r = 0;
    for (uint64_t i = 0; i < d->n; i++) {
        if (d->labels[i] < 0) continue;
        for (size_t j = 0; j < D; j++) p.X[r * D + j] = d->pixels[i * D + j];
        p.y[r++] = d->labels[i];
    }
    if (fit) {
        for (size_t j = 0; j < D; j++) {
            double s = 0, s2 = 0;
            for (size_t i = 0; i < n; i++) s += p.X[i * D + j];
            mean[j] = n ? s / (double)n : 0;
            for (size_t i = 0; i < n; i++) s2 += (p.X[i * D + j] - mean[j]) * (p.X[i * D + j] - mean[j]);
            sd[j] = n > 1 ? sqrt(s2 / (double)n) : 0;
            if (sd[j] < 1e-9) sd[j] = 1;
        }
    }
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < D; j++) p.X[i * D + j] = (p.X[i * D + j] - mean[j]) / sd[j];
    return p;
}

/* logits Z (n, K) = X W^T + b, with w = [W (K × D), b (K)]. */
static void logits(const problem *p, const double *w, double *Z)
{
    for (size_t i = 0; i < p->n; i++) memcpy(Z + i * p->K, w + p->K * p->D, p->K * sizeof *Z);
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)p->n, (int)p->K, (int)p->D, 1.0, p->X,
                (int)p->D, w, (int)p->D, 1.0, Z, (int)p->K);
}

/* L(w) and its gradient g (same layout as w); Z: scratch (n, K). */
static double loss_grad(const problem *p, double lambda, const double *w, double *g, double *Z)
{
    size_t K = p->K, D = p->D, n = p->n;
    logits(p, w, Z);
    double loss = 0;
    for (size_t i = 0; i < n; i++) {   /* Z <- (softmax - onehot) / n */
        double *z = Z + i * K, m = z[0], s = 0;
        for (size_t k = 1; k < K; k++) m = z[k] > m ? z[k] : m;
        for (size_t k = 0; k < K; k++) s += exp(z[k] - m);
        loss += m + log(s) - z[p->y[i]];
        for (size_t k = 0; k < K; k++) z[k] = (exp(z[k] - m) / s - (k == (size_t)p->y[i])) / (double)n;
    }
    loss /= (double)n;
    /* dW = Z^T X + lambda W; db = column sums of Z */
    memcpy(g, w, K * D * sizeof *g);
    cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)K, (int)D, (int)n, 1.0, Z, (int)K, p->X,
                (int)D, lambda, g, (int)D);
    for (size_t k = 0; k < K; k++) {
        double s = 0;
        for (size_t i = 0; i < n; i++) s += Z[i * K + k];
        g[K * D + k] = s;
    }
    double r = 0;
    for (size_t j = 0; j < K * D; j++) r += w[j] * w[j];
    return loss + 0.5 * lambda * r;
}

static double dot(const double *a, const double *b, size_t n)
{
    double s = 0;
    for (size_t i = 0; i < n; i++) s += a[i] * b[i];
    return s;
}

enum { MEM = 10 };

/* L-BFGS from w = 0 (Nocedal & Wright, Algorithm 7.4, the two-loop recursion). */
static void train(const problem *p, double lambda, int iters, double *w)
{
    size_t N = p->K * p->D + p->K;
    double *g = pcnn_xcalloc(N, sizeof *g), *d = pcnn_xmalloc(N * sizeof *d), *wn = pcnn_xmalloc(N * sizeof *wn);
    double *gn = pcnn_xmalloc(N * sizeof *gn), *Z = pcnn_xmalloc(pcnn_mul_size(p->n, p->K) * sizeof *Z);
    double *S = pcnn_xmalloc(MEM * N * sizeof *S), *Y = pcnn_xmalloc(MEM * N * sizeof *Y), rho[MEM], alpha[MEM];
    memset(w, 0, N * sizeof *w);
    double f = loss_grad(p, lambda, w, g, Z);
    int m = 0, head = 0;
    for (int it = 0; it < iters; it++) {
        double gmax = 0;
        for (size_t j = 0; j < N; j++) gmax = fabs(g[j]) > gmax ? fabs(g[j]) : gmax;
        if (gmax < 1e-5) break;
        /* d = -H g by the two loops over the last m pairs (s, y) */
        for (size_t j = 0; j < N; j++) d[j] = -g[j];
        for (int c = 0; c < m; c++) {
            int i = (head - 1 - c + MEM) % MEM;
            alpha[i] = rho[i] * dot(S + i * N, d, N);
            for (size_t j = 0; j < N; j++) d[j] -= alpha[i] * Y[i * N + j];
        }
        if (m) {
            int i = (head - 1 + MEM) % MEM;
            double gamma = dot(S + i * N, Y + i * N, N) / dot(Y + i * N, Y + i * N, N);
            for (size_t j = 0; j < N; j++) d[j] *= gamma;
        }
        for (int c = m - 1; c >= 0; c--) {
            int i = (head - 1 - c + MEM) % MEM;
            double beta = rho[i] * dot(Y + i * N, d, N);
            for (size_t j = 0; j < N; j++) d[j] += (alpha[i] - beta) * S[i * N + j];
        }
        double slope = dot(g, d, N);
        if (slope >= 0) {   /* not a descent direction: restart from the gradient */
            for (size_t j = 0; j < N; j++) d[j] = -g[j];
            slope = dot(g, d, N);
            m = 0;
        }
        double step = 1, fn = f;
        for (int ls = 0; ls < 40; ls++, step *= 0.5) {
            for (size_t j = 0; j < N; j++) wn[j] = w[j] + step * d[j];
            fn = loss_grad(p, lambda, wn, gn, Z);
            if (fn <= f + 1e-4 * step * slope) break;
        }
        if (!(fn < f)) break;   /* no progress left */
        for (size_t j = 0; j < N; j++) {
            S[head * N + j] = wn[j] - w[j];
            Y[head * N + j] = gn[j] - g[j];
        }
        double sy = dot(S + head * N, Y + head * N, N);
        if (sy > 1e-12) {
            rho[head] = 1 / sy;
            head = (head + 1) % MEM;
            m = m < MEM ? m + 1 : MEM;
        }
        memcpy(w, wn, N * sizeof *w);
        memcpy(g, gn, N * sizeof *g);
        f = fn;
    }
    free(g);
    free(d);
    free(wn);
    free(gn);
    free(Z);
    free(S);
    free(Y);
}

/* Images of p classified right (argmax of the logits; ties to the lower class). */
static size_t correct(const problem *p, const double *w)
{
    double *Z = pcnn_xmalloc(pcnn_mul_size(p->n, p->K) * sizeof *Z);
    logits(p, w, Z);
    size_t c = 0;
    for (size_t i = 0; i < p->n; i++) {
        size_t best = 0;
        for (size_t k = 1; k < p->K; k++)
            if (Z[i * p->K + k] > Z[i * p->K + best]) best = k;
        c += best == (size_t)p->y[i];
    }
    free(Z);
    return c;
}

static void usage(FILE *fp)
{
    fprintf(fp, "usage: pcnn-linear [-l L,L,...] [-i ITERS] TRAIN VAL [TEST]\n"
                "Multinomial logistic regression on the standardised pixels (a reference for\n"
                "make quality): lambda chosen on VAL; prints VAL's (and TEST's) accuracy.\n");
}

int main(int argc, char **argv)
{
    pcnn_init(argv[0]);
    const char *lambdas = "1e-4,1e-3,1e-2,1e-1,1";
    long iters = 300;
    int c;
    while ((c = getopt(argc, argv, "l:i:h")) != -1) {
        if (c == 'l') lambdas = optarg;
        else if (c == 'i') {
            if (pcnn_parse_long(optarg, 1, 100000, &iters)) pcnn_usage_error("-i: expected 1..100000, got '%s'", optarg);
        } else if (c == 'h') {
            usage(stdout);
            return 0;
        } else {
            usage(stderr);
            return 2;
        }
    }
    if (argc - optind < 2 || argc - optind > 3) pcnn_usage_error("expected TRAIN VAL [TEST]");
    pcnn_dataset *tr = pcnn_dataset_load(argv[optind]), *va = pcnn_dataset_load(argv[optind + 1]);
    pcnn_dataset *te = argc - optind == 3 ? pcnn_dataset_load(argv[optind + 2]) : NULL;
    if (!tr || !va || (argc - optind == 3 && !te)) return 1;
    size_t D = (size_t)tr->h.H * tr->h.W * tr->h.C;
    if ((size_t)va->h.H * va->h.W * va->h.C != D || va->h.K != tr->h.K ||
        (te && ((size_t)te->h.H * te->h.W * te->h.C != D || te->h.K != tr->h.K)))
        pcnn_die("the data files differ in image size or classes");
    double *mean = pcnn_xmalloc(D * sizeof *mean), *sd = pcnn_xmalloc(D * sizeof *sd);
    problem ptr = features(tr, mean, sd, 1), pva = features(va, mean, sd, 0);
    problem pte = te ? features(te, mean, sd, 0) : (problem){0};
    if (ptr.n == 0 || pva.n == 0) pcnn_die("TRAIN and VAL need labelled images");
    size_t N = ptr.K * D + ptr.K;
    double *w = pcnn_xmalloc(N * sizeof *w), *best_w = pcnn_xmalloc(N * sizeof *w), best_l = 0;
    size_t best_c = 0;
    int any = 0;
    char *list = pcnn_xstrdup(lambdas), *save = NULL;
    for (char *t = strtok_r(list, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        double l;
        if (pcnn_parse_double(t, 0, 1e6, &l)) pcnn_usage_error("-l: expected numbers >= 0, got '%s'", t);
        train(&ptr, l, (int)iters, w);
        size_t cv = correct(&pva, w);
        fprintf(stderr, "%s: lambda %g: train accuracy %.2f %%, val accuracy %.2f %% (%zu/%zu)\n", pcnn_progname, l,
                100.0 * (double)correct(&ptr, w) / (double)ptr.n, 100.0 * (double)cv / (double)pva.n, cv, pva.n);
        if (!any || cv >= best_c) {
            best_c = cv;
            best_l = l;
            memcpy(best_w, w, N * sizeof *w);
            any = 1;
        }
    }
    printf("linear: lambda %g, val accuracy %.2f %% (%zu/%zu)", best_l, 100.0 * (double)best_c / (double)pva.n,
           best_c, pva.n);
    if (te && pte.n) {
        size_t ct = correct(&pte, best_w);
        printf(", test accuracy %.2f %% (%zu/%zu)", 100.0 * (double)ct / (double)pte.n, ct, pte.n);
    }
    printf("\n");
    free(list);
    free(w);
    free(best_w);
    free(mean);
    free(sd);
    free(ptr.X);
    free(ptr.y);
    free(pva.X);
    free(pva.y);
    free(pte.X);
    free(pte.y);
    pcnn_dataset_free(tr);
    pcnn_dataset_free(va);
    pcnn_dataset_free(te);
    return fflush(stdout) || ferror(stdout) ? 1 : 0;
}
