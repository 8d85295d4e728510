/* nn_gemm.c — the CPU GEMM and the implicit (tap) GEMM of nn_gemm.h.
 *
 * Tiles: MR = 6 rows of C by a panel of columns: 16 (scalar; AVX2 in 12 ymm
 * accumulators) or, with AVX-512, 16, 32, 48 or 64 (6, 12, 18 or 24 zmm
 * accumulators): B's columns are cut into 64-wide panels and one last panel
 * just wide enough for the rest (panel_width), so little of a tile is padding
 * (N = 40: one 48; 80: 64 + 16; 160: 64 + 64 + 32). B is first packed panel by
 * panel (each panel's k rows contiguous, zero padded to the panel's width), so a
 * kernel streams it in order; a tile that sticks out of C is computed in a
 * private buffer. Whatever kernel computes an element, it is the same fma chain
 * in k order, so all of them agree bit for bit (tests/unit/test_isa.c).
 * The weight gradient of a stride-1 conv (nn_tap_wgrad) is the same GEMM turned
 * round: its tiles take the source image's channels as columns, read in place run
 * by run along image rows (seg kernels), and broadcast the output gradient's rows.
 * The tile, panel and tap-row helpers are in nn_gemm_tile.h. In bf16
 * (nn_precision()) both entry points hand over to nn_gemm_bf16.c. */
#include "nn/nn_gemm.h"

#include "nn/nn_gemm_tile.h"
#include "nn/nn_gemm_bf16.h"
#include "nn/nn_isa.h"
#include "nn/nn_scratch.h"

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

#define KB 256   /* k block: B's (KB, NR) panel stays in L1 */

/* c (MR, NR or 2 NR) = [c +] a (MR rows, kc) b (kc, NR): row r's k-th element
 * is a[r][k*acs]; load: start from c. */
typedef void gemm_kernel(int kc, const float *const *a, size_t acs, const float *b, size_t ldb,
                         float *c, size_t ldc, int load);
/* The same over taps: row r of tap q is ap[q*MR + r][0..kc); b advances ldb per k. */
typedef void tap_kernel(int T, int kc, const float *const *ap, const float *b, size_t ldb,
                        float *c, size_t ldc, int load);

/* The weight gradient's (nn_tap_wgrad) kernel: c (MR, NR or more) [+]= the sum over
 * segments s, rows k of it, of A(r, sg.p0 + k) b[sg.sb + k*ldb + j], A(r, k) =
 * a[r][k*acs]: a segment is a run of rows whose tap pixels are consecutive in the
 * source (one image row), so B is read in place (b: the source at the panel's
 * first channel; ldb: the source's channels). */
typedef struct wseg {
    int p0, len;   /* first row (k) of the run, and its length */
    size_t sb;     /* offset of its first tap pixel in the source, in floats */
} wseg;
typedef void seg_kernel(int ns, const wseg *sg, const float *const *a, size_t acs, const float *b,
                        size_t ldb, float *c, size_t ldc, int load);

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

static void skern_c(int ns, const wseg *sg, const float *const *a, size_t acs, const float *b,
                    size_t ldb, float *c, size_t ldc, int load)
{
    float acc[MR][NR];
    for (int r = 0; r < MR; r++)
        for (int j = 0; j < NR; j++) acc[r][j] = load ? c[r * ldc + j] : 0.0f;
    for (int s = 0; s < ns; s++)
        for (int k = 0; k < sg[s].len; k++) {
            const float *bk = b + sg[s].sb + (size_t)k * ldb;
            size_t pa = ((size_t)sg[s].p0 + k) * acs;
            for (int r = 0; r < MR; r++) {
                float x = a[r][pa];
                for (int j = 0; j < NR; j++) acc[r][j] = fmaf(x, bk[j], acc[r][j]);
            }
        }
    for (int r = 0; r < MR; r++)
        for (int j = 0; j < NR; j++) c[r * ldc + j] = acc[r][j];
}

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define HAVE_X86_KERNELS 1

/* The GEMM, tap and weight-gradient kernels for a 6 x (NV * VW) tile of vector
 * type V (VW floats): the accumulators are an array that the unrolled loops keep in
 * registers (TILE_ACC_*, nn_gemm_tile.h); per k, NV vectors of b and one broadcast
 * per row (TILE_STEP: row r's value at offset p of ar[r]). */
#define TILE_STEP(V, VW, NV, LD, SET1, FMA, bk, ar, p)                                     \
    do {                                                                                   \
        V bv[NV];                                                                          \
        UNROLL for (int v = 0; v < NV; v++) bv[v] = LD((bk) + v * VW);                     \
        UNROLL for (int r = 0; r < MR; r++) {                                              \
            V x = SET1((ar)[r][p]);                                                        \
            UNROLL for (int v = 0; v < NV; v++) acc[r][v] = FMA(x, bv[v], acc[r][v]);      \
        }                                                                                  \
    } while (0)
#define DEFINE_TILE(NAME, TARGET, V, VW, NV, LD, ST, SET1, FMA, ZERO)                      \
    __attribute__((target(TARGET))) static void kern_##NAME(                               \
        int kc, const float *const *a, size_t acs, const float *b, size_t ldb, float *c,   \
        size_t ldc, int load)                                                              \
    {                                                                                      \
        V acc[MR][NV];                                                                     \
        const float *ar[MR];                                                               \
        UNROLL for (int r = 0; r < MR; r++) ar[r] = a[r];                                  \
        TILE_ACC_START(acc, c, ldc, load, LD, ZERO, VW, NV);                               \
        for (size_t k = 0, p = 0; k < (size_t)kc; k++, p += acs, b += ldb)                 \
            TILE_STEP(V, VW, NV, LD, SET1, FMA, b, ar, p);                                 \
        TILE_ACC_STORE(acc, c, ldc, ST, VW, NV);                                           \
    }                                                                                      \
    __attribute__((target(TARGET))) static void tkern_##NAME(                              \
        int T, int kc, const float *const *ap, const float *b, size_t ldb, float *c,       \
        size_t ldc, int load)                                                              \
    {                                                                                      \
        V acc[MR][NV];                                                                     \
        TILE_ACC_START(acc, c, ldc, load, LD, ZERO, VW, NV);                               \
        for (int q = 0; q < T; q++) {                                                      \
            const float *ar[MR];                                                           \
            UNROLL for (int r = 0; r < MR; r++) ar[r] = ap[q * MR + r];                    \
            for (int k = 0; k < kc; k++, b += ldb)                                         \
                TILE_STEP(V, VW, NV, LD, SET1, FMA, b, ar, k);                             \
        }                                                                                  \
        TILE_ACC_STORE(acc, c, ldc, ST, VW, NV);                                           \
    }                                                                                      \
    __attribute__((target(TARGET))) static void skern_##NAME(                              \
        int ns, const wseg *sg, const float *const *a, size_t acs, const float *b,         \
        size_t ldb, float *c, size_t ldc, int load)                                        \
    {                                                                                      \
        V acc[MR][NV];                                                                     \
        const float *ar[MR];                                                               \
        UNROLL for (int r = 0; r < MR; r++) ar[r] = a[r];                                  \
        TILE_ACC_START(acc, c, ldc, load, LD, ZERO, VW, NV);                               \
        for (int s = 0; s < ns; s++) {                                                     \
            const float *bk = b + sg[s].sb;                                                \
            size_t p = (size_t)sg[s].p0 * acs;                                             \
            for (int k = 0; k < sg[s].len; k++, p += acs, bk += ldb)                       \
                TILE_STEP(V, VW, NV, LD, SET1, FMA, bk, ar, p);                            \
        }                                                                                  \
        TILE_ACC_STORE(acc, c, ldc, ST, VW, NV);                                           \
    }

/* AVX2: 6 x 16 in 12 ymm (16 ymm registers leave no room for wider tiles). */
DEFINE_TILE(avx2_16, "avx2,fma", __m256, 8, 2, _mm256_loadu_ps, _mm256_storeu_ps, _mm256_set1_ps,
            _mm256_fmadd_ps, _mm256_setzero_ps)
/* AVX-512: 6 x 16, 32, 48, 64 in 6 to 24 zmm. */
#define DEFINE_AVX512(W, NV)                                                               \
    DEFINE_TILE(avx512_##W, "avx512f", __m512, 16, NV, _mm512_loadu_ps, _mm512_storeu_ps,  \
                _mm512_set1_ps, _mm512_fmadd_ps, _mm512_setzero_ps)
DEFINE_AVX512(16, 1)
DEFINE_AVX512(32, 2)
DEFINE_AVX512(48, 3)
DEFINE_AVX512(64, 4)
#endif

/* The kernels of the ISA in use, by panel width / NR (index 1..4; NULL where none). */
typedef struct kernels {
    gemm_kernel *k[MAX_W / NR + 1];
    tap_kernel *t[MAX_W / NR + 1];
    seg_kernel *s[MAX_W / NR + 1];
    int widest;
} kernels;

static kernels pick_kernels(void)
{
    kernels kn = {{NULL, kern_c}, {NULL, tkern_c}, {NULL, skern_c}, NR};
#ifdef HAVE_X86_KERNELS
    int isa = nn_isa();
    if (isa >= NN_ISA_AVX2) kn.k[1] = kern_avx2_16, kn.t[1] = tkern_avx2_16, kn.s[1] = skern_avx2_16;
    if (isa >= NN_ISA_AVX512) {
#define USE_AVX512(W) kn.k[W / NR] = kern_avx512_##W, kn.t[W / NR] = tkern_avx512_##W, \
                      kn.s[W / NR] = skern_avx512_##W
        USE_AVX512(16);
        USE_AVX512(32);
        USE_AVX512(48);
        USE_AVX512(64);
#undef USE_AVX512
        kn.widest = 64;
    }
#endif
    return kn;
}

/* Panel layout of B's columns (nn_gemm_panel_width) for the widest kernel there is. */
static int panel_width(const kernels *kn, int j, int N)
{
    return nn_gemm_panel_width(kn->widest, j, N);
}

/* Packed B (kc, N) -> dst, rows [k0, k1) of it: the panel at column j (width w)
 * is the kc x w block at dst + kc*j, rows contiguous; columns past N are zero. */
static void pack_b(float *dst, const kernels *kn, const float *B, size_t ldb, int kc, int N,
                   int k0, int k1)
{
    for (int j = 0, w; j < N; j += w) {
        w = panel_width(kn, j, N);
        int nc = N - j < w ? N - j : w;
        float *d = dst + (size_t)kc * j + (size_t)k0 * w;
        const float *s = B + (size_t)k0 * ldb + j;
        if (nc == w && w == MAX_W)   /* whole panels: fixed-size copies (vector moves, not a call) */
            for (int k = k0; k < k1; k++, d += w, s += ldb) memcpy(d, s, MAX_W * sizeof *d);
        else if (nc == w && w == NR)
            for (int k = k0; k < k1; k++, d += w, s += ldb) memcpy(d, s, NR * sizeof *d);
        else
            for (int k = k0; k < k1; k++, d += w, s += ldb)
                for (int t = 0; t < w; t++) d[t] = t < nc ? s[t] : 0.0f;
    }
}

/* ---------------------------------------------------------------------------
 * GEMM */
/* Rows [i0, i1) x columns [j0, j1) of C by one thread: per k block, B's
 * block of [j0, j1) is packed once, then every row tile runs along it. */
static void gemm_part(const gemm_t *g, const kernels *kn, int i0, int i1, int j0, int j1)
{
    const size_t ldc = g->ldc;
    const int nj = j1 - j0;
    float *bp = nn_scratch(NN_SCRATCH_PACK, (size_t)KB * nn_gemm_round_panels(nj));
    for (int k0 = 0; k0 < g->K; k0 += KB) {
        int kc = g->K - k0 < KB ? g->K - k0 : KB;
        int load = g->beta || k0 > 0;
        pack_b(bp, kn, g->B + (size_t)k0 * g->ldb + j0, g->ldb, kc, nj, 0, kc);
        for (int i = i0; i < i1; i += MR) {
            int mc = i1 - i < MR ? i1 - i : MR;
            const float *ap[MR];
            for (int r = 0; r < MR; r++)   /* rows past the end repeat the last one (not stored) */
                ap[r] = g->A + (size_t)(i + (r < mc ? r : mc - 1)) * g->ars + (size_t)k0 * g->acs;
            for (int j = 0, w; j < nj; j += w) {
                w = panel_width(kn, j, nj);
                int nc = nj - j < w ? nj - j : w;
                float *c = g->C + (size_t)i * ldc + j0 + j;
                TILE(kn->k[w / NR](kc, ap, g->acs, bp + (size_t)kc * j, (size_t)w, cc, lc, load));
            }
        }
    }
}

void nn_gemm(int M, int N, int K, const float *A, size_t ars, size_t acs, const float *B,
             size_t ldb, float *C, size_t ldc, int beta)
{
    if (nn_precision() == PCNN_PREC_BF16) {
        nn_gemm_bf16(M, N, K, A, ars, acs, B, ldb, C, ldc, beta);
        return;
    }
    if (nn_gemm_trivial(M, N, K, C, ldc, beta)) return;
    gemm_t g = {M, N, K, A, ars, acs, B, ldb, C, ldc, beta};
    kernels kn = pick_kernels();
    int threads = nn_gemm_threads_for((double)M * N * K);
    /* columns are dealt out in whole panels of the widest kernel */
#pragma omp parallel num_threads(threads) if (threads > 1)
    {
        int i0, i1, j0, j1;
        if (nn_gemm_share(M, N, kn.widest, omp_get_thread_num(), omp_get_num_threads(), &i0,
                          &i1, &j0, &j1))
            gemm_part(&g, &kn, i0, i1, j0, j1);
    }
}

/* ---------------------------------------------------------------------------
 * Implicit GEMM over taps */
void nn_tap_gemm(const nn_tapmap *m, int M, int N, int kc, const float *B, size_t ldb, float *C,
                 size_t ldc, int load, const float *zero)
{
    if (nn_precision() == PCNN_PREC_BF16) {
        nn_tap_gemm_bf16(m, M, N, kc, B, ldb, C, ldc, load, zero);
        return;
    }
    kernels kn = pick_kernels();
    const int T = m->kh * m->kw, K = T * kc, mt = (M + MR - 1) / MR;
    float *bp = nn_scratch(NN_SCRATCH_PACK, (size_t)K * nn_gemm_round_panels(N));
    int threads = nn_gemm_threads_for((double)M * N * K);
#pragma omp parallel num_threads(threads) if (threads > 1)
    {
        /* every thread packs a share of B's rows, then they all run along it */
        int t = omp_get_thread_num(), nt = omp_get_num_threads();
        pack_b(bp, &kn, B, ldb, K, N, (int)((long)K * t / nt), (int)((long)K * (t + 1) / nt));
#pragma omp barrier
#pragma omp for schedule(static)
        for (int g = 0; g < mt; g++) {
            const float *ap[64 * MR];   /* T <= 64 taps (checked by callers) */
            int i0 = g * MR, mc = M - i0 < MR ? M - i0 : MR;
            nn_gemm_tap_rows(m, i0, mc, ap, zero);
            for (int j = 0, w; j < N; j += w) {
                w = panel_width(&kn, j, N);
                int nc = N - j < w ? N - j : w;
                float *c = C + (size_t)i0 * ldc + j;
                TILE(kn.t[w / NR](T, kc, ap, bp + (size_t)K * j, (size_t)w, cc, lc, load));
            }
        }
    }
}

/* ---------------------------------------------------------------------------
 * Implicit weight gradient (nn_gemm.h: nn_tap_wgrad) */
#define WKB 512   /* rows (k) per block: its source rows and A rows stay in L2 (64 to 1024 measured: 512 among the best) */

/* The runs of rows [k0, k1) whose tap q falls inside the source: one per row of
 * the row grid at most (its pixels read consecutive source pixels). */
static int tap_segments(const nn_tapmap *m, int q, int k0, int k1, wseg *sg)
{
    const int di = q / m->kw, dj = q % m->kw;
    const int off = m->oj - m->sgn * dj;   /* source column = row-grid column + off */
    int ns = 0;
    for (int p = k0; p < k1;) {
        int j = p % m->rw, row = p / m->rw, i = row % m->rh, n = row / m->rh;
        int pe = p - j + m->rw < k1 ? p - j + m->rw : k1;
        int si = i + m->oi - m->sgn * di;
        if (si >= 0 && si < m->sh) {
            int jlo = j > -off ? j : -off, jhi = j + (pe - p) < m->sw - off ? j + (pe - p) : m->sw - off;
            if (jlo < jhi)
                sg[ns++] = (wseg){p + (jlo - j), jhi - jlo,
                                  (((size_t)n * m->sh + si) * m->sw + (size_t)(jlo + off)) * m->C};
        }
        p = pe;
    }
    return ns;
}

void nn_colsum_rows(float *db, const float *A, size_t lda, size_t k0, size_t k1, int o0, int o1)
{
    for (int c0 = o0; c0 < o1; c0 += NR) {
        int nc = o1 - c0 < NR ? o1 - c0 : NR;
        float acc[NR];   /* the chains in registers: db's value, then the rows */
        memcpy(acc, db + c0, (size_t)nc * sizeof *acc);
        for (size_t p = k0; p < k1; p++) {
            const float *x = A + p * lda + c0;
            if (nc == NR)
                for (int c = 0; c < NR; c++) acc[c] += x[c];
            else
                for (int c = 0; c < nc; c++) acc[c] += x[c];
        }
        memcpy(db + c0, acc, (size_t)nc * sizeof *acc);
    }
}

void nn_tap_wgrad(const nn_tapmap *m, int M, int N, int kc, const float *A, size_t lda, float *C,
                  size_t ldc, int beta, float *db)
{
    const int T = m->kh * m->kw;
    if (nn_gemm_trivial(N, T * kc, M, C, ldc, beta)) return;
    if (kc % NR || kc > NN_TAP_WGRAD_MAX_C)
        pcnn_die("internal error: nn_tap_wgrad needs channels in multiples of %d up to %d, got %d", NR,
                 NN_TAP_WGRAD_MAX_C, kc);
    kernels kn = pick_kernels();
    /* tiles: per tap, kc cut into panels (whole: kc is a multiple of NR), by MR rows of C */
    int pj[NN_TAP_WGRAD_MAX_C / NR], pw[NN_TAP_WGRAD_MAX_C / NR], np = 0;
    for (int j = 0, w; j < kc; j += w) {
        w = panel_width(&kn, j, kc);
        pj[np] = j, pw[np++] = w;
    }
    const int mt = (N + MR - 1) / MR, U = T * np * mt;
    int threads = nn_gemm_threads_for((double)M * N * T * kc);
#pragma omp parallel num_threads(threads) if (threads > 1)
    {
        /* units (tap, panel, row tile) in that order, a contiguous share each, equal in
         * columns (a 64-wide panel is 4 units of work of a 16-wide one): the tiles of
         * one panel run one after another along the same source rows */
        int t = omp_get_thread_num(), nt = omp_get_num_threads(), u0 = -1, u1 = U;
        long total = (long)T * mt * kc, lo = total * t / nt, hi = total * (t + 1) / nt, sum = 0;
        for (int u = 0; u < U; u++) {
            if (u0 < 0 && sum >= lo) u0 = u;
            if (sum >= hi) { u1 = u; break; }
            sum += pw[u / mt % np];
        }
        if (u0 < 0) u0 = U;
        const int o0 = (int)((long)N * t / nt), o1 = (int)((long)N * (t + 1) / nt);   /* of db */
        wseg sg[WKB + 2];
        for (int k0 = 0; k0 < M; k0 += WKB) {
            int k1 = M - k0 < WKB ? M : k0 + WKB, load = beta || k0 > 0, segq = -1, ns = 0;
            if (db) nn_colsum_rows(db, A, lda, (size_t)k0, (size_t)k1, o0, o1);   /* rows in L2 */
            for (int u = u0; u < u1; u++) {
                int q = u / (np * mt), pi = u / mt % np, i0 = u % mt * MR;
                if (q != segq) ns = tap_segments(m, q, k0, k1, sg), segq = q;
                int mc = N - i0 < MR ? N - i0 : MR, w = pw[pi], nc = w;
                const float *ap[MR];
                for (int r = 0; r < MR; r++) ap[r] = A + (size_t)i0 + (size_t)(r < mc ? r : mc - 1);
                float *c = C + (size_t)i0 * ldc + (size_t)q * kc + pj[pi];
                TILE(kn.s[w / NR](ns, sg, ap, lda, m->src + pj[pi], (size_t)m->C, cc, lc, load));
            }
        }
    }
}
