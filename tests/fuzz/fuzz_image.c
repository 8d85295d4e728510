/*
 * fuzz_image — libFuzzer harness of the image decode path (libcommon/io/image.c):
 * PNG through libpng and JPEG through libjpeg, as pcnn-prep calls them.
 *
 * The input is the bytes of one image file, decoded from memory
 * (pcnn_image_decode; pcnn_image_load only adds the file reading). A decoded
 * image must be within the size limits, every one of its h·w·3 bytes readable;
 * a refused one must say why. The size limits (PCNN_IMAGE_MAX_PIXELS) admit
 * images of up to 300 MB, so run with -rss_limit_mb of at least 2048.
 * Seeds: tests/fuzz/corpus/fuzz_image (make_corpus.sh).
 */
#include "io/image.h"
#include "fuzz_common.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    fuzz_quiet();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t n)
{
    pcnn_image im;
    char err[PCNN_IMAGE_ERRLEN] = "";
    if (pcnn_image_decode(data, n, &im, err, sizeof err) == 0) {
        if (im.w < 1 || im.h < 1 || (unsigned)im.w > PCNN_IMAGE_MAX_SIDE ||
            (unsigned)im.h > PCNN_IMAGE_MAX_SIDE ||
            (uint64_t)im.w * (uint64_t)im.h > PCNN_IMAGE_MAX_PIXELS || !im.rgb)
            abort();
        size_t nb = (size_t)im.w * im.h * 3;
        unsigned sum = 0;
        for (size_t i = 0; i < nb; i++) sum += im.rgb[i];
        (void)sum;
        pcnn_image_free(&im);
    } else {
        if (!err[0] || im.rgb) abort();
    }
    return 0;
}
