/* fit.c — the training loop; see fit.h. */
#include "fit.h"

#include "model.h"
#include "net.h"
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
    o->device = "auto";
    o->epochs = 10;
    o->batch = 64;
    o->lr = 2e-4;           /* SPEC §6 */
    o->lr_decay = 0.999995; /* per epoch, SPEC §6 */
    o->polyak = 0.9995;     /* openai/pixel-cnn */
    o->ce_weight = 0;       /* SPEC §6b: likelihood only */
    o->ce_temperature = 1;
    o->ce_fraction = 1;
    o->class_lr_mult = 1;
}

int pcnn_fit_ce_images(const pcnn_fit_options *o, int nb)
{
    if (o->ce_weight <= 0 || o->ce_fraction <= 0) return 0;
    int k = (int)ceil(o->ce_fraction * nb - 1e-9);
    return k < 1 ? 1 : k > nb ? nb : k;
}

double pcnn_bits_per_dim(double loglik_nats, uint32_t H, uint32_t W, uint32_t C)
{
    return -loglik_nats / ((double)H * W * C * M_LN2);
}

void pcnn_eval_loglik(struct pcnn_net *net, const pcnn_dataset *d, int batch, int use_polyak,
                      double *out)
{
    size_t npix = (size_t)d->h.H * d->h.W * d->h.C;
    for (uint64_t i = 0; i < d->n; i += (uint64_t)batch) {
        int nb = (int)(d->n - i < (uint64_t)batch ? d->n - i : (uint64_t)batch);
        pcnn_net_loglik(net, d->pixels + i * npix, nb, use_polyak, out + i * d->h.K);
    }
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

typedef struct fit_state {
    uint64_t step, epoch;
    double lr;
    double epoch_loss_sum; /* sum over images seen this epoch of -log p (nats) */
    uint64_t epoch_images;
    double epoch_ce_sum;   /* sum over the CE term's images of CE_n (nats) */
    uint64_t epoch_ce_images;
    uint64_t best_epoch;   /* epoch of the best validation accuracy kept as best.*, 0 none */
    double best_acc, best_bpd;
} fit_state;

/* Writes the checkpoint: net state + counters + options. 0 or -1 (printed). */
static int save_checkpoint(const pcnn_fit_options *o, pcnn_net *net, pcnn_model_file *m,
                           const fit_state *st, uint64_t ntrain)
{
    if (pcnn_net_store(net, m)) return -1;
    m->step = st->step;
    m->epoch = st->epoch;
    m->lr = st->lr;
    set_meta_u64(m, "batch", (uint64_t)o->batch);
    set_meta_u64(m, "train_images", ntrain);
    set_meta_double(m, "lr_decay", o->lr_decay);
    set_meta_double(m, "polyak", o->polyak);
    set_meta_double(m, "epoch_loss_sum", st->epoch_loss_sum);
    set_meta_u64(m, "epoch_images", st->epoch_images);
    set_meta_double(m, "ce_weight", o->ce_weight);
    set_meta_double(m, "ce_temperature", o->ce_temperature);
    set_meta_double(m, "ce_fraction", o->ce_fraction);
    set_meta_double(m, "class_lr_mult", o->class_lr_mult);
    set_meta_double(m, "epoch_ce_sum", st->epoch_ce_sum);
    set_meta_u64(m, "epoch_ce_images", st->epoch_ce_images);
    if (st->best_epoch) {
        set_meta_u64(m, "best_epoch", st->best_epoch);
        set_meta_double(m, "best_val_acc", st->best_acc);
        set_meta_double(m, "best_val_bpd", st->best_bpd);
    }
    return pcnn_model_file_write(o->out_path, m);
}

typedef struct val_result {
    double bpd, acc;   /* NaN when unknown */
    uint64_t labelled;
} val_result;

static val_result validate(pcnn_net *net, const pcnn_dataset *val, int batch)
{
    val_result r = {NAN, NAN, 0};
    if (!val || val->n == 0) return r;
    uint32_t K = val->h.K;
    double *ll = pcnn_xmalloc(pcnn_mul_size(val->n, K * sizeof(double)));
    pcnn_eval_loglik(net, val, batch, 1, ll);
    double bpd = 0;
    uint64_t correct = 0;
    for (uint64_t i = 0; i < val->n; i++) {
        if (val->labels[i] < 0) continue;
        const double *row = ll + i * K;
        uint32_t best = 0;
        for (uint32_t k = 1; k < K; k++)
            if (row[k] > row[best]) best = k;
        correct += best == (uint32_t)val->labels[i];
        bpd += pcnn_bits_per_dim(row[val->labels[i]], val->h.H, val->h.W, val->h.C);
        r.labelled++;
    }
    if (r.labelled) {
        r.bpd = bpd / (double)r.labelled;
        r.acc = (double)correct / (double)r.labelled;
    }
    free(ll);
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
        fprintf(fp, "epoch\tstep\ttrain_bpd\tval_bpd\tval_acc\tlr\tseconds\timages_per_s\ttrain_ce\n");
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

int pcnn_fit_run(const pcnn_fit_options *o, const pcnn_dataset *train, const pcnn_dataset *val,
                 pcnn_model_file *model)
{
    const char *out = o->out_path;
    uint64_t n = train->n;
    if (n == 0) {
        pcnn_warn("training data holds no images");
        return 1;
    }
    for (uint64_t i = 0; i < n; i++)
        if (train->labels[i] < 0) {
            pcnn_warn("training image %s has no label (-1): training needs labelled data "
                      "(prep a manifest with labels, e.g. train.csv, not test.csv)",
                      train->ids[i]);
            return 1;
        }
    uint64_t spe = (n + (uint64_t)o->batch - 1) / (uint64_t)o->batch; /* steps per epoch */
    fit_state st = {model->step, model->epoch, model->lr > 0 ? model->lr : o->lr, 0, 0, 0, 0, 0, 0, 0};
    int resuming = st.step > 0 || st.epoch > 0;
    if (resuming) {
        const char *b = pcnn_model_file_get_meta(model, "batch");
        const char *t = pcnn_model_file_get_meta(model, "train_images");
        long bv = 0;
        uint64_t tv = 0;
        if ((b && (pcnn_parse_long(b, 1, 1 << 20, &bv) || bv != o->batch)) ||
            (t && (pcnn_parse_u64(t, &tv) || tv != n))) {
            pcnn_warn("cannot resume: the checkpoint was trained with batch %s on %s images, this "
                      "run has batch %d on %llu images (use the same -b and training data)",
                      b ? b : "?", t ? t : "?", o->batch, (unsigned long long)n);
            return 1;
        }
        if (st.step < st.epoch * spe || st.step - st.epoch * spe > spe) {
            pcnn_warn("cannot resume: checkpoint counters (epoch %llu, step %llu) do not match %llu "
                      "steps per epoch",
                      (unsigned long long)st.epoch, (unsigned long long)st.step,
                      (unsigned long long)spe);
            return 1;
        }
        st.epoch_loss_sum = get_meta_double(model, "epoch_loss_sum", 0);
        st.epoch_images = (uint64_t)get_meta_double(model, "epoch_images", 0);
        st.epoch_ce_sum = get_meta_double(model, "epoch_ce_sum", 0);
        st.epoch_ce_images = (uint64_t)get_meta_double(model, "epoch_ce_images", 0);
        st.best_epoch = (uint64_t)get_meta_double(model, "best_epoch", 0);
        st.best_acc = get_meta_double(model, "best_val_acc", 0);
        st.best_bpd = get_meta_double(model, "best_val_bpd", 0);
    }
    if (st.epoch >= o->epochs) {
        if (!o->quiet)
            pcnn_warn("%s: already trained for %llu epochs (ask for more with -e)", out,
                      (unsigned long long)st.epoch);
        return 0;
    }

    /* the hybrid objective runs its images once per class: a wider net */
    int n_ce_max = pcnn_fit_ce_images(o, o->batch);
    pcnn_net *net = pcnn_net_create(model, o->device, o->batch + n_ce_max * ((int)model->K - 1));
    if (!net) return 1;
    pcnn_net_set_class_lr_mult(net, (float)o->class_lr_mult);
    int eval_batch = pcnn_net_score_batch(net);   /* validation: same numbers, faster */
    FILE *logfp = open_log(o->log_path, resuming);
    if (o->log_path && !logfp) {
        pcnn_net_free(net);
        return 1;
    }
    if (!o->quiet)
        pcnn_warn("training R=%u F=%u M=%u, conditioning %s (%zu parameters) on %llu images, "
                  "batch %d, %llu steps per epoch, epochs %llu..%llu, device %s%s",
                  model->R, model->F, model->M, pcnn_cond_name(pcnn_model_conditioning(model)),
                  pcnn_net_num_params(net), (unsigned long long)n,
                  o->batch, (unsigned long long)spe, (unsigned long long)st.epoch + 1,
                  (unsigned long long)o->epochs, pcnn_net_device(net),
                  resuming ? " (resumed)" : "");
    if (!o->quiet && n_ce_max)
        pcnn_warn("hybrid objective: cross-entropy weight %g, temperature %g, on %d of every %d "
                  "images (%d passes per batch instead of %d)",
                  o->ce_weight, o->ce_temperature, n_ce_max, o->batch,
                  o->batch + n_ce_max * ((int)model->K - 1), o->batch);

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_stop_signal;
    sigemptyset(&sa.sa_mask);
    struct sigaction old_int, old_term;
    sigaction(SIGINT, &sa, &old_int);
    sigaction(SIGTERM, &sa, &old_term);
    stop_signal = 0;

    size_t npix = (size_t)train->h.H * train->h.W * train->h.C;
    uint64_t *perm = pcnn_xmalloc(pcnn_mul_size(n, sizeof *perm));
    uint8_t *bx = pcnn_xmalloc(pcnn_mul_size((size_t)o->batch, npix));
    int32_t *by = pcnn_xmalloc((size_t)o->batch * sizeof *by);
    double hwc_ln2 = (double)npix * M_LN2;
    int tty = isatty(STDERR_FILENO) && !o->quiet;
    int rc = 0;
    uint64_t total_steps = o->epochs * spe, steps_this_run = 0;
    double t_run = pcnn_now();
    /* Fault injection for the tests: PCNN_TEST_NAN_STEP=s makes the loss of step s NaN. */
    uint64_t nan_step = 0;
    const char *ns = getenv("PCNN_TEST_NAN_STEP");
    if (ns && pcnn_parse_u64(ns, &nan_step)) nan_step = 0;

    while (st.epoch < o->epochs) {
        epoch_permutation(perm, n, model->seed, st.epoch);
        double t_epoch = pcnn_now(), last_draw = 0;
        uint64_t images_this_epoch_run = 0;
        for (uint64_t s = st.step - st.epoch * spe; s < spe; s++) {
            uint64_t first = s * (uint64_t)o->batch;
            int nb = (int)(n - first < (uint64_t)o->batch ? n - first : (uint64_t)o->batch);
            for (int b = 0; b < nb; b++) {
                uint64_t idx = perm[first + (uint64_t)b];
                memcpy(bx + (size_t)b * npix, train->pixels + idx * npix, npix);
                by[b] = train->labels[idx];
            }
            int n_ce = pcnn_fit_ce_images(o, nb);
            float loss = pcnn_net_hybrid_step(net, bx, by, nb, n_ce, (float)o->ce_weight,
                                              (float)o->ce_temperature, 1, model->seed, st.step);
            if (nan_step && st.step + 1 == nan_step) loss = NAN;
            if (!isfinite(loss)) {
                pcnn_warn("the loss became %s at epoch %llu, step %llu: stopping; %s keeps the last "
                          "good checkpoint (try a smaller --lr)",
                          isnan(loss) ? "NaN" : "infinite", (unsigned long long)st.epoch + 1,
                          (unsigned long long)st.step + 1, out);
                rc = 1;
                goto done;
            }
            /* Polyak decay warmed up as TensorFlow's ExponentialMovingAverage with
             * num_updates: min(decay, (1 + t) / (10 + t)), so a short run's average is
             * not stuck at the initial weights. A function of the step: resumable. */
            double warm = (1.0 + (double)st.step) / (10.0 + (double)st.step);
            float polyak = (float)(o->polyak < warm ? o->polyak : warm);
            pcnn_net_adam_step(net, (float)st.lr, 0.9f, 0.999f, 1e-8f, polyak);
            st.step++;
            steps_this_run++;
            st.epoch_loss_sum += (double)loss * nb;
            st.epoch_images += (uint64_t)nb;
            st.epoch_ce_sum += pcnn_net_last_ce(net) * n_ce;
            st.epoch_ce_images += (uint64_t)n_ce;
            images_this_epoch_run += (uint64_t)nb;
            double now = pcnn_now();
            if (tty && (now - last_draw > 0.25 || s + 1 == spe)) {
                last_draw = now;
                double el = now - t_run, rate = (double)steps_this_run / el;
                char left[32];
                fmt_duration(left, sizeof left, (double)(total_steps - st.step) / rate);
                fprintf(stderr, "\r%s: epoch %llu/%llu step %llu/%llu | %.4f bits/dim | %.1f img/s | %s left   ",
                        pcnn_progname, (unsigned long long)st.epoch + 1,
                        (unsigned long long)o->epochs, (unsigned long long)s + 1,
                        (unsigned long long)spe,
                        st.epoch_loss_sum / (double)st.epoch_images / hwc_ln2,
                        (double)images_this_epoch_run / (now - t_epoch), left);
            }
            int last_of_epoch = s + 1 == spe;
            int at_limit = o->max_steps && st.step >= o->max_steps;
            if (!last_of_epoch &&
                ((o->checkpoint_every && st.step % o->checkpoint_every == 0) || stop_signal || at_limit)) {
                if (save_checkpoint(o, net, model, &st, n)) {
                    rc = 1;
                    goto done;
                }
            }
            if (stop_signal || (at_limit && !last_of_epoch)) {
                if (tty) fputc('\n', stderr);
                if (stop_signal) {
                    pcnn_warn("interrupted by %s: checkpoint saved to %s (epoch %llu, step %llu); "
                              "continue with: pcnn-fit -r %s ...",
                              stop_signal == SIGINT ? "SIGINT" : "SIGTERM", out,
                              (unsigned long long)st.epoch, (unsigned long long)st.step, out);
                    rc = stop_signal == SIGINT ? PCNN_FIT_EXIT_SIGINT : PCNN_FIT_EXIT_SIGTERM;
                } else if (!o->quiet) {
                    pcnn_warn("stopped after step %llu (--max-steps): checkpoint saved to %s",
                              (unsigned long long)st.step, out);
                }
                goto done;
            }
        }
        /* End of epoch: decay, validate, log, checkpoint. */
        double train_bpd = st.epoch_images ? st.epoch_loss_sum / (double)st.epoch_images / hwc_ln2 : NAN;
        double secs = pcnn_now() - t_epoch;
        double ips = secs > 0 ? (double)images_this_epoch_run / secs : 0;
        double train_ce = st.epoch_ce_images ? st.epoch_ce_sum / (double)st.epoch_ce_images : NAN;
        double lr_used = st.lr;
        st.lr *= o->lr_decay;
        st.epoch++;
        st.epoch_loss_sum = st.epoch_ce_sum = 0;
        st.epoch_images = st.epoch_ce_images = 0;
        val_result v = validate(net, val, eval_batch);
        /* the best epoch on validation: highest accuracy, ties to lower bits/dim */
        int is_best = v.labelled && (!st.best_epoch || v.acc > st.best_acc ||
                                     (v.acc == st.best_acc && v.bpd < st.best_bpd));
        if (is_best) {
            st.best_epoch = st.epoch;
            st.best_acc = v.acc;
            st.best_bpd = v.bpd;
            pcnn_net_store_polyak(net, model, "best.");
        }
        if (tty) fputc('\n', stderr);
        if (!o->quiet) {
            char vb[128] = "", cb[48] = "";
            if (v.labelled)
                snprintf(vb, sizeof vb, ", validation %.4f bits/dim, accuracy %.2f%%%s", v.bpd,
                         100 * v.acc, is_best ? " (best so far)" : "");
            if (isfinite(train_ce)) snprintf(cb, sizeof cb, ", CE %.4f", train_ce);
            pcnn_warn("epoch %llu/%llu: train %.4f bits/dim%s%s, %.1fs, %.1f img/s",
                      (unsigned long long)st.epoch, (unsigned long long)o->epochs, train_bpd, cb,
                      vb, secs, ips);
        }
        if (logfp) {
            fprintf(logfp, "%llu\t%llu\t", (unsigned long long)st.epoch, (unsigned long long)st.step);
            log_value(logfp, train_bpd, "%.6f");
            fputc('\t', logfp);
            log_value(logfp, v.bpd, "%.6f");
            fputc('\t', logfp);
            log_value(logfp, v.acc, "%.6f");
            fprintf(logfp, "\t%.9g\t%.3f\t%.2f\t", lr_used, secs, ips);
            log_value(logfp, train_ce, "%.6f");
            fputc('\n', logfp);
            if (fflush(logfp) != 0 || ferror(logfp)) {
                pcnn_warn("%s: write error: %s", o->log_path, strerror(errno ? errno : EIO));
                rc = 1;
                goto done;
            }
        }
        if (save_checkpoint(o, net, model, &st, n)) {
            rc = 1;
            goto done;
        }
        if (stop_signal) {
            pcnn_warn("interrupted by %s: checkpoint saved to %s (epoch %llu, step %llu); continue "
                      "with: pcnn-fit -r %s ...",
                      stop_signal == SIGINT ? "SIGINT" : "SIGTERM", out,
                      (unsigned long long)st.epoch, (unsigned long long)st.step, out);
            rc = stop_signal == SIGINT ? PCNN_FIT_EXIT_SIGINT : PCNN_FIT_EXIT_SIGTERM;
            goto done;
        }
        if (o->max_steps && st.step >= o->max_steps) {
            if (!o->quiet)
                pcnn_warn("stopped after step %llu (--max-steps): checkpoint saved to %s",
                          (unsigned long long)st.step, out);
            goto done;
        }
    }
    if (!o->quiet) {
        pcnn_warn("done: %llu epochs, %llu steps in %.1fs; model in %s", (unsigned long long)st.epoch,
                  (unsigned long long)st.step, pcnn_now() - t_run, out);
        if (st.best_epoch)
            pcnn_warn("kept the weights of epoch %llu, the best on validation (accuracy %.2f%%, "
                      "%.4f bits/dim): pcnn-score and pcnn-gen use them (--last: the last epoch's)",
                      (unsigned long long)st.best_epoch, 100 * st.best_acc, st.best_bpd);
    }
done:
    sigaction(SIGINT, &old_int, NULL);
    sigaction(SIGTERM, &old_term, NULL);
    if (logfp && fclose(logfp) != 0 && rc == 0) {
        pcnn_warn("%s: write error: %s", o->log_path, strerror(errno));
        rc = 1;
    }
    free(perm);
    free(bx);
    free(by);
    pcnn_net_free(net);
    return rc;
}
