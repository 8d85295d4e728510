/* pcnn-pngcmp — a test helper (built into build/tests/bin, never installed): do the first
 * ROWS rows of a PNG hold exactly the pixels of image INDEX of a data file?
 *
 *   pcnn-pngcmp FILE.png DATA INDEX ROWS    INDEX counts from 1; ROWS 0 = every row
 *
 * Exit 0 when they are the same bytes, 1 when not (the first differing row, column and
 * channel on stderr) or on a file error, 2 on a usage error. gen.bats uses it to check that
 * pcnn-gen --complete keeps the given rows. */
#include "io/datafile.h"
#include "io/image.h"
#include "util.h"

#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv)
{
    pcnn_init(argv[0]);
    long index, rows;
    if (argc != 5 || pcnn_parse_long(argv[3], 1, 1L << 40, &index) ||
        pcnn_parse_long(argv[4], 0, PCNN_DATA_MAX_SIDE, &rows))
        pcnn_usage_error("usage: pcnn-pngcmp FILE.png DATA INDEX ROWS (INDEX from 1; ROWS 0 = all)");
    char err[256];
    pcnn_image im = {0};
    if (pcnn_image_load(argv[1], &im, err, sizeof err)) {
        pcnn_warn("%s: %s", argv[1], err);
        return 1;
    }
    pcnn_data_reader *r = pcnn_data_open(argv[2]);
    int rc = 1, st = 0;
    if (!r) goto done;
    const pcnn_data_header *h = pcnn_data_get_header(r);
    if (h->C != 3 || (long)h->H != im.h || (long)h->W != im.w) {
        pcnn_warn("%s is %dx%d RGB, %s holds %ux%ux%u images", argv[1], im.w, im.h, argv[2], h->W, h->H, h->C);
        goto done;
    }
    if (rows == 0) rows = im.h;
    if (rows > im.h) {
        pcnn_warn("ROWS %ld: the images have %d rows", rows, im.h);
        goto done;
    }
    pcnn_record rec;
    for (long i = 0; i < index && (st = pcnn_data_next(r, &rec)) == 1; i++) continue;
    if (st != 1) {
        if (st == 0) pcnn_warn("%s has fewer than %ld images", argv[2], index);
        goto done;
    }
    size_t n = (size_t)rows * (size_t)im.w * 3;
    for (size_t i = 0; i < n; i++)
        if (im.rgb[i] != rec.pixels[i]) {
            size_t row = i / ((size_t)im.w * 3), col = i / 3 % (size_t)im.w;
            pcnn_warn("row %zu, column %zu, channel %zu: %u in %s, %u in image %ld of %s", row, col, i % 3,
                      im.rgb[i], argv[1], rec.pixels[i], index, argv[2]);
            goto done;
        }
    rc = 0;
done:
    pcnn_data_close(r);
    pcnn_image_free(&im);
    return rc;
}
