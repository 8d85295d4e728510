/*
 * nn_isa.h — the two switches under every CPU primitive: which instruction set runs
 * (a speed choice: every path gives the same bits) and in which precision the GEMMs take
 * their operands (a choice of the numbers). The one precision enum of the project: the
 * graph (model/net.h), pcnn-fit --precision and the backends use PCNN_PREC_* from here.
 *
 *   if (nn_isa() >= NN_ISA_AVX512) ...            // the path in use
 *   int prec;
 *   if (pcnn_precision_parse("bf16", &prec) == 0 && nn_set_precision(prec) == 0) ...
 *   printf("%s\n", pcnn_precision_name(nn_precision()));   // "bf16"
 */
#ifndef PCNN_NN_ISA_H
#define PCNN_NN_ISA_H

/* The instruction set the primitives use. Every path gives the same bits (each
 * GEMM element is one fma chain in k order, the elementwise math the same
 * operations lane by lane: tests/unit/test_isa.c), so this is a speed choice.
 * AVX512BF16 is AVX-512 plus VDPBF16PS: its fp32 paths are AVX-512's, and only
 * it can run the bf16 GEMMs (nn_set_precision).
 * Default: the best this CPU has, lowered by the environment variable
 * PCNN_ISA=scalar|avx2|avx512|avx512bf16 (avx512 on a BF16 CPU: as if it had
 * none). nn_set_isa (tests) uses at most isa and returns what is in use. */
enum { NN_ISA_SCALAR = 0, NN_ISA_AVX2 = 1, NN_ISA_AVX512 = 2, NN_ISA_AVX512BF16 = 3 };
int nn_isa(void);
int nn_set_isa(int isa);
const char *nn_isa_name(int isa);

/* Operand precision of the convolution and 1x1 GEMMs (nn_gemm.h): PCNN_PREC_FP32
 * (fp32 fma chains) or PCNN_PREC_BF16 (operands rounded to bfloat16, products summed
 * in fp32; on the CPU by VDPBF16PS, the exact chain in nn_gemm.h). Everything else
 * (elementwise math, weight norm, the likelihood, Adam) is fp32 in both. bf16 is a
 * training mode (pcnn-fit --precision): scoring and sampling stay fp32. */
enum { PCNN_PREC_FP32 = 0, PCNN_PREC_BF16 = 1 };
/* "fp32" or "bf16" -> *prec: 0, or -1 for anything else. */
int pcnn_precision_parse(const char *s, int *prec);
const char *pcnn_precision_name(int prec);   /* "fp32", "bf16" */

/* The CPU GEMMs' precision from now on, for all threads (default fp32).
 * nn_set_precision: 0, or -1 (nothing changes) when prec is bf16 and nn_isa() is
 * below NN_ISA_AVX512BF16 (the CPU lacks AVX512_BF16, or PCNN_ISA / nn_set_isa
 * lowered the path). Lowering the ISA below that later sets fp32 again. */
int nn_precision(void);
int nn_set_precision(int prec);

#endif
