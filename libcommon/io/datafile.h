/*
 * datafile.h — the pcnn data file: labelled uint8 images that stream through pipes.
 *
 * Byte layout (all integers little-endian; full description in docs/FORMATS.md):
 *
 *   header   8  magic "PCNNDATA"
 *            4  u32 version = 1
 *            4  u32 H            1..4096
 *            4  u32 W            1..4096
 *            4  u32 C            1..4 (pcnn-prep writes 3: RGB)
 *            4  u32 K            number of classes, 1..1024
 *            8  u64 count        number of records; 2^64-1 = "until the end marker"
 *            K × { u16 len (1..255), len bytes of class name (no NUL/TAB/CR/LF/comma) }
 *            4  u32 CRC-32 (zlib) of every header byte before it
 *   record   2  u16 id_len       1..4095 (0xFFFF starts the end marker instead)
 *            id_len bytes of id  (e.g. "test/0000021.jpg"; no NUL/TAB/CR/LF)
 *            4  i32 label        -1 (unknown) or 0..K-1
 *            H·W·C bytes         pixels, row-major, channels interleaved (HWC)
 *            4  u32 CRC-32 of the record's bytes before it
 *   end      2  u16 0xFFFF
 *            8  u64 number of records written
 *            4  u32 CRC-32 of the 10 bytes before it
 *
 * Every size is validated before anything is allocated; the reader never seeks.
 *
 *   pcnn_data_reader *r = pcnn_data_open("train.bin");          // "-" = stdin
 *   if (!r) ...                                                 // message already printed
 *   pcnn_record rec;
 *   int st;
 *   while ((st = pcnn_data_next(r, &rec)) == 1) use(rec.id, rec.label, rec.pixels);
 *   if (st < 0) fail;                                           // message already printed
 *   pcnn_data_close(r);
 */
#ifndef PCNN_DATAFILE_H
#define PCNN_DATAFILE_H

#include <stdint.h>
#include <stdio.h>

#define PCNN_DATA_MAGIC "PCNNDATA"
#define PCNN_DATA_VERSION 1u
#define PCNN_DATA_MAX_SIDE 4096u
#define PCNN_DATA_MAX_CHANNELS 4u
#define PCNN_DATA_MAX_CLASSES 1024u
#define PCNN_DATA_MAX_NAME 255u
#define PCNN_DATA_MAX_ID 4095u
#define PCNN_DATA_COUNT_UNKNOWN UINT64_MAX

typedef struct pcnn_data_header {
    uint32_t H, W, C, K;
    uint64_t count;       /* PCNN_DATA_COUNT_UNKNOWN when streamed */
    char **class_names;   /* K names, NUL-terminated */
} pcnn_data_header;

typedef struct pcnn_record {
    const char *id;          /* valid until the next call */
    int32_t label;           /* -1 unknown */
    const uint8_t *pixels;   /* H·W·C bytes, valid until the next call */
} pcnn_record;

typedef struct pcnn_data_reader pcnn_data_reader;

/* Opens and validates the header; "-" reads stdin. On error prints
 * "prog: file: what" and returns NULL. */
pcnn_data_reader *pcnn_data_open(const char *path);
/* The same on an already open stream; name is used in messages. */
pcnn_data_reader *pcnn_data_open_stream(FILE *fp, const char *name);
const pcnn_data_header *pcnn_data_get_header(const pcnn_data_reader *r);
/* 1: a record; 0: clean end (end marker seen, counts agree); -1: error (printed). */
int pcnn_data_next(pcnn_data_reader *r, pcnn_record *rec);
/* Records read so far. */
uint64_t pcnn_data_index(const pcnn_data_reader *r);
void pcnn_data_close(pcnn_data_reader *r);

/* Checks a name / id for the characters the text formats cannot carry
 * (NUL, TAB, CR, LF; commas too for class names). 0 when fine. */
int pcnn_data_check_id(const char *id);
int pcnn_data_check_class_name(const char *name);

/* 0 when data files a and b fit one model: the same image size and the same classes (the
 * training and the validation data of a new model); otherwise prints "prog: B: ..., A_what
 * A has ... (what to do)" and returns -1. */
int pcnn_data_check_alike(const pcnn_data_header *a, const char *a_what, const char *a_name,
                          const pcnn_data_header *b, const char *b_name);

/* A whole data file in memory (training, tests). pixels: n × H·W·C bytes. */
typedef struct pcnn_dataset {
    pcnn_data_header h;
    uint64_t n;
    char **ids;
    int32_t *labels;
    uint8_t *pixels;
} pcnn_dataset;

/* NULL on error (printed). Memory grows with what the file holds, never with
 * what its header claims. */
pcnn_dataset *pcnn_dataset_load(const char *path);
/* Appends the records of the data file path to d: its images must be alike (size, classes
 * and their names: pcnn_data_check_alike, d called "d_what d_name" in its message). 0, or -1
 * (printed; d then holds what was read before the damage). */
int pcnn_dataset_append(pcnn_dataset *d, const char *d_what, const char *d_name, const char *path);
void pcnn_dataset_free(pcnn_dataset *d);

/* Writer. path "-" or NULL writes stdout; a file is written atomically
 * (temporary name + rename at finish). count may be PCNN_DATA_COUNT_UNKNOWN:
 * for a regular file the header count is filled in at finish. */
typedef struct pcnn_data_writer pcnn_data_writer;
pcnn_data_writer *pcnn_data_create(const char *path, const pcnn_data_header *h);
int pcnn_data_write(pcnn_data_writer *w, const char *id, int32_t label, const uint8_t *pixels);
/* Writes the end marker and commits. -1 on any error (printed); frees w. */
int pcnn_data_finish(pcnn_data_writer *w);
/* Drops a partial output; frees w; accepts NULL. */
void pcnn_data_abort(pcnn_data_writer *w);

/* Helpers for the header's class names. */
char **pcnn_class_names_copy(char *const *names, uint32_t K);
void pcnn_class_names_free(char **names, uint32_t K);

#endif
