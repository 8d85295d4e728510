/*
 * manifest.h — the CSV manifest of labelled images (CPEN 455 form, SPEC §7).
 *
 *   train/0000001.jpg,0          one row per image: relative path, label
 *   test/0000021.jpg,-1          label −1 = unknown
 *
 * Rules: LF or CRLF line ends; an optional UTF-8 byte-order mark; an optional header row,
 * recognised by its second field being the word "label" (e.g. "id,label"); blank lines
 * are ignored. The label is the text after the last comma (so a path may hold commas),
 * an integer in −1..2^31−1 with optional surrounding spaces. Paths are relative to the
 * CSV's folder; absolute paths are kept as they are.
 *
 *   pcnn_manifest *m = pcnn_manifest_read("data/train.csv");   // NULL: message printed
 *   for (size_t i = 0; i < m->n; i++) {
 *       pcnn_manifest_row *r = &m->rows[i];
 *       if (r->err) { report("%s:%lu: %s", m->path, r->line, r->err); continue; }
 *       load(r->file);           // "data/train/0000001.jpg"; r->id is "train/0000001.jpg"
 *   }
 *   pcnn_manifest_free(m);
 *
 * A malformed row does not stop the reader: it is returned with err set (and id/file
 * possibly NULL), so the caller decides between stopping and skipping.
 */
#ifndef PCNN_MANIFEST_H
#define PCNN_MANIFEST_H

#include <stddef.h>
#include <stdint.h>

typedef struct pcnn_manifest_row {
    unsigned long line;  /* 1-based line number in the CSV */
    char *id;            /* the path as written in the CSV (the image id); NULL if malformed */
    char *file;          /* the path to open: the CSV's folder joined with id */
    int32_t label;       /* −1 unknown, else ≥ 0 */
    const char *err;     /* NULL, or why the row is malformed (static text) */
} pcnn_manifest_row;

typedef struct pcnn_manifest {
    char *path;          /* the CSV as given */
    pcnn_manifest_row *rows;
    size_t n;            /* rows, malformed ones included; header and blank lines excluded */
    int has_header;
} pcnn_manifest;

/* Reads the whole CSV. NULL (message "prog: path: why" printed) when it cannot be read
 * or holds a NUL byte; malformed rows are returned with err set. */
pcnn_manifest *pcnn_manifest_read(const char *path);
void pcnn_manifest_free(pcnn_manifest *m);

#endif
