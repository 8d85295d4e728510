/* pcnn-argmax — score TSV (log p(x | c) per class) to predictions CSV. */
#include "eval/metrics.h"
#include "io/scoretsv.h"
#include "util.h"

#include <getopt.h>
#include <stdlib.h>
#include <string.h>

static void usage(FILE *fp)
{
    fprintf(fp,
        "usage: pcnn-argmax [-q] [-o FILE] [--format cpen455|2023] [--prior FILE|uniform]\n"
        "                   [--probs] [--report FILE|-] [SCORES.tsv]\n"
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
        "                  'name<TAB or comma>p' or a bare p in class order (normalised)\n"
        "  --probs         add the posterior p(c | x) of every class (softmax by\n"
        "                  log-sum-exp); the output then has a header 'id,label,p_<class>...'\n"
        "  --report FILE   write accuracy, per-class precision/recall/F1, macro-F1 and the\n"
        "                  confusion matrix (Markdown) of the labelled rows to FILE;\n"
        "                  '-' writes it to stderr (stdout carries the predictions)\n"
        "  -q              no summary line on stderr\n"
        "  -h              this help\n"
        "\n"
        "Ids holding a comma or a double quote are quoted as in RFC 4180.\n"
        "Without -q one summary line goes to stderr: images, and accuracy when labels are known.\n"
        "Exit status: 0 success, 1 bad input or write error, 2 usage error.\n");
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

int main(int argc, char **argv)
{
    pcnn_init(argv[0]);
    const char *out_path = "-", *prior = "uniform", *report = NULL;
    int fmt2023 = 0, probs = 0, quiet = 0, c;
    enum { OPT_FORMAT = 256, OPT_PRIOR, OPT_PROBS, OPT_REPORT };
    static const struct option longopts[] = {
        {"format", required_argument, 0, OPT_FORMAT}, {"prior", required_argument, 0, OPT_PRIOR},
        {"probs", no_argument, 0, OPT_PROBS},         {"report", required_argument, 0, OPT_REPORT},
        {"help", no_argument, 0, 'h'},                {0, 0, 0, 0}};
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":ho:q", longopts, NULL)) != -1) {
        switch (c) {
        case 'h': usage(stdout); return pcnn_close_stdout() ? 1 : 0;
        case 'o': out_path = optarg; break;
        case 'q': quiet = 1; break;
        case OPT_FORMAT:
            if (!strcmp(optarg, "2023")) fmt2023 = 1;
            else if (!strcmp(optarg, "cpen455")) fmt2023 = 0;
            else pcnn_usage_error("--format: '%s' is not one of cpen455, 2023", optarg);
            break;
        case OPT_PRIOR: prior = optarg; break;
        case OPT_PROBS: probs = 1; break;
        case OPT_REPORT: report = optarg; break;
        case ':':
            if (optopt > 0 && optopt < 256) pcnn_usage_error("option '-%c' needs a value", optopt);
            pcnn_usage_error("option '%s' needs a value", argv[optind - 1]);
        default:
            if (optopt > 0 && optopt < 256) pcnn_usage_error("unknown option '-%c'", optopt);
            pcnn_usage_error("unknown option '%s'", argv[optind - 1]);
        }
    }
    if (argc - optind > 1) pcnn_usage_error("one score TSV at most (got %d)", argc - optind);
    const char *in_path = optind < argc ? argv[optind] : "-";
    pcnn_input in[] = {{"the score TSV", in_path}};
    if (pcnn_output_not_input(out_path, "the predictions (-o)", in, 1) ||
        (report && pcnn_output_not_input(report, "the report (--report)", in, 1)))
        return PCNN_EXIT_USAGE;

    pcnn_score_reader *r = pcnn_score_open(in_path);
    if (!r) return 1;
    uint32_t K = pcnn_score_nclasses(r);
    char *const *names = pcnn_score_class_names(r);
    double *logprior = pcnn_xcalloc(K, sizeof *logprior);
    double *post = pcnn_xcalloc(K, sizeof *post);
    pcnn_confusion *cm = pcnn_confusion_new(K);
    pcnn_outfile *out = NULL;
    uint64_t images = 0, unknown = 0;
    int rc = 1, st;
    if (pcnn_prior_read(prior, K, names, logprior)) goto done;
    if (!(out = pcnn_outfile_open(out_path))) goto done;

    if (fmt2023 || probs) {
        fputs("id,label", out->fp);
        for (uint32_t k = 0; probs && k < K; k++) fprintf(out->fp, ",p_%s", names[k]);
        fputc('\n', out->fp);
    }
    pcnn_score_row row;
    while ((st = pcnn_score_next(r, &row)) == 1) {
        /* log p(c | x) + const = log p(x | c) + log prior(c) */
        for (uint32_t k = 0; k < K; k++) post[k] = row.logp[k] + logprior[k];
        uint32_t yhat = (uint32_t)pcnn_argmax(post, K);
        put_id(out->fp, row.id, fmt2023);
        fprintf(out->fp, ",%u", yhat);
        if (probs) {
            pcnn_softmax(post, post, K);
            for (uint32_t k = 0; k < K; k++) fprintf(out->fp, ",%.9g", post[k]);
        }
        fputc('\n', out->fp);
        images++;
        if (row.label < 0) unknown++;
        else pcnn_confusion_add(cm, (uint32_t)row.label, yhat);
    }
    if (st < 0) goto done;
    if (!images) {   /* an empty submission is never what was meant */
        pcnn_warn("%s: no rows after the header: nothing to predict (was an empty data set scored?)",
                  pcnn_display_name(in_path));
        goto done;
    }
    if (pcnn_outfile_commit(out)) {
        out = NULL;
        goto done;
    }
    out = NULL;

    if (report && !strcmp(report, "-")) {
        if (pcnn_confusion_report(cm, names, unknown, stderr)) goto done;
    } else if (report) {
        pcnn_outfile *rep = pcnn_outfile_open(report);
        if (!rep) goto done;
        pcnn_confusion_report(cm, names, unknown, rep->fp);
        if (pcnn_outfile_commit(rep)) goto done;
    }
    if (!quiet && !(report && !strcmp(report, "-"))) {
        if (cm->n)
            pcnn_warn("%llu images, %llu labelled, accuracy %.6f (%llu/%llu)",
                      (unsigned long long)images, (unsigned long long)cm->n,
                      pcnn_confusion_accuracy(cm), (unsigned long long)pcnn_confusion_correct(cm),
                      (unsigned long long)cm->n);
        else
            pcnn_warn("%llu images, no labels", (unsigned long long)images);
    }
    rc = 0;
done:
    pcnn_outfile_abort(out);
    pcnn_confusion_free(cm);
    free(post);
    free(logprior);
    pcnn_score_close(r);
    /* After a failed commit the error is already reported: check stdout only on success. */
    if (rc == 0 && pcnn_close_stdout()) rc = 1;
    return rc;
}
