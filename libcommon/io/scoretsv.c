/* scoretsv.c — reader and writer of the score TSV; format in scoretsv.h. */
#include "io/scoretsv.h"

#include "io/datafile.h"
#include "util.h"

#include <assert.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

struct pcnn_score_reader {
    FILE *fp;
    int own_fp;
    char *name;
    uint32_t K;
    int ood;          /* the two ood: columns follow the K scores */
    char **names;
    uint64_t line;
    char *buf;        /* the current line (getline) */
    size_t cap;
    char **fields;    /* K + 2 (+ 2 with ood) pointers into buf */
    double *logp;     /* K */
};

struct pcnn_score_writer {
    pcnn_outfile *out;
    uint32_t K;
    int ood;
    uint64_t rows;
};

/* ---- reader ---- */

/* Reads the next line into r->buf without its LF (and a CR before it); a last line without
 * its LF is a truncated file. 1: a line; 0: end of input; −1: error (printed). */
static int read_line(pcnn_score_reader *r, size_t *len)
{
    errno = 0;
    ssize_t n = getline(&r->buf, &r->cap, r->fp);
    if (n < 0) {
        if (ferror(r->fp)) {
            pcnn_warn("%s: read error: %s", r->name, strerror(errno ? errno : EIO));
            return -1;
        }
        return 0;
    }
    r->line++;
    if (r->buf[n - 1] != '\n') {   /* the writer ends every line: a cut file */
        pcnn_warn("%s: line %llu: no newline at its end: the file is cut short (truncated?)",
                  r->name, (unsigned long long)r->line);
        return -1;
    }
    r->buf[--n] = 0;
    if (n > 0 && r->buf[n - 1] == '\r') r->buf[--n] = 0;
    if (memchr(r->buf, 0, (size_t)n)) {
        pcnn_warn("%s: line %llu: contains a NUL byte (not a score TSV)", r->name,
                  (unsigned long long)r->line);
        return -1;
    }
    *len = (size_t)n;
    return 1;
}

/* Splits buf at TABs in place; fills at most max fields, returns how many there are. */
static size_t split_tabs(char *buf, char **fields, size_t max)
{
    size_t n = 0;
    char *p = buf;
    for (;;) {
        char *tab = strchr(p, '\t');
        if (n < max) fields[n] = p;
        n++;
        if (!tab) break;
        *tab = 0;
        p = tab + 1;
    }
    return n;
}

static size_t count_tabs(const char *s)
{
    size_t n = 0;
    for (; *s; s++) n += *s == '\t';
    return n;
}

/* Strict decimal number: no leading blank, whole field, finite. */
static int parse_number(const char *s, double *out)
{
    if (!*s || *s == ' ' || *s == '\t' || *s == '\v' || *s == '\f' || *s == '\n' || *s == '\r')
        return -1;
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (*end || !isfinite(v)) return -1;
    if (errno == ERANGE && fabs(v) > 1) return -1;   /* overflow; underflow to ~0 is fine */
    *out = v;
    return 0;
}

static void reader_free(pcnn_score_reader *r)
{
    if (!r) return;
    if (r->own_fp && r->fp) fclose(r->fp);
    pcnn_class_names_free(r->names, r->K);
    free(r->name);
    free(r->buf);
    free(r->fields);
    free(r->logp);
    free(r);
}

pcnn_score_reader *pcnn_score_open_stream(FILE *fp, const char *name)
{
    pcnn_score_reader *r = pcnn_xcalloc(1, sizeof *r);
    r->fp = fp;
    r->name = pcnn_xstrdup(name);
    size_t len;
    int st = read_line(r, &len);
    if (st == 0) pcnn_warn("%s: empty (expected a score TSV from pcnn-score)", r->name);
    if (st <= 0) goto fail;
    size_t ncol = count_tabs(r->buf) + 1;
    if (ncol < 3 || ncol - 2 > PCNN_DATA_MAX_CLASSES + 2) {
        pcnn_warn("%s: line 1: header has %zu tab-separated column%s; expected id, label and 1..%u "
                  "class names (%s)", r->name, ncol, ncol == 1 ? "" : "s", PCNN_DATA_MAX_CLASSES,
                  strchr(r->buf, ',') ? "a score TSV separates columns with tabs, not commas"
                                      : "is this a score TSV from pcnn-score?");
        goto fail;
    }
    r->fields = pcnn_xcalloc(ncol, sizeof *r->fields);
    split_tabs(r->buf, r->fields, ncol);
    if (strcmp(r->fields[0], "id") || strcmp(r->fields[1], "label")) {
        pcnn_warn("%s: line 1: header must start with 'id<TAB>label', found '%.40s<TAB>%.40s' "
                  "(is this a score TSV from pcnn-score?)", r->name, r->fields[0], r->fields[1]);
        goto fail;
    }
    /* the optional ood: columns are the last two, by name (scoretsv.h) */
    r->ood = ncol >= 5 && !strcmp(r->fields[ncol - 2], PCNN_SCORE_COL_LOG_PX) &&
             !strcmp(r->fields[ncol - 1], PCNN_SCORE_COL_PNG_BITS);
    uint32_t K = (uint32_t)(ncol - 2 - (r->ood ? 2 : 0));
    if (K > PCNN_DATA_MAX_CLASSES) {
        pcnn_warn("%s: line 1: %u class names, at most %u", r->name, K, PCNN_DATA_MAX_CLASSES);
        goto fail;
    }
    for (uint32_t k = 0; k < K; k++) {
        const char *nm = r->fields[k + 2];
        if (pcnn_data_check_class_name(nm)) {
            pcnn_warn("%s: line 1: class name %u '%.60s' is empty, too long or holds a comma",
                      r->name, k, nm);
            goto fail;
        }
        if (!strncmp(nm, PCNN_SCORE_OOD_PREFIX, strlen(PCNN_SCORE_OOD_PREFIX))) {
            pcnn_warn("%s: line 1: column %u '%.60s': names starting '%s' are reserved for the "
                      "last two columns '%s<TAB>%s' (pcnn-score --ood)", r->name, k + 3, nm,
                      PCNN_SCORE_OOD_PREFIX, PCNN_SCORE_COL_LOG_PX, PCNN_SCORE_COL_PNG_BITS);
            goto fail;
        }
        for (uint32_t j = 0; j < k; j++)
            if (!strcmp(nm, r->fields[j + 2])) {
                pcnn_warn("%s: line 1: class name '%s' appears twice (columns %u and %u)", r->name,
                          nm, j + 3, k + 3);
                goto fail;
            }
    }
    r->names = pcnn_class_names_copy(r->fields + 2, K);
    r->K = K;
    r->logp = pcnn_xcalloc(K, sizeof *r->logp);
    return r;
fail:
    reader_free(r);
    return NULL;
}

pcnn_score_reader *pcnn_score_open(const char *path)
{
    FILE *fp = stdin;
    if (path && strcmp(path, "-")) {
        fp = fopen(path, "r");
        if (!fp) {
            pcnn_warn("%s: %s", path, strerror(errno));
            return NULL;
        }
    }
    pcnn_score_reader *r = pcnn_score_open_stream(fp, pcnn_display_name(path));
    if (!r) {
        if (fp != stdin) fclose(fp);
        return NULL;
    }
    r->own_fp = fp != stdin;
    return r;
}

uint32_t pcnn_score_nclasses(const pcnn_score_reader *r)
{
    return r->K;
}

int pcnn_score_has_ood(const pcnn_score_reader *r)
{
    return r->ood;
}

char *const *pcnn_score_class_names(const pcnn_score_reader *r)
{
    return r->names;
}

uint64_t pcnn_score_line(const pcnn_score_reader *r)
{
    return r->line;
}

int pcnn_score_next(pcnn_score_reader *r, pcnn_score_row *row)
{
    size_t len;
    int st = read_line(r, &len);
    if (st <= 0) return st;
    unsigned long long ln = (unsigned long long)r->line;
    size_t want = (size_t)r->K + 2 + (r->ood ? 2 : 0);
    if (len == 0) {
        pcnn_warn("%s: line %llu: empty line (expected id, label and %u scores)", r->name, ln, r->K);
        return -1;
    }
    size_t ncol = count_tabs(r->buf) + 1;
    if (ncol != want) {
        pcnn_warn("%s: line %llu: expected %zu tab-separated columns (id, label, %u scores%s), "
                  "found %zu", r->name, ln, want, r->K, r->ood ? ", log_px, png_bits" : "", ncol);
        return -1;
    }
    split_tabs(r->buf, r->fields, want);
    if (pcnn_data_check_id(r->fields[0])) {
        pcnn_warn("%s: line %llu: bad id (empty or longer than %u bytes)", r->name, ln,
                  PCNN_DATA_MAX_ID);
        return -1;
    }
    long label;
    if (pcnn_parse_long(r->fields[1], -1, (long)r->K - 1, &label)) {
        pcnn_warn("%s: line %llu: label '%.40s' is not an integer in -1..%u", r->name, ln,
                  r->fields[1], r->K - 1);
        return -1;
    }
    for (uint32_t k = 0; k < r->K; k++) {
        const char *f = r->fields[k + 2];
        if (parse_number(f, &r->logp[k])) {
            pcnn_warn("%s: line %llu: score for class %s is '%.40s', not a finite number", r->name,
                      ln, r->names[k], f);
            return -1;
        }
    }
    row->log_px = row->png_bits = NAN;
    if (r->ood) {
        const char *f = r->fields[r->K + 2], *g = r->fields[r->K + 3];
        if (parse_number(f, &row->log_px)) {
            pcnn_warn("%s: line %llu: %s is '%.40s', not a finite number", r->name, ln,
                      PCNN_SCORE_COL_LOG_PX, f);
            return -1;
        }
        if (parse_number(g, &row->png_bits) || row->png_bits < 0) {
            pcnn_warn("%s: line %llu: %s is '%.40s', not a finite number >= 0", r->name, ln,
                      PCNN_SCORE_COL_PNG_BITS, g);
            return -1;
        }
    }
    row->id = r->fields[0];
    row->label = (int32_t)label;
    row->logp = r->logp;
    return 1;
}

void pcnn_score_close(pcnn_score_reader *r)
{
    reader_free(r);
}

/* ---- writer ---- */

static int write_failed(pcnn_score_writer *w)
{
    if (!ferror(w->out->fp)) return 0;
    pcnn_warn("%s: write error: %s", pcnn_outfile_name(w->out),
              strerror(errno ? errno : EIO));
    return -1;
}

static pcnn_score_writer *create(const char *path, uint32_t K, char *const *names, int ood)
{
    if (K < 1 || K > PCNN_DATA_MAX_CLASSES) {
        pcnn_warn("cannot write a score TSV with %u classes (1..%u)", K, PCNN_DATA_MAX_CLASSES);
        return NULL;
    }
    for (uint32_t k = 0; k < K; k++) {
        if (pcnn_data_check_class_name(names[k])) {
            pcnn_warn("bad class name '%s' (1..255 bytes, no comma, tab or newline)", names[k]);
            return NULL;
        }
        for (uint32_t j = 0; j < k; j++)
            if (!strcmp(names[j], names[k])) {
                pcnn_warn("class name '%s' appears twice", names[k]);
                return NULL;
            }
        if (!strncmp(names[k], PCNN_SCORE_OOD_PREFIX, strlen(PCNN_SCORE_OOD_PREFIX))) {
            pcnn_warn("class name '%s': names starting '%s' are reserved in a score TSV", names[k],
                      PCNN_SCORE_OOD_PREFIX);
            return NULL;
        }
    }
    pcnn_outfile *o = pcnn_outfile_open(path);
    if (!o) return NULL;
    pcnn_score_writer *w = pcnn_xcalloc(1, sizeof *w);
    w->out = o;
    w->K = K;
    w->ood = ood;
    fputs("id\tlabel", o->fp);
    for (uint32_t k = 0; k < K; k++) fprintf(o->fp, "\t%s", names[k]);
    if (ood) fprintf(o->fp, "\t%s\t%s", PCNN_SCORE_COL_LOG_PX, PCNN_SCORE_COL_PNG_BITS);
    fputc('\n', o->fp);
    if (write_failed(w)) {
        pcnn_score_abort(w);
        return NULL;
    }
    return w;
}

pcnn_score_writer *pcnn_score_create(const char *path, uint32_t K, char *const *names)
{
    return create(path, K, names, 0);
}

pcnn_score_writer *pcnn_score_create_ood(const char *path, uint32_t K, char *const *names)
{
    return create(path, K, names, 1);
}

/* One row; ood: NULL, or {log p(x), L(x)} for a writer made by pcnn_score_create_ood. */
static int write_row(pcnn_score_writer *w, const char *id, int32_t label, const double *logp,
                     const double *ood)
{
    assert(!ood == !w->ood);
    if (pcnn_data_check_id(id)) {
        pcnn_warn("score TSV: bad id '%.60s' (1..%u bytes, no tab or newline)", id, PCNN_DATA_MAX_ID);
        return -1;
    }
    if (label < -1 || label >= (int32_t)w->K) {
        pcnn_warn("score TSV: %s: label %d out of range (-1..%u)", id, label, w->K - 1);
        return -1;
    }
    for (uint32_t k = 0; k < w->K; k++)
        if (!isfinite(logp[k])) {
            pcnn_warn("score TSV: %s: log-likelihood of class %u is %g (not finite)", id, k, logp[k]);
            return -1;
        }
    if (ood && (!isfinite(ood[0]) || !isfinite(ood[1]) || ood[1] < 0)) {
        pcnn_warn("score TSV: %s: log p(x) %g or L(x) %g bits is not finite", id, ood[0], ood[1]);
        return -1;
    }
    FILE *fp = w->out->fp;
    fprintf(fp, "%s\t%d", id, label);
    for (uint32_t k = 0; k < w->K; k++) fprintf(fp, "\t%.6f", logp[k]);
    if (ood) fprintf(fp, "\t%.6f\t%.0f", ood[0], ood[1]);
    fputc('\n', fp);
    w->rows++;
    return write_failed(w);
}

int pcnn_score_write(pcnn_score_writer *w, const char *id, int32_t label, const double *logp)
{
    return write_row(w, id, label, logp, NULL);
}

int pcnn_score_write_ood(pcnn_score_writer *w, const char *id, int32_t label, const double *logp,
                         double log_px, double png_bits)
{
    const double ood[2] = {log_px, png_bits};
    return write_row(w, id, label, logp, ood);
}

int pcnn_score_finish(pcnn_score_writer *w)
{
    int st = pcnn_outfile_commit(w->out);
    free(w);
    return st;
}

void pcnn_score_abort(pcnn_score_writer *w)
{
    if (!w) return;
    pcnn_outfile_abort(w->out);
    free(w);
}

/* ---- prior ---- */

int pcnn_prior_read(const char *spec, uint32_t K, char *const *names, double *logprior)
{
    if (!strcmp(spec, "uniform")) {
        for (uint32_t k = 0; k < K; k++) logprior[k] = -log((double)K);
        return 0;
    }
    FILE *fp = fopen(spec, "r");
    if (!fp) {
        pcnn_warn("%s: %s (--prior takes a file or 'uniform')", spec, strerror(errno));
        return -1;
    }
    double *p = pcnn_xcalloc(K, sizeof *p);
    unsigned char *seen = pcnn_xcalloc(K, 1);
    char *buf = NULL;
    size_t cap = 0, nlines = 0;
    uint64_t ln = 0;
    int named = -1, rc = -1;   /* named: −1 undecided, 0 bare numbers, 1 "name,p" */
    int logscale = 0, content = 0;   /* logscale: a first line "scale<TAB>log" */
    ssize_t n;
    while ((n = getline(&buf, &cap, fp)) >= 0) {
        ln++;
        while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r' || buf[n - 1] == ' ')) buf[--n] = 0;
        if (n == 0 || buf[0] == '#') continue;
        if (!content++ && (!strcmp(buf, "scale\tlog") || !strcmp(buf, "scale,log"))) {
            logscale = 1;
            continue;
        }
        char *sep = strpbrk(buf, "\t,");
        const char *num = sep ? sep + 1 : buf;
        if (named < 0) named = sep != NULL;
        if (named != (sep != NULL)) {
            pcnn_warn("%s: line %llu: mixes 'name,p' lines and bare numbers", spec,
                      (unsigned long long)ln);
            goto done;
        }
        uint32_t k = (uint32_t)nlines;
        if (sep) {
            *sep = 0;
            for (k = 0; k < K && strcmp(names[k], buf); k++) continue;
            if (k == K) {
                pcnn_warn("%s: line %llu: unknown class '%.60s' (the scores have other names)", spec,
                          (unsigned long long)ln, buf);
                goto done;
            }
            if (seen[k]) {
                pcnn_warn("%s: line %llu: class '%s' given twice", spec, (unsigned long long)ln, buf);
                goto done;
            }
        } else if (k >= K) {
            pcnn_warn("%s: line %llu: more than %u probabilities (one per class)", spec,
                      (unsigned long long)ln, K);
            goto done;
        }
        if (logscale ? pcnn_parse_double(num, -1e300, 1e300, &p[k])
                     : pcnn_parse_double(num, 0, 1e300, &p[k])) {
            pcnn_warn("%s: line %llu: '%.40s' is not %s", spec, (unsigned long long)ln, num,
                      logscale ? "a log-probability (a finite number)" : "a probability (a number >= 0)");
            goto done;
        }
        seen[k] = 1;
        nlines++;
    }
    if (ferror(fp)) {
        pcnn_warn("%s: read error: %s", spec, strerror(errno ? errno : EIO));
        goto done;
    }
    if (nlines != K) {
        pcnn_warn("%s: %zu class priors given, the scores have %u classes", spec, nlines, K);
        goto done;
    }
    if (logscale) {   /* log p(c) up to a constant: normalised by log-sum-exp */
        double mx = p[0], lse = 0;
        for (uint32_t k = 1; k < K; k++) mx = p[k] > mx ? p[k] : mx;
        for (uint32_t k = 0; k < K; k++) lse += exp(p[k] - mx);
        lse = mx + log(lse);
        for (uint32_t k = 0; k < K; k++) logprior[k] = p[k] - lse;
        rc = 0;
        goto done;
    }
    double sum = 0;
    for (uint32_t k = 0; k < K; k++) sum += p[k];
    if (!(sum > 0) || !isfinite(sum)) {
        pcnn_warn("%s: the priors must not all be 0", spec);
        goto done;
    }
    for (uint32_t k = 0; k < K; k++) logprior[k] = p[k] > 0 ? log(p[k] / sum) : -INFINITY;
    rc = 0;
done:
    free(buf);
    free(p);
    free(seen);
    fclose(fp);
    return rc;
}

int pcnn_prior_write_log(const char *path, uint32_t K, char *const *names, const double *logprior,
                         const char *comment)
{
    pcnn_outfile *o = pcnn_outfile_open(path);
    if (!o) return -1;
    if (comment) fprintf(o->fp, "# %s\n", comment);
    fputs("scale\tlog\n", o->fp);
    for (uint32_t k = 0; k < K; k++) fprintf(o->fp, "%s\t%.17g\n", names[k], logprior[k]);
    return pcnn_outfile_commit(o);
}
