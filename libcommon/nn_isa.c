/* nn_isa.c — which instruction set the CPU primitives use (nn_layers.h). Every
 * path gives the same bits, so this is a speed choice only; tests use
 * nn_set_isa to check each fast path against the scalar reference. */
#include "nn_layers.h"

#include "util.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

/* The best path this CPU runs: AVX-512 needs avx512f (its FMAs), plus AVX2/FMA
 * for the narrower panels it leaves at the edges. */
static int best_isa(void)
{
#if defined(__x86_64__) && defined(__GNUC__)
    __builtin_cpu_init();
    int avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    if (avx2 && __builtin_cpu_supports("avx512f")) return NN_ISA_AVX512;
    if (avx2) return NN_ISA_AVX2;
#endif
    return NN_ISA_SCALAR;
}

static _Atomic int isa_in_use = -1;

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
                                          : -1;
        if (want < 0)
            pcnn_warn("PCNN_ISA=%s: unknown (want scalar, avx2 or avx512); using the best this CPU has", e);
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
    return nn_isa();
}

const char *nn_isa_name(int isa)
{
    return isa == NN_ISA_AVX512 ? "avx512" : isa == NN_ISA_AVX2 ? "avx2" : "scalar";
}
