/*
 * net_internal.h — the private layout of a pcnn_net (net.c), shared with the
 * cached sampler (net_sample.c) and nothing else. Tools and tests use net.h.
 *
 * The graph is a list of ops over activation nodes: node values are device
 * buffers (max_batch, h, w, F) NHWC; ops run in order for a forward pass.
 * INPUT writes two nodes (out = u, out2 = ul); OUT writes net->logits.
 */
#ifndef PCNN_NET_INTERNAL_H
#define PCNN_NET_INTERNAL_H

#include "model/net.h"
#include "model/nn_backend.h"
#include "model/params.h"

#include <stdint.h>

typedef struct pcnn_node {
    float *val, *grad;    /* device (max_batch, h, w, F); grad allocated at first train step */
    int h, w;
} pcnn_node;

typedef struct pcnn_op {
    int kind;             /* PCNN_OP_* */
    int in, a1, a2;       /* node ids, -1 none */
    int out, out2;        /* out2: ul of the INPUT op */
    const pcnn_blockref *b;
    const pcnn_wnlayer *L;
    int h, w;             /* level of the input */
    int block;            /* gated block number (dropout key) */
    int x_indep;          /* GATED: its x does not depend on the class (scored once per batch) */
    void *st;
} pcnn_op;

/* A run of contiguous tensors that Adam updates at one rate: class tables or not. */
typedef struct pcnn_lr_run {
    size_t offset, size;  /* floats, into the flat buffers */
    int cls;
} pcnn_lr_run;

struct pcnn_net {
    pcnn_backend *be;
    pcnn_param_table *t;
    int R, F, M, K, H, W, max_batch;
    /* device buffers of t->total floats (llm.c style: one allocation each) */
    float *params, *grads, *adam_m, *adam_v, *polyak, *wp, *gp;
    int wp_src;           /* what wp holds: 0 stale, 1 params, 2 polyak */
    int nnodes, nops, nblocks;
    pcnn_node *nodes;
    pcnn_op *ops;
    float *x, *logits, *dlogits;   /* device (N,H,W,3), (N,H,W,10M) x2 */
    int32_t *labels;               /* device (N) */
    float *hx;                     /* host (max_batch,H,W,3) */
    int32_t *hlabels;              /* host (max_batch) */
    double *hll;                   /* host (max_batch) */
    uint64_t step;
    int has_grads;
    int share_x;          /* scoring K classes runs the class-independent ops once (forward) */
    int score_wide;       /* scoring K classes as one wide pass (nn_backend.h score_wide) */
    float *xsrc;          /* device (max_batch / K, H, W, 3): a wide pass's images, made then */
    double backend_s;     /* seconds the backend's creation took (library, device, handles) */
    double last_loss;     /* last train step's loss in double */
    float class_lr_mult;  /* learning-rate factor of the class tables (hw, hs, class_map) */
    pcnn_lr_run *lr_runs; /* the table as runs of one rate, made by the first set_class_lr_mult */
    int nlr_runs;
    double last_ce;       /* last hybrid step's mean CE term (nats), 0 for plain steps */
    long graph_runs[2];   /* passes captured (0) and replayed (1) as device graphs (the
                             cached sampler's positions included) */
    int sample_table;     /* the cached sampler's position table: 1 on, 0 off, -1 the
                             backend's choice (nn_backend.h sample_graphs) */
    uint8_t *hpix;                 /* host (max_batch,H,W,3): the hybrid step's batch */
    float *hw_row;                 /* host (max_batch): the hybrid step's dmol weights */
    int ce_classes;                /* classes in each CE image's posterior, 0 = all K */
    double *ce_prior;              /* host (K): the CE posterior's log prior b_c in nats, NULL:
                                      uniform (pcnn_net_set_ce_prior) */
    double *ce_prior_grad;         /* host (K): the last hybrid step's sum over its CE images of
                                      p(c | x_i) - [c = y_i] (pcnn_net_ce_prior_grad) */
    float *hgrads;                 /* host (t->total): a GPU's gradients staged for a collective */
    int precision;                 /* PCNN_PREC_* of the training steps' GEMMs */
};

/* wp <- the effective weights of the parameters (0) or the Polyak copy (1). */
void pcnn_net_use_weights(pcnn_net *net, int polyak);
/* Checks labels (0..K-1, dies otherwise) and uploads N of them to net->labels. */
void pcnn_net_upload_labels(pcnn_net *net, const int32_t *labels, int N);

#endif
