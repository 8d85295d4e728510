/* init_from.c — a model started from a trained one's weights (see init_from.h). */
#include "model/init_from.h"

#include "model/model.h"
#include "model/params.h"
#include "util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void pcnn_resize_planes_nearest(const float *src, uint32_t planes, uint32_t Hs, uint32_t Ws,
                                float *dst, uint32_t H, uint32_t W)
{
    for (uint32_t p = 0; p < planes; p++)
        for (uint32_t y = 0; y < H; y++) {
            const float *row = src + ((size_t)p * Hs + (size_t)y * Hs / H) * Ws;
            float *out = dst + ((size_t)p * H + y) * W;
            for (uint32_t x = 0; x < W; x++) out[x] = row[(size_t)x * Ws / W];
        }
}

pcnn_model_file *pcnn_model_init_from(const pcnn_model_file *src, const char *src_name,
                                      uint32_t H, uint32_t W, uint64_t seed)
{
    unsigned cond = pcnn_model_conditioning(src);
    pcnn_param_table *ts = pcnn_params_build((int)src->R, (int)src->F, (int)src->M, (int)src->K,
                                             cond, (int)src->H, (int)src->W);
    float *ps = pcnn_xcalloc(ts->total, sizeof *ps);
    static const char *const prefixes[] = {"best.", "polyak.", ""};
    int found = 0;
    for (int i = 0; i < 3 && !found; i++) {
        found = pcnn_model_load_buffer(src, ts, prefixes[i], ps);
        if (found < 0) break;   /* some of them, or misshapen: printed */
    }
    pcnn_model_file *m = NULL;
    if (found == 1) {
        /* a bare file, not pcnn_model_create: its random initialisation would be overwritten */
        m = pcnn_model_file_new(src->R, src->F, src->M, src->K, H, W, 3, src->class_names);
        m->seed = seed;
        pcnn_param_table *t = pcnn_params_build((int)src->R, (int)src->F, (int)src->M,
                                                (int)src->K, cond, (int)H, (int)W);
        float *p = pcnn_xcalloc(t->total, sizeof *p);
        /* the tables agree tensor by tensor up to class_map, the last (params.h) */
        size_t shared = (cond & PCNN_COND_INPUT) ? ts->class_map : ts->total;
        memcpy(p, ps, shared * sizeof *p);
        if (cond & PCNN_COND_INPUT)
            pcnn_resize_planes_nearest(ps + ts->class_map, src->K * 3, src->H, src->W,
                                       p + t->class_map, H, W);
        pcnn_model_store_buffer(m, t, "", p);
        free(p);
        pcnn_params_free(t);
        char buf[64];
        pcnn_model_file_set_meta(m, "init_from", src_name);
        snprintf(buf, sizeof buf, "%ux%u", src->H, src->W);
        pcnn_model_file_set_meta(m, "init_size", buf);
        snprintf(buf, sizeof buf, "%llu", (unsigned long long)src->epoch);
        pcnn_model_file_set_meta(m, "init_epochs", buf);
    } else if (found == 0) {
        pcnn_warn("%s: no network weights in it (not a pcnn model of this network?)", src_name);
    }
    free(ps);
    pcnn_params_free(ts);
    return m;
}
