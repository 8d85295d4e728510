/*
 * modelfile.h — the pcnn model file: hyperparameters, class names, training
 * counters and a list of named float32 tensors (parameters, Polyak copy, Adam state).
 *
 * Byte layout (little-endian; docs/FORMATS.md has the full description):
 *
 *    8  magic "PCNNMODL"
 *    4  u32 version = 1
 *   28  u32 R, F, M, K, H, W, C          (nr_resnet, nr_filters, nr_logistic_mix,
 *                                          classes, image height, width, channels)
 *       K × { u16 len (1..255), class name bytes }
 *    8  u64 step    optimizer steps done
 *    8  u64 epoch   epochs done
 *    8  u64 seed    training seed (all randomness is counter-based on seed/epoch/step)
 *    8  f64 lr      current learning rate
 *    4  u32 n_meta  then n_meta × { u16 klen, key, u16 vlen, value }  (text options)
 *    4  u32 n_tensors, then n_tensors × {
 *            u16 name_len (1..255), name,
 *            u32 ndim (1..4), ndim × u32 dims (each ≥ 1),
 *            prod(dims) × f32 data, in PyTorch's row-major layout of that shape }
 *    4  u32 CRC-32 (zlib) of every byte before it
 *
 * Tensor names: parameters use the PyTorch module-tree names of SPEC §3
 * ("up_layers.0.u_stream.0.conv_input.conv.weight_v", ".hw" for class terms);
 * "polyak.<name>" is the Polyak-averaged copy, "adam_m.<name>" / "adam_v.<name>"
 * the Adam moments. Other names are kept and ignored (golden fixtures add "golden.*").
 *
 *   pcnn_model_file *m = pcnn_model_file_read("model.bin");     // NULL: message printed
 *   pcnn_tensor *t = pcnn_model_file_find(m, "nin_out.lin_a.bias");
 *   pcnn_model_file_write("model.bin", m);                        // atomic
 *   pcnn_model_file_free(m);
 */
#ifndef PCNN_MODELFILE_H
#define PCNN_MODELFILE_H

#include "io/datafile.h"

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define PCNN_MODEL_MAGIC "PCNNMODL"
#define PCNN_MODEL_VERSION 1u
#define PCNN_MODEL_MAX_TENSORS 100000u
#define PCNN_MODEL_MAX_NAME 255u

typedef struct pcnn_tensor {
    char *name;
    uint32_t ndim;
    uint32_t dims[4];
    size_t n;        /* prod(dims) */
    float *data;
} pcnn_tensor;

typedef struct pcnn_kv {
    char *key, *val;
} pcnn_kv;

typedef struct pcnn_model_file {
    uint32_t R, F, M, K, H, W, C;
    char **class_names;    /* K */
    uint64_t step, epoch, seed;
    double lr;
    uint32_t nmeta;
    pcnn_kv *meta;
    uint32_t ntensors;
    pcnn_tensor *tensors;
} pcnn_model_file;

/* A new empty model file description (copies the class names). */
pcnn_model_file *pcnn_model_file_new(uint32_t R, uint32_t F, uint32_t M, uint32_t K, uint32_t H,
                                     uint32_t W, uint32_t C, char *const *class_names);
/* Reads and validates (magic, version, sizes against the file's length before
 * allocating, checksum, finite values). NULL on error, message printed. */
pcnn_model_file *pcnn_model_file_read(const char *path);
/* The same from a stream read to its end (stdin, a pipe); messages name it name. */
pcnn_model_file *pcnn_model_file_read_stream(FILE *fp, const char *name);
/* Writes atomically (temporary file + fsync + rename). -1 on error, printed;
 * the previous file at path is then untouched. */
int pcnn_model_file_write(const char *path, const pcnn_model_file *m);
void pcnn_model_file_free(pcnn_model_file *m);

pcnn_tensor *pcnn_model_file_find(const pcnn_model_file *m, const char *name);
/* Adds (or replaces) a zero-filled tensor and returns it. */
pcnn_tensor *pcnn_model_file_add(pcnn_model_file *m, const char *name, uint32_t ndim,
                                 const uint32_t *dims);
/* Moves the tensors whose names start with prefix after all the others, each group in its
 * own order (a stable partition): a fixed order for the bytes of a file. */
void pcnn_model_file_move_last(pcnn_model_file *m, const char *prefix);
const char *pcnn_model_file_get_meta(const pcnn_model_file *m, const char *key);
void pcnn_model_file_set_meta(pcnn_model_file *m, const char *key, const char *val);

/* 0 when a data file fits the model (H, W, C, K and class names); otherwise
 * prints "prog: model: made for ..., data has ... (what to do)" and returns -1. */
int pcnn_model_file_check_data(const pcnn_model_file *m, const char *model_name,
                               const pcnn_data_header *h, const char *data_name);

/* Human-readable summary (pcnn-info): sizes, classes, parameter count, progress. */
void pcnn_model_file_describe(const pcnn_model_file *m, const char *name, FILE *out);

#endif
