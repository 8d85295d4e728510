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
 * Weight norm (dim 0): W = g * v / ||v|| over every axis but axis 0, so one
 * weight-norm "row" is v[r, ...] of length size / dims[0].
 *
 *   pcnn_param_table *t = pcnn_params_build(R, F, M, K);
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

/* One gated residual block: layer indices, -1 for no nin_skip; hw offset. */
typedef struct pcnn_blockref {
    int conv_input, nin_skip, conv_out;
    size_t hw;
    int skip;                  /* 0, 1 or 2 (nin_skip input = 2*skip*F channels) */
    int ul;                    /* 0: u stream (2x3 down-shifted), 1: ul (2x2 down-right) */
} pcnn_blockref;

typedef struct pcnn_param_table {
    int R, F, M, K;
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

pcnn_param_table *pcnn_params_build(int R, int F, int M, int K);
void pcnn_params_free(pcnn_param_table *t);
/* Index of the tensor called name, or -1. */
int pcnn_params_find(const pcnn_param_table *t, const char *name);

#endif
