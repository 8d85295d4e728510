/* calibration.c — reader and writer of the calibration file; format in calibration.h. */
#include "io/calibration.h"

#include "io/datafile.h"
#include "util.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

/* The shortest of %.15g and %.17g that reads back as v: 0.99 stays "0.99". */
static void put_number(FILE *fp, const char *key, double v)
{
    char buf[40];
    snprintf(buf, sizeof buf, "%.15g", v);
    if (strtod(buf, NULL) != v) snprintf(buf, sizeof buf, "%.17g", v);
    fprintf(fp, "%s\t%s\n", key, buf);
}

int pcnn_calibration_write(const char *path, const pcnn_calibration *c, const char *comment)
{
    pcnn_outfile *o = pcnn_outfile_open(path);
    if (!o) return -1;
    FILE *fp = o->fp;
    if (comment) fprintf(fp, "# %s\n", comment);
    fprintf(fp, "pcnn-calibration\t1\nclasses\t");
    for (uint32_t k = 0; k < c->K; k++) fprintf(fp, "%s%s", k ? "," : "", c->class_names[k]);
    fputc('\n', fp);
    put_number(fp, "temperature", c->temperature);
    if (c->has_reject) {
        put_number(fp, "reject_quantile", c->reject_quantile);
        put_number(fp, "reject_threshold", c->reject_threshold);
    }
    return pcnn_outfile_commit(o);
}

void pcnn_calibration_free(pcnn_calibration *c)
{
    if (!c) return;
    pcnn_class_names_free(c->class_names, c->K);
    c->class_names = NULL;
    c->K = 0;
}

/* "A,B,C" against the K names; 0 when equal. */
static int same_classes(const char *list, uint32_t K, char *const *names)
{
    const char *p = list;
    for (uint32_t k = 0; k < K; k++) {
        size_t len = strlen(names[k]);
        if (strncmp(p, names[k], len) || (p[len] != ',' && p[len] != 0)) return -1;
        p += len;
        if (k + 1 < K) {
            if (*p != ',') return -1;
            p++;
        }
    }
    return *p ? -1 : 0;
}

int pcnn_calibration_read(const char *path, uint32_t K, char *const *names, pcnn_calibration *c)
{
    *c = (pcnn_calibration){0};
    FILE *fp = fopen(path, "r");
    if (!fp) {
        pcnn_warn("%s: %s (a calibration file is written by pcnn-argmax --calibrate)", path,
                  strerror(errno));
        return -1;
    }
    enum { VERSION, CLASSES, TEMP, QUANT, THRESH, NKEYS };
    static const char *keys[NKEYS] = {"pcnn-calibration", "classes", "temperature",
                                      "reject_quantile", "reject_threshold"};
    int seen[NKEYS] = {0}, rc = -1, first = 1;
    char *buf = NULL;
    size_t cap = 0;
    unsigned long long ln = 0;
    ssize_t n;
    while ((n = getline(&buf, &cap, fp)) >= 0) {
        ln++;
        while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r')) buf[--n] = 0;
        if (n == 0 || buf[0] == '#') continue;
        if ((size_t)n != strlen(buf)) {
            pcnn_warn("%s: line %llu: holds a NUL byte (not a calibration file)", path, ln);
            goto done;
        }
        char *tab = strchr(buf, '\t');
        if (!tab) {
            pcnn_warn("%s: line %llu: expected 'key<TAB>value'%s", path, ln,
                      first ? " (is this a calibration file from pcnn-argmax --calibrate?)" : "");
            goto done;
        }
        *tab = 0;
        const char *v = tab + 1;
        int k = 0;
        while (k < NKEYS && strcmp(buf, keys[k])) k++;
        if (k == NKEYS || (first && k != VERSION)) {
            pcnn_warn("%s: line %llu: %s '%.40s'%s", path, ln, first ? "expected 'pcnn-calibration' first, found" : "unknown key", buf,
                      first ? " (is this a calibration file from pcnn-argmax --calibrate?)" : "");
            goto done;
        }
        first = 0;
        if (seen[k]++) {
            pcnn_warn("%s: line %llu: key '%s' given twice", path, ln, buf);
            goto done;
        }
        double x;
        switch (k) {
        case VERSION:
            if (strcmp(v, "1")) {
                pcnn_warn("%s: line %llu: format version '%.20s', this pcnn reads 1", path, ln, v);
                goto done;
            }
            break;
        case CLASSES:
            if (same_classes(v, K, names)) {
                pcnn_warn("%s: line %llu: made for classes '%.200s', the scores have other "
                          "classes (calibrate on scores of the same model)", path, ln, v);
                goto done;
            }
            break;
        case TEMP:
            if (pcnn_parse_double(v, 1e-300, 1e300, &x)) {
                pcnn_warn("%s: line %llu: temperature '%.40s' is not a number > 0", path, ln, v);
                goto done;
            }
            c->temperature = x;
            break;
        case QUANT:
            if (pcnn_parse_double(v, 1e-300, 1, &x)) {
                pcnn_warn("%s: line %llu: reject_quantile '%.40s' is not in (0, 1]", path, ln, v);
                goto done;
            }
            c->reject_quantile = x;
            break;
        case THRESH:
            if (pcnn_parse_double(v, -1e300, 1e300, &x)) {
                pcnn_warn("%s: line %llu: reject_threshold '%.40s' is not a finite number", path, ln, v);
                goto done;
            }
            c->reject_threshold = x;
            break;
        }
    }
    if (ferror(fp)) {
        pcnn_warn("%s: read error: %s", path, strerror(errno ? errno : EIO));
        goto done;
    }
    if (first) {
        pcnn_warn("%s: empty (a calibration file is written by pcnn-argmax --calibrate)", path);
        goto done;
    }
    if (!seen[CLASSES] || !seen[TEMP]) {
        pcnn_warn("%s: no '%s' line (the file is cut short?)", path, seen[CLASSES] ? "temperature" : "classes");
        goto done;
    }
    if (seen[QUANT] != seen[THRESH]) {
        pcnn_warn("%s: reject_quantile and reject_threshold come together (one is missing)", path);
        goto done;
    }
    c->has_reject = seen[THRESH];
    c->K = K;
    c->class_names = pcnn_class_names_copy(names, K);
    rc = 0;
done:
    free(buf);
    fclose(fp);
    return rc;
}
