/*
 * rng.h — counter-based random numbers: every random value in pcnn is a pure
 * function of (seed, a few counters), so a rerun or a resumed run gives the
 * same bytes, and the same inline code compiles for CUDA (plain C, uint64_t
 * arithmetic only, no state).
 *
 *   uint64_t h = pcnn_rng_hash4(seed, PCNN_RNG_DROPOUT, step, (b << 32) | n, c);
 *   float u = pcnn_rng_uniform(seed, PCNN_RNG_INIT, tensor_id, i);   // [0, 1)
 *
 * The mixer is splitmix64's finaliser (Steele et al. 2014), applied to each
 * counter in turn (a sponge); domains keep the streams of different uses apart.
 */
#ifndef PCNN_RNG_H
#define PCNN_RNG_H

#include <stdint.h>

#if defined(__CUDACC__)
#define PCNN_HD __host__ __device__
#else
#define PCNN_HD
#endif

/* Domains: which use a random number serves. */
enum { PCNN_RNG_INIT = 1, PCNN_RNG_DROPOUT = 2, PCNN_RNG_SAMPLE = 3, PCNN_RNG_SHUFFLE = 4,
       PCNN_RNG_CE_CLASSES = 5 };

static inline PCNN_HD uint64_t pcnn_mix64(uint64_t z)
{
    z += 0x9e3779b97f4a7c15ull;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* Hash of (seed, domain, a, b, c). */
static inline PCNN_HD uint64_t pcnn_rng_hash4(uint64_t seed, uint64_t domain, uint64_t a,
                                              uint64_t b, uint64_t c)
{
    uint64_t h = pcnn_mix64(seed ^ 0x243f6a8885a308d3ull);
    h = pcnn_mix64(h ^ domain);
    h = pcnn_mix64(h ^ a);
    h = pcnn_mix64(h ^ b);
    return pcnn_mix64(h ^ c);
}

/* Which image's dropout mask row n of a batch uses. The hybrid objective (SPEC
 * §6b) runs each of its first nrep images once per class, image-major (row
 * i*rep + c is image i under class c), and all rep passes of an image must see
 * one mask: row n keys as image n / rep there, and the rows after them as the
 * images they are. rep <= 1 is the plain batch (key n). img0: the batch is images img0..
 * of a larger one (a rank's share of a data-parallel batch, docs/SCALE.md); 0 otherwise. */
static inline PCNN_HD uint64_t pcnn_dropout_image(uint64_t n, uint64_t rep, uint64_t nrep,
                                                  uint64_t img0)
{
    if (rep <= 1) return img0 + n;
    return img0 + (n < rep * nrep ? n / rep : n - nrep * (rep - 1));
}

/* Uniform in [0, 1) with 24 random bits (exact in float). */
static inline PCNN_HD float pcnn_rng_uniform(uint64_t seed, uint64_t domain, uint64_t a,
                                             uint64_t b)
{
    return (float)(pcnn_rng_hash4(seed, domain, a, b, 0) >> 40) * (1.0f / 16777216.0f);
}

/* Uniform in [0, 1) with 53 random bits. */
static inline PCNN_HD double pcnn_rng_uniform_d(uint64_t seed, uint64_t domain, uint64_t a,
                                                uint64_t b, uint64_t c)
{
    return (double)(pcnn_rng_hash4(seed, domain, a, b, c) >> 11) * (1.0 / 9007199254740992.0);
}

#endif
