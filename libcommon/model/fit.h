/*
 * fit.h — the training loop of pcnn-fit: epochs of shuffled mini-batches,
 * Adam + Polyak, validation, a TSV log, checkpoints, and a clean stop on
 * SIGINT/SIGTERM or a non-finite loss.
 *
 *   pcnn_fit_options o;
 *   pcnn_fit_defaults(&o);
 *   o.out_path = "model.bin"; o.epochs = 10; ...
 *   int rc = pcnn_fit_run(&o, train, val, model);   // exit status for main()
 *
 * Determinism: the batch order of epoch e is a permutation drawn from
 * (seed, e) (rng.h), dropout masks from (seed, step), so stopping after any
 * step and resuming from the checkpoint (-r) reproduces the uninterrupted run
 * exactly, provided batch size and training set are the same (checked).
 */
#ifndef PCNN_FIT_H
#define PCNN_FIT_H

#include "io/datafile.h"
#include "io/modelfile.h"

#include <stdint.h>

/* Exit statuses of an interrupted run (checkpoint saved): 128 + signal number. */
#define PCNN_FIT_EXIT_SIGINT 130
#define PCNN_FIT_EXIT_SIGTERM 143

typedef struct pcnn_fit_options {
    const char *out_path;      /* model file (checkpoints overwrite it atomically) */
    const char *log_path;      /* per-epoch TSV log, NULL for none */
    const char *device;        /* "cpu", "cuda", "auto" */
    const char *init_path;     /* --init: the model a new run started from (an input: never -o
                                * or the log); NULL for none */
    uint64_t epochs;           /* train until this many epochs are done in total */
    int batch;
    double lr, lr_decay, polyak;
    int lr_cosine;             /* the rate of step t: lr * (1 + cos(pi t / T)) / 2, T = epochs x
                                * steps per epoch (lr_decay unused); 0: lr * lr_decay^epoch */
    uint64_t checkpoint_every; /* steps; 0 = at the end of every epoch only */
    uint64_t max_steps;        /* stop (with a checkpoint) after this many steps in total; 0 = no limit */
    double time_budget;        /* seconds of this run: no epoch is started that would end past
                                * it (judged by the last epoch's time); 0 = no limit */
    double ce_weight;          /* lambda of the hybrid objective (SPEC §6b); 0 = likelihood only */
    double ce_temperature;     /* tau of the CE term (default 1) */
    int ce_auto;               /* --ce-weight auto: lambda of each step from the data's own
                                * likelihood scale (pcnn_fit_ce_auto; ce_weight unused) */
    int ce_temp_auto;          /* with ce_auto: tau = PCNN_CE_AUTO_PRODUCT / lambda as well
                                * (ce_temperature unused); 0: ce_temperature fixed */
    double ce_fraction;        /* share of each batch carrying the CE term (default 1) */
    int ce_classes;            /* classes in each CE image's posterior: its label and
                                * ce_classes - 1 drawn (net.h); 0 = all K (default) */
    int ce_prior_learned;      /* the CE term's posterior with a learned log prior b_c (one per
                                * class, from 0, moved after every step by the gradient of the
                                * step's mean CE term; recorded as meta ce_log_prior): the term
                                * then trains what Bayes' rule with a fitted prior decides by,
                                * not the bias a uniform prior sees; 0 = uniform (SPEC §6b) */
    int no_dropout;            /* 1: training steps without dropout (the eval-mode forward and its
                                * backward); 0: SPEC §6's p = 1/2 in every gated block (default) */
    double class_lr_mult;      /* learning-rate factor of the class tables (default 1) */
    int precision;             /* PCNN_PREC_* (nn/nn_isa.h) of the training GEMMs (default fp32) */
    int keep_best_fitted;      /* the kept epoch: best validation accuracy with the class prior
                                * fitted on the validation scores (eval/prior.h), not the
                                * uniform prior's (default 0) */
    int quiet;
} pcnn_fit_options;

void pcnn_fit_defaults(pcnn_fit_options *o);

/* --ce-weight auto (docs/QUALITY.md, "The CE weight from the data"). The CE term's weight is
 * one share of the likelihood's own scale, whatever the image size and content:
 *
 *     lambda_t = PCNN_CE_AUTO_SCALE / L_t,   tau_t = PCNN_CE_AUTO_PRODUCT / lambda_t
 *
 * L_t the running mean of the batch mean -log p(x | y) in nats per image before step t
 * (an exponential average, decay PCNN_CE_AUTO_DECAY, from the code length of uniform pixels,
 * 8 bits per subpixel: a weak term while the likelihood is still high, ramping up as it
 * falls), lambda clamped to [PCNN_CE_AUTO_MIN, PCNN_CE_AUTO_MAX]. The constants reproduce
 * the two settings tuned by hand at the end of the quick runs (Fashion-MNIST 28x28: L about
 * 4200 nats, lambda 10, tau 3; CPEN 455 32x32: L about 12300, lambda 3, tau 10): lambda * L
 * is 37000-42000 nats on both, lambda * tau 30. */
#define PCNN_CE_AUTO_SCALE 40000.0   /* nats */
#define PCNN_CE_AUTO_PRODUCT 30.0
#define PCNN_CE_AUTO_DECAY 0.95
#define PCNN_CE_AUTO_MIN 0.5
#define PCNN_CE_AUTO_MAX 50.0

/* lambda and tau of a step under --ce-weight auto from the running mean nll (nats per image);
 * tau only when o->ce_temp_auto, else o->ce_temperature. */
void pcnn_fit_ce_auto(const pcnn_fit_options *o, double nll, double *lambda, double *tau);

/* The running mean's start: the code length of uniform 8-bit pixels, npix subpixels. */
double pcnn_fit_ce_auto_start(size_t npix);

/* The run's files, checked before any data is read or any step is taken (rank 0 checks, every
 * rank gets the answer): the model file o->out_path is a regular file that can be created
 * where it is named (a temporary file beside it is made and removed: a missing or read-only
 * folder fails now, not after the first epoch; temporaries that killed runs left are removed),
 * and neither it nor the log is an input: the training data (ntrain files), the validation
 * data, or the resumed model when -o names another path than -r (the same path resumes in
 * place).
 * Returns 0, or the exit status (printed): 2 for "-o -" (a model file is rewritten at every
 * checkpoint: never stdout) and for an output that is an input, 1 otherwise. */
int pcnn_fit_check_files(const pcnn_fit_options *o, char *const *train, int ntrain,
                         const char *val, const char *resume);

/* Trains model (fresh or resumed; its counters say where it stands) on train,
 * validating on val (may be NULL) after each epoch. Writes checkpoints to
 * o->out_path. Returns the exit status: 0 done, 1 failure (message printed;
 * the last good checkpoint is left), 2 a request this machine cannot meet (more
 * ranks than the batch has images, --precision bf16 on a CPU without AVX512_BF16),
 * 130/143 interrupted (checkpoint saved). */
int pcnn_fit_run(const pcnn_fit_options *o, const pcnn_dataset *train, const pcnn_dataset *val,
                 pcnn_model_file *model);

/* The objective the options train by (model.h): PCNN_OBJECTIVE_HYBRID when the CE term is
 * on (weight and fraction > 0), else PCNN_OBJECTIVE_LIKELIHOOD. Recorded in the model file
 * as meta "objective". */
int pcnn_fit_objective(const pcnn_fit_options *o);

/* Images of a batch of nb that carry the CE term: ceil(fraction * nb), at
 * least 1 when the term is on, 0 when it is off (lambda or fraction 0). */
int pcnn_fit_ce_images(const pcnn_fit_options *o, int nb);
/* The rows each CE image runs as with K classes: K, or o->ce_classes when 2..K-1. */
int pcnn_fit_ce_rows(const pcnn_fit_options *o, int K);

#endif
