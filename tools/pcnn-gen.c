/* pcnn-gen — class-conditional samples of a model, written as PNG files. */
#include "dist.h"
#include "eval/fid.h"
#include "eval/judge.h"
#include "eval/metrics.h"
#include "io/datafile.h"
#include "io/sampledir.h"
#include "model/model.h"
#include "model/net.h"
#include "model/sample.h"
#include "util.h"

#include <getopt.h>
#include <stdlib.h>
#include <string.h>

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
        "  -n N           images per class (default 25; with --complete: the images of\n"
        "                 DATA completed, default 8)\n"
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
        "  --complete DATA  complete real images instead of drawing new ones: of each of the\n"
        "                 first N images of DATA (a data file of the model's size and\n"
        "                 classes; -n N, default 8) keep the first R rows (--rows R) exactly\n"
        "                 and sample the rest for each class of -c: DIR/<class>_image_NN.png\n"
        "                 is image NN of DATA completed as <class>; --grid has one row per\n"
        "                 image, the original first, then its completion for each class.\n"
        "                 Not with --judge or --fid-against\n"
        "  --rows R       the rows kept by --complete, 1..H-1\n"
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
        "         pcnn-gen --judge train.bin --judge-ceiling val.bin --judge-out judge.tsv model.bin\n"
        "         pcnn-gen --complete val.bin --rows 16 -n 4 -o completions --grid c.png model.bin\n");
}

enum {
    OPT_GRID = 256, OPT_NAIVE, OPT_NO_POLYAK, OPT_LAST, OPT_NO_QUALITY, OPT_DEVICE,
    OPT_JUDGE, OPT_JUDGE_K, OPT_JUDGE_CEILING, OPT_JUDGE_OUT, OPT_FID_AGAINST, OPT_INCEPTION, OPT_FID_DIMS,
    OPT_COMPLETE, OPT_ROWS
};

typedef struct gen_options {
    const char *cls, *outdir, *grid, *device, *model_path;
    const char *judge_path, *ceiling_path, *judge_out, *fid_against, *inception;
    const char *complete;                     /* --complete DATA, or NULL */
    long fid_dims, n, seed, batch, judge_k;   /* batch 0: the device's default */
    long rows;                                /* --rows, -1 when not given */
    int use_last, naive, use_polyak, quality, quiet;
} gen_options;

static void parse_options(int argc, char **argv, gen_options *o)
{
    *o = (gen_options){.cls = "all", .outdir = "samples", .fid_dims = 192, .n = 25, .seed = 1,
                       .judge_k = 5, .use_polyak = 1, .quality = 1, .rows = -1};
    int judge_k_given = 0, n_given = 0;
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
        {"complete", required_argument, 0, OPT_COMPLETE},
        {"rows", required_argument, 0, OPT_ROWS},
        {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0},
    };
    int c;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":c:n:o:s:b:qh", longopts, NULL)) != -1) {
        switch (c) {
        case 'c': o->cls = optarg; break;
        case 'n':
            if (pcnn_parse_long(optarg, 1, 1000000, &o->n)) pcnn_usage_error("-n: expected 1..1000000, got '%s'", optarg);
            n_given = 1;
            break;
        case 'o': o->outdir = optarg; break;
        case 's':
            if (pcnn_parse_long(optarg, 0, 0x7fffffffffffffffL, &o->seed)) pcnn_usage_error("-s: expected a non-negative integer, got '%s'", optarg);
            break;
        case 'b':
            if (pcnn_parse_long(optarg, 1, 4096, &o->batch)) pcnn_usage_error("-b: expected 1..4096, got '%s'", optarg);
            break;
        case 'q': o->quiet = pcnn_quiet = 1; break;
        case OPT_GRID: o->grid = optarg; break;
        case OPT_NAIVE: o->naive = 1; break;
        case OPT_NO_POLYAK: o->use_polyak = 0; break;
        case OPT_LAST: o->use_last = 1; break;
        case OPT_NO_QUALITY: o->quality = 0; break;
        case OPT_DEVICE: o->device = pcnn_device_option(optarg); break;
        case OPT_JUDGE: o->judge_path = optarg; break;
        case OPT_JUDGE_K:
            if (pcnn_parse_long(optarg, 1, 1000, &o->judge_k)) pcnn_usage_error("--judge-k: expected 1..1000, got '%s'", optarg);
            judge_k_given = 1;
            break;
        case OPT_JUDGE_CEILING: o->ceiling_path = optarg; break;
        case OPT_JUDGE_OUT: o->judge_out = optarg; break;
        case OPT_FID_AGAINST: o->fid_against = optarg; break;
        case OPT_INCEPTION: o->inception = optarg; break;
        case OPT_FID_DIMS:
            if (pcnn_parse_long(optarg, 64, 192, &o->fid_dims) || (o->fid_dims != 64 && o->fid_dims != 192))
                pcnn_usage_error("--fid-dims: expected 64 or 192, got '%s'", optarg);
            break;
        case OPT_COMPLETE: o->complete = optarg; break;
        case OPT_ROWS:
            if (pcnn_parse_long(optarg, 1, PCNN_DATA_MAX_SIDE, &o->rows))
                pcnn_usage_error("--rows: expected a row count >= 1, got '%s'", optarg);
            break;
        case 'h': usage(stdout); exit(0);
        default: pcnn_bad_option(c, argv);
        }
    }
    if (optind == argc) pcnn_usage_error("missing MODEL");
    if (o->complete && o->rows < 0) pcnn_usage_error("--complete needs --rows R (the rows of each image kept)");
    if (!o->complete && o->rows >= 0) pcnn_usage_error("--rows needs --complete DATA (the images to complete)");
    if (o->complete && (o->judge_path || o->fid_against))
        pcnn_usage_error("--complete does not go with %s (they judge new samples)",
                         o->judge_path ? "--judge" : "--fid-against");
    if (o->complete && !n_given) o->n = 8;
    if (argc - optind > 1) pcnn_usage_error("too many operands");
    o->model_path = argv[optind];
    if (!o->device) o->device = pcnn_device_default();
    if (!o->judge_path && (o->ceiling_path || o->judge_out || judge_k_given))
        pcnn_usage_error("%s needs --judge REAL (the real images to judge by)",
                         o->ceiling_path ? "--judge-ceiling" : o->judge_out ? "--judge-out" : "--judge-k");
    if (!o->fid_against != !o->inception)
        pcnn_usage_error("%s", o->fid_against ? "--fid-against needs --inception FILE (pytorch-fid's weights)"
                                              : "--inception needs --fid-against REAL (the real images)");
    pcnn_input in[] = {{"the model", o->model_path}, {"the judge's images (--judge)", o->judge_path},
                       {"the judge's ceiling images (--judge-ceiling)", o->ceiling_path},
                       {"the images to complete (--complete)", o->complete}};
    if ((o->grid && pcnn_output_not_input(o->grid, "the grid (--grid)", in, 4)) ||
        (o->judge_out && pcnn_output_not_input(o->judge_out, "the judge's table (--judge-out)", in, 4)))
        exit(PCNN_EXIT_USAGE);
}

/* The classes -c names: all (first 0, nclasses K), a class name or an index (one class).
 * 0, or -1 after a message listing the model's classes. */
static int pick_classes(const pcnn_model_file *m, const char *path, const char *cls, int *first, int *nclasses)
{
    *first = 0;
    *nclasses = (int)m->K;
    if (!strcmp(cls, "all")) return 0;
    long idx = -1;
    for (uint32_t k = 0; k < m->K; k++)
        if (!strcmp(cls, m->class_names[k])) idx = k;
    if (idx < 0 && pcnn_parse_long(cls, 0, (long)m->K - 1, &idx)) {
        fprintf(stderr, "%s: %s: no class '%s'; its classes are:", pcnn_progname, path, cls);
        for (uint32_t k = 0; k < m->K; k++) fprintf(stderr, " %s", m->class_names[k]);
        fprintf(stderr, " (or 0..%u, or all)\n", m->K - 1);
        return -1;
    }
    *first = (int)idx;
    *nclasses = 1;
    return 0;
}

/* Sampling in rounds (dist.h): a record is an image to draw, its result the image's
 * pixels after, with the quality check, its log p(x | c) for every class (K doubles
 * first: the record stays 8-byte aligned, H·W·3 being a multiple of 48). Rank 0 keeps
 * every image and its scores, and writes each round's PNGs as it comes. */
typedef struct gen_record {
    int32_t label;
    uint32_t image; /* --complete: the index of the given image in g->given */
    uint64_t key;   /* class·2^24 + index within the class (or of the given image): its
                     * random numbers (sample.h) */
} gen_record;

typedef struct gen_run {
    const gen_options *o;
    const pcnn_model_file *m;
    pcnn_net *net;
    int first, nclasses, width;
    size_t per, total, out_bytes, score_bytes, next, written;
    float *x;                    /* one batch: (batch, H, W, 3) */
    uint8_t *bpx;                /* one batch: (batch, H, W, 3) */
    int32_t *blabels;
    uint64_t *bkeys;
    double *bll;                 /* one batch: (batch, K) */
    uint8_t *px;                 /* rank 0: every image (total, H, W, 3) */
    int32_t *drawn;              /* rank 0: every image's class */
    double *ll;                  /* rank 0: every image's scores (total, K) */
    uint8_t *given;              /* --complete: the first n images of DATA (n, H, W, 3) */
    pcnn_progress prog;
} gen_run;

static int gen_read(void *ctx, void *in, int cap)
{
    gen_run *g = ctx;
    gen_record *r = in;
    int nb = 0;
    for (; nb < cap && g->next < g->total; nb++, g->next++) {
        size_t n = (size_t)g->o->n, c = (size_t)g->nclasses;
        if (g->given) {   /* image-major: each given image completed as every class in turn */
            r[nb].label = g->first + (int32_t)(g->next % c);
            r[nb].image = (uint32_t)(g->next / c);
        } else {
            r[nb].label = g->first + (int32_t)(g->next / n);
            r[nb].image = (uint32_t)(g->next % n);
        }
        r[nb].key = ((uint64_t)r[nb].label << 24) | (uint64_t)r[nb].image;
    }
    return nb;
}

static void gen_work(void *ctx, const void *in, int nb, void *out)
{
    gen_run *g = ctx;
    const gen_record *r = in;
    for (int i = 0; i < nb; i++) {
        g->blabels[i] = r[i].label;
        g->bkeys[i] = r[i].key;
    }
    int rows = 0;
    if (g->given) {   /* the given images as the network sees them; their first rows are kept */
        rows = (int)g->o->rows;
        for (int i = 0; i < nb; i++)
            pcnn_sample_from_u8(g->given + (size_t)r[i].image * g->per, g->per, g->x + (size_t)i * g->per);
    }
    (g->o->naive ? pcnn_complete_naive : pcnn_complete_cached)(g->net, g->m, g->blabels, g->bkeys, nb,
        (uint64_t)g->o->seed, g->o->use_polyak, rows, g->x, &g->prog);
    pcnn_sample_to_u8(g->x, (size_t)nb * g->per, g->bpx);
    /* the model's own verdict on its samples */
    if (g->o->quality) pcnn_net_loglik(g->net, g->bpx, nb, g->o->use_polyak, g->bll);
    for (int i = 0; i < nb; i++) {
        uint8_t *rec = (uint8_t *)out + (size_t)i * g->out_bytes;
        memcpy(rec, g->bll + (size_t)i * g->m->K, g->score_bytes);
        memcpy(rec + g->score_bytes, g->bpx + (size_t)i * g->per, g->per);
    }
}

static int gen_write(void *ctx, const void *in, const void *out, int nb)
{
    gen_run *g = ctx;
    const gen_record *r = in;
    for (int i = 0; i < nb; i++, g->written++) {
        const uint8_t *rec = (const uint8_t *)out + (size_t)i * g->out_bytes;
        uint8_t *px = g->px + g->written * g->per;
        memcpy(g->ll + g->written * g->m->K, rec, g->score_bytes);
        memcpy(px, rec + g->score_bytes, g->per);
        g->drawn[g->written] = r[i].label;
        if (pcnn_sample_png_write(g->o->outdir, g->m->class_names[r[i].label], (size_t)r[i].image + 1,
                                  g->width, px, (int)g->m->H, (int)g->m->W))
            return -1;
    }
    pcnn_progress_update(&g->prog, g->written);
    return 0;
}

/* Samples every image into g (rank 0: px, drawn, ll) and writes the PNGs: 0, or -1 on
 * every rank (said). */
static int sample_all(gen_run *g)
{
    size_t b = (size_t)pcnn_net_max_batch(g->net), K = g->m->K;
    g->per = (size_t)g->m->H * g->m->W * 3;
    g->score_bytes = g->o->quality ? K * sizeof(double) : 0;
    g->out_bytes = g->score_bytes + g->per;
    g->width = pcnn_sample_name_width((size_t)g->o->n);
    g->x = pcnn_xmalloc(pcnn_mul_size(pcnn_mul_size(b, g->per), sizeof *g->x));
    g->bpx = pcnn_xmalloc(pcnn_mul_size(b, g->per));
    g->blabels = pcnn_xmalloc(b * sizeof *g->blabels);
    g->bkeys = pcnn_xmalloc(b * sizeof *g->bkeys);
    g->bll = pcnn_xmalloc(pcnn_mul_size(b, K * sizeof *g->bll));
    if (pcnn_dist_rank() == 0) {
        g->px = pcnn_xmalloc(pcnn_mul_size(g->total, g->per));
        g->drawn = pcnn_xmalloc(pcnn_mul_size(g->total, sizeof *g->drawn));
        g->ll = pcnn_xmalloc(pcnn_mul_size(g->total, K * sizeof *g->ll));
    }
    pcnn_progress_start(&g->prog, g->given ? (g->o->naive ? "completed (naive)" : "completed")
                                           : (g->o->naive ? "sampled (naive)" : "sampled"), g->total, "images");
    if (g->o->quiet) g->prog.tty = 0;
    pcnn_dist_rounds r = {.in_bytes = sizeof(gen_record), .out_bytes = g->out_bytes, .per_rank = (int)b,
                          .ctx = g, .read = gen_read, .work = gen_work, .write = gen_write};
    return pcnn_dist_run_rounds(&r) < 0 ? -1 : 0;
}

static void gen_free(gen_run *g)
{
    free(g->x);
    free(g->bpx);
    free(g->blabels);
    free(g->bkeys);
    free(g->bll);
    free(g->px);
    free(g->drawn);
    free(g->ll);
    free(g->given);
}

/* --complete: the first o->n images of DATA into g->given. 0, or -1 (said). */
static int load_given(gen_run *g)
{
    const gen_options *o = g->o;
    pcnn_data_reader *r = pcnn_data_open(o->complete);
    if (!r) return -1;
    int rc = -1;
    if (pcnn_model_file_check_data(g->m, o->model_path, pcnn_data_get_header(r), o->complete)) goto done;
    if (o->rows >= (long)g->m->H) {
        pcnn_warn("--rows %ld: the model's images have %u rows; keep 1..%u of them (usage: -h)", o->rows,
                  g->m->H, g->m->H - 1);
        rc = -2;
        goto done;
    }
    size_t per = (size_t)g->m->H * g->m->W * 3;
    g->given = pcnn_xmalloc(pcnn_mul_size((size_t)o->n, per));
    pcnn_record rec;
    for (long i = 0; i < o->n; i++) {
        int st = pcnn_data_next(r, &rec);
        if (st < 0) goto done;
        if (st == 0) {
            pcnn_warn("%s: has %ld images, -n asks to complete %ld", o->complete, i, o->n);
            goto done;
        }
        memcpy(g->given + (size_t)i * per, rec.pixels, per);
    }
    rc = 0;
done:
    pcnn_data_close(r);
    return rc;
}

/* --complete's grid: one row per given image, the original and then its completion as each
 * class. 0, or -1 (said). */
static int complete_grid(const gen_run *g)
{
    size_t n = (size_t)g->o->n, c = (size_t)g->nclasses, per = g->per;
    uint8_t *cells = pcnn_xmalloc(pcnn_mul_size(n * (c + 1), per));
    for (size_t i = 0; i < n; i++) {
        memcpy(cells + i * (c + 1) * per, g->given + i * per, per);
        memcpy(cells + (i * (c + 1) + 1) * per, g->px + i * c * per, c * per);
    }
    int rc = pcnn_sample_grid_write(g->o->grid, cells, (int)n, (int)(c + 1), (int)g->m->H, (int)g->m->W);
    free(cells);
    return rc;
}

/* Rank 0, after sampling: the grid, the summary, the judge, FID. 0, or -1 (said). */
static int report(gen_run *g, int nclasses, const pcnn_judge *judge)
{
    const gen_options *o = g->o;
    const pcnn_model_file *m = g->m;
    if (o->grid && (g->given ? complete_grid(g)
                             : pcnn_sample_grid_write(o->grid, g->px, nclasses, (int)o->n, (int)m->H, (int)m->W)))
        return -1;
    char extra[160] = "";
    if (o->quality) {   /* the model's own verdict on its samples: argmax accuracy and bits/dim */
        pcnn_tally t = {0};
        pcnn_tally_add(&t, g->ll, g->drawn, g->total, m->K, m->H, m->W, 3);
        snprintf(extra, sizeof extra, "%.1f%% classified as their class, %.4f bits/dim (model's own scoring%s)",
                 100.0 * (double)t.correct / (double)g->total, t.bpd_sum / (double)g->total,
                 g->given ? ", given rows included" : "");
    }
    if (!o->quiet) {
        g->prog.done = g->total;
        pcnn_progress_end(&g->prog, extra);
    }
    if (judge->real && pcnn_judge_samples(judge, m, g->px, g->drawn, g->total, (size_t)o->n)) return -1;
    if (o->fid_against) {
        double fid;
        if (pcnn_fid_run(o->inception, (int)o->fid_dims, o->outdir, o->fid_against, &fid)) return -1;
        fprintf(stderr, "%s: FID %.4f (dims %ld, %s against %s)\n", pcnn_progname, fid, o->fid_dims, o->outdir, o->fid_against);
    }
    if (!o->quiet)
        pcnn_warn("wrote %zu PNGs to %s%s%s", g->total, o->outdir, o->grid ? " and the grid " : "", o->grid ? o->grid : "");
    return 0;
}

int main(int argc, char **argv)
{
    pcnn_init(argv[0]);
    gen_options o;
    parse_options(argc, argv, &o);
    if (o.inception) {   /* the weights checked before the (long) sampling */
        pcnn_inception *inc = pcnn_inception_load(o.inception, (int)o.fid_dims);
        if (!inc) return 1;
        pcnn_inception_free(inc);
    }
    /* With N ranks (dist.h) the ranks share each round of images; rank 0 writes them. */
    if (pcnn_dist_init()) return 1;
    const int rank0 = pcnn_dist_rank() == 0;
    if (!rank0) o.quiet = pcnn_quiet = 1;
    pcnn_model_file *m = pcnn_model_file_read(o.model_path);
    if (!m) return pcnn_dist_exit(1, 0);
    if (!o.use_last && o.use_polyak) pcnn_model_use_best(m);   /* the best epoch on validation */
    int rc = 1, collective = 1, first, nclasses;
    gen_run g = {.o = &o, .m = m};
    pcnn_judge judge = {.real_path = o.judge_path, .val_path = o.ceiling_path, .k = (int)o.judge_k,
                        .out_path = o.judge_out, .quiet = o.quiet};
    pcnn_dataset *real = NULL, *val = NULL;
    if (pick_classes(m, o.model_path, o.cls, &first, &nclasses)) goto out;
    g.first = first;
    g.nclasses = nclasses;
    g.total = (size_t)nclasses * (size_t)o.n;
    if (o.complete) {   /* every rank reads the given images */
        int st = load_given(&g);
        if (st) {
            rc = st == -2 ? PCNN_EXIT_USAGE : 1;
            goto out;
        }
    }
    /* the judge's data, checked before the (long) sampling */
    if (o.judge_path && (!(judge.real = real = pcnn_judge_load(o.judge_path, "--judge", m, (size_t)o.judge_k)) ||
                         (o.ceiling_path && !(judge.val = val = pcnn_judge_load(o.ceiling_path, "--judge-ceiling", m, 1)))))
        goto out;
    collective = 0;
    if (rank0 && pcnn_sample_dir_make(o.outdir)) goto out;
    g.net = o.batch ? pcnn_net_create(m, o.device, (int)o.batch)
                    : pcnn_net_create_batch(m, o.device, GEN_BATCH_CPU, GEN_BATCH_GPU);
    if (!g.net) goto out;
    collective = 1;
    if (sample_all(&g)) goto out;
    rc = rank0 ? (report(&g, nclasses, &judge) ? 1 : 0) : 0;
    rc = pcnn_dist_max_int(rc);   /* rank 0's result is everyone's: the others wait for it */
out:
    gen_free(&g);
    pcnn_net_free(g.net);
    pcnn_dataset_free(real);
    pcnn_dataset_free(val);
    pcnn_model_file_free(m);
    return pcnn_dist_exit(rc, collective);
}
