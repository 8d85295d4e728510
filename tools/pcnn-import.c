/* pcnn-import — a PyTorch state_dict of the CPEN 455 / pclucas14 PixelCNN++ to a pcnn model file. */
#include "io/pth.h"
#include "model/model.h"
#include "model/torch_names.h"
#include "util.h"

#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static void usage(FILE *fp)
{
    fprintf(fp,
        "usage: pcnn-import [-K N] [--classes A,B,..] [-H N] [-W N] STATE_DICT.pth -o MODEL\n"
        "\n"
        "Converts a PyTorch state_dict of the conditional PixelCNN++ with the CPEN 455 /\n"
        "pclucas14 module names (SPEC 3: up_layers.0.u_stream.0.conv_input.conv.weight_v, ...,\n"
        "<block>.hw class terms) into a pcnn model file. Either torch.save format (zip or\n"
        "legacy) is read, in C: no Python, and nothing in the file is executed.\n"
        "R, F and M come from the tensor shapes, K from the class terms <block>.hw (K x 2F).\n"
        "Accepted as well (docs/FORMATS.md): keys with a 'module.' prefix (DataParallel); a\n"
        "checkpoint holding the state_dict under 'state_dict', 'model_state_dict' or 'model'\n"
        "beside other things; layers whose weight norm was removed (a plain .weight: v =\n"
        "weight, g = |weight|); the variants of SPEC 3b, told by their tensors: <block>.hs\n"
        "(film, in every block) and class_map (input, K x 3 x H x W), or a class image\n"
        "stored as embedding.weight (K x 3*H*W); float64, float16 and bfloat16 values.\n"
        "Unknown, missing or misshapen tensors and NaN/Inf are refused, naming them.\n"
        "\n"
        "  -o MODEL        the model file to write, atomically ('-': stdout); required\n"
        "  -K N            number of classes when the state_dict has no class terms (.hw):\n"
        "                  they are then zero (default: the number of --classes, or 1)\n"
        "  --classes A,..  class names, comma-separated (default Class0, Class1, ...)\n"
        "  -H N, -W N      image height and width, multiples of 4 (default 32, or the\n"
        "                  class image's: a class_map fixes them, and -H/-W must agree)\n"
        "  --unsafe-load   accepted for the scripts of the Python pcnn-import; no effect\n"
        "                  (the pickle is parsed, never run)\n"
        "  -h              this help\n"
        "\n"
        "STATE_DICT.pth '-' reads stdin. One summary line goes to stderr.\n"
        "Exit status: 0 success, 1 bad input or write error, 2 usage error.\n");
}

static int side_option(const char *opt, const char *arg)
{
    long v;
    if (pcnn_parse_long(arg, 4, 4096, &v) || v % 4)
        pcnn_usage_error("%s %s: must be a multiple of 4 in 4..4096 (the network halves the image twice)", opt, arg);
    return (int)v;
}

/* --classes A,B,..: names of 1..255 bytes without tab, newline or comma, none repeated. */
static char **parse_classes(char *list, int *n)
{
    char **names = NULL;
    *n = 0;
    for (char *p = list;;) {
        size_t len = strcspn(p, ",");
        if (len < 1 || len > 255 || memchr(p, '\t', len) || memchr(p, '\r', len) || memchr(p, '\n', len))
            pcnn_usage_error("--classes: bad class name '%.*s' (1..255 bytes, no tab, newline, comma)",
                             (int)(len > 255 ? 255 : len), p);
        names = pcnn_xrealloc(names, (size_t)(*n + 1) * sizeof *names);
        names[*n] = pcnn_xmalloc(len + 1);
        memcpy(names[*n], p, len);
        names[*n][len] = 0;
        for (int k = 0; k < *n; k++)
            if (!strcmp(names[k], names[*n])) pcnn_usage_error("--classes: repeated class name '%s'", names[k]);
        (*n)++;
        if (!p[len]) break;
        p += len + 1;
    }
    return names;
}

int main(int argc, char **argv)
{
    pcnn_init(argv[0]);
    pcnn_torch_import_opts o = {0};
    const char *out_path = NULL;
    int c;
    enum { OPT_CLASSES = 256, OPT_UNSAFE };
    static const struct option longopts[] = {{"classes", required_argument, 0, OPT_CLASSES},
                                             {"unsafe-load", no_argument, 0, OPT_UNSAFE},
                                             {"help", no_argument, 0, 'h'},
                                             {0, 0, 0, 0}};
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":hK:H:W:o:", longopts, NULL)) != -1) {
        long v;
        switch (c) {
        case 'h': usage(stdout); return pcnn_close_stdout() ? 1 : 0;
        case 'o': out_path = optarg; break;
        case 'K':
            if (pcnn_parse_long(optarg, 1, PCNN_DATA_MAX_CLASSES, &v))
                pcnn_usage_error("-K %s: must be 1..%u", optarg, PCNN_DATA_MAX_CLASSES);
            o.K = (int)v;
            break;
        case 'H': o.H = side_option("-H", optarg); break;
        case 'W': o.W = side_option("-W", optarg); break;
        case OPT_CLASSES:
            pcnn_class_names_free(o.class_names, (uint32_t)o.nclasses);
            o.class_names = parse_classes(optarg, &o.nclasses);
            break;
        case OPT_UNSAFE: break;
        default: pcnn_bad_option(c, argv);
        }
    }
    if (optind == argc) pcnn_usage_error("no input: give a state_dict file ('-' for stdin)");
    if (argc - optind > 1) pcnn_usage_error("one input file (got %d)", argc - optind);
    if (!out_path) pcnn_usage_error("no output: give -o MODEL ('-' for stdout)");
    const char *in_path = argv[optind], *src = pcnn_display_name(in_path);
    o.source = src;

    char err[512];
    struct stat st;
    if (strcmp(in_path, "-") && stat(in_path, &st)) pcnn_die("%s: %s", src, strerror(errno));
    pcnn_pth *p = pcnn_pth_open(in_path, err, sizeof err);
    if (!p) pcnn_die("%s: cannot read as a PyTorch file: %s", src, err);
    pcnn_model_file *m = pcnn_torch_import(p, &o, err, sizeof err);
    pcnn_pth_close(p);
    if (!m) {
        pcnn_warn("%s: %s", src, err);
        if (o.status == 2) fprintf(stderr, "Try '%s -h' for more information.\n", pcnn_progname);
        pcnn_class_names_free(o.class_names, (uint32_t)o.nclasses);
        return o.status;
    }
    pcnn_class_names_free(o.class_names, (uint32_t)o.nclasses);
    int rc = pcnn_model_file_write(out_path, m) ? 1 : 0;
    if (!rc) {
        unsigned cond = pcnn_model_conditioning(m);
        pcnn_warn("%s: R=%u F=%u M=%u K=%u H=%u W=%u, %u tensors%s%s%s%s",
                  !strcmp(out_path, "-") ? "<stdout>" : out_path, m->R, m->F, m->M, m->K, m->H, m->W,
                  m->ntensors, cond ? ", conditioning " : "", cond ? pcnn_cond_name(cond) : "",
                  o.zero_hw ? " (class terms zero: none in the input)" : "",
                  o.from_embedding ? " (class_map from embedding.weight)" : "");
    }
    pcnn_model_file_free(m);
    return rc;
}
