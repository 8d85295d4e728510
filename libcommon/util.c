/* util.c — see util.h. */
#include "util.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

const char *pcnn_progname = "pcnn";

void pcnn_init(const char *argv0)
{
    if (argv0) {
        const char *slash = strrchr(argv0, '/');
        pcnn_progname = slash ? slash + 1 : argv0;
    }
    signal(SIGPIPE, SIG_IGN);
}

static void vmsg(const char *fmt, va_list ap)
{
    fflush(stdout);
    fprintf(stderr, "%s: ", pcnn_progname);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
}

void pcnn_warn(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vmsg(fmt, ap);
    va_end(ap);
}

int pcnn_quiet;

void pcnn_note(const char *fmt, ...)
{
    if (pcnn_quiet) return;
    va_list ap;
    va_start(ap, fmt);
    vmsg(fmt, ap);
    va_end(ap);
}

void pcnn_die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vmsg(fmt, ap);
    va_end(ap);
    exit(PCNN_EXIT_FAIL);
}

void pcnn_usage_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vmsg(fmt, ap);
    va_end(ap);
    fprintf(stderr, "Try '%s -h' for more information.\n", pcnn_progname);
    exit(PCNN_EXIT_USAGE);
}

void pcnn_bad_option(int c, char *const *argv)
{
    extern int optind, optopt;
    const char *arg = argv[optind - 1];
    if (c == ':') {
        if (optopt > 0 && optopt < 256) pcnn_usage_error("option '-%c' needs a value", optopt);
        pcnn_usage_error("option '%s' needs a value", arg);
    }
    if (optopt > 0 && optopt < 256) pcnn_usage_error("unknown option '-%c'", optopt);
    pcnn_usage_error("unknown option '%s'", arg);
}

const char *pcnn_device_default(void)
{
    const char *e = getenv("PCNN_DEVICE");
    if (!e || !*e) return "auto";
    if (strcmp(e, "cpu") && strcmp(e, "cuda") && strcmp(e, "auto"))
        pcnn_usage_error("PCNN_DEVICE: expected cpu, cuda or auto, got '%s'", e);
    return e;
}

const char *pcnn_device_option(const char *arg)
{
    if (strcmp(arg, "cpu") && strcmp(arg, "cuda") && strcmp(arg, "auto"))
        pcnn_usage_error("--device: expected cpu, cuda or auto, got '%s'", arg);
    return arg;
}

void *pcnn_xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p) pcnn_die("out of memory (asked for %zu bytes)", n);
    return p;
}

void *pcnn_xcalloc(size_t count, size_t size)
{
    void *p = calloc(count ? count : 1, size ? size : 1);
    if (!p) pcnn_die("out of memory (asked for %zu x %zu bytes)", count, size);
    return p;
}

/* Big buffers come straight from mmap (zero pages, returned to the system at
 * once on free), start on a 2 MiB boundary, and ask for transparent huge pages:
 * far fewer page faults on the first touch, which was a fifth of a short
 * pcnn-score run. Smaller ones come from calloc. The BIG_HEAD bytes before the
 * data (64: the alignment stays 64) say which: the mapping's start and length,
 * or a length of 0 for calloc. */
#define BIG_HEAD 64
#define BIG_ALIGN ((size_t)1 << 21)

typedef struct big_head {
    void *map;
    size_t len;
} big_head;

void *pcnn_big_alloc(size_t bytes)
{
    big_head h = {NULL, 0};
    char *data;
    if (bytes >= BIG_ALIGN) {
        h.len = bytes + BIG_HEAD + BIG_ALIGN;
        if (h.len < bytes) pcnn_die("out of memory (asked for %zu bytes)", bytes);
        void *v = mmap(NULL, h.len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (v == MAP_FAILED) pcnn_die("out of memory (asked for %zu bytes)", bytes);
        h.map = v;
        uintptr_t u = ((uintptr_t)v + BIG_HEAD + BIG_ALIGN - 1) & ~(uintptr_t)(BIG_ALIGN - 1);
        data = (char *)u;
#ifdef MADV_HUGEPAGE
        madvise(data, bytes, MADV_HUGEPAGE);   /* a hint: fine if refused */
#endif
    } else {
        data = (char *)pcnn_xcalloc(1, bytes + BIG_HEAD) + BIG_HEAD;
    }
    memcpy(data - BIG_HEAD, &h, sizeof h);
    return data;
}

void pcnn_big_free(void *p)
{
    if (!p) return;
    big_head h;
    memcpy(&h, (char *)p - BIG_HEAD, sizeof h);
    if (h.len)
        munmap(h.map, h.len);
    else
        free((char *)p - BIG_HEAD);
}

void *pcnn_xrealloc(void *p, size_t n)
{
    void *q = realloc(p, n ? n : 1);
    if (!q) pcnn_die("out of memory (asked for %zu bytes)", n);
    return q;
}

char *pcnn_xstrdup(const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = pcnn_xmalloc(n);
    memcpy(d, s, n);
    return d;
}

size_t pcnn_mul_size(size_t a, size_t b)
{
    if (a && b > SIZE_MAX / a) pcnn_die("size overflow (%zu x %zu)", a, b);
    return a * b;
}

int pcnn_parse_long(const char *s, long lo, long hi, long *out)
{
    if (!s || !*s) return -1;
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || *end || v < lo || v > hi) return -1;
    *out = v;
    return 0;
}

int pcnn_parse_double(const char *s, double lo, double hi, double *out)
{
    if (!s || !*s) return -1;
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || *end || !isfinite(v) || v < lo || v > hi) return -1;
    *out = v;
    return 0;
}

int pcnn_parse_u64(const char *s, uint64_t *out)
{
    if (!s || !*s || *s == '-' || *s == '+') return -1;
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || *end) return -1;
    *out = v;
    return 0;
}

const char *pcnn_display_name(const char *path)
{
    return (!path || !strcmp(path, "-")) ? "<stdin>" : path;
}

int pcnn_outfile_remove_stale(const char *path)
{
    if (!path || !strcmp(path, "-")) return 0;
    const char *slash = strrchr(path, '/');
    const char *base = slash ? slash + 1 : path;
    char *dir = slash ? pcnn_xstrdup(path) : pcnn_xstrdup(".");
    if (slash) dir[slash - path > 0 ? slash - path : 1] = 0;   /* "/x" -> "/" */
    size_t bl = strlen(base);
    int removed = 0;
    DIR *d = bl ? opendir(dir) : NULL;
    struct dirent *e;
    while (d && (e = readdir(d))) {
        const char *n = e->d_name;
        if (strncmp(n, base, bl) || strncmp(n + bl, ".tmp.", 5)) continue;
        long pid;
        if (n[bl + 5] < '0' || n[bl + 5] > '9' || pcnn_parse_long(n + bl + 5, 1, INT_MAX, &pid))
            continue;
        /* alive (ours, or another user's: EPERM), or not ours to judge: left alone */
        if (pid == (long)getpid() || kill((pid_t)pid, 0) == 0 || errno != ESRCH) continue;
        size_t len = strlen(dir) + strlen(n) + 2;
        char *full = pcnn_xmalloc(len);
        snprintf(full, len, "%s/%s", dir, n);
        if (unlink(full) == 0) removed++;
        free(full);
    }
    if (d) closedir(d);
    free(dir);
    return removed;
}

int pcnn_outfile_check(const char *path, int regular_only)
{
    if (!path || !strcmp(path, "-")) {
        if (!regular_only) return 0;
        pcnn_warn("<stdout>: this output is rewritten in place, so it must be a regular file "
                  "(not stdout)");
        return -1;
    }
    struct stat st;
    if (stat(path, &st) == 0) {
        if (S_ISDIR(st.st_mode)) {
            pcnn_warn("%s: is a folder, not a file", path);
            return -1;
        }
        if (!S_ISREG(st.st_mode)) {
            if (!regular_only) return 0;   /* a device or FIFO: written in place */
            pcnn_warn("%s: not a regular file: this output is rewritten in place, so it must be "
                      "a file (not a device, a pipe or a socket)", path);
            return -1;
        }
    }
    pcnn_outfile_remove_stale(path);
    size_t n = strlen(path) + 64;
    char *tmp = pcnn_xmalloc(n);
    snprintf(tmp, n, "%s.tmp.%ld", path, (long)getpid());
    FILE *fp = fopen(tmp, "wb");
    if (!fp) {
        pcnn_warn("%s: cannot create: %s", path, strerror(errno));
        free(tmp);
        return -1;
    }
    fclose(fp);
    unlink(tmp);
    free(tmp);
    return 0;
}

int pcnn_same_file(const char *a, const char *b)
{
    if (!a || !b || !strcmp(a, "-") || !strcmp(b, "-")) return 0;
    struct stat sa, sb;
    if (stat(a, &sa) || stat(b, &sb)) return 0;
    return sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

int pcnn_output_not_input(const char *out, const char *out_what, const pcnn_input *inputs, int n)
{
    for (int i = 0; i < n; i++)
        if (pcnn_same_file(out, inputs[i].path)) {
            pcnn_warn("%s: %s is the same file as %s %s: writing it would destroy that input "
                      "(name another output)", out, out_what, inputs[i].what, inputs[i].path);
            return -1;
        }
    return 0;
}

pcnn_outfile *pcnn_outfile_open(const char *path)
{
    pcnn_outfile *o = pcnn_xcalloc(1, sizeof *o);
    if (!path || !strcmp(path, "-")) {
        o->fp = stdout;
        o->path = pcnn_xstrdup("-");
        return o;
    }
    o->path = pcnn_xstrdup(path);
    /* A device or FIFO (/dev/full, /dev/null, a named pipe) is written in place:
     * renaming a temporary file over it would replace the device node. */
    struct stat st;
    if (stat(path, &st) == 0 && !S_ISREG(st.st_mode)) {
        if (S_ISDIR(st.st_mode)) {
            pcnn_warn("%s: is a folder, not a file", path);
            free(o->path);
            free(o);
            return NULL;
        }
        o->fp = fopen(path, "wb");
        if (!o->fp) {
            pcnn_warn("%s: cannot open: %s", path, strerror(errno));
            free(o->path);
            free(o);
            return NULL;
        }
        o->is_special = 1;
        return o;
    }
    pcnn_outfile_remove_stale(path);   /* what a killed writer of this output left */
    size_t n = strlen(path) + 64;
    o->tmppath = pcnn_xmalloc(n);
    snprintf(o->tmppath, n, "%s.tmp.%ld", path, (long)getpid());
    o->fp = fopen(o->tmppath, "w+b");
    if (!o->fp) {
        pcnn_warn("%s: cannot create: %s", path, strerror(errno));
        free(o->tmppath);
        free(o->path);
        free(o);
        return NULL;
    }
    return o;
}

static void outfile_free(pcnn_outfile *o)
{
    free(o->path);
    free(o->tmppath);
    free(o);
}

int pcnn_outfile_commit(pcnn_outfile *o)
{
    if (o->is_special) {
        errno = 0;
        int bad = fflush(o->fp) != 0 || ferror(o->fp);
        int err = errno ? errno : EIO;
        if (fclose(o->fp) != 0 && !bad) bad = 1, err = errno ? errno : EIO;
        if (bad) pcnn_warn("%s: write error: %s", o->path, strerror(err));
        outfile_free(o);
        return bad ? -1 : 0;
    }
    if (!o->tmppath) {
        int bad = fflush(stdout) != 0 || ferror(stdout);
        if (bad) pcnn_warn("<stdout>: write error: %s", strerror(errno ? errno : EIO));
        outfile_free(o);
        return bad ? -1 : 0;
    }
    int err = 0;
    if (fflush(o->fp) != 0 || ferror(o->fp)) err = errno ? errno : EIO;
    if (!err && fsync(fileno(o->fp)) != 0 && errno != EINVAL) err = errno;
    if (fclose(o->fp) != 0 && !err) err = errno ? errno : EIO;
    if (!err && rename(o->tmppath, o->path) != 0) err = errno;
    if (err) {
        pcnn_warn("%s: write error: %s (previous file left untouched)", o->path, strerror(err));
        unlink(o->tmppath);
        outfile_free(o);
        return -1;
    }
    outfile_free(o);
    return 0;
}

const char *pcnn_outfile_name(const pcnn_outfile *o)
{
    return strcmp(o->path, "-") ? o->path : "<stdout>";
}

void pcnn_outfile_abort(pcnn_outfile *o)
{
    if (!o) return;
    if (o->tmppath || o->is_special) {
        fclose(o->fp);
        if (o->tmppath) unlink(o->tmppath);
    }
    outfile_free(o);
}

int pcnn_close_stdout(void)
{
    errno = 0;
    if (fflush(stdout) != 0 || ferror(stdout)) {
        pcnn_warn("<stdout>: write error: %s", strerror(errno ? errno : EIO));
        return -1;
    }
    return 0;
}

double pcnn_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

void pcnn_progress_start(pcnn_progress *p, const char *what, uint64_t total, const char *unit)
{
    p->what = what;
    p->unit = unit;
    p->total = total;
    p->done = 0;
    p->t0 = p->last = pcnn_now();
    p->tty = isatty(STDERR_FILENO);
}

void pcnn_progress_update(pcnn_progress *p, uint64_t done)
{
    p->done = done;
    if (!p->tty) return;
    double now = pcnn_now();
    if (now - p->last < 0.25 && done != p->total) return;
    p->last = now;
    double el = now - p->t0, rate = el > 0 ? (double)done / el : 0;
    if (p->total) {
        double left = rate > 0 ? (double)(p->total - done) / rate : 0;
        fprintf(stderr, "\r%s: %s %llu/%llu %s, %.1f %s/s, %.0fs elapsed, %.0fs left   ",
                pcnn_progname, p->what, (unsigned long long)done, (unsigned long long)p->total,
                p->unit, rate, p->unit, el, left);
    } else {
        fprintf(stderr, "\r%s: %s %llu %s, %.1f %s/s, %.0fs elapsed   ", pcnn_progname, p->what,
                (unsigned long long)done, p->unit, rate, p->unit, el);
    }
}

void pcnn_progress_end(pcnn_progress *p, const char *extra)
{
    double el = pcnn_now() - p->t0;
    if (p->tty) fputc('\r', stderr);
    fprintf(stderr, "%s: %s %llu %s in %.2fs (%.1f %s/s)%s%s%s\n", pcnn_progname, p->what,
            (unsigned long long)p->done, p->unit, el, el > 0 ? (double)p->done / el : 0.0, p->unit,
            extra && *extra ? ", " : "", extra ? extra : "", p->tty ? "   " : "");
}

int pcnn_ends_with(const char *s, const char *tail)
{
    size_t n = strlen(s), k = strlen(tail);
    return n >= k && !strcmp(s + n - k, tail);
}
