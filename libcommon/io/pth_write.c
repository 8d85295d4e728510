/* pth_write.c — a state_dict as torch.save writes it: the pickle and the zip (pth_write.h). */
#include "io/pth_write.h"

#include "util.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#define ARCHIVE "archive"   /* the record prefix torch.save uses for a buffer */
#define ALIGN 64            /* PyTorchStreamWriter's kFieldAlignment */
#define BATCH 1000          /* the pickler's SETITEMS batch (pickle._BATCHSIZE) */
#define NOMEMO UINT32_MAX

/* ---- the pickle: Python's pickler, protocol 2 ---- */

typedef struct pk {
    uint8_t *b;
    size_t n, cap;
    uint32_t memo;          /* entries in the memo so far: the next BINPUT's index */
} pk;

static void pk_put(pk *k, const void *p, size_t n)
{
    if (k->n + n > k->cap) {
        while (k->n + n > k->cap) k->cap = k->cap ? 2 * k->cap : 4096;
        k->b = pcnn_xrealloc(k->b, k->cap);
    }
    memcpy(k->b + k->n, p, n);
    k->n += n;
}

static void pk_op(pk *k, uint8_t op) { pk_put(k, &op, 1); }

static void pk_u32(pk *k, uint32_t v)
{
    uint8_t b[4];
    pcnn_put_u32(b, v);
    pk_put(k, b, 4);
}

/* BINPUT / LONG_BINPUT of the object just written; returns its memo index. */
static uint32_t pk_memoize(pk *k)
{
    uint32_t i = k->memo++;
    if (i < 256) {
        pk_op(k, 'q');
        pk_op(k, (uint8_t)i);
    } else {
        pk_op(k, 'r');
        pk_u32(k, i);
    }
    return i;
}

/* BINGET / LONG_BINGET */
static void pk_get(pk *k, uint32_t i)
{
    if (i < 256) {
        pk_op(k, 'h');
        pk_op(k, (uint8_t)i);
    } else {
        pk_op(k, 'j');
        pk_u32(k, i);
    }
}

/* BINUNICODE (protocols < 4 have no short form), memoised. */
static uint32_t pk_str(pk *k, const char *s)
{
    size_t n = strlen(s);
    pk_op(k, 'X');
    pk_u32(k, (uint32_t)n);
    pk_put(k, s, n);
    return pk_memoize(k);
}

/* A string constant the pickler meets as one object: written once, then fetched. */
static void pk_const_str(pk *k, const char *s, uint32_t *slot)
{
    if (*slot == NOMEMO) *slot = pk_str(k, s);
    else pk_get(k, *slot);
}

/* GLOBAL "module\nname\n", memoised on first use. */
static void pk_global(pk *k, const char *mod, const char *name, uint32_t *slot)
{
    if (*slot != NOMEMO) {
        pk_get(k, *slot);
        return;
    }
    pk_op(k, 'c');
    pk_put(k, mod, strlen(mod));
    pk_op(k, '\n');
    pk_put(k, name, strlen(name));
    pk_op(k, '\n');
    *slot = pk_memoize(k);
}

/* save_long: BININT1, BININT2, BININT, else LONG1 (two's complement, fewest bytes). */
static void pk_int(pk *k, int64_t v)
{
    if (v >= 0 && v <= 0xff) {
        pk_op(k, 'K');
        pk_op(k, (uint8_t)v);
    } else if (v >= 0 && v <= 0xffff) {
        uint8_t b[2];
        pcnn_put_u16(b, (uint16_t)v);
        pk_op(k, 'M');
        pk_put(k, b, 2);
    } else if (v >= INT32_MIN && v <= INT32_MAX) {
        pk_op(k, 'J');
        pk_u32(k, (uint32_t)(int32_t)v);
    } else {
        uint8_t b[8];
        pcnn_put_u64(b, (uint64_t)v);
        int n = 8;
        /* drop sign-extension bytes while the byte below still carries the sign */
        while (n > 1 && ((b[n - 1] == 0 && !(b[n - 2] & 0x80)) || (b[n - 1] == 0xff && (b[n - 2] & 0x80)))) n--;
        pk_op(k, 0x8a);
        pk_op(k, (uint8_t)n);
        pk_put(k, b, (size_t)n);
    }
}

/* A tuple of ints: EMPTY_TUPLE, TUPLE1..3, or MARK ... TUPLE; memoised unless empty. */
static void pk_int_tuple(pk *k, const int64_t *v, int n)
{
    if (n == 0) {
        pk_op(k, ')');
        return;
    }
    if (n > 3) pk_op(k, '(');
    for (int i = 0; i < n; i++) pk_int(k, v[i]);
    pk_op(k, n > 3 ? 't' : (uint8_t)(0x84 + n));
    pk_memoize(k);
}

typedef struct memo_slots {
    uint32_t odict, rebuild, storage, ftype, cpu;
} memo_slots;

/* name -> _rebuild_tensor_v2(('storage', torch.FloatStorage, key, 'cpu', numel), 0, size,
 * stride, False, OrderedDict()) as torch's pickler writes a contiguous float32 tensor. */
static void pk_tensor(pk *k, memo_slots *ms, const pcnn_pth_entry *t, const char *key, int64_t numel)
{
    pk_str(k, t->name);
    pk_global(k, "torch._utils", "_rebuild_tensor_v2", &ms->rebuild);
    pk_op(k, '(');                       /* the arguments: 6, so MARK ... TUPLE */
    pk_op(k, '(');                       /* the persistent id: 5 */
    pk_const_str(k, "storage", &ms->storage);
    pk_global(k, "torch", "FloatStorage", &ms->ftype);
    pk_str(k, key);
    pk_const_str(k, "cpu", &ms->cpu);
    pk_int(k, numel);
    pk_op(k, 't');
    pk_memoize(k);
    pk_op(k, 'Q');                       /* BINPERSID */
    pk_int(k, 0);                        /* storage offset */
    int64_t stride[4], s = 1;
    for (int d = t->ndim - 1; d >= 0; d--) {
        stride[d] = s;
        s *= t->shape[d];
    }
    pk_int_tuple(k, t->shape, t->ndim);
    pk_int_tuple(k, stride, t->ndim);
    pk_op(k, 0x89);                      /* requires_grad False */
    pk_global(k, "collections", "OrderedDict", &ms->odict);
    pk_op(k, ')');
    pk_op(k, 'R');                       /* backward_hooks = OrderedDict() */
    pk_memoize(k);
    pk_op(k, 't');
    pk_memoize(k);
    pk_op(k, 'R');
    pk_memoize(k);
}

/* ---- the zip: PyTorchStreamWriter over miniz ---- */

typedef struct zrec {
    char *name;
    uint32_t crc;
    uint64_t size, lho;     /* data bytes; offset of the local header */
} zrec;

typedef struct zw {
    FILE *fp;
    uint64_t pos;
    int err;                /* errno of the first failure, 0 while fine */
    zrec *r;
    int nr;
    uint32_t crc;           /* of the current record's data */
} zw;

static void zw_put(zw *z, const void *p, size_t n)
{
    if (z->err || n == 0) return;
    if (fwrite(p, 1, n, z->fp) != n) z->err = errno ? errno : EIO;
    z->pos += n;
}

static void zw_u16(zw *z, uint16_t v) { uint8_t b[2]; pcnn_put_u16(b, v); zw_put(z, b, 2); }
static void zw_u32(zw *z, uint32_t v) { uint8_t b[4]; pcnn_put_u32(b, v); zw_put(z, b, 4); }
static void zw_u64(zw *z, uint64_t v) { uint8_t b[8]; pcnn_put_u64(b, v); zw_put(z, b, 8); }

/* The local header of record "archive/<name>" holding size bytes, padded so that the data
 * starts at a multiple of ALIGN (getPadding of caffe2's inline_container.cc). */
static void zw_begin(zw *z, const char *name, uint64_t size)
{
    char full[256];
    int nlen = snprintf(full, sizeof full, "%s/%s", ARCHIVE, name);
    if (nlen < 0 || (size_t)nlen >= sizeof full) {
        if (!z->err) z->err = EINVAL;
        return;
    }
    uint64_t start = z->pos + 30 + (uint64_t)nlen + 4, pad = (ALIGN - start % ALIGN) % ALIGN;
    if (start + pad + size + 16 >= 0xffffffffu) {   /* would need zip64 fields */
        if (!z->err) z->err = EFBIG;
        return;
    }
    z->r = pcnn_xrealloc(z->r, (size_t)(z->nr + 1) * sizeof *z->r);
    z->r[z->nr++] = (zrec){pcnn_xstrdup(full), 0, size, z->pos};
    zw_u32(z, 0x04034b50);
    zw_u16(z, 0);                        /* version needed */
    zw_u16(z, 0x0808);                   /* data descriptor, UTF-8 name */
    zw_u16(z, 0);                        /* stored */
    zw_u16(z, 0);                        /* time */
    zw_u16(z, 0);                        /* date */
    zw_u32(z, 0);                        /* crc, sizes: in the data descriptor */
    zw_u32(z, 0);
    zw_u32(z, 0);
    zw_u16(z, (uint16_t)nlen);
    zw_u16(z, (uint16_t)(pad + 4));
    zw_put(z, full, (size_t)nlen);
    uint8_t extra[4 + ALIGN];
    extra[0] = 'F', extra[1] = 'B';
    pcnn_put_u16(extra + 2, (uint16_t)pad);
    memset(extra + 4, 'Z', (size_t)pad);
    zw_put(z, extra, (size_t)(4 + pad));
    z->crc = (uint32_t)crc32(0, NULL, 0);
}

static void zw_data(zw *z, const void *p, size_t n)
{
    z->crc = (uint32_t)crc32(z->crc, p, (uInt)n);
    zw_put(z, p, n);
}

static void zw_end(zw *z)
{
    if (z->err) return;
    zrec *r = &z->r[z->nr - 1];
    r->crc = z->crc;
    zw_u32(z, 0x08074b50);
    zw_u32(z, r->crc);
    zw_u32(z, (uint32_t)r->size);
    zw_u32(z, (uint32_t)r->size);
}

static void zw_record(zw *z, const char *name, const void *p, size_t n)
{
    zw_begin(z, name, n);
    zw_data(z, p, n);
    zw_end(z);
}

/* Central directory, zip64 end record and locator, end record. */
static void zw_finish(zw *z)
{
    uint64_t cd = z->pos;
    for (int i = 0; i < z->nr; i++) {
        const zrec *r = &z->r[i];
        zw_u32(z, 0x02014b50);
        zw_u16(z, 0);                    /* version made by */
        zw_u16(z, 0);                    /* version needed */
        zw_u16(z, 0x0808);
        zw_u16(z, 0);                    /* stored */
        zw_u16(z, 0);
        zw_u16(z, 0);
        zw_u32(z, r->crc);
        zw_u32(z, (uint32_t)r->size);
        zw_u32(z, (uint32_t)r->size);
        zw_u16(z, (uint16_t)strlen(r->name));
        zw_u16(z, 0);                    /* extra */
        zw_u16(z, 0);                    /* comment */
        zw_u16(z, 0);                    /* disk */
        zw_u16(z, 0);                    /* internal attributes */
        zw_u32(z, 0);                    /* external attributes */
        zw_u32(z, (uint32_t)r->lho);
        zw_put(z, r->name, strlen(r->name));
    }
    uint64_t cdsize = z->pos - cd, z64 = z->pos, n = (uint64_t)z->nr;
    if (z->pos >= 0xffffffffu && !z->err) z->err = EFBIG;
    zw_u32(z, 0x06064b50);
    zw_u64(z, 44);                       /* size of the rest of this record */
    zw_u16(z, 0x031e);                   /* made by: unix, 3.0 */
    zw_u16(z, 0x002d);                   /* needed: 4.5 (zip64) */
    zw_u32(z, 0);
    zw_u32(z, 0);
    zw_u64(z, n);
    zw_u64(z, n);
    zw_u64(z, cdsize);
    zw_u64(z, cd);
    zw_u32(z, 0x07064b50);
    zw_u32(z, 0);
    zw_u64(z, z64);
    zw_u32(z, 1);
    zw_u32(z, 0x06054b50);
    zw_u16(z, 0);
    zw_u16(z, 0);
    zw_u16(z, (uint16_t)(n < 0xffff ? n : 0xffff));
    zw_u16(z, (uint16_t)(n < 0xffff ? n : 0xffff));
    zw_u32(z, (uint32_t)cdsize);
    zw_u32(z, (uint32_t)cd);
    zw_u16(z, 0);
}

/* The storage keys "0", "1", ... ordered as strings (sorted(serialized_storages)). */
static int cmp_key(const void *a, const void *b)
{
    char x[24], y[24];
    snprintf(x, sizeof x, "%d", *(const int *)a);
    snprintf(y, sizeof y, "%d", *(const int *)b);
    return strcmp(x, y);
}

static int64_t numel_of(const pcnn_pth_entry *t)
{
    int64_t n = 1;
    for (int d = 0; d < t->ndim; d++) n *= t->shape[d];
    return n;
}

int pcnn_pth_write(FILE *fp, const pcnn_pth_entry *t, int n)
{
    for (int i = 0; i < n; i++) {
        if (!t[i].name || !t[i].name[0] || t[i].ndim < 0 || t[i].ndim > 4 || (!t[i].data && numel_of(&t[i]))) {
            errno = EINVAL;
            return -1;
        }
        for (int d = 0; d < t[i].ndim; d++)
            if (t[i].shape[d] < 0 || t[i].shape[d] > ((int64_t)1 << 32)) {
                errno = EINVAL;
                return -1;
            }
    }
    /* data.pkl */
    pk k = {0};
    memo_slots ms = {NOMEMO, NOMEMO, NOMEMO, NOMEMO, NOMEMO};
    pk_op(&k, 0x80);
    pk_op(&k, 2);                        /* PROTO 2 */
    pk_global(&k, "collections", "OrderedDict", &ms.odict);
    pk_op(&k, ')');
    pk_op(&k, 'R');
    pk_memoize(&k);
    for (int b = 0; b < n; b += BATCH) {
        int e = b + BATCH < n ? b + BATCH : n;
        if (e - b > 1) pk_op(&k, '(');
        for (int i = b; i < e; i++) {
            char key[24];
            snprintf(key, sizeof key, "%d", i);
            pk_tensor(&k, &ms, &t[i], key, numel_of(&t[i]));
        }
        pk_op(&k, e - b > 1 ? 'u' : 's');
    }
    pk_op(&k, '.');

    zw z = {.fp = fp};
    zw_record(&z, "data.pkl", k.b, k.n);
    free(k.b);
    int *order = pcnn_xmalloc((size_t)(n ? n : 1) * sizeof *order);
    for (int i = 0; i < n; i++) order[i] = i;
    qsort(order, (size_t)n, sizeof *order, cmp_key);
    uint8_t chunk[4096];
    for (int j = 0; j < n && !z.err; j++) {
        const pcnn_pth_entry *e = &t[order[j]];
        char name[32];
        snprintf(name, sizeof name, "data/%d", order[j]);
        uint64_t count = (uint64_t)numel_of(e);
        zw_begin(&z, name, count * 4);
        for (uint64_t i = 0; i < count && !z.err;) {   /* float32, little-endian */
            size_t m = 0;
            for (; m < sizeof chunk / 4 && i < count; m++, i++) {
                uint32_t bits;
                memcpy(&bits, &e->data[i], 4);
                pcnn_put_u32(chunk + 4 * m, bits);
            }
            zw_data(&z, chunk, 4 * m);
        }
        zw_end(&z);
    }
    free(order);
    zw_record(&z, "version", "3\n", 2);
    zw_record(&z, "byteorder", "little", 6);
    if (!z.err) zw_finish(&z);
    for (int i = 0; i < z.nr; i++) free(z.r[i].name);
    free(z.r);
    if (!z.err && fflush(fp)) z.err = errno ? errno : EIO;
    if (z.err) {
        errno = z.err;
        return -1;
    }
    return 0;
}
