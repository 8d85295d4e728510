/*
 * nn_gemm_bf16.h — the bf16 bodies of nn_gemm and nn_tap_gemm (nn_gemm_bf16.c): the
 * operands rounded to bfloat16, the products summed in fp32 by VDPBF16PS, each element
 * one chain as nn_gemm.h spells out. nn_gemm.c hands over to them when nn_precision()
 * (nn_isa.h) is PCNN_PREC_BF16; they need nn_isa() >= NN_ISA_AVX512BF16.
 *
 *   unsigned short h = nn_bf16_round(1.1f);    // 0x3f8d: the operand the GEMM uses
 */
#ifndef PCNN_NN_GEMM_BF16_H
#define PCNN_NN_GEMM_BF16_H

#include "nn/nn_gemm.h"   // defines: nn_tapmap

#include <stddef.h>

/* The bf16 bodies of nn_gemm and nn_tap_gemm (nn_gemm.h), which call them when
 * nn_precision() is PCNN_PREC_BF16; the same arguments. k runs over the taps as
 * above (k = q*kc + c), so a pair may hold the last channel of one tap and the
 * first of the next when kc is odd. */
void nn_gemm_bf16(int M, int N, int K, const float *A, size_t ars, size_t acs, const float *B,
                  size_t ldb, float *C, size_t ldc, int beta);
void nn_tap_gemm_bf16(const nn_tapmap *m, int M, int N, int kc, const float *B, size_t ldb,
                      float *C, size_t ldc, int load, const float *zero);

/* bf16(x) as the GEMM rounds its operands: round to nearest even, a subnormal x
 * to a zero of its sign, a NaN to a quiet NaN (VCVTNEPS2BF16's rule). */
static inline unsigned short nn_bf16_round(float x)
{
    union { float f; unsigned u; } v = {x};
    unsigned u = v.u;
    if ((u & 0x7f800000u) == 0) u &= 0x80000000u;                           /* daz */
    if ((u & 0x7fffffffu) > 0x7f800000u) return (unsigned short)((u >> 16) | 0x40); /* NaN */
    return (unsigned short)((u + 0x7fffu + ((u >> 16) & 1u)) >> 16);         /* nearest even */
}

#endif
