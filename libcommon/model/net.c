/*
 * net.c — the conditional PixelCNN++ graph (SPEC §3), written once over the
 * backend interface of nn_backend.h. At creation the graph is laid out as a
 * list of ops over activation nodes (the skip stacks of SPEC §3 resolved to
 * node ids); a forward runs the list, a backward runs it in reverse.
 */
#include "model/net.h"
#include "model/net_internal.h"

#include "model/model.h"
#include "model/nn_backend.h"
#include "nn/nn_dmol.h"
#include "model/params.h"
#include "model/net_hooks.h"
#include "rng.h"   // defines: pcnn_rng_hash4 (the graphs' keys)
#include "util.h"

#include <math.h>
#include <stdlib.h>

/* The CUDA backend is used when the build has CUDA (PCNN_HAVE_CUDA) and its
 * source tree is present (cuda/backend_cuda.h): pcnn_backend_cuda_new
 * (nn_backend.h, backend_cuda_load.c) loads it from its library when a GPU is
 * there. Without it "cuda" is refused. */
#if defined(PCNN_HAVE_CUDA) && defined(__has_include)
#if __has_include("../cuda/backend_cuda.h")
#define PCNN_CUDA_BACKEND 1
#endif
#endif
#include <string.h>

static int new_node(pcnn_net *net, int h, int w)
{
    pcnn_node *n = &net->nodes[net->nnodes];
    n->h = h;
    n->w = w;
    n->val = net->be->alloc(net->be, (size_t)net->max_batch * h * w * net->F * sizeof(float));
    return net->nnodes++;
}

static pcnn_op *add_op(pcnn_net *net, int kind, int h, int w)
{
    pcnn_op *o = &net->ops[net->nops++];
    memset(o, 0, sizeof *o);
    o->kind = kind;
    o->in = o->a1 = o->a2 = o->out2 = -1;
    o->h = h;
    o->w = w;
    return o;
}

/* Lays out SPEC §3 as ops; u/ul stacks hold node ids. */
static void build_graph(pcnn_net *net)
{
    const pcnn_param_table *t = net->t;
    pcnn_backend *be = net->be;
    int R = net->R, H = net->H, W = net->W;
    int maxnodes = 2 * (6 * R + 8), maxops = 2 * (6 * R + 6) + 2;
    net->nodes = pcnn_xcalloc((size_t)maxnodes, sizeof *net->nodes);
    net->ops = pcnn_xcalloc((size_t)maxops, sizeof *net->ops);
    int *su = pcnn_xmalloc((size_t)maxnodes * sizeof *su), *sul = pcnn_xmalloc((size_t)maxnodes * sizeof *sul);
    int nu = 0, nul = 0;

    pcnn_op *o = add_op(net, PCNN_OP_INPUT, H, W);
    o->out = new_node(net, H, W);
    o->out2 = new_node(net, H, W);
    o->st = be->state_new(be, PCNN_OP_INPUT, NULL, H, W);
    int u = o->out, ul = o->out2;
    su[nu++] = u;
    sul[nul++] = ul;
    for (int l = 0; l < 3; l++) {
        int h = H >> l, w = W >> l;
        for (int r = 0; r < R; r++) {
            o = add_op(net, PCNN_OP_GATED, h, w);
            o->b = &t->up_u[l * R + r];
            o->in = u;
            o->out = u = new_node(net, h, w);
            o->block = net->nblocks++;
            o->st = be->state_new(be, PCNN_OP_GATED, o->b, h, w);
            o = add_op(net, PCNN_OP_GATED, h, w);
            o->b = &t->up_ul[l * R + r];
            o->in = ul;
            o->a1 = u;
            o->out = ul = new_node(net, h, w);
            o->block = net->nblocks++;
            o->st = be->state_new(be, PCNN_OP_GATED, o->b, h, w);
            su[nu++] = u;
            sul[nul++] = ul;
        }
        if (l < 2) {
            o = add_op(net, PCNN_OP_DOWN, h, w);
            o->L = &t->layers[t->downsize_u[l]];
            o->in = u;
            o->out = u = new_node(net, h / 2, w / 2);
            o->st = be->state_new(be, PCNN_OP_DOWN, o->L, h, w);
            o = add_op(net, PCNN_OP_DOWN, h, w);
            o->L = &t->layers[t->downsize_ul[l]];
            o->in = ul;
            o->out = ul = new_node(net, h / 2, w / 2);
            o->st = be->state_new(be, PCNN_OP_DOWN, o->L, h, w);
            su[nu++] = u;
            sul[nul++] = ul;
        }
    }
    u = su[--nu];
    ul = sul[--nul];
    int k = 0;
    for (int l = 0; l < 3; l++) {
        int h = H >> (2 - l), w = W >> (2 - l);
        int nr = l == 0 ? R : R + 1;
        for (int r = 0; r < nr; r++, k++) {
            o = add_op(net, PCNN_OP_GATED, h, w);
            o->b = &t->down_u[k];
            o->in = u;
            o->a1 = su[--nu];
            o->out = u = new_node(net, h, w);
            o->block = net->nblocks++;
            o->st = be->state_new(be, PCNN_OP_GATED, o->b, h, w);
            o = add_op(net, PCNN_OP_GATED, h, w);
            o->b = &t->down_ul[k];
            o->in = ul;
            o->a1 = u;
            o->a2 = sul[--nul];
            o->out = ul = new_node(net, h, w);
            o->block = net->nblocks++;
            o->st = be->state_new(be, PCNN_OP_GATED, o->b, h, w);
        }
        if (l < 2) {
            o = add_op(net, PCNN_OP_UP, h, w);
            o->L = &t->layers[t->upsize_u[l]];
            o->in = u;
            o->out = u = new_node(net, 2 * h, 2 * w);
            o->st = be->state_new(be, PCNN_OP_UP, o->L, h, w);
            o = add_op(net, PCNN_OP_UP, h, w);
            o->L = &t->layers[t->upsize_ul[l]];
            o->in = ul;
            o->out = ul = new_node(net, 2 * h, 2 * w);
            o->st = be->state_new(be, PCNN_OP_UP, o->L, h, w);
        }
    }
    if (nu != 0 || nul != 0) pcnn_die("internal error: skip stacks not empty (%d, %d)", nu, nul);
    /* What the class does not reach: without the class image at the input, the INPUT op's
     * u and ul, and so the x of the gated blocks that read them (the first up-pass block of
     * each stream; the class enters a block at its c2, after conv_input). */
    net->share_x = !(t->cond & PCNN_COND_INPUT) && be->gated_fwd_x;
    for (int i = 0; i < net->nops; i++)
        net->ops[i].x_indep = net->share_x && net->ops[i].kind == PCNN_OP_GATED &&
                              (net->ops[i].in == net->ops[0].out || net->ops[i].in == net->ops[0].out2);
    o = add_op(net, PCNN_OP_OUT, H, W);
    o->L = &t->layers[t->nin_out];
    o->in = ul;
    o->st = be->state_new(be, PCNN_OP_OUT, o->L, H, W);
    free(su);
    free(sul);
}

static float *nval(pcnn_net *net, int id) { return id < 0 ? NULL : net->nodes[id].val; }
static float *ngrad(pcnn_net *net, int id) { return id < 0 ? NULL : net->nodes[id].grad; }

/* seed/step: dropout key; train 0 = eval. Input net->x, net->labels; output net->logits.
 * rep/nrep: which rows share a dropout mask (pcnn_dropout_image, rng.h); 0 for a plain batch.
 * img0: the global index of the first image (a rank's share of a batch), 0 otherwise.
 * xmode (eval, net->share_x only): 0; PCNN_X_KEEP, the first class of a batch, keeps what
 * does not depend on the class; PCNN_X_REUSE, every later class of the same images, reuses
 * it (the INPUT op does not run: u, ul still hold its values). The same bits as 0. */
static void forward(pcnn_net *net, int N, int train, uint64_t seed, uint64_t step, uint64_t rep,
                    uint64_t nrep, uint64_t img0, int xmode)
{
    pcnn_backend *be = net->be;
    const float *wp = net->wp;
    for (int i = 0; i < net->nops; i++) {
        pcnn_op *o = &net->ops[i];
        switch (o->kind) {
        case PCNN_OP_INPUT:
            if (xmode == PCNN_X_REUSE) break;
            be->input_fwd(be, o->st, wp, net->x, net->labels, N, 0, 0, nval(net, o->out),
                          nval(net, o->out2));
            break;
        case PCNN_OP_GATED: {
            if (xmode && o->x_indep) {
                be->gated_fwd_x(be, o->st, o->b, wp, nval(net, o->in), nval(net, o->a1),
                                nval(net, o->a2), net->labels, N, o->h, o->w, xmode,
                                nval(net, o->out));
                break;
            }
            pcnn_dropout d = {seed, step, (uint64_t)o->block, rep, nrep, img0};
            be->gated_fwd(be, o->st, o->b, wp, nval(net, o->in), nval(net, o->a1), nval(net, o->a2),
                          net->labels, N, o->h, o->w, train ? &d : NULL, nval(net, o->out));
            break;
        }
        case PCNN_OP_DOWN:
            be->down_fwd(be, o->st, o->L, wp, nval(net, o->in), N, o->h, o->w, nval(net, o->out));
            break;
        case PCNN_OP_UP:
            be->up_fwd(be, o->st, o->L, wp, nval(net, o->in), N, o->h, o->w, nval(net, o->out));
            break;
        case PCNN_OP_OUT:
            be->out_fwd(be, o->st, wp, nval(net, o->in), N, net->logits);
            break;
        }
    }
}

/* From net->dlogits back to net->gp (effective-parameter gradients). */
static void backward(pcnn_net *net, int N)
{
    pcnn_backend *be = net->be;
    const float *wp = net->wp;
    float *gp = net->gp;
    be->zero(be, gp, net->t->total * sizeof(float));
    for (int i = 0; i < net->nnodes; i++)
        be->zero(be, net->nodes[i].grad,
                 (size_t)N * net->nodes[i].h * net->nodes[i].w * net->F * sizeof(float));
    for (int i = net->nops - 1; i >= 0; i--) {
        pcnn_op *o = &net->ops[i];
        switch (o->kind) {
        case PCNN_OP_INPUT:
            be->input_bwd(be, o->st, wp, gp, net->x, net->labels, N, ngrad(net, o->out),
                          ngrad(net, o->out2));
            break;
        case PCNN_OP_GATED:
            be->gated_bwd(be, o->st, o->b, wp, gp, nval(net, o->in), nval(net, o->a1),
                          nval(net, o->a2), net->labels, N, o->h, o->w, ngrad(net, o->out),
                          ngrad(net, o->in), ngrad(net, o->a1), ngrad(net, o->a2));
            break;
        case PCNN_OP_DOWN:
            be->down_bwd(be, o->st, o->L, wp, gp, nval(net, o->in), N, o->h, o->w,
                         ngrad(net, o->out), ngrad(net, o->in));
            break;
        case PCNN_OP_UP:
            be->up_bwd(be, o->st, o->L, wp, gp, nval(net, o->in), N, o->h, o->w,
                       ngrad(net, o->out), ngrad(net, o->in));
            break;
        case PCNN_OP_OUT:
            be->out_bwd(be, o->st, wp, gp, nval(net, o->in), N, net->dlogits, ngrad(net, o->in));
            break;
        }
    }
}

void pcnn_net_use_weights(pcnn_net *net, int polyak)
{
    int want = polyak ? 2 : 1;
    if (net->wp_src == want) return;
    net->be->wn_fwd(net->be, polyak ? net->polyak : net->params, net->wp);
    net->wp_src = want;
}

/* dst (device, N images) <- pixels scaled to [-1, 1] (SPEC §2). */
static void upload_pixels_to(pcnn_net *net, float *dst, const uint8_t *pixels, int N)
{
    size_t n = (size_t)N * net->H * net->W * 3;
    for (size_t i = 0; i < n; i++) net->hx[i] = ((float)pixels[i] / 255.0f - 0.5f) * 2.0f;
    net->be->upload(net->be, dst, net->hx, n * sizeof(float));
}

static void upload_pixels(pcnn_net *net, const uint8_t *pixels, int N)
{
    upload_pixels_to(net, net->x, pixels, N);
}

/* Dies unless every label is a class of the net (validated by the callers' input checks). */
static void check_labels(const pcnn_net *net, const int32_t *labels, int N)
{
    for (int n = 0; n < N; n++)
        if (labels[n] < 0 || labels[n] >= net->K)
            pcnn_die("label %d of image %d out of range 0..%d", (int)labels[n], n, net->K - 1);
}

void pcnn_net_upload_labels(pcnn_net *net, const int32_t *labels, int N)
{
    check_labels(net, labels, N);
    net->be->upload(net->be, net->labels, labels, (size_t)N * sizeof(int32_t));
}

pcnn_net *pcnn_net_create(const pcnn_model_file *m, const char *device, int max_batch)
{
    return pcnn_net_create_batch(m, device, max_batch ? max_batch : PCNN_SCORE_BATCH_CPU,
                                 max_batch ? max_batch : PCNN_SCORE_BATCH_GPU);
}

pcnn_net *pcnn_net_create_batch(const pcnn_model_file *m, const char *device, int cpu_batch,
                                int gpu_batch)
{
    int max_batch = cpu_batch;
    if (m->C != 3) {
        pcnn_warn("model has %u channels; pcnn models are RGB (3)", (unsigned)m->C);
        return NULL;
    }
    if (m->R < 1 || m->F < 1 || m->M < 1 || m->K < 1 || m->M > PCNN_DMOL_MAX_M || m->R > 1000 ||
        m->F > 100000 || m->H < 4 || m->W < 4 || m->H % 4 || m->W % 4) {
        pcnn_warn("model sizes R=%u F=%u M=%u K=%u H=%u W=%u not supported (R, F, K >= 1, "
                  "1 <= M <= %d, H and W multiples of 4)",
                  (unsigned)m->R, (unsigned)m->F, (unsigned)m->M, (unsigned)m->K, (unsigned)m->H,
                  (unsigned)m->W, PCNN_DMOL_MAX_M);
        return NULL;
    }
    if (cpu_batch < 1 || gpu_batch < 1) {
        pcnn_warn("batch size %d must be at least 1", cpu_batch < 1 ? cpu_batch : gpu_batch);
        return NULL;
    }
    /* the conditioning variant (SPEC §3b) is told by the tensors the file holds */
    pcnn_param_table *t = pcnn_params_build((int)m->R, (int)m->F, (int)m->M, (int)m->K,
                                            pcnn_model_conditioning(m), (int)m->H, (int)m->W);
    float *host = pcnn_xmalloc(t->total * sizeof *host);
    int have = pcnn_model_load_buffer(m, t, "", host);
    if (have != 1) {
        if (have == 0)
            pcnn_warn("model has no parameter tensors (make one with pcnn-fit)");
        free(host);
        pcnn_params_free(t);
        return NULL;
    }
    pcnn_backend *be = NULL;
    const char *dev = device ? device : "cpu";
    double t_be = pcnn_now();
    if (!strcmp(dev, "cuda") || !strcmp(dev, "auto")) {
#ifdef PCNN_CUDA_BACKEND
        be = pcnn_backend_cuda_new(t, gpu_batch, (int)m->H, (int)m->W);
        if (be) max_batch = gpu_batch;
#endif
        if (!be && !strcmp(dev, "cuda")) {
#ifndef PCNN_CUDA_BACKEND
            pcnn_warn("this pcnn was built without CUDA (use --device cpu, or rebuild with GPU=1)");
#else
            pcnn_warn("--device cuda: no usable GPU (use --device cpu or auto)");
#endif
            free(host);
            pcnn_params_free(t);
            return NULL;
        }
    } else if (strcmp(dev, "cpu") != 0) {
        pcnn_warn("unknown device '%s' (use cpu, cuda or auto)", dev);
        free(host);
        pcnn_params_free(t);
        return NULL;
    }
#ifdef PCNN_CUDA_BACKEND
    if (!be && !strcmp(dev, "auto")) pcnn_note("--device auto: running on the CPU");
#endif
    if (!be) be = pcnn_backend_cpu_new(t, max_batch, (int)m->H, (int)m->W);
    double backend_s = pcnn_now() - t_be;

    pcnn_net *net = pcnn_xcalloc(1, sizeof *net);
    net->be = be;
    net->t = t;
    net->R = (int)m->R;
    net->F = (int)m->F;
    net->M = (int)m->M;
    net->K = (int)m->K;
    net->H = (int)m->H;
    net->W = (int)m->W;
    net->max_batch = max_batch;
    net->step = m->step;
    net->class_lr_mult = 1.0f;
    net->backend_s = backend_s;
    /* PCNN_SCORE_WIDE=0 or 1 overrides the backend's choice (benches compare the two) */
    const char *sw = getenv("PCNN_SCORE_WIDE");
    net->score_wide = sw && *sw ? strcmp(sw, "0") != 0 : be->score_wide;
    net->sample_table = -1;   /* the cached sampler's table: the backend's choice */
    size_t bytes = t->total * sizeof(float);
    net->params = be->alloc(be, bytes);
    net->adam_m = be->alloc(be, bytes);
    net->adam_v = be->alloc(be, bytes);
    net->polyak = be->alloc(be, bytes);
    net->wp = be->alloc(be, bytes);
    be->upload(be, net->params, host, bytes);
    int st = pcnn_model_load_buffer(m, t, "polyak.", host);
    if (st < 0) goto fail;
    if (st == 0) pcnn_model_load_buffer(m, t, "", host);   /* no Polyak copy yet: the parameters */
    be->upload(be, net->polyak, host, bytes);
    st = pcnn_model_load_buffer(m, t, "adam_m.", host);
    if (st < 0) goto fail;
    if (st) be->upload(be, net->adam_m, host, bytes);
    st = pcnn_model_load_buffer(m, t, "adam_v.", host);
    if (st < 0) goto fail;
    if (st) be->upload(be, net->adam_v, host, bytes);
    free(host);
    host = NULL;

    build_graph(net);
    size_t pix = (size_t)max_batch * net->H * net->W;
    net->x = be->alloc(be, pix * 3 * sizeof(float));
    net->logits = be->alloc(be, pix * 10 * net->M * sizeof(float));
    net->labels = be->alloc(be, (size_t)max_batch * sizeof(int32_t));
    net->hx = pcnn_xmalloc(pix * 3 * sizeof(float));
    net->hlabels = pcnn_xmalloc((size_t)max_batch * sizeof(int32_t));
    net->hll = pcnn_xmalloc((size_t)max_batch * sizeof(double));
    return net;
fail:
    free(host);
    pcnn_net_free(net);
    return NULL;
}

void pcnn_net_free(pcnn_net *net)
{
    if (!net) return;
    pcnn_backend *be = net->be;
    for (int i = 0; i < net->nops; i++) be->state_free(be, net->ops[i].st);
    for (int i = 0; i < net->nnodes; i++) {
        be->release(be, net->nodes[i].val);
        if (net->nodes[i].grad) be->release(be, net->nodes[i].grad);
    }
    float *bufs[] = {net->params, net->grads, net->adam_m, net->adam_v, net->polyak, net->wp,
                     net->gp, net->x, net->logits, net->dlogits, (float *)net->labels, net->xsrc};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++)
        if (bufs[i]) be->release(be, bufs[i]);
    free(net->nodes);
    free(net->ops);
    free(net->hx);
    free(net->hlabels);
    free(net->hll);
    free(net->hpix);
    free(net->hw_row);
    free(net->ce_prior);
    free(net->ce_prior_grad);
    free(net->hgrads);
    free(net->lr_runs);
    be->destroy(be);
    pcnn_params_free(net->t);
    free(net);
}

const char *pcnn_net_device(const pcnn_net *net) { return net->be->name; }
int pcnn_net_max_batch(const pcnn_net *net) { return net->max_batch; }

int pcnn_net_score_batch(const pcnn_net *net)
{
    return strcmp(net->be->name, "cpu") || net->max_batch < PCNN_SCORE_BATCH_CPU ? net->max_batch
                                                                                 : PCNN_SCORE_BATCH_CPU;
}
size_t pcnn_net_num_params(const pcnn_net *net) { return net->t->total; }
uint64_t pcnn_net_step(const pcnn_net *net) { return net->step; }

/* The device buffer src (t->total floats) as the tensors "<prefix><name>" of m. */
static void store_device_buffer(const pcnn_net *net, pcnn_model_file *m, const char *prefix,
                                const float *src)
{
    size_t bytes = net->t->total * sizeof(float);
    float *host = pcnn_xmalloc(bytes);
    net->be->download(net->be, host, src, bytes);
    pcnn_model_store_buffer(m, net->t, prefix, host);
    free(host);
}

int pcnn_net_store(const pcnn_net *net, pcnn_model_file *m)
{
    if (m->R != (uint32_t)net->R || m->F != (uint32_t)net->F || m->M != (uint32_t)net->M ||
        m->K != (uint32_t)net->K || m->H != (uint32_t)net->H || m->W != (uint32_t)net->W) {
        pcnn_warn("internal error: storing a network into a model of other sizes");
        return -1;
    }
    const char *prefix[] = {"", "polyak.", "adam_m.", "adam_v."};
    const float *src[] = {net->params, net->polyak, net->adam_m, net->adam_v};
    for (int i = 0; i < 4; i++) store_device_buffer(net, m, prefix[i], src[i]);
    m->step = net->step;
    return 0;
}

void pcnn_net_store_polyak(const pcnn_net *net, pcnn_model_file *m, const char *prefix)
{
    store_device_buffer(net, m, prefix, net->polyak);
}

static void ensure_grads(pcnn_net *net)
{
    if (net->has_grads) return;
    pcnn_backend *be = net->be;
    size_t bytes = net->t->total * sizeof(float);
    net->grads = be->alloc(be, bytes);
    net->gp = be->alloc(be, bytes);
    net->dlogits = be->alloc(be, (size_t)net->max_batch * net->H * net->W * 10 * net->M * sizeof(float));
    for (int i = 0; i < net->nnodes; i++)
        net->nodes[i].grad = be->alloc(be, (size_t)net->max_batch * net->nodes[i].h *
                                               net->nodes[i].w * net->F * sizeof(float));
    net->has_grads = 1;
}

int pcnn_net_set_precision(pcnn_net *net, int prec)
{
    pcnn_backend *be = net->be;
    if (prec != PCNN_PREC_FP32) {
        if (!be->set_precision) {
            pcnn_warn("--precision %s: the %s backend trains in fp32 only (its own modes are "
                      "PCNN_PRECISION, docs/GPU.md); use --device cpu or --precision fp32",
                      pcnn_precision_name(prec), be->name);
            return -1;
        }
        if (be->set_precision(be, prec)) return -1;   /* the backend said why */
        be->set_precision(be, PCNN_PREC_FP32);        /* outside training steps: fp32 */
    }
    net->precision = prec;
    return 0;
}

int pcnn_net_precision(const pcnn_net *net) { return net->precision; }

/* The training precision on (around a step's forward and backward) or off. */
static void train_precision(pcnn_net *net, int on)
{
    if (net->precision != PCNN_PREC_FP32)
        net->be->set_precision(net->be, on ? net->precision : PCNN_PREC_FP32);
}

float pcnn_net_train_step(pcnn_net *net, const uint8_t *pixels, const int32_t *labels, int N,
                          uint64_t seed, uint64_t step)
{
    return pcnn_net_grad_step(net, pixels, labels, N, 1, seed, step);
}

/* A pass as a device graph (nn_backend.h): 1 replayed, 0 capturing, -1 plain (no graphs).
 * key: what the pass's launches depend on besides the buffers' contents and the step. */
enum { PASS_TRAIN = 1, PASS_EVAL = 2, PASS_WIDE = 3 };
static int pass_begin(pcnn_net *net, int kind, int N, uint64_t a, uint64_t b, uint64_t step)
{
    pcnn_backend *be = net->be;
    if (!be->graph_begin) return -1;
    uint64_t key = pcnn_rng_hash4((uint64_t)kind, (uint64_t)N << 8 | (uint64_t)net->precision, a, b, 0);
    int g = be->graph_begin(be, key, step);
    if (g >= 0) net->graph_runs[g]++;
    return g;
}

/* The end of a pass begun by pass_begin: the capture run, and ll (N) fetched. */
static void pass_end(pcnn_net *net, int g, double *ll, int N)
{
    if (g == 0) net->be->graph_end(net->be);
    if (g >= 0) net->be->graph_ll(net->be, ll, N);
}

long pcnn_net_graph_runs(const pcnn_net *net, int which) { return net->graph_runs[which != 0]; }

/* The plain step on images img0..img0+N-1 of a batch of n_total: the gradient of
 * -(1/n_total) sum_n ll_n over these N. Returns -sum_n ll_n (nats). */
static double grad_step_shard(pcnn_net *net, const uint8_t *pixels, const int32_t *labels, int N,
                              int dropout, uint64_t seed, uint64_t step, int n_total, uint64_t img0)
{
    if (N < 1 || N > net->max_batch) pcnn_die("internal error: batch %d not in 1..%d", N, net->max_batch);
    ensure_grads(net);
    upload_pixels(net, pixels, N);
    pcnn_net_upload_labels(net, labels, N);
    pcnn_net_use_weights(net, 0);
    net->last_ce = 0;
    train_precision(net, 1);
    /* the whole forward and backward, one graph per (N, dropout, n_total, seed, img0) */
    int g = pass_begin(net, PASS_TRAIN, N,
                       pcnn_rng_hash4((uint64_t)dropout, (uint64_t)n_total, seed, 0, 0), img0, step);
    if (g != 1) {
        forward(net, N, dropout, seed, step, 0, 0, img0, 0);
        /* loss = -(1/N) sum_n ll_n, so dloss/dlogits = -(1/N) dll/dlogits */
        net->be->dmol(net->be, net->logits, net->x, N, net->hll, net->dlogits,
                      -1.0f / (float)n_total);
        backward(net, N);
    }
    pass_end(net, g, net->hll, N);
    train_precision(net, 0);
    net->be->wn_bwd(net->be, net->params, net->gp, net->grads);
    double sum = 0.0;
    for (int n = 0; n < N; n++) sum += net->hll[n];
    return -sum;
}

float pcnn_net_grad_step(pcnn_net *net, const uint8_t *pixels, const int32_t *labels, int N,
                         int dropout, uint64_t seed, uint64_t step)
{
    net->last_loss = grad_step_shard(net, pixels, labels, N, dropout, seed, step, N, 0) / N;
    return (float)net->last_loss;
}

void pcnn_net_set_ce_classes(pcnn_net *net, int k) { net->ce_classes = k; }

void pcnn_net_set_ce_prior(pcnn_net *net, const double *b)
{
    if (!net->ce_prior_grad) net->ce_prior_grad = pcnn_xcalloc((size_t)net->K, sizeof(double));
    if (!b) {
        free(net->ce_prior);
        net->ce_prior = NULL;
        return;
    }
    if (!net->ce_prior) net->ce_prior = pcnn_xmalloc((size_t)net->K * sizeof(double));
    memcpy(net->ce_prior, b, (size_t)net->K * sizeof(double));
}

const double *pcnn_net_ce_prior_grad(const pcnn_net *net) { return net->ce_prior_grad; }

void pcnn_net_ce_class_set(int K, int k, int32_t y, uint64_t seed, uint64_t step, uint64_t img,
                           int32_t *out)
{
    if (k >= K || k <= 0) {
        for (int c = 0; c < K; c++) out[c] = c;
        return;
    }
    /* the K - 1 others in order, then a partial Fisher-Yates: their first k - 1 */
    int32_t *other = pcnn_xmalloc((size_t)K * sizeof *other);
    for (int c = 0, j = 0; c < K; c++)
        if (c != y) other[j++] = c;
    out[0] = y;
    for (int j = 0; j < k - 1; j++) {
        int r = j + (int)(pcnn_rng_hash4(seed, PCNN_RNG_CE_CLASSES, step, img, (uint64_t)j) %
                          (uint64_t)(K - 1 - j));
        int32_t t = other[j];
        other[j] = other[r];
        other[r] = t;
        out[1 + j] = other[j];
    }
    free(other);
}

double pcnn_hybrid_row_weights(const double *l, const int32_t *cls, int k, int K, int32_t y,
                               double lambda, double tau, int n_total, const double *b,
                               float *w, int *jy, double *gb)
{
    /* a drawn class stands for (K - 1) / (k - 1) of the others in the partition sum */
    const double drawn_shift = k < K ? log((double)(K - 1) / (double)(k - 1)) : 0.0;
    double z[PCNN_HYBRID_MAX_ROWS];
    if (k < 1 || k > PCNN_HYBRID_MAX_ROWS) pcnn_die("internal error: a CE posterior over %d rows", k);
    z[0] = 0.0;
    *jy = 0;
    for (int j = 0; j < k; j++) {
        z[j] = (l[j] + (b ? b[cls[j]] : 0.0)) / tau + (cls[j] == y ? 0.0 : drawn_shift);
        if (cls[j] == y) *jy = j;
    }
    double mx = z[0], sum = 0.0;
    for (int j = 1; j < k; j++) mx = fmax(mx, z[j]);
    for (int j = 0; j < k; j++) sum += exp(z[j] - mx);
    double lse = mx + log(sum);
    for (int j = 0; j < k; j++) {
        double p = exp(z[j] - lse);
        w[j] = (float)((lambda * p - (j == *jy ? 1.0 + lambda : 0.0)) / n_total);
        if (gb) gb[cls[j]] += p;
    }
    if (gb) gb[y] -= 1.0;
    return tau * (lse - z[*jy]);
}

/* SPEC §6b. The batch is laid out image-major: rows i*k + j (i < n_ce) are image
 * i under class cls(i, j) (k = K: cls(i, j) = j; else pcnn_net_ce_class_set), then rows
 * n_ce*k + j are images n_ce + j under their true label: E = n_ce*k + N - n_ce rows, one
 * forward and one backward. With p = softmax_j(z_j), z_j = (l(i, cls(i, j)) + b_cls) / tau
 * (b: pcnn_net_set_ce_prior's log prior, 0 when uniform; + log((K - 1) / (k - 1)) for a drawn
 * class), the loss gradient with respect to row (i, c)'s
 * log-likelihood is w = (lambda * p_j - (1 + lambda) [cls(i, j) = y_i]) / N, and -1/N
 * for a plain row; the likelihood's gradient is scaled by w row by row. */
float pcnn_net_hybrid_step(pcnn_net *net, const uint8_t *pixels, const int32_t *labels, int N,
                           int n_ce, float lambda, float tau, int dropout, uint64_t seed,
                           uint64_t step)
{
    double ce_sum;
    int n_ce_used = n_ce <= 0 || lambda == 0.0f ? 0 : n_ce > N ? N : n_ce;
    double nll = pcnn_net_hybrid_step_shard(net, pixels, labels, N, n_ce, lambda, tau, dropout,
                                            seed, step, N, 0, &ce_sum);
    net->last_loss = nll / N;
    net->last_ce = n_ce_used ? ce_sum / n_ce_used : 0;
    return (float)net->last_loss;
}

double pcnn_net_hybrid_step_shard(pcnn_net *net, const uint8_t *pixels, const int32_t *labels,
                                  int N, int n_ce, float lambda, float tau, int dropout,
                                  uint64_t seed, uint64_t step, int n_total, uint64_t img0,
                                  double *ce_sum)
{
    *ce_sum = 0;
    if (net->ce_prior_grad) memset(net->ce_prior_grad, 0, (size_t)net->K * sizeof(double));
    if (N == 0) {   /* a rank without images in this batch (its last): no gradient */
        ensure_grads(net);
        net->be->zero(net->be, net->grads, net->t->total * sizeof(float));
        net->last_ce = 0;
        return 0;
    }
    if (n_ce <= 0 || lambda == 0.0f)
        return grad_step_shard(net, pixels, labels, N, dropout, seed, step, n_total, img0);
    const int K = net->K;
    const int k = net->ce_classes > 0 && net->ce_classes < K ? net->ce_classes : K;
    if (n_ce > N) n_ce = N;
    int E = n_ce * k + (N - n_ce);
    if (N < 1 || E > net->max_batch)
        pcnn_die("internal error: hybrid batch %d x %d classes + %d needs %d rows, net holds %d",
                 n_ce, k, N - n_ce, E, net->max_batch);
    ensure_grads(net);
    size_t img = (size_t)net->H * net->W * 3;
    if (!net->hpix) {
        net->hpix = pcnn_xmalloc(pcnn_mul_size((size_t)net->max_batch, img));
        net->hw_row = pcnn_xmalloc((size_t)net->max_batch * sizeof *net->hw_row);
    }
    check_labels(net, labels, n_ce);   /* their rows carry the classes drawn, not the true one */
    for (int i = 0; i < n_ce; i++) {
        pcnn_net_ce_class_set(K, k, labels[i], seed, step, img0 + (uint64_t)i, net->hlabels + i * k);
        for (int j = 0; j < k; j++)
            memcpy(net->hpix + (size_t)(i * k + j) * img, pixels + (size_t)i * img, img);
    }
    for (int j = n_ce; j < N; j++) {
        memcpy(net->hpix + (size_t)(n_ce * k + j - n_ce) * img, pixels + (size_t)j * img, img);
        net->hlabels[n_ce * k + j - n_ce] = labels[j];
    }
    upload_pixels(net, net->hpix, E);
    pcnn_net_upload_labels(net, net->hlabels, E);
    pcnn_net_use_weights(net, 0);
    train_precision(net, 1);
    forward(net, E, dropout, seed, step, (uint64_t)k, (uint64_t)n_ce, img0, 0);
    /* every row's log-likelihood first: the weights need all classes of an image */
    net->be->dmol(net->be, net->logits, net->x, E, net->hll, NULL, 0.0f);
    double nll = 0.0, ce = 0.0, *gb = net->ce_prior ? net->ce_prior_grad : NULL;
    for (int i = 0; i < n_ce; i++) {
        int jy = 0;
        ce += pcnn_hybrid_row_weights(net->hll + (size_t)i * k, net->hlabels + i * k, k, K,
                                      labels[i], lambda, tau, n_total, net->ce_prior,
                                      net->hw_row + i * k, &jy, gb);
        nll -= net->hll[(size_t)i * k + jy];
    }
    for (int j = n_ce * k; j < E; j++) {
        net->hw_row[j] = -1.0f / (float)n_total;
        nll -= net->hll[j];
    }
    size_t pix = (size_t)net->H * net->W, C = 10 * (size_t)net->M;
    double ll1;
    for (int e = 0; e < E; e++)
        net->be->dmol(net->be, net->logits + (size_t)e * pix * C, net->x + (size_t)e * pix * 3, 1,
                      &ll1, net->dlogits + (size_t)e * pix * C, net->hw_row[e]);
    backward(net, E);
    train_precision(net, 0);
    net->be->wn_bwd(net->be, net->params, net->gp, net->grads);
    *ce_sum = ce;
    return nll;
}

double pcnn_net_last_ce(const pcnn_net *net) { return net->last_ce; }

float *pcnn_net_grads_get(pcnn_net *net)
{
    ensure_grads(net);
    if (!strcmp(net->be->name, "cpu")) return net->grads;
    size_t bytes = net->t->total * sizeof(float);
    if (!net->hgrads) net->hgrads = pcnn_xmalloc(bytes);
    net->be->download(net->be, net->hgrads, net->grads, bytes);
    return net->hgrads;
}

void pcnn_net_grads_put(pcnn_net *net, const float *host)
{
    if (host != net->grads) net->be->upload(net->be, net->grads, host, net->t->total * sizeof(float));
}

const struct pcnn_dist_device *pcnn_net_device_coll(const pcnn_net *net) { return net->be->coll; }

float *pcnn_net_grads_device(pcnn_net *net)
{
    ensure_grads(net);
    return net->grads;
}

void pcnn_net_adam_step(pcnn_net *net, float lr, float beta1, float beta2, float eps,
                        float polyak_decay)
{
    if (!net->has_grads) pcnn_die("internal error: adam step before any train step");
    net->step++;
    if (net->class_lr_mult == 1.0f) {
        net->be->adam(net->be, net->params, net->grads, net->adam_m, net->adam_v, net->polyak,
                      net->t->total, lr, beta1, beta2, eps, net->step, polyak_decay);
    } else {
        /* one call per run of one rate (pcnn_net_set_class_lr_mult) */
        for (int r = 0; r < net->nlr_runs; r++) {
            size_t off = net->lr_runs[r].offset, n = net->lr_runs[r].size;
            net->be->adam(net->be, net->params + off, net->grads + off, net->adam_m + off,
                          net->adam_v + off, net->polyak + off, n,
                          net->lr_runs[r].cls ? lr * net->class_lr_mult : lr, beta1, beta2, eps,
                          net->step, polyak_decay);
        }
    }
    net->wp_src = 0;
}

void pcnn_net_set_class_lr_mult(pcnn_net *net, float mult)
{
    net->class_lr_mult = mult;
    if (net->lr_runs) return;
    /* the table cut into runs of tensors with one rate (tensors are contiguous in the
     * table's order): class tables or not */
    const pcnn_param_table *t = net->t;
    net->lr_runs = pcnn_xmalloc((size_t)t->n * sizeof *net->lr_runs);
    for (int i = 0; i < t->n;) {
        int cls = pcnn_params_is_class_table(t->p[i].name), j = i + 1;
        while (j < t->n && pcnn_params_is_class_table(t->p[j].name) == cls) j++;
        size_t off = t->p[i].offset;
        net->lr_runs[net->nlr_runs++] = (pcnn_lr_run){off, t->p[j - 1].offset + t->p[j - 1].size - off, cls};
        i = j;
    }
}

/* pcnn_net_loglik as wide passes: nb = max_batch / K images at a time, one forward of nb K
 * rows, row n K + c = image n under class c, so that its likelihoods are out's rows as they
 * are. The images are uploaded once into xsrc and replicated on the device (copy_block);
 * the labels of a wide batch are the same for every batch of its size. The whole pass
 * (replication, forward, likelihood) is one device graph per row count where the backend
 * has graphs. Every row is the plain pass of its image and class: the same bytes as the
 * K-pass path where a row's arithmetic does not depend on the batch (the CPU). */
static void loglik_wide(pcnn_net *net, const uint8_t *pixels, int N, double *out)
{
    pcnn_backend *be = net->be;
    const int K = net->K, per = net->max_batch / K;
    size_t img = (size_t)net->H * net->W * 3;
    if (!net->xsrc) net->xsrc = be->alloc(be, pcnn_mul_size((size_t)per, img * sizeof(float)));
    int last_rows = 0;
    for (int n0 = 0; n0 < N; n0 += per) {
        int nb = N - n0 < per ? N - n0 : per, rows = nb * K;
        upload_pixels_to(net, net->xsrc, pixels + (size_t)n0 * img, nb);
        if (rows != last_rows) {
            for (int r = 0; r < rows; r++) net->hlabels[r] = r % K;
            pcnn_net_upload_labels(net, net->hlabels, rows);
            last_rows = rows;
        }
        int g = pass_begin(net, PASS_WIDE, rows, (uint64_t)K, 0, 0);
        if (g != 1) {
            /* x[n K + c] = xsrc[n] for c < K */
            be->copy_block(be, net->x, (size_t)K * img, img, net->xsrc, img, 0, nb, K, img);
            forward(net, rows, 0, 0, 0, 0, 0, 0, 0);
            be->dmol(be, net->logits, net->x, rows, net->hll, NULL, 0.0f);
        }
        pass_end(net, g, net->hll, rows);
        memcpy(out + (size_t)n0 * K, net->hll, (size_t)rows * sizeof *out);
    }
}

void pcnn_net_loglik(pcnn_net *net, const uint8_t *pixels, int N, int use_polyak, double *out)
{
    size_t img = (size_t)net->H * net->W * 3;
    pcnn_net_use_weights(net, use_polyak);
    if (net->score_wide && net->K <= net->max_batch && net->be->copy_block) {
        loglik_wide(net, pixels, N, out);
        return;
    }
    for (int n0 = 0; n0 < N; n0 += net->max_batch) {
        int nb = N - n0 < net->max_batch ? N - n0 : net->max_batch;
        upload_pixels(net, pixels + (size_t)n0 * img, nb);
        for (int c = 0; c < net->K; c++) {
            for (int n = 0; n < nb; n++) net->hlabels[n] = c;
            pcnn_net_upload_labels(net, net->hlabels, nb);
            /* what the class does not reach runs once per batch, not once per class; a
             * backend with graphs (and no such sharing) replays one graph per batch size */
            int g = net->share_x ? -1 : pass_begin(net, PASS_EVAL, nb, 0, 0, 0);
            if (g != 1) {
                forward(net, nb, 0, 0, 0, 0, 0, 0,
                        !net->share_x ? 0 : c == 0 ? PCNN_X_KEEP : PCNN_X_REUSE);
                net->be->dmol(net->be, net->logits, net->x, nb, net->hll, NULL, 0.0f);
            }
            pass_end(net, g, net->hll, nb);
            for (int n = 0; n < nb; n++) out[(size_t)(n0 + n) * net->K + c] = net->hll[n];
        }
    }
}

void pcnn_net_loglik_labels(pcnn_net *net, const uint8_t *pixels, const int32_t *labels, int N,
                            int use_polyak, double *out)
{
    size_t img = (size_t)net->H * net->W * 3;
    pcnn_net_use_weights(net, use_polyak);
    for (int n0 = 0; n0 < N; n0 += net->max_batch) {
        int nb = N - n0 < net->max_batch ? N - n0 : net->max_batch;
        upload_pixels(net, pixels + (size_t)n0 * img, nb);
        pcnn_net_upload_labels(net, labels + n0, nb);
        forward(net, nb, 0, 0, 0, 0, 0, 0, 0);
        net->be->dmol(net->be, net->logits, net->x, nb, out + n0, NULL, 0.0f);
    }
}

/* Eval forward of images n0 .. n0 + nb of x (scaled floats, N x H x W x 3) with their
 * labels: the logits are left in net->logits. */
static void forward_chunk(pcnn_net *net, const float *x, const int32_t *labels, int n0, int nb)
{
    size_t pix3 = (size_t)net->H * net->W * 3;
    net->be->upload(net->be, net->x, x + (size_t)n0 * pix3, (size_t)nb * pix3 * sizeof(float));
    pcnn_net_upload_labels(net, labels + n0, nb);
    forward(net, nb, 0, 0, 0, 0, 0, 0, 0);
}

void pcnn_net_forward_logits(pcnn_net *net, const float *x, const int32_t *labels, int N,
                             int use_polyak, float *out)
{
    size_t pix = (size_t)net->H * net->W, C = 10 * (size_t)net->M;
    pcnn_net_use_weights(net, use_polyak);
    for (int n0 = 0; n0 < N; n0 += net->max_batch) {
        int nb = N - n0 < net->max_batch ? N - n0 : net->max_batch;
        forward_chunk(net, x, labels, n0, nb);
        net->be->download(net->be, out + (size_t)n0 * pix * C, net->logits,
                          (size_t)nb * pix * C * sizeof(float));
    }
}

void pcnn_net_forward_logits_at(pcnn_net *net, const float *x, const int32_t *labels, int N,
                                int use_polyak, int i, int j, float *out)
{
    size_t pix = (size_t)net->H * net->W, C = 10 * (size_t)net->M;
    size_t at = ((size_t)i * net->W + (size_t)j) * C;   /* pixel (i, j) within an image */
    pcnn_net_use_weights(net, use_polyak);
    for (int n0 = 0; n0 < N; n0 += net->max_batch) {
        int nb = N - n0 < net->max_batch ? N - n0 : net->max_batch;
        forward_chunk(net, x, labels, n0, nb);
        for (int n = 0; n < nb; n++)
            net->be->download(net->be, out + (size_t)(n0 + n) * C, net->logits + (size_t)n * pix * C + at,
                              C * sizeof(float));
    }
}

float *pcnn_net_buffer(pcnn_net *net, int which)
{
    switch (which) {
    case PCNN_BUF_PARAMS: return net->params;
    case PCNN_BUF_GRADS: ensure_grads(net); return net->grads;
    case PCNN_BUF_POLYAK: return net->polyak;
    case PCNN_BUF_ADAM_M: return net->adam_m;
    case PCNN_BUF_ADAM_V: return net->adam_v;
    }
    return NULL;
}

const pcnn_param_table *pcnn_net_table(const pcnn_net *net) { return net->t; }
void pcnn_net_set_score_wide(pcnn_net *net, int on) { net->score_wide = on; }
void pcnn_net_set_sample_table(pcnn_net *net, int on) { net->sample_table = on < 0 ? -1 : on != 0; }
double pcnn_net_backend_seconds(const pcnn_net *net) { return net->backend_s; }
void pcnn_net_invalidate(pcnn_net *net) { net->wp_src = 0; }
double pcnn_net_last_loss(const pcnn_net *net) { return net->last_loss; }
