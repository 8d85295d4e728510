/* pcnn-fid — the Fréchet Inception Distance of pytorch-fid between two folders of images. */
#include "eval/fid.h"
#include "util.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>

static void usage(FILE *fp)
{
    fprintf(fp,
        "usage: pcnn-fid [options] --inception FILE A B\n"
        "\n"
        "Prints the Fréchet Inception Distance between the images of A and B, computed as\n"
        "pytorch-fid computes it (python3 -m pytorch_fid --dims DIMS A B): InceptionV3\n"
        "features of every image (resized to 299x299), then\n"
        "  FID = |mu_A - mu_B|^2 + tr S_A + tr S_B - 2 tr (S_A S_B)^(1/2).\n"
        "A and B are folders (their *.png, *.jpg and *.jpeg files) or pcnn data files.\n"
        "Lower is closer; 0 for the same images. CPEN 455 grades dims 192 with 25 samples\n"
        "per class in one folder against the test images (docs/FID.md).\n"
        "\n"
        "  --inception FILE  pytorch-fid's InceptionV3 weights,\n"
        "                    pt_inception-2015-12-05-6726825d.pth (read as it is; nothing\n"
        "                    is downloaded: docs/FID.md says where to get it)\n"
        "  --dims N          64 or 192 (default 192): the features of the first max pool\n"
        "                    (64) or the second (192)\n"
        "  -q                no summary on stderr\n"
        "  -h                this help\n"
        "\n"
        "Output: the FID on stdout, one line. Exit: 0 ok, 1 failure, 2 usage error.\n"
        "PCNN_THREADS=N (or OMP_NUM_THREADS) threads, default all cores.\n"
        "\n"
        "example: pcnn-fid --inception pt_inception-2015-12-05-6726825d.pth samples data/test\n");
}

enum { OPT_INCEPTION = 256, OPT_DIMS };

int main(int argc, char **argv)
{
    pcnn_init(argv[0]);
    const char *weights = NULL;
    long dims = 192;
    static const struct option longopts[] = {
        {"inception", required_argument, 0, OPT_INCEPTION},
        {"dims", required_argument, 0, OPT_DIMS},
        {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0},
    };
    int c;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":qh", longopts, NULL)) != -1) {
        switch (c) {
        case OPT_INCEPTION: weights = optarg; break;
        case OPT_DIMS:
            if (pcnn_parse_long(optarg, 1, 2048, &dims) || (dims != 64 && dims != 192))
                pcnn_usage_error("--dims: expected 64 or 192, got '%s' (768 and 2048 need the later "
                                 "Inception blocks, which pcnn-fid does not compute)", optarg);
            break;
        case 'q': pcnn_quiet = 1; break;
        case 'h': usage(stdout); return 0;
        default: pcnn_bad_option(c, argv);
        }
    }
    if (!weights) pcnn_usage_error("missing --inception FILE (pytorch-fid's pt_inception-2015-12-05-6726825d.pth)");
    if (argc - optind < 2) pcnn_usage_error("expected two folders A B");
    if (argc - optind > 2) pcnn_usage_error("too many operands");
    double fid;
    if (pcnn_fid_run(weights, (int)dims, argv[optind], argv[optind + 1], &fid)) return 1;
    printf("%.6f\n", fid);
    return pcnn_close_stdout() ? 1 : 0;
}
