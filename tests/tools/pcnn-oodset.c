/* pcnn-oodset — a helper of make bench-ood (built into build/tests/bin, never installed):
 * a data file of images unlike the training data, made from a data file IN so that it has
 * IN's size, classes and record count (a model made for IN scores it).
 *
 *   pcnn-oodset flip IN OUT          every image of IN upside down (rows reversed), labels kept
 *   pcnn-oodset noise IN OUT [SEED]  uniform random bytes, labels unknown (-1)
 *   pcnn-oodset constant IN OUT [SEED]  one uniform random colour per image, labels unknown
 *   pcnn-oodset gray IN OUT [SEED]   one uniform random gray level per image (R = G = B),
 *                                    labels unknown
 *
 * The same SEED (default 1) gives the same bytes. Exit 0, 1 on a file error, 2 on a usage
 * error. */
#include "io/datafile.h"
#include "util.h"

#include <stdlib.h>
#include <string.h>

static void usage(FILE *fp)
{
    fprintf(fp, "usage: pcnn-oodset flip|noise|constant|gray IN OUT [SEED]\n"
                "  flip: IN's images upside down; noise: uniform random bytes; constant: one\n"
                "  random colour per image; gray: one random gray level per image.\n"
                "  OUT has IN's size, classes and image count.\n");
}

/* splitmix64 (Steele et al. 2014), as pcnn-mkdata */
static uint64_t next_u64(uint64_t *s)
{
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

int main(int argc, char **argv)
{
    pcnn_init(argv[0]);
    if (argc == 2 && !strcmp(argv[1], "-h")) {
        usage(stdout);
        return pcnn_close_stdout() ? 1 : 0;
    }
    if (argc < 4 || argc > 5) pcnn_usage_error("expected MODE IN OUT [SEED] (-h for help)");
    const char *mode = argv[1];
    int flip = !strcmp(mode, "flip"), noise = !strcmp(mode, "noise"), constant = !strcmp(mode, "constant"),
        gray = !strcmp(mode, "gray");
    if (!flip && !noise && !constant && !gray)
        pcnn_usage_error("mode '%s' is not flip, noise, constant or gray", mode);
    uint64_t seed = 1;
    if (argc == 5 && pcnn_parse_u64(argv[4], &seed)) pcnn_usage_error("bad seed '%s'", argv[4]);
    pcnn_input in[] = {{"the input", argv[2]}};
    if (pcnn_output_not_input(argv[3], "the output", in, 1)) return PCNN_EXIT_USAGE;

    pcnn_data_reader *r = pcnn_data_open(argv[2]);
    if (!r) return 1;
    const pcnn_data_header *h = pcnn_data_get_header(r);
    pcnn_data_header oh = *h;
    oh.count = PCNN_DATA_COUNT_UNKNOWN;
    const size_t row = (size_t)h->W * h->C, npix = row * h->H;
    uint8_t *px = pcnn_xmalloc(npix);
    int rc = 1, st;
    pcnn_data_writer *w = pcnn_data_create(argv[3], &oh);
    if (!w) goto done;
    uint64_t s = seed;
    pcnn_record rec;
    while ((st = pcnn_data_next(r, &rec)) == 1) {
        int32_t label = flip ? rec.label : -1;
        if (flip) {
            for (uint32_t y = 0; y < h->H; y++)
                memcpy(px + (size_t)y * row, rec.pixels + (size_t)(h->H - 1 - y) * row, row);
        } else if (noise) {
            for (size_t j = 0; j < npix; j++) px[j] = (uint8_t)(next_u64(&s) >> 56);
        } else {
            uint8_t colour[16];
            for (uint32_t c = 0; c < h->C && c < 16; c++)
                colour[c] = gray && c ? colour[0] : (uint8_t)(next_u64(&s) >> 56);
            for (size_t j = 0; j < npix; j++) px[j] = colour[(j % h->C) % 16];
        }
        char id[PCNN_DATA_MAX_ID + 1];
        snprintf(id, sizeof id, "%s/%.4000s", mode, rec.id);
        if (pcnn_data_write(w, id, label, px)) {
            pcnn_data_abort(w);
            goto done;
        }
    }
    if (st < 0) {
        pcnn_data_abort(w);
        goto done;
    }
    rc = pcnn_data_finish(w) ? 1 : 0;
done:
    free(px);
    pcnn_data_close(r);
    if (rc == 0 && pcnn_close_stdout()) rc = 1;
    return rc;
}
