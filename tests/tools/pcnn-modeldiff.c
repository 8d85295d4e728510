/* pcnn-modeldiff — a test helper: how far apart two model files' tensors are.
 *
 *   pcnn-modeldiff [-t TOL] [-m TOL_ADAM] A.bin B.bin
 *
 * For every tensor of A (B must have the same names and shapes) the normalised error
 * max |a - b| / max |a| (ggml's test-backend-ops style: one number per tensor, blind to
 * where in the tensor the error is); prints the worst tensor of each kind (parameters,
 * polyak., adam_m., adam_v., best.) and "identical" when every float has the same bits.
 * Exit 0 when the worst normalised error is <= TOL (default 0: identical bits; the Adam
 * moments against TOL_ADAM, default TOL: near-zero gradients make their relative error the
 * larger), 1 otherwise
 * or on a bad file, 2 on a usage error. The data-parallel tests (tests/bats/mpi.bats) use
 * it for the contract of docs/SCALE.md. */
#include "io/modelfile.h"
#include "util.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *kinds[] = {"polyak.", "adam_m.", "adam_v.", "best.", ""};
enum { NKIND = 5 };

static int kind_of(const char *name)
{
    for (int k = 0; k < NKIND - 1; k++)
        if (!strncmp(name, kinds[k], strlen(kinds[k]))) return k;
    return NKIND - 1;
}

int main(int argc, char **argv)
{
    pcnn_init(argv[0]);
    double tol = 0, tol_adam = -1;
    int c;
    while ((c = getopt(argc, argv, "t:m:h")) != -1) {
        if (c == 't' && !pcnn_parse_double(optarg, 0, 1e30, &tol)) continue;
        if (c == 'm' && !pcnn_parse_double(optarg, 0, 1e30, &tol_adam)) continue;
        if (c == 'h') {
            printf("usage: pcnn-modeldiff [-t TOL] [-m TOL_ADAM] A.bin B.bin\n");
            return 0;
        }
        pcnn_usage_error("usage: pcnn-modeldiff [-t TOL] [-m TOL_ADAM] A.bin B.bin");
    }
    if (tol_adam < 0) tol_adam = tol;
    if (argc - optind != 2) pcnn_usage_error("expected two model files");
    pcnn_model_file *a = pcnn_model_file_read(argv[optind]);
    pcnn_model_file *b = a ? pcnn_model_file_read(argv[optind + 1]) : NULL;
    if (!a || !b) {
        pcnn_model_file_free(a);
        return 1;
    }
    double worst[NKIND] = {0};
    const char *worst_name[NKIND] = {0};
    int identical = a->ntensors == b->ntensors, rc = 0;
    for (uint32_t i = 0; i < a->ntensors; i++) {
        const pcnn_tensor *ta = &a->tensors[i];
        const pcnn_tensor *tb = pcnn_model_file_find(b, ta->name);
        if (!tb || tb->n != ta->n) {
            pcnn_warn("%s: tensor %s missing or of another size in %s", argv[optind], ta->name,
                      argv[optind + 1]);
            rc = 1;
            continue;
        }
        double amax = 0, dmax = 0;
        for (size_t j = 0; j < ta->n; j++) {
            amax = fmax(amax, fabs(ta->data[j]));
            dmax = fmax(dmax, fabs((double)ta->data[j] - tb->data[j]));
        }
        if (memcmp(ta->data, tb->data, ta->n * sizeof *ta->data)) identical = 0;
        double e = dmax == 0 ? 0 : amax > 0 ? dmax / amax : INFINITY;
        int k = kind_of(ta->name);
        if (e >= worst[k] && (e > 0 || !worst_name[k])) {
            worst[k] = e;
            worst_name[k] = ta->name;
        }
    }
    for (int k = 0; k < NKIND; k++) {
        if (!worst_name[k]) continue;
        int adam = k == 1 || k == 2;
        int over = worst[k] > (adam ? tol_adam : tol);
        printf("%-10s worst normalised error %.3g (%s)%s\n", kinds[k][0] ? kinds[k] : "params",
               worst[k], worst_name[k], over ? " over the tolerance" : "");
        if (over) rc = 1;
    }
    printf("%s\n", identical && !rc ? "identical" : "different");
    pcnn_model_file_free(a);
    pcnn_model_file_free(b);
    return rc;
}
