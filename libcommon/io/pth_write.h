/*
 * pth_write.h — write float32 tensors as a PyTorch state_dict file, in C, without PyTorch:
 * what torch.save(OrderedDict(name -> tensor), f) writes, so that
 * torch.load(f, weights_only=True) and model.load_state_dict read it (pcnn-export), and
 * pth.h reads it back.
 *
 *   pcnn_pth_entry t[2] = {{"nin_out.lin_a.bias", 1, {20}, bias},
 *                          {"nin_out.lin_a.weight_g", 2, {20, 1}, g}};
 *   pcnn_outfile *o = pcnn_outfile_open("model.pth");
 *   if (pcnn_pth_write(o->fp, t, 2)) fail (errno says why);
 *
 * Byte layout: the zip archive torch 1.13's torch.save writes to a buffer (its
 * PyTorchStreamWriter over miniz), record for record, then one more record:
 *   archive/data.pkl      the pickle (protocol 2, as Python's pickler writes it):
 *                         OrderedDict() REDUCE, then SETITEMS (batches of 1000) of
 *                         name -> _rebuild_tensor_v2((storage pid), 0, size, stride, False,
 *                         OrderedDict()) with the persistent id ('storage',
 *                         torch.FloatStorage, '<i>', 'cpu', numel) (BINPERSID), every
 *                         string, tuple, global and REDUCE result memoised (BINPUT) and
 *                         met again as BINGET, as the pickler's memo does
 *   archive/data/<i>      storage i = tensor i's float32 values, little-endian; the
 *                         records in the order of the keys sorted as strings (0, 1, 10, ..)
 *   archive/version       "3\n"
 *   archive/byteorder     "little" (what torch >= 2.1 writes; older ones ignore it)
 * Each record: local header (version 0, flags 0x0808: sizes in a data descriptor, UTF-8
 * names; stored; time and date 0) with an extra field "FB" of 'Z' bytes that puts the
 * data at a multiple of 64 bytes, the data, the data descriptor (PK\7\8, CRC-32, sizes).
 * Then the central directory, the zip64 end record and locator, and the end record, as
 * miniz writes them. So up to the byteorder record the file is byte for byte torch's;
 * tests/bats/import.bats checks it against a file torch.save made. No record or offset may
 * reach 4 GiB (that would need zip64 fields; a pcnn model is far smaller).
 */
#ifndef PCNN_PTH_WRITE_H
#define PCNN_PTH_WRITE_H

#include <stdint.h>
#include <stdio.h>

typedef struct pcnn_pth_entry {
    const char *name;
    int ndim;               /* 0..4 */
    int64_t shape[4];
    const float *data;      /* prod(shape) floats, row-major */
} pcnn_pth_entry;

/* Writes the n tensors of t, in that order, to fp (from its current position; nothing
 * is read back, so a pipe is fine). 0, or -1 with errno set: a write error, or EFBIG
 * when the file would reach 4 GiB, or EINVAL for a bad entry (no name, ndim > 4). */
int pcnn_pth_write(FILE *fp, const pcnn_pth_entry *t, int n);

#endif
