/* fit.c — the training loop; see fit.h. */
#include "model/fit.h"

#include "dist.h"
#include "eval/metrics.h"
#include "eval/prior.h"
#include "model/model.h"
#include "model/net.h"
#include "rng.h"
#include "util.h"

#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static volatile sig_atomic_t stop_signal;

static void on_stop_signal(int sig)
{
    stop_signal = sig;
}

void pcnn_fit_defaults(pcnn_fit_options *o)
{
    memset(o, 0, sizeof *o);
    o->device = NULL;   /* NULL: the CPU (pcnn-fit sets pcnn_device_default()) */
    o->epochs = 10;
    o->batch = 64;
    o->lr = 2e-4;           /* SPEC §6 */
    o->lr_decay = 0.999995; /* per epoch, SPEC §6 */
    o->polyak = 0.9995;     /* openai/pixel-cnn */
    o->ce_weight = 0;       /* SPEC §6b: likelihood only */
    o->ce_temperature = 1;
    o->ce_fraction = 1;
    o->class_lr_mult = 1;
    o->precision = PCNN_PREC_FP32;
}

int pcnn_fit_objective(const pcnn_fit_options *o)
{
    return (o->ce_weight > 0 || o->ce_auto) && o->ce_fraction > 0 ? PCNN_OBJECTIVE_HYBRID
                                                                  : PCNN_OBJECTIVE_LIKELIHOOD;
}

void pcnn_fit_ce_auto(const pcnn_fit_options *o, double nll, double *lambda, double *tau)
{
    double l = nll > 0 ? PCNN_CE_AUTO_SCALE / nll : PCNN_CE_AUTO_MAX;
    l = l < PCNN_CE_AUTO_MIN ? PCNN_CE_AUTO_MIN : l > PCNN_CE_AUTO_MAX ? PCNN_CE_AUTO_MAX : l;
    *lambda = l;
    *tau = o->ce_temp_auto ? PCNN_CE_AUTO_PRODUCT / l : o->ce_temperature;
}

double pcnn_fit_ce_auto_start(size_t npix)
{
    return 8.0 * M_LN2 * (double)npix;
}

int pcnn_fit_ce_rows(const pcnn_fit_options *o, int K)
{
    return o->ce_classes >= 2 && o->ce_classes < K ? o->ce_classes : K;
}

int pcnn_fit_ce_images(const pcnn_fit_options *o, int nb)
{
    if (pcnn_fit_objective(o) != PCNN_OBJECTIVE_HYBRID) return 0;
    int k = (int)ceil(o->ce_fraction * nb - 1e-9);
    return k < 1 ? 1 : k > nb ? nb : k;
}

static int check_files(const pcnn_fit_options *o, char *const *train, int ntrain,
                       const char *val, const char *resume)
{
    const char *out = o->out_path;
    if (!out || !strcmp(out, "-")) {
        pcnn_warn("-o -: a model file is rewritten at every checkpoint, so it is always a "
                  "regular file, never stdout (name a file)");
        return PCNN_EXIT_USAGE;
    }
    /* the inputs: validation, the initial model, the training files, then (for the log
     * only) -o and -r */
    int n = ntrain + 2;
    pcnn_input *in = pcnn_xmalloc((size_t)(n + 2) * sizeof *in);
    in[0] = (pcnn_input){"the validation data (-V)", val};
    in[1] = (pcnn_input){"the initial model (--init)", o->init_path};
    for (int i = 0; i < ntrain; i++) in[2 + i] = (pcnn_input){"the training data", train[i]};
    in[n] = (pcnn_input){"the model file (-o)", out};
    in[n + 1] = (pcnn_input){"the resumed model (-r)", resume};
    int rc = 0;
    if (pcnn_output_not_input(out, "the model file (-o)", in, n)) {
        rc = PCNN_EXIT_USAGE;
    } else if (resume && strcmp(resume, out) && pcnn_same_file(resume, out)) {
        pcnn_warn("%s: the model file (-o) is the resumed model %s under another name (leave "
                  "out -o to continue in place, or name another file)", out, resume);
        rc = PCNN_EXIT_USAGE;
    } else if (o->log_path && pcnn_output_not_input(o->log_path, "the log (--log)", in, n + 2)) {
        rc = PCNN_EXIT_USAGE;
    }
    free(in);
    return rc ? rc : pcnn_outfile_check(out, 1) ? 1 : 0;
}

int pcnn_fit_check_files(const pcnn_fit_options *o, char *const *train, int ntrain,
                         const char *val, const char *resume)
{
    int rc = pcnn_dist_rank() == 0 ? check_files(o, train, ntrain, val, resume) : 0;
    pcnn_dist_bcast(&rc, sizeof rc);
    return rc;
}

/* Batch order of an epoch: Fisher–Yates driven by (seed, epoch, i). */
static void epoch_permutation(uint64_t *perm, uint64_t n, uint64_t seed, uint64_t epoch)
{
    for (uint64_t i = 0; i < n; i++) perm[i] = i;
    for (uint64_t i = n; i > 1; i--) {
        uint64_t j = pcnn_rng_hash4(seed, PCNN_RNG_SHUFFLE, epoch, i, 0) % i;
        uint64_t t = perm[i - 1];
        perm[i - 1] = perm[j];
        perm[j] = t;
    }
}

static void set_meta_u64(pcnn_model_file *m, const char *key, uint64_t v)
{
    char buf[32];
    snprintf(buf, sizeof buf, "%llu", (unsigned long long)v);
    pcnn_model_file_set_meta(m, key, buf);
}

static void set_meta_double(pcnn_model_file *m, const char *key, double v)
{
    char buf[40];
    snprintf(buf, sizeof buf, "%.17g", v);
    pcnn_model_file_set_meta(m, key, buf);
}

static double get_meta_double(const pcnn_model_file *m, const char *key, double dflt)
{
    const char *s = pcnn_model_file_get_meta(m, key);
    double v;
    return s && !pcnn_parse_double(s, -1e300, 1e300, &v) ? v : dflt;
}

/* The cosine schedule's rate at step t (0-based) of T = epochs x spe steps: from lr at the
 * first step down towards 0 at the last (lr (1 + cos(pi t / T)) / 2); past T (-r with a
 * larger -e than the schedule's: the schedule follows the new -e) it would stay at 0. */
static double cosine_lr(const pcnn_fit_options *o, uint64_t t, uint64_t spe)
{
    double T = (double)o->epochs * (double)spe;
    double f = T > 0 && (double)t < T ? (double)t / T : 1.0;
    return o->lr * 0.5 * (1.0 + cos(M_PI * f));
}

typedef struct fit_state {
    uint64_t step, epoch;
    double lr;
    double epoch_loss_sum; /* sum over images seen this epoch of -log p (nats) */
    uint64_t epoch_images;
    double epoch_ce_sum;   /* sum over the CE term's images of CE_n (nats) */
    uint64_t epoch_ce_images;
    uint64_t best_epoch;   /* epoch of the best validation accuracy kept as best.*, 0 none */
    double best_acc, best_bpd;
    double *ce_prior;      /* K: the CE term's learned log prior (nats), NULL when uniform */
    double nll_ema;        /* --ce-weight auto: running mean of the batch mean -log p(x | y) */
    double ce_lambda, ce_tau; /* the CE weight and temperature of the last step */
} fit_state;

/* The learned log prior's step (o->ce_prior_learned): b_c -= CE_PRIOR_RATE * tau * g_c, g the
 * step's mean over its CE images of p(c | x) - [c = y], the gradient of the mean CE term / tau
 * with respect to b_c / tau: plain gradient descent on the posterior's logits b / tau at rate
 * 1. The mean CE is convex in b with curvature at most 1/2 in those units, so the step is
 * stable; it follows the likelihoods' drift between classes (tens of nats over a run) within a
 * few dozen steps, and a step's 16-32 images move b / tau by about 0.1 around its target. */
#define CE_PRIOR_RATE 1.0

static void ce_prior_step(double *b, const double *g, int K, int n_ce, double tau)
{
    if (n_ce <= 0) return;
    for (int c = 0; c < K; c++) b[c] -= CE_PRIOR_RATE * tau * g[c] / n_ce;
}

/* Writes the checkpoint: net state + counters + options. 0 or -1 (printed). With several
 * ranks every rank stores (the same bits) into its model in memory, rank 0 alone writes the
 * file, and every rank returns rank 0's result. */
static int save_checkpoint_file(const pcnn_fit_options *o, pcnn_net *net, pcnn_model_file *m,
                           const fit_state *st, uint64_t ntrain)
{
    if (pcnn_net_store(net, m)) return -1;
    /* One tensor order whatever the history: the best epoch's copy (stored when validation
     * finds it, before or after the first checkpoint) last, so that a resumed run writes
     * the uninterrupted run's bytes. */
    pcnn_model_file_move_last(m, "best.");
    m->step = st->step;
    m->epoch = st->epoch;
    m->lr = st->lr;
    set_meta_u64(m, "batch", (uint64_t)o->batch);
    set_meta_u64(m, "train_images", ntrain);
    set_meta_double(m, "lr_decay", o->lr_decay);
    pcnn_model_file_set_meta(m, "lr_schedule", o->lr_cosine ? "cosine" : "epoch-decay");
    set_meta_double(m, "lr_base", o->lr);
    set_meta_double(m, "polyak", o->polyak);
    set_meta_double(m, "epoch_loss_sum", st->epoch_loss_sum);
    set_meta_u64(m, "epoch_images", st->epoch_images);
    pcnn_model_file_set_meta(m, "objective", pcnn_objective_name(pcnn_fit_objective(o)));
    if (o->ce_auto) {   /* the rule, its state (resumed from the bits) and where it stands */
        pcnn_model_file_set_meta(m, "ce_weight", "auto");
        if (o->ce_temp_auto) pcnn_model_file_set_meta(m, "ce_temperature", "auto");
        else set_meta_double(m, "ce_temperature", o->ce_temperature);
        set_meta_double(m, "ce_auto_scale", PCNN_CE_AUTO_SCALE);   /* the rule, for pcnn-info */
        set_meta_double(m, "ce_auto_product", PCNN_CE_AUTO_PRODUCT);
        set_meta_double(m, "ce_nll_ema", st->nll_ema);
        set_meta_double(m, "ce_weight_last", st->ce_lambda);
        set_meta_double(m, "ce_temperature_last", st->ce_tau);
    } else {
        set_meta_double(m, "ce_weight", o->ce_weight);
        set_meta_double(m, "ce_temperature", o->ce_temperature);
    }
    set_meta_double(m, "ce_fraction", o->ce_fraction);
    set_meta_u64(m, "ce_classes", (uint64_t)pcnn_fit_ce_rows(o, (int)m->K));
    pcnn_model_file_set_meta(m, "ce_prior", st->ce_prior ? "learned" : "uniform");
    if (st->ce_prior) {   /* "b0,b1,...": %.17g each, so a resumed run goes on from the bits */
        char *list = pcnn_xmalloc((size_t)m->K * 26 + 1), *e = list;
        for (uint32_t c = 0; c < m->K; c++)
            e += sprintf(e, "%s%.17g", c ? "," : "", st->ce_prior[c]);
        pcnn_model_file_set_meta(m, "ce_log_prior", list);
        free(list);
    }
    set_meta_double(m, "class_lr_mult", o->class_lr_mult);
    set_meta_double(m, "dropout", o->no_dropout ? 0.0 : 0.5);
    pcnn_model_file_set_meta(m, "keep_best_by", o->keep_best_fitted ? "fitted" : "uniform");
    pcnn_model_file_set_meta(m, "precision", pcnn_precision_name(o->precision));
    set_meta_double(m, "epoch_ce_sum", st->epoch_ce_sum);
    set_meta_u64(m, "epoch_ce_images", st->epoch_ce_images);
    if (st->best_epoch) {
        set_meta_u64(m, "best_epoch", st->best_epoch);
        set_meta_double(m, "best_val_acc", st->best_acc);
        set_meta_double(m, "best_val_bpd", st->best_bpd);
    }
    return pcnn_dist_rank() == 0 ? pcnn_model_file_write(o->out_path, m) : 0;
}

static int save_checkpoint(const pcnn_fit_options *o, pcnn_net *net, pcnn_model_file *m,
                           const fit_state *st, uint64_t ntrain)
{
    int rc = save_checkpoint_file(o, net, m, st, ntrain);
    pcnn_dist_bcast(&rc, sizeof rc);
    return rc;
}

typedef struct val_result {
    double bpd, acc;   /* NaN when unknown */
    double acc_prior;  /* accuracy with the class prior fitted on these scores (eval/prior.h) */
    double acc_keep;   /* the one that picks the kept epoch: acc, or acc_prior */
    uint64_t labelled;
} val_result;

/* Validation in rounds (dist.h): rank 0 hands out the images, every rank scores its share
 * with the Polyak weights (scores do not depend on the batch: the same bits as one
 * process), rank 0 tallies them (metrics.h) and every rank gets the tally. */
typedef struct val_rounds {
    pcnn_net *net;
    const pcnn_dataset *val;
    size_t npix;
    uint64_t next, written;   /* rank 0: images handed out, images tallied */
    pcnn_tally tally;
    double *z;                /* rank 0: n × K log p(x | c), for the fitted prior */
} val_rounds;

static int val_read(void *ctx, void *in, int cap)
{
    val_rounds *v = ctx;
    uint64_t left = v->val->n - v->next;
    int n = left < (uint64_t)cap ? (int)left : cap;
    memcpy(in, v->val->pixels + v->next * v->npix, (size_t)n * v->npix);
    v->next += (uint64_t)n;
    return n;
}

static void val_work(void *ctx, const void *in, int n, void *out)
{
    val_rounds *v = ctx;
    pcnn_net_loglik(v->net, in, n, 1, out);
}

static int val_write(void *ctx, const void *in, const void *out, int n)
{
    val_rounds *v = ctx;
    const pcnn_data_header *h = &v->val->h;
    pcnn_tally_add(&v->tally, out, v->val->labels + v->written, (size_t)n, h->K, h->H, h->W, h->C);
    memcpy(v->z + v->written * h->K, out, (size_t)n * h->K * sizeof(double));
    v->written += (uint64_t)n;
    return 0;
}

/* Accuracy on the labelled rows of z (n × K) with the class prior fitted on them (Bayes' rule
 * with K − 1 offsets, eval/prior.h): what pcnn-argmax --fit-prior decides by. NaN when the
 * fit has no labelled rows or too many classes. */
static double accuracy_fitted_prior(const double *z, const int32_t *y, size_t n, uint32_t K)
{
    pcnn_prior_fit f;
    if (K > PCNN_PRIOR_MAX_K || pcnn_prior_fit_run(z, y, n, K, &f) == PCNN_PRIOR_ERROR) return NAN;
    return pcnn_prior_accuracy(z, y, n, K, f.b);
}

static val_result validate(pcnn_net *net, const pcnn_dataset *val, int batch, int keep_fitted)
{
    val_result r = {NAN, NAN, NAN, NAN, 0};
    if (!val || val->n == 0) return r;
    val_rounds v = {.net = net, .val = val, .npix = (size_t)val->h.H * val->h.W * val->h.C};
    if (pcnn_dist_rank() == 0) v.z = pcnn_xmalloc(pcnn_mul_size(val->n, val->h.K * sizeof *v.z));
    pcnn_dist_rounds rounds = {.in_bytes = v.npix, .out_bytes = val->h.K * sizeof(double),
                               .per_rank = batch, .ctx = &v, .read = val_read, .work = val_work,
                               .write = val_write};
    pcnn_dist_run_rounds(&rounds);   /* cannot fail: the images are in memory */
    pcnn_dist_bcast(&v.tally, sizeof v.tally);
    r.labelled = v.tally.labelled;
    if (r.labelled) {
        r.bpd = v.tally.bpd_sum / (double)r.labelled;
        r.acc = (double)v.tally.correct / (double)r.labelled;
        if (v.z) r.acc_prior = accuracy_fitted_prior(v.z, val->labels, val->n, val->h.K);
        pcnn_dist_bcast(&r.acc_prior, sizeof r.acc_prior);
    }
    free(v.z);
    r.acc_keep = keep_fitted && isfinite(r.acc_prior) ? r.acc_prior : r.acc;
    return r;
}

static void fmt_duration(char *buf, size_t n, double s)
{
    if (!isfinite(s) || s < 0) s = 0;
    long t = (long)(s + 0.5);
    if (t >= 3600)
        snprintf(buf, n, "%ldh%02ldm", t / 3600, (t / 60) % 60);
    else if (t >= 60)
        snprintf(buf, n, "%ldm%02lds", t / 60, t % 60);
    else
        snprintf(buf, n, "%lds", t);
}

static FILE *open_log(const char *path, int resuming)
{
    if (!path) return NULL;
    int fresh = !resuming || access(path, F_OK) != 0;
    FILE *fp = fopen(path, fresh ? "w" : "a");
    if (!fp) {
        pcnn_warn("%s: cannot open log: %s", path, strerror(errno));
        return NULL;
    }
    if (fresh)
        fprintf(fp, "epoch\tstep\ttrain_bpd\tval_bpd\tval_acc\tlr\tseconds\timages_per_s\ttrain_ce"
                    "\tval_acc_prior\tce_weight\tce_temperature\n");
    fflush(fp);
    return fp;
}

static void log_value(FILE *fp, double v, const char *fmt)
{
    if (isfinite(v))
        fprintf(fp, fmt, v);
    else
        fputs("NA", fp);
}

/* Returned by the steps of a run to go on; anything else is the exit status. */
#define FIT_GO (-1)
/* Returned by end_epoch when --time-budget leaves no room for another epoch: done, exit 0. */
#define FIT_BUDGET (-2)

/* One call of pcnn_fit_run: what it was given, what it made, and where it stands. */
typedef struct fit_run {
    const pcnn_fit_options *o;
    const pcnn_dataset *train, *val;
    pcnn_model_file *model;     /* the checkpoint, rewritten in place */
    pcnn_net *net;
    FILE *logfp;                /* --log, NULL for none */
    fit_state st;
    int resuming;
    uint64_t n, spe;            /* training images, steps per epoch */
    int eval_batch;             /* validation batch */
    int tty;                    /* progress line on stderr */
    struct sigaction old_int, old_term;
    /* batch buffers: perm (n), bx (batch x H x W x C), by (batch) */
    uint64_t *perm;
    uint8_t *bx;
    int32_t *by;
    size_t npix;                /* H·W·C */
    double hwc_ln2;             /* H·W·C·ln 2: nats per image to bits/dim */
    uint64_t nan_step;          /* PCNN_TEST_NAN_STEP, 0 off */
    uint64_t kill_step;         /* PCNN_TEST_KILL_STEP on rank PCNN_TEST_KILL_RANK, 0 off */
    uint64_t term_step;         /* PCNN_TEST_TERM_STEP on every rank, 0 off */
    int rank, nranks;           /* data parallelism (dist.h): 0 and 1 for one process */
    int device_sum;             /* gradients summed in device memory (NCCL), not through the host */
    int agreed_sig;             /* with several ranks: the stop signal all ranks saw at the last step */
    /* timers and counts of this run and of its current epoch */
    uint64_t total_steps, steps_this_run, images_this_epoch_run;
    double t_run, t_epoch, last_draw;
} fit_run;

/* Training needs at least one image, each with a label. 0, or 1 (printed). */
static int check_train_data(const pcnn_dataset *train)
{
    if (train->n == 0) {
        pcnn_warn("training data holds no images");
        return 1;
    }
    for (uint64_t i = 0; i < train->n; i++)
        if (train->labels[i] < 0) {
            pcnn_warn("training image %s has no label (-1): training needs labelled data "
                      "(prep a manifest with labels, e.g. train.csv, not test.csv)",
                      train->ids[i]);
            return 1;
        }
    return 0;
}

/* The counters from the model's header; when resuming, checks that batch size, training set
 * and counters fit this run, and restores the running sums and best epoch from the meta.
 * 0, or 1 (printed). */
/* "b0,b1,..." of K finite numbers into b. 0, or -1. */
static int parse_log_prior(const char *s, double *b, int K)
{
    char *copy = pcnn_xstrdup(s), *save = NULL, *tok = strtok_r(copy, ",", &save);
    int c = 0;
    for (; tok && c < K; c++, tok = strtok_r(NULL, ",", &save))
        if (pcnn_parse_double(tok, -1e300, 1e300, &b[c])) break;
    int bad = c != K || tok != NULL;
    free(copy);
    return bad ? -1 : 0;
}

static int restore_state(fit_run *r)
{
    const pcnn_fit_options *o = r->o;
    pcnn_model_file *model = r->model;
    fit_state *st = &r->st;
    *st = (fit_state){model->step, model->epoch, model->lr > 0 ? model->lr : o->lr,
                      0, 0, 0, 0, 0, 0, 0, NULL, 0, o->ce_weight, o->ce_temperature};
    if (o->ce_prior_learned) st->ce_prior = pcnn_xcalloc(model->K, sizeof *st->ce_prior);
    if (o->ce_auto) {   /* a fresh run, or a checkpoint of a fixed-weight run: from uniform */
        size_t npix = (size_t)model->H * model->W * model->C;
        st->nll_ema = get_meta_double(model, "ce_nll_ema", pcnn_fit_ce_auto_start(npix));
        pcnn_fit_ce_auto(o, st->nll_ema, &st->ce_lambda, &st->ce_tau);
    }
    r->resuming = st->step > 0 || st->epoch > 0;
    if (!r->resuming) return 0;
    const char *b = pcnn_model_file_get_meta(model, "batch");
    const char *t = pcnn_model_file_get_meta(model, "train_images");
    long bv = 0;
    uint64_t tv = 0;
    if ((b && (pcnn_parse_long(b, 1, 1 << 20, &bv) || bv != o->batch)) ||
        (t && (pcnn_parse_u64(t, &tv) || tv != r->n))) {
        pcnn_warn("cannot resume: the checkpoint was trained with batch %s on %s images, this "
                  "run has batch %d on %llu images (use the same -b and training data)",
                  b ? b : "?", t ? t : "?", o->batch, (unsigned long long)r->n);
        return 1;
    }
    if (st->step < st->epoch * r->spe || st->step - st->epoch * r->spe > r->spe) {
        pcnn_warn("cannot resume: checkpoint counters (epoch %llu, step %llu) do not match %llu "
                  "steps per epoch",
                  (unsigned long long)st->epoch, (unsigned long long)st->step,
                  (unsigned long long)r->spe);
        return 1;
    }
    st->epoch_loss_sum = get_meta_double(model, "epoch_loss_sum", 0);
    st->epoch_images = (uint64_t)get_meta_double(model, "epoch_images", 0);
    st->epoch_ce_sum = get_meta_double(model, "epoch_ce_sum", 0);
    st->epoch_ce_images = (uint64_t)get_meta_double(model, "epoch_ce_images", 0);
    st->best_epoch = (uint64_t)get_meta_double(model, "best_epoch", 0);
    st->best_acc = get_meta_double(model, "best_val_acc", 0);
    st->best_bpd = get_meta_double(model, "best_val_bpd", 0);
    const char *lp = pcnn_model_file_get_meta(model, "ce_log_prior");
    if (st->ce_prior && lp && parse_log_prior(lp, st->ce_prior, (int)model->K)) {
        pcnn_warn("cannot resume: the checkpoint's learned CE prior '%s' is not %u numbers", lp,
                  model->K);
        return 1;
    }
    return 0;
}

/* Rank r's share [lo, hi) of a batch of nb images (of N ranks) whose first n_ce carry the CE
 * term: contiguous, balanced by passes (K per CE image, 1 otherwise): the first image i with
 * passes(0..i) · N >= r · passes(all). Every rank computes every rank's bounds alike. */
static void shard_bounds(int nb, int n_ce, int K, int r, int N, int *lo, int *hi)
{
    uint64_t total = (uint64_t)n_ce * (uint64_t)K + (uint64_t)(nb - n_ce);
    int b[2];
    for (int j = 0; j < 2; j++) {
        uint64_t target = (uint64_t)(r + j) * total;
        int i = 0;
        while (i < nb) {
            uint64_t cum = (uint64_t)(i < n_ce ? i : n_ce) * (uint64_t)K +
                           (uint64_t)(i > n_ce ? i - n_ce : 0);
            if (cum * (uint64_t)N >= target) break;
            i++;
        }
        b[j] = i;
    }
    *lo = b[0];
    *hi = b[1];
}

/* The passes (network rows) rank r runs for a batch of nb images. */
static int shard_rows(const pcnn_fit_options *o, int K, int nb, int r, int N)
{
    int n_ce = pcnn_fit_ce_images(o, nb), lo, hi;
    shard_bounds(nb, n_ce, K, r, N, &lo, &hi);
    int ce_lo = lo < n_ce ? lo : n_ce, ce_hi = hi < n_ce ? hi : n_ce;
    return (ce_hi - ce_lo) * K + (hi - lo) - (ce_hi - ce_lo);
}

/* Builds the net (wide enough for the hybrid objective, which runs its images once per class)
 * in the training precision, opens the log and prints what is about to be trained. 0, or the
 * exit status (printed; nothing left open): 1, or 2 when the precision cannot be had here. */
static int open_net(fit_run *r)
{
    const pcnn_fit_options *o = r->o;
    const pcnn_model_file *model = r->model;
    int n_ce_max = pcnn_fit_ce_images(o, o->batch);
    int ce_rows = pcnn_fit_ce_rows(o, (int)model->K);   /* per CE image: K or those drawn */
    int passes = o->batch + n_ce_max * (ce_rows - 1);
    if (r->nranks > 1) {
        /* this rank's rows at most: its share of a full batch or of the last one */
        uint64_t last = r->n - (r->spe - 1) * (uint64_t)o->batch;
        int a = shard_rows(o, ce_rows, o->batch, r->rank, r->nranks);
        int b = shard_rows(o, ce_rows, (int)last, r->rank, r->nranks);
        passes = a > b ? a : b;
        if (passes < 1) passes = 1;
    }
    r->net = pcnn_net_create(r->model, o->device, passes);
    if (pcnn_dist_max_int(!r->net)) {   /* every rank goes on, or none */
        pcnn_net_free(r->net);
        r->net = NULL;
        return 1;
    }
    if (pcnn_dist_max_int(pcnn_net_set_precision(r->net, o->precision) != 0)) {
        pcnn_net_free(r->net);
        r->net = NULL;
        return PCNN_EXIT_USAGE;
    }
    /* every rank on its own GPU with NCCL: the gradients are summed there (collective) */
    if (r->nranks > 1) r->device_sum = pcnn_dist_device_join(pcnn_net_device_coll(r->net), o->quiet);
    pcnn_net_set_class_lr_mult(r->net, (float)o->class_lr_mult);
    pcnn_net_set_ce_classes(r->net, ce_rows);
    pcnn_net_set_ce_prior(r->net, r->st.ce_prior);
    r->eval_batch = pcnn_net_score_batch(r->net);   /* validation: same numbers, faster */
    if (r->rank == 0) r->logfp = open_log(o->log_path, r->resuming);
    if (pcnn_dist_max_int(r->rank == 0 && o->log_path && !r->logfp)) {
        pcnn_dist_device_leave();
        pcnn_net_free(r->net);
        r->net = NULL;
        return 1;
    }
    if (o->quiet) return 0;
    pcnn_warn("training R=%u F=%u M=%u, conditioning %s (%zu parameters) on %llu images, "
              "batch %d, %llu steps per epoch, epochs %llu..%llu, device %s%s%s%s",
              model->R, model->F, model->M, pcnn_cond_name(pcnn_model_conditioning(model)),
              pcnn_net_num_params(r->net), (unsigned long long)r->n,
              o->batch, (unsigned long long)r->spe, (unsigned long long)r->st.epoch + 1,
              (unsigned long long)o->epochs, pcnn_net_device(r->net),
              o->precision == PCNN_PREC_BF16 ? ", bf16 GEMMs" : "",
              o->no_dropout ? ", no dropout" : "",
              r->resuming ? " (resumed)" : "");
    if (r->nranks > 1)
        pcnn_warn("data parallel: %d ranks share each batch (at most %d passes each), gradients "
                  "summed in rank order over %s (docs/SCALE.md)",
                  r->nranks, passes, pcnn_dist_device_name());
    char wt[200];   /* the CE weight and temperature, or the rule that sets them */
    if (o->ce_auto && o->ce_temp_auto)
        snprintf(wt, sizeof wt, "auto (%g nats / the running -log p(x | y): now %.3g), "
                 "temperature %g / weight (now %.3g)", PCNN_CE_AUTO_SCALE, r->st.ce_lambda,
                 PCNN_CE_AUTO_PRODUCT, r->st.ce_tau);
    else if (o->ce_auto)
        snprintf(wt, sizeof wt, "auto (%g nats / the running -log p(x | y): now %.3g), "
                 "temperature %g", PCNN_CE_AUTO_SCALE, r->st.ce_lambda, o->ce_temperature);
    else
        snprintf(wt, sizeof wt, "%g, temperature %g", o->ce_weight, o->ce_temperature);
    if (n_ce_max && ce_rows < (int)model->K)
        pcnn_warn("hybrid objective: cross-entropy weight %s, on %d of every %d "
                  "images, each under its class and %d of the %u others drawn (%d passes per "
                  "batch instead of %d)",
                  wt, n_ce_max, o->batch, ce_rows - 1,
                  model->K - 1, passes, o->batch);
    else if (n_ce_max)
        pcnn_warn("hybrid objective: cross-entropy weight %s, on %d of every %d "
                  "images (%d passes per batch instead of %d)",
                  wt, n_ce_max, o->batch, passes, o->batch);
    else
        pcnn_warn("objective: likelihood only (no cross-entropy term; --ce-weight X adds the "
                  "hybrid's)");
    if (n_ce_max && r->st.ce_prior)
        pcnn_warn("the posterior's log prior is learned along (--ce-prior learned; now %s)",
                  r->resuming ? "the checkpoint's" : "0 for every class");
    return 0;
}

/* Catches SIGINT and SIGTERM (a clean stop after the current step), allocates the batch
 * buffers, starts the run's clock and reads the test's fault injection. */
static void start_run(fit_run *r)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_stop_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, &r->old_int);
    sigaction(SIGTERM, &sa, &r->old_term);
    stop_signal = 0;

    r->npix = (size_t)r->train->h.H * r->train->h.W * r->train->h.C;
    r->perm = pcnn_xmalloc(pcnn_mul_size(r->n, sizeof *r->perm));
    r->bx = pcnn_xmalloc(pcnn_mul_size((size_t)r->o->batch, r->npix));
    r->by = pcnn_xmalloc((size_t)r->o->batch * sizeof *r->by);
    r->hwc_ln2 = (double)r->npix * M_LN2;
    r->tty = isatty(STDERR_FILENO) && !r->o->quiet;
    r->total_steps = r->o->epochs * r->spe;
    r->steps_this_run = 0;
    r->t_run = pcnn_now();
    /* Fault injection for the tests: PCNN_TEST_NAN_STEP=s makes the loss of step s NaN. */
    const char *ns = getenv("PCNN_TEST_NAN_STEP");
    if (ns && pcnn_parse_u64(ns, &r->nan_step)) r->nan_step = 0;
    /* PCNN_TEST_KILL_STEP=s PCNN_TEST_KILL_RANK=k: rank k dies by SIGKILL before step s. */
    const char *ks = getenv("PCNN_TEST_KILL_STEP"), *kr = getenv("PCNN_TEST_KILL_RANK");
    long krank;
    if (ks && kr && !pcnn_parse_long(kr, 0, 1 << 20, &krank) && krank == r->rank &&
        pcnn_parse_u64(ks, &r->kill_step))
        r->kill_step = 0;
    /* PCNN_TEST_TERM_STEP=s: every rank sends itself SIGTERM before step s (as mpirun does). */
    const char *ts = getenv("PCNN_TEST_TERM_STEP");
    if (ts && pcnn_parse_u64(ts, &r->term_step)) r->term_step = 0;
}

/* Restores the signal handlers, closes the log and frees what start_run and open_net made.
 * Returns rc, or 1 when closing the log fails on an otherwise good run (printed). */
static int end_run(fit_run *r, int rc)
{
    sigaction(SIGINT, &r->old_int, NULL);
    sigaction(SIGTERM, &r->old_term, NULL);
    if (r->logfp && fclose(r->logfp) != 0 && rc == 0) {
        pcnn_warn("%s: write error: %s", r->o->log_path, strerror(errno));
        rc = 1;
    }
    free(r->perm);
    free(r->bx);
    free(r->by);
    free(r->st.ce_prior);
    r->st.ce_prior = NULL;
    pcnn_dist_device_leave();
    pcnn_net_free(r->net);
    return rc;
}

/* This rank's share of the batch of nb images at perm[first..]: its step, the gradients
 * summed over ranks (the same bits everywhere), and the sums of loss and CE and the stop
 * signal agreed. Returns the batch mean of -log p(x | y), *ce_mean the mean CE term. */
static float shard_step(fit_run *r, uint64_t first, int nb, int n_ce, double *ce_mean)
{
    const pcnn_fit_options *o = r->o;
    int lo, hi, N = r->nranks;
    shard_bounds(nb, n_ce, pcnn_fit_ce_rows(o, (int)r->model->K), r->rank, N, &lo, &hi);
    for (int b = lo; b < hi; b++) {
        uint64_t idx = r->perm[first + (uint64_t)b];
        memcpy(r->bx + (size_t)(b - lo) * r->npix, r->train->pixels + idx * r->npix, r->npix);
        r->by[b - lo] = r->train->labels[idx];
    }
    int my_ce = n_ce > lo ? (n_ce < hi ? n_ce : hi) - lo : 0;
    /* loss, CE, stop signal, then the learned prior's gradient (K; zeros when uniform) */
    const int K = (int)r->model->K, w = 3 + K;
    double *mine = pcnn_xcalloc((size_t)w, sizeof *mine);
    double *all = pcnn_xmalloc((size_t)N * (size_t)w * sizeof *all);
    mine[0] = pcnn_net_hybrid_step_shard(r->net, r->bx, r->by, hi - lo, my_ce,
                                         (float)r->st.ce_lambda, (float)r->st.ce_tau,
                                         !o->no_dropout, r->model->seed, r->st.step, nb,
                                         (uint64_t)lo, &mine[1]);
    mine[2] = stop_signal;
    if (r->st.ce_prior) memcpy(mine + 3, pcnn_net_ce_prior_grad(r->net), (size_t)K * sizeof *mine);
    if (r->device_sum) {
        pcnn_dist_sum_device_floats(pcnn_net_grads_device(r->net), pcnn_net_num_params(r->net));
    } else {
        float *g = pcnn_net_grads_get(r->net);
        pcnn_dist_sum_floats(g, pcnn_net_num_params(r->net));
        pcnn_net_grads_put(r->net, g);
    }
    pcnn_dist_allgather_doubles(mine, w, all);
    double nll = 0, ce = 0;
    int sig = 0;
    memset(mine + 3, 0, (size_t)K * sizeof *mine);   /* the prior's gradient, summed */
    for (int k = 0; k < N; k++) {   /* rank order: the same bits on every rank */
        const double *a = all + (size_t)k * w;
        nll += a[0];
        ce += a[1];
        if ((int)a[2] > sig) sig = (int)a[2];
        for (int c = 0; c < K; c++) mine[3 + c] += a[3 + c];
    }
    if (r->st.ce_prior) ce_prior_step(r->st.ce_prior, mine + 3, K, n_ce, r->st.ce_tau);
    free(mine);
    free(all);
    r->agreed_sig = sig;
    *ce_mean = n_ce ? ce / n_ce : 0;
    return (float)(nll / nb);
}

/* Step s of the epoch: gathers the batch from the permutation, runs the (hybrid) loss and its
 * gradient, then Adam with the warmed-up Polyak decay, and adds to the counters.
 * 0, or 1 when the loss is not finite (printed; the checkpoint is left as it was). */
static int train_step(fit_run *r, uint64_t s)
{
    const pcnn_fit_options *o = r->o;
    fit_state *st = &r->st;
    uint64_t first = s * (uint64_t)o->batch;
    int nb = (int)(r->n - first < (uint64_t)o->batch ? r->n - first : (uint64_t)o->batch);
    if (r->kill_step && st->step + 1 == r->kill_step) raise(SIGKILL);
    if (r->term_step && st->step + 1 == r->term_step) raise(SIGTERM);   /* caught: a clean stop */
    int n_ce = pcnn_fit_ce_images(o, nb);
    double ce_mean;
    float loss;
    /* --ce-weight auto: this step's weight from the running likelihood (the same bits on
     * every rank: the loss it follows is agreed) */
    if (o->ce_auto) pcnn_fit_ce_auto(o, st->nll_ema, &st->ce_lambda, &st->ce_tau);
    if (r->nranks > 1) {
        loss = shard_step(r, first, nb, n_ce, &ce_mean);
    } else {
        for (int b = 0; b < nb; b++) {
            uint64_t idx = r->perm[first + (uint64_t)b];
            memcpy(r->bx + (size_t)b * r->npix, r->train->pixels + idx * r->npix, r->npix);
            r->by[b] = r->train->labels[idx];
        }
        loss = pcnn_net_hybrid_step(r->net, r->bx, r->by, nb, n_ce, (float)st->ce_lambda,
                                    (float)st->ce_tau, !o->no_dropout, r->model->seed,
                                    st->step);
        ce_mean = pcnn_net_last_ce(r->net);
        if (st->ce_prior)
            ce_prior_step(st->ce_prior, pcnn_net_ce_prior_grad(r->net), (int)r->model->K, n_ce,
                          st->ce_tau);
    }
    if (st->ce_prior) pcnn_net_set_ce_prior(r->net, st->ce_prior);
    if (r->nan_step && st->step + 1 == r->nan_step) loss = NAN;
    if (!isfinite(loss)) {
        pcnn_warn("the loss became %s at epoch %llu, step %llu: stopping; %s keeps the last "
                  "good checkpoint (try a smaller --lr)",
                  isnan(loss) ? "NaN" : "infinite", (unsigned long long)st->epoch + 1,
                  (unsigned long long)st->step + 1, o->out_path);
        return 1;
    }
    /* Polyak decay warmed up as TensorFlow's ExponentialMovingAverage with
     * num_updates: min(decay, (1 + t) / (10 + t)), so a short run's average is
     * not stuck at the initial weights. A function of the step: resumable. */
    if (o->lr_cosine) st->lr = cosine_lr(o, st->step, r->spe);
    double warm = (1.0 + (double)st->step) / (10.0 + (double)st->step);
    float polyak = (float)(o->polyak < warm ? o->polyak : warm);
    pcnn_net_adam_step(r->net, (float)st->lr, 0.9f, 0.999f, 1e-8f, polyak);
    if (o->ce_auto)
        st->nll_ema = PCNN_CE_AUTO_DECAY * st->nll_ema + (1 - PCNN_CE_AUTO_DECAY) * (double)loss;
    st->step++;
    r->steps_this_run++;
    st->epoch_loss_sum += (double)loss * nb;
    st->epoch_images += (uint64_t)nb;
    st->epoch_ce_sum += ce_mean * n_ce;
    st->epoch_ce_images += (uint64_t)n_ce;
    r->images_this_epoch_run += (uint64_t)nb;
    return 0;
}

/* On a terminal, redraws the progress line after step s (at most 4 times a second, and after
 * the epoch's last step): running bits/dim, images/s and the time left. */
static void draw_progress(fit_run *r, uint64_t s)
{
    double now = pcnn_now();
    if (!r->tty || !(now - r->last_draw > 0.25 || s + 1 == r->spe)) return;
    r->last_draw = now;
    double el = now - r->t_run, rate = (double)r->steps_this_run / el;
    char left[32];
    fmt_duration(left, sizeof left, (double)(r->total_steps - r->st.step) / rate);
    fprintf(stderr, "\r%s: epoch %llu/%llu step %llu/%llu | %.4f bits/dim | %.1f img/s | %s left   ",
            pcnn_progname, (unsigned long long)r->st.epoch + 1,
            (unsigned long long)r->o->epochs, (unsigned long long)s + 1,
            (unsigned long long)r->spe,
            r->st.epoch_loss_sum / (double)r->st.epoch_images / r->hwc_ln2,
            (double)r->images_this_epoch_run / (now - r->t_epoch), left);
}

/* The stop after a checkpoint was saved: on a signal, the message to resume and 130/143;
 * otherwise (--max-steps) a note and 0. */
static int report_stop(const fit_run *r, int sig)
{
    const char *out = r->o->out_path;
    if (sig) {
        if (r->rank == 0)   /* the one that wrote it */
            pcnn_warn("interrupted by %s: checkpoint saved to %s (epoch %llu, step %llu); "
                      "continue with: pcnn-fit -r %s ...",
                      sig == SIGINT ? "SIGINT" : "SIGTERM", out,
                      (unsigned long long)r->st.epoch, (unsigned long long)r->st.step, out);
        return sig == SIGINT ? PCNN_FIT_EXIT_SIGINT : PCNN_FIT_EXIT_SIGTERM;
    }
    if (!r->o->quiet)
        pcnn_warn("stopped after step %llu (--max-steps): checkpoint saved to %s",
                  (unsigned long long)r->st.step, out);
    return 0;
}

/* After step s, unless it ends the epoch (end_epoch does that): a checkpoint every
 * --checkpoint-every steps, on a stop signal and at --max-steps, and then the stop.
 * FIT_GO, or the exit status. */
static int mid_epoch_checkpoint(fit_run *r, uint64_t s)
{
    const pcnn_fit_options *o = r->o;
    int last_of_epoch = s + 1 == r->spe;
    int at_limit = o->max_steps && r->st.step >= o->max_steps;
    int every = o->checkpoint_every && r->st.step % o->checkpoint_every == 0;
    /* the flag read once, so the checkpoint and the stop agree; a signal during an
     * epoch's last step is end_epoch's (it checkpoints, then stops) */
    int sig = r->nranks > 1 ? r->agreed_sig : stop_signal;
    if (last_of_epoch) return FIT_GO;
    if ((every || sig || at_limit) && save_checkpoint(o, r->net, r->model, &r->st, r->n)) return 1;
    if (sig || at_limit) {
        if (r->tty) fputc('\n', stderr);
        return report_stop(r, sig);
    }
    return FIT_GO;
}

/* The steps of the current epoch that are left (all, unless resumed mid-epoch), in the
 * epoch's batch order. FIT_GO when the epoch's steps are done, or the exit status. */
static int run_epoch(fit_run *r)
{
    epoch_permutation(r->perm, r->n, r->model->seed, r->st.epoch);
    r->t_epoch = pcnn_now();
    r->last_draw = 0;
    r->images_this_epoch_run = 0;
    for (uint64_t s = r->st.step - r->st.epoch * r->spe; s < r->spe; s++) {
        if (train_step(r, s)) return 1;
        draw_progress(r, s);
        int rc = mid_epoch_checkpoint(r, s);
        if (rc != FIT_GO) return rc;
    }
    return FIT_GO;
}

/* What an epoch reports: training bits/dim and CE (NaN when none), the learning rate it used,
 * its seconds and images per second in this run. */
typedef struct epoch_stats {
    double train_bpd, train_ce, lr, secs, ips;
} epoch_stats;

/* Whether validation v is the best epoch so far (highest accuracy, ties to lower bits/dim);
 * if so, records it and keeps its Polyak weights in the model as best.*. */
static int keep_if_best(fit_run *r, const val_result *v)
{
    fit_state *st = &r->st;
    int is_best = v->labelled && (!st->best_epoch || v->acc_keep > st->best_acc ||
                                  (v->acc_keep == st->best_acc && v->bpd < st->best_bpd));
    if (is_best) {
        st->best_epoch = st->epoch;
        st->best_acc = v->acc_keep;
        st->best_bpd = v->bpd;
        pcnn_net_store_polyak(r->net, r->model, "best.");
    }
    return is_best;
}

/* The epoch's summary line on stderr. */
static void print_epoch(const fit_run *r, const epoch_stats *e, const val_result *v, int is_best)
{
    char vb[160] = "", cb[96] = "", pb[40] = "";
    if (isfinite(v->acc_prior)) snprintf(pb, sizeof pb, " (fitted prior %.2f%%)", 100 * v->acc_prior);
    if (v->labelled)
        snprintf(vb, sizeof vb, ", validation %.4f bits/dim, accuracy %.2f%%%s%s", v->bpd,
                 100 * v->acc, pb, is_best ? " (best so far)" : "");
    if (isfinite(e->train_ce) && r->o->ce_auto)
        snprintf(cb, sizeof cb, ", CE %.4f (weight %.3g, temperature %.3g)", e->train_ce,
                 r->st.ce_lambda, r->st.ce_tau);
    else if (isfinite(e->train_ce))
        snprintf(cb, sizeof cb, ", CE %.4f", e->train_ce);
    pcnn_warn("epoch %llu/%llu: train %.4f bits/dim%s%s, %.1fs, %.1f img/s",
              (unsigned long long)r->st.epoch, (unsigned long long)r->o->epochs, e->train_bpd, cb,
              vb, e->secs, e->ips);
}

/* The epoch's row of the TSV log (see open_log for the columns), flushed. 0, or 1 (printed). */
static int log_epoch(const fit_run *r, const epoch_stats *e, const val_result *v)
{
    FILE *fp = r->logfp;
    fprintf(fp, "%llu\t%llu\t", (unsigned long long)r->st.epoch, (unsigned long long)r->st.step);
    log_value(fp, e->train_bpd, "%.6f");
    fputc('\t', fp);
    log_value(fp, v->bpd, "%.6f");
    fputc('\t', fp);
    log_value(fp, v->acc, "%.6f");
    fprintf(fp, "\t%.9g\t%.3f\t%.2f\t", e->lr, e->secs, e->ips);
    log_value(fp, e->train_ce, "%.6f");
    fputc('\t', fp);
    log_value(fp, v->acc_prior, "%.6f");
    fputc('\t', fp);   /* the CE weight and temperature of the epoch's last step */
    log_value(fp, pcnn_fit_objective(r->o) == PCNN_OBJECTIVE_HYBRID ? r->st.ce_lambda : NAN, "%.9g");
    fputc('\t', fp);
    log_value(fp, pcnn_fit_objective(r->o) == PCNN_OBJECTIVE_HYBRID ? r->st.ce_tau : NAN, "%.9g");
    fputc('\n', fp);
    if (fflush(fp) != 0 || ferror(fp)) {
        pcnn_warn("%s: write error: %s", r->o->log_path, strerror(errno ? errno : EIO));
        return 1;
    }
    return 0;
}

/* The end of an epoch: closes its sums, decays the learning rate, validates, keeps the best
 * epoch, reports (stderr, log), writes the checkpoint, and stops on a signal or at
 * --max-steps. FIT_GO, or the exit status. */
static int end_epoch(fit_run *r)
{
    const pcnn_fit_options *o = r->o;
    fit_state *st = &r->st;
    epoch_stats e;
    e.train_bpd =
        st->epoch_images ? st->epoch_loss_sum / (double)st->epoch_images / r->hwc_ln2 : NAN;
    e.secs = pcnn_now() - r->t_epoch;
    e.ips = e.secs > 0 ? (double)r->images_this_epoch_run / e.secs : 0;
    e.train_ce = st->epoch_ce_images ? st->epoch_ce_sum / (double)st->epoch_ce_images : NAN;
    e.lr = st->lr;
    if (!o->lr_cosine) st->lr *= o->lr_decay;
    st->epoch++;
    st->epoch_loss_sum = st->epoch_ce_sum = 0;
    st->epoch_images = st->epoch_ce_images = 0;
    val_result v = validate(r->net, r->val, r->eval_batch, o->keep_best_fitted);
    int is_best = keep_if_best(r, &v);
    if (r->tty) fputc('\n', stderr);
    if (!o->quiet) print_epoch(r, &e, &v, is_best);
    if (pcnn_dist_max_int(r->logfp && log_epoch(r, &e, &v))) return 1;
    if (save_checkpoint(o, r->net, r->model, st, r->n)) return 1;
    /* after the checkpoint: a later signal finds it saved (every rank the same one) */
    int sig = pcnn_dist_max_int(stop_signal);
    if (sig || (o->max_steps && st->step >= o->max_steps)) return report_stop(r, sig);
    /* --time-budget: one more epoch as long as this one (validation and checkpoint
     * included) would end past it. Rank 0's clock decides for every rank. */
    if (o->time_budget > 0 && st->epoch < o->epochs) {
        double now = pcnn_now(), whole = now - r->t_epoch;
        int over = r->rank == 0 && (now - r->t_run) + whole > o->time_budget;
        if (pcnn_dist_max_int(over)) {
            if (!o->quiet)
                pcnn_warn("stopped after epoch %llu of %llu: another (about %.0fs) would end past "
                          "the time budget of %.0fs (--time-budget)",
                          (unsigned long long)st->epoch, (unsigned long long)o->epochs, whole,
                          o->time_budget);
            return FIT_BUDGET;
        }
    }
    return FIT_GO;
}

/* The run's last lines: epochs, steps and time, and which epoch's weights were kept. */
static void print_summary(const fit_run *r)
{
    const fit_state *st = &r->st;
    pcnn_warn("done: %llu epochs, %llu steps in %.1fs; model in %s", (unsigned long long)st->epoch,
              (unsigned long long)st->step, pcnn_now() - r->t_run, r->o->out_path);
    if (r->nranks > 1 && r->steps_this_run)
        pcnn_warn("collectives (rank 0): %.3fs in total, %.2f ms per step (waits for the slowest "
                  "rank included)", pcnn_dist_seconds(),
                  1e3 * pcnn_dist_seconds() / (double)r->steps_this_run);
    if (st->best_epoch)
        pcnn_warn("kept the weights of epoch %llu, the best on validation (accuracy %.2f%%%s, "
                  "%.4f bits/dim): pcnn-score and pcnn-gen use them (--last: the last epoch's)",
                  (unsigned long long)st->best_epoch, 100 * st->best_acc,
                  r->o->keep_best_fitted ? " with the prior fitted on validation" : "", st->best_bpd);
}

int pcnn_fit_run(const pcnn_fit_options *o, const pcnn_dataset *train, const pcnn_dataset *val,
                 pcnn_model_file *model)
{
    if (check_train_data(train)) return 1;
    fit_run r = {.o = o, .train = train, .val = val, .model = model, .n = train->n,
                 .rank = pcnn_dist_rank(), .nranks = pcnn_dist_size()};
    r.spe = (r.n + (uint64_t)o->batch - 1) / (uint64_t)o->batch;
    if (r.nranks > o->batch) {
        if (r.rank == 0)
            pcnn_warn("%d ranks for a batch of %d images: every rank needs at least one image of "
                  "each batch (use fewer ranks, or -b %d or more)", r.nranks, o->batch, r.nranks);
        return PCNN_EXIT_USAGE;
    }
    /* restore_state allocates the learned prior (st.ce_prior); end_run frees it, and so does
     * every return before start_run */
    int failed = restore_state(&r) ? 1 : 0;
    int trained = !failed && r.st.epoch >= o->epochs;
    if (trained && !o->quiet)
        pcnn_warn("%s: already trained for %llu epochs (ask for more with -e)", o->out_path,
                  (unsigned long long)r.st.epoch);
    if (!failed && !trained) failed = open_net(&r);
    if (failed || trained) {
        free(r.st.ce_prior);
        return failed;
    }
    start_run(&r);
    int rc = FIT_GO;
    while (rc == FIT_GO && r.st.epoch < o->epochs) {
        rc = run_epoch(&r);
        if (rc == FIT_GO) rc = end_epoch(&r);
    }
    if (rc == FIT_GO || rc == FIT_BUDGET) {
        if (!o->quiet) print_summary(&r);
        rc = 0;
    }
    return end_run(&r, rc);
}
