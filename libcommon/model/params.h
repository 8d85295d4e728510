/*
 * params.h — the parameter table of the conditional PixelCNN++ (SPEC §3):
 * every tensor's PyTorch name, shape, and offset into ONE flat float buffer
 * (llm.c style; the same table cuts up params, grads, Adam m and v, Polyak).
 * Tensors are stored in PyTorch's layout and shape, so the model file and the
 * flat buffer agree element by element:
 *   Conv2d          weight_v (out, in, kh, kw)  weight_g (out, 1, 1, 1)  bias (out)
 *   ConvTranspose2d weight_v (in, out, kh, kw)  weight_g (in, 1, 1, 1)   bias (out)
 *   Linear          weight_v (out, in)          weight_g (out, 1)        bias (out)
 *   hw              (K, 2F)
 *   hs              (K, 2F)        film only (SPEC §3b), one per gated block
 *   class_map       (K, 3, H, W)   input only (SPEC §3b), one per model
 * Weight norm (dim 0): W = g * v / ||v|| over every axis but axis 0, so one
 * weight-norm "row" is v[r, ...] of length size / dims[0].
 *
 * The conditioning variants' tensors come after every tensor of the base
 * model (all hs in block order, then class_map): a variant's table is the base
 * table with a tail, the base tensors keep their index and offset.
 *
 *   pcnn_param_table *t = pcnn_params_build(R, F, M, K, PCNN_COND_FILM, H, W);
 *   float *p = calloc(t->total, sizeof *p);
 *   const pcnn_wnlayer *L = &t->layers[t->nin_out];  // p + L->v, p + L->g, p + L->b
 *   pcnn_params_free(t);
 */
#ifndef PCNN_PARAMS_H
#define PCNN_PARAMS_H

#include <stddef.h>
#include <stdint.h>

#define PCNN_PARAM_NAME_MAX 96

typedef struct pcnn_param {
    char name[PCNN_PARAM_NAME_MAX];
    uint32_t ndim, dims[4];
    size_t offset, size;       /* in floats, into the flat buffer */
} pcnn_param;

enum { PCNN_LAYER_CONV = 0, PCNN_LAYER_DECONV = 1, PCNN_LAYER_LINEAR = 2 };

/* One weight-normalised layer. */
typedef struct pcnn_wnlayer {
    int kind;                  /* PCNN_LAYER_* */
    int cin, cout, kh, kw;     /* Linear: kh = kw = 1 */
    int stride;                /* 1 or 2 */
    size_t v, g, b;            /* offsets of weight_v, weight_g, bias */
    size_t rows, rowlen;       /* weight-norm rows = dims[0] of v, rowlen = size / rows */
    int iv;                    /* index of weight_v in the param list (g = iv+1, b = iv+2) */
} pcnn_wnlayer;

/* Conditioning variants (SPEC §3b), OR-ed together; 0 is the base model (hw only).
 * FILM: the class term is c2 * (1 + hs[y]) + hw[y]; INPUT: the init convs see
 * concat(x + class_map[y], 1). */
enum { PCNN_COND_FILM = 1, PCNN_COND_INPUT = 2, PCNN_COND_ALL = 3 };

/* One gated residual block: layer indices, -1 for no nin_skip; hw and hs offsets. */
typedef struct pcnn_blockref {
    int conv_input, nin_skip, conv_out;
    size_t hw;
    size_t hs;                 /* the film scale table (K, 2F); only with PCNN_COND_FILM */
    int skip;                  /* 0, 1 or 2 (nin_skip input = 2*skip*F channels) */
    int ul;                    /* 0: u stream (2x3 down-shifted), 1: ul (2x2 down-right) */
} pcnn_blockref;

typedef struct pcnn_param_table {
    int R, F, M, K;
    unsigned cond;             /* PCNN_COND_* */
    int H, W;                  /* image size (the class_map's; 0 without PCNN_COND_INPUT) */
    size_t class_map;          /* offset of class_map (K, 3, H, W); only with PCNN_COND_INPUT */
    int n;                     /* number of tensors */
    pcnn_param *p;
    size_t total;              /* floats in the flat buffer */
    int nlayers;
    pcnn_wnlayer *layers;
    /* graph references (layer indices) */
    int u_init, ul_init0, ul_init1, nin_out;
    int downsize_u[2], downsize_ul[2], upsize_u[2], upsize_ul[2];
    pcnn_blockref *up_u, *up_ul;       /* [3R], level l block r at l*R + r */
    pcnn_blockref *down_u, *down_ul;   /* [3R+2], level 0: R blocks, 1 and 2: R+1 */
} pcnn_param_table;

/* The table of sizes (R, F, M, K) and conditioning cond (PCNN_COND_*); H and W
 * (the image size) are used by PCNN_COND_INPUT only. */
pcnn_param_table *pcnn_params_build(int R, int F, int M, int K, unsigned cond, int H, int W);
void pcnn_params_free(pcnn_param_table *t);
/* 1 when the tensor called name is a class table: "<block>.hw", "<block>.hs" or
 * "class_map" (what depends on the label), else 0. */
int pcnn_params_is_class_table(const char *name);
/* Index of the tensor called name, or -1. */
int pcnn_params_find(const pcnn_param_table *t, const char *name);

/* "film", "input", "film,input" (either order; "none" or "base" = 0) -> *cond.
 * 0 on success, -1 for anything else. */
int pcnn_cond_parse(const char *list, unsigned *cond);
/* "base", "film", "input" or "film,input". */
const char *pcnn_cond_name(unsigned cond);

#endif
