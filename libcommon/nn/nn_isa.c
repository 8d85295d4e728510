/* nn_isa.c — which instruction set the CPU primitives use, and in which
 * precision the GEMMs take their operands (nn_isa.h). Every ISA gives the same
 * bits, so the ISA is a speed choice only; tests use nn_set_isa to check each fast
 * path against the scalar reference. The precision is a choice of the numbers:
 * bf16 needs the AVX512_BF16 path. */
#include "nn/nn_isa.h"

#include "util.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

/* The best path this CPU runs: AVX-512 needs avx512f (its FMAs), plus AVX2/FMA
 * for the narrower panels it leaves at the edges; AVX512BF16 also avx512bf16
 * (VDPBF16PS, VCVTNEPS2BF16) with the avx512bw/vl moves its packing uses. */
static int best_isa(void)
{
#if defined(__x86_64__) && defined(__GNUC__)
    __builtin_cpu_init();
    int avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    if (avx2 && __builtin_cpu_supports("avx512f")) {
        if (__builtin_cpu_supports("avx512bf16") && __builtin_cpu_supports("avx512bw") &&
            __builtin_cpu_supports("avx512vl"))
            return NN_ISA_AVX512BF16;
        return NN_ISA_AVX512;
    }
    if (avx2) return NN_ISA_AVX2;
#endif
    return NN_ISA_SCALAR;
}

static _Atomic int isa_in_use = -1;
static _Atomic int prec_in_use = PCNN_PREC_FP32;

int nn_isa(void)
{
    int v = atomic_load_explicit(&isa_in_use, memory_order_relaxed);
    if (v >= 0) return v;
    v = best_isa();
    const char *e = getenv("PCNN_ISA");
    if (e && *e) {
        int want = !strcmp(e, "scalar") ? NN_ISA_SCALAR
                   : !strcmp(e, "avx2") ? NN_ISA_AVX2
                   : !strcmp(e, "avx512") ? NN_ISA_AVX512
                   : !strcmp(e, "avx512bf16") ? NN_ISA_AVX512BF16
                                              : -1;
        if (want < 0)
            pcnn_warn("PCNN_ISA=%s: unknown (want scalar, avx2, avx512 or avx512bf16); using the "
                      "best this CPU has", e);
        else if (want < v)
            v = want;
    }
    atomic_store_explicit(&isa_in_use, v, memory_order_relaxed);
    return v;
}

int nn_set_isa(int isa)
{
    int best = best_isa();
    atomic_store_explicit(&isa_in_use, isa < best ? isa : best, memory_order_relaxed);
    if (nn_isa() < NN_ISA_AVX512BF16)   /* no bf16 kernels on the lower paths */
        atomic_store_explicit(&prec_in_use, PCNN_PREC_FP32, memory_order_relaxed);
    return nn_isa();
}

const char *nn_isa_name(int isa)
{
    return isa == NN_ISA_AVX512BF16 ? "avx512bf16"
           : isa == NN_ISA_AVX512   ? "avx512"
           : isa == NN_ISA_AVX2     ? "avx2"
                                    : "scalar";
}

int nn_precision(void) { return atomic_load_explicit(&prec_in_use, memory_order_relaxed); }

int nn_set_precision(int prec)
{
    if (prec != PCNN_PREC_FP32 && prec != PCNN_PREC_BF16) return -1;
    if (prec == PCNN_PREC_BF16 && nn_isa() < NN_ISA_AVX512BF16) return -1;
    atomic_store_explicit(&prec_in_use, prec, memory_order_relaxed);
    return 0;
}

int pcnn_precision_parse(const char *s, int *prec)
{
    if (!strcmp(s, "fp32")) *prec = PCNN_PREC_FP32;
    else if (!strcmp(s, "bf16")) *prec = PCNN_PREC_BF16;
    else return -1;
    return 0;
}

const char *pcnn_precision_name(int prec) { return prec == PCNN_PREC_BF16 ? "bf16" : "fp32"; }
