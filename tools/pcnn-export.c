/* pcnn-export — a pcnn model file's parameters to a PyTorch state_dict (.pth). */
#include "io/modelfile.h"
#include "io/pth_write.h"
#include "model/model.h"
#include "model/torch_names.h"
#include "util.h"

#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

static void usage(FILE *fp)
{
    fprintf(fp,
        "usage: pcnn-export [--polyak] MODEL -o STATE_DICT.pth\n"
        "\n"
        "Writes the parameters of a pcnn model file as a PyTorch state_dict with the CPEN 455 /\n"
        "pclucas14 PixelCNN++ names of SPEC 3 (class terms <block>.hw; the variants'\n"
        "<block>.hs and class_map of SPEC 3b when the model has them), in the zip format\n"
        "torch.save writes: model.load_state_dict(torch.load(path, weights_only=True)) reads\n"
        "it, and so does pcnn-import. Written in C: no Python needed.\n"
        "\n"
        "  -o FILE    the .pth file to write, atomically ('-': stdout); required\n"
        "  --polyak   export the Polyak-averaged weights (polyak.<name>) pcnn-fit keeps,\n"
        "             which pcnn-score and pcnn-gen use, instead of the raw weights\n"
        "  -h         this help\n"
        "\n"
        "MODEL '-' reads stdin. One summary line goes to stderr.\n"
        "Exit status: 0 success, 1 bad input or write error, 2 usage error.\n");
}

int main(int argc, char **argv)
{
    pcnn_init(argv[0]);
    const char *out_path = NULL;
    int polyak = 0, c;
    enum { OPT_POLYAK = 256 };
    static const struct option longopts[] = {
        {"polyak", no_argument, 0, OPT_POLYAK}, {"help", no_argument, 0, 'h'}, {0, 0, 0, 0}};
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":ho:", longopts, NULL)) != -1) {
        switch (c) {
        case 'h': usage(stdout); return pcnn_close_stdout() ? 1 : 0;
        case 'o': out_path = optarg; break;
        case OPT_POLYAK: polyak = 1; break;
        default: pcnn_bad_option(c, argv);
        }
    }
    if (optind == argc) pcnn_usage_error("no input: give a model file ('-' for stdin)");
    if (argc - optind > 1) pcnn_usage_error("one model file (got %d)", argc - optind);
    if (!out_path) pcnn_usage_error("no output: give -o STATE_DICT.pth ('-' for stdout)");
    const char *in_path = argv[optind], *src = pcnn_display_name(in_path);

    pcnn_model_file *m = strcmp(in_path, "-") ? pcnn_model_file_read(in_path)
                                              : pcnn_model_file_read_stream(stdin, src);
    if (!m) return 1;
    char err[512];
    int n, rc = 1;
    pcnn_pth_entry *sd = pcnn_torch_state_dict(m, polyak ? "polyak." : "", &n, err, sizeof err);
    pcnn_outfile *o = NULL;
    if (!sd) {
        pcnn_warn("%s: %s", src, err);
        goto done;
    }
    if (!(o = pcnn_outfile_open(out_path))) goto done;
    if (pcnn_pth_write(o->fp, sd, n)) {
        pcnn_warn("%s: %s (nothing written)", pcnn_outfile_name(o), strerror(errno));
        goto done;
    }
    const char *name = !strcmp(out_path, "-") ? "<stdout>" : out_path;
    int committed = pcnn_outfile_commit(o);
    o = NULL;
    if (committed) goto done;
    unsigned cond = pcnn_model_conditioning(m);
    pcnn_warn("%s: %d tensors, R=%u F=%u M=%u K=%u%s%s%s", name, n, m->R, m->F, m->M, m->K,
              cond ? ", conditioning " : "", cond ? pcnn_cond_name(cond) : "", polyak ? " (Polyak weights)" : "");
    rc = 0;
done:
    pcnn_outfile_abort(o);
    free(sd);
    pcnn_model_file_free(m);
    return rc;
}
