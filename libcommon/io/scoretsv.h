/*
 * scoretsv.h — the score TSV of SPEC §8, written by pcnn-score and read by
 * pcnn-argmax (and summarised by pcnn-info).
 *
 *   id<TAB>label<TAB>Class0<TAB>Class1 ...              header: K ≥ 1 class names
 *   test/0000021.jpg<TAB>-1<TAB>-6012.345678<TAB>...     one row per image
 *
 * - id: the manifest path (1..4095 bytes, no TAB/CR/LF/NUL);
 * - label: a decimal integer, −1 = unknown, otherwise 0..K−1;
 * - then K numbers: log p(x | c) in nats, in class order, finite.
 * - optionally (pcnn-score --ood) two more columns at the end of every line, named
 *   'ood:log_px' and 'ood:png_bits' in the header: log p(x) = log Σ_c p(x | c) p(c) in
 *   nats under a uniform class prior, and L(x), the length in bits of the image as a
 *   PNG (eval/ood.h, io/pngsize.h). Readers that know them find them by these two names
 *   as the header's last two columns; names starting 'ood:' are reserved (never a class).
 * Every line ends in LF (a CR before it is accepted and dropped); a last line without
 * it is a cut file and refused (a cut inside the last number would still parse). Class
 * names are unique, 1..255 bytes, without comma/TAB/CR/LF.
 * The writer prints numbers with "%.6f": an absolute precision of 5e−7 nats,
 * which is what differences of log-likelihoods (posteriors, argmax) need.
 *
 * Reading streams line by line (memory does not grow with the file):
 *   pcnn_score_reader *r = pcnn_score_open("scores.tsv");   // "-" = stdin; NULL: printed
 *   pcnn_score_row row;
 *   int st;
 *   while ((st = pcnn_score_next(r, &row)) == 1) use(row.id, row.label, row.logp);
 *   if (st < 0) fail;   // "prog: scores.tsv: line 7: expected 6 columns ..., found 5"
 *   pcnn_score_close(r);
 *
 * Writing (atomic for a file, streamed for "-"):
 *   pcnn_score_writer *w = pcnn_score_create("scores.tsv", K, class_names);
 *   pcnn_score_write(w, id, label, logp);      // logp: K doubles
 *   if (pcnn_score_finish(w)) fail;            // or pcnn_score_abort(w)
 */
#ifndef PCNN_SCORETSV_H
#define PCNN_SCORETSV_H

#include <stdint.h>
#include <stdio.h>

typedef struct pcnn_score_reader pcnn_score_reader;

typedef struct pcnn_score_row {
    const char *id;       /* valid until the next call */
    int32_t label;        /* −1 unknown, else 0..K−1 */
    const double *logp;   /* K values, valid until the next call */
    double log_px;        /* the ood: columns (pcnn_score_has_ood), else NAN */
    double png_bits;
} pcnn_score_row;

/* The reserved header names of the optional columns, and their prefix. */
#define PCNN_SCORE_OOD_PREFIX "ood:"
#define PCNN_SCORE_COL_LOG_PX "ood:log_px"
#define PCNN_SCORE_COL_PNG_BITS "ood:png_bits"

/* Opens and validates the header. NULL on error (message printed). */
pcnn_score_reader *pcnn_score_open(const char *path);
/* The same on an open stream; name appears in messages. The stream is not closed. */
pcnn_score_reader *pcnn_score_open_stream(FILE *fp, const char *name);
uint32_t pcnn_score_nclasses(const pcnn_score_reader *r);
/* 1 when the file has the ood: columns (log p(x), L(x)), else 0. */
int pcnn_score_has_ood(const pcnn_score_reader *r);
char *const *pcnn_score_class_names(const pcnn_score_reader *r);
/* 1: a row; 0: end of input; −1: error (printed with the line number). */
int pcnn_score_next(pcnn_score_reader *r, pcnn_score_row *row);
/* Line number of the last line read (1 = header). */
uint64_t pcnn_score_line(const pcnn_score_reader *r);
void pcnn_score_close(pcnn_score_reader *r);   /* accepts NULL */

typedef struct pcnn_score_writer pcnn_score_writer;

/* Checks the class names and writes the header. NULL on error (printed). */
pcnn_score_writer *pcnn_score_create(const char *path, uint32_t K, char *const *class_names);
/* The same with the two ood: columns; rows then go through pcnn_score_write_ood. */
pcnn_score_writer *pcnn_score_create_ood(const char *path, uint32_t K, char *const *class_names);
/* Checks id, label and that every logp is finite; −1 on error (printed). */
int pcnn_score_write(pcnn_score_writer *w, const char *id, int32_t label, const double *logp);
/* A row with log p(x) in nats (finite) and L(x) in bits (finite, ≥ 0). */
int pcnn_score_write_ood(pcnn_score_writer *w, const char *id, int32_t label, const double *logp,
                         double log_px, double png_bits);
/* Flushes and commits (rename into place). −1 on error (printed); frees w. */
int pcnn_score_finish(pcnn_score_writer *w);
/* Drops a partial output file; frees w; accepts NULL. */
void pcnn_score_abort(pcnn_score_writer *w);

/* A class prior for pcnn-argmax: "uniform", or a text file with one line per
 * class, either "name<TAB or comma>p" (any order, every class once) or a bare
 * "p" (class order). p ≥ 0 and finite, not all 0; the values need not sum to 1
 * (they are normalised). Blank lines and lines starting with '#' are skipped.
 * A first line "scale<TAB>log" says the values are log p up to a constant (any finite
 * numbers, normalised by log-sum-exp): what pcnn-argmax --fit-prior writes, whose fitted
 * priors differ by tens of nats.
 * Fills logprior[K] with log p_k (−inf for p_k = 0). −1 on error (printed). */
int pcnn_prior_read(const char *spec, uint32_t K, char *const *class_names, double *logprior);

/* Writes a log-scale prior file ("scale<TAB>log", then "name<TAB>log p" per class, %.17g)
 * atomically, with comment (may be NULL) as a '#' line first. −1 on error (printed). */
int pcnn_prior_write_log(const char *path, uint32_t K, char *const *class_names,
                         const double *logprior, const char *comment);

#endif
