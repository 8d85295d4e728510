/* modelfile.c — reader and writer of the pcnn model file; layout in modelfile.h. */
#include "io/modelfile.h"

#include "util.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zlib.h>

/* Largest hyperparameters a file may claim; far above any real model, small
 * enough that no product overflows. */
#define MAX_R 64u
#define MAX_F 4096u
#define MAX_M 256u
#define MAX_META 1024u

pcnn_model_file *pcnn_model_file_new(uint32_t R, uint32_t F, uint32_t M, uint32_t K, uint32_t H,
                                     uint32_t W, uint32_t C, char *const *class_names)
{
    pcnn_model_file *m = pcnn_xcalloc(1, sizeof *m);
    m->R = R, m->F = F, m->M = M, m->K = K, m->H = H, m->W = W, m->C = C;
    m->class_names = pcnn_class_names_copy(class_names, K);
    return m;
}

void pcnn_model_file_free(pcnn_model_file *m)
{
    if (!m) return;
    pcnn_class_names_free(m->class_names, m->K);
    for (uint32_t i = 0; i < m->nmeta; i++) {
        free(m->meta[i].key);
        free(m->meta[i].val);
    }
    free(m->meta);
    for (uint32_t i = 0; i < m->ntensors; i++) {
        free(m->tensors[i].name);
        free(m->tensors[i].data);
    }
    free(m->tensors);
    free(m);
}

pcnn_tensor *pcnn_model_file_find(const pcnn_model_file *m, const char *name)
{
    for (uint32_t i = 0; i < m->ntensors; i++)
        if (!strcmp(m->tensors[i].name, name)) return &m->tensors[i];
    return NULL;
}

pcnn_tensor *pcnn_model_file_add(pcnn_model_file *m, const char *name, uint32_t ndim,
                                 const uint32_t *dims)
{
    pcnn_tensor *t = pcnn_model_file_find(m, name);
    if (!t) {
        m->tensors = pcnn_xrealloc(m->tensors, (m->ntensors + 1) * sizeof *m->tensors);
        t = &m->tensors[m->ntensors++];
        t->name = pcnn_xstrdup(name);
    } else {
        free(t->data);
    }
    t->ndim = ndim;
    t->n = 1;
    for (uint32_t d = 0; d < 4; d++) {
        t->dims[d] = d < ndim ? dims[d] : 1;
        if (d < ndim) t->n = pcnn_mul_size(t->n, dims[d]);
    }
    t->data = pcnn_xcalloc(t->n, sizeof(float));
    return t;
}

const char *pcnn_model_file_get_meta(const pcnn_model_file *m, const char *key)
{
    for (uint32_t i = 0; i < m->nmeta; i++)
        if (!strcmp(m->meta[i].key, key)) return m->meta[i].val;
    return NULL;
}

void pcnn_model_file_set_meta(pcnn_model_file *m, const char *key, const char *val)
{
    for (uint32_t i = 0; i < m->nmeta; i++)
        if (!strcmp(m->meta[i].key, key)) {
            free(m->meta[i].val);
            m->meta[i].val = pcnn_xstrdup(val);
            return;
        }
    m->meta = pcnn_xrealloc(m->meta, (m->nmeta + 1) * sizeof *m->meta);
    m->meta[m->nmeta].key = pcnn_xstrdup(key);
    m->meta[m->nmeta].val = pcnn_xstrdup(val);
    m->nmeta++;
}

/* ---- reading: the whole file is read into memory (its size is known), then
 * parsed with bounds checks against that size. ---- */

typedef struct cursor {
    const uint8_t *p, *end;
    const char *name;
    int bad;
} cursor;

static const uint8_t *take(cursor *c, size_t n, const char *what)
{
    if (c->bad) return NULL;
    if ((size_t)(c->end - c->p) < n) {
        pcnn_warn("%s: truncated in %s (file damaged or incomplete)", c->name, what);
        c->bad = 1;
        return NULL;
    }
    const uint8_t *q = c->p;
    c->p += n;
    return q;
}

static uint32_t take_u32(cursor *c, const char *what)
{
    const uint8_t *q = take(c, 4, what);
    return q ? pcnn_get_u32(q) : 0;
}

static uint64_t take_u64(cursor *c, const char *what)
{
    const uint8_t *q = take(c, 8, what);
    return q ? pcnn_get_u64(q) : 0;
}

/* A u16-length-prefixed string of 1..max bytes, NUL-free. NULL on error. */
static char *take_str(cursor *c, size_t max, const char *what)
{
    const uint8_t *q = take(c, 2, what);
    if (!q) return NULL;
    uint16_t len = pcnn_get_u16(q);
    if (len < 1 || len > max) {
        pcnn_warn("%s: bad length %u in %s (file damaged)", c->name, len, what);
        c->bad = 1;
        return NULL;
    }
    q = take(c, len, what);
    if (!q) return NULL;
    if (memchr(q, 0, len)) {
        pcnn_warn("%s: NUL byte in %s (file damaged)", c->name, what);
        c->bad = 1;
        return NULL;
    }
    char *s = pcnn_xmalloc((size_t)len + 1);
    memcpy(s, q, len);
    s[len] = 0;
    return s;
}

static uint8_t *slurp(const char *path, size_t *len)
{
    FILE *fp = fopen(path, "rb");
    if (!fp) {
        pcnn_warn("%s: %s", path, strerror(errno));
        return NULL;
    }
    struct stat st;
    if (fstat(fileno(fp), &st) != 0 || !S_ISREG(st.st_mode)) {
        pcnn_warn("%s: not a regular file (model files are read from disk)", path);
        fclose(fp);
        return NULL;
    }
    size_t n = (size_t)st.st_size;
    uint8_t *buf = pcnn_xmalloc(n);
    if (fread(buf, 1, n, fp) != n) {
        pcnn_warn("%s: read error: %s", path, ferror(fp) ? strerror(errno) : "file shrank");
        free(buf);
        fclose(fp);
        return NULL;
    }
    fclose(fp);
    *len = n;
    return buf;
}

/* All of a stream (a pipe: stdin), in memory; NULL after a message naming it. */
static uint8_t *slurp_stream(FILE *fp, const char *name, size_t *len)
{
    size_t n = 0, cap = 1 << 16;
    uint8_t *buf = pcnn_xmalloc(cap);
    for (;;) {
        if (n == cap) buf = pcnn_xrealloc(buf, cap *= 2);
        size_t got = fread(buf + n, 1, cap - n, fp);
        n += got;
        if (got == 0) break;
    }
    if (ferror(fp)) {
        pcnn_warn("%s: read error: %s", name, strerror(errno));
        free(buf);
        return NULL;
    }
    *len = n;
    return buf;
}

static pcnn_model_file *parse(uint8_t *buf, size_t len, const char *path);

pcnn_model_file *pcnn_model_file_read(const char *path)
{
    size_t len;
    uint8_t *buf = slurp(path, &len);
    return buf ? parse(buf, len, path) : NULL;
}

pcnn_model_file *pcnn_model_file_read_stream(FILE *fp, const char *name)
{
    size_t len;
    uint8_t *buf = slurp_stream(fp, name, &len);
    return buf ? parse(buf, len, name) : NULL;
}

/* Parses and validates the len bytes of buf (freed here); messages name path. */
static pcnn_model_file *parse(uint8_t *buf, size_t len, const char *path)
{
    cursor c = {buf, buf + len, path, 0};
    pcnn_model_file *m = NULL;
    const uint8_t *magic = take(&c, 8, "header");
    if (!magic) goto fail;
    if (memcmp(magic, PCNN_MODEL_MAGIC, 8) != 0) {
        if (!memcmp(magic, "PCNNDATA", 8))
            pcnn_warn("%s: this is a pcnn data file, not a model file", path);
        else
            pcnn_warn("%s: not a pcnn model file (bad magic; make one with pcnn-fit or pcnn-import)",
                      path);
        goto fail;
    }
    uint32_t version = take_u32(&c, "header");
    if (!c.bad && version != PCNN_MODEL_VERSION) {
        pcnn_warn("%s: model file version %u is not supported (this pcnn reads version %u)", path,
                  version, PCNN_MODEL_VERSION);
        goto fail;
    }
    if (len < 12 + 4 || pcnn_get_u32(buf + len - 4) != (uint32_t)crc32(0, buf, (uInt)(len - 4))) {
        pcnn_warn("%s: checksum mismatch (file damaged or truncated)", path);
        goto fail;
    }
    c.end = buf + len - 4; /* the checksum is not part of the body */
    uint32_t hp[7];
    for (int i = 0; i < 7; i++) hp[i] = take_u32(&c, "header");
    if (c.bad) goto fail;
    uint32_t R = hp[0], F = hp[1], M = hp[2], K = hp[3], H = hp[4], W = hp[5], C = hp[6];
    if (R < 1 || R > MAX_R || F < 1 || F > MAX_F || M < 1 || M > MAX_M || K < 1 ||
        K > PCNN_DATA_MAX_CLASSES || H < 1 || H > PCNN_DATA_MAX_SIDE || W < 1 ||
        W > PCNN_DATA_MAX_SIDE || C < 1 || C > PCNN_DATA_MAX_CHANNELS) {
        pcnn_warn("%s: implausible hyperparameters R=%u F=%u M=%u K=%u %ux%ux%u (file damaged)",
                  path, R, F, M, K, H, W, C);
        goto fail;
    }
    m = pcnn_xcalloc(1, sizeof *m);
    m->R = R, m->F = F, m->M = M, m->H = H, m->W = W, m->C = C;
    m->class_names = pcnn_xcalloc(K, sizeof(char *));
    m->K = K;
    for (uint32_t k = 0; k < K; k++) {
        m->class_names[k] = take_str(&c, PCNN_DATA_MAX_NAME, "class names");
        if (!m->class_names[k]) goto fail;
    }
    m->step = take_u64(&c, "training state");
    m->epoch = take_u64(&c, "training state");
    m->seed = take_u64(&c, "training state");
    uint64_t lrbits = take_u64(&c, "training state");
    memcpy(&m->lr, &lrbits, sizeof m->lr);
    uint32_t nmeta = take_u32(&c, "options");
    if (c.bad) goto fail;
    if (nmeta > MAX_META || !isfinite(m->lr)) {
        pcnn_warn("%s: bad training state (file damaged)", path);
        goto fail;
    }
    m->meta = pcnn_xcalloc(nmeta, sizeof *m->meta);
    for (uint32_t i = 0; i < nmeta; i++) {
        m->meta[i].key = take_str(&c, 65535, "options");
        m->meta[i].val = m->meta[i].key ? take_str(&c, 65535, "options") : NULL;
        m->nmeta = i + 1;
        if (!m->meta[i].val) goto fail;
    }
    uint32_t nt = take_u32(&c, "tensor table");
    if (c.bad) goto fail;
    /* Each tensor takes at least 2+1+4+4+4 bytes: a count the file cannot hold is refused. */
    if (nt > PCNN_MODEL_MAX_TENSORS || (size_t)nt * 15 > (size_t)(c.end - c.p)) {
        pcnn_warn("%s: tensor count %u does not fit the file (file damaged)", path, nt);
        goto fail;
    }
    m->tensors = pcnn_xcalloc(nt, sizeof *m->tensors);
    for (uint32_t i = 0; i < nt; i++) {
        pcnn_tensor *t = &m->tensors[i];
        m->ntensors = i + 1;
        t->name = take_str(&c, PCNN_MODEL_MAX_NAME, "tensor name");
        if (!t->name) goto fail;
        t->ndim = take_u32(&c, t->name);
        if (c.bad) goto fail;
        if (t->ndim < 1 || t->ndim > 4) {
            pcnn_warn("%s: tensor %s: bad rank %u (file damaged)", path, t->name, t->ndim);
            goto fail;
        }
        size_t avail = (size_t)(c.end - c.p) / sizeof(float);
        t->n = 1;
        for (uint32_t d = 0; d < 4; d++) {
            t->dims[d] = d < t->ndim ? take_u32(&c, t->name) : 1;
            if (c.bad) goto fail;
            if (t->dims[d] < 1 || t->dims[d] > avail || t->n > avail / t->dims[d]) {
                pcnn_warn("%s: tensor %s: size does not fit the file (file damaged)", path, t->name);
                goto fail;
            }
            t->n *= t->dims[d];
        }
        const uint8_t *q = take(&c, t->n * sizeof(float), t->name);
        if (!q) goto fail;
        t->data = pcnn_xmalloc(t->n * sizeof(float));
        for (size_t j = 0; j < t->n; j++) {
            uint32_t bits = pcnn_get_u32(q + 4 * j);
            memcpy(&t->data[j], &bits, 4);
            if (!isfinite(t->data[j])) {
                pcnn_warn("%s: tensor %s holds NaN or Inf at element %zu (refusing a broken model)",
                          path, t->name, j);
                goto fail;
            }
        }
        for (uint32_t j = 0; j < i; j++)
            if (!strcmp(m->tensors[j].name, t->name)) {
                pcnn_warn("%s: tensor %s appears twice (file damaged)", path, t->name);
                goto fail;
            }
    }
    if (c.p != c.end) {
        pcnn_warn("%s: %zu unexpected bytes after the tensors (file damaged)", path,
                  (size_t)(c.end - c.p));
        goto fail;
    }
    free(buf);
    return m;
fail:
    free(buf);
    pcnn_model_file_free(m);
    return NULL;
}

/* ---- writing ---- */

typedef struct sink {
    FILE *fp;
    uint32_t crc;
    int bad;
} sink;

static void put(sink *s, const void *p, size_t n)
{
    if (s->bad || n == 0) return;
    s->crc = (uint32_t)crc32(s->crc, p, (uInt)n);
    if (fwrite(p, 1, n, s->fp) != n) s->bad = 1;
}

static void put_u16(sink *s, uint16_t v) { uint8_t b[2]; pcnn_put_u16(b, v); put(s, b, 2); }
static void put_u32(sink *s, uint32_t v) { uint8_t b[4]; pcnn_put_u32(b, v); put(s, b, 4); }
static void put_u64(sink *s, uint64_t v) { uint8_t b[8]; pcnn_put_u64(b, v); put(s, b, 8); }

static void put_str(sink *s, const char *str)
{
    size_t n = strlen(str);
    put_u16(s, (uint16_t)n);
    put(s, str, n);
}

int pcnn_model_file_write(const char *path, const pcnn_model_file *m)
{
    for (uint32_t i = 0; i < m->ntensors; i++) {
        const pcnn_tensor *t = &m->tensors[i];
        size_t nl = strlen(t->name);
        if (nl < 1 || nl > PCNN_MODEL_MAX_NAME || t->ndim < 1 || t->ndim > 4) {
            pcnn_warn("%s: cannot write tensor '%s'", path, t->name);
            return -1;
        }
        for (size_t j = 0; j < t->n; j++)
            if (!isfinite(t->data[j])) {
                pcnn_warn("%s: not written: tensor %s holds NaN or Inf (previous file kept)", path,
                          t->name);
                return -1;
            }
    }
    pcnn_outfile *o = pcnn_outfile_open(path);
    if (!o) return -1;
    sink s = {o->fp, 0, 0};
    put(&s, PCNN_MODEL_MAGIC, 8);
    put_u32(&s, PCNN_MODEL_VERSION);
    uint32_t hp[7] = {m->R, m->F, m->M, m->K, m->H, m->W, m->C};
    for (int i = 0; i < 7; i++) put_u32(&s, hp[i]);
    for (uint32_t k = 0; k < m->K; k++) put_str(&s, m->class_names[k]);
    put_u64(&s, m->step);
    put_u64(&s, m->epoch);
    put_u64(&s, m->seed);
    uint64_t lrbits;
    memcpy(&lrbits, &m->lr, 8);
    put_u64(&s, lrbits);
    put_u32(&s, m->nmeta);
    for (uint32_t i = 0; i < m->nmeta; i++) {
        put_str(&s, m->meta[i].key);
        put_str(&s, m->meta[i].val);
    }
    put_u32(&s, m->ntensors);
    uint8_t chunk[4096];
    for (uint32_t i = 0; i < m->ntensors; i++) {
        const pcnn_tensor *t = &m->tensors[i];
        put_str(&s, t->name);
        put_u32(&s, t->ndim);
        for (uint32_t d = 0; d < t->ndim; d++) put_u32(&s, t->dims[d]);
        for (size_t j = 0; j < t->n;) {
            size_t k = 0;
            for (; k < sizeof chunk / 4 && j < t->n; k++, j++) {
                uint32_t bits;
                memcpy(&bits, &t->data[j], 4);
                pcnn_put_u32(chunk + 4 * k, bits);
            }
            put(&s, chunk, 4 * k);
        }
    }
    uint8_t cb[4];
    pcnn_put_u32(cb, s.crc);
    if (!s.bad && fwrite(cb, 1, 4, o->fp) != 4) s.bad = 1;
    if (s.bad) {
        pcnn_warn("%s: write error: %s (previous file kept)", path, strerror(errno ? errno : EIO));
        pcnn_outfile_abort(o);
        return -1;
    }
    return pcnn_outfile_commit(o);
}

void pcnn_model_file_move_last(pcnn_model_file *m, const char *prefix)
{
    size_t pl = strlen(prefix), j = 0;
    pcnn_tensor *t = pcnn_xmalloc(pcnn_mul_size(m->ntensors, sizeof *t));
    for (int last = 0; last < 2; last++)
        for (uint32_t i = 0; i < m->ntensors; i++)
            if ((strncmp(m->tensors[i].name, prefix, pl) == 0) == last) t[j++] = m->tensors[i];
    memcpy(m->tensors, t, j * sizeof *t);
    free(t);
}

int pcnn_model_file_check_data(const pcnn_model_file *m, const char *model_name,
                               const pcnn_data_header *h, const char *data_name)
{
    if (h->H != m->H || h->W != m->W || h->C != m->C) {
        pcnn_warn("%s: made for %ux%ux%u images, %s has %ux%ux%u (prep the data with -H %u -W %u, "
                  "or train a model on this data with pcnn-fit)",
                  model_name, m->H, m->W, m->C, data_name, h->H, h->W, h->C, m->H, m->W);
        return -1;
    }
    if (h->K != m->K) {
        pcnn_warn("%s: made for %u classes, %s has %u (train a model on this data with pcnn-fit)",
                  model_name, m->K, data_name, h->K);
        return -1;
    }
    for (uint32_t k = 0; k < m->K; k++)
        if (strcmp(h->class_names[k], m->class_names[k])) {
            pcnn_warn("%s: class %u is '%s', in %s it is '%s' (prep the data with --classes matching "
                      "the model's classes)",
                      model_name, k, m->class_names[k], data_name, h->class_names[k]);
            return -1;
        }
    return 0;
}

static size_t count_prefix(const pcnn_model_file *m, const char *prefix, int match)
{
    size_t n = 0, pl = strlen(prefix);
    for (uint32_t i = 0; i < m->ntensors; i++) {
        int has = !strncmp(m->tensors[i].name, prefix, pl);
        if (has == match) n += m->tensors[i].n;
    }
    return n;
}

void pcnn_model_file_describe(const pcnn_model_file *m, const char *name, FILE *out)
{
    size_t params = 0;
    for (uint32_t i = 0; i < m->ntensors; i++) {
        const char *t = m->tensors[i].name;
        if (strncmp(t, "polyak.", 7) && strncmp(t, "adam_m.", 7) && strncmp(t, "adam_v.", 7) &&
            strncmp(t, "golden.", 7))
            params += m->tensors[i].n;
    }
    fprintf(out, "file: %s\n", name);
    fprintf(out, "kind: pcnn model file, version %u\n", PCNN_MODEL_VERSION);
    fprintf(out, "network: nr_resnet R=%u, nr_filters F=%u, nr_logistic_mix M=%u\n", m->R, m->F, m->M);
    fprintf(out, "images: %ux%ux%u\n", m->H, m->W, m->C);
    fprintf(out, "classes: %u (", m->K);
    for (uint32_t k = 0; k < m->K; k++) fprintf(out, "%s%s", k ? ", " : "", m->class_names[k]);
    fprintf(out, ")\n");
    fprintf(out, "parameters: %zu\n", params);
    fprintf(out, "tensors: %u\n", m->ntensors);
    fprintf(out, "polyak: %s\n", count_prefix(m, "polyak.", 1) ? "yes" : "no");
    fprintf(out, "adam state: %s\n", count_prefix(m, "adam_m.", 1) ? "yes" : "no");
    const char *be = pcnn_model_file_get_meta(m, "best_epoch"), *ba = pcnn_model_file_get_meta(m, "best_val_acc");
    const char *kb = pcnn_model_file_get_meta(m, "keep_best_by");
    if (be && count_prefix(m, "best.", 1))
        fprintf(out, "best on validation: epoch %s, accuracy %.2f%%%s (used by pcnn-score and pcnn-gen)\n",
                be, ba ? 100 * atof(ba) : 0.0,
                kb && !strcmp(kb, "fitted") ? " with the prior fitted on validation" : "");
    fprintf(out, "training: %llu epochs, %llu steps, seed %llu, lr %.6g\n",
            (unsigned long long)m->epoch, (unsigned long long)m->step, (unsigned long long)m->seed,
            m->lr);
    for (uint32_t i = 0; i < m->nmeta; i++)
        fprintf(out, "option %s: %s\n", m->meta[i].key, m->meta[i].val);
}
