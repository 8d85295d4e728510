/* conv.cu — cuDNN convolutions with a plan cache (see conv.h). */
#include "conv.h"
#include "cuda_check.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <vector>

namespace {

struct plan {
    conv_shape sh;
    int Ho, Wo;
    cudnnTensorDescriptor_t x, y;
    cudnnFilterDescriptor_t w;
    cudnnConvolutionDescriptor_t cfwd, cbd, cbf;   /* one per direction: own math type */
    int have_fwd, have_bd, have_bf;
    int none_fwd, none_bd, none_bf;                /* bf16: no deterministic algorithm */
    cudnnConvolutionFwdAlgo_t afwd;
    cudnnConvolutionBwdDataAlgo_t abd;
    cudnnConvolutionBwdFilterAlgo_t abf;
    size_t wfwd, wbd, wbf;                         /* workspace bytes */
};

}  // namespace

struct cu_convs {
    cudnnHandle_t h;
    cudaStream_t s;
    int tf32, find;
    size_t ws_limit, ws_bytes;
    unsigned ws_gen;
    void *ws;
    std::vector<plan *> plans;
};

static bool same_shape(const conv_shape &a, const conv_shape &b)
{
    return a.N == b.N && a.Ci == b.Ci && a.Hi == b.Hi && a.Wi == b.Wi && a.Co == b.Co &&
           a.kh == b.kh && a.kw == b.kw && a.stride == b.stride && a.ph == b.ph && a.pw == b.pw &&
           a.bf16 == b.bf16;
}

/* Strict float32 (FMA math only, no tensor cores): fp32 mode's float32 plans. TF32 mode's
 * float plans and every bf16 plan may use tensor cores. */
static int strict_of(const cu_convs *cv, const conv_shape &sh) { return !cv->tf32 && !sh.bf16; }

static cudnnMathType_t math_of(const cu_convs *cv, const conv_shape &sh)
{
    if (sh.bf16) return CUDNN_TENSOR_OP_MATH;
    return cv->tf32 ? CUDNN_DEFAULT_MATH : CUDNN_FMA_MATH;
}

static cudnnConvolutionDescriptor_t make_conv(const cu_convs *cv, const conv_shape &sh)
{
    cudnnConvolutionDescriptor_t c;
    CK(cudnnCreateConvolutionDescriptor(&c));
    CK(cudnnSetConvolution2dDescriptor(c, sh.ph, sh.pw, sh.stride, sh.stride, 1, 1,
                                       CUDNN_CROSS_CORRELATION, CUDNN_DATA_FLOAT));
    CK(cudnnSetConvolutionMathType(c, math_of(cv, sh)));
    return c;
}

static plan *get_plan(cu_convs *cv, const conv_shape *sh)
{
    for (plan *p : cv->plans)
        if (same_shape(p->sh, *sh)) return p;
    plan *p = (plan *)pcnn_xcalloc(1, sizeof *p);
    p->sh = *sh;
    CK(cudnnCreateTensorDescriptor(&p->x));
    CK(cudnnCreateTensorDescriptor(&p->y));
    CK(cudnnCreateFilterDescriptor(&p->w));
    const cudnnDataType_t dt = sh->bf16 ? CUDNN_DATA_BFLOAT16 : CUDNN_DATA_FLOAT;
    CK(cudnnSetTensor4dDescriptor(p->x, CUDNN_TENSOR_NHWC, dt, sh->N, sh->Ci, sh->Hi, sh->Wi));
    CK(cudnnSetFilter4dDescriptor(p->w, dt, CUDNN_TENSOR_NHWC, sh->Co, sh->Ci, sh->kh, sh->kw));
    p->cfwd = make_conv(cv, *sh);
    p->cbd = make_conv(cv, *sh);
    p->cbf = make_conv(cv, *sh);
    int n, c, ho, wo;
    CK(cudnnGetConvolution2dForwardOutputDim(p->cfwd, p->x, p->w, &n, &c, &ho, &wo));
    p->Ho = ho;
    p->Wo = wo;
    CK(cudnnSetTensor4dDescriptor(p->y, CUDNN_TENSOR_NHWC, dt, sh->N, sh->Co, ho, wo));
    cv->plans.push_back(p);
    return p;
}

/* ---- algorithm choice (issue 12, items 4 and 5)
 *
 * Reproducible by construction: cuDNN's heuristics (cudnnGet*_v7: no timing, the
 * same list for the same GPU, cuDNN version and shape), asked once per shape with
 * the batch fixed at ALGO_N, so every batch size and every process runs the same
 * algorithm (a different N with another algorithm would give other bytes: a
 * resumed or re-batched run would drift). The first candidate that succeeded, is
 * deterministic, fits the workspace limit and, in fp32 mode, uses FMA math (else
 * any math type, forced to FMA) wins. When none is deterministic the fastest one
 * that works is used with one warning (PCNN_DETERMINISTIC=1 makes that an error).
 * PCNN_CONV_ALGO=find times the candidates instead (cudnnFind*: faster, but the
 * choice can differ between processes). PCNN_CONV_LOG=1 prints every candidate
 * list (algo, status, determinism, workspace, math type) to stderr. */
enum { ALGO_N = 64 };

static const char *math_name(cudnnMathType_t m)
{
    switch (m) {
    case CUDNN_DEFAULT_MATH: return "default";
    case CUDNN_TENSOR_OP_MATH: return "tensor-op";
    case CUDNN_TENSOR_OP_MATH_ALLOW_CONVERSION: return "tensor-op-conv";
    case CUDNN_FMA_MATH: return "fma";
    }
    return "?";
}

static int env_on(const char *name)
{
    const char *e = getenv(name);
    return e && *e && strcmp(e, "0") != 0;
}

template <class Perf>
static void log_candidates(const conv_shape &sh, const char *what, const Perf *perf, int n)
{
    fprintf(stderr, "pcnn: cuDNN %s candidates for N=%d Ci=%d %dx%d -> Co=%d k=%dx%d s=%d p=%d,%d %s:\n",
            what, sh.N, sh.Ci, sh.Hi, sh.Wi, sh.Co, sh.kh, sh.kw, sh.stride, sh.ph, sh.pw,
            sh.bf16 ? "bf16" : "float");
    for (int i = 0; i < n; i++)
        fprintf(stderr, "pcnn:   algo %d status %s %s workspace %zu B math %s\n", (int)perf[i].algo,
                cudnnGetErrorString(perf[i].status),
                perf[i].determinism == CUDNN_DETERMINISTIC ? "deterministic" : "non-deterministic",
                perf[i].memory, math_name(perf[i].mathType));
}

/* Index into perf of the algorithm to use; -1 for a bf16 shape without a deterministic one
 * (its caller runs that direction in float instead: cu_conv_usable). */
template <class Perf>
static int choose_any(const cu_convs *cv, const conv_shape &sh, const Perf *perf, int n,
                      const char *what);

template <class Perf>
static int choose(const cu_convs *cv, const conv_shape &sh, const Perf *perf, int n,
                  const char *what)
{
    int i = choose_any(cv, sh, perf, n, what);
    if (i < 0) {
        if (env_on("PCNN_CONV_LOG"))
            fprintf(stderr, "pcnn:   no deterministic bf16 %s algorithm: float instead\n", what);
        return i;
    }
    if (env_on("PCNN_CONV_LOG"))
        fprintf(stderr, "pcnn:   chose algo %d (%s math)\n", (int)perf[i].algo,
                strict_of(cv, sh) ? "fma" : math_name(perf[i].mathType));
    return i;
}

template <class Perf>
static int choose_any(const cu_convs *cv, const conv_shape &sh, const Perf *perf, int n,
                      const char *what)
{
    if (env_on("PCNN_CONV_LOG")) log_candidates(sh, what, perf, n);
    for (int pass = 0; pass < 2; pass++)
        for (int i = 0; i < n; i++) {
            if (perf[i].status != CUDNN_STATUS_SUCCESS) continue;
            if (perf[i].determinism != CUDNN_DETERMINISTIC) continue;
            if (perf[i].memory > cv->ws_limit) continue;
            /* pass 0: in strict mode only FMA math (pass 1: any, math type forced to FMA);
             * bf16 plans: tensor-op math first (pass 1: any) */
            if (pass == 0 && strict_of(cv, sh) && perf[i].mathType != CUDNN_FMA_MATH) continue;
            if (pass == 0 && sh.bf16 && perf[i].mathType == CUDNN_FMA_MATH) continue;
            return i;
        }
    /* bf16: never a non-deterministic algorithm; the direction runs in float instead */
    if (sh.bf16) return -1;
    for (int i = 0; i < n; i++)
        if (perf[i].status == CUDNN_STATUS_SUCCESS && perf[i].memory <= cv->ws_limit) {
            if (env_on("PCNN_DETERMINISTIC"))
                pcnn_die("cuDNN: no deterministic %s algorithm within %zu MiB of workspace for "
                         "Ci=%d %dx%d -> Co=%d k=%dx%d (PCNN_DETERMINISTIC=1 asks for one; unset it "
                         "to run with a non-deterministic one)",
                         what, cv->ws_limit >> 20, sh.Ci, sh.Hi, sh.Wi, sh.Co, sh.kh, sh.kw);
            pcnn_warn("cuDNN: no deterministic %s algorithm within %zu MiB of workspace for "
                      "Ci=%d %dx%d -> Co=%d k=%dx%d: using algo %d, which is not deterministic "
                      "(results may differ from run to run; PCNN_CONV_LOG=1 lists the candidates)",
                      what, cv->ws_limit >> 20, sh.Ci, sh.Hi, sh.Wi, sh.Co, sh.kh, sh.kw,
                      (int)perf[i].algo);
            return i;
        }
    log_candidates(sh, what, perf, n);
    pcnn_die("cuDNN: no %s algorithm works for Ci=%d %dx%d -> Co=%d k=%dx%d within %zu MiB of "
             "workspace (candidates above)",
             what, sh.Ci, sh.Hi, sh.Wi, sh.Co, sh.kh, sh.kw, cv->ws_limit >> 20);
}

static void ensure_ws(cu_convs *cv, size_t bytes)
{
    if (bytes <= cv->ws_bytes) return;
    CK(cudaStreamSynchronize(cv->s));
    if (cv->ws) CK(cudaFree(cv->ws));
    cv->ws = NULL;
    cv->ws_bytes = 0;
    CK(cudaMalloc(&cv->ws, bytes));
    cv->ws_bytes = bytes;
    cv->ws_gen++;
}

/* Math type to run with: the chosen algorithm's, but never tensor cores in strict mode. */
static void set_math(const cu_convs *cv, const conv_shape &sh, cudnnConvolutionDescriptor_t c,
                     cudnnMathType_t m)
{
    if (strict_of(cv, sh)) m = CUDNN_FMA_MATH;
    CK(cudnnSetConvolutionMathType(c, m));
}

/* The plan of the same shape at batch ALGO_N: the one whose algorithms every N uses. */
static plan *algo_plan(cu_convs *cv, plan *p)
{
    if (cv->find || p->sh.N == ALGO_N) return p;
    conv_shape s = p->sh;
    s.N = ALGO_N;
    return get_plan(cv, &s);
}

/* Choose plan a's forward algorithm from its own candidate list. */
static void pick_fwd(cu_convs *cv, plan *a)
{
    cudnnConvolutionFwdAlgoPerf_t perf[CUDNN_CONVOLUTION_FWD_ALGO_COUNT];
    int n = 0;
    if (cv->find)
        CK(cudnnFindConvolutionForwardAlgorithm(cv->h, a->x, a->w, a->cfwd, a->y,
                                                CUDNN_CONVOLUTION_FWD_ALGO_COUNT, &n, perf));
    else
        CK(cudnnGetConvolutionForwardAlgorithm_v7(cv->h, a->x, a->w, a->cfwd, a->y,
                                                  CUDNN_CONVOLUTION_FWD_ALGO_COUNT, &n, perf));
    int i = choose(cv, a->sh, perf, n, "forward");
    a->have_fwd = 1;
    if (i < 0) {
        a->none_fwd = 1;
        return;
    }
    a->afwd = perf[i].algo;
    set_math(cv, a->sh, a->cfwd, perf[i].mathType);
    CK(cudnnGetConvolutionForwardWorkspaceSize(cv->h, a->x, a->w, a->cfwd, a->y, a->afwd,
                                               &a->wfwd));
    a->have_fwd = 1;
}

static void plan_fwd(cu_convs *cv, plan *p)
{
    plan *a = algo_plan(cv, p);
    if (!a->have_fwd) pick_fwd(cv, a);
    if (a == p) return;
    p->have_fwd = 1;
    if ((p->none_fwd = a->none_fwd)) return;
    cudnnMathType_t m;
    CK(cudnnGetConvolutionMathType(a->cfwd, &m));
    CK(cudnnSetConvolutionMathType(p->cfwd, m));
    p->afwd = a->afwd;
    if (cudnnGetConvolutionForwardWorkspaceSize(cv->h, p->x, p->w, p->cfwd, p->y, p->afwd,
                                                &p->wfwd) != CUDNN_STATUS_SUCCESS) {
        pcnn_warn("cuDNN: forward algorithm %d (chosen at N=%d) does not run at N=%d; "
                  "choosing again for this batch size", (int)a->afwd, ALGO_N, p->sh.N);
        pick_fwd(cv, p);
    }
    p->have_fwd = 1;
}

/* Choose plan a's backward-data algorithm from its own candidate list. */
static void pick_bd(cu_convs *cv, plan *a)
{
    cudnnConvolutionBwdDataAlgoPerf_t perf[CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT];
    int n = 0;
    if (cv->find)
        CK(cudnnFindConvolutionBackwardDataAlgorithm(cv->h, a->w, a->y, a->cbd, a->x,
                                                     CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT,
                                                     &n, perf));
    else
        CK(cudnnGetConvolutionBackwardDataAlgorithm_v7(cv->h, a->w, a->y, a->cbd, a->x,
                                                       CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT,
                                                       &n, perf));
    int i = choose(cv, a->sh, perf, n, "backward-data");
    a->have_bd = 1;
    if (i < 0) {
        a->none_bd = 1;
        return;
    }
    a->abd = perf[i].algo;
    set_math(cv, a->sh, a->cbd, perf[i].mathType);
    CK(cudnnGetConvolutionBackwardDataWorkspaceSize(cv->h, a->w, a->y, a->cbd, a->x, a->abd,
                                                    &a->wbd));
    a->have_bd = 1;
}

static void plan_bd(cu_convs *cv, plan *p)
{
    plan *a = algo_plan(cv, p);
    if (!a->have_bd) pick_bd(cv, a);
    if (a == p) return;
    p->have_bd = 1;
    if ((p->none_bd = a->none_bd)) return;
    cudnnMathType_t m;
    CK(cudnnGetConvolutionMathType(a->cbd, &m));
    CK(cudnnSetConvolutionMathType(p->cbd, m));
    p->abd = a->abd;
    if (cudnnGetConvolutionBackwardDataWorkspaceSize(cv->h, p->w, p->y, p->cbd, p->x, p->abd,
                                                     &p->wbd) != CUDNN_STATUS_SUCCESS) {
        pcnn_warn("cuDNN: backward-data algorithm %d (chosen at N=%d) does not run at N=%d; "
                  "choosing again for this batch size", (int)a->abd, ALGO_N, p->sh.N);
        pick_bd(cv, p);
    }
    p->have_bd = 1;
}

/* Choose plan a's backward-filter algorithm from its own candidate list. */
static void pick_bf(cu_convs *cv, plan *a)
{
    cudnnConvolutionBwdFilterAlgoPerf_t perf[CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT];
    int n = 0;
    if (cv->find)
        CK(cudnnFindConvolutionBackwardFilterAlgorithm(cv->h, a->x, a->y, a->cbf, a->w,
                                                       CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT,
                                                       &n, perf));
    else
        CK(cudnnGetConvolutionBackwardFilterAlgorithm_v7(
            cv->h, a->x, a->y, a->cbf, a->w, CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT, &n,
            perf));
    int i = choose(cv, a->sh, perf, n, "backward-filter");
    a->have_bf = 1;
    if (i < 0) {
        a->none_bf = 1;
        return;
    }
    a->abf = perf[i].algo;
    set_math(cv, a->sh, a->cbf, perf[i].mathType);
    CK(cudnnGetConvolutionBackwardFilterWorkspaceSize(cv->h, a->x, a->y, a->cbf, a->w,
                                                      a->abf, &a->wbf));
    a->have_bf = 1;
}

static void plan_bf(cu_convs *cv, plan *p)
{
    plan *a = algo_plan(cv, p);
    if (!a->have_bf) pick_bf(cv, a);
    if (a == p) return;
    p->have_bf = 1;
    if ((p->none_bf = a->none_bf)) return;
    cudnnMathType_t m;
    CK(cudnnGetConvolutionMathType(a->cbf, &m));
    CK(cudnnSetConvolutionMathType(p->cbf, m));
    p->abf = a->abf;
    if (cudnnGetConvolutionBackwardFilterWorkspaceSize(cv->h, p->x, p->y, p->cbf, p->w, p->abf,
                                                       &p->wbf) != CUDNN_STATUS_SUCCESS) {
        pcnn_warn("cuDNN: backward-filter algorithm %d (chosen at N=%d) does not run at N=%d; "
                  "choosing again for this batch size", (int)a->abf, ALGO_N, p->sh.N);
        pick_bf(cv, p);
    }
    p->have_bf = 1;
}

cu_convs *cu_convs_new(cudnnHandle_t h, cudaStream_t s, int tf32, size_t ws_limit)
{
    cu_convs *cv = new cu_convs();
    cv->h = h;
    cv->s = s;
    cv->tf32 = tf32;
    const char *e = getenv("PCNN_CONV_ALGO");
    cv->find = e && !strcmp(e, "find");
    cv->ws_limit = ws_limit;
    cv->ws_bytes = 0;
    cv->ws = NULL;
    return cv;
}

void cu_convs_free(cu_convs *cv)
{
    if (!cv) return;
    for (plan *p : cv->plans) {
        cudnnDestroyTensorDescriptor(p->x);
        cudnnDestroyTensorDescriptor(p->y);
        cudnnDestroyFilterDescriptor(p->w);
        cudnnDestroyConvolutionDescriptor(p->cfwd);
        cudnnDestroyConvolutionDescriptor(p->cbd);
        cudnnDestroyConvolutionDescriptor(p->cbf);
        free(p);
    }
    if (cv->ws) cudaFree(cv->ws);
    delete cv;
}

size_t cu_convs_workspace(const cu_convs *cv) { return cv->ws_bytes; }
unsigned cu_convs_ws_gen(const cu_convs *cv) { return cv->ws_gen; }

int cu_conv_usable(cu_convs *cv, const conv_shape *sh, int dir)
{
    plan *p = get_plan(cv, sh);
    switch (dir) {
    case CU_CONV_FWD:
        if (!p->have_fwd) plan_fwd(cv, p);
        return !p->none_fwd;
    case CU_CONV_BWD_DATA:
        if (!p->have_bd) plan_bd(cv, p);
        return !p->none_bd;
    default:
        if (!p->have_bf) plan_bf(cv, p);
        return !p->none_bf;
    }
}

static void unusable(const conv_shape *sh, const char *what)
{
    pcnn_die("internal error: cuDNN %s of a bf16 shape without an algorithm (Ci=%d %dx%d -> Co=%d "
             "k=%dx%d; callers ask cu_conv_usable first)", what, sh->Ci, sh->Hi, sh->Wi, sh->Co,
             sh->kh, sh->kw);
}

void cu_conv_out_dims(cu_convs *cv, const conv_shape *sh, int *Ho, int *Wo)
{
    plan *p = get_plan(cv, sh);
    *Ho = p->Ho;
    *Wo = p->Wo;
}

void cu_conv_fwd(cu_convs *cv, const conv_shape *sh, const void *x, const void *w, float beta,
                 void *y)
{
    plan *p = get_plan(cv, sh);
    if (!p->have_fwd) plan_fwd(cv, p);
    if (p->none_fwd) unusable(sh, "forward");
    ensure_ws(cv, p->wfwd);
    const float one = 1.0f;
    CK(cudnnConvolutionForward(cv->h, &one, p->x, x, p->w, w, p->cfwd, p->afwd, cv->ws, p->wfwd,
                               &beta, p->y, y));
}

void cu_conv_bwd_data(cu_convs *cv, const conv_shape *sh, const void *dy, const void *w,
                      float beta, void *dx)
{
    plan *p = get_plan(cv, sh);
    if (!p->have_bd) plan_bd(cv, p);
    if (p->none_bd) unusable(sh, "backward-data");
    ensure_ws(cv, p->wbd);
    const float one = 1.0f;
    CK(cudnnConvolutionBackwardData(cv->h, &one, p->w, w, p->y, dy, p->cbd, p->abd, cv->ws,
                                    p->wbd, &beta, p->x, dx));
}

void cu_conv_bwd_filter(cu_convs *cv, const conv_shape *sh, const void *x, const void *dy,
                        float beta, void *dw)
{
    plan *p = get_plan(cv, sh);
    if (!p->have_bf) plan_bf(cv, p);
    if (p->none_bf) unusable(sh, "backward-filter");
    ensure_ws(cv, p->wbf);
    const float one = 1.0f;
    CK(cudnnConvolutionBackwardFilter(cv->h, &one, p->x, x, p->y, dy, p->cbf, p->abf, cv->ws,
                                      p->wbf, &beta, p->w, dw));
}
