/*
 * prep.h — turn an image source into a pcnn data file (the work behind pcnn-prep).
 *
 *   pcnn_prep_opts o = pcnn_prep_defaults();
 *   o.source = "data/train.csv";
 *   o.out = "train.bin";                 // NULL or "-" = stdout
 *   return pcnn_prep_run(&o);            // exit code: 0, 1 (runtime), 2 (usage)
 *
 * Sources (pcnn_prep_source_kind tells which one a path is):
 *   CSV manifest   rows "relative/path,label" (manifest.h); id = the path as written.
 *   folder         one sub-folder per class (torchvision ImageFolder): sub-folder names,
 *                  sorted bytewise, are the classes 0..K−1; every .png, .jpg or .jpeg file under
 *                  a class folder (recursively, hidden entries skipped) is an image of that
 *                  class, in bytewise order of its path; id = "<class>/<path in class>".
 *   IDX images     MNIST/Fashion-MNIST (idx.h, gzip'd or not) with a labels file
 *                  (labels_path, or the sibling name with "images-idx3" → "labels-idx1");
 *                  id = "<basename>:<index, 6 digits>"; gray → 3 channels.
 *
 * Steps: read the source; check rows (malformed, label out of range); keep the --select
 * subset (relabelled 0..S−1 in the order given; label −1 rows stay); keep a --limit
 * random subset (seeded, input order kept); decode + resize in parallel batches (OpenMP)
 * and write in input order, so the output bytes do not depend on the thread count.
 * A bad row or image stops the run with "file:line: what" unless skip_bad, which skips
 * it, counts it and reports it on stderr (the first PCNN_PREP_MAX_REPORTS of them).
 */
#ifndef PCNN_PREP_H
#define PCNN_PREP_H

#include <stddef.h>
#include <stdint.h>

#define PCNN_PREP_MAX_REPORTS 20

typedef enum { PCNN_SRC_CSV, PCNN_SRC_FOLDER, PCNN_SRC_IDX } pcnn_prep_source_kind;

typedef struct pcnn_prep_opts {
    const char *source;       /* CSV, folder or IDX images file; "-" = CSV on stdin */
    const char *labels;       /* IDX labels file, NULL = the sibling name */
    const char *out;          /* NULL or "-" = stdout */
    uint32_t H, W;            /* output size, default 32×32 */
    char **classes;           /* --classes names, n_classes of them (NULL: none given) */
    uint32_t n_classes;
    char **select;            /* --select items: labels (CSV, IDX) or folder names / indices */
    uint32_t n_select;
    uint32_t K;               /* -K, 0 = not given */
    uint64_t limit;           /* 0 = all */
    uint64_t offset;          /* skip this many of the random ranking first (--offset) */
    uint64_t seed;
    int skip_bad, quiet;
} pcnn_prep_opts;

pcnn_prep_opts pcnn_prep_defaults(void);

/* Which kind of source a path is: a directory → folder; a file starting with the gzip
 * magic or the IDX magic 00 00 08 03 → IDX; anything else (and "-") → CSV. */
pcnn_prep_source_kind pcnn_prep_source_kind_of(const char *path);

/* Runs the whole job; messages on stderr. Returns the exit code: 0 success, 1 runtime
 * failure (bad data, I/O), 2 usage (options that contradict the data, e.g. --classes
 * with 3 names for --select of 4 labels). */
int pcnn_prep_run(const pcnn_prep_opts *o);

#endif
