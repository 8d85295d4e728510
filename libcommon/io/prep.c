/* prep.c — image source → pcnn data file; see prep.h. */
#include "io/prep.h"

#include "io/datafile.h"
#include "io/idx.h"
#include "io/image.h"
#include "io/manifest.h"
#include "io/resize.h"
#include "rng.h"
#include "util.h"

#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

/* Items decoded per parallel batch: big enough to keep every thread busy, small
 * enough (512 × 32·32·3 = 1.5 MB) to stay in cache-friendly memory. */
#define BATCH 512

typedef struct item {
    char *id;              /* record id */
    char *file;            /* image file to open; NULL for IDX */
    unsigned long line;    /* CSV line, 0 for other sources */
    int32_t label;         /* label in the source's numbering, then the output's */
    size_t index;          /* IDX image index */
    const char *err;       /* malformed row (static text), NULL if fine */
} item;

typedef struct ctx {
    const pcnn_prep_opts *o;
    pcnn_prep_source_kind kind;
    const char *src;       /* display name of the source */
    item *items;
    size_t n, cap;
    char **folder_names;   /* folder source: sorted class folder names */
    uint32_t n_folders;
    pcnn_idx *idx_im, *idx_lb;
    char *labels_path;
    uint64_t skipped;
    unsigned reported;
} ctx;

pcnn_prep_opts pcnn_prep_defaults(void)
{
    pcnn_prep_opts o;
    memset(&o, 0, sizeof o);
    o.H = o.W = 32;
    return o;
}

pcnn_prep_source_kind pcnn_prep_source_kind_of(const char *path)
{
    if (!strcmp(path, "-")) return PCNN_SRC_CSV;
    struct stat sb;
    if (stat(path, &sb) == 0 && S_ISDIR(sb.st_mode)) return PCNN_SRC_FOLDER;
    FILE *fp = fopen(path, "rb");
    if (!fp) return PCNN_SRC_CSV;   /* the CSV reader reports why it cannot open it */
    uint8_t m[4] = {0};
    size_t got = fread(m, 1, 4, fp);
    fclose(fp);
    if (got >= 2 && m[0] == 0x1f && m[1] == 0x8b) return PCNN_SRC_IDX;
    if (got == 4 && !m[0] && !m[1] && m[2] == 0x08 && m[3] == 0x03) return PCNN_SRC_IDX;
    return PCNN_SRC_CSV;
}

static item *push(ctx *c)
{
    if (c->n == c->cap) {
        c->cap = c->cap ? 2 * c->cap : 1024;
        c->items = pcnn_xrealloc(c->items, sizeof *c->items * c->cap);
    }
    item *it = &c->items[c->n++];
    memset(it, 0, sizeof *it);
    return it;
}

static char *join(const char *a, const char *b)
{
    size_t n = strlen(a) + 1 + strlen(b) + 1;
    char *s = pcnn_xmalloc(n);
    snprintf(s, n, "%s%s%s", a, *a ? "/" : "", b);
    return s;
}

/* Where an item comes from, for messages: "train.csv:12: train/x.jpg", "dir/cls/x.png",
 * "train-images-idx3-ubyte.gz: image 123". */
static void where(const ctx *c, const item *it, char *buf, size_t n)
{
    if (c->kind == PCNN_SRC_CSV)
        snprintf(buf, n, "%s:%lu%s%s", c->src, it->line, it->id ? ": " : "", it->id ? it->id : "");
    else if (c->kind == PCNN_SRC_FOLDER)
        snprintf(buf, n, "%s", it->file);
    else
        snprintf(buf, n, "%s: image %zu", c->src, it->index);
}

/* A bad row or image: with skip_bad, report (the first few) and count; returns 0.
 * Otherwise print the error and return -1. */
static int bad(ctx *c, const item *it, const char *what)
{
    char w[8192];
    where(c, it, w, sizeof w);
    if (c->o->skip_bad) {
        c->skipped++;
        if (!c->o->quiet) {
            if (c->reported < PCNN_PREP_MAX_REPORTS)
                pcnn_warn("%s: %s (skipped)", w, what);
            else if (c->reported == PCNN_PREP_MAX_REPORTS)
                pcnn_warn("more bad images or rows: not reported one by one");
            c->reported++;
        }
        return 0;
    }
    pcnn_warn("%s: %s (fix it or remove it, or use --skip-bad to skip such images)", w, what);
    return -1;
}

/* ---- sources ---- */

static int read_csv(ctx *c)
{
    pcnn_manifest *m = pcnn_manifest_read(c->o->source);
    if (!m) return -1;
    for (size_t i = 0; i < m->n; i++) {
        pcnn_manifest_row *r = &m->rows[i];
        item *it = push(c);
        it->line = r->line;
        it->label = r->label;
        it->err = r->err;
        it->id = r->id;     /* ownership moves to the item */
        it->file = r->file;
        r->id = r->file = NULL;
    }
    pcnn_manifest_free(m);
    return 0;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int has_image_ext(const char *name)
{
    const char *dot = strrchr(name, '.');
    return dot && (!strcasecmp(dot, ".png") || !strcasecmp(dot, ".jpg") || !strcasecmp(dot, ".jpeg"));
}

/* Sorted entries of dir (hidden ones skipped); NULL + message on error. */
static char **list_dir(const char *dir, size_t *n)
{
    DIR *d = opendir(dir);
    if (!d) {
        pcnn_warn("%s: cannot open folder: %s", dir, strerror(errno));
        return NULL;
    }
    size_t cap = 64;
    char **v = pcnn_xmalloc(sizeof *v * cap);
    *n = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        if (*n == cap) v = pcnn_xrealloc(v, sizeof *v * (cap *= 2));
        v[(*n)++] = pcnn_xstrdup(e->d_name);
    }
    closedir(d);
    qsort(v, *n, sizeof *v, cmp_str);
    return v;
}

static void free_list(char **v, size_t n)
{
    for (size_t i = 0; v && i < n; i++) free(v[i]);
    free(v);
}

/* Collects image paths under dir (relative paths rel/...) into *paths, recursively. */
static int collect(const char *dir, const char *rel, char ***paths, size_t *np, size_t *cap, int depth)
{
    if (depth > 32) {
        pcnn_warn("%s: folders nested too deep (over 32 levels)", dir);
        return -1;
    }
    size_t n;
    char **v = list_dir(dir, &n);
    if (!v) return -1;
    int rc = 0;
    for (size_t i = 0; i < n && !rc; i++) {
        char *full = join(dir, v[i]), *r = join(rel, v[i]);
        struct stat sb;
        if (stat(full, &sb) == 0 && S_ISDIR(sb.st_mode)) {
            rc = collect(full, r, paths, np, cap, depth + 1);
            free(r);
        } else if (has_image_ext(v[i])) {
            if (*np == *cap) *paths = pcnn_xrealloc(*paths, sizeof **paths * (*cap = *cap ? 2 * *cap : 256));
            (*paths)[(*np)++] = r;
        } else {
            free(r);
        }
        free(full);
    }
    free_list(v, n);
    return rc;
}

static int read_folder(ctx *c)
{
    const char *root = c->o->source;
    size_t n;
    char **v = list_dir(root, &n);
    if (!v) return -1;
    /* Class folders: the sub-folders, in sorted order. */
    c->folder_names = pcnn_xmalloc(sizeof *c->folder_names * (n ? n : 1));
    for (size_t i = 0; i < n; i++) {
        char *full = join(root, v[i]);
        struct stat sb;
        if (stat(full, &sb) == 0 && S_ISDIR(sb.st_mode)) c->folder_names[c->n_folders++] = v[i];
        else free(v[i]);
        free(full);
    }
    free(v);
    if (c->n_folders == 0) {
        pcnn_warn("%s: no class sub-folders (expected one sub-folder of images per class)", root);
        return -1;
    }
    if (c->n_folders > PCNN_DATA_MAX_CLASSES) {
        pcnn_warn("%s: %u class sub-folders, at most %u supported", root, c->n_folders,
                  PCNN_DATA_MAX_CLASSES);
        return -1;
    }
    for (uint32_t k = 0; k < c->n_folders; k++) {
        char *dir = join(root, c->folder_names[k]);
        char **paths = NULL;
        size_t np = 0, cap = 0;
        int rc = collect(dir, "", &paths, &np, &cap, 0);
        if (!rc) {
            qsort(paths, np, sizeof *paths, cmp_str);
            for (size_t i = 0; i < np; i++) {
                item *it = push(c);
                it->label = (int32_t)k;
                it->id = join(c->folder_names[k], paths[i]);
                it->file = join(dir, paths[i]);
            }
        }
        free_list(paths, np);
        free(dir);
        if (rc) return -1;
    }
    return 0;
}

/* train-images-idx3-ubyte.gz → train-labels-idx1-ubyte.gz (in the same folder). */
static char *sibling_labels(const char *images)
{
    const char *base = strrchr(images, '/');
    base = base ? base + 1 : images;
    const char *pat = strstr(base, "images-idx3");
    const char *from = pat ? "images-idx3" : "images", *to = pat ? "labels-idx1" : "labels";
    if (!pat) pat = strstr(base, "images");
    if (!pat) return NULL;
    size_t pre = (size_t)(pat - images), n = strlen(images) - strlen(from) + strlen(to) + 1;
    char *s = pcnn_xmalloc(n);
    snprintf(s, n, "%.*s%s%s", (int)pre, images, to, pat + strlen(from));
    return s;
}

static int read_idx(ctx *c)
{
    const char *img = c->o->source;
    c->idx_im = pcnn_idx_read(img, 3);
    if (!c->idx_im) return -1;
    if (c->o->labels) {
        c->labels_path = pcnn_xstrdup(c->o->labels);
    } else {
        c->labels_path = sibling_labels(img);
        if (!c->labels_path || access(c->labels_path, R_OK) != 0) {
            pcnn_warn("%s: no labels file found%s%s (name it with --labels FILE)", img,
                      c->labels_path ? " at " : "", c->labels_path ? c->labels_path : "");
            return -1;
        }
    }
    c->idx_lb = pcnn_idx_read(c->labels_path, 1);
    if (!c->idx_lb) return -1;
    if (c->idx_lb->dims[0] != c->idx_im->dims[0]) {
        pcnn_warn("%s: %u labels for %u images in %s (are they a pair?)", c->labels_path,
                  c->idx_lb->dims[0], c->idx_im->dims[0], img);
        return -1;
    }
    const char *base = strrchr(img, '/');
    base = base ? base + 1 : img;
    for (size_t i = 0; i < c->idx_im->dims[0]; i++) {
        item *it = push(c);
        it->index = i;
        it->label = c->idx_lb->data[i];
        char id[PCNN_DATA_MAX_ID + 1];
        snprintf(id, sizeof id, "%.4000s:%06zu", base, i);
        it->id = pcnn_xstrdup(id);
    }
    return 0;
}

/* ---- classes ---- */

/* Without -K, --classes or --select the class count comes from the largest label;
 * labels below it that no image has (a stray 7 among 0..3 makes 8 classes) are said. */
static void warn_label_gaps(const ctx *c, int64_t maxlab)
{
    if (maxlab < 1) return;
    uint8_t *seen = pcnn_xcalloc((size_t)maxlab + 1, 1);
    for (size_t i = 0; i < c->n; i++)
        if (!c->items[i].err && c->items[i].label >= 0) seen[c->items[i].label] = 1;
    char list[160] = "";
    size_t len = 0;
    int gaps = 0;
    for (int64_t l = 0; l < maxlab; l++)
        if (!seen[l]) {
            if (gaps++ < 8 && len < sizeof list - 24)
                len += (size_t)snprintf(list + len, sizeof list - len, "%s%lld", gaps > 1 ? ", " : "",
                                        (long long)l);
        }
    if (gaps)
        pcnn_warn("%s: no image has label%s %s%s, yet the largest label %lld makes %lld classes "
                  "(a stray label? give -K or --classes to say how many classes there are)",
                  c->src, gaps > 1 ? "s" : "", list, gaps > 8 ? ", ..." : "", (long long)maxlab,
                  (long long)maxlab + 1);
    free(seen);
}

/* Resolves K, the class names and the --select mapping; drops rows outside the selection
 * and checks labels. Returns 0, 1 (runtime error) or 2 (usage error); messages printed. */
static int resolve_classes(ctx *c, uint32_t *Kout, char ***names_out)
{
    const pcnn_prep_opts *o = c->o;
    /* The source's own classes: folders, or labels 0..maxlabel. */
    int64_t maxlab = -1;
    for (size_t i = 0; i < c->n; i++)
        if (!c->items[i].err && c->items[i].label > maxlab) maxlab = c->items[i].label;
    uint32_t Ksrc;
    if (c->kind == PCNN_SRC_FOLDER) Ksrc = c->n_folders;
    else if (c->kind == PCNN_SRC_IDX) Ksrc = (uint32_t)(maxlab + 1 > 1 ? maxlab + 1 : 1);
    else Ksrc = (uint32_t)(maxlab + 1 > 4 ? (maxlab + 1 > (int64_t)UINT32_MAX ? UINT32_MAX : maxlab + 1) : 4);

    /* --select: map source label → output label. */
    int32_t *map = NULL;
    uint32_t K;
    char **names = NULL;
    if (o->n_select) {
        uint32_t nmap = c->kind == PCNN_SRC_FOLDER ? c->n_folders : 0;
        int64_t *sel = pcnn_xmalloc(sizeof *sel * o->n_select);
        for (uint32_t s = 0; s < o->n_select; s++) {
            long v = -1;
            if (c->kind == PCNN_SRC_FOLDER) {
                for (uint32_t k = 0; k < c->n_folders; k++)
                    if (!strcmp(o->select[s], c->folder_names[k])) v = k;
                if (v < 0 && (pcnn_parse_long(o->select[s], 0, (long)c->n_folders - 1, &v))) v = -1;
                if (v < 0) {
                    pcnn_warn("--select: '%s' is neither a class folder of %s nor an index 0..%u",
                              o->select[s], c->src, c->n_folders - 1);
                    free(sel);
                    return 2;
                }
            } else if (pcnn_parse_long(o->select[s], 0, INT32_MAX, &v)) {
                pcnn_warn("--select: '%s' is not a label (an integer >= 0)", o->select[s]);
                free(sel);
                return 2;
            }
            for (uint32_t t = 0; t < s; t++)
                if (sel[t] == v) {
                    pcnn_warn("--select: class '%s' given twice", o->select[s]);
                    free(sel);
                    return 2;
                }
            sel[s] = v;
            if ((uint64_t)v + 1 > nmap) nmap = (uint32_t)v + 1;
        }
        map = pcnn_xmalloc(sizeof *map * nmap);
        for (uint32_t i = 0; i < nmap; i++) map[i] = -2;   /* −2: dropped */
        for (uint32_t s = 0; s < o->n_select; s++) map[sel[s]] = (int32_t)s;
        K = o->n_select;
        if (!o->n_classes) {
            names = pcnn_xcalloc(K, sizeof *names);
            for (uint32_t s = 0; s < K; s++) {
                char b[32];
                snprintf(b, sizeof b, "Class%lld", (long long)sel[s]);
                names[s] = pcnn_xstrdup(c->kind == PCNN_SRC_FOLDER ? c->folder_names[sel[s]] : b);
            }
        }
        free(sel);
        /* Keep selected rows (relabelled), −1 rows and malformed rows (reported later). */
        size_t j = 0;
        for (size_t i = 0; i < c->n; i++) {
            item *it = &c->items[i];
            if (!it->err && it->label >= 0) {
                if ((uint32_t)it->label >= nmap || map[it->label] < 0) {
                    free(it->id);
                    free(it->file);
                    continue;
                }
                it->label = map[it->label];
            }
            c->items[j++] = *it;
        }
        c->n = j;
        free(map);
        if (o->K && o->K != K) {
            pcnn_warn("-K %u contradicts --select of %u classes", o->K, K);
            pcnn_class_names_free(names, K);
            return 2;
        }
    } else if (o->K) {
        K = o->K;
        if (c->kind == PCNN_SRC_FOLDER && K != c->n_folders) {
            pcnn_warn("-K %u, but %s has %u class folders", K, c->src, c->n_folders);
            return 2;
        }
    } else if (o->n_classes) {
        K = o->n_classes;
    } else {
        K = Ksrc;
        if (c->kind != PCNN_SRC_FOLDER && K <= PCNN_DATA_MAX_CLASSES) warn_label_gaps(c, maxlab);
    }
    if (K > PCNN_DATA_MAX_CLASSES) {
        pcnn_warn("%s: labels up to %lld mean %u classes, at most %u supported (check the label column, "
                  "or use --select)", c->src, (long long)maxlab, K, PCNN_DATA_MAX_CLASSES);
        pcnn_class_names_free(names, o->n_select ? K : 0);
        return 1;
    }
    if (o->n_classes && o->n_classes != K) {
        pcnn_warn("--classes names %u classes, but there are %u (%s)", o->n_classes, K,
                  o->n_select ? "--select" : o->K ? "-K" : c->kind == PCNN_SRC_FOLDER ? "class folders" : "labels");
        pcnn_class_names_free(names, o->n_select ? K : 0);
        return 2;
    }
    if (o->n_classes) {
        names = pcnn_class_names_copy(o->classes, K);
    } else if (!names) {
        names = pcnn_xcalloc(K, sizeof *names);
        for (uint32_t k = 0; k < K; k++) {
            if (c->kind == PCNN_SRC_FOLDER) {
                names[k] = pcnn_xstrdup(c->folder_names[k]);
            } else {
                char b[32];
                snprintf(b, sizeof b, "Class%u", k);
                names[k] = pcnn_xstrdup(b);
            }
        }
    }
    for (uint32_t k = 0; k < K; k++)
        if (pcnn_data_check_class_name(names[k])) {
            pcnn_warn("'%s' cannot be a class name (1..255 bytes, no comma, tab or newline)%s", names[k],
                      c->kind == PCNN_SRC_FOLDER && !o->n_classes ? ": rename the folder or give --classes" : "");
            pcnn_class_names_free(names, K);
            return c->kind == PCNN_SRC_FOLDER && !o->n_classes ? 1 : 2;
        }
    *Kout = K;
    *names_out = names;
    return 0;
}

/* ---- subset ---- */

typedef struct keyed {
    uint64_t key;
    size_t i;
} keyed;

static int cmp_key(const void *a, const void *b)
{
    const keyed *x = a, *y = b;
    if (x->key != y->key) return x->key < y->key ? -1 : 1;
    return x->i < y->i ? -1 : x->i > y->i;
}

static int cmp_index(const void *a, const void *b)
{
    const keyed *x = a, *y = b;
    return x->i < y->i ? -1 : x->i > y->i;
}

/* Keeps `limit` items chosen at random (seeded), in their input order: item i gets the key
 * hash(seed, i), items are ranked by key, and ranks [offset, offset + limit) win. With the
 * same seed, disjoint offset ranges give disjoint subsets (e.g. validation and test drawn
 * from one file). */
static void take_subset(ctx *c)
{
    uint64_t limit = c->o->limit, offset = c->o->offset;
    if ((!limit || limit >= c->n) && !offset) return;
    if (offset > c->n) offset = c->n;
    if (!limit || limit > c->n - offset) limit = c->n - offset;
    keyed *k = pcnn_xmalloc(sizeof *k * (c->n ? c->n : 1));
    for (size_t i = 0; i < c->n; i++) {
        k[i].key = pcnn_rng_hash4(c->o->seed, PCNN_RNG_SHUFFLE, 0x70726570 /* "prep" */, i, 0);
        k[i].i = i;
    }
    qsort(k, c->n, sizeof *k, cmp_key);
    for (size_t i = 0; i < c->n; i++) {
        if (i >= offset && i < offset + limit) continue;
        free(c->items[k[i].i].id);
        free(c->items[k[i].i].file);
    }
    keyed *kept = k + offset;
    qsort(kept, (size_t)limit, sizeof *k, cmp_index);
    for (size_t i = 0; i < limit; i++) c->items[i] = c->items[kept[i].i];
    c->n = (size_t)limit;
    free(k);
}

/* ---- decoding ---- */

/* Decodes and resizes one item into px (H·W·3). 0, or -1 with the reason in err. */
static int load_one(const ctx *c, const item *it, uint8_t *px, char *err)
{
    uint32_t H = c->o->H, W = c->o->W;
    if (c->kind == PCNN_SRC_IDX) {
        const pcnn_idx *x = c->idx_im;
        size_t r = x->dims[1], q = x->dims[2];
        uint8_t *g = pcnn_xmalloc((size_t)H * W);
        pcnn_resize_u8(g, (int)H, (int)W, x->data + it->index * r * q, (int)r, (int)q, 1);
        for (size_t i = 0; i < (size_t)H * W; i++) px[3 * i] = px[3 * i + 1] = px[3 * i + 2] = g[i];
        free(g);
        return 0;
    }
    pcnn_image im;
    if (pcnn_image_load(it->file, &im, err, PCNN_IMAGE_ERRLEN)) return -1;
    pcnn_resize_u8(px, (int)H, (int)W, im.rgb, im.h, im.w, 3);
    pcnn_image_free(&im);
    return 0;
}

static void free_ctx(ctx *c)
{
    for (size_t i = 0; i < c->n; i++) {
        free(c->items[i].id);
        free(c->items[i].file);
    }
    free(c->items);
    free_list(c->folder_names, c->n_folders);
    pcnn_idx_free(c->idx_im);
    pcnn_idx_free(c->idx_lb);
    free(c->labels_path);
}

/* Rows with a label (>= 0), well formed so far. */
static size_t count_labelled(const ctx *c)
{
    size_t n = 0;
    for (size_t i = 0; i < c->n; i++) n += !c->items[i].err && c->items[i].label >= 0;
    return n;
}

/* Why a run would write a data file without images, from the images left after each step:
 * read from the source, kept by --select, well formed, and the --limit/--offset subset. */
static void say_empty(const ctx *c, size_t n_read, size_t n_sel, size_t n_ok)
{
    const pcnn_prep_opts *o = c->o;
    if (!n_read)
        pcnn_warn("%s: holds no images: a data file needs at least one (is it the right file?)", c->src);
    else if (!n_sel)
        pcnn_warn("%s: --select keeps none of its %zu images (none has a selected label)",
                  c->src, n_read);
    else if (!n_ok)
        pcnn_warn("%s: every one of its %zu rows is bad (skipped with --skip-bad): no image left",
                  c->src, n_sel);
    else
        pcnn_warn("%s: --offset %llu is past its %zu images: no image left", c->src,
                  (unsigned long long)o->offset, n_ok);
}

int pcnn_prep_run(const pcnn_prep_opts *o)
{
    ctx c;
    memset(&c, 0, sizeof c);
    c.o = o;
    c.kind = pcnn_prep_source_kind_of(o->source);
    c.src = pcnn_display_name(o->source);
    int rc = 1;
    uint32_t K = 0;
    char **names = NULL;
    pcnn_data_writer *w = NULL;
    uint8_t *px = NULL;
    char *errs = NULL;
    int *fail = NULL;
    pcnn_input in[] = {{"the source", o->source}, {"the labels file (--labels)", o->labels}};
    if (pcnn_output_not_input(o->out, "the data file (-o)", in, 2)) return 2;

    if ((c.kind == PCNN_SRC_CSV ? read_csv(&c) : c.kind == PCNN_SRC_FOLDER ? read_folder(&c)
                                                                             : read_idx(&c)))
        goto out;
    size_t n_read = c.n, labelled_read = count_labelled(&c);
    if ((rc = resolve_classes(&c, &K, &names))) goto out;
    rc = 1;
    size_t n_sel = c.n;
    if (o->n_select && labelled_read && !count_labelled(&c)) {   /* only the unlabelled left */
        pcnn_warn("%s: --select keeps none of its %zu labelled images (none has a selected "
                  "label)", c.src, labelled_read);
        goto out;
    }
    /* Malformed rows and labels out of range, in input order. */
    {
        size_t j = 0;
        for (size_t i = 0; i < c.n; i++) {
            item *it = &c.items[i];
            char why[160];
            const char *e = it->err;
            if (!e && it->label >= (int32_t)K) {
                snprintf(why, sizeof why, "label %d out of range for %u classes (0..%u)%s", it->label,
                         K, K - 1, o->n_classes || o->K ? "" : "; set -K or --classes");
                e = why;
            }
            if (e) {
                if (bad(&c, it, e)) goto out;
                free(it->id);
                free(it->file);
                continue;
            }
            c.items[j++] = *it;
        }
        c.n = j;
    }
    size_t n_ok = c.n;
    take_subset(&c);
    if (!c.n) {   /* an empty data file would train nothing and submit nothing */
        say_empty(&c, n_read, n_sel, n_ok);
        goto out;
    }

    pcnn_data_header h = {.H = o->H, .W = o->W, .C = 3, .K = K,
                          .count = PCNN_DATA_COUNT_UNKNOWN, .class_names = names};
    w = pcnn_data_create(o->out, &h);
    if (!w) goto out;

    size_t npix = (size_t)o->H * o->W * 3;
    px = pcnn_xmalloc(pcnn_mul_size(BATCH, npix));
    errs = pcnn_xmalloc((size_t)BATCH * PCNN_IMAGE_ERRLEN);
    fail = pcnn_xmalloc(sizeof *fail * BATCH);
    pcnn_progress p;
    if (!o->quiet) pcnn_progress_start(&p, "prep", c.n, "images");
    uint64_t written = 0;
    for (size_t b0 = 0; b0 < c.n; b0 += BATCH) {
        long nb = (long)(c.n - b0 < BATCH ? c.n - b0 : BATCH);
        /* Each item writes only its own slot: the output does not depend on the schedule. */
#pragma omp parallel for schedule(dynamic, 4)
        for (long b = 0; b < nb; b++)
            fail[b] = load_one(&c, &c.items[b0 + (size_t)b], px + (size_t)b * npix,
                               errs + (size_t)b * PCNN_IMAGE_ERRLEN);
        for (long b = 0; b < nb; b++) {
            const item *it = &c.items[b0 + (size_t)b];
            if (fail[b]) {
                if (bad(&c, it, errs + (size_t)b * PCNN_IMAGE_ERRLEN)) goto out;
                continue;
            }
            if (pcnn_data_write(w, it->id, it->label, px + (size_t)b * npix)) goto out;
            written++;
        }
        if (!o->quiet) pcnn_progress_update(&p, written);
    }
    if (!written) {
        pcnn_warn("%s: every image is bad (skipped with --skip-bad): no image left", c.src);
        goto out;
    }
    int fin = pcnn_data_finish(w);
    w = NULL;
    if (fin) goto out;
    if (!o->quiet) {
        char extra[200];
        snprintf(extra, sizeof extra, "%llu skipped, %u classes, %ux%u", (unsigned long long)c.skipped, K,
                 o->H, o->W);
        p.done = written;
        pcnn_progress_end(&p, extra);
    }
    rc = 0;
out:
    pcnn_data_abort(w);
    pcnn_class_names_free(names, K);
    free(px);
    free(errs);
    free(fail);
    free_ctx(&c);
    return rc;
}
