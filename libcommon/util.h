/*
 * util.h — what every pcnn tool shares: program name and error messages,
 * checked allocation, strict number parsing, atomic output files, progress.
 *
 *   int main(int argc, char **argv) {
 *       pcnn_init(argv[0]);                     // program name, SIGPIPE -> EPIPE
 *       long n;
 *       if (pcnn_parse_long(arg, 1, 1000, &n)) pcnn_usage_error("-n: %s", arg);
 *       pcnn_outfile *o = pcnn_outfile_open("out.bin");   // "-" = stdout
 *       fwrite(..., o->fp); ...
 *       if (pcnn_outfile_commit(o)) return 1;   // fsync + rename into place
 *   }
 *
 * Exit codes (STYLE): 0 success, 1 runtime failure, 2 usage error.
 * Messages go to stderr as "prog: message".
 */
#ifndef PCNN_UTIL_H
#define PCNN_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define PCNN_EXIT_FAIL  1
#define PCNN_EXIT_USAGE 2

extern const char *pcnn_progname;

/* Sets the program name (basename of argv0) and ignores SIGPIPE, so a closed
 * pipe surfaces as a write error (EPIPE) that the tool reports. */
void pcnn_init(const char *argv0);

/* "prog: message" on stderr. pcnn_die exits 1, pcnn_usage_error exits 2 with a
 * hint to run -h. pcnn_warn returns. Messages take printf formats. */
void pcnn_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* An informational message ("prog: message"), silenced when a tool's -q set pcnn_quiet. */
extern int pcnn_quiet;
void pcnn_note(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void pcnn_die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
void pcnn_usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

/* For getopt loops run with opterr = 0 and an optstring starting with ':':
 * reports c == ':' (missing value) or '?' (unknown option) and exits 2. */
void pcnn_bad_option(int c, char *const *argv) __attribute__((noreturn));

/* The --device option of the tools: returns arg when it is cpu, cuda or auto,
 * otherwise a usage error (exit 2). */
const char *pcnn_device_option(const char *arg);
/* The default of --device: $PCNN_DEVICE (cpu, cuda or auto; anything else is a
 * usage error), else auto. make test sets it to cpu: the suite checks the CPU
 * reference's exactness contract; the GPU has its own checks (make check-gpu). */
const char *pcnn_device_default(void);

/* Allocation that dies with a message on failure. xmalloc(0) returns a valid pointer. */
void *pcnn_xmalloc(size_t n);
void *pcnn_xcalloc(size_t count, size_t size);
void *pcnn_xrealloc(void *p, size_t n);
/* Zeroed memory for big buffers (activations), 64-byte aligned: from mmap with
 * huge pages asked for when large. Free it with pcnn_big_free (NULL is fine). */
void *pcnn_big_alloc(size_t bytes);
void pcnn_big_free(void *p);
char *pcnn_xstrdup(const char *s);
/* a*b (and a*b*c) with overflow check; dies on overflow. */
size_t pcnn_mul_size(size_t a, size_t b);

/* 1 when s ends with tail ("up_layers.0.u_stream.0.hw" ends with ".hw"), else 0. */
int pcnn_ends_with(const char *s, const char *tail);

/* Strict parsing: the whole string must be a number in [lo, hi]. 0 on success. */
int pcnn_parse_long(const char *s, long lo, long hi, long *out);
int pcnn_parse_double(const char *s, double lo, double hi, double *out);
int pcnn_parse_u64(const char *s, uint64_t *out);

/* An output file written atomically: data goes to "<path>.tmp.<pid>" in the same
 * folder and is renamed onto path by commit, so an interrupted write never
 * leaves a plausible-looking output. Path "-" (or NULL) writes to stdout; an
 * existing device or FIFO (/dev/full, a named pipe) is written in place. */
typedef struct pcnn_outfile {
    FILE *fp;
    char *path;     /* final path, or "-" */
    char *tmppath;  /* NULL for stdout and special files */
    int is_special; /* a device or FIFO, written in place */
} pcnn_outfile;

/* NULL (and a message naming the file) when the file cannot be created. */
pcnn_outfile *pcnn_outfile_open(const char *path);
/* Flush, fsync, close, rename. Prints "prog: path: why" and returns -1 on any error
 * (full disk, closed pipe); the temporary file is removed. Frees o. */
int pcnn_outfile_commit(pcnn_outfile *o);
/* The name for messages: the path, or "<stdout>". */
const char *pcnn_outfile_name(const pcnn_outfile *o);
/* Remove the temporary file; stdout is left alone. Frees o; accepts NULL. */
void pcnn_outfile_abort(pcnn_outfile *o);

/* Before long work, whether path can take an output written by pcnn_outfile_open: a
 * temporary file beside it is created and removed, so that a missing or read-only folder,
 * or a folder at path, is reported now and not after the work. With regular_only (a file
 * rewritten in place, such as a model's checkpoints) "-" (stdout) and an existing device,
 * FIFO or socket are refused too. Temporaries of killed writers are removed first
 * (pcnn_outfile_remove_stale). 0, or -1 (printed, naming path and why). */
int pcnn_outfile_check(const char *path, int regular_only);

/* Removes what an output's killed writers left: "<path>.tmp.<pid>" files beside path whose
 * process is no longer alive on this machine (SIGKILL during a write). pcnn_outfile_open
 * and pcnn_outfile_check call it; it returns how many it removed. */
int pcnn_outfile_remove_stale(const char *path);

/* 1 when paths a and b name the same existing file (the same device and inode, symbolic
 * links followed), else 0; "-" and NULL name no file. */
int pcnn_same_file(const char *a, const char *b);

/* An input of a tool, for pcnn_output_not_input: what it is ("the training data") and its
 * path (NULL or "-": none). */
typedef struct pcnn_input {
    const char *what, *path;
} pcnn_input;

/* Refuses an output that names the same file as one of the n inputs (pcnn_same_file):
 * writing it would replace the input. out_what says what the output is ("the model file
 * (-o)"). 0, or -1 with "prog: OUT: out_what is the same file as what IN ..." printed. */
int pcnn_output_not_input(const char *out, const char *out_what, const pcnn_input *inputs, int n);

/* Flush and check stdout at the end of main: returns 0, or prints the error
 * (e.g. "write error: No space left on device") and returns -1. */
int pcnn_close_stdout(void);

/* Display name for a path: "-" and NULL read as "<stdin>". */
const char *pcnn_display_name(const char *path);

/* Monotonic seconds. */
double pcnn_now(void);

/* Progress on stderr: redrawn in place when stderr is a terminal, otherwise
 * silent until pcnn_progress_end prints one summary line.
 *   pcnn_progress p; pcnn_progress_start(&p, "prep", total, "images");
 *   for (...) pcnn_progress_update(&p, done);
 *   pcnn_progress_end(&p, "extra text");               */
typedef struct pcnn_progress {
    const char *what, *unit;
    uint64_t total, done;
    double t0, last;
    int tty;
} pcnn_progress;
void pcnn_progress_start(pcnn_progress *p, const char *what, uint64_t total, const char *unit);
void pcnn_progress_update(pcnn_progress *p, uint64_t done);
void pcnn_progress_end(pcnn_progress *p, const char *extra);

/* Little-endian encode/decode helpers for the file formats. */
static inline void pcnn_put_u16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8); }
static inline void pcnn_put_u32(uint8_t *p, uint32_t v) { for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i)); }
static inline void pcnn_put_u64(uint8_t *p, uint64_t v) { for (int i = 0; i < 8; i++) p[i] = (uint8_t)(v >> (8 * i)); }
static inline uint16_t pcnn_get_u16(const uint8_t *p) { return (uint16_t)(p[0] | (p[1] << 8)); }
static inline uint32_t pcnn_get_u32(const uint8_t *p) {
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}
static inline uint64_t pcnn_get_u64(const uint8_t *p) {
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--) v = (v << 8) | p[i];
    return v;
}

#endif
