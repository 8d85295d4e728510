/*
 * net_hooks.h — net.c's hooks for tests, benches and backend parity checks: the device
 * buffers of a net, its parameter table, and steps the tools never take. Tools use
 * net.h; nothing here is a promise to them.
 *
 *   float *p = pcnn_net_buffer(net, PCNN_BUF_PARAMS);   // device memory, t->total floats
 *   ... write into it (be->upload) ...
 *   pcnn_net_invalidate(net);                           // drop the cached weights
 */
#ifndef PCNN_NET_HOOKS_H
#define PCNN_NET_HOOKS_H

#include "model/net.h"
#include "model/params.h"

#include <stdint.h>

/* Internals of a net for tests and backend parity checks (net.c): the device
 * buffers of t->total floats, the table, and a call to make after writing
 * into the parameter or Polyak buffer directly (drops the cached weights). */
enum { PCNN_BUF_PARAMS, PCNN_BUF_GRADS, PCNN_BUF_POLYAK, PCNN_BUF_ADAM_M, PCNN_BUF_ADAM_V };
float *pcnn_net_buffer(pcnn_net *net, int which);
const pcnn_param_table *pcnn_net_table(const pcnn_net *net);
void pcnn_net_invalidate(pcnn_net *net);
/* pcnn_net_train_step with dropout on (1) or off (0: eval-mode gradients). */
float pcnn_net_grad_step(pcnn_net *net, const uint8_t *pixels, const int32_t *labels, int N,
                         int dropout, uint64_t seed, uint64_t step);
/* The hybrid step's CE term of one image (SPEC §6b) from its k rows' log-likelihoods l (nats)
 * under the classes cls (cls[j] = y for one j, returned in *jy): z_j = (l_j + b[cls_j]) / tau
 * (b: a log prior in nats indexed by class, NULL for none), the drawn classes' (k < K) raised
 * by log((K - 1) / (k - 1)); returns tau * (logsumexp(z) - z_jy) and writes each row's weight
 * on its likelihood gradient, w_j = (lambda softmax(z)_j - (1 + lambda) [j = jy]) / n_total:
 * the gradient of (-l_jy + lambda * r) / n_total, r the value returned, with respect to l_j
 * (the likelihood's -l_jy included). gb (K, or NULL) accumulates the gradient of r with
 * respect to b: gb[cls_j] += softmax(z)_j, gb[y] -= 1. k <= PCNN_HYBRID_MAX_ROWS. */
#define PCNN_HYBRID_MAX_ROWS 1024
double pcnn_hybrid_row_weights(const double *l, const int32_t *cls, int k, int K, int32_t y,
                               double lambda, double tau, int n_total, const double *b,
                               float *w, int *jy, double *gb);
/* How many passes ran as device graphs (nn_backend.h graph_begin; PCNN_CUDA_GRAPH=1):
 * captured (which == 0) or replayed (1), the cached sampler's positions (pos_graph_begin)
 * included. 0 on backends without graphs. */
long pcnn_net_graph_runs(const pcnn_net *net, int which);
/* The cached sampler with its position table (1: every copy's addresses from a table,
 * the CUDA graphs' way, net_sample.c; the CPU offers it without graphs) or without (0);
 * -1: the backend's choice (the table where it has graphs on: PCNN_CUDA_GRAPH=1). */
void pcnn_net_set_sample_table(pcnn_net *net, int on);
/* pcnn_net_loglik as one wide pass of K x nb rows per batch (1) or K passes of nb (0);
 * the default is the backend's (nn_backend.h score_wide), or PCNN_SCORE_WIDE=0/1. */
void pcnn_net_set_score_wide(pcnn_net *net, int on);
/* The last pcnn_net_train_step's loss before rounding to float. */
double pcnn_net_last_loss(const pcnn_net *net);

#endif
