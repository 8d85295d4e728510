/* pcnn-argmax — score TSV (log p(x | c) per class) to predictions CSV. */
#include "eval/metrics.h"
#include "eval/ood.h"
#include "eval/prior.h"
#include "eval/reliability.h"
#include "eval/temperature.h"
#include "io/calibration.h"
#include "io/scoretsv.h"
#include "util.h"

#include <getopt.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

static void usage(FILE *fp)
{
    fprintf(fp,
        "usage: pcnn-argmax [-q] [-o FILE] [--format cpen455|2023]\n"
        "                   [--prior FILE|uniform | --fit-prior FILE]\n"
        "                   [--probs] [--report FILE|-] [--calibrate FILE [--reject-quantile Q]]\n"
        "                   [--calibration FILE] [--temperature T] [--reject]\n"
        "                   [--reject-threshold S] [SCORES.tsv]\n"
        "\n"
        "Reads the score TSV of pcnn-score (header 'id<TAB>label<TAB>class names...', then\n"
        "one row per image with log p(x | c) in nats) from SCORES.tsv or stdin, and writes\n"
        "the predicted class y = argmax_c log p(x | c) + log prior(c) of every image, in\n"
        "input order. Ties go to the lowest class index.\n"
        "\n"
        "  -o FILE         write the predictions to FILE (atomically) instead of stdout\n"
        "  --format F      cpen455 (default): rows 'id,label', no header, id as in the\n"
        "                  manifest (test/0000021.jpg,2): the CPEN 455 test.csv submission.\n"
        "                  2023: a header 'id,label', then bare file names (0000021.jpg,2):\n"
        "                  the 2023W2 starter's form.\n"
        "  --prior P       'uniform' (the default), or a file with one line per class:\n"
        "                  'name<TAB or comma>p' or a bare p in class order (normalised);\n"
        "                  a first line 'scale<TAB>log' makes them log p (--fit-prior's)\n"
        "  --fit-prior FILE  fit the class prior on these (labelled) scores, write it to\n"
        "                  FILE (for --prior) and decide with it: the log-priors (and a\n"
        "                  temperature) that maximise the likelihood of the labels under\n"
        "                  softmax((log p(x | c) + log prior(c)) / T). A likelihood-only\n"
        "                  model favours the classes with simpler images by tens of\n"
        "                  nats; K - 1 numbers undo it. Fit it on scores of TRAINING\n"
        "                  images, then apply it to validation and test with --prior\n"
        "                  (docs/QUALITY.md)\n"
        "  --probs         add the posterior p(c | x) = softmax_c(z_c / T) of every class,\n"
        "                  z_c = log p(x | c) + log prior(c), T the temperature (1 unless\n"
        "                  one of the options below gives one); the output then has a header\n"
        "                  'id,label,p_<class>...'\n"
        "  --report FILE   write accuracy, per-class precision/recall/F1, macro-F1 and the\n"
        "                  confusion matrix (Markdown) of the labelled rows to FILE; with a\n"
        "                  temperature also the expected calibration error (15 bins) at T = 1\n"
        "                  and at T and the reliability diagram; with --reject the images\n"
        "                  flagged. '-' writes it to stderr (stdout carries the predictions)\n"
        "\n"
        "Calibration (fit on validation, apply to test: docs/QUALITY.md):\n"
        "  --calibrate FILE  fit the temperature T that minimises the NLL of the labels\n"
        "                  under softmax(z / T) on these (labelled) scores and, when they\n"
        "                  have pcnn-score --ood's columns, the threshold of the OOD score\n"
        "                  S(x) = -log2 p(x) - L(x) at quantile Q of these images; write both\n"
        "                  to FILE (text, docs/FORMATS.md) and use them in this run\n"
        "  --reject-quantile Q  the threshold's quantile, in (0, 1] (default 0.99: at most\n"
        "                  1 %% of the calibration images are flagged)\n"
        "  --calibration FILE  apply a calibration file: its temperature, and its threshold\n"
        "                  with --reject (its classes must be these scores')\n"
        "  --temperature T use temperature T > 0 (instead of a calibration file's)\n"
        "  --reject        flag images whose S(x) lies above the threshold as out of\n"
        "                  distribution: predicted label -1, counted in the summary and the\n"
        "                  report, left out of the accuracy (needs scores from pcnn-score\n"
        "                  --ood; S uses their log p(x), of the uniform class prior)\n"
        "  --reject-threshold S  the threshold in bits (implies --reject; instead of a\n"
        "                  calibration file's)\n"
        "  -q              no summary line on stderr\n"
        "  -h              this help\n"
        "\n"
        "Ids holding a comma or a double quote are quoted as in RFC 4180.\n"
        "Without -q one summary line goes to stderr: images, and accuracy when labels are known\n"
        "(and the images rejected, the temperature and the ECE before and after it).\n"
        "Exit status: 0 success, 1 bad input or write error, 2 usage error.\n"
        "\n"
        "example: pcnn-argmax --calibrate calib.txt --report val.md < val.tsv > val.csv\n"
        "         pcnn-argmax --calibration calib.txt --reject --probs < test.tsv > test.csv\n");
}

/* Writes an id as a CSV field; quotes it (RFC 4180) when it holds ',' or '"'. */
static void put_id(FILE *fp, const char *id, int bare)
{
    if (bare) {
        const char *slash = strrchr(id, '/');
        if (slash && slash[1]) id = slash + 1;
    }
    if (!strpbrk(id, ",\"")) {
        fputs(id, fp);
        return;
    }
    fputc('"', fp);
    for (; *id; id++) {
        if (*id == '"') fputc('"', fp);
        fputc(*id, fp);
    }
    fputc('"', fp);
}


typedef struct argmax_options {
    const char *in_path, *out_path, *prior, *report, *calibrate, *calibration, *fit_prior;
    int fmt2023, probs, quiet, reject;
    double temperature;        /* 0: none given */
    double reject_quantile;
    double reject_threshold;
    int has_threshold;         /* --reject-threshold */
} argmax_options;

static void parse_options(int argc, char **argv, argmax_options *o)
{
    *o = (argmax_options){.out_path = "-", .prior = "uniform", .reject_quantile = 0.99};
    int c, has_quantile = 0, has_prior = 0;
    enum { OPT_FORMAT = 256, OPT_PRIOR, OPT_PROBS, OPT_REPORT, OPT_CALIBRATE, OPT_CALIBRATION,
           OPT_TEMPERATURE, OPT_REJECT, OPT_REJECT_THRESHOLD, OPT_REJECT_QUANTILE, OPT_FIT_PRIOR };
    static const struct option longopts[] = {
        {"format", required_argument, 0, OPT_FORMAT}, {"prior", required_argument, 0, OPT_PRIOR},
        {"probs", no_argument, 0, OPT_PROBS},         {"report", required_argument, 0, OPT_REPORT},
        {"calibrate", required_argument, 0, OPT_CALIBRATE},
        {"calibration", required_argument, 0, OPT_CALIBRATION},
        {"temperature", required_argument, 0, OPT_TEMPERATURE},
        {"reject", no_argument, 0, OPT_REJECT},
        {"reject-threshold", required_argument, 0, OPT_REJECT_THRESHOLD},
        {"reject-quantile", required_argument, 0, OPT_REJECT_QUANTILE},
        {"fit-prior", required_argument, 0, OPT_FIT_PRIOR},
        {"help", no_argument, 0, 'h'},                {0, 0, 0, 0}};
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":ho:q", longopts, NULL)) != -1) {
        switch (c) {
        case 'h': usage(stdout); exit(pcnn_close_stdout() ? 1 : 0);
        case 'o': o->out_path = optarg; break;
        case 'q': o->quiet = 1; break;
        case OPT_FORMAT:
            if (!strcmp(optarg, "2023")) o->fmt2023 = 1;
            else if (!strcmp(optarg, "cpen455")) o->fmt2023 = 0;
            else pcnn_usage_error("--format: '%s' is not one of cpen455, 2023", optarg);
            break;
        case OPT_PRIOR: o->prior = optarg; has_prior = 1; break;
        case OPT_FIT_PRIOR: o->fit_prior = optarg; break;
        case OPT_PROBS: o->probs = 1; break;
        case OPT_REPORT: o->report = optarg; break;
        case OPT_CALIBRATE: o->calibrate = optarg; break;
        case OPT_CALIBRATION: o->calibration = optarg; break;
        case OPT_TEMPERATURE:
            if (pcnn_parse_double(optarg, 1e-300, 1e300, &o->temperature))
                pcnn_usage_error("--temperature: '%s' is not a number > 0", optarg);
            break;
        case OPT_REJECT: o->reject = 1; break;
        case OPT_REJECT_THRESHOLD:
            if (pcnn_parse_double(optarg, -1e300, 1e300, &o->reject_threshold))
                pcnn_usage_error("--reject-threshold: '%s' is not a finite number (bits)", optarg);
            o->has_threshold = o->reject = 1;
            break;
        case OPT_REJECT_QUANTILE:
            if (pcnn_parse_double(optarg, 1e-300, 1, &o->reject_quantile))
                pcnn_usage_error("--reject-quantile: '%s' is not in (0, 1]", optarg);
            has_quantile = 1;
            break;
        case ':':
            if (optopt > 0 && optopt < 256) pcnn_usage_error("option '-%c' needs a value", optopt);
            pcnn_usage_error("option '%s' needs a value", argv[optind - 1]);
        default:
            if (optopt > 0 && optopt < 256) pcnn_usage_error("unknown option '-%c'", optopt);
            pcnn_usage_error("unknown option '%s'", argv[optind - 1]);
        }
    }
    if (argc - optind > 1) pcnn_usage_error("one score TSV at most (got %d)", argc - optind);
    if (o->fit_prior && has_prior)
        pcnn_usage_error("--fit-prior fits the prior, --prior gives one: not both");
    if (o->calibrate && o->calibration)
        pcnn_usage_error("--calibrate fits a calibration, --calibration applies one: not both");
    if (o->calibrate && (o->temperature > 0 || o->has_threshold))
        pcnn_usage_error("--calibrate fits the temperature and the threshold: not with "
                         "--temperature or --reject-threshold");
    if (has_quantile && !o->calibrate)
        pcnn_usage_error("--reject-quantile sets the threshold --calibrate fits (apply a fitted "
                         "one with --calibration)");
    if (o->reject && !o->calibrate && !o->calibration && !o->has_threshold)
        pcnn_usage_error("--reject needs a threshold: --calibrate (on validation), "
                         "--calibration FILE or --reject-threshold S");
    o->in_path = optind < argc ? argv[optind] : "-";
    pcnn_input in[] = {{"the score TSV", o->in_path}};
    pcnn_input outs[] = {{"the calibration (--calibrate)", o->calibrate},
                         {"the prior (--fit-prior)", o->fit_prior}};
    if (pcnn_output_not_input(o->out_path, "the predictions (-o)", in, 1) ||
        (o->report && pcnn_output_not_input(o->report, "the report (--report)", in, 1)) ||
        (o->calibrate && (pcnn_output_not_input(o->calibrate, "the calibration (--calibrate)", in, 1) ||
                          pcnn_output_not_input(o->out_path, "the predictions (-o)", outs, 1))) ||
        (o->fit_prior && (pcnn_output_not_input(o->fit_prior, "the prior (--fit-prior)", in, 1) ||
                          pcnn_output_not_input(o->out_path, "the predictions (-o)", outs + 1, 1) ||
                          (o->calibrate &&
                           pcnn_output_not_input(o->calibrate, "the calibration (--calibrate)", outs + 1, 1)))))
        exit(PCNN_EXIT_USAGE);
}

/* Every row of the score TSV, kept: calibrating needs them all before the first output. */
typedef struct row_set {
    uint32_t K;
    size_t n, cap;
    char **ids;
    int32_t *labels;
    double *z;       /* n × K logits z_c = log p(x | c) + log prior(c) */
    double *score;   /* n: S(x) in bits (eval/ood.h), NAN without the ood: columns */
} row_set;

static void rows_free(row_set *rs)
{
    for (size_t i = 0; i < rs->n; i++) free(rs->ids[i]);
    free(rs->ids);
    free(rs->labels);
    free(rs->z);
    free(rs->score);
}

/* Reads every row; 0, or -1 (printed). */
static int rows_read(pcnn_score_reader *r, const double *logprior, row_set *rs)
{
    const uint32_t K = rs->K = pcnn_score_nclasses(r);
    const int ood = pcnn_score_has_ood(r);
    pcnn_score_row row;
    int st;
    while ((st = pcnn_score_next(r, &row)) == 1) {
        if (rs->n == rs->cap) {
            rs->cap = rs->cap ? 2 * rs->cap : 256;
            rs->ids = pcnn_xrealloc(rs->ids, rs->cap * sizeof *rs->ids);
            rs->labels = pcnn_xrealloc(rs->labels, rs->cap * sizeof *rs->labels);
            rs->z = pcnn_xrealloc(rs->z, pcnn_mul_size(rs->cap, (size_t)K * sizeof *rs->z));
            rs->score = pcnn_xrealloc(rs->score, rs->cap * sizeof *rs->score);
        }
        size_t i = rs->n++;
        rs->ids[i] = pcnn_xstrdup(row.id);
        rs->labels[i] = row.label;
        /* log p(c | x) + const = log p(x | c) + log prior(c) */
        for (uint32_t k = 0; k < K; k++) rs->z[i * K + k] = row.logp[k] + logprior[k];
        /* S(x) from the file's log p(x) (uniform class prior, as pcnn-score wrote it) */
        rs->score[i] = ood ? pcnn_ood_complexity_score(row.log_px, row.png_bits) : NAN;
    }
    return st < 0 ? -1 : 0;
}

/* --calibrate: fits T (and the threshold when the scores have the ood: columns) on rs and
 * writes the file. 0, or -1 (printed). */
static int calibrate(const argmax_options *o, const row_set *rs, char *const *names, int ood,
                     pcnn_calibration *cal)
{
    size_t labelled = 0;
    for (size_t i = 0; i < rs->n; i++) labelled += rs->labels[i] >= 0;
    if (!labelled) {
        pcnn_warn("%s: --calibrate needs labelled rows (validation scores), these have none",
                  pcnn_display_name(o->in_path));
        return -1;
    }
    *cal = (pcnn_calibration){.K = rs->K, .class_names = (char **)names};
    int st = pcnn_temperature_fit(rs->z, rs->labels, rs->n, rs->K, &cal->temperature);
    if (st == PCNN_TEMP_SEPARABLE)
        pcnn_warn("%s: every labelled image is classified correctly: the NLL falls as T -> 0, "
                  "T = %g kept (calibrate on more or harder data)", pcnn_display_name(o->in_path),
                  cal->temperature);
    else if (st == PCNN_TEMP_FLAT)
        pcnn_warn("%s: the labels score below the class average: the scores carry no "
                  "information, T = %g", pcnn_display_name(o->in_path), cal->temperature);
    if (ood) {
        double *s = pcnn_xmalloc(rs->n * sizeof *s);
        memcpy(s, rs->score, rs->n * sizeof *s);
        cal->has_reject = 1;
        cal->reject_quantile = o->reject_quantile;
        cal->reject_threshold = pcnn_ood_threshold(s, rs->n, o->reject_quantile);
        free(s);
    }
    char comment[200];
    snprintf(comment, sizeof comment, "pcnn calibration (pcnn-argmax --calibrate) of %zu images "
             "(%zu labelled)", rs->n, labelled);
    return pcnn_calibration_write(o->calibrate, cal, comment);
}

/* --fit-prior: fits the class offsets b (and a temperature, eval/prior.h) on the labelled
 * rows, writes them as a log-scale prior file, and adds them to every row's logits so that
 * this run decides (and calibrates) with them. 0, or -1 (printed). */
static int fit_prior(const argmax_options *o, row_set *rs, char *const *names)
{
    const uint32_t K = rs->K;
    const char *in_name = pcnn_display_name(o->in_path);
    if (K > PCNN_PRIOR_MAX_K) {
        pcnn_warn("%s: --fit-prior handles at most %d classes, these scores have %u", in_name,
                  PCNN_PRIOR_MAX_K, K);
        return -1;
    }
    pcnn_prior_fit f;
    int st = pcnn_prior_fit_run(rs->z, rs->labels, rs->n, K, &f);
    if (st == PCNN_PRIOR_ERROR) {
        pcnn_warn("%s: --fit-prior needs labelled rows (scores of training images), these have none",
                  in_name);
        return -1;
    }
    if (st == PCNN_PRIOR_SEPARABLE)
        pcnn_warn("%s: every labelled image can be classified correctly: the fit has no finite "
                  "optimum; the offsets found are kept (fit on more images)", in_name);
    else if (st == PCNN_PRIOR_FLAT)
        pcnn_warn("%s: the labels score below the class average: the scores carry no "
                  "information, the prior stays uniform", in_name);
    double acc0 = pcnn_prior_accuracy(rs->z, rs->labels, rs->n, K, NULL),
           acc1 = pcnn_prior_accuracy(rs->z, rs->labels, rs->n, K, f.b);
    /* log p(c) = b_c − lse(b) */
    double *lp = pcnn_xmalloc(K * sizeof *lp), lse = pcnn_logsumexp(f.b, K);
    for (uint32_t k = 0; k < K; k++) lp[k] = f.b[k] - lse;
    char comment[240];
    snprintf(comment, sizeof comment, "pcnn class prior (pcnn-argmax --fit-prior) of %zu labelled "
             "images of %s: fitted with T %.6g, mean NLL %.4f (uniform prior: %.4f)", f.n, in_name,
             f.T, f.nll, f.nll_uniform);
    int rc = pcnn_prior_write_log(o->fit_prior, K, names, lp, comment);
    free(lp);
    if (rc) return -1;
    for (size_t i = 0; i < rs->n; i++)
        for (uint32_t k = 0; k < K; k++) rs->z[i * K + k] += f.b[k];
    if (!o->quiet) {
        char offs[400] = "";
        for (uint32_t k = 1; k < K && strlen(offs) < sizeof offs - 40; k++)
            snprintf(offs + strlen(offs), sizeof offs - strlen(offs), "%s%s %+.1f", k > 1 ? ", " : "",
                     names[k], f.b[k]);
        pcnn_warn("fitted prior on %zu labelled images, log p(c) - log p(%s) in nats: %s; accuracy "
                  "on them %.4f with a uniform prior, %.4f with this one", f.n, names[0], offs,
                  acc0, acc1);
    }
    return 0;
}

/* The report's sections after the confusion matrix. -1 on a write error. */
static int report_extra(FILE *fp, const argmax_options *o, int has_temp, double T,
                        const pcnn_reliability *before, const pcnn_reliability *after,
                        double thr, uint64_t rejected, uint64_t rejected_labelled, uint64_t n)
{
    if (o->reject) {
        fprintf(fp, "\n## Out of distribution\n\n");
        fprintf(fp, "- rejected: %llu of %llu images (%.2f %%), S(x) = -log2 p(x) - L(x) above "
                    "%.6g bits; predicted label -1\n", (unsigned long long)rejected,
                (unsigned long long)n, 100.0 * (double)rejected / (double)n, thr);
        fprintf(fp, "- of them labelled: %llu (left out of the accuracy and the confusion matrix "
                    "above)\n", (unsigned long long)rejected_labelled);
    }
    if (has_temp && before->n && pcnn_reliability_report(before, T != 1 ? after : NULL, T, fp))
        return -1;
    return ferror(fp) ? -1 : 0;
}

int main(int argc, char **argv)
{
    pcnn_init(argv[0]);
    argmax_options o;
    parse_options(argc, argv, &o);

    pcnn_score_reader *r = pcnn_score_open(o.in_path);
    if (!r) return 1;
    uint32_t K = pcnn_score_nclasses(r);
    char *const *names = pcnn_score_class_names(r);
    double *logprior = pcnn_xcalloc(K, sizeof *logprior);
    double *post = pcnn_xcalloc(K, sizeof *post);
    pcnn_confusion *cm = pcnn_confusion_new(K);
    pcnn_outfile *out = NULL;
    pcnn_calibration cal = {0};
    pcnn_reliability before = {0}, after = {0};
    row_set rs = {0};
    uint64_t unknown = 0, rejected = 0, rejected_labelled = 0;
    int rc = 1, own_cal = 0;
    const char *in_name = pcnn_display_name(o.in_path);
    if (pcnn_prior_read(o.prior, K, names, logprior)) goto done;
    if (o.reject && !pcnn_score_has_ood(r)) {
        pcnn_warn("%s: --reject needs the columns %s and %s (score with pcnn-score --ood)",
                  in_name, PCNN_SCORE_COL_LOG_PX, PCNN_SCORE_COL_PNG_BITS);
        goto done;
    }
    if (o.calibration) {
        if (pcnn_calibration_read(o.calibration, K, names, &cal)) goto done;
        own_cal = 1;
        if (o.reject && !o.has_threshold && !cal.has_reject) {
            pcnn_warn("%s: no reject_threshold (it was calibrated on scores without pcnn-score "
                      "--ood's columns): --reject cannot apply it", o.calibration);
            goto done;
        }
    }
    if (rows_read(r, logprior, &rs)) goto done;
    if (!rs.n) {   /* an empty submission is never what was meant */
        pcnn_warn("%s: no rows after the header: nothing to predict (was an empty data set scored?)",
                  in_name);
        goto done;
    }
    if (o.fit_prior && fit_prior(&o, &rs, names)) goto done;
    if (o.calibrate && calibrate(&o, &rs, names, pcnn_score_has_ood(r), &cal)) goto done;
    /* the temperature: --temperature, else the calibration's, else none (T = 1) */
    int has_temp = o.temperature > 0 || o.calibrate || o.calibration;
    double T = o.temperature > 0 ? o.temperature : has_temp ? cal.temperature : 1;
    double thr = o.has_threshold ? o.reject_threshold : cal.reject_threshold;

    if (!(out = pcnn_outfile_open(o.out_path))) goto done;
    if (o.fmt2023 || o.probs) {
        fputs("id,label", out->fp);
        for (uint32_t k = 0; o.probs && k < K; k++) fprintf(out->fp, ",p_%s", names[k]);
        fputc('\n', out->fp);
    }
    for (size_t i = 0; i < rs.n; i++) {
        const double *z = rs.z + i * K;
        const int32_t y = rs.labels[i];
        uint32_t yhat = (uint32_t)pcnn_argmax(z, K);   /* argmax z / T = argmax z */
        int reject = o.reject && pcnn_ood_rejects(rs.score[i], thr);
        put_id(out->fp, rs.ids[i], o.fmt2023);
        if (reject) fputs(",-1", out->fp);
        else fprintf(out->fp, ",%u", yhat);
        /* p_T(c | x) = softmax_c(z_c / T) (eval/temperature.h) */
        for (uint32_t k = 0; k < K; k++) post[k] = z[k] / T;
        pcnn_softmax(post, post, K);
        for (uint32_t k = 0; o.probs && k < K; k++) fprintf(out->fp, ",%.9g", post[k]);
        fputc('\n', out->fp);
        rejected += reject;
        if (y < 0) {
            unknown++;
            continue;
        }
        if (has_temp) {
            pcnn_reliability_add(&after, post[yhat], yhat == (uint32_t)y);
            pcnn_softmax(post, z, K);
            pcnn_reliability_add(&before, post[yhat], yhat == (uint32_t)y);
        }
        if (reject) rejected_labelled++;
        else pcnn_confusion_add(cm, (uint32_t)y, yhat);
    }
    if (pcnn_outfile_commit(out)) {
        out = NULL;
        goto done;
    }
    out = NULL;

    if (o.report) {
        int to_stderr = !strcmp(o.report, "-");
        pcnn_outfile *rep = to_stderr ? NULL : pcnn_outfile_open(o.report);
        if (!to_stderr && !rep) goto done;
        FILE *fp = to_stderr ? stderr : rep->fp;
        int bad = pcnn_confusion_report(cm, names, unknown, fp) |
                  report_extra(fp, &o, has_temp, T, &before, &after, thr, rejected,
                               rejected_labelled, rs.n);
        if (to_stderr && bad) goto done;
        if (rep && pcnn_outfile_commit(rep)) goto done;
    }
    if (!o.quiet && !(o.report && !strcmp(o.report, "-"))) {
        char extra[160] = "";
        if (o.reject)
            snprintf(extra, sizeof extra, ", %llu rejected as out of distribution",
                     (unsigned long long)rejected);
        if (has_temp && before.n)
            snprintf(extra + strlen(extra), sizeof extra - strlen(extra),
                     ", T %.4g (ECE %.4f -> %.4f)", T, pcnn_reliability_ece(&before),
                     pcnn_reliability_ece(&after));
        if (cm->n)
            pcnn_warn("%zu images, %llu labelled, accuracy %.6f (%llu/%llu)%s", rs.n,
                      (unsigned long long)cm->n, pcnn_confusion_accuracy(cm),
                      (unsigned long long)pcnn_confusion_correct(cm), (unsigned long long)cm->n, extra);
        else
            pcnn_warn("%zu images, no labels%s", rs.n, extra);
    }
    rc = 0;
done:
    pcnn_outfile_abort(out);
    pcnn_confusion_free(cm);
    if (own_cal) pcnn_calibration_free(&cal);
    rows_free(&rs);
    free(post);
    free(logprior);
    pcnn_score_close(r);
    /* After a failed commit the error is already reported: check stdout only on success. */
    if (rc == 0 && pcnn_close_stdout()) rc = 1;
    return rc;
}
