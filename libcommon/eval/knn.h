/*
 * knn.h — k-nearest-neighbour classification of uint8 images in pixel space: an
 * independent judge of generated samples (pcnn-gen --judge), which knows nothing of
 * the model that drew them.
 *
 * Distance: squared Euclidean distance of the raw uint8 values (H·W·C numbers per
 * image), d²(a, b) = Σ_i (a_i − b_i)², exact (an integer; see knn.c for how).
 * Neighbours: the k reference images with the smallest d², ties by the lower
 * reference index (the order of the data file). Reference images with a label < 0
 * (unknown) are never neighbours.
 * Vote: the class most of the k neighbours have; a tie between classes goes to the
 * one whose tied neighbours have the smallest summed d², then to the lowest class
 * index. Every result is deterministic: the same on any thread count or machine.
 *
 *   int32_t pred[nq];
 *   uint64_t near[nq];
 *   if (pcnn_knn_labelled(ref_labels, nref) < (size_t)k) ...   // the caller's check
 *   pcnn_knn_classify(pred, near, NULL, query, nq, ref, ref_labels, nref, dim, K, k);
 *   // pred[q]: the class of query q by k-NN; near[q]: its smallest d²
 */
#ifndef PCNN_KNN_H
#define PCNN_KNN_H

#include <stddef.h>
#include <stdint.h>

/* How many labels are ≥ 0: the reference images that can be neighbours. */
size_t pcnn_knn_labelled(const int32_t *labels, size_t n);

/* The k nearest neighbours of each query, nearest first:
 *   nb_idx[q·k + j], nb_d2[q·k + j]   j = 0..k-1, index into ref and its d².
 * query: nq × dim bytes; ref: nref × dim bytes; ref_labels: nref labels (< 0: skipped).
 * Needs 1 ≤ k ≤ pcnn_knn_labelled(ref_labels, nref) (checked by the caller). */
void pcnn_knn_neighbours(size_t *nb_idx, uint64_t *nb_d2,
                         const uint8_t *query, size_t nq,
                         const uint8_t *ref, const int32_t *ref_labels, size_t nref,
                         size_t dim, int k);

/* The class k neighbours (labels 0..K-1, their d² nearest first) vote for: majority,
 * then the smallest summed d² among the tied classes, then the lowest class index. */
uint32_t pcnn_knn_vote(const int32_t *nb_labels, const uint64_t *nb_d2, int k, uint32_t K);

/* Neighbours and vote together: pred[q] for every query; nearest_d2[q] and
 * nearest_idx[q], the nearest neighbour's d² and reference index, when not NULL.
 * Labels of ref are 0..K-1, or < 0 for images to skip. Same needs as above. */
void pcnn_knn_classify(int32_t *pred, uint64_t *nearest_d2, size_t *nearest_idx,
                       const uint8_t *query, size_t nq,
                       const uint8_t *ref, const int32_t *ref_labels, size_t nref,
                       size_t dim, uint32_t K, int k);

#endif
