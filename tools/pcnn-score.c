/* pcnn-score — log p(x | c) for every image and class: model + data file -> score TSV. */
#include "dist.h"
#include "model/fit.h"
#include "model/model.h"
#include "model/net.h"
#include "io/scoretsv.h"
#include "util.h"

#include <getopt.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

static void usage(FILE *fp)
{
    fprintf(fp,
        "usage: pcnn-score [options] MODEL [DATA]\n"
        "\n"
        "Writes the score TSV (SPEC §8): a header 'id<TAB>label<TAB><class names...>', then\n"
        "for every image of DATA (a pcnn data file; '-' or none reads stdin) its id, its\n"
        "label (-1 unknown) and log p(x | c) in nats for every class c, using the model's\n"
        "Polyak-averaged weights when it has them. Memory stays bounded: images are read,\n"
        "scored and written batch by batch.\n"
        "\n"
        "  -o FILE        write to FILE (atomically) instead of stdout\n"
        "  -b N           images per batch (default 16 on the CPU, 128 on a GPU)\n"
        "  --true-label   score only under each image's own label (K times faster; for\n"
        "                 bits/dim): the TSV then has columns id, label, logp, bpd\n"
        "  --no-polyak    use the raw trained weights, not the Polyak average\n"
        "  --last         use the last epoch's weights, not the best epoch on validation\n"
        "                 that pcnn-fit -V keeps (models without it: the same)\n"
        "  --device D     cpu, cuda or auto (default $PCNN_DEVICE, else auto)\n"
        "  -q             no summary on stderr\n"
        "  -h             this help\n"
        "\n"
        "A summary on stderr gives the images, the mean bits/dim under the true label\n"
        "(when labels are known) and images/s. Exit: 0 ok, 1 failure, 2 usage error.\n"
        "On the CPU: PCNN_THREADS=N (or OMP_NUM_THREADS) threads, default all cores;\n"
        "PCNN_ISA=avx2 or scalar: without AVX-512 or SIMD (slower, the same results).\n"
        "mpirun -np N pcnn-score ...: rank 0 reads the data and writes the TSV, every rank\n"
        "scores its share of each round of N batches: the same bytes as one process.\n"
        "\n"
        "example: pcnn-score model.bin < test.bin | pcnn-argmax > predictions.csv\n");
}

enum { OPT_TRUE = 256, OPT_NO_POLYAK, OPT_LAST, OPT_DEVICE };

int main(int argc, char **argv)
{
    pcnn_init(argv[0]);
    if (pcnn_dist_init()) return 1;
    const char *outpath = "-", *device = NULL;
    long batch = 0;   /* 0: the default of the device that runs */
    int use_last = 0, true_only = 0, use_polyak = 1, quiet = 0;
    static const struct option longopts[] = {
        {"true-label", no_argument, 0, OPT_TRUE},
        {"no-polyak", no_argument, 0, OPT_NO_POLYAK},
        {"last", no_argument, 0, OPT_LAST},
        {"device", required_argument, 0, OPT_DEVICE},
        {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0},
    };
    int c;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":o:b:qh", longopts, NULL)) != -1) {
        switch (c) {
        case 'o': outpath = optarg; break;
        case 'b':
            if (pcnn_parse_long(optarg, 1, 65536, &batch)) pcnn_usage_error("-b: expected 1..65536, got '%s'", optarg);
            break;
        case 'q': quiet = pcnn_quiet = 1; break;
        case OPT_TRUE: true_only = 1; break;
        case OPT_NO_POLYAK: use_polyak = 0; break;
        case OPT_LAST: use_last = 1; break;
        case OPT_DEVICE: device = pcnn_device_option(optarg); break;
        case 'h': usage(stdout); return 0;
        default: pcnn_bad_option(c, argv);
        }
    }
    if (optind == argc) pcnn_usage_error("missing MODEL");
    if (argc - optind > 2) pcnn_usage_error("too many operands");
    if (!device) device = pcnn_device_default();
    const char *modelpath = argv[optind];
    const char *datapath = optind + 1 < argc ? argv[optind + 1] : "-";

    /* With N ranks (dist.h) rank 0 reads rounds of N batches and writes the rows; every rank
     * scores its shard of each round. One process is the case N = 1. */
    const int nranks = pcnn_dist_size(), rank0 = pcnn_dist_rank() == 0;
    if (!rank0) quiet = pcnn_quiet = 1;
    pcnn_model_file *m = pcnn_model_file_read(modelpath);
    if (!m) return pcnn_dist_exit(1, 0);
    if (!use_last && use_polyak) pcnn_model_use_best(m);   /* the best epoch on validation */
    int rc = 1, collective = 0;
    pcnn_data_reader *r = NULL;
    pcnn_net *net = NULL;
    pcnn_score_writer *sw = NULL;
    pcnn_outfile *of = NULL;
    uint8_t *px = NULL, *px_all = NULL;
    int32_t *lab = NULL, *lab_all = NULL;
    char **ids = NULL;
    double *ll = NULL, *ll_all = NULL;
    const pcnn_data_header *h = NULL;
    int ok = 1;
    if (rank0) {
        ok = (r = pcnn_data_open(datapath)) != NULL;
        if (ok) h = pcnn_data_get_header(r);
        ok = ok && !pcnn_model_file_check_data(m, modelpath, h, pcnn_display_name(datapath));
    }
    pcnn_dist_bcast(&ok, sizeof ok);
    if (!ok) {
        collective = 1;
        goto out;
    }
    /* batch 0: the scoring default of whichever device runs (net.h) */
    if (!(net = pcnn_net_create(m, device, (int)batch))) goto out;
    if (!batch) batch = pcnn_net_score_batch(net);
    if (rank0 && true_only) {
        if (!(of = pcnn_outfile_open(outpath))) goto out;
        fprintf(of->fp, "id\tlabel\tlogp\tbpd\n");
    } else if (rank0 && !(sw = pcnn_score_create(outpath, m->K, m->class_names))) {
        goto out;
    }
    size_t npix = (size_t)m->H * m->W * m->C, cols = true_only ? 1 : m->K;
    long cap = batch * nranks;   /* images per round */
    px = pcnn_xmalloc(pcnn_mul_size((size_t)batch + 1, npix));
    lab = pcnn_xmalloc(((size_t)batch + 1) * sizeof *lab);
    ll = pcnn_xmalloc(((size_t)batch + 1) * cols * sizeof *ll);
    if (rank0) {
        px_all = pcnn_xmalloc(pcnn_mul_size((size_t)cap, npix));
        lab_all = pcnn_xmalloc((size_t)cap * sizeof *lab_all);
        ids = pcnn_xcalloc((size_t)cap, sizeof *ids);
        ll_all = pcnn_xmalloc((size_t)cap * cols * sizeof *ll_all);
    }
    pcnn_progress prog;
    if (rank0)
        pcnn_progress_start(&prog, "scored", h->count == PCNN_DATA_COUNT_UNKNOWN ? 0 : h->count, "images");
    double bpd_sum = 0;
    uint64_t nlab = 0, ndone = 0;
    int st = 1;
    for (;;) {
        int nb = 0;   /* images of this round; -1: rank 0 failed to read them */
        if (rank0) {
            pcnn_record rec;
            while (nb < cap && st == 1 && (st = pcnn_data_next(r, &rec)) == 1) {
                memcpy(px_all + (size_t)nb * npix, rec.pixels, npix);
                lab_all[nb] = rec.label;
                free(ids[nb]);
                ids[nb] = pcnn_xstrdup(rec.id);
                nb++;
            }
            if (st < 0) nb = -1;
            for (int i = 0; true_only && i < nb; i++)
                if (lab_all[i] < 0) {
                    pcnn_warn("%s: image %s has no label: --true-label needs labelled data", pcnn_display_name(datapath), ids[i]);
                    nb = -1;
                    break;
                }
        }
        pcnn_dist_bcast(&nb, sizeof nb);
        if (nb < 0) {
            collective = 1;
            goto out;
        }
        if (nb == 0) break;
        uint64_t lo, hi;
        pcnn_dist_shard((uint64_t)nb, pcnn_dist_rank(), nranks, &lo, &hi);
        int mine = (int)(hi - lo);
        pcnn_dist_scatter_shards(px_all, (uint64_t)nb, npix, px);
        pcnn_dist_scatter_shards(lab_all, (uint64_t)nb, sizeof *lab, lab);
        if (mine > 0) {
            if (true_only)
                pcnn_net_loglik_labels(net, px, lab, mine, use_polyak, ll);
            else
                pcnn_net_loglik(net, px, mine, use_polyak, ll);
        }
        pcnn_dist_gather_shards(ll, (uint64_t)nb, cols * sizeof *ll, ll_all);
        if (!rank0) continue;
        for (int i = 0; i < nb; i++) {
            const double *row = ll_all + (size_t)i * cols;
            if (true_only) {
                double bpd = pcnn_bits_per_dim(row[0], m->H, m->W, m->C);
                fprintf(of->fp, "%s\t%d\t%.6f\t%.6f\n", ids[i], lab_all[i], row[0], bpd);
                bpd_sum += bpd;
                nlab++;
            } else {
                if (pcnn_score_write(sw, ids[i], lab_all[i], row)) goto out;
                if (lab_all[i] >= 0) {
                    bpd_sum += pcnn_bits_per_dim(row[lab_all[i]], m->H, m->W, m->C);
                    nlab++;
                }
            }
        }
        ndone += (uint64_t)nb;
        pcnn_progress_update(&prog, ndone);
    }
    if (!rank0) {
        rc = 0;
    } else if (true_only) {
        rc = pcnn_outfile_commit(of) ? 1 : 0;
        of = NULL;
    } else {
        rc = pcnn_score_finish(sw) ? 1 : 0;
        sw = NULL;
    }
    rc = pcnn_dist_max_int(rc);   /* rank 0's commit is everyone's result */
    collective = 1;
    if (rc == 0 && !quiet) {
        char extra[128] = "no labels known";
        if (nlab) snprintf(extra, sizeof extra, "mean %.4f bits/dim under the true label (%llu labelled)", bpd_sum / (double)nlab, (unsigned long long)nlab);
        prog.done = ndone;
        pcnn_progress_end(&prog, extra);
    }
out:
    pcnn_score_abort(sw);
    pcnn_outfile_abort(of);
    if (ids)
        for (long i = 0; i < batch * nranks; i++) free(ids[i]);
    free(ids);
    free(px);
    free(px_all);
    free(lab);
    free(lab_all);
    free(ll);
    free(ll_all);
    pcnn_net_free(net);
    pcnn_data_close(r);
    pcnn_model_file_free(m);
    return pcnn_dist_exit(rc, collective);
}
