/* knn.c — k-nearest neighbours in pixel space (see knn.h).
 *
 * d²(a, b) = ‖a‖² + ‖b‖² − 2 a·b, with the dot products of a block of queries against
 * a chunk of reference images as one matrix product (cblas_dgemm):
 *
 *   dot[i][j] = Σ_t q[i][t] · r[j][t]      q: (qb, dim), r: (rb, dim), dot: (qb, rb)
 *
 * Exact integers, not float. In float (cblas_sgemm) a·b of two 32×32×3 images reaches
 * 3072 · 255² ≈ 2.0e8 > 2^24, so the sums round, and how they round depends on
 * OpenBLAS's kernel and blocking: two reference images at (nearly) the same distance
 * could swap places from one machine or library version to the next, and with them the
 * neighbours, the vote and the judged class. In double every product of two uint8
 * values (< 2^16) and every partial sum of at most dim ≤ 4096·4096·4 = 2^26 of them
 * (< 2^42) is an integer below 2^53, so dgemm's result is exact whatever the order of
 * the additions or the use of FMA: the distances are the integers a plain integer loop
 * would give, and ties are real ties, broken by the rules of knn.h.
 * Speed, CPEN 455's validation set against its training set (519 × 4159 × 3072 ≈ 6.6e9
 * multiply-adds) on the 2-core development machine, busy with other jobs: this file
 * 1.3 s (2 threads; 2.1 s on one); the plain integer loop, one thread, 12.7 s at the
 * build's -O2 for any x86-64 and 0.8 s when -O3 -march=native vectorises it for AVX-512.
 * That loop would need the run-time ISA dispatch of nn_isa.c to be fast everywhere;
 * OpenBLAS's dgemm brings its own.
 *
 * Threads: OpenMP over blocks of queries, one single-threaded dgemm per block
 * (pcnn_threads_init keeps OpenBLAS at one thread). Each query's neighbours come from
 * one thread, scanning the reference in file order, so nothing depends on the count.
 */
#include "eval/knn.h"

#include "threads.h"
#include "util.h"

#include <assert.h>
#include <cblas.h>
#include <limits.h>
#include <stdlib.h>

/* Block sizes: 64 queries × 512 reference images per product (a 256 KiB dot tile),
 * fewer when an image is so large that a block's doubles would pass 16 MiB. */
#define KNN_QB 64
#define KNN_RB 512
#define KNN_BLOCK_BYTES ((size_t)16 << 20)

size_t pcnn_knn_labelled(const int32_t *labels, size_t n)
{
    size_t c = 0;
    for (size_t i = 0; i < n; i++) c += labels[i] >= 0;
    return c;
}

static uint64_t sqnorm(const uint8_t *a, size_t dim)
{
    uint64_t s = 0;
    for (size_t t = 0; t < dim; t++) s += (uint64_t)a[t] * a[t];
    return s;
}

/* (d, j) comes before (d2, idx) when nearer, or as near and earlier in the file. */
static int before(uint64_t d, size_t j, uint64_t d2, size_t idx)
{
    return d < d2 || (d == d2 && j < idx);
}

/* Inserts (d, j) into a query's sorted list of *filled ≤ k neighbours. */
static void topk_insert(size_t *idx, uint64_t *d2, int *filled, int k, size_t j, uint64_t d)
{
    int n = *filled;
    if (n == k && !before(d, j, d2[k - 1], idx[k - 1])) return;
    int p = n < k ? n : k - 1;
    while (p > 0 && before(d, j, d2[p - 1], idx[p - 1])) {
        d2[p] = d2[p - 1];
        idx[p] = idx[p - 1];
        p--;
    }
    d2[p] = d;
    idx[p] = j;
    if (n < k) *filled = n + 1;
}

static size_t block_rows(size_t want, size_t dim)
{
    size_t fit = KNN_BLOCK_BYTES / (dim * sizeof(double));
    return fit < 1 ? 1 : fit < want ? fit : want;
}

void pcnn_knn_neighbours(size_t *nb_idx, uint64_t *nb_d2,
                         const uint8_t *query, size_t nq,
                         const uint8_t *ref, const int32_t *ref_labels, size_t nref,
                         size_t dim, int k)
{
    size_t nl = pcnn_knn_labelled(ref_labels, nref);
    assert(k >= 1 && (size_t)k <= nl && dim >= 1 && dim <= INT_MAX);
    /* The labelled reference images in file order, and their ‖b‖². */
    size_t *lab = pcnn_xmalloc(pcnn_mul_size(nl, sizeof *lab));
    uint64_t *rn = pcnn_xmalloc(pcnn_mul_size(nl, sizeof *rn));
    for (size_t j = 0, m = 0; j < nref; j++)
        if (ref_labels[j] >= 0) lab[m++] = j;
    for (size_t m = 0; m < nl; m++) rn[m] = sqnorm(ref + lab[m] * dim, dim);

    size_t qb = block_rows(KNN_QB, dim), rb = block_rows(KNN_RB, dim);
    size_t nblocks = (nq + qb - 1) / qb;
    pcnn_threads_init();
#pragma omp parallel
    {
        double *qd = pcnn_xmalloc(pcnn_mul_size(qb * dim, sizeof *qd));
        double *rd = pcnn_xmalloc(pcnn_mul_size(rb * dim, sizeof *rd));
        double *dot = pcnn_xmalloc(qb * rb * sizeof *dot);
        uint64_t qn[KNN_QB];
        int filled[KNN_QB];
#pragma omp for schedule(dynamic, 1)
        for (size_t b = 0; b < nblocks; b++) {
            size_t q0 = b * qb, nqb = nq - q0 < qb ? nq - q0 : qb;
            for (size_t i = 0; i < nqb; i++) {
                const uint8_t *a = query + (q0 + i) * dim;
                for (size_t t = 0; t < dim; t++) qd[i * dim + t] = a[t];
                qn[i] = sqnorm(a, dim);
                filled[i] = 0;
            }
            for (size_t m0 = 0; m0 < nl; m0 += rb) {
                size_t nrb = nl - m0 < rb ? nl - m0 : rb;
                for (size_t j = 0; j < nrb; j++) {
                    const uint8_t *r = ref + lab[m0 + j] * dim;
                    for (size_t t = 0; t < dim; t++) rd[j * dim + t] = r[t];
                }
                cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)nqb, (int)nrb, (int)dim,
                            1.0, qd, (int)dim, rd, (int)dim, 0.0, dot, (int)nrb);
                for (size_t i = 0; i < nqb; i++) {
                    size_t *idx = nb_idx + (q0 + i) * (size_t)k;
                    uint64_t *d2 = nb_d2 + (q0 + i) * (size_t)k;
                    for (size_t j = 0; j < nrb; j++) {
                        /* exact: an integer below 2^53, see the top of the file */
                        uint64_t d = qn[i] + rn[m0 + j] - 2 * (uint64_t)dot[i * nrb + j];
                        topk_insert(idx, d2, &filled[i], k, lab[m0 + j], d);
                    }
                }
            }
        }
        free(qd);
        free(rd);
        free(dot);
    }
    free(lab);
    free(rn);
}

uint32_t pcnn_knn_vote(const int32_t *nb_labels, const uint64_t *nb_d2, int k, uint32_t K)
{
    /* O(k²) over the neighbours themselves: no per-class table of K entries. */
    uint32_t best = 0;
    int best_n = 0;
    uint64_t best_s = 0;
    for (int i = 0; i < k; i++) {
        int32_t c = nb_labels[i];
        assert(c >= 0 && (uint32_t)c < K);
        int seen = 0;
        for (int j = 0; j < i && !seen; j++) seen = nb_labels[j] == c;
        if (seen) continue;
        int n = 0;
        uint64_t s = 0;
        for (int j = i; j < k; j++)
            if (nb_labels[j] == c) {
                n++;
                s += nb_d2[j];
            }
        if (n > best_n || (n == best_n && (s < best_s || (s == best_s && (uint32_t)c < best)))) {
            best = (uint32_t)c;
            best_n = n;
            best_s = s;
        }
    }
    return best;
}

void pcnn_knn_classify(int32_t *pred, uint64_t *nearest_d2, size_t *nearest_idx,
                       const uint8_t *query, size_t nq,
                       const uint8_t *ref, const int32_t *ref_labels, size_t nref,
                       size_t dim, uint32_t K, int k)
{
    size_t *idx = pcnn_xmalloc(pcnn_mul_size(pcnn_mul_size(nq, (size_t)k), sizeof *idx));
    uint64_t *d2 = pcnn_xmalloc(pcnn_mul_size(pcnn_mul_size(nq, (size_t)k), sizeof *d2));
    int32_t *lab = pcnn_xmalloc(pcnn_mul_size((size_t)k, sizeof *lab));
    pcnn_knn_neighbours(idx, d2, query, nq, ref, ref_labels, nref, dim, k);
    for (size_t q = 0; q < nq; q++) {
        const size_t *qi = idx + q * (size_t)k;
        for (int j = 0; j < k; j++) lab[j] = ref_labels[qi[j]];
        pred[q] = (int32_t)pcnn_knn_vote(lab, d2 + q * (size_t)k, k, K);
        if (nearest_d2) nearest_d2[q] = d2[q * (size_t)k];
        if (nearest_idx) nearest_idx[q] = qi[0];
    }
    free(idx);
    free(d2);
    free(lab);
}
