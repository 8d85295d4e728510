/* nn_gemm.c — the CPU GEMM and the implicit (tap) GEMM of nn_gemm.h.
 *
 * Tiles: MR = 6 rows of C by NR = 16 columns (scalar, AVX2: 12 ymm
 * accumulators) or by 2 NR = 32 columns (AVX-512: 12 zmm accumulators) where
 * two whole panels are left; a tile that sticks out of C is computed in a
 * private 6 x 16 buffer. B is first packed panel by panel (each panel's k
 * rows contiguous, zero padded to whole panels), so a kernel streams it in
 * order. Whatever kernel computes an element, it is the same fma chain in k
 * order, so all of them agree bit for bit (tests/unit/test_isa.c). */
#include "nn_gemm.h"

#include "nn_layers.h"

/* Every rounding step is explicit: never let the compiler contract a*b+c. */
#if defined(__clang__)
#pragma clang fp contract(off)
#elif defined(__GNUC__)
#pragma GCC optimize("fp-contract=off")
#endif

#include "util.h"

#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#define MR 6
#define NR NN_GEMM_NR
#define KB 256   /* k block: B's (KB, NR) panel stays in L1 */

/* c (MR, NR or 2 NR) = [c +] a (MR rows, kc) b (kc, NR): row r's k-th element
 * is a[r][k*acs]; load: start from c. */
typedef void gemm_kernel(int kc, const float *const *a, size_t acs, const float *b, size_t ldb,
                         float *c, size_t ldc, int load);
/* The same over taps: row r of tap q is ap[q*MR + r][0..kc); b advances ldb per k. */
typedef void tap_kernel(int T, int kc, const float *const *ap, const float *b, size_t ldb,
                        float *c, size_t ldc, int load);

/* ---------------------------------------------------------------------------
 * Scalar reference kernels (and the fallback on CPUs without AVX2). */
static void kern_c(int kc, const float *const *a, size_t acs, const float *b, size_t ldb, float *c,
                   size_t ldc, int load)
{
    float acc[MR][NR];
    for (int r = 0; r < MR; r++)
        for (int j = 0; j < NR; j++) acc[r][j] = load ? c[r * ldc + j] : 0.0f;
    for (int k = 0; k < kc; k++) {
        const float *bk = b + (size_t)k * ldb;
        for (int r = 0; r < MR; r++) {
            float x = a[r][(size_t)k * acs];
            for (int j = 0; j < NR; j++) acc[r][j] = fmaf(x, bk[j], acc[r][j]);
        }
    }
    for (int r = 0; r < MR; r++)
        for (int j = 0; j < NR; j++) c[r * ldc + j] = acc[r][j];
}

static void tkern_c(int T, int kc, const float *const *ap, const float *b, size_t ldb, float *c,
                    size_t ldc, int load)
{
    float acc[MR][NR];
    for (int r = 0; r < MR; r++)
        for (int j = 0; j < NR; j++) acc[r][j] = load ? c[r * ldc + j] : 0.0f;
    for (int q = 0; q < T; q++)
        for (int k = 0; k < kc; k++, b += ldb)
            for (int r = 0; r < MR; r++) {
                float x = ap[q * MR + r][k];
                for (int j = 0; j < NR; j++) acc[r][j] = fmaf(x, b[j], acc[r][j]);
            }
    for (int r = 0; r < MR; r++)
        for (int j = 0; j < NR; j++) c[r * ldc + j] = acc[r][j];
}

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define HAVE_X86_KERNELS 1

/* One micro-tile of 6 rows: accumulators cRh (row R, half h) of vector type V,
 * VW floats wide; STEP does one k: rows a0..a5 at element `off` times the
 * 2 VW floats at b. */
#define TILE_DECL(V) V c0a, c0b, c1a, c1b, c2a, c2b, c3a, c3b, c4a, c4b, c5a, c5b
#define TILE_LOAD(LD, VW)                                                                  \
    do {                                                                                   \
        c0a = LD(c), c0b = LD(c + VW), c1a = LD(c + ldc), c1b = LD(c + ldc + VW);          \
        c2a = LD(c + 2 * ldc), c2b = LD(c + 2 * ldc + VW);                                 \
        c3a = LD(c + 3 * ldc), c3b = LD(c + 3 * ldc + VW);                                 \
        c4a = LD(c + 4 * ldc), c4b = LD(c + 4 * ldc + VW);                                 \
        c5a = LD(c + 5 * ldc), c5b = LD(c + 5 * ldc + VW);                                 \
    } while (0)
#define TILE_ZERO(Z) (c0a = c0b = c1a = c1b = c2a = c2b = c3a = c3b = c4a = c4b = c5a = c5b = Z())
#define TILE_STEP(V, LD, SET1, FMA, VW, off)                                               \
    do {                                                                                   \
        V b0 = LD(b), b1 = LD(b + VW), x;                                                  \
        x = SET1(a0[off]), c0a = FMA(x, b0, c0a), c0b = FMA(x, b1, c0b);                   \
        x = SET1(a1[off]), c1a = FMA(x, b0, c1a), c1b = FMA(x, b1, c1b);                   \
        x = SET1(a2[off]), c2a = FMA(x, b0, c2a), c2b = FMA(x, b1, c2b);                   \
        x = SET1(a3[off]), c3a = FMA(x, b0, c3a), c3b = FMA(x, b1, c3b);                   \
        x = SET1(a4[off]), c4a = FMA(x, b0, c4a), c4b = FMA(x, b1, c4b);                   \
        x = SET1(a5[off]), c5a = FMA(x, b0, c5a), c5b = FMA(x, b1, c5b);                   \
    } while (0)
#define TILE_STORE(ST, VW)                                                                 \
    do {                                                                                   \
        ST(c, c0a), ST(c + VW, c0b), ST(c + ldc, c1a), ST(c + ldc + VW, c1b);              \
        ST(c + 2 * ldc, c2a), ST(c + 2 * ldc + VW, c2b);                                   \
        ST(c + 3 * ldc, c3a), ST(c + 3 * ldc + VW, c3b);                                   \
        ST(c + 4 * ldc, c4a), ST(c + 4 * ldc + VW, c4b);                                   \
        ST(c + 5 * ldc, c5a), ST(c + 5 * ldc + VW, c5b);                                   \
    } while (0)

/* Declares the accumulators and starts them from c (load) or zero. */
#define TILE_INIT(V, LD, VW, ZERO)                                                         \
    TILE_DECL(V);                                                                          \
    if (load)                                                                              \
        TILE_LOAD(LD, VW);                                                                 \
    else                                                                                   \
        TILE_ZERO(ZERO)

/* The GEMM kernel and the tap kernel for one vector type: 6 x (2 VW) tiles. */
#define DEFINE_KERNELS(NAME, TARGET, V, VW, LD, ST, SET1, FMA, ZERO)                       \
    __attribute__((target(TARGET))) static void kern_##NAME(                               \
        int kc, const float *const *a, size_t acs, const float *b, size_t ldb, float *c,   \
        size_t ldc, int load)                                                              \
    {                                                                                      \
        TILE_INIT(V, LD, VW, ZERO);                                                        \
        const float *a0 = a[0], *a1 = a[1], *a2 = a[2], *a3 = a[3], *a4 = a[4], *a5 = a[5]; \
        size_t p = 0;                                                                      \
        for (int k = 0; k < kc; k++, p += acs, b += ldb) TILE_STEP(V, LD, SET1, FMA, VW, p); \
        TILE_STORE(ST, VW);                                                                \
    }                                                                                      \
    __attribute__((target(TARGET))) static void tkern_##NAME(                              \
        int T, int kc, const float *const *ap, const float *b, size_t ldb, float *c,       \
        size_t ldc, int load)                                                              \
    {                                                                                      \
        TILE_INIT(V, LD, VW, ZERO);                                                        \
        for (int q = 0; q < T; q++) {                                                      \
            const float *a0 = ap[q * MR], *a1 = ap[q * MR + 1], *a2 = ap[q * MR + 2],      \
                        *a3 = ap[q * MR + 3], *a4 = ap[q * MR + 4], *a5 = ap[q * MR + 5];  \
            for (int k = 0; k < kc; k++, b += ldb) TILE_STEP(V, LD, SET1, FMA, VW, k);     \
        }                                                                                  \
        TILE_STORE(ST, VW);                                                                \
    }

/* 6 x 16 in 12 ymm: the panel kernels of the AVX2 path (and the AVX-512 edges). */
DEFINE_KERNELS(avx2, "avx2,fma", __m256, 8, _mm256_loadu_ps, _mm256_storeu_ps, _mm256_set1_ps,
               _mm256_fmadd_ps, _mm256_setzero_ps)
/* 6 x 32 in 12 zmm: two panels at once. */
DEFINE_KERNELS(avx512, "avx512f", __m512, 16, _mm512_loadu_ps, _mm512_storeu_ps, _mm512_set1_ps,
               _mm512_fmadd_ps, _mm512_setzero_ps)
#endif

/* The kernels of the ISA in use: panel (6 x NR) and wide (6 x 2 NR, or NULL). */
typedef struct kernels {
    gemm_kernel *panel, *wide;
    tap_kernel *tpanel, *twide;
} kernels;

static kernels pick_kernels(void)
{
    kernels k = {kern_c, NULL, tkern_c, NULL};
#ifdef HAVE_X86_KERNELS
    int isa = nn_isa();
    if (isa >= NN_ISA_AVX2) k.panel = kern_avx2, k.tpanel = tkern_avx2;
    if (isa >= NN_ISA_AVX512) k.wide = kern_avx512, k.twide = tkern_avx512;
#endif
    return k;
}

/* Threads for a product of this many multiply-adds. */
static int threads_for(double work)
{
    return omp_in_parallel() || work < 2e5 ? 1 : omp_get_max_threads();
}

/* Panel layout of B's columns: a panel at column j is 2 NR wide where the wide
 * kernel exists and two whole panels are left, else NR. */
static int panel_width(const kernels *kn, int j, int N)
{
    return kn->wide && j + 2 * NR <= N ? 2 * NR : NR;
}

/* Packed B (kc, N) -> dst: the panel at column j (width w) is the kc x w block
 * at dst + kc*j, rows contiguous; columns past N are zero. */
static void pack_b(float *dst, const kernels *kn, const float *B, size_t ldb, int kc, int N)
{
    for (int j = 0, w; j < N; j += w) {
        w = panel_width(kn, j, N);
        int nc = N - j < w ? N - j : w;
        float *d = dst + (size_t)kc * j;
        const float *s = B + j;
        if (nc == 2 * NR)   /* whole panels: fixed-size copies (vector moves, not a call) */
            for (int k = 0; k < kc; k++, d += w, s += ldb) memcpy(d, s, 2 * NR * sizeof *d);
        else if (nc == NR)
            for (int k = 0; k < kc; k++, d += w, s += ldb) memcpy(d, s, NR * sizeof *d);
        else
            for (int k = 0; k < kc; k++, d += w, s += ldb)
                for (int t = 0; t < w; t++) d[t] = t < nc ? s[t] : 0.0f;
    }
}

/* Scratch buffers, NN_SCRATCH_SLOTS per thread: each grows to the largest
 * need once (the first step), then is reused. */
static _Thread_local float *scratch_p[NN_SCRATCH_SLOTS];
static _Thread_local size_t scratch_cap[NN_SCRATCH_SLOTS];

float *nn_scratch(int slot, size_t n)
{
    if (n > scratch_cap[slot]) {
        free(scratch_p[slot]);
        scratch_p[slot] = pcnn_xmalloc(n * sizeof(float));
        scratch_cap[slot] = n;
    }
    return scratch_p[slot];
}

__attribute__((destructor)) static void scratch_free(void)
{
    for (int i = 0; i < NN_SCRATCH_SLOTS; i++) {
        free(scratch_p[i]);
        scratch_p[i] = NULL;
        scratch_cap[i] = 0;
    }
}

static size_t round_panels(int n) { return ((size_t)n + NR - 1) / NR * NR; }

/* One tile at c of mc <= MR rows and nc <= NR columns through the panel kernel,
 * by way of a private buffer when it sticks out of C. */
#define EDGE_TILE(CALL_ON)                                                                 \
    do {                                                                                   \
        if (mc == MR && nc == NR) {                                                        \
            float *cc = c;                                                                 \
            size_t lc = ldc;                                                               \
            CALL_ON;                                                                       \
        } else {                                                                           \
            float ct[MR * NR], *cc = ct;                                                   \
            size_t lc = NR;                                                                \
            if (load)                                                                      \
                for (int r = 0; r < mc; r++) memcpy(ct + r * NR, c + (size_t)r * ldc, (size_t)nc * sizeof *c); \
            CALL_ON;                                                                       \
            for (int r = 0; r < mc; r++) memcpy(c + (size_t)r * ldc, ct + r * NR, (size_t)nc * sizeof *c); \
        }                                                                                  \
    } while (0)

/* ---------------------------------------------------------------------------
 * GEMM */
typedef struct gemm_t {
    int M, N, K;
    const float *A;
    size_t ars, acs;
    const float *B;
    size_t ldb;
    float *C;
    size_t ldc;
    int beta;
} gemm_t;

/* Rows [i0, i1) x columns [j0, j1) of C by one thread: per k block, B's
 * block of [j0, j1) is packed once, then every row tile runs along it. */
static void gemm_part(const gemm_t *g, const kernels *kn, int i0, int i1, int j0, int j1)
{
    const size_t ldc = g->ldc;
    const int nj = j1 - j0;
    float *bp = nn_scratch(NN_SCRATCH_PACK, (size_t)KB * round_panels(nj));
    for (int k0 = 0; k0 < g->K; k0 += KB) {
        int kc = g->K - k0 < KB ? g->K - k0 : KB;
        int load = g->beta || k0 > 0;
        pack_b(bp, kn, g->B + (size_t)k0 * g->ldb + j0, g->ldb, kc, nj);
        for (int i = i0; i < i1; i += MR) {
            int mc = i1 - i < MR ? i1 - i : MR;
            const float *ap[MR];
            for (int r = 0; r < MR; r++)   /* rows past the end repeat the last one (not stored) */
                ap[r] = g->A + (size_t)(i + (r < mc ? r : mc - 1)) * g->ars + (size_t)k0 * g->acs;
            for (int j = 0, w; j < nj; j += w) {
                w = panel_width(kn, j, nj);
                const float *b = bp + (size_t)kc * j;
                if (w > NR && mc == MR) {
                    kn->wide(kc, ap, g->acs, b, (size_t)w, g->C + (size_t)i * ldc + j0 + j, ldc, load);
                    continue;
                }
                for (int h = 0; h < w && j + h < nj; h += NR) {
                    float *c = g->C + (size_t)i * ldc + j0 + j + h;
                    int nc = nj - j - h < NR ? nj - j - h : NR;
                    EDGE_TILE(kn->panel(kc, ap, g->acs, b + h, (size_t)w, cc, lc, load));
                }
            }
        }
    }
}

void nn_gemm(int M, int N, int K, const float *A, size_t ars, size_t acs, const float *B,
             size_t ldb, float *C, size_t ldc, int beta)
{
    if (M <= 0 || N <= 0) return;
    if (K <= 0) {
        if (!beta)
            for (int i = 0; i < M; i++) memset(C + (size_t)i * ldc, 0, (size_t)N * sizeof *C);
        return;
    }
    gemm_t g = {M, N, K, A, ars, acs, B, ldb, C, ldc, beta};
    kernels kn = pick_kernels();
    const int nu = kn.wide ? 2 * NR : NR;   /* columns are dealt out in whole kernel widths */
    const int mt = (M + MR - 1) / MR, nt = (N + nu - 1) / nu;
    int threads = threads_for((double)M * N * K);
    /* The tiles are split among the threads along the longer side; no
     * element's chain is ever split. */
#pragma omp parallel num_threads(threads) if (threads > 1)
    {
        int t = omp_get_thread_num(), T = omp_get_num_threads();
        if (mt >= nt) {
            int a = (int)((long)mt * t / T), b = (int)((long)mt * (t + 1) / T);
            if (a < b) gemm_part(&g, &kn, a * MR, b * MR < M ? b * MR : M, 0, N);
        } else {
            int a = (int)((long)nt * t / T), b = (int)((long)nt * (t + 1) / T);
            if (a < b) gemm_part(&g, &kn, 0, M, a * nu, b * nu < N ? b * nu : N);
        }
    }
}

/* ---------------------------------------------------------------------------
 * Implicit GEMM over taps */
void nn_tap_gemm(const nn_tapmap *m, int M, int N, int kc, const float *B, size_t ldb, float *C,
                 size_t ldc, int load, const float *zero)
{
    kernels kn = pick_kernels();
    const int T = m->kh * m->kw, K = T * kc, mt = (M + MR - 1) / MR;
    float *bp = nn_scratch(NN_SCRATCH_PACK, (size_t)K * round_panels(N));
    pack_b(bp, &kn, B, ldb, K, N);
    int threads = threads_for((double)M * N * K);
#pragma omp parallel for schedule(static) num_threads(threads) if (threads > 1)
    for (int g = 0; g < mt; g++) {
        const float *ap[64 * MR];   /* T <= 64 taps (checked by callers) */
        int i0 = g * MR, mc = M - i0 < MR ? M - i0 : MR;
        for (int r = 0; r < MR; r++) {
            int i = i0 + (r < mc ? r : mc - 1);
            int j = i % m->rw, t = i / m->rw, ii = t % m->rh, n = t / m->rh;
            for (int di = 0; di < m->kh; di++)
                for (int dj = 0; dj < m->kw; dj++) {
                    int si = ii + m->oi - m->sgn * di, sj = j + m->oj - m->sgn * dj;
                    ap[(di * m->kw + dj) * MR + r] =
                        si < 0 || si >= m->sh || sj < 0 || sj >= m->sw
                            ? zero
                            : m->src + (((size_t)n * m->sh + si) * m->sw + sj) * m->C;
                }
        }
        for (int j = 0, w; j < N; j += w) {
            w = panel_width(&kn, j, N);
            const float *b = bp + (size_t)K * j;
            if (w > NR && mc == MR) {
                kn.twide(T, kc, ap, b, (size_t)w, C + (size_t)i0 * ldc + j, ldc, load);
                continue;
            }
            for (int h = 0; h < w && j + h < N; h += NR) {
                float *c = C + (size_t)i0 * ldc + j + h;
                int nc = N - j - h < NR ? N - j - h : NR;
                EDGE_TILE(kn.tpanel(T, kc, ap, b + h, (size_t)w, cc, lc, load));
            }
        }
    }
}
