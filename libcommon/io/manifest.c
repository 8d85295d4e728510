/* manifest.c — CSV manifest reader; see manifest.h. */
#include "io/manifest.h"

#include "util.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Trims spaces and tabs in place on both ends of [s, s+len); returns the new start, sets *len. */
static char *trim(char *s, size_t *len)
{
    while (*len && (*s == ' ' || *s == '\t')) s++, (*len)--;
    while (*len && (s[*len - 1] == ' ' || s[*len - 1] == '\t')) (*len)--;
    s[*len] = 0;
    return s;
}

/* Parses one line (NUL-terminated, no line end) into r. */
static void parse_row(char *line, const char *dir, pcnn_manifest_row *r)
{
    char *comma = strrchr(line, ',');
    if (!comma) {
        r->err = "malformed row: expected 'path,label'";
        return;
    }
    *comma = 0;
    size_t plen = strlen(line), llen = strlen(comma + 1);
    char *p = trim(line, &plen), *l = trim(comma + 1, &llen);
    if (!plen) {
        r->err = "malformed row: empty path";
        return;
    }
    if (!llen) {
        r->err = "malformed row: empty label";
        return;
    }
    long v;
    if (pcnn_parse_long(l, -1, INT32_MAX, &v)) {
        r->err = "malformed row: label is not an integer >= -1";
        return;
    }
    /* A TAB or a CR inside the path (a bare CR is not a line end here) could not
     * travel as an id through the data file and the score TSV. */
    if (strchr(p, '\t')) {
        r->err = "malformed row: tab in path";
        return;
    }
    if (strchr(p, '\r')) {
        r->err = "malformed row: carriage return inside the path";
        return;
    }
    r->label = (int32_t)v;
    r->id = pcnn_xstrdup(p);
    if (p[0] == '/' || !dir[0]) {
        r->file = pcnn_xstrdup(p);
    } else {
        size_t n = strlen(dir) + 1 + plen + 1;
        r->file = pcnn_xmalloc(n);
        snprintf(r->file, n, "%s/%s", dir, p);
    }
}

pcnn_manifest *pcnn_manifest_read(const char *path)
{
    FILE *fp = strcmp(path, "-") ? fopen(path, "rb") : stdin;
    if (!fp) {
        pcnn_warn("%s: cannot open: %s", path, strerror(errno));
        return NULL;
    }
    /* Slurp: manifests are small (CPEN 455: 100 kB). */
    size_t cap = 1 << 16, n = 0;
    char *buf = pcnn_xmalloc(cap + 1);
    for (;;) {
        size_t got = fread(buf + n, 1, cap - n, fp);
        n += got;
        if (n < cap) break;
        cap *= 2;
        buf = pcnn_xrealloc(buf, cap + 1);
    }
    int rerr = ferror(fp);
    if (fp != stdin) fclose(fp);
    if (rerr) {
        pcnn_warn("%s: read error: %s", pcnn_display_name(path), strerror(errno ? errno : EIO));
        free(buf);
        return NULL;
    }
    if (memchr(buf, 0, n)) {
        pcnn_warn("%s: holds a NUL byte: not a CSV manifest", pcnn_display_name(path));
        free(buf);
        return NULL;
    }
    buf[n] = 0;

    /* The folder that relative paths start from ("" for the current one). */
    char *dir = pcnn_xstrdup(strcmp(path, "-") ? path : "");
    char *slash = strrchr(dir, '/');
    if (slash) slash[slash == dir ? 1 : 0] = 0;
    else dir[0] = 0;

    pcnn_manifest *m = pcnn_xcalloc(1, sizeof *m);
    m->path = pcnn_xstrdup(path);
    size_t rcap = 1024;
    m->rows = pcnn_xmalloc(sizeof *m->rows * rcap);
    char *s = buf;
    if ((unsigned char)s[0] == 0xEF && (unsigned char)s[1] == 0xBB && (unsigned char)s[2] == 0xBF)
        s += 3;
    unsigned long line = 0;
    int first = 1;
    while (*s) {
        char *e = strchr(s, '\n');
        char *next = e ? e + 1 : s + strlen(s);
        if (e) *e = 0;
        size_t len = strlen(s);
        if (len && s[len - 1] == '\r') s[--len] = 0;
        line++;
        size_t tl = len;
        char *t = trim(s, &tl);
        if (tl == 0) {
            s = next;
            continue;
        }
        if (first) {
            first = 0;
            char *c = strrchr(t, ',');
            if (c) {
                size_t ll = strlen(c + 1);
                char *lab = trim(c + 1, &ll);
                if (!strcasecmp(lab, "label")) {
                    m->has_header = 1;
                    s = next;
                    continue;
                }
            }
        }
        if (m->n == rcap) {
            rcap *= 2;
            m->rows = pcnn_xrealloc(m->rows, sizeof *m->rows * rcap);
        }
        pcnn_manifest_row *r = &m->rows[m->n++];
        memset(r, 0, sizeof *r);
        r->line = line;
        parse_row(t, dir, r);
        s = next;
    }
    free(dir);
    free(buf);
    return m;
}

void pcnn_manifest_free(pcnn_manifest *m)
{
    if (!m) return;
    for (size_t i = 0; i < m->n; i++) {
        free(m->rows[i].id);
        free(m->rows[i].file);
    }
    free(m->rows);
    free(m->path);
    free(m);
}
