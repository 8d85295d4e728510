/*
 * net.h — the conditional PixelCNN++ network (SPEC §3–§4): training step,
 * optimizer, likelihood for every class, and the raw output for sampling.
 *
 * The graph (order of blocks, skip stacks, parameter table) is written once in
 * net.c over a backend interface (nn_backend.h) at block granularity; the CPU
 * backend (backend_cpu.c) is the exact reference, a CUDA backend implements the
 * same interface. All memory of the network (parameters, gradients, Adam
 * moments, Polyak copy, activations for max_batch images) is allocated once by
 * the backend in pcnn_net_create; no call below allocates.
 *
 * Shapes: pixels are uint8 (N, H, W, 3) row-major, channels interleaved (the
 * data file's record layout); x in [-1, 1] is (p / 255 - 0.5) * 2 (SPEC §2).
 * Likelihoods are natural logs (nats) of the whole image.
 *
 *   pcnn_model_file *m = pcnn_model_create(1, 40, 5, K, 32, 32, names, seed); // model.h
 *   pcnn_net *net = pcnn_net_create(m, "cpu", 64);
 *   for (step ...) {
 *       float loss = pcnn_net_train_step(net, pixels, labels, n, seed, step);
 *       pcnn_net_adam_step(net, lr, 0.9f, 0.999f, 1e-8f, 0.9995f);
 *   }
 *   double ll[n * K];
 *   pcnn_net_loglik(net, pixels, n, 1, ll);     // log p(x_i | c), Polyak weights
 *   pcnn_net_store(net, m);                     // params, polyak.*, adam_m.*, adam_v.*, m->step
 *   pcnn_model_file_write("model.bin", m);
 *   pcnn_net_free(net);
 */
#ifndef PCNN_NET_H
#define PCNN_NET_H

#include "io/modelfile.h"
#include "nn/nn_isa.h"   // defines: PCNN_PREC_*, pcnn_precision_name/parse

#include <stddef.h>
#include <stdint.h>

typedef struct pcnn_net pcnn_net;

/* Builds the network for the model's hyperparameters (R, F, M, K, H, W; C must
 * be 3, H and W divisible by 4) on a device: "cpu", "cuda" or "auto" (cuda when
 * built and present, else cpu); NULL means "cpu". Loads every parameter tensor
 * (SPEC §3 names, PyTorch shapes; the conditioning variant of SPEC §3b is the one
 * the file's tensor names tell, pcnn_model_conditioning in model.h, and every
 * tensor of that variant must be there); "polyak.<name>" when present (otherwise the
 * Polyak copy starts equal to the parameters), "adam_m.<name>"/"adam_v.<name>"
 * when present (otherwise zero); m->step is the Adam step counter.
 * max_batch (>= 1) bounds N in every later call; 0 asks for the device's
 * scoring default (PCNN_SCORE_BATCH_CPU or _GPU, whichever device runs).
 * Returns NULL after printing "prog: what, and what to do" (missing tensor,
 * wrong shape, unknown device, out of memory). */
pcnn_net *pcnn_net_create(const pcnn_model_file *m, const char *device, int max_batch);
/* The same with the batch bound depending on the device that runs: cpu_batch on the
 * CPU, gpu_batch on a GPU (both >= 1). */
pcnn_net *pcnn_net_create_batch(const pcnn_model_file *m, const char *device, int cpu_batch,
                                int gpu_batch);
void pcnn_net_free(pcnn_net *net);   /* accepts NULL */

/* "cpu" or "cuda": the backend actually used. */
const char *pcnn_net_device(const pcnn_net *net);
/* Seconds that making the device backend took within pcnn_net_create (the CUDA library
 * loaded, the device, cuDNN and cuBLAS handles; the CPU: its scratch): pcnn-score's
 * PCNN_TIMING=1 reports it apart from the rest of the net's creation. */
double pcnn_net_backend_seconds(const pcnn_net *net);
/* The bound on N that the net was made with. */
int pcnn_net_max_batch(const pcnn_net *net);

/* Images per pass that score fastest: small batches on the CPU (the activations
 * stay in cache; measured in docs/TESTING.md), large ones on a GPU. Scores are
 * the same for any batch. pcnn_net_score_batch: the net's max batch, capped at
 * PCNN_SCORE_BATCH_CPU on the CPU. */
enum { PCNN_SCORE_BATCH_CPU = 16, PCNN_SCORE_BATCH_GPU = 128 };
int pcnn_net_score_batch(const pcnn_net *net);
/* Number of trainable scalars (every parameter tensor, hw included). */
size_t pcnn_net_num_params(const pcnn_net *net);
/* Adam steps done so far (m->step at load, +1 per pcnn_net_adam_step). */
uint64_t pcnn_net_step(const pcnn_net *net);

/* Writes the parameters, "polyak.<name>", "adam_m.<name>", "adam_v.<name>"
 * (added or replaced) and m->step into m. The hyperparameters of m must be the
 * net's. 0 on success, -1 with a message otherwise. */
int pcnn_net_store(const pcnn_net *net, pcnn_model_file *m);

/* Writes the Polyak copy as the tensors "<prefix><name>" of m (added or
 * replaced): pcnn-fit keeps its best epoch's weights as "best.<name>". */
void pcnn_net_store_polyak(const pcnn_net *net, pcnn_model_file *m, const char *prefix);

/* One training forward + backward on N (1..max_batch) images with true labels
 * (0..K-1; checked, dies on a bad label — validate earlier). Dropout (Dropout2d,
 * p = 0.5) is on; the mask of (image n, channel c) in gated block b is a pure
 * function of (seed, step, b, n, c) (rng.h), so a rerun or a resumed run gives
 * the same bytes. Gradients of the batch mean of -log p(x | y) with respect to
 * every parameter are left in the net (overwritten, not accumulated).
 * Returns that batch mean in nats (divide by H*W*3*ln 2 for bits/dim). */
float pcnn_net_train_step(pcnn_net *net, const uint8_t *pixels, const int32_t *labels, int N,
                          uint64_t seed, uint64_t step);

/* The hybrid objective (SPEC §6b): like pcnn_net_train_step (dropout on/off),
 * but the first n_ce images of the batch also carry lambda times the
 * cross-entropy of the Bayes posterior at temperature tau, so each of them runs
 * once per class (or per class drawn: pcnn_net_set_ce_classes): the net needs
 * max_batch >= n_ce * K + N - n_ce. n_ce = 0 or
 * lambda = 0 is exactly pcnn_net_train_step. Returns the batch mean of
 * -log p(x | y) in nats (the likelihood part only); pcnn_net_last_ce gives the
 * mean CE term of the n_ce images. */
float pcnn_net_hybrid_step(pcnn_net *net, const uint8_t *pixels, const int32_t *labels, int N,
                           int n_ce, float lambda, float tau, int dropout, uint64_t seed,
                           uint64_t step);
double pcnn_net_last_ce(const pcnn_net *net);

/* The hybrid step's posterior over k of the K classes (2 <= k < K; 0 or k >= K: all, the
 * default): each CE image runs k times, not K, under its true class and k - 1 others drawn
 * without replacement by (seed, step, global image index), and the CE term is that of
 * softmax over them with the drawn classes' logits raised by log((K - 1) / (k - 1)) (their
 * sum of exp then estimates the K - 1 others' without bias). The net needs max_batch >=
 * n_ce * k + N - n_ce. */
void pcnn_net_set_ce_classes(pcnn_net *net, int k);
/* The CE term's posterior with a log prior (b: K values in nats; NULL: uniform, SPEC §6b):
 * softmax over the rows of (l(x, c) + b_c) / tau, copied for the following hybrid steps. After
 * each hybrid step pcnn_net_ce_prior_grad gives, per class c, the sum over that step's CE
 * images (of this process) of p(c | x_i) - [c = y_i]: the gradient of their summed CE terms
 * with respect to b_c (zeros when the prior is uniform or no image carried the term). */
void pcnn_net_set_ce_prior(pcnn_net *net, const double *b);
const double *pcnn_net_ce_prior_grad(const pcnn_net *net);
/* The classes the CE image img (global index) of a step runs under: out[0..k) with the true
 * label y first, then the others (k = K: 0..K-1 in order, y where it falls). */
void pcnn_net_ce_class_set(int K, int k, int32_t y, uint64_t seed, uint64_t step, uint64_t img,
                           int32_t *out);

/* Data parallelism (docs/SCALE.md): this process's share of a hybrid step over a global batch
 * of n_total images, of which it holds the N (0..max_batch rows) images img0..img0+N-1, the
 * first n_ce of them carrying the CE term. The gradients left in the net are those of this
 * share of the global loss (every row weighted by 1/n_total), dropout is keyed by the global
 * image index, so summing the shares of all processes gives the step's gradient (up to the
 * order of the sum). With N = n_total and img0 = 0 it is pcnn_net_hybrid_step's gradient to
 * the bit. Returns the share's sum of -log p(x | y) (nats) and *ce_sum the sum of its CE_n;
 * N = 0 leaves zero gradients. */
double pcnn_net_hybrid_step_shard(pcnn_net *net, const uint8_t *pixels, const int32_t *labels,
                                  int N, int n_ce, float lambda, float tau, int dropout,
                                  uint64_t seed, uint64_t step, int n_total, uint64_t img0,
                                  double *ce_sum);

/* The gradients of the last step in host memory, for a collective to sum in place: the
 * gradient buffer itself on the CPU, a downloaded copy on a GPU. pcnn_net_grads_put hands the
 * (summed) host copy back (uploads it on a GPU; nothing to do on the CPU). */
float *pcnn_net_grads_get(pcnn_net *net);
void pcnn_net_grads_put(pcnn_net *net, const float *host);

/* The training precision (pcnn-fit --precision): the operands of the convolution
 * and 1x1 GEMMs in the forward and backward of every training step (train, grad,
 * hybrid and shard steps above): PCNN_PREC_FP32 (the default) or PCNN_PREC_BF16,
 * bfloat16 operands with fp32 sums, on a CPU with AVX512_BF16 (the exact
 * arithmetic: nn_gemm.h) or on the CUDA backend (tensor cores, docs/GPU.md). Parameters, Adam, Polyak, weight norm, the elementwise
 * math and the likelihood stay fp32, and so does every eval pass (scores,
 * validation, sampling). A bf16 step gives the same bytes for any thread count
 * and batch capacity, like fp32, but not fp32's bytes.
 * pcnn_net_set_precision: 0, or -1 after a message when the device cannot (a
 * CPU without AVX512_BF16 or with PCNN_ISA below avx512bf16). */
int pcnn_net_set_precision(pcnn_net *net, int prec);
int pcnn_net_precision(const pcnn_net *net);

/* The backend's own collective for summing gradients across processes (NCCL on CUDA GPUs,
 * dist.h: pcnn_dist_device_join), NULL when it has none (the CPU); and the gradient buffer
 * itself, in the device's memory, for it to sum in place. */
struct pcnn_dist_device;
const struct pcnn_dist_device *pcnn_net_device_coll(const pcnn_net *net);
float *pcnn_net_grads_device(pcnn_net *net);

/* Adam on the gradients of the last train step, PyTorch semantics (bias
 * correction with the net's step counter, which this increments first; eps
 * added to sqrt(v_hat)), then Polyak: p_avg = decay * p_avg + (1 - decay) * p. */
void pcnn_net_adam_step(pcnn_net *net, float lr, float beta1, float beta2, float eps,
                        float polyak_decay);

/* Adam's learning rate of the class tables (every "<block>.hw", "<block>.hs",
 * "class_map": pcnn_params_is_class_table) is lr * mult from now on (default 1:
 * one rate for all). The class tables start small (hw ~ N(0, 0.05^2)) and only
 * they carry the class: a short run needs them to move faster. */
void pcnn_net_set_class_lr_mult(pcnn_net *net, float mult);

/* Eval mode (no dropout). out (N x K, row-major): log p(x_n | c) in nats for
 * every class c; the network runs once per class: K passes of a batch, or (on a GPU:
 * nn_backend.h score_wide) one wide pass of the K classes of max_batch / K images.
 * use_polyak: 1 = Polyak weights, 0 = the current parameters. */
void pcnn_net_loglik(pcnn_net *net, const uint8_t *pixels, int N, int use_polyak, double *out);

/* Eval mode, one class per image: out[n] = log p(x_n | labels[n]) (for bits/dim
 * under the true label, K times cheaper than pcnn_net_loglik). */
void pcnn_net_loglik_labels(pcnn_net *net, const uint8_t *pixels, const int32_t *labels, int N,
                            int use_polyak, double *out);

/* Eval mode raw network output for the sampler: x (N, H, W, 3) floats in
 * [-1, 1] (continuous samples are allowed), labels (N) -> out (N, H, W, 10*M),
 * laid out per pixel as in SPEC §4 (M logits, then R, G, B groups of 3M:
 * means, log-scales, raw coefficients). Pass it to pcnn_dmol_sample (nn_dmol.h). */
void pcnn_net_forward_logits(pcnn_net *net, const float *x, const int32_t *labels, int N,
                             int use_polyak, float *out);

/* The same pass, but only pixel (i, j) of each image leaves the device: out
 * (N, 10*M) holds the values pcnn_net_forward_logits would put at (n, i, j).
 * The naive sampler needs no more, and on a GPU the whole output is 10*M/3
 * times the input it uploads (about 42 GB per 100 images at (5,160,10) for a
 * 32 x 32 scan). */
void pcnn_net_forward_logits_at(pcnn_net *net, const float *x, const int32_t *labels, int N,
                                int use_polyak, int i, int j, float *out);

#endif
