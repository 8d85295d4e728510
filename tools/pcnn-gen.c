/* pcnn-gen — class-conditional samples of a model, written as PNG files. */
#include "io/datafile.h"
#include "eval/fid.h"
#include "io/image.h"
#include "eval/knn.h"
#include "io/modelfile.h"
#include "dist.h"
#include "model/model.h"
#include "model/net.h"
#include "model/sample.h"
#include "util.h"

#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Images sampled together by default: on the CPU the cached sampler's threads split
 * the batch; on a GPU each position's window ops cost about the same for 128 images
 * as for 1 (launch-bound), so a large batch is nearly free. */
enum { GEN_BATCH_CPU = 32, GEN_BATCH_GPU = 128 };

static void usage(FILE *fp)
{
    fprintf(fp,
        "usage: pcnn-gen [options] MODEL\n"
        "\n"
        "Samples images of chosen classes from a model (SPEC §5, no temperature) and\n"
        "writes them as 8-bit RGB PNGs named as the CPEN 455 evaluation expects:\n"
        "DIR/<class>_image_01.png, ... (one folder, what pytorch-fid reads). Uses the\n"
        "Polyak-averaged weights when the model has them. The same seed gives the same\n"
        "bytes on the same backend. The random numbers of an image depend only on\n"
        "(seed, class, index), so '-c Dog' draws the Dog images of '-c all' (with the same\n"
        "-b: another batch size changes float rounding, which can change a pixel).\n"
        "\n"
        "  -c CLASS       class name or index, or 'all' (default all)\n"
        "  -n N           images per class (default 25)\n"
        "  -o DIR         output folder, created if missing (default samples)\n"
        "  -s SEED        seed (default 1)\n"
        "  -b N           images sampled together (default 32 on the CPU, 128 on a GPU)\n"
        "  --grid FILE    also write a montage PNG, one row per class\n"
        "  --naive        the reference sampler (one network pass per pixel position;\n"
        "                 the default cached sampler gives the same bytes on the CPU, the\n"
        "                 same up to float rounding on a GPU, much faster)\n"
        "  --no-polyak    use the raw trained weights\n"
        "  --last         use the last epoch's weights, not the best epoch on validation\n"
        "                 that pcnn-fit -V keeps (models without it: the same)\n"
        "  --no-quality   skip the quality check (scoring the samples with the model)\n"
        "  --judge REAL   also judge the samples by k-NN over REAL, a data file of real\n"
        "                 labelled images of the model's size and classes (its training set)\n"
        "  --judge-k N    neighbours of the judge (default 5)\n"
        "  --judge-ceiling VAL  also classify VAL's labelled real images by k-NN over REAL:\n"
        "                 the share a perfect generator would reach\n"
        "  --judge-out FILE  one TSV row per sample: file, drawn class, judged class, and the\n"
        "                 squared distance to the nearest real image (header line first)\n"
        "  --fid-against REAL  also print the FID of the samples against REAL, a folder of\n"
        "                 real images or a data file (pcnn-fid; needs --inception)\n"
        "  --inception FILE  pytorch-fid's InceptionV3 weights (docs/FID.md)\n"
        "  --fid-dims N   64 or 192 (default 192, the CPEN 455 metric)\n"
        "  --device D     cpu, cuda or auto (default $PCNN_DEVICE, else auto)\n"
        "  -q             no progress or summary on stderr\n"
        "  -h             this help\n"
        "\n"
        "After sampling, the samples are scored with the model itself: the summary gives\n"
        "the fraction classified as the class they were drawn for and their bits/dim.\n"
        "--judge gives a second opinion that knows nothing of the model: each sample is\n"
        "classified by its k nearest real images (squared Euclidean distance of the uint8\n"
        "RGB values, exact; of equally near images the earlier in REAL; majority vote,\n"
        "ties to the smallest summed distance, then the lowest class index), and the\n"
        "summary gives the share judged as the class it was drawn for, per class and\n"
        "overall (on stderr). Unlabelled real images are skipped. Deterministic.\n"
        "FID (SPEC §7): --fid-against data/test --inception FILE, or pcnn-fid, or\n"
        "python3 -m pytorch_fid --dims 192 DIR data/test (the same number).\n"
        "On the CPU: PCNN_THREADS=N (or OMP_NUM_THREADS) threads, default all cores;\n"
        "PCNN_ISA=avx2 or scalar: without AVX-512 or SIMD (slower, the same results).\n"
        "Exit: 0 ok, 1 failure, 2 usage error.\n"
        "\n"
        "example: pcnn-gen -c all -n 25 -o samples --grid grid.png model.bin\n"
        "         pcnn-gen --judge train.bin --judge-ceiling val.bin --judge-out judge.tsv model.bin\n");
}

enum {
    OPT_GRID = 256, OPT_NAIVE, OPT_NO_POLYAK, OPT_LAST, OPT_NO_QUALITY, OPT_DEVICE,
    OPT_JUDGE, OPT_JUDGE_K, OPT_JUDGE_CEILING, OPT_JUDGE_OUT, OPT_FID_AGAINST, OPT_INCEPTION, OPT_FID_DIMS
};

static int make_dir(const char *dir)
{
    if (mkdir(dir, 0777) == 0 || errno == EEXIST) {
        struct stat st;
        if (stat(dir, &st) == 0 && S_ISDIR(st.st_mode) && access(dir, W_OK) == 0) return 0;
        pcnn_warn("%s: not a writable folder", dir);
        return -1;
    }
    pcnn_warn("%s: cannot create folder: %s", dir, strerror(errno));
    return -1;
}

/* A sample's file name in DIR: <class>_image_<NN>.png, the index 1.. zero-padded to
 * `width` digits (01 .. 25, as the CPEN 455 evaluation expects). The callers' buffers
 * hold a class name, 7 digits and the rest: -1 (too long) cannot happen. */
static int sample_name(char *buf, size_t len, const char *cls, size_t idx, int width)
{
    int n = snprintf(buf, len, "%s_image_%0*zu.png", cls, width, idx);
    return n < 0 || (size_t)n >= len ? -1 : 0;
}

/* Real labelled images to judge samples by (opt: the option that named the file):
 * NULL with a message unless they are the model's size, RGB, and the model's classes
 * in its order, with at least need labelled images. */
static pcnn_dataset *load_judge(const char *path, const char *opt, const pcnn_model_file *m, size_t need)
{
    pcnn_dataset *d = pcnn_dataset_load(path);
    if (!d) return NULL;
    const char *name = pcnn_display_name(path);
    const char *hint = "give real labelled images of the model's size and classes, e.g. its training set";
    if (d->h.H != m->H || d->h.W != m->W || d->h.C != 3) {
        pcnn_warn("%s: %s: images are %ux%ux%u, the model's samples %ux%ux3 (%s)", opt, name,
                  d->h.H, d->h.W, d->h.C, m->H, m->W, hint);
        goto bad;
    }
    if (d->h.K != m->K) {
        pcnn_warn("%s: %s: %u classes, the model has %u (%s)", opt, name, d->h.K, m->K, hint);
        goto bad;
    }
    for (uint32_t k = 0; k < m->K; k++)
        if (strcmp(d->h.class_names[k], m->class_names[k])) {
            pcnn_warn("%s: %s: class %u is '%s', the model's class %u is '%s' (%s)", opt, name, k,
                      d->h.class_names[k], k, m->class_names[k], hint);
            goto bad;
        }
    size_t nl = pcnn_knn_labelled(d->labels, (size_t)d->n);
    if (nl == 0) {
        pcnn_warn("%s: %s: no labelled images (%s)", opt, name, hint);
        goto bad;
    }
    if (nl < need) {
        pcnn_warn("%s: %s: %zu labelled images, fewer than the %zu neighbours of --judge-k", opt, name, nl, need);
        goto bad;
    }
    return d;
bad:
    pcnn_dataset_free(d);
    return NULL;
}

/* "Cat 50.0% (1/2), Dog 25.0% (1/4)": hits among totals, for the classes with images. */
static void print_shares(const pcnn_model_file *m, const size_t *hit, const size_t *tot)
{
    const char *sep = "";
    for (uint32_t k = 0; k < m->K; k++) {
        if (!tot[k]) continue;
        fprintf(stderr, "%s%s %.1f%% (%zu/%zu)", sep, m->class_names[k], 100.0 * (double)hit[k] / (double)tot[k],
                hit[k], tot[k]);
        sep = ", ";
    }
    fputc('\n', stderr);
}

/* Per class: how many of n images (true classes truth) there are (tot) and how many were
 * judged their class (hit); returns the hits in all. */
static size_t tally(size_t *hit, size_t *tot, size_t K, const int32_t *truth, const int32_t *pred,
                    size_t n)
{
    size_t correct = 0;
    memset(hit, 0, K * sizeof *hit);
    memset(tot, 0, K * sizeof *tot);
    for (size_t i = 0; i < n; i++) {
        tot[truth[i]]++;
        hit[truth[i]] += pred[i] == truth[i];
        correct += pred[i] == truth[i];
    }
    return correct;
}

/* The k-NN judge: the class of each sample by its k nearest real images, a summary on
 * stderr (unless quiet), the per-sample TSV (outpath, when given), and the ceiling:
 * the same judge on the labelled images of val. 0, or -1 when the TSV cannot be written. */
static int judge(const pcnn_model_file *m, const uint8_t *px, const int32_t *labels, size_t total, long n,
                 int width, const pcnn_dataset *real, const char *realpath, const pcnn_dataset *val,
                 const char *valpath, int k, const char *outpath, int quiet)
{
    size_t per = (size_t)m->H * m->W * 3, K = m->K;
    int32_t *pred = pcnn_xmalloc(pcnn_mul_size(total, sizeof *pred));
    uint64_t *near = pcnn_xmalloc(pcnn_mul_size(total, sizeof *near));
    size_t *hit = pcnn_xcalloc(K, sizeof *hit), *tot = pcnn_xcalloc(K, sizeof *tot);
    pcnn_knn_classify(pred, near, NULL, px, total, real->pixels, real->labels, (size_t)real->n, per, m->K, k);
    size_t correct = tally(hit, tot, K, labels, pred, total);
    size_t nl = pcnn_knn_labelled(real->labels, (size_t)real->n);
    if (!quiet) {
        fprintf(stderr, "%s: judge: %d-NN over %s (%zu labelled images) classifies %.1f%% of the samples as their class (%zu/%zu): ",
                pcnn_progname, k, pcnn_display_name(realpath), nl, 100.0 * (double)correct / (double)total, correct, total);
        print_shares(m, hit, tot);
    }
    if (val && !quiet) {
        /* The ceiling: real held-out images through the same judge. */
        size_t nv = (size_t)val->n, vl = pcnn_knn_labelled(val->labels, nv), j = 0;
        uint8_t *vx = pcnn_xmalloc(pcnn_mul_size(vl, per));
        int32_t *vy = pcnn_xmalloc(pcnn_mul_size(vl, sizeof *vy));
        int32_t *vp = pcnn_xmalloc(pcnn_mul_size(vl, sizeof *vp));
        for (size_t i = 0; i < nv; i++)
            if (val->labels[i] >= 0) {
                memcpy(vx + j * per, val->pixels + i * per, per);
                vy[j++] = val->labels[i];
            }
        pcnn_knn_classify(vp, NULL, NULL, vx, vl, real->pixels, real->labels, (size_t)real->n, per, m->K, k);
        size_t vc = tally(hit, tot, K, vy, vp, vl);
        fprintf(stderr, "%s: judge ceiling: %d-NN over %s classifies %.1f%% of %s's labelled images as their class (%zu/%zu): ",
                pcnn_progname, k, pcnn_display_name(realpath), 100.0 * (double)vc / (double)vl,
                pcnn_display_name(valpath), vc, vl);
        print_shares(m, hit, tot);
        free(vx);
        free(vy);
        free(vp);
    }
    int rc = 0;
    if (outpath) {
        pcnn_outfile *o = pcnn_outfile_open(outpath);
        if (!o) {
            rc = -1;
        } else {
            char name[PCNN_DATA_MAX_NAME + 64];
            fprintf(o->fp, "file\tdrawn\tjudged\tnearest_sqdist\n");
            for (size_t i = 0; i < total && !rc; i++) {
                rc = sample_name(name, sizeof name, m->class_names[labels[i]], i % (size_t)n + 1, width);
                fprintf(o->fp, "%s\t%s\t%s\t%llu\n", name, m->class_names[labels[i]], m->class_names[pred[i]],
                        (unsigned long long)near[i]);
            }
            if (rc)
                pcnn_outfile_abort(o);
            else
                rc = pcnn_outfile_commit(o) ? -1 : 0;
        }
    }
    free(pred);
    free(near);
    free(hit);
    free(tot);
    return rc;
}

/* Montage: one row per class, n images per row, 2-pixel white gutters. */
static int write_grid(const char *path, const uint8_t *px, int nclasses, int n, int H, int W)
{
    int g = 2, gw = n * (W + g) + g, gh = nclasses * (H + g) + g;
    uint8_t *img = pcnn_xmalloc((size_t)gw * gh * 3);
    memset(img, 255, (size_t)gw * gh * 3);
    for (int c = 0; c < nclasses; c++)
        for (int k = 0; k < n; k++) {
            const uint8_t *src = px + ((size_t)c * n + k) * H * W * 3;
            for (int i = 0; i < H; i++)
                memcpy(img + (((size_t)(g + c * (H + g) + i)) * gw + g + k * (W + g)) * 3,
                       src + (size_t)i * W * 3, (size_t)W * 3);
        }
    int rc = pcnn_png_write_rgb(path, NULL, gw, gh, img);
    free(img);
    return rc;
}

int main(int argc, char **argv)
{
    pcnn_init(argv[0]);
    const char *cls = "all", *outdir = "samples", *grid = NULL, *device = NULL;
    const char *judge_path = NULL, *ceiling_path = NULL, *judge_out = NULL;
    const char *fid_against = NULL, *inception = NULL;
    long fid_dims = 192;
    long n = 25, seed = 1, batch = 0, judge_k = 5;   /* batch 0: the device's default */
    int judge_k_given = 0;
    int use_last = 0, naive = 0, use_polyak = 1, quality = 1, quiet = 0;
    static const struct option longopts[] = {
        {"grid", required_argument, 0, OPT_GRID},
        {"naive", no_argument, 0, OPT_NAIVE},
        {"no-polyak", no_argument, 0, OPT_NO_POLYAK},
        {"last", no_argument, 0, OPT_LAST},
        {"no-quality", no_argument, 0, OPT_NO_QUALITY},
        {"device", required_argument, 0, OPT_DEVICE},
        {"judge", required_argument, 0, OPT_JUDGE},
        {"judge-k", required_argument, 0, OPT_JUDGE_K},
        {"judge-ceiling", required_argument, 0, OPT_JUDGE_CEILING},
        {"judge-out", required_argument, 0, OPT_JUDGE_OUT},
        {"fid-against", required_argument, 0, OPT_FID_AGAINST},
        {"inception", required_argument, 0, OPT_INCEPTION},
        {"fid-dims", required_argument, 0, OPT_FID_DIMS},
        {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0},
    };
    int c;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":c:n:o:s:b:qh", longopts, NULL)) != -1) {
        switch (c) {
        case 'c': cls = optarg; break;
        case 'n':
            if (pcnn_parse_long(optarg, 1, 1000000, &n)) pcnn_usage_error("-n: expected 1..1000000, got '%s'", optarg);
            break;
        case 'o': outdir = optarg; break;
        case 's':
            if (pcnn_parse_long(optarg, 0, 0x7fffffffffffffffL, &seed)) pcnn_usage_error("-s: expected a non-negative integer, got '%s'", optarg);
            break;
        case 'b':
            if (pcnn_parse_long(optarg, 1, 4096, &batch)) pcnn_usage_error("-b: expected 1..4096, got '%s'", optarg);
            break;
        case 'q': quiet = pcnn_quiet = 1; break;
        case OPT_GRID: grid = optarg; break;
        case OPT_NAIVE: naive = 1; break;
        case OPT_NO_POLYAK: use_polyak = 0; break;
        case OPT_LAST: use_last = 1; break;
        case OPT_NO_QUALITY: quality = 0; break;
        case OPT_DEVICE: device = pcnn_device_option(optarg); break;
        case OPT_JUDGE: judge_path = optarg; break;
        case OPT_JUDGE_K:
            if (pcnn_parse_long(optarg, 1, 1000, &judge_k)) pcnn_usage_error("--judge-k: expected 1..1000, got '%s'", optarg);
            judge_k_given = 1;
            break;
        case OPT_JUDGE_CEILING: ceiling_path = optarg; break;
        case OPT_JUDGE_OUT: judge_out = optarg; break;
        case OPT_FID_AGAINST: fid_against = optarg; break;
        case OPT_INCEPTION: inception = optarg; break;
        case OPT_FID_DIMS:
            if (pcnn_parse_long(optarg, 64, 192, &fid_dims) || (fid_dims != 64 && fid_dims != 192))
                pcnn_usage_error("--fid-dims: expected 64 or 192, got '%s'", optarg);
            break;
        case 'h': usage(stdout); return 0;
        default: pcnn_bad_option(c, argv);
        }
    }
    if (optind == argc) pcnn_usage_error("missing MODEL");
    if (argc - optind > 1) pcnn_usage_error("too many operands");
    if (!device) device = pcnn_device_default();
    if (!judge_path && (ceiling_path || judge_out || judge_k_given))
        pcnn_usage_error("%s needs --judge REAL (the real images to judge by)",
                         ceiling_path ? "--judge-ceiling" : judge_out ? "--judge-out" : "--judge-k");
    if (!fid_against != !inception)
        pcnn_usage_error("%s", fid_against ? "--fid-against needs --inception FILE (pytorch-fid's weights)"
                                           : "--inception needs --fid-against REAL (the real images)");
    const char *modelpath = argv[optind];
    if (inception) {   /* the weights checked before the (long) sampling */
        pcnn_inception *net = pcnn_inception_load(inception, (int)fid_dims);
        if (!net) return 1;
        pcnn_inception_free(net);
    }

    /* With N ranks (dist.h) every rank samples its shard of the images; rank 0 writes them. */
    if (pcnn_dist_init()) return 1;
    const int rank0 = pcnn_dist_rank() == 0;
    if (!rank0) quiet = pcnn_quiet = 1;
    pcnn_model_file *m = pcnn_model_file_read(modelpath);
    if (!m) return pcnn_dist_exit(1, 0);
    if (!use_last && use_polyak) pcnn_model_use_best(m);   /* the best epoch on validation */
    /* Which classes: all, a name, or an index. */
    int first = 0, nclasses = (int)m->K;
    if (strcmp(cls, "all")) {
        long idx = -1;
        for (uint32_t k = 0; k < m->K; k++)
            if (!strcmp(cls, m->class_names[k])) idx = k;
        if (idx < 0 && pcnn_parse_long(cls, 0, (long)m->K - 1, &idx)) {
            fprintf(stderr, "%s: %s: no class '%s'; its classes are:", pcnn_progname, modelpath, cls);
            for (uint32_t k = 0; k < m->K; k++) fprintf(stderr, " %s", m->class_names[k]);
            fprintf(stderr, " (or 0..%u, or all)\n", m->K - 1);
            pcnn_model_file_free(m);
            return pcnn_dist_exit(1, 1);
        }
        first = (int)idx;
        nclasses = 1;
    }
    /* The judge's data, checked before the (long) sampling. */
    pcnn_dataset *real = NULL, *val = NULL;
    if (judge_path && (!(real = load_judge(judge_path, "--judge", m, (size_t)judge_k)) ||
                       (ceiling_path && !(val = load_judge(ceiling_path, "--judge-ceiling", m, 1))))) {
        pcnn_dataset_free(real);
        pcnn_model_file_free(m);
        return pcnn_dist_exit(1, 1);
    }
    if (rank0 && make_dir(outdir)) {
        pcnn_dataset_free(real);
        pcnn_dataset_free(val);
        pcnn_model_file_free(m);
        return pcnn_dist_exit(1, 0);
    }
    int rc = 1, collective = 0;
    size_t total = (size_t)nclasses * (size_t)n, per = (size_t)m->H * m->W * 3;
    uint64_t lo, hi;   /* this rank's images (all of them for one process) */
    pcnn_dist_shard(total, pcnn_dist_rank(), pcnn_dist_size(), &lo, &hi);
    uint8_t *pxmine = NULL;
    double *llmine = NULL;
    pcnn_net *net = batch ? pcnn_net_create(m, device, (int)batch)
                          : pcnn_net_create_batch(m, device, GEN_BATCH_CPU, GEN_BATCH_GPU);
    float *x = NULL;
    uint8_t *px = NULL;
    int32_t *labels = NULL;
    uint64_t *keys = NULL;
    double *ll = NULL;
    if (!net) goto out;
    batch = pcnn_net_max_batch(net);
    x = pcnn_xmalloc(pcnn_mul_size(pcnn_mul_size((size_t)batch, per), sizeof *x));
    px = pcnn_xmalloc(pcnn_mul_size(total, per));
    labels = pcnn_xmalloc(pcnn_mul_size(total, sizeof *labels));
    keys = pcnn_xmalloc(pcnn_mul_size(total, sizeof *keys));
    for (size_t i = 0; i < total; i++) {
        labels[i] = first + (int32_t)(i / (size_t)n);
        keys[i] = ((uint64_t)labels[i] << 24) | (uint64_t)(i % (size_t)n);
    }
    pcnn_progress prog;
    pcnn_progress_start(&prog, naive ? "sampled (naive)" : "sampled", hi - lo, "images");
    if (quiet) prog.tty = 0;
    pxmine = pcnn_xmalloc(pcnn_mul_size(hi - lo + 1, per));
    for (size_t i = lo; i < hi; i += (size_t)batch) {
        int nb = (int)(hi - i < (size_t)batch ? hi - i : (size_t)batch);
        if (naive)
            pcnn_sample_naive(net, m, labels + i, keys + i, nb, (uint64_t)seed, use_polyak, x, &prog);
        else
            pcnn_sample_cached(net, m, labels + i, keys + i, nb, (uint64_t)seed, use_polyak, x, &prog);
        pcnn_sample_to_u8(x, (size_t)nb * per, pxmine + (i - lo) * per);
    }
    pcnn_dist_gather_shards(pxmine, total, per, px);
    if (quality) {
        /* The model's own verdict on its samples, each rank scoring its own. */
        llmine = pcnn_xmalloc(pcnn_mul_size(hi - lo + 1, m->K * sizeof *llmine));
        for (size_t i = lo; i < hi; i += (size_t)batch) {
            int nb = (int)(hi - i < (size_t)batch ? hi - i : (size_t)batch);
            pcnn_net_loglik(net, pxmine + (i - lo) * per, nb, use_polyak, llmine + (i - lo) * m->K);
        }
        ll = pcnn_xmalloc(pcnn_mul_size(total, m->K * sizeof *ll));
        pcnn_dist_gather_shards(llmine, total, m->K * sizeof *ll, ll);
    }
    if (!rank0) {
        rc = 0;
        goto out;
    }
    size_t namelen = strlen(outdir) + PCNN_DATA_MAX_NAME + 64;
    char *name = pcnn_xmalloc(namelen);
    int width = n >= 100 ? (int)floor(log10((double)n)) + 1 : 2;
    for (size_t i = 0; i < total; i++) {
        size_t dirlen = (size_t)snprintf(name, namelen, "%s/", outdir);
        if (sample_name(name + dirlen, namelen - dirlen, m->class_names[labels[i]], i % (size_t)n + 1, width) ||
            pcnn_png_write_rgb(name, NULL, (int)m->W, (int)m->H, px + i * per)) {
            free(name);
            goto out;
        }
    }
    free(name);
    if (grid && write_grid(grid, px, nclasses, (int)n, (int)m->H, (int)m->W)) goto out;
    char extra[160] = "";
    if (quality) {
        /* The model's own verdict on its samples: argmax accuracy and bits/dim. */
        size_t correct = 0;
        double bpd = 0;
        for (size_t i = 0; i < total; i++) {
            const double *row = ll + i * m->K;
            uint32_t best = 0;
            for (uint32_t k = 1; k < m->K; k++)
                if (row[k] > row[best]) best = k;
            correct += best == (uint32_t)labels[i];
            bpd += -row[labels[i]] / ((double)per * M_LN2);
        }
        snprintf(extra, sizeof extra, "%.1f%% classified as their class, %.4f bits/dim (model's own scoring)",
                 100.0 * (double)correct / (double)total, bpd / (double)total);
    }
    if (!quiet) {
        prog.done = total;
        pcnn_progress_end(&prog, extra);
    }
    if (real && judge(m, px, labels, total, n, width, real, judge_path, val, ceiling_path, (int)judge_k,
                      judge_out, quiet))
        goto out;
    if (fid_against) {
        double fid;
        if (pcnn_fid_run(inception, (int)fid_dims, outdir, fid_against, &fid)) goto out;
        fprintf(stderr, "%s: FID %.4f (dims %ld, %s against %s)\n", pcnn_progname, fid, fid_dims, outdir, fid_against);
    }
    if (!quiet)
        pcnn_warn("wrote %zu PNGs to %s%s%s", total, outdir, grid ? " and the grid " : "", grid ? grid : "");
    rc = 0;
out:
    /* rank 0's result is everyone's: the others wait for it */
    if (pcnn_dist_size() > 1 && (rc == 0 || collective)) {
        rc = pcnn_dist_max_int(rc);
        collective = 1;
    }
    free(ll);
    free(llmine);
    free(pxmine);
    free(x);
    free(px);
    free(labels);
    free(keys);
    pcnn_net_free(net);
    pcnn_dataset_free(real);
    pcnn_dataset_free(val);
    pcnn_model_file_free(m);
    return pcnn_dist_exit(rc, collective);
}
