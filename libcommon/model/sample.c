/* sample.c — the naive (reference) sampler; see sample.h. */
#include "model/sample.h"

#include "nn/nn_dmol.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

void pcnn_complete_naive(pcnn_net *net, const pcnn_model_file *m, const int32_t *labels,
                         const uint64_t *keys, int N, uint64_t seed, int use_polyak, int rows,
                         float *x, pcnn_progress *progress)
{
    int H = (int)m->H, W = (int)m->W, M = (int)m->M;
    size_t per_pixel = (size_t)10 * M, row = (size_t)W * 3;
    float *logits = pcnn_xmalloc(pcnn_mul_size((size_t)N, per_pixel * sizeof(float)));
    /* below the given rows x starts at 0, as a sample does */
    for (int n = 0; n < N; n++)
        memset(x + ((size_t)n * H + (size_t)rows) * row, 0, (size_t)(H - rows) * row * sizeof *x);
    uint64_t base = progress ? progress->done : 0;
    for (int i = rows; i < H; i++) {
        for (int j = 0; j < W; j++) {
            /* One full pass; only position (i, j) of its output is used (and fetched). */
            pcnn_net_forward_logits_at(net, x, labels, N, use_polyak, i, j, logits);
            for (int n = 0; n < N; n++) {
                size_t p = ((size_t)n * H + i) * W + j;
                uint64_t stream = (keys[n] * (uint64_t)H + (uint64_t)i) * (uint64_t)W + (uint64_t)j;
                pcnn_dmol_sample(logits + (size_t)n * per_pixel, M, seed, stream, x + p * 3);
            }
        }
        if (progress) pcnn_progress_update(progress, base + (uint64_t)N * (uint64_t)(i + 1) / (uint64_t)H);
    }
    free(logits);
}

void pcnn_sample_naive(pcnn_net *net, const pcnn_model_file *m, const int32_t *labels, const uint64_t *keys, int N,
                       uint64_t seed, int use_polyak, float *x, pcnn_progress *progress)
{
    pcnn_complete_naive(net, m, labels, keys, N, seed, use_polyak, 0, x, progress);
}

void pcnn_sample_to_u8(const float *x, size_t n, uint8_t *out)
{
    for (size_t i = 0; i < n; i++) {
        float v = (x[i] + 1.0f) * 127.5f;
        v = v < 0 ? 0 : v > 255 ? 255 : v;
        out[i] = (uint8_t)lrintf(v);
    }
}

void pcnn_sample_from_u8(const uint8_t *px, size_t n, float *x)
{
    for (size_t i = 0; i < n; i++) x[i] = ((float)px[i] / 255.0f - 0.5f) * 2.0f;
}
