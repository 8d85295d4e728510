/*
 * judge.h — the k-NN judge of samples (pcnn-gen --judge): a second opinion on generated
 * images that knows nothing of the model. Each sample is classified by its k nearest real
 * labelled images (knn.h: exact squared distances of the uint8 values, majority vote), and
 * the share judged as the class it was drawn for is reported per class and overall; the
 * ceiling is the same judge on held-out real images (what a perfect generator would reach).
 *
 *   pcnn_dataset *real = pcnn_judge_load("train.bin", "--judge", model, 5);
 *   pcnn_judge j = {.real = real, .real_path = "train.bin", .k = 5};
 *   pcnn_judge_samples(&j, model, pixels, drawn, total, per_class);
 */
#ifndef PCNN_JUDGE_H
#define PCNN_JUDGE_H

#include "io/datafile.h"
#include "io/modelfile.h"

#include <stddef.h>
#include <stdint.h>

/* Real labelled images to judge a model's samples by (opt: the option that named path, for
 * messages): NULL after a message unless they are the model's size, RGB, the model's
 * classes in its order, with at least need labelled images. */
pcnn_dataset *pcnn_judge_load(const char *path, const char *opt, const pcnn_model_file *m, size_t need);

typedef struct pcnn_judge {
    const pcnn_dataset *real;   /* the neighbours (pcnn_judge_load) */
    const char *real_path;
    const pcnn_dataset *val;    /* NULL, or held-out real images for the ceiling */
    const char *val_path;
    int k;                      /* neighbours */
    const char *out_path;       /* NULL, or a TSV with one row per sample */
    int quiet;                  /* no summary on stderr */
} pcnn_judge;

/* Judges total samples px (total, H, W, 3) of the model's size, drawn for the classes
 * drawn[i], sample i being number i % per_class + 1 of its class (its file name,
 * io/sampledir.h). Writes the summary (unless quiet: judged share, then the ceiling) on
 * stderr and the TSV "file, drawn, judged, nearest_sqdist". 0, or -1 when the TSV cannot be
 * written (said). */
int pcnn_judge_samples(const pcnn_judge *j, const pcnn_model_file *m, const uint8_t *px,
                       const int32_t *drawn, size_t total, size_t per_class);

#endif
