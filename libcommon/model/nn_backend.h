/*
 * nn_backend.h — the interface between the network graph (net.c) and a device.
 * The graph calls these block-level operations in order; a backend (CPU:
 * backend_cpu.c over the primitives of nn/; CUDA: cuda/backend_cuda.cu, loaded by
 * backend_cuda_load.c) implements them and owns all device memory. This header
 * knows no graph: a backend sees the parameter table (params.h) and nothing of
 * net.h, the model file or the data file. The graph's hooks for tests are in
 * net_hooks.h.
 *
 * How to add an op (a new block-level operation):
 *   1. its contract here: a function pointer in pcnn_backend, with the shapes;
 *   2. the CPU reference in backend_cpu.c, on primitives of nn/ (nn_layers.h: the
 *      math and shapes in its comment; a backward checked by central differences
 *      in tests/unit/test_nn_grad.c);
 *   3. the CUDA twin: a kernel in its own cuda/<op>.cu with the same name and
 *      argument order, its per-element body in cuda/kernel_math.h (tested on the
 *      host by test_kernel_math), the entry in cuda/backend_cuda.cu;
 *   4. the call in the graph (net.c; net_sample.c if the cached sampler's windows
 *      run it) and a parity case in tests/unit/test_gpu_parity.c.
 * How to add a conditioning variant (SPEC §3b; film and input touched these):
 *   params.h/params.c (the flag PCNN_COND_*, its tensors' names and shapes), model.c
 *   (creation, and the variant told by a file's tensor names), this header (what
 *   the ops do with it), backend_cpu.c and nn/nn_layers.c (the CPU op and its
 *   backward), cuda/kernels.h, cuda/gate.cu or cuda/shift.cu and
 *   cuda/backend_cuda.cu (the CUDA op), net.c (class tables' learning rate) and
 *   net_sample.c (the cached sampler's windows), the PyTorch names in
 *   tests/reference/pixelcnn.py and make_golden.py (golden fixtures) and in
 *   pcnn-import / pcnn-export, and SPEC/docs (REFERENCE.md, FORMATS.md).
 *
 * Conventions
 * - Every float* / int32_t* here is DEVICE memory from be->alloc (on the CPU
 *   plain host memory); the graph only does pointer arithmetic on them.
 * - Activations are NHWC, F channels, (N, h, w, F) at the block's level (h, w).
 * - "wp" is the effective-parameter buffer: same table and offsets as the
 *   parameter buffer (params.h), but the weight_v slot of each layer holds the
 *   weight-normalised W = g v / ||v|| (PyTorch layout); bias, hw, hs and
 *   class_map slots are copied. "gp" is its gradient (same offsets); wn_bwd
 *   turns gp into the gradient of (v, g, b, hw, ...). gp == NULL: forward only (eval).
 * - The conditioning variant (SPEC §3b) is the table's: t->cond (params.h).
 * - Every *_bwd ACCUMULATES (+=) into the input gradients and gp; the graph
 *   zeroes them once per step. Backward of an op may use what its forward saved
 *   in its state (st), so ops run backward in exact reverse order of the forward.
 * - labels: device int32 (N), 0..K-1. x: device float (N, H, W, 3) in [-1, 1].
 */
#ifndef PCNN_NN_BACKEND_H
#define PCNN_NN_BACKEND_H

#include "model/params.h"   // defines: pcnn_param_table, pcnn_blockref, pcnn_wnlayer

#include <stddef.h>
#include <stdint.h>

enum { PCNN_OP_INPUT, PCNN_OP_GATED, PCNN_OP_DOWN, PCNN_OP_UP, PCNN_OP_OUT };
/* gated_fwd_x's xmode */
enum { PCNN_X_KEEP = 1, PCNN_X_REUSE = 2 };

/* Training-mode dropout of one gated block: mask = f(seed, step, block, image, c),
 * image = pcnn_dropout_image(n, rep, nrep) (rng.h): rep = 0 or 1 for a plain
 * batch; the hybrid objective's batch of nrep images x rep classes shares masks; img0: the
 * global index of the batch's first image (a rank's share, docs/SCALE.md), 0 otherwise. */
typedef struct pcnn_dropout {
    uint64_t seed, step, block;
    uint64_t rep, nrep, img0;
} pcnn_dropout;

/* Which process of a data-parallel job (dist.h) asks for a device: each rank on a host takes
 * its own GPU, local_rank mod the GPUs it sees. {0, 1, 0, 1} for one process. */
typedef struct pcnn_rank_place {
    int rank, nranks, local_rank, local_size;
} pcnn_rank_place;

struct pcnn_dist_device;

typedef struct pcnn_backend pcnn_backend;
struct pcnn_backend {
    const char *name;                  /* "cpu", "cuda" */
    void *ctx;
    const pcnn_param_table *t;
    int max_batch, H, W;               /* full image size */
    /* The device's own collective for summing gradients across ranks (dist.h; NCCL on CUDA),
     * NULL when it has none (the CPU: dist.c sums host memory). */
    const struct pcnn_dist_device *coll;

    void (*destroy)(pcnn_backend *be);
    /* Device memory: alloc returns zero-filled bytes (dies when out of memory). */
    void *(*alloc)(pcnn_backend *be, size_t bytes);
    void (*release)(pcnn_backend *be, void *p);
    void (*upload)(pcnn_backend *be, void *dst, const void *src, size_t bytes);
    void (*download)(pcnn_backend *be, void *dst, const void *src, size_t bytes);
    void (*zero)(pcnn_backend *be, void *p, size_t bytes);
    /* A strided block copy in device memory (the cached sampler's window gathers and
     * scatters), strides in floats: for n < N, r < rows, k < len:
     *   dst[n dn + r dr + k] = src[n sn + r sr + k]. */
    void (*copy_block)(pcnn_backend *be, float *dst, size_t dn, size_t dr, const float *src,
                       size_t sn, size_t sr, int N, int rows, size_t len);
    /* Another backend for images of H x W (the cached sampler's windows, net_sample.c) on
     * the same device, whose memory and ops are interchangeable with be's and run in one
     * order with them (CUDA: the same stream). Destroyed before be. NULL where not offered.
     * windows_threaded: window backends may run from several threads at once, each its own
     * (the CPU: yes; CUDA: no, they share one stream). */
    pcnn_backend *(*window_new)(pcnn_backend *be, int max_batch, int H, int W);
    int windows_threaded;
    /* Optional (NULL where not offered; all or none): the cached sampler's position table
     * and graphs (net_sample.c, docs/GPU.md). Every launch of a position then takes what
     * depends on the position from a small table in device memory, filled from host
     * memory by the position's first copy, so that every position of one shape (which
     * ops are due) runs the same launches: on CUDA with PCNN_CUDA_GRAPH=1 (sample_graphs)
     * one graph per shape, captured once and replayed.
     *   host_alloc / host_release: host memory that the async copies read and write
     *     (CUDA: pinned; the CPU: plain).
     *   upload_async / download_async: upload / download enqueued only (src, resp. dst,
     *     host_alloc memory; read or written when the copy runs: valid after sync).
     *   copy_table: for q < ne, entry e + q of tab (device memory: two uint64 words, the
     *     destination's and the source's device addresses) is copied as copy_block(dst,
     *     dn, dr, src, sn, sr, N, rows, len); one launch. Never over the weights.
     *   input_fwd_tab: input_fwd with (r0, c0) = (rc[0], rc[1]) read from device memory.
     *   pos_graph_begin(be, key): like graph_begin for the launches of one position on
     *     this (window) backend's stream, key its shape: 1 replayed (the launches, the
     *     copies to and from host memory included, are enqueued: skip them), 0 capturing
     *     (enqueue them, then pos_graph_end, which launches them), -1 enqueue them plainly.
     *     The graphs are the backend's and die with it. NULL: plainly, always.
     *   sample_graphs: the backend wants the table (pos_graph_begin may capture). */
    void *(*host_alloc)(pcnn_backend *be, size_t bytes);
    void (*host_release)(pcnn_backend *be, void *p);
    void (*upload_async)(pcnn_backend *be, void *dst, const void *src, size_t bytes);
    void (*download_async)(pcnn_backend *be, void *dst, const void *src, size_t bytes);
    void (*sync)(pcnn_backend *be);
    void (*copy_table)(pcnn_backend *be, const uint64_t *tab, int e, int ne, size_t dn, size_t dr,
                       size_t sn, size_t sr, int N, int rows, size_t len);
    void (*input_fwd_tab)(pcnn_backend *be, void *st, const float *wp, const float *x,
                          const int32_t *labels, int N, const uint64_t *rc, float *u, float *ul);
    int (*pos_graph_begin)(pcnn_backend *be, uint64_t key);
    void (*pos_graph_end)(pcnn_backend *be);
    int sample_graphs;
    /* Scoring the K classes of a batch pays as one wide pass of K x nb rows (row n K + c:
     * image n under class c, its pixels replicated on the device by copy_block) rather
     * than K passes of nb (net.c, pcnn_net_loglik). CUDA: 1 (bigger GEMMs, one graph per
     * wide batch); the CPU: 0 (its small batches stay in cache, and the K-pass path
     * computes what the class does not reach once: gated_fwd_x). The same bytes either
     * way where the arithmetic of a row does not depend on the batch (the CPU). */
    int score_wide;
    /* Saved activations of one op at level (h, w), for max_batch images.
     * ref: the pcnn_blockref (GATED) or pcnn_wnlayer (DOWN, UP, OUT), NULL for INPUT. */
    void *(*state_new)(pcnn_backend *be, int op, const void *ref, int h, int w);
    void (*state_free)(pcnn_backend *be, void *st);

    /* Effective parameters wp from params (weight norm, copy b and hw); and back:
     * grads (v, g, b, hw) = (overwritten) chain rule of gp through the weight norm. */
    void (*wn_fwd)(pcnn_backend *be, const float *params, float *wp);
    void (*wn_bwd)(pcnn_backend *be, const float *params, const float *gp, float *grads);

    /* u = down_shift(u_init(xin)); ul = down_shift(ul_init.0(xin)) + right_shift(ul_init.1(xin)),
     * xin = concat(x, 1), or with PCNN_COND_INPUT (SPEC §3b) concat(x + class_map[y], 1).
     * x (N, H, W, 3) is the window of the image at rows [r0, r0 + H), columns
     * [c0, c0 + W) (H, W the backend's; the class map is t->H x t->W): r0 = c0 = 0
     * for whole images, other values for the cached sampler's windows. Outputs
     * (N, H, W, F). input_bwd: whole images; with PCNN_COND_INPUT it also adds
     * d class_map into gp (the gradient through x, the target, is not wanted). */
    void (*input_fwd)(pcnn_backend *be, void *st, const float *wp, const float *x,
                      const int32_t *labels, int N, int r0, int c0, float *u, float *ul);
    void (*input_bwd)(pcnn_backend *be, void *st, const float *wp, float *gp, const float *x,
                      const int32_t *labels, int N, const float *du, const float *dul);
    /* out = gated_resnet(x, a = concat(a1, a2), y) (SPEC §3); a1, a2 (N,h,w,F) or NULL;
     * drop NULL = eval. With PCNN_COND_FILM the class term is c2 (1 + hs[y]) + hw[y]
     * (SPEC §3b) and gated_bwd adds d hs into gp. */
    void (*gated_fwd)(pcnn_backend *be, void *st, const pcnn_blockref *b, const float *wp,
                      const float *x, const float *a1, const float *a2, const int32_t *labels,
                      int N, int h, int w, const pcnn_dropout *drop, float *out);
    /* Optional (NULL where not offered): gated_fwd in eval (no dropout), for scoring the K
     * classes of one batch, where a block whose x does not depend on the class recomputes
     * nothing of what x alone decides, concat_elu(x) and conv_input(concat_elu(x)):
     *   PCNN_X_KEEP   compute as gated_fwd and keep that part in the state;
     *   PCNN_X_REUSE  x, N, h, w and the weights are those of this state's last KEEP call
     *                 (labels, a1 and a2 may differ): take that part from it.
     * Both give gated_fwd's bits. */
    void (*gated_fwd_x)(pcnn_backend *be, void *st, const pcnn_blockref *b, const float *wp,
                        const float *x, const float *a1, const float *a2, const int32_t *labels,
                        int N, int h, int w, int xmode, float *out);
    void (*gated_bwd)(pcnn_backend *be, void *st, const pcnn_blockref *b, const float *wp,
                      float *gp, const float *x, const float *a1, const float *a2,
                      const int32_t *labels, int N, int h, int w, const float *dout, float *dx,
                      float *da1, float *da2);
    /* Stride-2 shifted conv of layer L: in (N,h,w,F) -> out (N,h/2,w/2,F). */
    void (*down_fwd)(pcnn_backend *be, void *st, const pcnn_wnlayer *L, const float *wp,
                     const float *in, int N, int h, int w, float *out);
    void (*down_bwd)(pcnn_backend *be, void *st, const pcnn_wnlayer *L, const float *wp,
                     float *gp, const float *in, int N, int h, int w, const float *dout,
                     float *din);
    /* Shifted transposed conv of layer L: in (N,h,w,F) -> out (N,2h,2w,F). */
    void (*up_fwd)(pcnn_backend *be, void *st, const pcnn_wnlayer *L, const float *wp,
                   const float *in, int N, int h, int w, float *out);
    void (*up_bwd)(pcnn_backend *be, void *st, const pcnn_wnlayer *L, const float *wp, float *gp,
                   const float *in, int N, int h, int w, const float *dout, float *din);
    /* logits (N,H,W,10M) = nin_out(elu(ul)). */
    void (*out_fwd)(pcnn_backend *be, void *st, const float *wp, const float *ul, int N,
                    float *logits);
    void (*out_bwd)(pcnn_backend *be, void *st, const float *wp, float *gp, const float *ul,
                    int N, const float *dlogits, float *dul);
    /* ll (HOST, N doubles) = log p(x_n | logits_n) summed over pixels (SPEC §4);
     * dlogits (device, may be NULL) = scale * d ll_n / d logits (overwritten). */
    void (*dmol)(pcnn_backend *be, const float *logits, const float *x, int N, double *ll,
                 float *dlogits, float scale);
    /* Adam (PyTorch, bias-corrected with step t >= 1) then Polyak, over n floats. */
    void (*adam)(pcnn_backend *be, float *params, const float *grads, float *m, float *v,
                 float *polyak, size_t n, float lr, float beta1, float beta2, float eps,
                 uint64_t t, float decay);
    /* The operand precision of the convolution and 1x1 GEMMs from now on
     * (PCNN_PREC_*, nn/nn_isa.h); the graph sets it around a training step's forward and
     * backward, fp32 otherwise. 0, or -1 when the device cannot (changing nothing).
     * CUDA: bf16 = bfloat16 operands summed in fp32 on the tensor cores; fp32 = back to
     * the backend's own mode (PCNN_PRECISION: fp32, tf32 or bf16; docs/GPU.md).
     * NULL: fp32 only. A backward runs in the precision of its forward. */
    int (*set_precision)(pcnn_backend *be, int prec);
    /* Optional (NULL where not offered; CUDA with PCNN_CUDA_GRAPH=1, docs/GPU.md): a whole
     * pass captured as one graph per key and replayed. The graph calls graph_begin before a
     * pass's ops with key naming everything its launches depend on besides the buffers'
     * contents (the kind of pass, N, the step's constants, the precision) and step, the
     * dropout step (the one launch argument that changes from call to call):
     *    1  the pass was replayed: skip its ops (dmol included);
     *    0  capturing: run the ops, then graph_end (which runs the pass);
     *   -1  run the ops plainly.
     * In a captured or replayed pass dmol leaves its ll alone: graph_ll(be, ll, N) fetches
     * it after graph_end or a replay. Every byte is the plain pass's. */
    int (*graph_begin)(pcnn_backend *be, uint64_t key, uint64_t step);
    void (*graph_end)(pcnn_backend *be);
    void (*graph_ll)(pcnn_backend *be, double *ll, int N);
};

/* The CPU backend (backend_cpu.c). */
pcnn_backend *pcnn_backend_cpu_new(const pcnn_param_table *t, int max_batch, int H, int W);
/* The CUDA backend (loaded from lib/pcnn/libpcnn-cuda.so: backend_cuda_load.c), or
 * NULL with a message when none is built, no device is present or it cannot be loaded.
 * On the GPU of this rank (dist.h: pcnn_dist_local_rank mod the visible GPUs). */
pcnn_backend *pcnn_backend_cuda_new(const pcnn_param_table *t, int max_batch, int H, int W);
/* Where that library is looked for: PCNN_CUDA_LIB, else lib/pcnn/libpcnn-cuda.so
 * beside the executable's directory. 0 on success, -1 when it cannot be told.
 * (Builds with CUDA only.) */
int pcnn_cuda_library_path(char *buf, size_t cap);

#endif
