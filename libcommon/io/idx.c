/* idx.c — IDX reader (MNIST layout) over zlib's gz* functions; see idx.h. */
#include "io/idx.h"

#include "util.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

static const char *gzwhy(gzFile g)
{
    int e;
    const char *m = gzerror(g, &e);
    if (e == Z_ERRNO) return strerror(errno ? errno : EIO);
    return m && *m ? m : "read error";
}

/* Reads up to n bytes; returns the count, or -1 on a gzip/read error. */
static long long gzread_all(gzFile g, void *p, size_t n)
{
    size_t got = 0;
    while (got < n) {
        size_t want = n - got > (1u << 30) ? (1u << 30) : n - got;
        int r = gzread(g, (char *)p + got, (unsigned)want);
        if (r < 0) return -1;
        if (r == 0) break;
        got += (size_t)r;
    }
    return (long long)got;
}

pcnn_idx *pcnn_idx_read(const char *path, int ndims)
{
    errno = 0;
    gzFile g = gzopen(path, "rb");
    if (!g) {
        pcnn_warn("%s: cannot open: %s", path, strerror(errno ? errno : ENOMEM));
        return NULL;
    }
    pcnn_idx *x = NULL;
    uint8_t hd[4 + 4 * 3];
    size_t hn = 4 + 4 * (size_t)ndims;
    long long got = gzread_all(g, hd, hn);
    if (got < 0) {
        pcnn_warn("%s: %s", path, gzwhy(g));
        goto fail;
    }
    if ((size_t)got < hn) {
        pcnn_warn("%s: truncated IDX header (%lld of %zu bytes)", path, got, hn);
        goto fail;
    }
    if (hd[0] || hd[1] || hd[2] != 0x08 || hd[3] != ndims) {
        pcnn_warn("%s: not an IDX %s file (magic %02x %02x %02x %02x, expected 00 00 08 %02x)", path,
                  ndims == 3 ? "images" : "labels", hd[0], hd[1], hd[2], hd[3], ndims);
        goto fail;
    }
    x = pcnn_xcalloc(1, sizeof *x);
    x->ndims = ndims;
    uint64_t total = 1;
    for (int d = 0; d < ndims; d++) {
        const uint8_t *p = hd + 4 + 4 * d;
        x->dims[d] = (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
        if (x->dims[d] == 0 || (d > 0 && x->dims[d] > PCNN_IDX_MAX_SIDE)) {
            pcnn_warn("%s: bad IDX size %u in dimension %d", path, x->dims[d], d);
            goto fail;
        }
        total *= x->dims[d];
        if (total > PCNN_IDX_MAX_BYTES) {
            pcnn_warn("%s: IDX data too large (over %llu bytes)", path,
                      (unsigned long long)PCNN_IDX_MAX_BYTES);
            goto fail;
        }
    }
    x->size = (size_t)total;
    /* Grow with what is read: a lying header costs nothing. */
    size_t cap = 0, have = 0;
    while (have < x->size) {
        size_t want = x->size - have;
        if (want > ((size_t)16 << 20)) want = (size_t)16 << 20;
        if (have + want > cap) {
            cap = have + want > 2 * cap ? have + want : 2 * cap;
            if (cap > x->size) cap = x->size;
            x->data = pcnn_xrealloc(x->data, cap);
        }
        long long r = gzread_all(g, x->data + have, want);
        if (r < 0) {
            pcnn_warn("%s: %s", path, gzwhy(g));
            goto fail;
        }
        have += (size_t)r;
        if ((size_t)r < want) {
            pcnn_warn("%s: truncated IDX data (%zu of %zu bytes)", path, have, x->size);
            goto fail;
        }
    }
    uint8_t extra;
    got = gzread_all(g, &extra, 1);
    if (got < 0) {
        pcnn_warn("%s: %s", path, gzwhy(g));
        goto fail;
    }
    if (got > 0) {
        pcnn_warn("%s: extra bytes after the IDX data (the sizes say %zu bytes)", path, x->size);
        goto fail;
    }
    gzclose(g);
    return x;
fail:
    gzclose(g);
    pcnn_idx_free(x);
    return NULL;
}

void pcnn_idx_free(pcnn_idx *x)
{
    if (!x) return;
    free(x->data);
    free(x);
}
