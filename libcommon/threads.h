/*
 * threads.h — one place that decides how many threads the CPU network uses.
 *
 * Strategy: OpenMP only. The CPU backend does its own GEMMs (nn_gemm.c), split
 * across OpenMP threads by output tiles, and every elementwise loop is an OpenMP
 * loop; OpenBLAS (still linked for other callers) is kept at one thread so that
 * two thread pools never compete for the cores (measured: 3x slower when they do).
 *
 * Thread count, first one set wins: PCNN_THREADS, OMP_NUM_THREADS (read by the
 * OpenMP runtime itself), else the number of online CPUs. OPENBLAS_NUM_THREADS
 * is left to OpenBLAS for code outside the network. Results never depend on the
 * thread count (no reduction is split across threads).
 */
#ifndef PCNN_THREADS_H
#define PCNN_THREADS_H

/* Applies the policy above once (later calls are no-ops); returns the count. */
int pcnn_threads_init(void);

#endif
