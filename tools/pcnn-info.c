/* pcnn-info — what a pcnn file holds (data file, model file, score TSV); verifies it. */
#include "io/datafile.h"
#include "model/model.h"
#include "io/modelfile.h"
#include "io/scoretsv.h"
#include "util.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h>

static void usage(FILE *fp)
{
    fprintf(fp,
        "usage: pcnn-info [-q] [FILE...]\n"
        "\n"
        "Prints what each pcnn FILE holds, found by its first bytes ('-' or no FILE: stdin):\n"
        "  data file   (PCNNDATA) version, image size HxWxC, classes, record count, the\n"
        "              number of records per label and without one;\n"
        "  model file  (PCNNMODL) network sizes, classes, parameters, training state,\n"
        "              conditioning (base, film, input or film,input: SPEC 3b);\n"
        "  score TSV   (id<TAB>label<TAB>...) classes, rows, rows per label, and whether\n"
        "              it has pcnn-score --ood's columns (log p(x), L(x)).\n"
        "Each file is read to its end and every checksum and field is checked, so\n"
        "pcnn-info also verifies files: a damaged one is reported and the exit status is 1.\n"
        "Output: 'key: value' lines, a blank line between files.\n"
        "\n"
        "  -q   print nothing on stdout: only verify (exit status, errors on stderr)\n"
        "  -h   this help\n"
        "\n"
        "Model files are read from disk (give their name, not a pipe).\n"
        "Exit status: 0 all files fine, 1 a file missing or damaged, 2 usage error.\n");
}

/* A read-only stream that first gives back the bytes already taken from
 * 'under' to detect the kind, then the rest of 'under' (works on pipes). */
typedef struct peek_stream {
    FILE *under;
    char head[8];
    size_t n, pos;
} peek_stream;

static ssize_t peek_read(void *cookie, char *buf, size_t size)
{
    peek_stream *p = cookie;
    size_t got = 0;
    while (p->pos < p->n && got < size) buf[got++] = p->head[p->pos++];
    if (got < size) {
        got += fread(buf + got, 1, size - got, p->under);
        if (got == 0 && ferror(p->under)) return -1;
    }
    return (ssize_t)got;
}

static int peek_close(void *cookie)
{
    free(cookie);
    return 0;
}

static FILE *peek_open(FILE *under, const char *head, size_t n)
{
    peek_stream *p = pcnn_xcalloc(1, sizeof *p);
    p->under = under;
    memcpy(p->head, head, n);
    p->n = n;
    cookie_io_functions_t io = {.read = peek_read, .close = peek_close};
    FILE *fp = fopencookie(p, "r", io);
    if (!fp) pcnn_die("cannot make a stream: %s", strerror(errno));
    return fp;
}

/* A blank line between the summaries of two files. */
static int summaries_printed;

static void start_summary(FILE *out, const char *name)
{
    if (summaries_printed++) fputc('\n', out);
    fprintf(out, "file: %s\n", name);
}

static void print_classes(FILE *out, uint32_t K, char *const *names)
{
    fprintf(out, "classes: %u (", K);
    for (uint32_t k = 0; k < K; k++) fprintf(out, "%s%s", k ? ", " : "", names[k]);
    fprintf(out, ")\n");
}

static void print_labels(FILE *out, uint32_t K, char *const *names, const uint64_t *hist,
                         uint64_t unlabelled)
{
    for (uint32_t k = 0; k < K; k++)
        fprintf(out, "label %u %s: %llu\n", k, names[k], (unsigned long long)hist[k]);
    fprintf(out, "unlabelled: %llu\n", (unsigned long long)unlabelled);
}

/* Reads a whole data file; prints its summary when every record checks out. */
static int info_data(FILE *fp, const char *name, FILE *out)
{
    pcnn_data_reader *r = pcnn_data_open_stream(fp, name);
    if (!r) return -1;
    const pcnn_data_header *h = pcnn_data_get_header(r);
    uint64_t *hist = pcnn_xcalloc(h->K, sizeof *hist), unlabelled = 0;
    pcnn_record rec;
    int st;
    while ((st = pcnn_data_next(r, &rec)) == 1) {
        if (rec.label < 0) unlabelled++;
        else hist[rec.label]++;
    }
    /* The reader stops at the end marker; a verifier also wants nothing after it. */
    if (st == 0 && fgetc(fp) != EOF) {
        pcnn_warn("%s: bytes after the end marker (file damaged, or two files joined)", name);
        st = -1;
    }
    if (st == 0 && out) {
        start_summary(out, name);
        fprintf(out, "kind: pcnn data file, version %u\n", PCNN_DATA_VERSION);
        fprintf(out, "images: %ux%ux%u\n", h->H, h->W, h->C);
        print_classes(out, h->K, h->class_names);
        fprintf(out, "records: %llu\n", (unsigned long long)pcnn_data_index(r));
        if (h->count == PCNN_DATA_COUNT_UNKNOWN)
            fprintf(out, "header count: streamed (count in the end marker)\n");
        else
            fprintf(out, "header count: %llu\n", (unsigned long long)h->count);
        print_labels(out, h->K, h->class_names, hist, unlabelled);
        fprintf(out, "checksums: ok\n");
    }
    free(hist);
    pcnn_data_close(r);
    return st == 0 ? 0 : -1;
}

static int info_scores(FILE *fp, const char *name, FILE *out)
{
    pcnn_score_reader *r = pcnn_score_open_stream(fp, name);
    if (!r) return -1;
    uint32_t K = pcnn_score_nclasses(r);
    uint64_t *hist = pcnn_xcalloc(K, sizeof *hist), unlabelled = 0, rows = 0;
    pcnn_score_row row;
    int st;
    while ((st = pcnn_score_next(r, &row)) == 1) {
        rows++;
        if (row.label < 0) unlabelled++;
        else hist[row.label]++;
    }
    if (st == 0 && out) {
        start_summary(out, name);
        fprintf(out, "kind: score TSV (log p(x | c) in nats)\n");
        print_classes(out, K, pcnn_score_class_names(r));
        if (pcnn_score_has_ood(r))
            fprintf(out, "ood columns: log p(x) in nats, L(x) in bits (pcnn-score --ood)\n");
        fprintf(out, "rows: %llu\n", (unsigned long long)rows);
        print_labels(out, K, pcnn_score_class_names(r), hist, unlabelled);
    }
    free(hist);
    pcnn_score_close(r);
    return st == 0 ? 0 : -1;
}

static int info_model(const char *path, FILE *out)
{
    pcnn_model_file *m = pcnn_model_file_read(path);
    if (!m) return -1;
    if (out) {
        if (summaries_printed++) fputc('\n', out);
        pcnn_model_file_describe(m, path, out);
        fprintf(out, "conditioning: %s\n", pcnn_cond_name(pcnn_model_conditioning(m)));
        char obj[512];
        pcnn_model_objective(m, obj, sizeof obj);
        fprintf(out, "objective: %s\n", obj);
    }
    pcnn_model_file_free(m);
    return 0;
}

static int info_one(const char *path, FILE *out)
{
    const char *name = pcnn_display_name(path);
    int is_stdin = !strcmp(path, "-");
    FILE *fp = is_stdin ? stdin : fopen(path, "rb");
    if (!fp) {
        pcnn_warn("%s: %s", path, strerror(errno));
        return -1;
    }
    char head[8];
    size_t n = fread(head, 1, sizeof head, fp);
    int rc = -1;
    if (n < sizeof head && ferror(fp)) {
        pcnn_warn("%s: read error: %s", name, strerror(errno ? errno : EIO));
    } else if (n == sizeof head && !memcmp(head, PCNN_DATA_MAGIC, 8)) {
        FILE *ps = peek_open(fp, head, n);
        rc = info_data(ps, name, out);
        fclose(ps);
    } else if (n == sizeof head && !memcmp(head, PCNN_MODEL_MAGIC, 8)) {
        if (is_stdin)
            pcnn_warn("<stdin>: a model file; give its file name instead (model files are read "
                      "from disk)");
        else {
            fclose(fp);
            fp = NULL;
            rc = info_model(path, out);
        }
    } else if (n >= 3 && !memcmp(head, "id\t", 3)) {
        FILE *ps = peek_open(fp, head, n);
        rc = info_scores(ps, name, out);
        fclose(ps);
    } else if (n == 0) {
        pcnn_warn("%s: empty file (not a pcnn file)", name);
    } else {
        pcnn_warn("%s: not a pcnn file (unknown magic; expected a data file, model file or "
                  "score TSV)", name);
    }
    if (fp && !is_stdin) fclose(fp);
    return rc;
}

int main(int argc, char **argv)
{
    pcnn_init(argv[0]);
    int quiet = 0, c;
    opterr = 0;
    while ((c = getopt(argc, argv, "hq")) != -1) {
        switch (c) {
        case 'h': usage(stdout); return pcnn_close_stdout() ? 1 : 0;
        case 'q': quiet = 1; break;
        default: pcnn_usage_error("unknown option '-%c'", optopt);
        }
    }
    char *stdin_only[] = {"-"};
    char **files = optind < argc ? argv + optind : stdin_only;
    int nfiles = optind < argc ? argc - optind : 1, stdin_uses = 0;
    for (int i = 0; i < nfiles; i++) stdin_uses += !strcmp(files[i], "-");
    if (stdin_uses > 1) pcnn_usage_error("'-' (stdin) given more than once");

    /* A summary goes out only for a file that checked out completely. */
    int rc = 0;
    for (int i = 0; i < nfiles && !ferror(stdout); i++)
        if (info_one(files[i], quiet ? NULL : stdout)) rc = 1;
    if (pcnn_close_stdout()) rc = 1;
    return rc;
}
