/*
 * pth.h — read float tensors from a PyTorch checkpoint (torch.save of a state_dict), in C,
 * without PyTorch: pcnn-fid reads pytorch-fid's InceptionV3 weights with it, pcnn-import
 * a PixelCNN++ state_dict. (pth_write.h writes one.)
 *
 *   char err[256];
 *   pcnn_pth *p = pcnn_pth_open("pt_inception.pth", err, sizeof err);
 *   if (!p) pcnn_die("pt_inception.pth: %s", err);
 *   int64_t shape[4] = {32, 3, 3, 3};
 *   if (pcnn_pth_read(p, "Conv2d_1a_3x3.conv.weight", 4, shape, w, err, sizeof err)) fail;
 *   pcnn_pth_close(p);
 *
 * The two formats torch.save writes:
 *   zip (torch >= 1.6): a zip archive whose entries are stored (not compressed):
 *       <archive>/data.pkl     the pickle of the state_dict
 *       <archive>/data/<key>   the raw little-endian bytes of storage <key>
 *   legacy (_use_new_zipfile_serialization=False, and every file of torch < 1.6): five
 *       pickles back to back (the magic number 0x1950a86a20f9469cfc6c, the protocol
 *       version 1001, sys_info {little_endian, type_sizes}, the state_dict, the list of
 *       storage keys), then for each key in that order: an int64 element count and the
 *       storage's raw bytes.
 * In both, a tensor is pickled as torch._utils._rebuild_tensor_v2(storage, offset, size,
 * stride, ...) where storage is a persistent id ('storage', torch.FloatStorage, key,
 * location, numel[, view]) (BINPERSID). The pickle interpreter here knows the opcodes of
 * protocols 2 to 5 that a state_dict uses (containers, numbers, strings, GLOBAL/
 * STACK_GLOBAL, memo, REDUCE, BUILD, BINPERSID); a REDUCE of anything but OrderedDict,
 * the tensor rebuilders and _rebuild_parameter gives an opaque object (so _metadata and
 * other attributes are parsed and ignored). Nothing is executed.
 *
 * The state_dict is the pickled dict itself, or the dict under "state_dict",
 * "model_state_dict" or "model" (looked for in that order, once) of a checkpoint that wraps
 * it with other things (epoch, optimizer state: parsed and ignored).
 *
 * Only the pickle and the central directory are held in memory; tensors are read from
 * the file when asked for. pcnn_pth_read reads float32, float64, float16 and bfloat16
 * storages (each value converts exactly to double) and refuses other dtypes;
 * pcnn_pth_read_f64 reads integer and bool ones too (as torch's .to(float64) does). A tensor that is a
 * view (any strides, an offset into a shared storage) is gathered in row-major order.
 * Every count and offset is checked against the file: a damaged or foreign file gives a
 * one-line reason, never a crash.
 */
#ifndef PCNN_PTH_H
#define PCNN_PTH_H

#include <stddef.h>
#include <stdint.h>

typedef struct pcnn_pth pcnn_pth;

/* Opens and parses path ("-": all of stdin, read into memory); NULL with a reason in err (e.g. "No such file or directory",
 * "not a PyTorch checkpoint (neither a zip archive nor a pickle)"). */
pcnn_pth *pcnn_pth_open(const char *path, char *err, size_t errlen);

/* "zip" or "legacy". */
const char *pcnn_pth_format(const pcnn_pth *p);

/* Number of tensors and the name of tensor i (in the file's order). */
int pcnn_pth_count(const pcnn_pth *p);
const char *pcnn_pth_name(const pcnn_pth *p, int i);

/* 1 when the checkpoint has a tensor called name. */
int pcnn_pth_has(const pcnn_pth *p, const char *name);

/* The number of dimensions of tensor name (0..8) with its shape in shape[], or -1 when
 * there is no such tensor. */
int pcnn_pth_shape(const pcnn_pth *p, const char *name, int64_t *shape);

/* The key of the state_dict's first entry that is not a tensor under a string key (an int,
 * a nested dict, ...), or "(a key that is not a string)", or NULL when every entry is a
 * named tensor. Such entries are not counted by pcnn_pth_count. */
const char *pcnn_pth_stray(const pcnn_pth *p);

/* Copies tensor name, which must have exactly ndim dimensions of the given shape, into
 * out (row-major, as float). 0, or -1 with a reason (missing, other shape, dtype,
 * truncated data) in err. */
int pcnn_pth_read(pcnn_pth *p, const char *name, int ndim, const int64_t *shape, float *out,
                  char *err, size_t errlen);

/* Copies tensor name, whatever its shape (pcnn_pth_shape) and real dtype (integers and
 * bools too), into out as double: the file's values, as .to(torch.float64) gives them. 0,
 * or -1 with a reason in err (a complex tensor, truncated data). */
int pcnn_pth_read_f64(pcnn_pth *p, const char *name, double *out, char *err, size_t errlen);

/* Closes the file and frees everything; accepts NULL. */
void pcnn_pth_close(pcnn_pth *p);

#endif
