/*
 * torch_names.h — pcnn's parameters as the PyTorch state_dict of the CPEN 455 /
 * pclucas14 PixelCNN++ (SPEC §3): its order, and the two conversions pcnn-import and
 * pcnn-export make (docs/FORMATS.md, "PyTorch state_dicts").
 *
 *   pcnn_pth *p = pcnn_pth_open("model.pth", err, sizeof err);           // io/pth.h
 *   pcnn_torch_import_opts o = {.source = "model.pth"};
 *   pcnn_model_file *m = pcnn_torch_import(p, &o, err, sizeof err);     // NULL: o.status
 *
 *   int n;
 *   pcnn_pth_entry *sd = pcnn_torch_state_dict(m, "", &n, err, sizeof err);
 *   pcnn_pth_write(fp, sd, n);                                          // io/pth_write.h
 *   free(sd);
 *
 * The state_dict order is the module registration order of the pclucas14 tree:
 * class_map (input), then down_layers (u_stream blocks, ul_stream blocks per level),
 * up_layers, downsize_u/ul_stream, upsize_u/ul_stream, u_init, ul_init, nin_out; in a
 * gated block its own hw (and hs, film) first, then conv_input, nin_skip, conv_out; each
 * weight-normalised layer as bias, weight_g, weight_v. pcnn-import writes its model file's
 * tensors in this order (the Python tool it replaces did, byte for byte).
 */
#ifndef PCNN_TORCH_NAMES_H
#define PCNN_TORCH_NAMES_H

#include "io/modelfile.h"
#include "io/pth.h"
#include "io/pth_write.h"
#include "model/params.h"

#include <stddef.h>

/* order[i] = the index into t->p of the i-th tensor of the state_dict (t->n of them). */
void pcnn_torch_order(const pcnn_param_table *t, int *order);

typedef struct pcnn_torch_import_opts {
    int K, H, W;                /* -K, -H, -W; 0 = not given */
    char **class_names;         /* --classes (nclasses names), or NULL */
    int nclasses;
    const char *source;         /* the input's name for messages and meta imported_from */
    /* out */
    int status;                 /* on failure: 1 bad input, 2 usage error (--classes count) */
    int zero_hw;                /* 1 when the input had no class terms (they are zero) */
    int from_embedding;         /* 1 when class_map came from embedding.weight */
} pcnn_torch_import_opts;

/* The model file of the state_dict in p (module. prefixes stripped, weight norm put back
 * where it was removed, R F M K H W from the shapes and the options; rules in
 * docs/FORMATS.md), or NULL with a one-line reason in err and o->status set. */
pcnn_model_file *pcnn_torch_import(pcnn_pth *p, pcnn_torch_import_opts *o, char *err, size_t errlen);

/* The parameters of m named by prefix ("" or "polyak.") as a state_dict: *n entries in
 * the order above, names without the prefix, data pointing into m (free the array only).
 * NULL with a reason in err when one is missing or misshapen. */
pcnn_pth_entry *pcnn_torch_state_dict(const pcnn_model_file *m, const char *prefix, int *n, char *err,
                                      size_t errlen);

#endif
