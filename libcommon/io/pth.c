/* pth.c — PyTorch checkpoint reader: zip and legacy formats, a minimal pickle VM (pth.h). */
#include "io/pth.h"

#include "util.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define MAX_NDIM 8
#define MAX_PICKLE ((size_t)64 << 20)   /* a state_dict's pickle is kilobytes; refuse silly ones */
#define MAX_MEMO (1u << 22)
#define MAX_STACK (1u << 20)

/* ---- values of the pickle machine ---- */

/* element kinds of a storage: floating (every reader), integer (pcnn_pth_read_f64), other */
enum { K_OTHER, K_F32, K_F64, K_F16, K_BF16, K_I64, K_I32, K_I16, K_I8, K_U8, K_BOOL };
#define IS_FLOAT(k) ((k) >= K_F32 && (k) <= K_BF16)

enum { V_NONE, V_BOOL, V_INT, V_BIGINT, V_FLOAT, V_STR, V_TUPLE, V_LIST, V_DICT, V_GLOBAL,
       V_STORAGE, V_TENSOR, V_OBJ, V_MARK };

typedef struct val val;
struct val {
    int t;
    int64_t i;              /* INT, BOOL; STORAGE: numel */
    double f;
    char *s;                /* STR; GLOBAL "module name"; STORAGE: key; BIGINT: raw bytes */
    size_t slen;
    val **items;            /* TUPLE, LIST; DICT: key, value, key, value ... */
    size_t n, cap;
    int elsize, kind;       /* STORAGE: bytes per element; K_* (K_OTHER: not read) */
    char *tname;            /* STORAGE: "FloatStorage" ... */
    val *storage;           /* TENSOR */
    int64_t offset, shape[MAX_NDIM], stride[MAX_NDIM];
    int ndim;
    val *next;              /* every value, for freeing */
};

typedef struct vm {
    FILE *fp;
    const char *what;       /* for messages: "data.pkl", "the state_dict pickle" */
    val *all;
    val **stack;
    size_t sp, scap;
    val **memo;
    size_t nmemo;
    char *err;
    size_t errlen;
    int failed;
} vm;

static val MARK_VAL = {.t = V_MARK};

static int vfail(vm *m, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int vfail(vm *m, const char *fmt, ...)
{
    if (!m->failed) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(m->err, m->errlen, fmt, ap);
        va_end(ap);
    }
    m->failed = 1;
    return -1;
}

static val *vnew(vm *m, int t)
{
    val *v = pcnn_xcalloc(1, sizeof *v);
    v->t = t;
    v->next = m->all;
    m->all = v;
    return v;
}

static void vfree_all(val *v)
{
    while (v) {
        val *n = v->next;
        free(v->s);
        free(v->items);
        free(v->tname);
        free(v);
        v = n;
    }
}

static void vadd(val *c, val *x)
{
    if (c->n == c->cap) {
        c->cap = c->cap ? 2 * c->cap : 8;
        c->items = pcnn_xrealloc(c->items, c->cap * sizeof *c->items);
    }
    c->items[c->n++] = x;
}

static int push(vm *m, val *v)
{
    if (m->sp == MAX_STACK) return vfail(m, "%s: pickle stack too deep", m->what);
    if (m->sp == m->scap) {
        m->scap = m->scap ? 2 * m->scap : 64;
        m->stack = pcnn_xrealloc(m->stack, m->scap * sizeof *m->stack);
    }
    m->stack[m->sp++] = v;
    return 0;
}

static val *pop(vm *m)
{
    if (!m->sp || m->stack[m->sp - 1] == &MARK_VAL) {
        vfail(m, "%s: damaged pickle (stack underflow)", m->what);
        return NULL;
    }
    return m->stack[--m->sp];
}

static val *top(vm *m)
{
    if (!m->sp || m->stack[m->sp - 1] == &MARK_VAL) {
        vfail(m, "%s: damaged pickle (stack underflow)", m->what);
        return NULL;
    }
    return m->stack[m->sp - 1];
}

/* Index of the topmost mark, or -1 after a failure. */
static long find_mark(vm *m)
{
    for (size_t k = m->sp; k-- > 0;)
        if (m->stack[k] == &MARK_VAL) return (long)k;
    vfail(m, "%s: damaged pickle (no MARK)", m->what);
    return -1;
}

static int rd(vm *m, void *buf, size_t n)
{
    if (fread(buf, 1, n, m->fp) != n) return vfail(m, "%s: truncated pickle", m->what);
    return 0;
}

static uint64_t rd_le(vm *m, int n)
{
    uint8_t b[8] = {0};
    if (rd(m, b, (size_t)n)) return 0;
    uint64_t v = 0;
    for (int k = n - 1; k >= 0; k--) v = (v << 8) | b[k];
    return v;
}

static val *rd_str(vm *m, uint64_t n, int t)
{
    if (m->failed) return NULL;
    if (n > MAX_PICKLE) {
        vfail(m, "%s: damaged pickle (a string of %llu bytes)", m->what, (unsigned long long)n);
        return NULL;
    }
    val *v = vnew(m, t);
    v->s = pcnn_xmalloc((size_t)n + 1);
    v->slen = (size_t)n;
    if (rd(m, v->s, (size_t)n)) return NULL;
    v->s[n] = 0;
    return v;
}

/* A GLOBAL's line "module\n" or "name\n". */
static int rd_line(vm *m, char *buf, size_t cap)
{
    size_t k = 0;
    int c;
    while ((c = getc(m->fp)) != EOF && c != '\n') {
        if (k + 1 >= cap) return vfail(m, "%s: damaged pickle (GLOBAL name too long)", m->what);
        buf[k++] = (char)c;
    }
    if (c == EOF) return vfail(m, "%s: truncated pickle", m->what);
    buf[k] = 0;
    return 0;
}

static val *mk_global(vm *m, const char *mod, const char *name)
{
    val *v = vnew(m, V_GLOBAL);
    size_t n = strlen(mod) + strlen(name) + 2;
    v->s = pcnn_xmalloc(n);
    snprintf(v->s, n, "%s %s", mod, name);
    return v;
}

static int memo_put(vm *m, uint64_t idx, val *v)
{
    if (!v) return -1;
    if (idx >= MAX_MEMO) return vfail(m, "%s: damaged pickle (memo index %llu)", m->what, (unsigned long long)idx);
    if (idx >= m->nmemo) {
        size_t n = m->nmemo ? m->nmemo : 64;
        while (n <= idx) n *= 2;
        m->memo = pcnn_xrealloc(m->memo, n * sizeof *m->memo);
        memset(m->memo + m->nmemo, 0, (n - m->nmemo) * sizeof *m->memo);
        m->nmemo = n;
    }
    m->memo[idx] = v;
    return 0;
}

static int memo_get(vm *m, uint64_t idx)
{
    if (idx >= m->nmemo || !m->memo[idx])
        return vfail(m, "%s: damaged pickle (memo entry %llu unset)", m->what, (unsigned long long)idx);
    return push(m, m->memo[idx]);
}

/* Storage types of torch (legacy typed storages, as named in the persistent ids); the
 * real ones are read (every value converts to double: exactly, but int64 beyond 2^53),
 * complex ones refused. */
static const struct { const char *name; int elsize, kind; } STYPES[] = {
    {"FloatStorage", 4, K_F32}, {"DoubleStorage", 8, K_F64}, {"HalfStorage", 2, K_F16},
    {"BFloat16Storage", 2, K_BF16}, {"LongStorage", 8, K_I64}, {"IntStorage", 4, K_I32},
    {"ShortStorage", 2, K_I16}, {"CharStorage", 1, K_I8}, {"ByteStorage", 1, K_U8},
    {"BoolStorage", 1, K_BOOL}, {"ComplexFloatStorage", 8, K_OTHER}, {"ComplexDoubleStorage", 16, K_OTHER},
};

/* BINPERSID: ('storage', GLOBAL torch.XStorage, key, location, numel[, view]) */
static val *persistent_load(vm *m, val *pid)
{
    if (pid->t != V_TUPLE || pid->n < 5 || pid->items[0]->t != V_STR || strcmp(pid->items[0]->s, "storage") ||
        pid->items[1]->t != V_GLOBAL || pid->items[2]->t != V_STR || pid->items[4]->t != V_INT ||
        pid->items[4]->i < 0) {
        vfail(m, "%s: a persistent id that is not a torch storage", m->what);
        return NULL;
    }
    const char *g = pid->items[1]->s;
    if (strncmp(g, "torch ", 6)) {
        vfail(m, "%s: unknown storage type '%s'", m->what, g);
        return NULL;
    }
    val *s = vnew(m, V_STORAGE);
    s->tname = pcnn_xstrdup(g + 6);
    for (size_t k = 0; k < sizeof STYPES / sizeof *STYPES; k++)
        if (!strcmp(s->tname, STYPES[k].name)) s->elsize = STYPES[k].elsize, s->kind = STYPES[k].kind;
    if (!s->elsize) {
        vfail(m, "%s: unknown storage type '%s'", m->what, g);
        return NULL;
    }
    s->s = pcnn_xstrdup(pid->items[2]->s);
    s->i = pid->items[4]->i;
    return s;
}

static int int_tuple(val *v, int64_t *out, int *n)
{
    if (v->t != V_TUPLE || v->n > MAX_NDIM) return -1;
    for (size_t k = 0; k < v->n; k++) {
        if (v->items[k]->t != V_INT) return -1;
        out[k] = v->items[k]->i;
    }
    *n = (int)v->n;
    return 0;
}

static val *reduce(vm *m, val *fn, val *args)
{
    if (fn->t != V_GLOBAL || args->t != V_TUPLE) return vnew(m, V_OBJ);
    if (!strcmp(fn->s, "collections OrderedDict")) return vnew(m, V_DICT);
    if (!strcmp(fn->s, "torch._utils _rebuild_tensor_v2") || !strcmp(fn->s, "torch._utils _rebuild_tensor")) {
        int n1, n2;
        if (args->n < 4 || args->items[0]->t != V_STORAGE || args->items[1]->t != V_INT ||
            int_tuple(args->items[2], (int64_t[MAX_NDIM]){0}, &n1)) {
            vfail(m, "%s: a damaged tensor record", m->what);
            return NULL;
        }
        val *t = vnew(m, V_TENSOR);
        t->storage = args->items[0];
        t->offset = args->items[1]->i;
        if (int_tuple(args->items[2], t->shape, &t->ndim) || int_tuple(args->items[3], t->stride, &n2) ||
            n2 != t->ndim) {
            vfail(m, "%s: a damaged tensor record", m->what);
            return NULL;
        }
        return t;
    }
    if (!strncmp(fn->s, "torch._utils _rebuild_parameter", 31) && args->n >= 1) return args->items[0];
    return vnew(m, V_OBJ);
}

/* Runs one pickle from m->fp to STOP; returns its value or NULL (m->err says why). */
static val *unpickle(vm *m)
{
    m->sp = 0;
    for (size_t k = 0; k < m->nmemo; k++) m->memo[k] = NULL;
    for (;;) {
        int op = getc(m->fp);
        if (op == EOF) {
            vfail(m, "%s: truncated pickle", m->what);
            return NULL;
        }
        val *v, *a, *b;
        long mk;
        switch (op) {
        case 0x80: rd_le(m, 1); break;                                       /* PROTO */
        case 0x95: rd_le(m, 8); break;                                       /* FRAME */
        case '.':                                                            /* STOP */
            if (m->sp != 1 || m->stack[0] == &MARK_VAL) {
                vfail(m, "%s: damaged pickle (stack at STOP)", m->what);
                return NULL;
            }
            return m->stack[0];
        case '(': push(m, &MARK_VAL); break;                                 /* MARK */
        case '0': pop(m); break;                                             /* POP */
        case '1': if ((mk = find_mark(m)) >= 0) m->sp = (size_t)mk; break;   /* POP_MARK */
        case '2': if ((v = top(m))) push(m, v); break;                       /* DUP */
        case 'N': push(m, vnew(m, V_NONE)); break;
        case 0x88: case 0x89:                                                /* NEWTRUE/FALSE */
            v = vnew(m, V_BOOL), v->i = op == 0x88, push(m, v);
            break;
        case 'J': v = vnew(m, V_INT), v->i = (int32_t)rd_le(m, 4), push(m, v); break;
        case 'K': v = vnew(m, V_INT), v->i = (int64_t)rd_le(m, 1), push(m, v); break;
        case 'M': v = vnew(m, V_INT), v->i = (int64_t)rd_le(m, 2), push(m, v); break;
        case 0x8a: case 0x8b: {                                              /* LONG1, LONG4 */
            uint64_t n = rd_le(m, op == 0x8a ? 1 : 4);
            if (m->failed) break;
            if (n <= 8) {
                uint64_t u = rd_le(m, (int)n);
                if (n && n < 8 && (u >> (8 * n - 1)) & 1) u |= ~(uint64_t)0 << (8 * n);   /* sign */
                v = vnew(m, V_INT), v->i = (int64_t)u;
            } else {
                v = rd_str(m, n, V_BIGINT);
            }
            if (v) push(m, v);
            break;
        }
        case 'G': {                                                          /* BINFLOAT (big endian) */
            uint8_t bb[8];
            if (rd(m, bb, 8)) break;
            uint64_t u = 0;
            for (int k = 0; k < 8; k++) u = (u << 8) | bb[k];
            v = vnew(m, V_FLOAT);
            memcpy(&v->f, &u, 8);
            push(m, v);
            break;
        }
        case 'X': case 'T': case 'B':                                        /* BINUNICODE, BINSTRING, BINBYTES */
            if ((v = rd_str(m, rd_le(m, 4), V_STR))) push(m, v);
            break;
        case 0x8c: case 'U': case 'C':                                       /* SHORT_* */
            if ((v = rd_str(m, rd_le(m, 1), V_STR))) push(m, v);
            break;
        case 0x8d: case 0x8e:                                                /* BINUNICODE8, BINBYTES8 */
            if ((v = rd_str(m, rd_le(m, 8), V_STR))) push(m, v);
            break;
        case ')': push(m, vnew(m, V_TUPLE)); break;                          /* EMPTY_TUPLE */
        case ']': push(m, vnew(m, V_LIST)); break;                           /* EMPTY_LIST */
        case '}': push(m, vnew(m, V_DICT)); break;                           /* EMPTY_DICT */
        case 't': case 'l': case 'd':                                        /* TUPLE, LIST, DICT */
            if ((mk = find_mark(m)) < 0) break;
            v = vnew(m, op == 't' ? V_TUPLE : op == 'l' ? V_LIST : V_DICT);
            if (op == 'd' && (m->sp - (size_t)mk - 1) % 2) {
                vfail(m, "%s: damaged pickle (odd DICT)", m->what);
                break;
            }
            for (size_t k = (size_t)mk + 1; k < m->sp; k++) vadd(v, m->stack[k]);
            m->sp = (size_t)mk;
            push(m, v);
            break;
        case 0x85: case 0x86: case 0x87: {                                   /* TUPLE1..3 */
            int n = op - 0x84;
            if (m->sp < (size_t)n) { vfail(m, "%s: damaged pickle (stack underflow)", m->what); break; }
            v = vnew(m, V_TUPLE);
            for (size_t k = m->sp - (size_t)n; k < m->sp; k++) {
                if (m->stack[k] == &MARK_VAL) { vfail(m, "%s: damaged pickle (MARK in TUPLE%d)", m->what, n); break; }
                vadd(v, m->stack[k]);
            }
            m->sp -= (size_t)n;
            push(m, v);
            break;
        }
        case 'a':                                                            /* APPEND */
            if (!(b = pop(m)) || !(a = top(m))) break;
            if (a->t == V_LIST) vadd(a, b);
            else if (a->t != V_OBJ) vfail(m, "%s: damaged pickle (APPEND to a non-list)", m->what);
            break;
        case 'e':                                                            /* APPENDS */
            if ((mk = find_mark(m)) < 1) { if (mk == 0) vfail(m, "%s: damaged pickle", m->what); break; }
            a = m->stack[mk - 1];
            if (a->t == V_LIST) for (size_t k = (size_t)mk + 1; k < m->sp; k++) vadd(a, m->stack[k]);
            else if (a->t != V_OBJ) vfail(m, "%s: damaged pickle (APPENDS to a non-list)", m->what);
            m->sp = (size_t)mk;
            break;
        case 's': {                                                          /* SETITEM */
            val *value = pop(m), *key = pop(m);
            if (!value || !key || !(a = top(m))) break;
            if (a->t == V_DICT) vadd(a, key), vadd(a, value);
            else if (a->t != V_OBJ) vfail(m, "%s: damaged pickle (SETITEM on a non-dict)", m->what);
            break;
        }
        case 'u':                                                            /* SETITEMS */
            if ((mk = find_mark(m)) < 1) { if (mk == 0) vfail(m, "%s: damaged pickle", m->what); break; }
            a = m->stack[mk - 1];
            if ((m->sp - (size_t)mk - 1) % 2) { vfail(m, "%s: damaged pickle (odd SETITEMS)", m->what); break; }
            if (a->t == V_DICT) for (size_t k = (size_t)mk + 1; k < m->sp; k++) vadd(a, m->stack[k]);
            else if (a->t != V_OBJ) vfail(m, "%s: damaged pickle (SETITEMS on a non-dict)", m->what);
            m->sp = (size_t)mk;
            break;
        case 'c': {                                                          /* GLOBAL */
            char mod[256], name[256];
            if (rd_line(m, mod, sizeof mod) || rd_line(m, name, sizeof name)) break;
            push(m, mk_global(m, mod, name));
            break;
        }
        case 0x93:                                                           /* STACK_GLOBAL */
            if (!(b = pop(m)) || !(a = pop(m))) break;
            if (a->t != V_STR || b->t != V_STR) { vfail(m, "%s: damaged pickle (STACK_GLOBAL)", m->what); break; }
            push(m, mk_global(m, a->s, b->s));
            break;
        case 'q': memo_put(m, rd_le(m, 1), top(m)); break;                   /* BINPUT */
        case 'r': memo_put(m, rd_le(m, 4), top(m)); break;                   /* LONG_BINPUT */
        case 0x94: {                                                         /* MEMOIZE */
            size_t n = 0;
            while (n < m->nmemo && m->memo[n]) n++;   /* the memo's length: it only grows by one */
            memo_put(m, n, top(m));
            break;
        }
        case 'h': memo_get(m, rd_le(m, 1)); break;                           /* BINGET */
        case 'j': memo_get(m, rd_le(m, 4)); break;                           /* LONG_BINGET */
        case 'R':                                                            /* REDUCE */
            if (!(b = pop(m)) || !(a = pop(m))) break;
            if ((v = reduce(m, a, b))) push(m, v);
            break;
        case 0x81:                                                           /* NEWOBJ */
            if (!(b = pop(m)) || !(a = pop(m))) break;
            push(m, vnew(m, V_OBJ));
            break;
        case 'b':                                                            /* BUILD: state ignored */
            if (pop(m)) top(m);
            break;
        case 'Q':                                                            /* BINPERSID */
            if (!(a = pop(m))) break;
            if ((v = persistent_load(m, a))) push(m, v);
            break;
        default:
            vfail(m, "%s: unsupported pickle opcode 0x%02x at byte %ld", m->what, op, ftell(m->fp) - 1);
        }
        if (m->failed) return NULL;
    }
}

/* ---- the checkpoint ---- */

typedef struct ptensor {
    char *name;
    char *key;              /* storage key */
    int elsize, kind;
    char *tname;
    int64_t numel;          /* of the storage, per the pickle */
    int64_t offset, shape[MAX_NDIM], stride[MAX_NDIM];
    int ndim;
} ptensor;

typedef struct pstorage {
    char *key;
    uint64_t pos;           /* file offset of the bytes */
    uint64_t bytes;         /* bytes available there */
} pstorage;

struct pcnn_pth {
    FILE *fp;
    uint8_t *mem;           /* stdin's bytes, under fp (fmemopen) */
    int zip;
    ptensor *t;
    int nt;
    pstorage *st;
    int nst;
    char *stray;            /* the first entry that is not a named tensor, or NULL */
};

static int perr(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int perr(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    return -1;
}

/* The value of d[key] when d is a dict holding key, else NULL. */
static val *dict_get(val *d, const char *key)
{
    for (size_t k = 0; k + 1 < d->n; k += 2)
        if (d->items[k]->t == V_STR && !strcmp(d->items[k]->s, key)) return d->items[k + 1];
    return NULL;
}

/* Collects the tensors of the state_dict d. A checkpoint that wraps it, {"state_dict": {...}}
 * (or "model_state_dict", or "model", looked for in that order), is looked into once. */
static int collect(pcnn_pth *p, val *d, char *err, size_t errlen)
{
    if (d->t != V_DICT) return perr(err, errlen, "the checkpoint holds no dictionary of tensors (not a state_dict)");
    static const char *const wrappers[] = {"state_dict", "model_state_dict", "model"};
    for (size_t w = 0; w < sizeof wrappers / sizeof *wrappers; w++) {
        val *inner = dict_get(d, wrappers[w]);
        if (inner && inner->t == V_DICT) {
            d = inner;
            break;
        }
    }
    p->t = pcnn_xcalloc(d->n / 2 + 1, sizeof *p->t);
    for (size_t k = 0; k + 1 < d->n; k += 2) {
        val *key = d->items[k], *v = d->items[k + 1];
        if (key->t != V_STR || v->t != V_TENSOR) {
            if (!p->stray) p->stray = pcnn_xstrdup(key->t == V_STR ? key->s : "(a key that is not a string)");
            continue;
        }
        ptensor *t = &p->t[p->nt++];
        t->name = pcnn_xstrdup(key->s);
        t->key = pcnn_xstrdup(v->storage->s);
        t->tname = pcnn_xstrdup(v->storage->tname);
        t->elsize = v->storage->elsize;
        t->kind = v->storage->kind;
        t->numel = v->storage->i;
        t->offset = v->offset;
        t->ndim = v->ndim;
        memcpy(t->shape, v->shape, sizeof t->shape);
        memcpy(t->stride, v->stride, sizeof t->stride);
    }
    return 0;
}

static void add_storage(pcnn_pth *p, const char *key, uint64_t pos, uint64_t bytes)
{
    p->st = pcnn_xrealloc(p->st, (size_t)(p->nst + 1) * sizeof *p->st);
    p->st[p->nst++] = (pstorage){pcnn_xstrdup(key), pos, bytes};
}

static int run_pickle(FILE *fp, const char *what, val **out, val **all, char *err, size_t errlen)
{
    vm m = {.fp = fp, .what = what, .err = err, .errlen = errlen};
    *out = unpickle(&m);
    free(m.stack);
    free(m.memo);
    *all = m.all;
    return *out ? 0 : -1;
}

/* ---- zip ---- */

static int rd_at(FILE *fp, uint64_t pos, void *buf, size_t n)
{
    return fseeko(fp, (off_t)pos, SEEK_SET) || fread(buf, 1, n, fp) != n ? -1 : 0;
}

static int open_zip(pcnn_pth *p, uint64_t fsize, char *err, size_t errlen)
{
    /* End of central directory: the last "PK\5\6" within 64 KiB + 22 bytes of the end. */
    size_t tail = fsize < 65557 ? (size_t)fsize : 65557;
    uint8_t *tb = pcnn_xmalloc(tail);
    int rc = -1;
    uint8_t *cd = NULL;
    val *all = NULL;
    char *pkl = NULL;
    if (rd_at(p->fp, fsize - tail, tb, tail)) { perr(err, errlen, "read error"); goto out; }
    long e = -1;
    for (long k = (long)tail - 22; k >= 0; k--)
        if (pcnn_get_u32(tb + k) == 0x06054b50) { e = k; break; }
    if (e < 0) { perr(err, errlen, "damaged zip archive (no end of central directory; truncated?)"); goto out; }
    uint64_t nent = pcnn_get_u16(tb + e + 10), cdsize = pcnn_get_u32(tb + e + 12), cdoff = pcnn_get_u32(tb + e + 16);
    if (nent == 0xffff || cdsize == 0xffffffffu || cdoff == 0xffffffffu) {
        /* zip64: the locator sits 20 bytes before, pointing at the zip64 record */
        uint8_t z[56];
        uint64_t epos = fsize - tail + (uint64_t)e;
        if (epos < 20 || rd_at(p->fp, epos - 20, z, 20) || pcnn_get_u32(z) != 0x07064b50) {
            perr(err, errlen, "damaged zip archive (zip64 locator)");
            goto out;
        }
        uint64_t zpos = pcnn_get_u64(z + 8);
        if (zpos + 56 > fsize || rd_at(p->fp, zpos, z, 56) || pcnn_get_u32(z) != 0x06064b50) {
            perr(err, errlen, "damaged zip archive (zip64 record)");
            goto out;
        }
        nent = pcnn_get_u64(z + 32), cdsize = pcnn_get_u64(z + 40), cdoff = pcnn_get_u64(z + 48);
    }
    if (cdoff > fsize || cdsize > fsize - cdoff || cdsize > ((uint64_t)1 << 30)) {
        perr(err, errlen, "damaged zip archive (central directory outside the file)");
        goto out;
    }
    cd = pcnn_xmalloc((size_t)cdsize + 1);
    if (rd_at(p->fp, cdoff, cd, (size_t)cdsize)) { perr(err, errlen, "read error"); goto out; }
    /* pass 1: find <prefix>/data.pkl; pass 2: the storages <prefix>/data/<key> */
    char prefix[512] = "";
    uint64_t pkl_pos = 0, pkl_size = 0;
    int found = 0;
    for (int pass = 0; pass < 2; pass++) {
        size_t q = 0;
        for (uint64_t k = 0; k < nent; k++) {
            if (q + 46 > cdsize || pcnn_get_u32(cd + q) != 0x02014b50) {
                perr(err, errlen, "damaged zip archive (central directory entry %llu)", (unsigned long long)k);
                goto out;
            }
            int method = pcnn_get_u16(cd + q + 10);
            uint64_t csize = pcnn_get_u32(cd + q + 20), usize = pcnn_get_u32(cd + q + 24);
            size_t nlen = pcnn_get_u16(cd + q + 28), xlen = pcnn_get_u16(cd + q + 30), clen = pcnn_get_u16(cd + q + 32);
            uint64_t lho = pcnn_get_u32(cd + q + 42);
            if (q + 46 + nlen + xlen + clen > cdsize) { perr(err, errlen, "damaged zip archive (central directory)"); goto out; }
            const char *name = (const char *)cd + q + 46;
            /* zip64 extra field: the 0xffffffff fields, in the order usize, csize, offset */
            for (size_t x = 0; x + 4 <= xlen;) {
                const uint8_t *xf = cd + q + 46 + nlen + x;
                size_t id = pcnn_get_u16(xf), sz = pcnn_get_u16(xf + 2), r = 4;
                if (x + 4 + sz > xlen) break;
                if (id == 1) {
                    if (usize == 0xffffffffu && r + 8 <= 4 + sz) usize = pcnn_get_u64(xf + r), r += 8;
                    if (csize == 0xffffffffu && r + 8 <= 4 + sz) csize = pcnn_get_u64(xf + r), r += 8;
                    if (lho == 0xffffffffu && r + 8 <= 4 + sz) lho = pcnn_get_u64(xf + r), r += 8;
                }
                x += 4 + sz;
            }
            q += 46 + nlen + xlen + clen;
            if (pass == 0) {
                if (nlen >= 9 && nlen < sizeof prefix && !memcmp(name + nlen - 9, "/data.pkl", 9) &&
                    !memchr(name, '/', nlen - 9)) {
                    memcpy(prefix, name, nlen - 8);
                    prefix[nlen - 8] = 0;   /* "archive/" */
                    pkl_pos = lho, pkl_size = usize;
                    if (method) { perr(err, errlen, "%.*s is compressed (method %d): torch.save stores entries", (int)nlen, name, method); goto out; }
                    found = 1;
                }
                continue;
            }
            size_t pl = strlen(prefix);
            if (nlen <= pl + 5 || memcmp(name, prefix, pl) || memcmp(name + pl, "data/", 5)) continue;
            /* data starts after the local header: 30 bytes + its own name and extra lengths */
            uint8_t lh[30];
            if (lho + 30 > fsize || rd_at(p->fp, lho, lh, 30) || pcnn_get_u32(lh) != 0x04034b50) {
                perr(err, errlen, "damaged zip archive (local header of %.*s)", (int)nlen, name);
                goto out;
            }
            uint64_t pos = lho + 30 + pcnn_get_u16(lh + 26) + pcnn_get_u16(lh + 28);
            if (method) { perr(err, errlen, "%.*s is compressed (method %d): torch.save stores entries", (int)nlen, name, method); goto out; }
            if (pos > fsize || csize > fsize - pos) { perr(err, errlen, "damaged zip archive (%.*s beyond the end; truncated?)", (int)nlen, name); goto out; }
            char key[256];
            snprintf(key, sizeof key, "%.*s", (int)(nlen - pl - 5), name + pl + 5);
            add_storage(p, key, pos, usize);
        }
        if (pass == 0 && !found) {
            perr(err, errlen, "a zip archive without data.pkl (not a PyTorch checkpoint)");
            goto out;
        }
    }
    /* the pickle */
    uint8_t lh[30];
    if (pkl_pos + 30 > fsize || rd_at(p->fp, pkl_pos, lh, 30) || pcnn_get_u32(lh) != 0x04034b50) {
        perr(err, errlen, "damaged zip archive (local header of data.pkl)");
        goto out;
    }
    uint64_t pos = pkl_pos + 30 + pcnn_get_u16(lh + 26) + pcnn_get_u16(lh + 28);
    if (pkl_size > MAX_PICKLE || pos > fsize || pkl_size > fsize - pos) {
        perr(err, errlen, "damaged zip archive (data.pkl beyond the end; truncated?)");
        goto out;
    }
    pkl = pcnn_xmalloc((size_t)pkl_size + 1);
    if (rd_at(p->fp, pos, pkl, (size_t)pkl_size)) { perr(err, errlen, "read error"); goto out; }
    FILE *mf = fmemopen(pkl, (size_t)pkl_size, "rb");
    if (!mf) { perr(err, errlen, "%s", strerror(errno)); goto out; }
    val *d;
    rc = run_pickle(mf, "data.pkl", &d, &all, err, errlen);
    fclose(mf);
    if (!rc) rc = collect(p, d, err, errlen);
out:
    vfree_all(all);
    free(pkl);
    free(cd);
    free(tb);
    return rc;
}

/* ---- legacy ---- */

static int open_legacy(pcnn_pth *p, uint64_t fsize, char *err, size_t errlen)
{
    static const uint8_t MAGIC[10] = {0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19};
    val *v = NULL, *all = NULL, *keys = NULL, *kall = NULL;
    int rc = -1;
    rewind(p->fp);
    if (run_pickle(p->fp, "the magic number", &v, &all, err, errlen)) goto out;
    if (v->t != V_BIGINT || v->slen != 10 || memcmp(v->s, MAGIC, 10)) {
        perr(err, errlen, "not a PyTorch checkpoint (a pickle without torch.save's magic number)");
        goto out;
    }
    vfree_all(all), all = NULL;
    if (run_pickle(p->fp, "the protocol version", &v, &all, err, errlen)) goto out;
    if (v->t != V_INT || v->i != 1001) {
        perr(err, errlen, "unknown torch.save protocol version (expected 1001)");
        goto out;
    }
    vfree_all(all), all = NULL;
    if (run_pickle(p->fp, "sys_info", &v, &all, err, errlen)) goto out;
    if (v->t == V_DICT)
        for (size_t k = 0; k + 1 < v->n; k += 2)
            if (v->items[k]->t == V_STR && !strcmp(v->items[k]->s, "little_endian") &&
                v->items[k + 1]->t == V_BOOL && !v->items[k + 1]->i) {
                perr(err, errlen, "a big-endian checkpoint (pcnn reads little-endian ones)");
                goto out;
            }
    vfree_all(all), all = NULL;
    if (run_pickle(p->fp, "the state_dict pickle", &v, &all, err, errlen)) goto out;
    if (collect(p, v, err, errlen)) goto out;
    if (run_pickle(p->fp, "the storage keys", &keys, &kall, err, errlen)) goto out;
    if (keys->t != V_LIST) { perr(err, errlen, "damaged checkpoint (storage keys not a list)"); goto out; }
    /* each storage: int64 element count, then count * element size bytes */
    uint64_t pos = (uint64_t)ftello(p->fp);
    for (size_t k = 0; k < keys->n; k++) {
        if (keys->items[k]->t != V_STR) { perr(err, errlen, "damaged checkpoint (a storage key not a string)"); goto out; }
        const char *key = keys->items[k]->s;
        int elsize = 0;   /* from any storage of the pickle (tensors outside the state_dict too) */
        for (val *u = all; u && !elsize; u = u->next)
            if (u->t == V_STORAGE && !strcmp(u->s, key)) elsize = u->elsize;
        if (!elsize) { perr(err, errlen, "damaged checkpoint (storage %s used by no tensor)", key); goto out; }
        uint8_t nb[8];
        if (rd_at(p->fp, pos, nb, 8)) { perr(err, errlen, "truncated checkpoint (storage %s missing)", key); goto out; }
        uint64_t n = pcnn_get_u64(nb);
        pos += 8;
        if (n > (fsize - pos) / (uint64_t)elsize) {
            perr(err, errlen, "truncated checkpoint (storage %s: %llu elements, the file ends first)", key,
                 (unsigned long long)n);
            goto out;
        }
        add_storage(p, key, pos, n * (uint64_t)elsize);
        pos += n * (uint64_t)elsize;
    }
    rc = 0;
out:
    vfree_all(all);
    vfree_all(kall);
    return rc;
}

/* All of stdin, in memory (a pipe cannot seek). NULL with a reason in err. */
static uint8_t *slurp_stdin(size_t *len, char *err, size_t errlen)
{
    size_t n = 0, cap = 1 << 16;
    uint8_t *buf = pcnn_xmalloc(cap);
    for (;;) {
        if (n == cap) buf = pcnn_xrealloc(buf, cap *= 2);
        size_t got = fread(buf + n, 1, cap - n, stdin);
        n += got;
        if (got == 0) break;
    }
    if (ferror(stdin)) {
        perr(err, errlen, "read error: %s", strerror(errno));
        free(buf);
        return NULL;
    }
    *len = n;
    return buf;
}

pcnn_pth *pcnn_pth_open(const char *path, char *err, size_t errlen)
{
    FILE *fp;
    uint8_t *mem = NULL;
    uint64_t fsize;
    if (!strcmp(path, "-")) {
        size_t n;
        if (!(mem = slurp_stdin(&n, err, errlen))) return NULL;
        if (n == 0) {
            free(mem);
            perr(err, errlen, "an empty file (not a PyTorch checkpoint)");
            return NULL;
        }
        if (!(fp = fmemopen(mem, n, "rb"))) {
            perr(err, errlen, "%s", strerror(errno));
            free(mem);
            return NULL;
        }
        fsize = n;
    } else {
        if (!(fp = fopen(path, "rb"))) {
            perr(err, errlen, "%s", strerror(errno));
            return NULL;
        }
        struct stat sb;
        if (fstat(fileno(fp), &sb) || !S_ISREG(sb.st_mode)) {
            perr(err, errlen, "%s", S_ISDIR(sb.st_mode) ? "a folder, not a file" : "not a regular file");
            fclose(fp);
            return NULL;
        }
        fsize = (uint64_t)sb.st_size;
    }
    uint8_t head[4] = {0};
    size_t got = fread(head, 1, 4, fp);
    pcnn_pth *p = pcnn_xcalloc(1, sizeof *p);
    p->fp = fp;
    p->mem = mem;
    int rc;
    if (got == 4 && pcnn_get_u32(head) == 0x04034b50) {
        p->zip = 1;
        rc = open_zip(p, fsize, err, errlen);
    } else if (got >= 2 && head[0] == 0x80 && head[1] >= 2 && head[1] <= 5) {
        rc = open_legacy(p, fsize, err, errlen);
    } else {
        rc = perr(err, errlen, "%s", fsize ? "not a PyTorch checkpoint (neither a zip archive nor a pickle)"
                                           : "an empty file (not a PyTorch checkpoint)");
    }
    if (rc) {
        pcnn_pth_close(p);
        return NULL;
    }
    return p;
}

const char *pcnn_pth_format(const pcnn_pth *p) { return p->zip ? "zip" : "legacy"; }
int pcnn_pth_count(const pcnn_pth *p) { return p->nt; }
const char *pcnn_pth_name(const pcnn_pth *p, int i) { return p->t[i].name; }
const char *pcnn_pth_stray(const pcnn_pth *p) { return p->stray; }

static const ptensor *find(const pcnn_pth *p, const char *name)
{
    for (int i = 0; i < p->nt; i++)
        if (!strcmp(p->t[i].name, name)) return &p->t[i];
    return NULL;
}

int pcnn_pth_has(const pcnn_pth *p, const char *name) { return find(p, name) != NULL; }

int pcnn_pth_shape(const pcnn_pth *p, const char *name, int64_t *shape)
{
    const ptensor *t = find(p, name);
    if (!t) return -1;
    memcpy(shape, t->shape, (size_t)t->ndim * sizeof *shape);
    return t->ndim;
}

static void shape_str(char *buf, size_t cap, int ndim, const int64_t *shape)
{
    size_t n = (size_t)snprintf(buf, cap, "[");
    for (int k = 0; k < ndim && n < cap; k++)
        n += (size_t)snprintf(buf + n, cap - n, "%s%lld", k ? ", " : "", (long long)shape[k]);
    if (n < cap) snprintf(buf + n, cap - n, "]");
}

/* IEEE half and bfloat16 to float: exact. */
static float half_to_float(uint16_t h)
{
    uint32_t sign = (uint32_t)(h >> 15) << 31, e = (h >> 10) & 31, m = h & 1023, bits;
    if (e == 31) bits = sign | 0x7f800000u | (m << 13);                  /* inf, NaN */
    else if (e) bits = sign | ((e + 112) << 23) | (m << 13);              /* normal */
    else {
        float f = (float)m * 0x1p-24f;                                    /* subnormal or 0 */
        return sign ? -f : f;
    }
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

static double element(const uint8_t *b, int kind)
{
    float f;
    double d;
    uint32_t u;
    switch (kind) {
    case K_F32: memcpy(&f, b, 4); return f;
    case K_F64: memcpy(&d, b, 8); return d;
    case K_F16: return half_to_float((uint16_t)(b[0] | b[1] << 8));
    case K_BF16: u = (uint32_t)(b[0] | b[1] << 8) << 16; memcpy(&f, &u, 4); return f;
    case K_I64: return (double)(int64_t)pcnn_get_u64(b);
    case K_I32: return (int32_t)pcnn_get_u32(b);
    case K_I16: return (int16_t)pcnn_get_u16(b);
    case K_I8: return (int8_t)b[0];
    case K_U8: return b[0];
    default: return b[0] != 0;   /* K_BOOL */
    }
}

/* Reads tensor t (whatever its strides: a view's elements are gathered in row-major order)
 * into outf (as float) or outd (as double). */
static int read_tensor(pcnn_pth *p, const ptensor *t, float *outf, double *outd, char *err, size_t errlen)
{
    const char *name = t->name;
    if (t->kind == K_OTHER || (outf && !IS_FLOAT(t->kind)))
        return perr(err, errlen, "tensor '%s' is a %s (pcnn reads %s)", name, t->tname,
                    outf ? "float32, float64, float16 and bfloat16" : "real numbers, not complex ones");
    int ndim = t->ndim;
    uint64_t n = 1, last = 0;   /* elements; the storage index of the last one, from the offset */
    int contiguous = 1;
    for (int k = ndim - 1; k >= 0; k--) {
        if (t->shape[k] < 0 || t->stride[k] < 0) return perr(err, errlen, "tensor '%s': a damaged tensor record", name);
        if (t->shape[k] == 0) return 0;
        if (t->shape[k] != 1 && (uint64_t)t->stride[k] != n) contiguous = 0;
        if ((uint64_t)t->shape[k] > ((uint64_t)1 << 40) / n ||
            (uint64_t)t->stride[k] > ((uint64_t)1 << 40) / (uint64_t)t->shape[k])
            return perr(err, errlen, "tensor '%s': a damaged tensor record (too large)", name);
        n *= (uint64_t)t->shape[k];
        last += (uint64_t)(t->shape[k] - 1) * (uint64_t)t->stride[k];
    }
    const pstorage *s = NULL;
    for (int i = 0; i < p->nst && !s; i++)
        if (!strcmp(p->st[i].key, t->key)) s = &p->st[i];
    if (!s) return perr(err, errlen, "tensor '%s': its storage %s is missing from the file", name, t->key);
    uint64_t es = (uint64_t)t->elsize, avail = s->bytes / es;
    if (t->offset < 0 || (uint64_t)t->offset >= avail || last >= avail - (uint64_t)t->offset)
        return perr(err, errlen, "tensor '%s' reaches beyond its storage (truncated or damaged file)", name);
    uint64_t first = (uint64_t)t->offset * es, span = (last + 1) * es;
    if (contiguous && t->kind == K_F32 && outf) {   /* the common case: straight into out */
        if (rd_at(p->fp, s->pos + first, outf, (size_t)span))
            return perr(err, errlen, "tensor '%s': read error (truncated file?)", name);
        return 0;
    }
    uint8_t *raw = pcnn_xmalloc((size_t)span);
    if (rd_at(p->fp, s->pos + first, raw, (size_t)span)) {
        free(raw);
        return perr(err, errlen, "tensor '%s': read error (truncated file?)", name);
    }
    int64_t idx[MAX_NDIM] = {0};
    uint64_t at = 0;   /* storage index of element idx, from the offset */
    for (uint64_t j = 0; j < n; j++) {
        double v = element(raw + at * es, t->kind);
        if (outd) outd[j] = v;
        else outf[j] = (float)v;
        for (int k = ndim - 1; k >= 0; k--) {   /* next row-major index */
            if (++idx[k] < t->shape[k]) {
                at += (uint64_t)t->stride[k];
                break;
            }
            at -= (uint64_t)(t->shape[k] - 1) * (uint64_t)t->stride[k];
            idx[k] = 0;
        }
    }
    free(raw);
    return 0;
}

int pcnn_pth_read(pcnn_pth *p, const char *name, int ndim, const int64_t *shape, float *out,
                  char *err, size_t errlen)
{
    const ptensor *t = find(p, name);
    if (!t) return perr(err, errlen, "no tensor '%s'", name);
    int same = t->ndim == ndim;
    for (int k = 0; same && k < ndim; k++) same = t->shape[k] == shape[k];
    if (!same) {
        char a[128], b[128];
        shape_str(a, sizeof a, t->ndim, t->shape);
        shape_str(b, sizeof b, ndim, shape);
        return perr(err, errlen, "tensor '%s' has shape %s, expected %s", name, a, b);
    }
    return read_tensor(p, t, out, NULL, err, errlen);
}

int pcnn_pth_read_f64(pcnn_pth *p, const char *name, double *out, char *err, size_t errlen)
{
    const ptensor *t = find(p, name);
    if (!t) return perr(err, errlen, "no tensor '%s'", name);
    return read_tensor(p, t, NULL, out, err, errlen);
}

void pcnn_pth_close(pcnn_pth *p)
{
    if (!p) return;
    if (p->fp) fclose(p->fp);
    free(p->mem);
    for (int i = 0; i < p->nt; i++) free(p->t[i].name), free(p->t[i].key), free(p->t[i].tname);
    for (int i = 0; i < p->nst; i++) free(p->st[i].key);
    free(p->t);
    free(p->st);
    free(p->stray);
    free(p);
}
