/* pcnn-mkdata — a test helper (built into build/tests/bin for the tests, never installed):
 * a data file of random pixels and labels, or a small model file container. */
#include "io/datafile.h"
#include "io/modelfile.h"
#include "util.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void usage(FILE *fp)
{
    fprintf(fp,
        "usage: pcnn-mkdata [-U] [-H N] [-W N] [-C N] [-K N] [-n N] [-s SEED]\n"
        "                   [-c NAME,NAME,...] [-p PREFIX] [-o FILE]\n"
        "       pcnn-mkdata -m [-H N] [-W N] [-C N] [-K N] [-c NAMES] [-s SEED] -o FILE\n"
        "\n"
        "A test utility: writes a pcnn data file of n records with uniformly random\n"
        "pixels and labels, for tests and pipeline checks (real data comes from pcnn-prep).\n"
        "The same options and seed give the same bytes.\n"
        "\n"
        "  -H, -W, -C N   image height, width (default 4) and channels (default 3)\n"
        "  -K N           number of classes (default 2), named Class0..Class<K-1>\n"
        "  -c NAMES       class names, comma-separated (sets K)\n"
        "  -n N           number of records (default 10)\n"
        "  -s SEED        random seed (default 1)\n"
        "  -U             every label unknown (-1), as in a test set\n"
        "  -p PREFIX      ids are PREFIX0000001.png, ... (default 'img/')\n"
        "  -o FILE        write FILE atomically (default stdout, streamed)\n"
        "  -m             write a model file container instead (R=1, F=4, M=1, two small\n"
        "                 random tensors, not a whole network): a fixture for readers\n"
        "  -h             this help\n");
}

/* splitmix64: a small, well-mixed counter-based generator (Steele et al. 2014). */
static uint64_t next_u64(uint64_t *s)
{
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* A model file container with the sizes given and two random tensors. */
static int write_model(const char *path, uint32_t H, uint32_t W, uint32_t C, uint32_t K,
                       char **names, uint64_t seed)
{
    pcnn_model_file *m = pcnn_model_file_new(1, 4, 1, K, H, W, C, names);
    uint32_t dhw[2] = {K, 8}, dbias[1] = {10};
    static const char *tnames[2] = {"up_layers.0.u_stream.0.hw", "nin_out.lin_a.bias"};
    const uint32_t *tdims[2] = {dhw, dbias}, tndim[2] = {2, 1};
    uint64_t s = seed;
    for (int i = 0; i < 2; i++) {
        /* add may move earlier tensors: fill each one before adding the next */
        pcnn_tensor *t = pcnn_model_file_add(m, tnames[i], tndim[i], tdims[i]);
        for (size_t j = 0; j < t->n; j++)   /* U(-0.5, 0.5) from 53 random bits */
            t->data[j] = (float)((double)(next_u64(&s) >> 11) * 0x1.0p-53 - 0.5);
    }
    m->seed = seed;
    pcnn_model_file_set_meta(m, "made_by", "pcnn-mkdata (test fixture)");
    int st = pcnn_model_file_write(path, m);
    pcnn_model_file_free(m);
    return st;
}

int main(int argc, char **argv)
{
    pcnn_init(argv[0]);
    long H = 4, W = 4, C = 3, K = 2, n = 10;
    uint64_t seed = 1;
    int unknown = 0, model = 0, c;
    const char *classes = NULL, *prefix = "img/", *out = "-";
    opterr = 0;
    while ((c = getopt(argc, argv, ":hH:W:C:K:n:s:c:Up:o:m")) != -1) {
        switch (c) {
        case 'h': usage(stdout); return pcnn_close_stdout() ? 1 : 0;
        case 'H': if (pcnn_parse_long(optarg, 1, PCNN_DATA_MAX_SIDE, &H)) pcnn_usage_error("-H: bad height '%s' (1..%u)", optarg, PCNN_DATA_MAX_SIDE); break;
        case 'W': if (pcnn_parse_long(optarg, 1, PCNN_DATA_MAX_SIDE, &W)) pcnn_usage_error("-W: bad width '%s' (1..%u)", optarg, PCNN_DATA_MAX_SIDE); break;
        case 'C': if (pcnn_parse_long(optarg, 1, PCNN_DATA_MAX_CHANNELS, &C)) pcnn_usage_error("-C: bad channel count '%s' (1..%u)", optarg, PCNN_DATA_MAX_CHANNELS); break;
        case 'K': if (pcnn_parse_long(optarg, 1, PCNN_DATA_MAX_CLASSES, &K)) pcnn_usage_error("-K: bad class count '%s' (1..%u)", optarg, PCNN_DATA_MAX_CLASSES); break;
        case 'n': if (pcnn_parse_long(optarg, 0, 100000000, &n)) pcnn_usage_error("-n: bad count '%s' (0..100000000)", optarg); break;
        case 's': if (pcnn_parse_u64(optarg, &seed)) pcnn_usage_error("-s: bad seed '%s'", optarg); break;
        case 'c': classes = optarg; break;
        case 'U': unknown = 1; break;
        case 'p': prefix = optarg; break;
        case 'o': out = optarg; break;
        case 'm': model = 1; break;
        case ':': pcnn_usage_error("option '-%c' needs a value", optopt);
        default: pcnn_usage_error("unknown option '-%c'", optopt);
        }
    }
    if (optind < argc) pcnn_usage_error("unexpected operand '%s'", argv[optind]);
    if (model && !strcmp(out, "-")) pcnn_usage_error("-m needs -o FILE (model files are written to disk)");

    char **names;
    if (classes) {
        char *copy = pcnn_xstrdup(classes);
        K = 1;
        for (const char *p = copy; *p; p++) K += *p == ',';
        if (K > (long)PCNN_DATA_MAX_CLASSES) pcnn_usage_error("-c: too many classes");
        names = pcnn_xcalloc((size_t)K, sizeof *names);
        char *tok = copy;
        for (long k = 0; k < K; k++) {
            char *comma = strchr(tok, ',');
            if (comma) *comma = 0;
            names[k] = pcnn_xstrdup(tok);
            if (pcnn_data_check_class_name(names[k])) pcnn_usage_error("-c: bad class name '%s'", names[k]);
            for (long j = 0; j < k; j++)
                if (!strcmp(names[j], names[k])) pcnn_usage_error("-c: class '%s' given twice", names[k]);
            tok = comma ? comma + 1 : tok;
        }
        free(copy);
    } else {
        names = pcnn_xcalloc((size_t)K, sizeof *names);
        for (long k = 0; k < K; k++) {
            char buf[32];
            snprintf(buf, sizeof buf, "Class%ld", k);
            names[k] = pcnn_xstrdup(buf);
        }
    }
    if (model) {
        int st = write_model(out, (uint32_t)H, (uint32_t)W, (uint32_t)C, (uint32_t)K, names, seed);
        pcnn_class_names_free(names, (uint32_t)K);
        return st ? 1 : 0;
    }
    pcnn_data_header h = {.H = (uint32_t)H, .W = (uint32_t)W, .C = (uint32_t)C, .K = (uint32_t)K,
                          .count = PCNN_DATA_COUNT_UNKNOWN, .class_names = names};
    size_t npix = (size_t)H * (size_t)W * (size_t)C;
    uint8_t *pix = pcnn_xmalloc(npix);
    int rc = 1;
    pcnn_data_writer *w = pcnn_data_create(out, &h);
    if (!w) goto done;
    uint64_t s = seed;
    for (long i = 0; i < n; i++) {
        char id[PCNN_DATA_MAX_ID + 1];
        if ((size_t)snprintf(id, sizeof id, "%s%07ld.png", prefix, i + 1) >= sizeof id ||
            pcnn_data_check_id(id)) {
            pcnn_warn("-p: ids made from '%s' are not valid (too long, or hold a tab or newline)", prefix);
            pcnn_data_abort(w);
            goto done;
        }
        int32_t label = unknown ? -1 : (int32_t)(next_u64(&s) % (uint64_t)K);
        for (size_t j = 0; j < npix; j++) pix[j] = (uint8_t)(next_u64(&s) >> 56);
        if (pcnn_data_write(w, id, label, pix)) {
            pcnn_data_abort(w);
            goto done;
        }
    }
    rc = pcnn_data_finish(w) ? 1 : 0;
done:
    free(pix);
    pcnn_class_names_free(names, (uint32_t)K);
    if (rc == 0 && pcnn_close_stdout()) rc = 1;
    return rc;
}
