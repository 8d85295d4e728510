/* test_knn.c — k-nearest neighbours in pixel space (knn.h): hand-made sets whose
 * neighbours and votes are known, every tie rule, exactness where float would round,
 * and block boundaries against a brute-force integer search. */
#include "check.h"
#include "eval/knn.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static void test_vote_majority_and_ties(void)
{
    /* a clear majority wins even when the nearest neighbour is of another class */
    int32_t l1[5] = {1, 0, 0, 2, 0};
    uint64_t d1[5] = {1, 5, 6, 7, 9};
    CHECK(pcnn_knn_vote(l1, d1, 5, 3) == 0);
    /* 2 against 2: the smaller summed distance (class 1: 2+3 = 5 < class 0: 1+7 = 8) */
    int32_t l2[4] = {0, 1, 1, 0};
    uint64_t d2[4] = {1, 2, 3, 7};
    CHECK(pcnn_knn_vote(l2, d2, 4, 2) == 1);
    /* 2 against 2 with equal sums (1+4 = 2+3): the lower class index */
    int32_t l3[4] = {2, 1, 1, 2};
    uint64_t d3[4] = {1, 2, 3, 4};
    CHECK(pcnn_knn_vote(l3, d3, 4, 3) == 1);
    /* 1:1:1 and every sum different: the nearest class by sum, which is the nearest */
    int32_t l4[3] = {2, 0, 1};
    uint64_t d4[3] = {3, 4, 5};
    CHECK(pcnn_knn_vote(l4, d4, 3, 3) == 2);
    /* all at distance 0, one each: the lowest class index */
    int32_t l5[3] = {3, 1, 2};
    uint64_t d5[3] = {0, 0, 0};
    CHECK(pcnn_knn_vote(l5, d5, 3, 4) == 1);
    /* k = 1: the nearest neighbour's class */
    int32_t l6[1] = {3};
    uint64_t d6[1] = {42};
    CHECK(pcnn_knn_vote(l6, d6, 1, 4) == 3);
}

/* Four reference "images" of 2 values on a line, and one unlabelled one that is the
 * nearest of all and must be skipped:
 *   index   0      1      2      3      4
 *   pixels (0,0)  (3,4)  (10,0) (0,10) (1,1)
 *   label   0      1      1      0     -1      */
static const uint8_t line_ref[10] = {0, 0, 3, 4, 10, 0, 0, 10, 1, 1};
static const int32_t line_lab[5] = {0, 1, 1, 0, -1};

static void test_neighbours_hand_made(void)
{
    CHECK(pcnn_knn_labelled(line_lab, 5) == 4);
    /* query (0,0): d² = 0, 25, 100, 100 (and 2 for the skipped one) */
    const uint8_t q[2] = {0, 0};
    size_t idx[4];
    uint64_t d2[4];
    pcnn_knn_neighbours(idx, d2, q, 1, line_ref, line_lab, 5, 2, 4);
    CHECK(idx[0] == 0 && d2[0] == 0);
    CHECK(idx[1] == 1 && d2[1] == 25);
    /* 2 and 3 are both at 100: file order */
    CHECK(idx[2] == 2 && d2[2] == 100);
    CHECK(idx[3] == 3 && d2[3] == 100);
    /* k = 3 keeps the earlier of the two at 100 */
    pcnn_knn_neighbours(idx, d2, q, 1, line_ref, line_lab, 5, 2, 3);
    CHECK(idx[2] == 2);
    /* query (10,10): 200, 85, 100, 100: order 1, 2, 3, 0 */
    const uint8_t q2[2] = {10, 10};
    pcnn_knn_neighbours(idx, d2, q2, 1, line_ref, line_lab, 5, 2, 4);
    CHECK(idx[0] == 1 && d2[0] == 85);
    CHECK(idx[1] == 2 && idx[2] == 3 && idx[3] == 0 && d2[3] == 200);
}

static void test_classify_hand_made(void)
{
    /* queries (0,0), (10,10), (9,1), (255,255) */
    const uint8_t q[8] = {0, 0, 10, 10, 9, 1, 255, 255};
    int32_t pred[4];
    uint64_t near[4];
    size_t nidx[4];
    pcnn_knn_classify(pred, near, nidx, q, 4, line_ref, line_lab, 5, 2, 2, 1);
    CHECK(pred[0] == 0 && near[0] == 0 && nidx[0] == 0);
    CHECK(pred[1] == 1 && near[1] == 85 && nidx[1] == 1);
    CHECK(pred[2] == 1 && near[2] == 2 && nidx[2] == 2);   /* (10,0): 1 + 1 */
    /* (255,255): (10,0) and (0,10) tie at 245² + 255²: file order, index 2, class 1 */
    CHECK(pred[3] == 1 && nidx[3] == 2 && near[3] == 245u * 245 + 255u * 255);
    /* k = 3 at (0,0): neighbours 0 (class 0), 1 and then 2 (class 1): 2 votes to 1 */
    pcnn_knn_classify(pred, near, NULL, q, 1, line_ref, line_lab, 5, 2, 2, 3);
    CHECK(pred[0] == 1 && near[0] == 0);
    /* k = 4 at (0,0): 2 to 2, sums 0+100 (class 0) against 25+100: class 0 */
    pcnn_knn_classify(pred, NULL, NULL, q, 1, line_ref, line_lab, 5, 2, 2, 4);
    CHECK(pred[0] == 0);
}

/* 32×32×3 images whose distances to the query differ by 1 near 2e8, where a float
 * sum has a spacing of 16: the nearer one must win, and the distances be exact. */
static void test_exact_where_float_rounds(void)
{
    enum { D = 32 * 32 * 3 };
    uint8_t *ref = calloc(2 * D, 1), *q = malloc(D);
    memset(q, 255, D);
    q[100] = 0;
    ref[100] = 1;   /* ref 0: all 0 but pixel 100 = 1; ref 1: all 0 */
    int32_t lab[2] = {0, 1};
    size_t idx[2];
    uint64_t d2[2];
    pcnn_knn_neighbours(idx, d2, q, 1, ref, lab, 2, D, 2);
    uint64_t base = (uint64_t)(D - 1) * 255 * 255;   /* 199 691 775 */
    CHECK(idx[0] == 1 && d2[0] == base);
    CHECK(idx[1] == 0 && d2[1] == base + 1);
    int32_t pred;
    pcnn_knn_classify(&pred, NULL, NULL, q, 1, ref, lab, 2, D, 2, 1);
    CHECK(pred == 1);
    free(ref);
    free(q);
}

/* splitmix64 (Steele et al. 2014), as in the other tests' random data */
static uint64_t next_u64(uint64_t *s)
{
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* More queries and reference images than one block of each (64 and 512), few pixel
 * values so that equal distances are common: every neighbour list equals a brute-force
 * integer search with the same order (distance, then index). */
static void test_blocks_against_brute_force(void)
{
    enum { NQ = 150, NR = 1100, D = 5, K = 7 };
    uint8_t *q = malloc(NQ * D), *r = malloc(NR * D);
    int32_t *lab = malloc(NR * sizeof *lab);
    uint64_t s = 11;
    for (int i = 0; i < NQ * D; i++) q[i] = (uint8_t)(next_u64(&s) % 3 * 100);
    for (int i = 0; i < NR * D; i++) r[i] = (uint8_t)(next_u64(&s) % 3 * 100);
    for (int j = 0; j < NR; j++) lab[j] = next_u64(&s) % 10 == 0 ? -1 : (int32_t)(next_u64(&s) % 3);
    size_t *idx = malloc(NQ * K * sizeof *idx);
    uint64_t *d2 = malloc(NQ * K * sizeof *d2);
    pcnn_knn_neighbours(idx, d2, q, NQ, r, lab, NR, D, K);
    int bad = 0;
    for (int i = 0; i < NQ; i++) {
        /* brute force: k passes, each taking the smallest (d, j) after the last taken */
        uint64_t last_d = 0;
        long last_j = -1;
        for (int m = 0; m < K; m++) {
            uint64_t bd = UINT64_MAX;
            long bj = -1;
            for (long j = 0; j < NR; j++) {
                if (lab[j] < 0) continue;
                uint64_t d = 0;
                for (int t = 0; t < D; t++) {
                    int64_t e = (int64_t)q[i * D + t] - r[j * D + t];
                    d += (uint64_t)(e * e);
                }
                int after = last_j < 0 || d > last_d || (d == last_d && j > last_j);
                if (after && (d < bd || (d == bd && j < bj))) {
                    bd = d;
                    bj = j;
                }
            }
            bad += idx[i * K + m] != (size_t)bj || d2[i * K + m] != bd;
            last_d = bd;
            last_j = bj;
        }
    }
    CHECK(bad == 0);
    free(q);
    free(r);
    free(lab);
    free(idx);
    free(d2);
}

int main(void)
{
    RUN(test_vote_majority_and_ties);
    RUN(test_neighbours_hand_made);
    RUN(test_classify_hand_made);
    RUN(test_exact_where_float_rounds);
    RUN(test_blocks_against_brute_force);
    return check_summary();
}
