/* conv.cu — cuDNN convolutions with a plan cache (see conv.h). */
#include "conv.h"
#include "cuda_check.h"

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
    cudnnConvolutionFwdAlgo_t afwd;
    cudnnConvolutionBwdDataAlgo_t abd;
    cudnnConvolutionBwdFilterAlgo_t abf;
    size_t wfwd, wbd, wbf;                         /* workspace bytes */
};

}  // namespace

struct cu_convs {
    cudnnHandle_t h;
    cudaStream_t s;
    int tf32, heuristic;
    size_t ws_limit, ws_bytes;
    void *ws;
    std::vector<plan *> plans;
};

static bool same_shape(const conv_shape &a, const conv_shape &b)
{
    return a.N == b.N && a.Ci == b.Ci && a.Hi == b.Hi && a.Wi == b.Wi && a.Co == b.Co &&
           a.kh == b.kh && a.kw == b.kw && a.stride == b.stride && a.ph == b.ph && a.pw == b.pw;
}

static cudnnMathType_t math_of(const cu_convs *cv) { return cv->tf32 ? CUDNN_DEFAULT_MATH : CUDNN_FMA_MATH; }

static cudnnConvolutionDescriptor_t make_conv(const cu_convs *cv, const conv_shape &sh)
{
    cudnnConvolutionDescriptor_t c;
    CK(cudnnCreateConvolutionDescriptor(&c));
    CK(cudnnSetConvolution2dDescriptor(c, sh.ph, sh.pw, sh.stride, sh.stride, 1, 1,
                                       CUDNN_CROSS_CORRELATION, CUDNN_DATA_FLOAT));
    CK(cudnnSetConvolutionMathType(c, math_of(cv)));
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
    CK(cudnnSetTensor4dDescriptor(p->x, CUDNN_TENSOR_NHWC, CUDNN_DATA_FLOAT, sh->N, sh->Ci, sh->Hi,
                                  sh->Wi));
    CK(cudnnSetFilter4dDescriptor(p->w, CUDNN_DATA_FLOAT, CUDNN_TENSOR_NHWC, sh->Co, sh->Ci, sh->kh,
                                  sh->kw));
    p->cfwd = make_conv(cv, *sh);
    p->cbd = make_conv(cv, *sh);
    p->cbf = make_conv(cv, *sh);
    int n, c, ho, wo;
    CK(cudnnGetConvolution2dForwardOutputDim(p->cfwd, p->x, p->w, &n, &c, &ho, &wo));
    p->Ho = ho;
    p->Wo = wo;
    CK(cudnnSetTensor4dDescriptor(p->y, CUDNN_TENSOR_NHWC, CUDNN_DATA_FLOAT, sh->N, sh->Co, ho, wo));
    cv->plans.push_back(p);
    return p;
}

/* The first (fastest: Find sorts by time; heuristics by expected speed) result
 * that succeeded, is deterministic, fits the workspace limit, and in float32
 * mode does not use tensor-core math. */
template <class Perf>
static int choose(const cu_convs *cv, const Perf *perf, int n, const char *what)
{
    for (int pass = 0; pass < 2; pass++)
        for (int i = 0; i < n; i++) {
            if (perf[i].status != CUDNN_STATUS_SUCCESS) continue;
            if (perf[i].determinism != CUDNN_DETERMINISTIC) continue;
            if (perf[i].memory > cv->ws_limit) continue;
            /* pass 0: in strict mode only FMA math; pass 1: any (math type forced to FMA) */
            if (pass == 0 && !cv->tf32 && perf[i].mathType != CUDNN_FMA_MATH) continue;
            return i;
        }
    pcnn_die("cuDNN: no deterministic %s algorithm within %zu MiB of workspace for this shape "
             "(try PCNN_CONV_ALGO=heuristic, or a smaller batch)",
             what, cv->ws_limit >> 20);
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
}

/* Math type to run with: the chosen algorithm's, but never tensor cores in strict mode. */
static void set_math(const cu_convs *cv, cudnnConvolutionDescriptor_t c, cudnnMathType_t m)
{
    if (!cv->tf32) m = CUDNN_FMA_MATH;
    CK(cudnnSetConvolutionMathType(c, m));
}

static void plan_fwd(cu_convs *cv, plan *p)
{
    cudnnConvolutionFwdAlgoPerf_t perf[CUDNN_CONVOLUTION_FWD_ALGO_COUNT];
    int n = 0;
    if (cv->heuristic)
        CK(cudnnGetConvolutionForwardAlgorithm_v7(cv->h, p->x, p->w, p->cfwd, p->y,
                                                  CUDNN_CONVOLUTION_FWD_ALGO_COUNT, &n, perf));
    else
        CK(cudnnFindConvolutionForwardAlgorithm(cv->h, p->x, p->w, p->cfwd, p->y,
                                                CUDNN_CONVOLUTION_FWD_ALGO_COUNT, &n, perf));
    int i = choose(cv, perf, n, "forward");
    p->afwd = perf[i].algo;
    set_math(cv, p->cfwd, perf[i].mathType);
    CK(cudnnGetConvolutionForwardWorkspaceSize(cv->h, p->x, p->w, p->cfwd, p->y, p->afwd, &p->wfwd));
    p->have_fwd = 1;
}

static void plan_bd(cu_convs *cv, plan *p)
{
    cudnnConvolutionBwdDataAlgoPerf_t perf[CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT];
    int n = 0;
    if (cv->heuristic)
        CK(cudnnGetConvolutionBackwardDataAlgorithm_v7(cv->h, p->w, p->y, p->cbd, p->x,
                                                       CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT, &n,
                                                       perf));
    else
        CK(cudnnFindConvolutionBackwardDataAlgorithm(cv->h, p->w, p->y, p->cbd, p->x,
                                                     CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT, &n,
                                                     perf));
    int i = choose(cv, perf, n, "backward-data");
    p->abd = perf[i].algo;
    set_math(cv, p->cbd, perf[i].mathType);
    CK(cudnnGetConvolutionBackwardDataWorkspaceSize(cv->h, p->w, p->y, p->cbd, p->x, p->abd,
                                                    &p->wbd));
    p->have_bd = 1;
}

static void plan_bf(cu_convs *cv, plan *p)
{
    cudnnConvolutionBwdFilterAlgoPerf_t perf[CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT];
    int n = 0;
    if (cv->heuristic)
        CK(cudnnGetConvolutionBackwardFilterAlgorithm_v7(cv->h, p->x, p->y, p->cbf, p->w,
                                                         CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT,
                                                         &n, perf));
    else
        CK(cudnnFindConvolutionBackwardFilterAlgorithm(cv->h, p->x, p->y, p->cbf, p->w,
                                                       CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT,
                                                       &n, perf));
    int i = choose(cv, perf, n, "backward-filter");
    p->abf = perf[i].algo;
    set_math(cv, p->cbf, perf[i].mathType);
    CK(cudnnGetConvolutionBackwardFilterWorkspaceSize(cv->h, p->x, p->y, p->cbf, p->w, p->abf,
                                                      &p->wbf));
    p->have_bf = 1;
}

cu_convs *cu_convs_new(cudnnHandle_t h, cudaStream_t s, int tf32, size_t ws_limit)
{
    cu_convs *cv = new cu_convs();
    cv->h = h;
    cv->s = s;
    cv->tf32 = tf32;
    const char *e = getenv("PCNN_CONV_ALGO");
    cv->heuristic = e && !strcmp(e, "heuristic");
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

void cu_conv_out_dims(cu_convs *cv, const conv_shape *sh, int *Ho, int *Wo)
{
    plan *p = get_plan(cv, sh);
    *Ho = p->Ho;
    *Wo = p->Wo;
}

void cu_conv_fwd(cu_convs *cv, const conv_shape *sh, const float *x, const float *w, float beta,
                 float *y)
{
    plan *p = get_plan(cv, sh);
    if (!p->have_fwd) plan_fwd(cv, p);
    ensure_ws(cv, p->wfwd);
    const float one = 1.0f;
    CK(cudnnConvolutionForward(cv->h, &one, p->x, x, p->w, w, p->cfwd, p->afwd, cv->ws, p->wfwd,
                               &beta, p->y, y));
}

void cu_conv_bwd_data(cu_convs *cv, const conv_shape *sh, const float *dy, const float *w,
                      float beta, float *dx)
{
    plan *p = get_plan(cv, sh);
    if (!p->have_bd) plan_bd(cv, p);
    ensure_ws(cv, p->wbd);
    const float one = 1.0f;
    CK(cudnnConvolutionBackwardData(cv->h, &one, p->w, w, p->y, dy, p->cbd, p->abd, cv->ws,
                                    p->wbd, &beta, p->x, dx));
}

void cu_conv_bwd_filter(cu_convs *cv, const conv_shape *sh, const float *x, const float *dy,
                        float beta, float *dw)
{
    plan *p = get_plan(cv, sh);
    if (!p->have_bf) plan_bf(cv, p);
    ensure_ws(cv, p->wbf);
    const float one = 1.0f;
    CK(cudnnConvolutionBackwardFilter(cv->h, &one, p->x, x, p->y, dy, p->cbf, p->abf, cv->ws,
                                      p->wbf, &beta, p->w, dw));
}
