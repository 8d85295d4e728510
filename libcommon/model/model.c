/* model.c — fresh models and the flat buffers <-> model file tensors (see model.h). */
#include "model/model.h"

#include "rng.h"
#include "util.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void pcnn_model_init_params(const pcnn_param_table *t, uint64_t seed, float *params)
{
    for (int li = 0; li < t->nlayers; li++) {
        const pcnn_wnlayer *L = &t->layers[li];
        /* PyTorch's fan_in: weight.size(1) * kh * kw; for ConvTranspose2d size(1) = out */
        int fan_in = (L->kind == PCNN_LAYER_DECONV ? L->cout : L->cin) * L->kh * L->kw;
        float bound = (float)(1.0 / sqrt((double)fan_in));
        float *v = params + L->v, *g = params + L->g, *b = params + L->b;
        for (size_t i = 0; i < L->rows * L->rowlen; i++)
            v[i] = bound * (2.0f * pcnn_rng_uniform(seed, PCNN_RNG_INIT, (uint64_t)L->iv, i) - 1.0f);
        for (size_t r = 0; r < L->rows; r++) {
            double ss = 0.0;
            for (size_t k = 0; k < L->rowlen; k++) ss += (double)v[r * L->rowlen + k] * v[r * L->rowlen + k];
            g[r] = (float)sqrt(ss);
        }
        for (int i = 0; i < L->cout; i++)
            b[i] = bound * (2.0f * pcnn_rng_uniform(seed, PCNN_RNG_INIT, (uint64_t)L->iv + 2, (uint64_t)i) - 1.0f);
    }
    /* hw ~ N(0, 0.05^2) by Box-Muller on two 53-bit uniforms */
    for (int i = 0; i < t->n; i++) {
        const pcnn_param *p = &t->p[i];
        size_t len = strlen(p->name);
        if (len < 3 || strcmp(p->name + len - 3, ".hw")) continue;
        for (size_t k = 0; k < p->size; k++) {
            double u1 = pcnn_rng_uniform_d(seed, PCNN_RNG_INIT, (uint64_t)i, k, 1);
            double u2 = pcnn_rng_uniform_d(seed, PCNN_RNG_INIT, (uint64_t)i, k, 2);
            double z = sqrt(-2.0 * log(1.0 - u1)) * cos(2.0 * M_PI * u2);
            params[p->offset + k] = (float)(0.05 * z);
        }
    }
}

pcnn_model_file *pcnn_model_create(uint32_t R, uint32_t F, uint32_t M, uint32_t K, uint32_t H,
                                   uint32_t W, unsigned cond, char *const *class_names,
                                   uint64_t seed)
{
    if (R < 1 || F < 1 || M < 1 || K < 1 || H < 4 || W < 4 || H % 4 || W % 4)
        pcnn_die("internal error: model sizes R=%u F=%u M=%u K=%u H=%u W=%u", R, F, M, K, H, W);
    char **names = NULL;
    if (!class_names) {
        names = pcnn_xcalloc(K, sizeof *names);
        for (uint32_t k = 0; k < K; k++) {
            char buf[32];
            snprintf(buf, sizeof buf, "Class%u", k);
            names[k] = pcnn_xstrdup(buf);
        }
    }
    pcnn_model_file *m = pcnn_model_file_new(R, F, M, K, H, W, 3, class_names ? class_names : names);
    if (names) {
        for (uint32_t k = 0; k < K; k++) free(names[k]);
        free(names);
    }
    m->seed = seed;
    pcnn_param_table *t = pcnn_params_build((int)R, (int)F, (int)M, (int)K, cond, (int)H, (int)W);
    float *p = pcnn_xcalloc(t->total, sizeof *p);   /* hs and class_map stay 0 */
    pcnn_model_init_params(t, seed, p);
    pcnn_model_store_buffer(m, t, "", p);
    free(p);
    pcnn_params_free(t);
    return m;
}

unsigned pcnn_model_conditioning(const pcnn_model_file *m)
{
    unsigned cond = 0;
    for (uint32_t i = 0; i < m->ntensors; i++) {
        const char *name = m->tensors[i].name;
        if (pcnn_ends_with(name, ".hs")) cond |= PCNN_COND_FILM;
        if (!strcmp(name, "class_map") || pcnn_ends_with(name, ".class_map")) cond |= PCNN_COND_INPUT;
    }
    return cond;
}

int pcnn_model_load_buffer(const pcnn_model_file *m, const pcnn_param_table *t, const char *prefix,
                           float *buf)
{
    char name[PCNN_PARAM_NAME_MAX + 16];
    int found = 0, missing = 0;
    for (int i = 0; i < t->n; i++) {
        const pcnn_param *p = &t->p[i];
        snprintf(name, sizeof name, "%s%s", prefix, p->name);
        const pcnn_tensor *x = pcnn_model_file_find(m, name);
        if (!x) {
            missing++;
            continue;
        }
        int same = x->ndim == p->ndim && x->n == p->size;
        for (uint32_t d = 0; same && d < p->ndim; d++) same = x->dims[d] == p->dims[d];
        if (!same) {
            pcnn_warn("model tensor %s has the wrong shape for R=%d F=%d M=%d K=%d, "
                      "conditioning %s (damaged or made by another program; re-import or "
                      "retrain it)",
                      name, t->R, t->F, t->M, t->K, pcnn_cond_name(t->cond));
            return -1;
        }
        memcpy(buf + p->offset, x->data, p->size * sizeof *buf);
        found++;
    }
    if (!found) return 0;
    if (missing) {
        for (int i = 0; i < t->n; i++) {
            snprintf(name, sizeof name, "%s%s", prefix, t->p[i].name);
            if (!pcnn_model_file_find(m, name)) {
                pcnn_warn("model lacks tensor %s (and %d more); it does not match its sizes "
                          "R=%d F=%d M=%d K=%d, conditioning %s (re-import or retrain it)",
                          name, missing - 1, t->R, t->F, t->M, t->K, pcnn_cond_name(t->cond));
                break;
            }
        }
        return -1;
    }
    return 1;
}

void pcnn_model_store_buffer(pcnn_model_file *m, const pcnn_param_table *t, const char *prefix,
                             const float *buf)
{
    char name[PCNN_PARAM_NAME_MAX + 16];
    for (int i = 0; i < t->n; i++) {
        const pcnn_param *p = &t->p[i];
        snprintf(name, sizeof name, "%s%s", prefix, p->name);
        pcnn_tensor *x = pcnn_model_file_add(m, name, p->ndim, p->dims);
        memcpy(x->data, buf + p->offset, p->size * sizeof *buf);
    }
}

uint64_t pcnn_model_use_best(pcnn_model_file *m)
{
    const char *e = pcnn_model_file_get_meta(m, "best_epoch");
    uint64_t epoch = 0;
    if (!e || pcnn_parse_u64(e, &epoch) || epoch == 0) return 0;
    uint32_t nt = m->ntensors;   /* adding polyak tensors grows the list: copy the best ones seen now */
    for (uint32_t i = 0; i < nt; i++) {
        if (strncmp(m->tensors[i].name, "best.", 5) != 0) continue;
        char name[PCNN_MODEL_MAX_NAME + 8];
        snprintf(name, sizeof name, "polyak.%s", m->tensors[i].name + 5);
        uint32_t dims[4];
        memcpy(dims, m->tensors[i].dims, sizeof dims);
        pcnn_tensor *dst = pcnn_model_file_add(m, name, m->tensors[i].ndim, dims);
        memcpy(dst->data, m->tensors[i].data, dst->n * sizeof(float));   /* after add: tensors may move */
    }
    return epoch;
}

const char *pcnn_objective_name(int objective)
{
    return objective == PCNN_OBJECTIVE_HYBRID       ? "hybrid"
           : objective == PCNN_OBJECTIVE_LIKELIHOOD ? "likelihood"
                                                    : "unknown";
}

/* A recorded option as a number, NAN when absent or not a number. */
static double meta_number(const pcnn_model_file *m, const char *key)
{
    const char *s = pcnn_model_file_get_meta(m, key);
    double v;
    return s && !pcnn_parse_double(s, -1e300, 1e300, &v) ? v : NAN;
}

/* The objective a file records (PCNN_OBJECTIVE_*): its key, or for files of pcnn-fit
 * before the key, what its CE options tell. */
static int objective_kind(const pcnn_model_file *m)
{
    const char *rec = pcnn_model_file_get_meta(m, "objective");
    double w = meta_number(m, "ce_weight"), f = meta_number(m, "ce_fraction");
    if (rec && !strcmp(rec, "hybrid")) return PCNN_OBJECTIVE_HYBRID;
    if (rec && !strcmp(rec, "likelihood")) return PCNN_OBJECTIVE_LIKELIHOOD;
    if (!rec && !isnan(w))
        return w > 0 && !(f <= 0) ? PCNN_OBJECTIVE_HYBRID : PCNN_OBJECTIVE_LIKELIHOOD;
    return PCNN_OBJECTIVE_UNKNOWN;
}

int pcnn_model_objective(const pcnn_model_file *m, char *buf, size_t len)
{
    double w = meta_number(m, "ce_weight"), t = meta_number(m, "ce_temperature"),
           f = meta_number(m, "ce_fraction");
    int obj = objective_kind(m);
    double k = meta_number(m, "ce_classes");
    char drawn[96] = "";
    if (!isnan(k) && k >= 2 && k < m->K)
        snprintf(drawn, sizeof drawn, ", over its class and %g others drawn", k - 1);
    const char *pr = pcnn_model_file_get_meta(m, "ce_prior");
    if (pr && !strcmp(pr, "learned"))
        snprintf(drawn + strlen(drawn), sizeof drawn - strlen(drawn), ", with a learned prior");
    const char *ws = pcnn_model_file_get_meta(m, "ce_weight");
    if (obj == PCNN_OBJECTIVE_HYBRID && ws && !strcmp(ws, "auto")) {
        /* --ce-weight auto: the rule, and the weight and temperature it last set */
        double lw = meta_number(m, "ce_weight_last"), lt = meta_number(m, "ce_temperature_last");
        double ks = meta_number(m, "ce_auto_scale"), kp = meta_number(m, "ce_auto_product");
        const char *ts = pcnn_model_file_get_meta(m, "ce_temperature");
        char tb[64], kb[32], pb[32];
        /* files of the rule's first build do not record its constants: no number then */
        if (isnan(ks)) snprintf(kb, sizeof kb, "a fixed number of");
        else snprintf(kb, sizeof kb, "%g", ks);
        if (isnan(kp)) snprintf(pb, sizeof pb, "a fixed number");
        else snprintf(pb, sizeof pb, "%g", kp);
        if (ts && !strcmp(ts, "auto")) snprintf(tb, sizeof tb, "%s / weight (last %.3g)", pb, lt);
        else snprintf(tb, sizeof tb, "%g", isnan(t) ? 1.0 : t);
        snprintf(buf, len, "hybrid (likelihood + an automatic weight x cross-entropy of the "
                 "Bayes posterior, the weight %s nats / the running -log p(x | y) (last "
                 "%.3g), temperature %s, on %g%% of each batch%s)", kb, lw, tb,
                 100.0 * (isnan(f) ? 1.0 : f), drawn);
    } else if (obj == PCNN_OBJECTIVE_HYBRID)
        snprintf(buf, len, "hybrid (likelihood + %g x cross-entropy of the Bayes posterior, "
                 "temperature %g, on %g%% of each batch%s)", w, isnan(t) ? 1.0 : t,
                 100.0 * (isnan(f) ? 1.0 : f), drawn);
    else if (obj == PCNN_OBJECTIVE_LIKELIHOOD)
        snprintf(buf, len, "likelihood only");
    else
        snprintf(buf, len, "not recorded");
    return obj;
}

int pcnn_model_ce_term_last(const pcnn_model_file *m, double *weight, double *temperature)
{
    int obj = objective_kind(m);
    if (obj == PCNN_OBJECTIVE_LIKELIHOOD) {
        *weight = 0.0;
        *temperature = 1.0;
        return 0;
    }
    if (obj != PCNN_OBJECTIVE_HYBRID) return -1;
    const char *ws = pcnn_model_file_get_meta(m, "ce_weight");
    int automatic = ws && !strcmp(ws, "auto");
    double w = meta_number(m, automatic ? "ce_weight_last" : "ce_weight");
    double t = meta_number(m, automatic ? "ce_temperature_last" : "ce_temperature");
    if (!(w > 0) || !(t > 0)) return -1;   /* NAN too: not recorded */
    *weight = w;
    *temperature = t;
    return 0;
}
