/* pcnn-prep — images (CSV manifest, class folders, or MNIST IDX) to a pcnn data file. */
#include "io/datafile.h"
#include "io/prep.h"
#include "util.h"

#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static void usage(FILE *fp)
{
    fprintf(fp,
        "usage: pcnn-prep [-q] [-o FILE] [-H N] [-W N] [--classes NAMES] [--select LIST]\n"
        "                 [-K N] [--limit N] [-s SEED] [--labels FILE] [--skip-bad] SOURCE\n"
        "\n"
        "Decodes, resizes and labels images and writes them as one pcnn data file (an\n"
        "H x W x 3 uint8 RGB image, id and label per record; docs/FORMATS.md) to stdout or FILE.\n"
        "\n"
        "SOURCE is one of:\n"
        "  a CSV manifest    rows 'relative/path,label' (CPEN 455: train/0000001.jpg,0), LF or\n"
        "                    CRLF, optional header row ending in ',label' (e.g. 'id,label');\n"
        "                    paths are relative to the CSV's folder; label -1 = unknown;\n"
        "                    the id of a record is the path as written. '-' reads it from stdin.\n"
        "  a folder          one sub-folder per class (torchvision ImageFolder): sorted folder\n"
        "                    names are classes 0..K-1 and their names; every .png/.jpg/.jpeg\n"
        "                    below, in sorted path order; id 'class/file.png'.\n"
        "  an IDX file       MNIST/Fashion-MNIST images (gzip'd or not), e.g.\n"
        "                    /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz; labels\n"
        "                    from --labels FILE or the sibling train-labels-idx1-ubyte.gz;\n"
        "                    id 'train-images-idx3-ubyte.gz:000123'; gray becomes 3 channels.\n"
        "Images: PNG (any colour type, 1-16 bit, interlaced) and JPEG (gray, colour,\n"
        "progressive, CMYK converted); gray is replicated, alpha dropped; antialiased\n"
        "bilinear resize (as PIL BILINEAR and torchvision resize(antialias=True)), rounded.\n"
        "\n"
        "  -o FILE          write to FILE (atomically: a temporary name, renamed when complete)\n"
        "  -H N, -W N       output height and width, 1..4096 (default 32 x 32)\n"
        "  --select LIST    keep only these classes, relabelled 0..S-1 in the order given:\n"
        "                   labels for a CSV or IDX (--select 0,1,7,8), folder names or\n"
        "                   indices for a folder. CSV rows labelled -1 are kept.\n"
        "  --classes NAMES  comma-separated names of the output classes 0..K-1 (after\n"
        "                   --select), e.g. --classes T-shirt,Trouser,Sneaker,Bag\n"
        "  -K N             number of classes when no names are given\n"
        "                   Classes when none of these are given: a folder: its sub-folders;\n"
        "                   IDX: largest label + 1; CSV: max(4, largest label + 1) (the\n"
        "                   CPEN 455 Class0..Class3). Names default to the folder names, or\n"
        "                   Class<label> (Class<original label> under --select).\n"
        "                   A label >= K is an error naming its line.\n"
        "  --limit N        keep N images chosen at random (reproducible, see -s), in input order\n"
        "  --offset N       skip the first N of that random choice: with the same -s, disjoint\n"
        "                   --offset ranges give disjoint subsets (e.g. validation and test)\n"
        "  -s, --seed S     seed of --limit's choice (default 0)\n"
        "  --labels FILE    the IDX labels file\n"
        "  --skip-bad       skip damaged or missing images, malformed rows and labels out of\n"
        "                   range, report them (the first %d) and count them in the summary;\n"
        "                   without it the first one stops pcnn-prep with its file and line\n"
        "  -q               quiet: no progress, no summary, no skip reports (errors still show)\n"
        "  -h               this help\n"
        "\n"
        "Example: pcnn-prep -o train.bin ../shared/cpen455/train.csv\n"
        "         pcnn-prep --select 0,1,7,8 --classes T-shirt,Trouser,Sneaker,Bag \\\n"
        "             /usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz > fm.bin\n"
        "Progress goes to stderr when it is a terminal, then one summary line (images,\n"
        "seconds, skipped, classes). Exit status: 0 success, 1 bad data or I/O error,\n"
        "2 usage error.\n",
        PCNN_PREP_MAX_REPORTS);
}

/* Splits a comma list into a NULL-free array of n strings; empty items are usage errors. */
static char **split(const char *opt, const char *s, uint32_t *n)
{
    size_t cap = 1;
    for (const char *p = s; *p; p++) cap += *p == ',';
    if (cap > PCNN_DATA_MAX_CLASSES) pcnn_usage_error("%s: more than %u items", opt, PCNN_DATA_MAX_CLASSES);
    char **v = pcnn_xcalloc(cap, sizeof *v);
    *n = 0;
    const char *p = s;
    for (;;) {
        const char *e = strchr(p, ',');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        if (!len) pcnn_usage_error("%s: empty item in '%s'", opt, s);
        v[*n] = pcnn_xmalloc(len + 1);
        memcpy(v[*n], p, len);
        v[*n][len] = 0;
        (*n)++;
        if (!e) break;
        p = e + 1;
    }
    return v;
}

static void free_list(char **v, uint32_t n)
{
    for (uint32_t i = 0; v && i < n; i++) free(v[i]);
    free(v);
}

int main(int argc, char **argv)
{
    pcnn_init(argv[0]);
    pcnn_prep_opts o = pcnn_prep_defaults();
    long v;
    int c;
    enum { OPT_CLASSES = 256, OPT_SELECT, OPT_LIMIT, OPT_OFFSET, OPT_LABELS, OPT_SKIP };
    static const struct option longopts[] = {
        {"classes", required_argument, 0, OPT_CLASSES}, {"select", required_argument, 0, OPT_SELECT},
        {"limit", required_argument, 0, OPT_LIMIT},     {"offset", required_argument, 0, OPT_OFFSET},
        {"labels", required_argument, 0, OPT_LABELS},
        {"skip-bad", no_argument, 0, OPT_SKIP},         {"seed", required_argument, 0, 's'},
        {"help", no_argument, 0, 'h'},                  {0, 0, 0, 0}};
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":ho:H:W:K:s:q", longopts, NULL)) != -1) {
        switch (c) {
        case 'h':
            usage(stdout);
            return pcnn_close_stdout() ? 1 : 0;
        case 'o': o.out = optarg; break;
        case 'H':
        case 'W':
            if (pcnn_parse_long(optarg, 1, PCNN_DATA_MAX_SIDE, &v))
                pcnn_usage_error("-%c: '%s' is not a size in 1..%u", c, optarg, PCNN_DATA_MAX_SIDE);
            *(c == 'H' ? &o.H : &o.W) = (uint32_t)v;
            break;
        case 'K':
            if (pcnn_parse_long(optarg, 1, PCNN_DATA_MAX_CLASSES, &v))
                pcnn_usage_error("-K: '%s' is not a class count in 1..%u", optarg, PCNN_DATA_MAX_CLASSES);
            o.K = (uint32_t)v;
            break;
        case 's':
            if (pcnn_parse_u64(optarg, &o.seed)) pcnn_usage_error("-s: '%s' is not a seed (0..2^64-1)", optarg);
            break;
        case 'q': o.quiet = 1; break;
        case OPT_CLASSES:
            free_list(o.classes, o.n_classes);
            o.classes = split("--classes", optarg, &o.n_classes);
            for (uint32_t k = 0; k < o.n_classes; k++)
                if (pcnn_data_check_class_name(o.classes[k]))
                    pcnn_usage_error("--classes: '%s' cannot be a class name (1..255 bytes, no tab or newline)",
                                     o.classes[k]);
            break;
        case OPT_SELECT:
            free_list(o.select, o.n_select);
            o.select = split("--select", optarg, &o.n_select);
            break;
        case OPT_OFFSET:
            if (pcnn_parse_u64(optarg, &o.offset))
                pcnn_usage_error("--offset: '%s' is not a count >= 0", optarg);
            break;
        case OPT_LIMIT:
            if (pcnn_parse_u64(optarg, &o.limit) || o.limit == 0)
                pcnn_usage_error("--limit: '%s' is not a count >= 1", optarg);
            break;
        case OPT_LABELS: o.labels = optarg; break;
        case OPT_SKIP: o.skip_bad = 1; break;
        default: pcnn_bad_option(c, argv);
        }
    }
    if (optind != argc - 1)
        pcnn_usage_error(optind == argc ? "no SOURCE given (a CSV manifest, a folder or an IDX file)"
                                        : "one SOURCE expected, got %d", argc - optind);
    o.source = argv[optind];
    if (o.K && o.n_classes && o.K != o.n_classes)
        pcnn_usage_error("-K %u but --classes names %u classes", o.K, o.n_classes);
    if (o.labels && pcnn_prep_source_kind_of(o.source) != PCNN_SRC_IDX)
        pcnn_usage_error("--labels is for IDX sources; %s is not one", o.source);

    /* Caught now rather than at the final rename, after all the work. */
    struct stat sb;
    if (o.out && stat(o.out, &sb) == 0 && S_ISDIR(sb.st_mode))
        pcnn_die("%s: is a folder (name a file with -o)", o.out);
    if ((!o.out || !strcmp(o.out, "-")) && isatty(STDOUT_FILENO))
        pcnn_usage_error("not writing binary data to a terminal (use -o FILE or a pipe)");

    int rc = pcnn_prep_run(&o);
    free_list(o.classes, o.n_classes);
    free_list(o.select, o.n_select);
    if (rc == 2) {
        fprintf(stderr, "Try '%s -h' for more information.\n", pcnn_progname);
        return 2;
    }
    if (pcnn_close_stdout()) return 1;
    return rc;
}
