/* pcnn-score — log p(x | c) for every image and class: model + data file -> score TSV. */
#include "dist.h"
#include "eval/metrics.h"
#include "eval/ood.h"
#include "io/pngsize.h"
#include "io/scoretsv.h"
#include "model/model.h"
#include "model/net.h"
#include "util.h"

#include <getopt.h>
#include <stdlib.h>
#include <string.h>

static void usage(FILE *fp)
{
    fprintf(fp,
        "usage: pcnn-score [options] MODEL [DATA]\n"
        "\n"
        "Writes the score TSV (SPEC §8): a header 'id<TAB>label<TAB><class names...>', then\n"
        "for every image of DATA (a pcnn data file; '-' or none reads stdin) its id, its\n"
        "label (-1 unknown) and log p(x | c) in nats for every class c, using the model's\n"
        "Polyak-averaged weights when it has them. Memory stays bounded: images are read,\n"
        "scored and written batch by batch.\n"
        "\n"
        "  -o FILE        write to FILE (atomically) instead of stdout; never one of the\n"
        "                 inputs (refused: exit 2)\n"
        "  -b N           images per batch (default 16 on the CPU, 128 on a GPU)\n"
        "  --true-label   score only under each image's own label (K times faster; for\n"
        "                 bits/dim): the TSV then has columns id, label, logp, bpd\n"
        "  --ood          two more columns for out-of-distribution flagging (pcnn-argmax\n"
        "                 --reject): ood:log_px, log p(x) = log sum_c p(x | c) p(c) in nats\n"
        "                 with the uniform prior p(c) = 1/K, and ood:png_bits, L(x), the\n"
        "                 length in bits of the image as a PNG (zlib level 9): the\n"
        "                 input-complexity score is S(x) = -log2 p(x) - L(x)\n"
        "                 (docs/FORMATS.md; not with --true-label)\n"
        "  --no-polyak    use the raw trained weights, not the Polyak average\n"
        "  --last         use the last epoch's weights, not the best epoch on validation\n"
        "                 that pcnn-fit -V keeps (models without it: the same)\n"
        "  --device D     cpu, cuda or auto (default $PCNN_DEVICE, else auto)\n"
        "  -q             no summary on stderr\n"
        "  -h             this help\n"
        "\n"
        "A summary on stderr gives the images, the mean bits/dim under the true label\n"
        "(when labels are known) and images/s. Exit: 0 ok, 1 failure, 2 usage error.\n"
        "PCNN_TIMING=1: one more line on stderr (even with -q) with the seconds of each\n"
        "phase: model (read, checked), device init (library, device, handles), net\n"
        "(parameters, buffers), first batch (plans, first use), scoring, read, write, total.\n"
        "On a GPU the K classes of a batch run as one wide pass (PCNN_SCORE_WIDE=0: K\n"
        "passes; the same scores within rounding).\n"
        "On the CPU: PCNN_THREADS=N (or OMP_NUM_THREADS) threads, default all cores;\n"
        "PCNN_ISA=avx2 or scalar: without AVX-512 or SIMD (slower, the same results).\n"
        "mpirun -np N pcnn-score ...: rank 0 reads the data and writes the TSV, every rank\n"
        "scores its share of each round of N batches: the same bytes as one process.\n"
        "\n"
        "example: pcnn-score model.bin < test.bin | pcnn-argmax > predictions.csv\n");
}

enum { OPT_TRUE = 256, OPT_NO_POLYAK, OPT_LAST, OPT_DEVICE, OPT_OOD };

typedef struct score_options {
    const char *outpath, *device, *model_path, *data_path;
    long batch;   /* 0: the default of the device that runs */
    int use_last, true_only, use_polyak, quiet, ood;
} score_options;

static void parse_options(int argc, char **argv, score_options *o)
{
    *o = (score_options){.outpath = "-", .use_polyak = 1};
    static const struct option longopts[] = {
        {"true-label", no_argument, 0, OPT_TRUE},
        {"no-polyak", no_argument, 0, OPT_NO_POLYAK},
        {"last", no_argument, 0, OPT_LAST},
        {"device", required_argument, 0, OPT_DEVICE},
        {"ood", no_argument, 0, OPT_OOD},
        {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0},
    };
    int c;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":o:b:qh", longopts, NULL)) != -1) {
        switch (c) {
        case 'o': o->outpath = optarg; break;
        case 'b':
            if (pcnn_parse_long(optarg, 1, 65536, &o->batch)) pcnn_usage_error("-b: expected 1..65536, got '%s'", optarg);
            break;
        case 'q': o->quiet = pcnn_quiet = 1; break;
        case OPT_TRUE: o->true_only = 1; break;
        case OPT_NO_POLYAK: o->use_polyak = 0; break;
        case OPT_LAST: o->use_last = 1; break;
        case OPT_OOD: o->ood = 1; break;
        case OPT_DEVICE: o->device = pcnn_device_option(optarg); break;
        case 'h': usage(stdout); exit(0);
        default: pcnn_bad_option(c, argv);
        }
    }
    if (optind == argc) pcnn_usage_error("missing MODEL");
    if (argc - optind > 2) pcnn_usage_error("too many operands");
    if (o->ood && o->true_only)
        pcnn_usage_error("--ood needs log p(x | c) of every class: not with --true-label");
    if (!o->device) o->device = pcnn_device_default();
    o->model_path = argv[optind];
    o->data_path = optind + 1 < argc ? argv[optind + 1] : "-";
    pcnn_input in[] = {{"the model", o->model_path}, {"the data", o->data_path}};
    if (pcnn_output_not_input(o->outpath, "the score TSV (-o)", in, 2)) exit(pcnn_dist_exit(PCNN_EXIT_USAGE, 1));
}

/* Scoring in rounds (dist.h): a record is an image as read, (label, pixels), its result
 * log p(x | c) for every class (or under its label: --true-label). Rank 0 reads, keeps
 * the round's ids and writes the rows. */
typedef struct score_run {
    const score_options *o;
    const pcnn_model_file *m;
    pcnn_net *net;
    pcnn_data_reader *r;
    pcnn_score_writer *sw;   /* the TSV, or of (--true-label) */
    pcnn_outfile *of;
    size_t npix, cols;
    char **ids;              /* rank 0: the round's ids */
    int nids;
    uint8_t *px;             /* one batch (batch, H, W, 3) */
    int32_t *labels;
    int eof;                 /* rank 0: the reader said the end */
    pcnn_tally tally;        /* bits/dim under the true label of the labelled images */
    uint64_t done;
    pcnn_progress prog;
    /* PCNN_TIMING=1: seconds of each phase (the first batch apart: plans, first use) */
    double t_read, t_first, t_score, t_write;
    long nwork;
} score_run;

static int score_read_batch(score_run *s, void *in, int cap);

static int score_read(void *ctx, void *in, int cap)
{
    score_run *s = ctx;
    double t0 = pcnn_now();
    int nb = score_read_batch(s, in, cap);
    s->t_read += pcnn_now() - t0;
    return nb;
}

static int score_read_batch(score_run *s, void *in, int cap)
{
    uint8_t *rec = in;
    pcnn_record r;
    int nb = 0, st = 1;
    for (int i = 0; i < s->nids; i++) free(s->ids[i]);
    s->nids = 0;
    while (nb < cap && !s->eof && (st = pcnn_data_next(s->r, &r)) == 1) {
        if (s->o->true_only && r.label < 0) {
            pcnn_warn("%s: image %s has no label: --true-label needs labelled data", pcnn_display_name(s->o->data_path), r.id);
            return -1;
        }
        memcpy(rec, &r.label, sizeof r.label);
        memcpy(rec + sizeof r.label, r.pixels, s->npix);
        rec += sizeof r.label + s->npix;
        s->ids[s->nids++] = pcnn_xstrdup(r.id);
        nb++;
    }
    s->eof = st != 1;
    return st < 0 ? -1 : nb;
}

static void score_work_batch(score_run *s, const void *in, int nb, void *out);

static void score_work(void *ctx, const void *in, int nb, void *out)
{
    score_run *s = ctx;
    double t0 = pcnn_now();
    score_work_batch(s, in, nb, out);
    *(s->nwork++ ? &s->t_score : &s->t_first) += pcnn_now() - t0;
}

static void score_work_batch(score_run *s, const void *in, int nb, void *out)
{
    const uint8_t *rec = in;
    for (int i = 0; i < nb; i++, rec += sizeof(int32_t) + s->npix) {
        memcpy(&s->labels[i], rec, sizeof(int32_t));
        memcpy(s->px + (size_t)i * s->npix, rec + sizeof(int32_t), s->npix);
    }
    if (s->o->true_only)
        pcnn_net_loglik_labels(s->net, s->px, s->labels, nb, s->o->use_polyak, out);
    else
        pcnn_net_loglik(s->net, s->px, nb, s->o->use_polyak, out);
}

static int score_write_batch(score_run *s, const void *in, const void *out, int nb);

static int score_write(void *ctx, const void *in, const void *out, int nb)
{
    score_run *s = ctx;
    double t0 = pcnn_now();
    int rc = score_write_batch(s, in, out, nb);
    s->t_write += pcnn_now() - t0;
    return rc;
}

static int score_write_batch(score_run *s, const void *in, const void *out, int nb)
{
    const pcnn_model_file *m = s->m;
    const uint8_t *rec = in;
    for (int i = 0; i < nb; i++, rec += sizeof(int32_t) + s->npix) {
        const double *row = (const double *)out + (size_t)i * s->cols;
        int32_t label;
        memcpy(&label, rec, sizeof label);
        if (s->o->true_only) {
            double bpd = pcnn_bits_per_dim(row[0], m->H, m->W, m->C);
            fprintf(s->of->fp, "%s\t%d\t%.6f\t%.6f\n", s->ids[i], label, row[0], bpd);
            s->tally.bpd_sum += bpd;
            s->tally.labelled++;
        } else if (s->o->ood) {
            /* log p(x) = log Σ_c p(x | c) / K and L(x) of the pixels as read (eval/ood.h) */
            uint64_t bits;
            if (pcnn_png_bits(rec + sizeof(int32_t), (int)m->H, (int)m->W, (int)m->C, &bits) ||
                pcnn_score_write_ood(s->sw, s->ids[i], label, row, pcnn_ood_log_px(row, NULL, m->K),
                                     (double)bits))
                return -1;
            pcnn_tally_add(&s->tally, row, &label, 1, m->K, m->H, m->W, m->C);
        } else {
            if (pcnn_score_write(s->sw, s->ids[i], label, row)) return -1;
            pcnn_tally_add(&s->tally, row, &label, 1, m->K, m->H, m->W, m->C);
        }
    }
    s->done += (uint64_t)nb;
    pcnn_progress_update(&s->prog, s->done);
    return 0;
}

/* Rank 0: the output opened, then every image scored and the output committed. 0, or -1
 * (said) on every rank. */
static int score_all(score_run *s)
{
    int ok = 1;
    if (pcnn_dist_rank() == 0) {
        if (s->o->true_only) {
            ok = (s->of = pcnn_outfile_open(s->o->outpath)) != NULL;
            if (ok) fprintf(s->of->fp, "id\tlabel\tlogp\tbpd\n");
        } else {
            ok = (s->sw = (s->o->ood ? pcnn_score_create_ood : pcnn_score_create)(
                      s->o->outpath, s->m->K, s->m->class_names)) != NULL;
        }
        const pcnn_data_header *h = pcnn_data_get_header(s->r);
        pcnn_progress_start(&s->prog, "scored", h->count == PCNN_DATA_COUNT_UNKNOWN ? 0 : h->count, "images");
    }
    if (pcnn_dist_max_int(!ok)) return -1;
    int batch = (int)s->o->batch;
    s->npix = (size_t)s->m->H * s->m->W * s->m->C;
    s->cols = s->o->true_only ? 1 : s->m->K;
    s->ids = pcnn_xcalloc((size_t)batch * (size_t)pcnn_dist_size(), sizeof *s->ids);
    s->px = pcnn_xmalloc(pcnn_mul_size((size_t)batch, s->npix));
    s->labels = pcnn_xmalloc((size_t)batch * sizeof *s->labels);
    pcnn_dist_rounds r = {.in_bytes = sizeof(int32_t) + s->npix, .out_bytes = s->cols * sizeof(double),
                          .per_rank = batch, .ctx = s, .read = score_read, .work = score_work, .write = score_write};
    if (pcnn_dist_run_rounds(&r) < 0) return -1;
    int rc = 0;
    double t0 = pcnn_now();
    if (s->of) rc = pcnn_outfile_commit(s->of) ? -1 : 0;
    if (s->sw) rc = pcnn_score_finish(s->sw) ? -1 : 0;
    s->t_write += pcnn_now() - t0;
    s->of = NULL;
    s->sw = NULL;
    return pcnn_dist_max_int(rc != 0) ? -1 : 0;   /* rank 0's commit is everyone's result */
}

/* PCNN_TIMING=1: one line on stderr with the seconds of each phase (rank 0). */
static void report_timing(const score_run *s, double t_start, double t_model, double t_net)
{
    const char *e = getenv("PCNN_TIMING");
    if (!e || !*e || !strcmp(e, "0") || pcnn_dist_rank() != 0) return;
    double be = s->net ? pcnn_net_backend_seconds(s->net) : 0.0;
    fprintf(stderr,
            "pcnn-score: timing (s): model %.3f, device init %.3f (%s: library, device, "
            "handles), net %.3f, first batch %.3f (plans, first use), scoring %.3f (%ld more "
            "batches), read %.3f, write %.3f, total %.3f\n",
            t_model, be, s->net ? pcnn_net_device(s->net) : "none", t_net - be, s->t_first,
            s->t_score, s->nwork > 0 ? s->nwork - 1 : 0, s->t_read, s->t_write,
            pcnn_now() - t_start);
}

int main(int argc, char **argv)
{
    double t_start = pcnn_now();
    pcnn_init(argv[0]);
    if (pcnn_dist_init()) return 1;
    score_options o;
    parse_options(argc, argv, &o);
    /* With N ranks (dist.h) rank 0 reads rounds of N batches and writes the rows; every rank
     * scores its shard of each round. One process is the case N = 1. */
    const int rank0 = pcnn_dist_rank() == 0;
    if (!rank0) o.quiet = pcnn_quiet = 1;
    pcnn_model_file *m = pcnn_model_file_read(o.model_path);
    if (!m) return pcnn_dist_exit(1, 0);
    if (!o.use_last && o.use_polyak) pcnn_model_use_best(m);   /* the best epoch on validation */
    score_run s = {.o = &o, .m = m};
    int rc = 1, collective = 1, ok = 1;
    if (rank0)
        ok = (s.r = pcnn_data_open(o.data_path)) != NULL &&
             !pcnn_model_file_check_data(m, o.model_path, pcnn_data_get_header(s.r), pcnn_display_name(o.data_path));
    pcnn_dist_bcast(&ok, sizeof ok);
    if (!ok) goto out;
    /* batch 0: the scoring default of whichever device runs (net.h) */
    collective = 0;
    double t_model = pcnn_now() - t_start, t1 = pcnn_now();
    if (!(s.net = pcnn_net_create(m, o.device, (int)o.batch))) goto out;
    double t_net = pcnn_now() - t1;
    collective = 1;
    if (!o.batch) o.batch = pcnn_net_score_batch(s.net);
    if (score_all(&s)) goto out;
    rc = 0;
    if (!o.quiet) {
        char extra[128] = "no labels known";
        if (s.tally.labelled)
            snprintf(extra, sizeof extra, "mean %.4f bits/dim under the true label (%llu labelled)",
                     s.tally.bpd_sum / (double)s.tally.labelled, (unsigned long long)s.tally.labelled);
        s.prog.done = s.done;
        pcnn_progress_end(&s.prog, extra);
    }
    report_timing(&s, t_start, t_model, t_net);
out:
    pcnn_score_abort(s.sw);
    pcnn_outfile_abort(s.of);
    for (int i = 0; i < s.nids; i++) free(s.ids[i]);
    free(s.ids);
    free(s.px);
    free(s.labels);
    pcnn_net_free(s.net);
    pcnn_data_close(s.r);
    pcnn_model_file_free(m);
    return pcnn_dist_exit(rc, collective);
}
