/* pcnn-fit — train a conditional PixelCNN++ on a pcnn data file. */
#include "dist.h"
#include "model/fit.h"
#include "model/init_from.h"
#include "model/model.h"
#include "model/net.h"
#include "util.h"

#include <getopt.h>
#include <stdlib.h>
#include <string.h>

static void usage(FILE *fp)
{
    fprintf(fp,
        "usage: pcnn-fit [options] -o MODEL TRAIN...\n"
        "       pcnn-fit [options] -r MODEL [-o OUT] TRAIN...\n"
        "\n"
        "Trains a class-conditional PixelCNN++ (SPEC §3-§6) on the data file TRAIN\n"
        "(made by pcnn-prep; '-' reads stdin) and writes the model file MODEL. The file\n"
        "is rewritten atomically after every epoch (and every --checkpoint-every steps),\n"
        "so it always holds the last complete checkpoint. Several TRAIN files are one\n"
        "training set, their records in the order given (images of one size, the same\n"
        "classes): e.g. the final model on train.bin val.bin (make submission).\n"
        "\n"
        "  -o FILE            model file to write (default with -r: the resumed file); a\n"
        "                     regular file, never stdout; checked before training (that\n"
        "                     it can be created, and is none of the inputs)\n"
        "  -r FILE            resume from this model file: its sizes, counters, optimizer\n"
        "                     state, batch size and options are used; the result is the\n"
        "                     same as an uninterrupted run on the same training data\n"
        "  --init FILE        start a new model from the weights of FILE, the same network\n"
        "                     trained on the same classes at another image size (the coarse\n"
        "                     stage of a two-resolution run: pcnn-fit -o coarse.bin on images\n"
        "                     prepped at 16x16, then --init coarse.bin on 32x32; make pipeline\n"
        "                     COARSE_EPOCHS): its kept (else Polyak) weights, its class image\n"
        "                     resized by nearest neighbour; counters, Adam and the Polyak\n"
        "                     average start afresh. The sizes and conditioning are FILE's\n"
        "                     (-R/-F/-M/--conditioning, when given, must agree)\n"
        "  -V FILE            validation data: bits/dim and accuracy after every epoch\n"
        "  -R N               nr_resnet, gated blocks per level (default 1)\n"
        "  -F N               nr_filters (default 40)\n"
        "  -M N               nr_logistic_mix (default 5)\n"
        "                     (course demo (1,40,5); common middle (2,80,10); paper (5,160,10))\n"
        "  --conditioning L   class conditioning besides the per-block bias hw (SPEC 3b):\n"
        "                     a comma list of film (a per-block class scale hs) and input\n"
        "                     (a learned class image added to the network input); default\n"
        "                     none. With -r it comes from the model file\n"
        "  -b N               batch size (default 64)\n"
        "  -e N               train until N epochs are done in total (default 10)\n"
        "  --lr X             Adam learning rate (default 2e-4)\n"
        "  --lr-decay X       learning rate factor after every epoch (default 0.999995)\n"
        "  --lr-schedule S    epoch-decay (the default: --lr-decay after every epoch) or\n"
        "                     cosine: step t of T = -e x steps per epoch runs at\n"
        "                     lr * (1 + cos(pi t / T)) / 2, from --lr down to 0 at -e's end\n"
        "                     (not with --lr-decay). With -r it and --lr come from the file\n"
        "  --polyak X         Polyak averaging decay (default 0.9995; the average is used\n"
        "                     by pcnn-score and pcnn-gen); step t uses\n"
        "                     min(X, (1 + t) / (10 + t)) so short runs average too\n"
        "  --dropout P        0.5 (the default: SPEC 6's Dropout2d in every gated block) or\n"
        "                     0: no dropout, for short runs that underfit (a classifier\n"
        "                     whose training accuracy is no higher than validation's).\n"
        "                     With -r it comes from the model file\n"
        "  --class-lr-mult X  learning rate of the class tables (hw, hs, class_map): lr * X\n"
        "                     (default 1). They alone carry the class and start small\n"
        "  --ce-weight X      hybrid objective (SPEC 6b): add X times the cross-entropy of\n"
        "                     the Bayes posterior p(c | x) to the likelihood loss (default\n"
        "                     0: likelihood only). Trains the classifier, not just the\n"
        "                     generator; each image carrying it runs once per class.\n"
        "                     X = auto: the weight of each step from the data's own\n"
        "                     likelihood scale, 40000 nats / the running mean of\n"
        "                     -log p(x | y) per image (in [0.5, 50]: weak while the\n"
        "                     likelihood is high, about 10 on 28x28 garments and 3 on\n"
        "                     32x32 photographs at the quick runs' end), and the\n"
        "                     temperature 30 / weight unless given (docs/QUALITY.md).\n"
        "                     X = init (with --init): the weight and temperature the\n"
        "                     initial model's training ended with (its automatic rule's\n"
        "                     last, or its fixed ones), kept fixed: the fine stage of\n"
        "                     coarse to fine continues the coarse stage's term (make\n"
        "                     pipeline FINE_CE_WEIGHT); --ce-temperature still wins\n"
        "  --ce-temperature T temperature of that posterior: softmax(log p(x | c) / T)\n"
        "                     (default 1; log-likelihoods differ by tens of nats, so T > 1\n"
        "                     lets correctly classified images push too; auto: 30 /\n"
        "                     the weight, the default with --ce-weight auto)\n"
        "  --ce-classes N     the posterior of each CE image over N classes, its own and\n"
        "                     N - 1 others drawn at random every step (logits of the drawn\n"
        "                     raised by log((K-1)/(N-1))): N passes an image, not K (for\n"
        "                     many classes; default 0: all K)\n"
        "  --ce-prior P       uniform (the default: softmax of log p(x | c) / T, SPEC 6b)\n"
        "                     or learned: the posterior of (log p(x | c) + b_c) / T with a\n"
        "                     log prior b learned along (from 0, a gradient step on the\n"
        "                     mean CE term after every step; recorded in the model), so\n"
        "                     the term trains the rule decided by with a fitted prior\n"
        "                     (pcnn-argmax --prior), not the classes' likelihood bias.\n"
        "                     With -r it comes from the model file\n"
        "  --ce-fraction X    share of each batch carrying the CE term (default 1; its\n"
        "                     first ceil(X * batch) images, a random and reproducible\n"
        "                     subset): bounds the cost at 1 + X * (classes - 1) passes\n"
        "  -s SEED            seed of initialisation, batch order and dropout (default 1)\n"
        "  --checkpoint-every N  also write the checkpoint every N steps (default 0: epochs)\n"
        "  --max-steps N      stop after N steps in total (with a checkpoint)\n"
        "  --keep-best-by P   which validation accuracy picks the kept epoch: uniform\n"
        "                     (Bayes' rule with p(c) = 1/K; the default) or fitted (with\n"
        "                     the class prior fitted on the validation scores, what\n"
        "                     pcnn-argmax --fit-prior decides by; docs/QUALITY.md). Both\n"
        "                     are printed and logged. With -r it comes from the model file\n"
        "  --time-budget S    train for about S seconds: stop at the end of the first\n"
        "                     epoch after which one more (as long as the last, its\n"
        "                     validation included) would end past S seconds from the\n"
        "                     start of this run; at least one epoch. -e stays the upper\n"
        "                     bound (and the learning-rate schedule's); default 0: none\n"
        "  --log FILE         per-epoch TSV log: epoch, step, train_bpd, val_bpd, val_acc,\n"
        "                     lr, seconds, images_per_s, train_ce, val_acc_prior,\n"
        "                     ce_weight, ce_temperature (val_acc_prior: the accuracy\n"
        "                     with the prior fitted on validation; the last two: the\n"
        "                     CE term's at the epoch's last step); appended to when\n"
        "                     resuming\n"
        "  --device D         cpu, cuda or auto (default $PCNN_DEVICE, else auto: cuda\n"
        "                     when present)\n"
        "  --precision P      fp32 (default) or bf16: the convolution and 1x1 GEMMs of\n"
        "                     training take bfloat16 operands and sum in fp32 (a CPU with\n"
        "                     AVX512_BF16, or a CUDA GPU's tensor cores; refused elsewhere\n"
        "                     with exit 2). Weights, Adam, the likelihood, scoring and\n"
        "                     sampling stay fp32 (on a GPU: PCNN_PRECISION's mode); the\n"
        "                     same bytes run to run, not fp32's. With -r it comes from the\n"
        "                     model file\n"
        "  -q                 no progress or summaries on stderr\n"
        "  -h                 this help\n"
        "\n"
        "With -V, the Polyak weights of the epoch with the best validation accuracy (ties:\n"
        "lower bits/dim) are kept in the model file beside the last ones; pcnn-score and\n"
        "pcnn-gen use them (their --last uses the last epoch's). Training resumes from\n"
        "the last.\n"
        "\n"
        "Progress (epoch, step, running bits/dim, images/s, time left) is shown on a\n"
        "terminal; otherwise one line per epoch. Ctrl-C or SIGTERM finishes the current\n"
        "step, writes the checkpoint and exits with 130 (SIGINT) or 143 (SIGTERM).\n"
        "A NaN or infinite loss stops with exit 1 and leaves the last good checkpoint.\n"
        "On the CPU: PCNN_THREADS=N (or OMP_NUM_THREADS) threads, default all cores;\n"
        "PCNN_ISA=avx2 or scalar: without AVX-512 or SIMD (slower, the same results);\n"
        "PCNN_ISA=avx512: as if the CPU had no AVX512_BF16.\n"
        "Exit: 0 done, 1 failure, 2 usage error.\n"
        "\n"
        "Data parallel: mpirun -np N pcnn-fit ... (or srun) splits every batch over N\n"
        "processes and sums their gradients; rank 0 writes the model and the log. The same N\n"
        "gives the same bytes; another N the same training within float rounding; -r\n"
        "resumes with any N (docs/SCALE.md).\n"
        "\n"
        "example: pcnn-fit -V val.bin -e 20 --log fit.tsv -o model.bin train.bin\n");
}

enum { OPT_LR = 256, OPT_LR_DECAY, OPT_POLYAK, OPT_CKPT, OPT_MAX_STEPS, OPT_LOG, OPT_DEVICE,
       OPT_CE_WEIGHT, OPT_CE_TEMP, OPT_CE_FRACTION, OPT_CONDITIONING, OPT_CLASS_LR,
       OPT_PRECISION, OPT_TIME_BUDGET, OPT_KEEP_BEST, OPT_LR_SCHEDULE, OPT_CE_CLASSES,
       OPT_CE_PRIOR, OPT_DROPOUT, OPT_INIT };

static long need_long(const char *opt, const char *s, long lo, long hi)
{
    long v;
    if (pcnn_parse_long(s, lo, hi, &v)) pcnn_usage_error("%s: expected an integer in %ld..%ld, got '%s'", opt, lo, hi, s);
    return v;
}

static double need_double(const char *opt, const char *s, double lo, double hi)
{
    double v;
    if (pcnn_parse_double(s, lo, hi, &v)) pcnn_usage_error("%s: expected a number in [%g, %g], got '%s'", opt, lo, hi, s);
    return v;
}

/* --init FILE: the new model from FILE's weights at the training data's size, or NULL
 * (printed; *rc set to PCNN_EXIT_USAGE when sizes given by set_arch's bits — 1 -R, 2 -F,
 * 4 -M, 8 --conditioning — disagree with FILE's, else left as it is). With ce_last
 * (--ce-weight init) also the CE weight and temperature FILE's training ended with. */
static pcnn_model_file *model_from_init(const char *path, const pcnn_data_header *data,
                                        const char *data_name, int set_arch, long R, long F,
                                        long M, unsigned cond, uint64_t seed, double *ce_last,
                                        int *rc)
{
    pcnn_model_file *src = pcnn_model_file_read(path);
    if (!src) return NULL;
    pcnn_data_header classes = *data;   /* any size; the channels and classes must fit */
    classes.H = src->H;
    classes.W = src->W;
    pcnn_model_file *m = NULL;
    unsigned src_cond = pcnn_model_conditioning(src);
    int fits = !pcnn_model_file_check_data(src, path, &classes, data_name);   /* else printed */
    if (fits && (((set_arch & 1) && src->R != (uint32_t)R) ||
                 ((set_arch & 2) && src->F != (uint32_t)F) ||
                 ((set_arch & 4) && src->M != (uint32_t)M) || ((set_arch & 8) && src_cond != cond))) {
        pcnn_warn("--init: %s is R=%u F=%u M=%u with conditioning %s; -R/-F/-M/--conditioning, "
                  "when given, must agree (or leave them out)",
                  path, src->R, src->F, src->M, pcnn_cond_name(src_cond));
        *rc = PCNN_EXIT_USAGE;
    } else if (fits && ce_last && pcnn_model_ce_term_last(src, &ce_last[0], &ce_last[1])) {
        pcnn_warn("--ce-weight init: %s does not record the CE term its training ended with "
                  "(give --ce-weight X --ce-temperature T)", path);
    } else if (fits) {
        m = pcnn_model_init_from(src, pcnn_display_name(path), data->H, data->W, seed);
    }
    pcnn_model_file_free(src);
    return m;
}

int main(int argc, char **argv)
{
    pcnn_init(argv[0]);
    if (pcnn_dist_init()) return 1;
    pcnn_fit_options o;
    pcnn_fit_defaults(&o);
    const char *out = NULL, *resume = NULL, *valpath = NULL;
    long R = 1, F = 40, M = 5, seed = 1;
    unsigned cond = 0;   /* PCNN_COND_* (params.h) */
    int set_lr = 0, set_decay = 0, set_polyak = 0, set_seed = 0, set_batch = 0;
    int set_arch = 0;   /* given: 1 -R, 2 -F, 4 -M, 8 --conditioning */
    int temp_auto = 0, cew_init = 0;
    int set_cew = 0, set_cet = 0, set_cef = 0, set_clr = 0, set_prec = 0, set_keep = 0;
    int set_sched = 0, set_cec = 0, set_cep = 0, set_drop = 0;
    static const struct option longopts[] = {
        {"lr", required_argument, 0, OPT_LR},
        {"lr-decay", required_argument, 0, OPT_LR_DECAY},
        {"lr-schedule", required_argument, 0, OPT_LR_SCHEDULE},
        {"polyak", required_argument, 0, OPT_POLYAK},
        {"checkpoint-every", required_argument, 0, OPT_CKPT},
        {"max-steps", required_argument, 0, OPT_MAX_STEPS},
        {"time-budget", required_argument, 0, OPT_TIME_BUDGET},
        {"keep-best-by", required_argument, 0, OPT_KEEP_BEST},
        {"log", required_argument, 0, OPT_LOG},
        {"device", required_argument, 0, OPT_DEVICE},
        {"ce-weight", required_argument, 0, OPT_CE_WEIGHT},
        {"ce-temperature", required_argument, 0, OPT_CE_TEMP},
        {"ce-fraction", required_argument, 0, OPT_CE_FRACTION},
        {"ce-classes", required_argument, 0, OPT_CE_CLASSES},
        {"ce-prior", required_argument, 0, OPT_CE_PRIOR},
        {"dropout", required_argument, 0, OPT_DROPOUT},
        {"class-lr-mult", required_argument, 0, OPT_CLASS_LR},
        {"conditioning", required_argument, 0, OPT_CONDITIONING},
        {"precision", required_argument, 0, OPT_PRECISION},
        {"init", required_argument, 0, OPT_INIT},
        {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0},
    };
    int c;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":o:r:V:R:F:M:b:e:s:qh", longopts, NULL)) != -1) {
        switch (c) {
        case 'o': out = optarg; break;
        case 'r': resume = optarg; break;
        case 'V': valpath = optarg; break;
        case 'R': R = need_long("-R", optarg, 1, 64); set_arch |= 1; break;
        case 'F': F = need_long("-F", optarg, 1, 4096); set_arch |= 2; break;
        case 'M': M = need_long("-M", optarg, 1, 256); set_arch |= 4; break;
        case OPT_CONDITIONING:
            if (pcnn_cond_parse(optarg, &cond))
                pcnn_usage_error("--conditioning: expected none or a comma list of film, input; got '%s'", optarg);
            set_arch |= 8;
            break;
        case 'b': o.batch = (int)need_long("-b", optarg, 1, 65536); set_batch = 1; break;
        case 'e': o.epochs = (uint64_t)need_long("-e", optarg, 0, 100000000); break;
        case 's': seed = need_long("-s", optarg, 0, 0x7fffffffffffffffL); set_seed = 1; break;
        case 'q': o.quiet = pcnn_quiet = 1; break;
        case OPT_LR: o.lr = need_double("--lr", optarg, 0, 10); set_lr = 1; break;
        case OPT_LR_DECAY: o.lr_decay = need_double("--lr-decay", optarg, 0, 1); set_decay = 1; break;
        case OPT_LR_SCHEDULE:
            if (strcmp(optarg, "cosine") && strcmp(optarg, "epoch-decay"))
                pcnn_usage_error("--lr-schedule: expected epoch-decay or cosine, got '%s'", optarg);
            o.lr_cosine = !strcmp(optarg, "cosine");
            set_sched = 1;
            break;
        case OPT_POLYAK: o.polyak = need_double("--polyak", optarg, 0, 1); set_polyak = 1; break;
        case OPT_CKPT: o.checkpoint_every = (uint64_t)need_long("--checkpoint-every", optarg, 0, 0x7fffffffffffffffL); break;
        case OPT_MAX_STEPS: o.max_steps = (uint64_t)need_long("--max-steps", optarg, 0, 0x7fffffffffffffffL); break;
        case OPT_KEEP_BEST:
            if (!strcmp(optarg, "uniform")) o.keep_best_fitted = 0;
            else if (!strcmp(optarg, "fitted")) o.keep_best_fitted = 1;
            else pcnn_usage_error("--keep-best-by: expected uniform or fitted, got '%s'", optarg);
            set_keep = 1;
            break;
        case OPT_TIME_BUDGET: o.time_budget = need_double("--time-budget", optarg, 0, 1e9); break;
        case OPT_LOG: o.log_path = optarg; break;
        case OPT_DEVICE: o.device = pcnn_device_option(optarg); break;
        case OPT_CE_WEIGHT:   /* init: set from the --init model below */
            o.ce_auto = !strcmp(optarg, "auto");
            cew_init = !strcmp(optarg, "init");
            o.ce_weight = o.ce_auto || cew_init ? 0 : need_double("--ce-weight", optarg, 0, 1e6);
            set_cew = 1;
            break;
        case OPT_CE_TEMP:   /* auto: 30 / the weight, with --ce-weight auto (as if not given) */
            temp_auto = !strcmp(optarg, "auto");
            if (!temp_auto) o.ce_temperature = need_double("--ce-temperature", optarg, 1e-3, 1e6);
            set_cet = !temp_auto;
            break;
        case OPT_CE_FRACTION: o.ce_fraction = need_double("--ce-fraction", optarg, 0, 1); set_cef = 1; break;
        case OPT_CE_CLASSES:
            o.ce_classes = (int)need_long("--ce-classes", optarg, 0, 1024);
            if (o.ce_classes == 1)
                pcnn_usage_error("--ce-classes 1: a posterior over the true class alone has no CE term (2 or more, 0 = all)");
            set_cec = 1;
            break;
        case OPT_CE_PRIOR:
            if (strcmp(optarg, "uniform") && strcmp(optarg, "learned"))
                pcnn_usage_error("--ce-prior: expected uniform or learned, got '%s'", optarg);
            o.ce_prior_learned = !strcmp(optarg, "learned");
            set_cep = 1;
            break;
        case OPT_DROPOUT: {
            double p = need_double("--dropout", optarg, 0, 1);
            if (p != 0.0 && p != 0.5)
                pcnn_usage_error("--dropout %s: 0.5 (SPEC's rate, the default) or 0 (none); the masks "
                                 "are drawn at p = 1/2", optarg);
            o.no_dropout = p == 0.0;
            set_drop = 1;
            break;
        }
        case OPT_CLASS_LR: o.class_lr_mult = need_double("--class-lr-mult", optarg, 0, 1e6); set_clr = 1; break;
        case OPT_PRECISION:
            if (pcnn_precision_parse(optarg, &o.precision))
                pcnn_usage_error("--precision: expected fp32 or bf16, got '%s'", optarg);
            set_prec = 1;
            break;
        case OPT_INIT: o.init_path = optarg; break;
        case 'h': usage(stdout); return 0;
        default: pcnn_bad_option(c, argv);
        }
    }
    if (optind == argc) pcnn_usage_error("missing TRAIN data file");
    if (o.lr_cosine && set_decay)
        pcnn_usage_error("--lr-decay with --lr-schedule cosine: the cosine schedule has no per-epoch factor");
    if (!o.device) o.device = pcnn_device_default();
    if (resume && o.init_path)
        pcnn_usage_error("--init starts a new model from another's weights, -r continues one: not both");
    if (cew_init && !o.init_path)
        pcnn_usage_error("--ce-weight init: continues the CE term of the --init model; give --init FILE");
    if (!out) out = resume;
    if (!out) pcnn_usage_error("missing -o MODEL");
    if (!resume && o.epochs == 0) pcnn_usage_error("-e 0: a new model needs at least one epoch (-e N)");
    o.out_path = out;
    char *const *trainpaths = argv + optind;
    int ntrain = argc - optind, stdin_train = 0;
    for (int i = 0; i < ntrain; i++) stdin_train += !strcmp(trainpaths[i], "-");
    if (stdin_train + (valpath && !strcmp(valpath, "-")) > 1)
        pcnn_usage_error("stdin ('-') can be read once: as one TRAIN file or as -V, not both");
    const char *trainpath = trainpaths[0];
    if (pcnn_dist_size() > 1) {
        if (stdin_train || (valpath && !strcmp(valpath, "-"))) {
            /* every rank finds it: a usage error all end together (exit 2, no abort) */
            if (pcnn_dist_rank() == 0)
                pcnn_warn("with %d ranks every rank reads TRAIN and -V itself: give files, "
                          "not stdin", pcnn_dist_size());
            return pcnn_dist_exit(PCNN_EXIT_USAGE, 1);
        }
        if (pcnn_dist_rank() > 0) o.quiet = 1;   /* rank 0 reports */
    }
    int rc = pcnn_fit_check_files(&o, trainpaths, ntrain, valpath, resume);   /* before any work */
    if (rc) return pcnn_dist_exit(rc, 1);

    pcnn_dataset *train = pcnn_dataset_load(trainpath);
    if (!train) return pcnn_dist_exit(1, 0);
    for (int i = 1; i < ntrain; i++)
        if (pcnn_dataset_append(train, "the training data", pcnn_display_name(trainpath), trainpaths[i])) {
            pcnn_dataset_free(train);
            return pcnn_dist_exit(1, 0);
        }
    pcnn_dataset *val = NULL;
    if (valpath && !(val = pcnn_dataset_load(valpath))) {
        pcnn_dataset_free(train);
        return pcnn_dist_exit(1, 0);
    }
    pcnn_model_file *m = NULL;
    int collective = 0;
    rc = 1;
    if (resume) {
        if (set_arch || set_seed) pcnn_warn("-r: sizes and seed come from %s; -R/-F/-M/--conditioning/-s ignored", resume);
        if (!(m = pcnn_model_file_read(resume))) goto out;
        /* Options saved in the checkpoint win unless given again. */
        const char *s;
        double v;
        if (!set_decay && (s = pcnn_model_file_get_meta(m, "lr_decay")) && !pcnn_parse_double(s, 0, 1, &v)) o.lr_decay = v;
        if (!set_sched && (s = pcnn_model_file_get_meta(m, "lr_schedule"))) o.lr_cosine = !strcmp(s, "cosine");
        if (o.lr_cosine && set_decay)
            pcnn_usage_error("--lr-decay: %s follows the cosine schedule, which has no per-epoch factor", resume);
        /* the run's --lr (the cosine schedule's peak; recorded again in every checkpoint) */
        if (!set_lr && (s = pcnn_model_file_get_meta(m, "lr_base")) && !pcnn_parse_double(s, 0, 10, &v)) o.lr = v;
        if (!set_polyak && (s = pcnn_model_file_get_meta(m, "polyak")) && !pcnn_parse_double(s, 0, 1, &v)) o.polyak = v;
        if (!set_cew && (s = pcnn_model_file_get_meta(m, "ce_weight"))) {
            o.ce_auto = !strcmp(s, "auto");
            if (!o.ce_auto && !pcnn_parse_double(s, 0, 1e6, &v)) o.ce_weight = v;
        }
        if (!set_cet && (s = pcnn_model_file_get_meta(m, "ce_temperature"))) {
            set_cet = !!strcmp(s, "auto");   /* a recorded number is a temperature given */
            if (set_cet && !pcnn_parse_double(s, 1e-3, 1e6, &v)) o.ce_temperature = v;
        }
        if (!set_cef && (s = pcnn_model_file_get_meta(m, "ce_fraction")) && !pcnn_parse_double(s, 0, 1, &v)) o.ce_fraction = v;
        long cv;
        if (!set_cec && (s = pcnn_model_file_get_meta(m, "ce_classes")) && !pcnn_parse_long(s, 0, 1024, &cv)) o.ce_classes = (int)cv;
        if (!set_cep && (s = pcnn_model_file_get_meta(m, "ce_prior"))) o.ce_prior_learned = !strcmp(s, "learned");
        if (!set_drop && (s = pcnn_model_file_get_meta(m, "dropout")) && !pcnn_parse_double(s, 0, 1, &v)) o.no_dropout = v == 0.0;
        if (!set_clr && (s = pcnn_model_file_get_meta(m, "class_lr_mult")) && !pcnn_parse_double(s, 0, 1e6, &v)) o.class_lr_mult = v;
        if (!set_keep && (s = pcnn_model_file_get_meta(m, "keep_best_by"))) o.keep_best_fitted = !strcmp(s, "fitted");
        int pv;
        if (!set_prec && (s = pcnn_model_file_get_meta(m, "precision")) && !pcnn_precision_parse(s, &pv)) o.precision = pv;
        long bv;
        if (!set_batch && (s = pcnn_model_file_get_meta(m, "batch")) && !pcnn_parse_long(s, 1, 65536, &bv)) o.batch = (int)bv;
        if (set_lr) m->lr = o.lr;
    } else {
        if (train->h.C != 3) {
            pcnn_warn("%s: images have %u channels; pcnn models RGB images (prep with pcnn-prep)", trainpath, train->h.C);
            goto out;
        }
        if (train->h.H % 4 || train->h.W % 4 || train->h.H < 4 || train->h.W < 4) {
            pcnn_warn("%s: images are %ux%u; the network needs sides divisible by 4 (prep with -H/-W)", trainpath, train->h.H, train->h.W);
            goto out;
        }
        if (o.init_path) {   /* the coarse stage's weights, this data's size (init_from.h) */
            double ce_last[2];
            m = model_from_init(o.init_path, &train->h, pcnn_display_name(trainpath), set_arch,
                                R, F, M, cond, (uint64_t)seed, cew_init ? ce_last : NULL, &rc);
            if (!m) goto out;
            if (cew_init) {   /* fixed from now on; a given --ce-temperature wins */
                o.ce_weight = ce_last[0];
                if (!set_cet && !temp_auto) o.ce_temperature = ce_last[1];
                set_cet = 1;
            }
        } else {
            m = pcnn_model_create((uint32_t)R, (uint32_t)F, (uint32_t)M, train->h.K, train->h.H,
                                  train->h.W, cond, train->h.class_names, (uint64_t)seed);
        }
        m->lr = o.lr;
    }
    o.ce_temp_auto = o.ce_auto && !set_cet;   /* auto: tau follows the weight unless given */
    if (temp_auto && !o.ce_auto)   /* a fixed weight: the same product, once (1 without CE) */
        o.ce_temperature = o.ce_weight > 0 ? PCNN_CE_AUTO_PRODUCT / o.ce_weight : 1.0;
    if (o.ce_prior_learned && pcnn_fit_objective(&o) != PCNN_OBJECTIVE_HYBRID) {
        pcnn_warn("--ce-prior learned: the likelihood objective has no CE term to learn it in "
                  "(add --ce-weight, or drop --ce-prior)");
        rc = PCNN_EXIT_USAGE;
        goto out;
    }
    if (pcnn_model_file_check_data(m, resume ? resume : out, &train->h, pcnn_display_name(trainpath)))
        goto out;
    if (val && (resume ? pcnn_model_file_check_data(m, resume, &val->h, valpath)
                       : pcnn_data_check_alike(&train->h, "the training data",
                                               pcnn_display_name(trainpath), &val->h, valpath)))
        goto out;
    rc = pcnn_fit_run(&o, train, val, m);
    collective = 1;   /* pcnn_fit_run's ranks agree on how it ends */
out:
    pcnn_model_file_free(m);
    pcnn_dataset_free(train);
    pcnn_dataset_free(val);
    return pcnn_dist_exit(rc, collective);
}
