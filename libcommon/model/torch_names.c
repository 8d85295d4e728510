/* torch_names.c — pcnn's parameters <-> a PyTorch state_dict (torch_names.h). */
#include "model/torch_names.h"

#include "model/model.h"
#include "util.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Largest sizes an input may claim (those the model file reader accepts, io/modelfile.c). */
#define MAX_R 64
#define MAX_F 4096
#define MAX_M 256

/* ---- the order ---- */

typedef struct orderer {
    const pcnn_param_table *t;
    int *order, n;
} orderer;

static void put_name(orderer *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put_name(orderer *o, const char *fmt, ...)
{
    char name[PCNN_PARAM_NAME_MAX + 16];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(name, sizeof name, fmt, ap);
    va_end(ap);
    int i = pcnn_params_find(o->t, name);
    if (i < 0 || o->n >= o->t->n) pcnn_die("torch_names: %s not in the parameter table (internal error)", name);
    o->order[o->n++] = i;
}

static void put_layer(orderer *o, const char *prefix, const char *mod)
{
    put_name(o, "%s.%s.bias", prefix, mod);
    put_name(o, "%s.%s.weight_g", prefix, mod);
    put_name(o, "%s.%s.weight_v", prefix, mod);
}

static void put_block(orderer *o, const char *stream, int skip)
{
    put_name(o, "%s.hw", stream);
    if (o->t->cond & PCNN_COND_FILM) put_name(o, "%s.hs", stream);
    char prefix[PCNN_PARAM_NAME_MAX];
    snprintf(prefix, sizeof prefix, "%s.conv_input", stream);
    put_layer(o, prefix, "conv");
    if (skip) {
        snprintf(prefix, sizeof prefix, "%s.nin_skip", stream);
        put_layer(o, prefix, "lin_a");
    }
    snprintf(prefix, sizeof prefix, "%s.conv_out", stream);
    put_layer(o, prefix, "conv");
}

void pcnn_torch_order(const pcnn_param_table *t, int *order)
{
    orderer o = {t, order, 0};
    char s[PCNN_PARAM_NAME_MAX];
    if (t->cond & PCNN_COND_INPUT) put_name(&o, "class_map");
    for (int l = 0; l < 3; l++) {
        int nr = l == 0 ? t->R : t->R + 1;
        for (int j = 0; j < nr; j++) {
            snprintf(s, sizeof s, "down_layers.%d.u_stream.%d", l, j);
            put_block(&o, s, 1);
        }
        for (int j = 0; j < nr; j++) {
            snprintf(s, sizeof s, "down_layers.%d.ul_stream.%d", l, j);
            put_block(&o, s, 2);
        }
    }
    for (int l = 0; l < 3; l++) {
        for (int j = 0; j < t->R; j++) {
            snprintf(s, sizeof s, "up_layers.%d.u_stream.%d", l, j);
            put_block(&o, s, 0);
        }
        for (int j = 0; j < t->R; j++) {
            snprintf(s, sizeof s, "up_layers.%d.ul_stream.%d", l, j);
            put_block(&o, s, 1);
        }
    }
    static const char *const resample[4][2] = {{"downsize_u_stream", "conv"}, {"downsize_ul_stream", "conv"},
                                               {"upsize_u_stream", "deconv"}, {"upsize_ul_stream", "deconv"}};
    for (int r = 0; r < 4; r++)
        for (int i = 0; i < 2; i++) {
            snprintf(s, sizeof s, "%s.%d", resample[r][0], i);
            put_layer(&o, s, resample[r][1]);
        }
    put_layer(&o, "u_init", "conv");
    put_layer(&o, "ul_init.0", "conv");
    put_layer(&o, "ul_init.1", "conv");
    put_layer(&o, "nin_out", "lin_a");
    if (o.n != t->n) pcnn_die("torch_names: %d of %d parameters ordered (internal error)", o.n, t->n);
}

/* ---- messages ---- */

static int fail(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    return -1;
}

/* A shape as Python prints a tuple: (), (7,), (2, 3). */
static const char *pyshape(char *buf, size_t cap, int ndim, const int64_t *shape)
{
    size_t n = (size_t)snprintf(buf, cap, "(");
    for (int k = 0; k < ndim && n < cap; k++)
        n += (size_t)snprintf(buf + n, cap - n, "%s%lld", k ? ", " : "", (long long)shape[k]);
    if (n < cap) snprintf(buf + n, cap - n, ndim == 1 ? ",)" : ")");
    return buf;
}

static const char *pyshape32(char *buf, size_t cap, uint32_t ndim, const uint32_t *dims)
{
    int64_t s[4];
    for (uint32_t k = 0; k < ndim && k < 4; k++) s[k] = dims[k];
    return pyshape(buf, cap, (int)ndim, s);
}

/* ---- import ---- */

enum { SRC_PLAIN = 0, SRC_V = 1, SRC_G = 2 };   /* a tensor as stored, or made from a plain .weight */

typedef struct ent {
    char *name;             /* the state_dict name, module. prefix stripped */
    const char *src;        /* the name in the file */
    int how;                /* SRC_* */
    int gone;               /* a plain .weight replaced by its weight_v and weight_g */
    int ndim;
    int64_t shape[8];
} ent;

typedef struct ents {
    ent *e;
    int n;
} ents;

static ent *find_ent(const ents *s, const char *name)
{
    for (int i = 0; i < s->n; i++)
        if (!s->e[i].gone && !strcmp(s->e[i].name, name)) return &s->e[i];
    return NULL;
}

static ent *add_ent(ents *s, const char *name, const char *src, int how, int ndim, const int64_t *shape)
{
    s->e = pcnn_xrealloc(s->e, (size_t)(s->n + 1) * sizeof *s->e);
    ent *e = &s->e[s->n++];
    *e = (ent){pcnn_xstrdup(name), src, how, 0, ndim, {0}};
    memcpy(e->shape, shape, (size_t)ndim * sizeof *shape);
    return e;
}

static void free_ents(ents *s)
{
    for (int i = 0; i < s->n; i++) free(s->e[i].name);
    free(s->e);
}

static int64_t numel(int ndim, const int64_t *shape)
{
    int64_t n = 1;
    for (int k = 0; k < ndim; k++) n *= shape[k];
    return n;
}

/* The values of e as double: the file's, or for a plain .weight's stand-ins v = weight and
 * g = ||weight|| over every axis but 0 (so g v / ||v|| = weight: the same layer). */
static double *ent_values(pcnn_pth *p, const ent *e, char *err, size_t errlen)
{
    int64_t shape[8];
    int ndim = pcnn_pth_shape(p, e->src, shape);
    int64_t n = numel(ndim, shape);
    double *v = pcnn_xmalloc((size_t)(n ? n : 1) * sizeof *v);
    if (pcnn_pth_read_f64(p, e->src, v, err, errlen)) {
        free(v);
        return NULL;
    }
    if (e->how == SRC_G) {
        int64_t rows = shape[0], len = rows ? n / rows : 0;
        for (int64_t r = 0; r < rows; r++) {
            double ss = 0;
            for (int64_t j = 0; j < len; j++) ss += v[r * len + j] * v[r * len + j];
            v[r] = sqrt(ss);
        }
    }
    return v;
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* The class image of one public CPEN 455 solution: embedding.weight (K, 3*H*W), pcnn's
 * class_map flattened. Renamed and reshaped to class_map (K, 3, H, W): H and W from -H/-W,
 * or from the other and the size, or square. */
static int embedding_as_class_map(ents *s, const pcnn_torch_import_opts *o, char *err, size_t errlen)
{
    ent *e = find_ent(s, "embedding.weight");
    if (!e) return 0;
    if (find_ent(s, "class_map"))
        return fail(err, errlen, "both class_map and embedding.weight (two class images?)");
    char a[96];
    int64_t D = e->ndim == 2 ? e->shape[1] : 0, H = o->H, W = o->W;
    if (D > 0 && D % 3 == 0) {
        int64_t hw = D / 3;
        if (H && !W && hw % H == 0) W = hw / H;
        else if (W && !H && hw % W == 0) H = hw / W;
        else if (!H && !W) {
            int64_t r = (int64_t)llround(sqrt((double)hw));
            if (r * r == hw) H = W = r;
        }
    }
    if (D <= 0 || D % 3 || !H || !W || 3 * H * W != D || H % 4 || W % 4 || H > 4096 || W > 4096)
        return fail(err, errlen, "embedding.weight has shape %s, not a class image (K, 3*H*W) with H and W "
                    "multiples of 4%s", pyshape(a, sizeof a, e->ndim, e->shape),
                    o->H || o->W ? " for the -H/-W given" : " (give -H and -W when it is not square)");
    free(e->name);
    e->name = pcnn_xstrdup("class_map");
    int64_t cm[4] = {e->shape[0], 3, H, W};
    e->ndim = 4;
    memcpy(e->shape, cm, sizeof cm);
    return 1;
}

/* Strips "module.", refuses strays and doubles, replaces plain .weight by (v, g). */
static int gather(pcnn_pth *p, ents *s, char *err, size_t errlen)
{
    if (pcnn_pth_stray(p))
        return fail(err, errlen, "entry '%s' is not a named tensor (is this a state_dict?)", pcnn_pth_stray(p));
    if (pcnn_pth_count(p) == 0)
        return fail(err, errlen, "no state_dict in the file (expected a dict of tensors, or a dict with "
                    "'state_dict' or 'model_state_dict')");
    for (int i = 0; i < pcnn_pth_count(p); i++) {
        const char *name = pcnn_pth_name(p, i), *k = name;
        if (!strncmp(k, "module.", 7)) k += 7;
        if (find_ent(s, k)) return fail(err, errlen, "tensor %s appears twice (with and without 'module.')", k);
        int64_t shape[8];
        int ndim = pcnn_pth_shape(p, name, shape);
        add_ent(s, k, name, SRC_PLAIN, ndim, shape);
    }
    static const char *const plain[] = {".conv.weight", ".deconv.weight", ".lin_a.weight"};
    int n0 = s->n;
    for (int i = 0; i < n0; i++) {
        ent *e = &s->e[i];
        int is_plain = 0;
        for (int k = 0; k < 3; k++) is_plain |= pcnn_ends_with(e->name, plain[k]);
        if (!is_plain) continue;
        char base[512], v[528], g[528], a[96];
        snprintf(base, sizeof base, "%.*s", (int)strlen(e->name) - 7, e->name);
        snprintf(v, sizeof v, "%s.weight_v", base);
        snprintf(g, sizeof g, "%s.weight_g", base);
        if (find_ent(s, v) || find_ent(s, g))
            return fail(err, errlen, "%s has both .weight and .weight_v/.weight_g", base);
        if (e->ndim < 2)
            return fail(err, errlen, "%s: a weight with shape %s is not a conv or linear weight", e->name,
                        pyshape(a, sizeof a, e->ndim, e->shape));
        e->gone = 1;
        int64_t gs[8] = {e->shape[0], 1, 1, 1, 1, 1, 1, 1};
        int nd = e->ndim;
        const char *srcname = e->src;
        int64_t vs[8];
        memcpy(vs, e->shape, sizeof vs);
        add_ent(s, v, srcname, SRC_V, nd, vs);   /* (may move s->e) */
        add_ent(s, g, srcname, SRC_G, nd, gs);
    }
    return 0;
}

/* Dimension 0 of tensor name, which must be there with at least one axis. */
static int dim0(const ents *s, const char *name, int64_t *d, char *err, size_t errlen)
{
    const ent *e = find_ent(s, name);
    if (!e)
        return fail(err, errlen, "missing tensor %s (is this a CPEN 455 / pclucas14 PixelCNN++ state_dict? "
                    "keys must be as in SPEC §3)", name);
    if (e->ndim < 1) return fail(err, errlen, "tensor %s has shape (), not a layer's", name);
    *d = e->shape[0];
    return 0;
}

pcnn_model_file *pcnn_torch_import(pcnn_pth *p, pcnn_torch_import_opts *o, char *err, size_t errlen)
{
    ents s = {0};
    pcnn_model_file *m = NULL;
    pcnn_param_table *t = NULL;
    int *order = NULL;
    char **names = NULL, **unknown = NULL;
    uint32_t nnames = 0;
    char a[96], b[96];
    o->status = 1;
    o->zero_hw = o->from_embedding = 0;
    if (gather(p, &s, err, errlen)) goto out;
    int emb = embedding_as_class_map(&s, o, err, errlen);
    if (emb < 0) goto out;
    o->from_embedding = emb;

    int64_t F, M10, R = 0;
    if (dim0(&s, "u_init.conv.weight_v", &F, err, errlen) || dim0(&s, "nin_out.lin_a.weight_v", &M10, err, errlen))
        goto out;
    if (M10 % 10) {
        fail(err, errlen, "nin_out has %lld outputs, not a multiple of 10 (only 3-channel images with 10 outputs "
             "per logistic are supported)", (long long)M10);
        goto out;
    }
    int64_t M = M10 / 10;
    for (;;) {
        char k[96];
        snprintf(k, sizeof k, "up_layers.0.u_stream.%lld.conv_input.conv.weight_v", (long long)R);
        if (!find_ent(&s, k) || R > MAX_R) break;
        R++;
    }
    if (R == 0) {
        fail(err, errlen, "no up_layers.0.u_stream.0 block found");
        goto out;
    }
    if (F < 1 || F > MAX_F || M < 1 || M > MAX_M || R > MAX_R) {
        fail(err, errlen, "sizes R=%lld F=%lld M=%lld out of range (1..%d, 1..%d, 1..%d)", (long long)R,
             (long long)F, (long long)M, MAX_R, MAX_F, MAX_M);
        goto out;
    }

    const ent *hw = NULL, *cm = NULL;
    unsigned cond = 0;
    for (int i = 0; i < s.n; i++) {
        const ent *e = &s.e[i];
        if (e->gone) continue;
        if (!hw && pcnn_ends_with(e->name, ".hw")) hw = e;
        if (pcnn_ends_with(e->name, ".hs")) cond |= PCNN_COND_FILM;
        if (!strcmp(e->name, "class_map")) cond |= PCNN_COND_INPUT, cm = e;
    }
    int64_t H = o->H ? o->H : 32, W = o->W ? o->W : 32, K;
    if (cm) {   /* the class image fixes the image size (and K) */
        const int64_t *c = cm->shape;
        int ok = cm->ndim == 4 && c[1] == 3;
        for (int k = 2; ok && k < 4; k++) ok = c[k] >= 4 && c[k] <= 4096 && c[k] % 4 == 0;
        if (!ok) {
            fail(err, errlen, "class_map has shape %s, expected (K, 3, H, W) with H and W multiples of 4",
                 pyshape(a, sizeof a, cm->ndim, cm->shape));
            goto out;
        }
        if ((o->H && o->H != c[2]) || (o->W && o->W != c[3])) {
            int h = o->H && o->H != c[2];
            fail(err, errlen, "the class map (class_map) is for %lldx%lld images, %s says %d", (long long)c[2],
                 (long long)c[3], h ? "-H" : "-W", h ? o->H : o->W);
            goto out;
        }
        H = c[2], W = c[3];
    }
    if (hw) {
        if (hw->ndim < 1) {
            fail(err, errlen, "tensor %s has shape (), expected (K, %lld)", hw->name, (long long)(2 * F));
            goto out;
        }
        K = hw->shape[0];
        if (o->K && o->K != K) {
            fail(err, errlen, "the class terms (.hw) are for %lld classes, -K says %d", (long long)K, o->K);
            goto out;
        }
    } else if (cm) {
        K = cm->shape[0];
        if (o->K && o->K != K) {
            fail(err, errlen, "the class map (class_map) is for %lld classes, -K says %d", (long long)K, o->K);
            goto out;
        }
    } else {
        K = o->K ? o->K : o->class_names ? o->nclasses : 1;
    }
    if (o->class_names && o->nclasses != K) {
        fail(err, errlen, "--classes names %d classes, the model has %lld", o->nclasses, (long long)K);
        o->status = 2;
        goto out;
    }
    if (K < 1 || K > (int64_t)PCNN_DATA_MAX_CLASSES) {
        fail(err, errlen, "%lld classes (pcnn takes 1..%u)", (long long)K, PCNN_DATA_MAX_CLASSES);
        goto out;
    }

    t = pcnn_params_build((int)R, (int)F, (int)M, (int)K, cond, (int)H, (int)W);
    order = pcnn_xmalloc((size_t)t->n * sizeof *order);
    pcnn_torch_order(t, order);

    /* unknown: every input tensor the model has no place for, sorted as Python sorts */
    int nunk = 0;
    unknown = pcnn_xcalloc((size_t)s.n + 1, sizeof *unknown);
    for (int i = 0; i < s.n; i++)
        if (!s.e[i].gone && pcnn_params_find(t, s.e[i].name) < 0) unknown[nunk++] = s.e[i].name;
    if (nunk) {
        qsort(unknown, (size_t)nunk, sizeof *unknown, cmp_str);
        fail(err, errlen, "%d unknown tensor(s), e.g. %s%s%s%s%s (for R=%lld F=%lld M=%lld; keys must be as in "
             "SPEC §3)", nunk, unknown[0], nunk > 1 ? ", " : "", nunk > 1 ? unknown[1] : "", nunk > 2 ? ", " : "",
             nunk > 2 ? unknown[2] : "", (long long)R, (long long)F, (long long)M);
        goto out;
    }
    /* missing: in state_dict order; the class terms may all be absent (then zero) */
    int nmis = 0;
    const char *mis[3] = {"", "", ""};
    for (int i = 0; i < t->n; i++) {
        const char *k = t->p[order[i]].name;
        if (!find_ent(&s, k) && !(pcnn_ends_with(k, ".hw") && !hw)) {
            if (nmis < 3) mis[nmis] = k;
            nmis++;
        }
    }
    if (nmis) {
        fail(err, errlen, "%d missing tensor(s), e.g. %s%s%s%s%s (for R=%lld F=%lld M=%lld K=%lld)", nmis, mis[0],
             nmis > 1 ? ", " : "", mis[1], nmis > 2 ? ", " : "", mis[2], (long long)R, (long long)F, (long long)M,
             (long long)K);
        goto out;
    }

    nnames = (uint32_t)K;
    names = pcnn_xcalloc(nnames, sizeof *names);
    for (uint32_t k = 0; k < nnames; k++) {
        char cls[32];
        snprintf(cls, sizeof cls, "Class%u", k);
        names[k] = pcnn_xstrdup(o->class_names ? o->class_names[k] : cls);
    }
    m = pcnn_model_file_new((uint32_t)R, (uint32_t)F, (uint32_t)M, (uint32_t)K, (uint32_t)H, (uint32_t)W, 3, names);
    m->lr = 2e-4;
    /* meta imported_from: the input's base name, at most 255 bytes (cut at a UTF-8 boundary) */
    const char *src = o->source, *slash = strrchr(src, '/'), *base = slash ? slash + 1 : src;
    size_t bl = strlen(base);
    if (bl > 255) {
        bl = 255;
        while (bl > 0 && ((unsigned char)base[bl] & 0xc0) == 0x80) bl--;
    }
    char from[256];
    snprintf(from, sizeof from, "%.*s", (int)bl, base);
    pcnn_model_file_set_meta(m, "imported_from", bl ? from : "-");
    for (int i = 0; i < t->n; i++) {
        const pcnn_param *q = &t->p[order[i]];
        const ent *e = find_ent(&s, q->name);
        pcnn_tensor *x = pcnn_model_file_add(m, q->name, q->ndim, q->dims);
        if (!e) continue;   /* an absent class term: zero */
        int same = e->ndim == (int)q->ndim;
        for (uint32_t d = 0; same && d < q->ndim; d++) same = e->shape[d] == (int64_t)q->dims[d];
        if (!same) {
            fail(err, errlen, "tensor %s has shape %s, expected %s (for R=%lld F=%lld M=%lld K=%lld)", q->name,
                 pyshape(a, sizeof a, e->ndim, e->shape), pyshape32(b, sizeof b, q->ndim, q->dims), (long long)R,
                 (long long)F, (long long)M, (long long)K);
            goto fail;
        }
        double *v = ent_values(p, e, err, errlen);
        if (!v) goto fail;
        int finite = 1;
        for (size_t j = 0; j < x->n; j++) {
            x->data[j] = (float)v[j];
            finite &= isfinite(x->data[j]) != 0;   /* beyond float's range counts too */
        }
        free(v);
        if (!finite) {
            fail(err, errlen, "tensor %s holds NaN or Inf", q->name);
            goto fail;
        }
    }
    o->zero_hw = !hw;
    o->status = 0;
    goto out;
fail:
    pcnn_model_file_free(m);
    m = NULL;
out:
    pcnn_class_names_free(names, nnames);
    free(unknown);
    free(order);
    pcnn_params_free(t);
    free_ents(&s);
    return m;
}

/* ---- export ---- */

pcnn_pth_entry *pcnn_torch_state_dict(const pcnn_model_file *m, const char *prefix, int *n, char *err,
                                      size_t errlen)
{
    unsigned cond = pcnn_model_conditioning(m);
    pcnn_param_table *t = pcnn_params_build((int)m->R, (int)m->F, (int)m->M, (int)m->K, cond, (int)m->H, (int)m->W);
    int *order = pcnn_xmalloc((size_t)t->n * sizeof *order);
    pcnn_torch_order(t, order);
    pcnn_pth_entry *sd = pcnn_xcalloc((size_t)t->n, sizeof *sd);
    char key[PCNN_PARAM_NAME_MAX + 16], a[96], b[96];
    int polyak = !strcmp(prefix, "polyak.");
    for (int i = 0; i < t->n; i++) {   /* first every name, then every shape */
        snprintf(key, sizeof key, "%s%s", prefix, t->p[order[i]].name);
        if (pcnn_model_file_find(m, key)) continue;
        if (polyak) fail(err, errlen, "no Polyak weights (%s missing); export without --polyak", key);
        else fail(err, errlen, "missing parameter %s (damaged model file?)", key);
        goto fail;
    }
    for (int i = 0; i < t->n; i++) {
        const pcnn_param *q = &t->p[order[i]];
        snprintf(key, sizeof key, "%s%s", prefix, q->name);
        const pcnn_tensor *x = pcnn_model_file_find(m, key);
        int same = x->ndim == q->ndim;
        for (uint32_t d = 0; same && d < q->ndim; d++) same = x->dims[d] == q->dims[d];
        if (!same) {
            fail(err, errlen, "%s has shape %s, expected %s", key, pyshape32(a, sizeof a, x->ndim, x->dims),
                 pyshape32(b, sizeof b, q->ndim, q->dims));
            goto fail;
        }
        sd[i].name = x->name + strlen(prefix);
        sd[i].ndim = (int)x->ndim;
        for (uint32_t d = 0; d < x->ndim; d++) sd[i].shape[d] = x->dims[d];
        sd[i].data = x->data;
    }
    *n = t->n;
    free(order);
    pcnn_params_free(t);
    return sd;
fail:
    free(sd);
    free(order);
    pcnn_params_free(t);
    return NULL;
}
