/*
 * test_cuda_load.c — the CUDA backend library (lib/pcnn/libpcnn-cuda.so, see
 * libcommon/model/backend_cuda_load.c) loads into a pcnn program with every symbol
 * resolved (its CUDA libraries through its rpath, the pcnn_* messages from the
 * program), and its entry point exists and says no rather than crashing when
 * there is no GPU. The tools load it the same way, only when a GPU is there;
 * this checks, on any machine, that they could. Skips in a build without CUDA.
 */
#include "check.h"
#include "model/nn_backend.h"
#include "model/params.h"
#include "util.h"

#ifdef PCNN_HAVE_CUDA
#include <dlfcn.h>
#include <limits.h>
#include <string.h>

static void *lib;

static void test_library_loads(void)
{
    char path[PATH_MAX + 64];
    CHECK(pcnn_cuda_library_path(path, sizeof path) == 0);   /* the tools' own lookup */
    printf("# %s\n", path);
    lib = dlopen(path, RTLD_NOW | RTLD_LOCAL);   /* RTLD_NOW: every symbol, now */
    if (!lib) printf("#   dlopen %s: %s\n", path, dlerror());
    CHECK(lib != NULL);
}

static void test_entry_point(void)
{
    if (!lib) {
        CHECK(lib != NULL);
        return;
    }
    pcnn_backend *(*create)(const pcnn_param_table *, int, int, int) =
        (pcnn_backend * (*)(const pcnn_param_table *, int, int, int)) dlsym(lib, "pcnn_cuda_backend_create");
    CHECK(create != NULL);
    if (!create) return;
    /* the tools' entry point: on the GPU of a rank (pcnn_backend_cuda_new) */
    pcnn_backend *(*create_at)(const pcnn_param_table *, int, int, int, const pcnn_rank_place *) =
        (pcnn_backend * (*)(const pcnn_param_table *, int, int, int, const pcnn_rank_place *))
            dlsym(lib, "pcnn_cuda_backend_create_at");
    CHECK(create_at != NULL);
    pcnn_param_table *t = pcnn_params_build(1, 4, 2, 2, 0, 0, 0);
    pcnn_backend *be = create(t, 2, 8, 8);   /* a GPU: a backend; none: NULL and a message */
    printf("# pcnn_cuda_backend_create: %s\n", be ? "a GPU backend" : "NULL (no GPU here)");
    if (be) {
        CHECK(!strcmp(be->name, "cuda"));
        CHECK(be->coll != NULL);   /* the NCCL sum's functions, whether or not NCCL is built */
        be->destroy(be);
    }
    if (create_at) {
        pcnn_rank_place one = {0, 1, 0, 1};
        be = create_at(t, 2, 8, 8, &one);
        if (be) be->destroy(be);
    }
    pcnn_params_free(t);
}
#else
/* Without CUDA in the build, asking for the backend is a clear no. */
static void test_no_cuda_says_no(void)
{
    pcnn_param_table *t = pcnn_params_build(1, 4, 2, 2, 0, 0, 0);
    CHECK(pcnn_backend_cuda_new(t, 2, 8, 8) == NULL);
    pcnn_params_free(t);
}
#endif

int main(void)
{
    pcnn_init("test_cuda_load");
#ifdef PCNN_HAVE_CUDA
    RUN(test_library_loads);
    RUN(test_entry_point);
#else
    RUN(test_no_cuda_says_no);
    SKIP(test_library_loads, "built without CUDA (make GPU=1 with the CUDA toolkit and cuDNN)");
#endif
    return check_summary();
}
