/* params.c — the parameter table (see params.h). */
#include "model/params.h"

#include "util.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int add_tensor(pcnn_param_table *t, int cap, const char *name, uint32_t ndim,
                      uint32_t d0, uint32_t d1, uint32_t d2, uint32_t d3)
{
    if (t->n >= cap) pcnn_die("params: table overflow (internal error)");
    pcnn_param *p = &t->p[t->n];
    snprintf(p->name, sizeof p->name, "%s", name);
    p->ndim = ndim;
    uint32_t d[4] = {d0, d1, d2, d3};
    p->size = 1;
    for (uint32_t i = 0; i < 4; i++) {
        p->dims[i] = i < ndim ? d[i] : 1;
        if (i < ndim) p->size *= d[i];
    }
    p->offset = t->total;
    t->total += p->size;
    return t->n++;
}

/* A weight-normalised layer "<prefix>.{conv,deconv,lin_a}.{weight_v,weight_g,bias}". */
static int add_layer(pcnn_param_table *t, int cap, int kind, int cin, int cout, int kh, int kw,
                     int stride, const char *fmt, ...)
{
    char prefix[PCNN_PARAM_NAME_MAX], name[PCNN_PARAM_NAME_MAX + 16];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    const char *mod = kind == PCNN_LAYER_CONV ? "conv" : kind == PCNN_LAYER_DECONV ? "deconv" : "lin_a";
    pcnn_wnlayer *L = &t->layers[t->nlayers];
    L->kind = kind;
    L->cin = cin;
    L->cout = cout;
    L->kh = kh;
    L->kw = kw;
    L->stride = stride;
    snprintf(name, sizeof name, "%s.%s.weight_v", prefix, mod);
    if (kind == PCNN_LAYER_CONV)
        L->iv = add_tensor(t, cap, name, 4, cout, cin, kh, kw);
    else if (kind == PCNN_LAYER_DECONV)
        L->iv = add_tensor(t, cap, name, 4, cin, cout, kh, kw);
    else
        L->iv = add_tensor(t, cap, name, 2, cout, cin, 1, 1);
    uint32_t rows = t->p[L->iv].dims[0];
    snprintf(name, sizeof name, "%s.%s.weight_g", prefix, mod);
    if (kind == PCNN_LAYER_LINEAR)
        add_tensor(t, cap, name, 2, rows, 1, 1, 1);
    else
        add_tensor(t, cap, name, 4, rows, 1, 1, 1);
    snprintf(name, sizeof name, "%s.%s.bias", prefix, mod);
    add_tensor(t, cap, name, 1, cout, 1, 1, 1);
    L->rows = rows;
    L->rowlen = t->p[L->iv].size / rows;
    return t->nlayers++;
}

static void add_block(pcnn_param_table *t, int cap, pcnn_blockref *b, int ul, int skip,
                      const char *prefix)
{
    int F = t->F, kh = 2, kw = ul ? 2 : 3;
    char name[PCNN_PARAM_NAME_MAX];
    b->ul = ul;
    b->skip = skip;
    b->conv_input = add_layer(t, cap, PCNN_LAYER_CONV, 2 * F, F, kh, kw, 1, "%s.conv_input", prefix);
    b->nin_skip = skip ? add_layer(t, cap, PCNN_LAYER_LINEAR, 2 * skip * F, F, 1, 1, 1,
                                   "%s.nin_skip", prefix)
                       : -1;
    b->conv_out = add_layer(t, cap, PCNN_LAYER_CONV, 2 * F, 2 * F, kh, kw, 1, "%s.conv_out", prefix);
    snprintf(name, sizeof name, "%s.hw", prefix);
    b->hw = t->p[add_tensor(t, cap, name, 2, t->K, 2 * F, 1, 1)].offset;
}

/* The conditioning tail (params.h): "<block>.hs" (K, 2F) for every gated block
 * in the order the blocks were added, then class_map (K, 3, H, W). */
static void add_hs(pcnn_param_table *t, int cap, pcnn_blockref *b)
{
    char name[PCNN_PARAM_NAME_MAX];
    int i = 0;
    while (i < t->n && t->p[i].offset != b->hw) i++;   /* the block's "<block>.hw" */
    if (i == t->n) pcnn_die("params: block without hw (internal error)");
    snprintf(name, sizeof name, "%.*s.hs", (int)strlen(t->p[i].name) - 3, t->p[i].name);
    b->hs = t->p[add_tensor(t, cap, name, 2, t->K, 2 * t->F, 1, 1)].offset;
}

static void add_conditioning(pcnn_param_table *t, int cap)
{
    int R = t->R;
    if (t->cond & PCNN_COND_FILM) {
        for (int k = 0; k < 3 * R; k++) {
            add_hs(t, cap, &t->up_u[k]);
            add_hs(t, cap, &t->up_ul[k]);
        }
        for (int k = 0; k < 3 * R + 2; k++) {
            add_hs(t, cap, &t->down_u[k]);
            add_hs(t, cap, &t->down_ul[k]);
        }
    }
    if (t->cond & PCNN_COND_INPUT)
        t->class_map = t->p[add_tensor(t, cap, "class_map", 4, t->K, 3, t->H, t->W)].offset;
}

pcnn_param_table *pcnn_params_build(int R, int F, int M, int K, unsigned cond, int H, int W)
{
    pcnn_param_table *t = pcnn_xcalloc(1, sizeof *t);
    t->R = R;
    t->F = F;
    t->M = M;
    t->K = K;
    t->cond = cond & PCNN_COND_ALL;
    t->H = t->cond & PCNN_COND_INPUT ? H : 0;
    t->W = t->cond & PCNN_COND_INPUT ? W : 0;
    int nblocks = 3 * R + 3 * R + 2;            /* up + down, per stream */
    int maxlayers = 2 * nblocks * 3 + 3 + 8 + 1;
    int cap = maxlayers * 3 + 2 * nblocks + 2 * nblocks + 1;   /* layers, hw, hs, class_map */
    t->p = pcnn_xcalloc((size_t)cap, sizeof *t->p);
    t->layers = pcnn_xcalloc((size_t)maxlayers, sizeof *t->layers);
    t->up_u = pcnn_xcalloc((size_t)(3 * R), sizeof *t->up_u);
    t->up_ul = pcnn_xcalloc((size_t)(3 * R), sizeof *t->up_ul);
    t->down_u = pcnn_xcalloc((size_t)(3 * R + 2), sizeof *t->down_u);
    t->down_ul = pcnn_xcalloc((size_t)(3 * R + 2), sizeof *t->down_ul);
    char prefix[PCNN_PARAM_NAME_MAX];

    t->u_init = add_layer(t, cap, PCNN_LAYER_CONV, 4, F, 2, 3, 1, "u_init");
    t->ul_init0 = add_layer(t, cap, PCNN_LAYER_CONV, 4, F, 1, 3, 1, "ul_init.0");
    t->ul_init1 = add_layer(t, cap, PCNN_LAYER_CONV, 4, F, 2, 1, 1, "ul_init.1");
    for (int l = 0; l < 3; l++)
        for (int r = 0; r < R; r++) {
            snprintf(prefix, sizeof prefix, "up_layers.%d.u_stream.%d", l, r);
            add_block(t, cap, &t->up_u[l * R + r], 0, 0, prefix);
            snprintf(prefix, sizeof prefix, "up_layers.%d.ul_stream.%d", l, r);
            add_block(t, cap, &t->up_ul[l * R + r], 1, 1, prefix);
        }
    for (int i = 0; i < 2; i++) {
        t->downsize_u[i] = add_layer(t, cap, PCNN_LAYER_CONV, F, F, 2, 3, 2, "downsize_u_stream.%d", i);
        t->downsize_ul[i] = add_layer(t, cap, PCNN_LAYER_CONV, F, F, 2, 2, 2, "downsize_ul_stream.%d", i);
    }
    int k = 0;
    for (int l = 0; l < 3; l++) {
        int nr = l == 0 ? R : R + 1;
        for (int r = 0; r < nr; r++, k++) {
            snprintf(prefix, sizeof prefix, "down_layers.%d.u_stream.%d", l, r);
            add_block(t, cap, &t->down_u[k], 0, 1, prefix);
            snprintf(prefix, sizeof prefix, "down_layers.%d.ul_stream.%d", l, r);
            add_block(t, cap, &t->down_ul[k], 1, 2, prefix);
        }
    }
    for (int i = 0; i < 2; i++) {
        t->upsize_u[i] = add_layer(t, cap, PCNN_LAYER_DECONV, F, F, 2, 3, 2, "upsize_u_stream.%d", i);
        t->upsize_ul[i] = add_layer(t, cap, PCNN_LAYER_DECONV, F, F, 2, 2, 2, "upsize_ul_stream.%d", i);
    }
    t->nin_out = add_layer(t, cap, PCNN_LAYER_LINEAR, F, 10 * M, 1, 1, 1, "nin_out");
    for (int i = 0; i < t->nlayers; i++) {
        pcnn_wnlayer *L = &t->layers[i];
        L->v = t->p[L->iv].offset;
        L->g = t->p[L->iv + 1].offset;
        L->b = t->p[L->iv + 2].offset;
    }
    add_conditioning(t, cap);
    return t;
}

void pcnn_params_free(pcnn_param_table *t)
{
    if (!t) return;
    free(t->p);
    free(t->layers);
    free(t->up_u);
    free(t->up_ul);
    free(t->down_u);
    free(t->down_ul);
    free(t);
}

int pcnn_params_find(const pcnn_param_table *t, const char *name)
{
    for (int i = 0; i < t->n; i++)
        if (!strcmp(t->p[i].name, name)) return i;
    return -1;
}

int pcnn_cond_parse(const char *list, unsigned *cond)
{
    if (!strcmp(list, "none") || !strcmp(list, "base")) {
        *cond = 0;
        return 0;
    }
    unsigned c = 0;
    const char *p = list;
    for (;;) {
        size_t n = strcspn(p, ",");
        unsigned bit = n == 4 && !strncmp(p, "film", 4) ? PCNN_COND_FILM
                       : n == 5 && !strncmp(p, "input", 5) ? PCNN_COND_INPUT
                                                           : 0;
        if (!bit || (c & bit)) return -1;   /* unknown, empty or repeated */
        c |= bit;
        if (!p[n]) break;
        p += n + 1;
    }
    *cond = c;
    return 0;
}

const char *pcnn_cond_name(unsigned cond)
{
    static const char *const names[] = {"base", "film", "input", "film,input"};
    return names[cond & PCNN_COND_ALL];
}

int pcnn_params_is_class_table(const char *name)
{
    return !strcmp(name, "class_map") || pcnn_ends_with(name, ".hw") || pcnn_ends_with(name, ".hs");
}
