/* datafile.c — reader and writer of the pcnn data file; layout in datafile.h. */
#include "io/datafile.h"

#include "util.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

struct pcnn_data_reader {
    FILE *fp;
    int own_fp;
    char *name;
    pcnn_data_header h;
    uint64_t index;
    int done;
    size_t npix;
    uint8_t *pix;      /* H·W·C */
    char id[PCNN_DATA_MAX_ID + 1];
};

struct pcnn_data_writer {
    pcnn_outfile *out;
    pcnn_data_header h;
    uint64_t written;
    size_t npix;
    long count_offset; /* where the header count sits, for patching */
    uint8_t *buf;
};

static uint32_t crc(uint32_t c, const void *p, size_t n)
{
    return (uint32_t)crc32(c, p, (uInt)n);
}

int pcnn_data_check_id(const char *id)
{
    size_t n = strlen(id);
    if (n == 0 || n > PCNN_DATA_MAX_ID) return -1;
    for (size_t i = 0; i < n; i++)
        if (id[i] == '\t' || id[i] == '\n' || id[i] == '\r') return -1;
    return 0;
}

int pcnn_data_check_class_name(const char *name)
{
    size_t n = strlen(name);
    if (n == 0 || n > PCNN_DATA_MAX_NAME) return -1;
    for (size_t i = 0; i < n; i++)
        if (name[i] == '\t' || name[i] == '\n' || name[i] == '\r' || name[i] == ',') return -1;
    return 0;
}

char **pcnn_class_names_copy(char *const *names, uint32_t K)
{
    char **c = pcnn_xcalloc(K, sizeof *c);
    for (uint32_t k = 0; k < K; k++) c[k] = pcnn_xstrdup(names[k]);
    return c;
}

void pcnn_class_names_free(char **names, uint32_t K)
{
    if (!names) return;
    for (uint32_t k = 0; k < K; k++) free(names[k]);
    free(names);
}

/* ---- reader ---- */

/* Reads exactly n bytes; 0 on success, 1 at a clean EOF before any byte,
 * -1 on a short read or error (message printed). */
static int read_exact(pcnn_data_reader *r, void *p, size_t n, const char *what)
{
    size_t got = fread(p, 1, n, r->fp);
    if (got == n) return 0;
    if (ferror(r->fp)) {
        pcnn_warn("%s: read error in %s: %s", r->name, what, strerror(errno ? errno : EIO));
        return -1;
    }
    if (got == 0) return 1;
    pcnn_warn("%s: truncated in %s (file ends after record %llu)", r->name, what,
              (unsigned long long)r->index);
    return -1;
}

static int read_need(pcnn_data_reader *r, void *p, size_t n, const char *what)
{
    int st = read_exact(r, p, n, what);
    if (st == 1) {
        pcnn_warn("%s: truncated in %s (file ends after record %llu)", r->name, what,
                  (unsigned long long)r->index);
        return -1;
    }
    return st;
}

static void reader_free(pcnn_data_reader *r)
{
    if (!r) return;
    if (r->own_fp && r->fp) fclose(r->fp);
    pcnn_class_names_free(r->h.class_names, r->h.K);
    free(r->pix);
    free(r->name);
    free(r);
}

pcnn_data_reader *pcnn_data_open_stream(FILE *fp, const char *name)
{
    pcnn_data_reader *r = pcnn_xcalloc(1, sizeof *r);
    r->fp = fp;
    r->name = pcnn_xstrdup(name);
    uint8_t fixed[36];
    int st = read_exact(r, fixed, sizeof fixed, "header");
    if (st) {
        if (st == 1) pcnn_warn("%s: empty file (expected a pcnn data file)", r->name);
        goto fail;
    }
    if (memcmp(fixed, PCNN_DATA_MAGIC, 8) != 0) {
        if (!memcmp(fixed, "PCNNMODL", 8))
            pcnn_warn("%s: this is a pcnn model file, not a data file", r->name);
        else
            pcnn_warn("%s: not a pcnn data file (bad magic; make one with pcnn-prep)", r->name);
        goto fail;
    }
    uint32_t version = pcnn_get_u32(fixed + 8);
    if (version != PCNN_DATA_VERSION) {
        pcnn_warn("%s: data file version %u is not supported (this pcnn reads version %u)", r->name,
                  version, PCNN_DATA_VERSION);
        goto fail;
    }
    pcnn_data_header *h = &r->h;
    h->H = pcnn_get_u32(fixed + 12);
    h->W = pcnn_get_u32(fixed + 16);
    h->C = pcnn_get_u32(fixed + 20);
    uint32_t K = pcnn_get_u32(fixed + 24);
    h->count = pcnn_get_u64(fixed + 28);
    if (h->H < 1 || h->H > PCNN_DATA_MAX_SIDE || h->W < 1 || h->W > PCNN_DATA_MAX_SIDE) {
        pcnn_warn("%s: bad image size %ux%u in header (1..%u)", r->name, h->H, h->W, PCNN_DATA_MAX_SIDE);
        goto fail;
    }
    if (h->C < 1 || h->C > PCNN_DATA_MAX_CHANNELS) {
        pcnn_warn("%s: bad channel count %u in header", r->name, h->C);
        goto fail;
    }
    if (K < 1 || K > PCNN_DATA_MAX_CLASSES) {
        pcnn_warn("%s: bad class count %u in header (1..%u)", r->name, K, PCNN_DATA_MAX_CLASSES);
        goto fail;
    }
    uint32_t c = crc(0, fixed, sizeof fixed);
    h->class_names = pcnn_xcalloc(K, sizeof(char *));
    h->K = K;
    for (uint32_t k = 0; k < K; k++) {
        uint8_t lb[2];
        if (read_need(r, lb, 2, "header class names")) goto fail;
        uint16_t len = pcnn_get_u16(lb);
        if (len < 1 || len > PCNN_DATA_MAX_NAME) {
            pcnn_warn("%s: bad class name length %u in header", r->name, len);
            goto fail;
        }
        char *s = pcnn_xmalloc((size_t)len + 1);
        h->class_names[k] = s;
        if (read_need(r, s, len, "header class names")) goto fail;
        s[len] = 0;
        c = crc(c, lb, 2);
        c = crc(c, s, len);
        if (strlen(s) != len || pcnn_data_check_class_name(s)) {
            pcnn_warn("%s: bad class name in header", r->name);
            goto fail;
        }
    }
    uint8_t cb[4];
    if (read_need(r, cb, 4, "header checksum")) goto fail;
    if (pcnn_get_u32(cb) != c) {
        pcnn_warn("%s: header checksum mismatch (file damaged)", r->name);
        goto fail;
    }
    r->npix = (size_t)h->H * h->W * h->C;
    r->pix = pcnn_xmalloc(r->npix);
    return r;
fail:
    reader_free(r);
    return NULL;
}

pcnn_data_reader *pcnn_data_open(const char *path)
{
    FILE *fp;
    if (!path || !strcmp(path, "-")) {
        fp = stdin;
    } else {
        fp = fopen(path, "rb");
        if (!fp) {
            pcnn_warn("%s: %s", path, strerror(errno));
            return NULL;
        }
    }
    pcnn_data_reader *r = pcnn_data_open_stream(fp, pcnn_display_name(path));
    if (!r) {
        if (fp != stdin) fclose(fp);
        return NULL;
    }
    r->own_fp = fp != stdin;
    return r;
}

const pcnn_data_header *pcnn_data_get_header(const pcnn_data_reader *r)
{
    return &r->h;
}

uint64_t pcnn_data_index(const pcnn_data_reader *r)
{
    return r->index;
}

int pcnn_data_next(pcnn_data_reader *r, pcnn_record *rec)
{
    if (r->done) return 0;
    uint8_t lb[2];
    int st = read_exact(r, lb, 2, "record");
    if (st == 1) {
        pcnn_warn("%s: truncated: no end marker after record %llu", r->name,
                  (unsigned long long)r->index);
        return -1;
    }
    if (st) return -1;
    uint16_t len = pcnn_get_u16(lb);
    if (len == 0xFFFF) {
        uint8_t e[12];
        if (read_need(r, e, 12, "end marker")) return -1;
        uint32_t c = crc(crc(0, lb, 2), e, 8);
        if (pcnn_get_u32(e + 8) != c) {
            pcnn_warn("%s: end marker checksum mismatch (file damaged)", r->name);
            return -1;
        }
        uint64_t n = pcnn_get_u64(e);
        if (n != r->index || (r->h.count != PCNN_DATA_COUNT_UNKNOWN && r->h.count != n)) {
            pcnn_warn("%s: record count mismatch (header %llu, end marker %llu, read %llu)", r->name,
                      (unsigned long long)r->h.count, (unsigned long long)n,
                      (unsigned long long)r->index);
            return -1;
        }
        r->done = 1;
        return 0;
    }
    if (r->h.count != PCNN_DATA_COUNT_UNKNOWN && r->index >= r->h.count) {
        pcnn_warn("%s: more records than the header's %llu (file damaged)", r->name,
                  (unsigned long long)r->h.count);
        return -1;
    }
    if (len < 1 || len > PCNN_DATA_MAX_ID) {
        pcnn_warn("%s: record %llu: bad id length %u (file damaged)", r->name,
                  (unsigned long long)r->index + 1, len);
        return -1;
    }
    uint8_t lab[4], cb[4];
    if (read_need(r, r->id, len, "record id")) return -1;
    r->id[len] = 0;
    if (read_need(r, lab, 4, "record label")) return -1;
    if (read_need(r, r->pix, r->npix, "record pixels")) return -1;
    if (read_need(r, cb, 4, "record checksum")) return -1;
    uint32_t c = crc(0, lb, 2);
    c = crc(c, r->id, len);
    c = crc(c, lab, 4);
    c = crc(c, r->pix, r->npix);
    if (pcnn_get_u32(cb) != c) {
        pcnn_warn("%s: record %llu: checksum mismatch (file damaged)", r->name,
                  (unsigned long long)r->index + 1);
        return -1;
    }
    int32_t label = (int32_t)pcnn_get_u32(lab);
    if (strlen(r->id) != len || pcnn_data_check_id(r->id)) {
        pcnn_warn("%s: record %llu: bad id", r->name, (unsigned long long)r->index + 1);
        return -1;
    }
    if (label < -1 || label >= (int32_t)r->h.K) {
        pcnn_warn("%s: record %llu (%s): label %d out of range (-1..%u)", r->name,
                  (unsigned long long)r->index + 1, r->id, label, r->h.K - 1);
        return -1;
    }
    r->index++;
    rec->id = r->id;
    rec->label = label;
    rec->pixels = r->pix;
    return 1;
}

void pcnn_data_close(pcnn_data_reader *r)
{
    reader_free(r);
}

/* ---- whole file ---- */

/* Appends r's records to d (whose header is r's, or alike: checked by the caller).
 * 0, or -1 when the file turned out damaged (printed). */
static int dataset_read(pcnn_dataset *d, pcnn_data_reader *r)
{
    size_t cap = d->n;   /* grows from what is there: doubling, as the first file did */
    pcnn_record rec;
    int st;
    while ((st = pcnn_data_next(r, &rec)) == 1) {
        if (d->n == cap) {
            cap = cap ? 2 * cap : 256;
            d->ids = pcnn_xrealloc(d->ids, pcnn_mul_size(cap, sizeof *d->ids));
            d->labels = pcnn_xrealloc(d->labels, pcnn_mul_size(cap, sizeof *d->labels));
            d->pixels = pcnn_xrealloc(d->pixels, pcnn_mul_size(cap, r->npix));
        }
        d->ids[d->n] = pcnn_xstrdup(rec.id);
        d->labels[d->n] = rec.label;
        memcpy(d->pixels + d->n * r->npix, rec.pixels, r->npix);
        d->n++;
    }
    d->h.count = d->n;
    return st < 0 ? -1 : 0;
}

pcnn_dataset *pcnn_dataset_load(const char *path)
{
    pcnn_data_reader *r = pcnn_data_open(path);
    if (!r) return NULL;
    pcnn_dataset *d = pcnn_xcalloc(1, sizeof *d);
    d->h = r->h;
    d->h.class_names = pcnn_class_names_copy(r->h.class_names, r->h.K);
    int rc = dataset_read(d, r);
    pcnn_data_close(r);
    if (rc) {
        pcnn_dataset_free(d);
        return NULL;
    }
    return d;
}

int pcnn_dataset_append(pcnn_dataset *d, const char *d_what, const char *d_name, const char *path)
{
    pcnn_data_reader *r = pcnn_data_open(path);
    if (!r) return -1;
    int rc = pcnn_data_check_alike(&d->h, d_what, d_name, &r->h, path) ? -1 : dataset_read(d, r);
    pcnn_data_close(r);
    return rc;
}

void pcnn_dataset_free(pcnn_dataset *d)
{
    if (!d) return;
    for (uint64_t i = 0; i < d->n; i++) free(d->ids[i]);
    free(d->ids);
    free(d->labels);
    free(d->pixels);
    pcnn_class_names_free(d->h.class_names, d->h.K);
    free(d);
}

/* ---- writer ---- */

static int wr(pcnn_data_writer *w, const void *p, size_t n)
{
    return fwrite(p, 1, n, w->out->fp) == n ? 0 : -1;
}

pcnn_data_writer *pcnn_data_create(const char *path, const pcnn_data_header *h)
{
    if (h->H < 1 || h->H > PCNN_DATA_MAX_SIDE || h->W < 1 || h->W > PCNN_DATA_MAX_SIDE ||
        h->C < 1 || h->C > PCNN_DATA_MAX_CHANNELS || h->K < 1 || h->K > PCNN_DATA_MAX_CLASSES) {
        pcnn_warn("%s: cannot write a data file of %ux%ux%u with %u classes",
                  path ? path : "<stdout>", h->H, h->W, h->C, h->K);
        return NULL;
    }
    for (uint32_t k = 0; k < h->K; k++)
        if (pcnn_data_check_class_name(h->class_names[k])) {
            pcnn_warn("bad class name '%s' (1..255 bytes, no comma, tab or newline)", h->class_names[k]);
            return NULL;
        }
    pcnn_outfile *o = pcnn_outfile_open(path);
    if (!o) return NULL;
    pcnn_data_writer *w = pcnn_xcalloc(1, sizeof *w);
    w->out = o;
    w->h = *h;
    w->h.class_names = pcnn_class_names_copy(h->class_names, h->K);
    w->npix = (size_t)h->H * h->W * h->C;
    w->buf = pcnn_xmalloc(2 + PCNN_DATA_MAX_ID + 4 + w->npix + 4);
    /* Streams get "until end"; a regular file gets its count patched at finish. */
    w->count_offset = -1;
    if (o->tmppath) w->count_offset = 28;
    uint8_t fixed[36];
    memcpy(fixed, PCNN_DATA_MAGIC, 8);
    pcnn_put_u32(fixed + 8, PCNN_DATA_VERSION);
    pcnn_put_u32(fixed + 12, h->H);
    pcnn_put_u32(fixed + 16, h->W);
    pcnn_put_u32(fixed + 20, h->C);
    pcnn_put_u32(fixed + 24, h->K);
    pcnn_put_u64(fixed + 28, PCNN_DATA_COUNT_UNKNOWN);
    int bad = wr(w, fixed, sizeof fixed);
    for (uint32_t k = 0; k < h->K; k++) {
        uint8_t lb[2];
        size_t len = strlen(h->class_names[k]);
        pcnn_put_u16(lb, (uint16_t)len);
        bad |= wr(w, lb, 2) | wr(w, h->class_names[k], len);
    }
    /* The checksum is written at finish for files (the count changes it);
     * streams write it now. */
    uint8_t cb[4] = {0};
    if (w->count_offset < 0) {
        uint32_t c = crc(0, fixed, sizeof fixed);
        for (uint32_t k = 0; k < h->K; k++) {
            uint8_t lb[2];
            size_t len = strlen(h->class_names[k]);
            pcnn_put_u16(lb, (uint16_t)len);
            c = crc(crc(c, lb, 2), h->class_names[k], len);
        }
        pcnn_put_u32(cb, c);
    }
    bad |= wr(w, cb, 4);
    if (bad) {
        pcnn_warn("%s: write error: %s", pcnn_display_name(path), strerror(errno ? errno : EIO));
        pcnn_data_abort(w);
        return NULL;
    }
    return w;
}

int pcnn_data_write(pcnn_data_writer *w, const char *id, int32_t label, const uint8_t *pixels)
{
    if (pcnn_data_check_id(id)) {
        pcnn_warn("bad image id '%s' (1..%u bytes, no tab or newline)", id, PCNN_DATA_MAX_ID);
        return -1;
    }
    if (label < -1 || label >= (int32_t)w->h.K) {
        pcnn_warn("%s: label %d out of range (-1..%u)", id, label, w->h.K - 1);
        return -1;
    }
    size_t len = strlen(id), n = 0;
    uint8_t *b = w->buf;
    pcnn_put_u16(b, (uint16_t)len);
    n += 2;
    memcpy(b + n, id, len);
    n += len;
    pcnn_put_u32(b + n, (uint32_t)label);
    n += 4;
    memcpy(b + n, pixels, w->npix);
    n += w->npix;
    pcnn_put_u32(b + n, crc(0, b, n));
    n += 4;
    if (wr(w, b, n)) {
        pcnn_warn("%s: write error: %s", pcnn_outfile_name(w->out),
                  strerror(errno ? errno : EIO));
        return -1;
    }
    w->written++;
    return 0;
}

int pcnn_data_finish(pcnn_data_writer *w)
{
    uint8_t e[14];
    pcnn_put_u16(e, 0xFFFF);
    pcnn_put_u64(e + 2, w->written);
    pcnn_put_u32(e + 10, crc(0, e, 10));
    int bad = wr(w, e, sizeof e);
    if (!bad && w->count_offset >= 0) {
        /* Patch the count and the header checksum now that both are known. */
        FILE *fp = w->out->fp;
        uint8_t cnt[8];
        pcnn_put_u64(cnt, w->written);
        bad |= fseek(fp, w->count_offset, SEEK_SET) != 0 || fwrite(cnt, 1, 8, fp) != 8;
        if (!bad) {
            size_t hlen = 36;
            for (uint32_t k = 0; k < w->h.K; k++) hlen += 2 + strlen(w->h.class_names[k]);
            uint8_t *hb = pcnn_xmalloc(hlen);
            bad |= fflush(fp) != 0 || fseek(fp, 0, SEEK_SET) != 0 || fread(hb, 1, hlen, fp) != hlen;
            if (!bad) {
                uint8_t cb[4];
                pcnn_put_u32(cb, crc(0, hb, hlen));
                bad |= fseek(fp, (long)hlen, SEEK_SET) != 0 || fwrite(cb, 1, 4, fp) != 4;
            }
            free(hb);
        }
    }
    if (bad) {
        pcnn_warn("%s: write error: %s", pcnn_outfile_name(w->out),
                  strerror(errno ? errno : EIO));
        pcnn_data_abort(w);
        return -1;
    }
    int rc = pcnn_outfile_commit(w->out);
    w->out = NULL;
    pcnn_data_abort(w);
    return rc;
}

void pcnn_data_abort(pcnn_data_writer *w)
{
    if (!w) return;
    pcnn_outfile_abort(w->out);
    pcnn_class_names_free(w->h.class_names, w->h.K);
    free(w->buf);
    free(w);
}

int pcnn_data_check_alike(const pcnn_data_header *a, const char *a_what, const char *a_name,
                          const pcnn_data_header *b, const char *b_name)
{
    if (a->H != b->H || a->W != b->W || a->C != b->C) {
        pcnn_warn("%s: %ux%ux%u images, %s %s has %ux%ux%u (prep both with the same -H %u -W %u)",
                  b_name, b->H, b->W, b->C, a_what, a_name, a->H, a->W, a->C, a->H, a->W);
        return -1;
    }
    if (a->K != b->K) {
        pcnn_warn("%s: %u classes, %s %s has %u (prep both with the same --classes)", b_name, b->K,
                  a_what, a_name, a->K);
        return -1;
    }
    for (uint32_t k = 0; k < a->K; k++)
        if (strcmp(a->class_names[k], b->class_names[k])) {
            pcnn_warn("%s: class %u is '%s', in %s %s it is '%s' (prep both with the same --classes)",
                      b_name, k, b->class_names[k], a_what, a_name, a->class_names[k]);
            return -1;
        }
    return 0;
}
