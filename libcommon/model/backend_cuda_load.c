/*
 * backend_cuda_load.c — pcnn_backend_cuda_new (nn_backend.h) for the tools.
 *
 * The CUDA backend lives in a library of its own, lib/pcnn/libpcnn-cuda.so
 * beside bin/ (cuda/, built when the build has CUDA: PCNN_HAVE_CUDA), because
 * loading cuDNN and cuBLAS takes half a second: a tool loads it only when a GPU
 * is asked for (--device cuda or auto) and the CUDA driver reports one. The
 * library's pcnn_cuda_backend_create_at does the rest, on this rank's GPU (the
 * node-local rank of dist.h, mod the visible GPUs); it calls back into the
 * tool for messages (the tools export their symbols: -Wl,--export-dynamic).
 * PCNN_CUDA_LIB=path overrides where the library is looked for.
 *
 * Without CUDA in the build this says so and returns NULL, so "--device cuda"
 * is a clear error and "auto" falls back to the CPU.
 */
#include "model/nn_backend.h"

#include "dist.h"
#include "util.h"

#ifndef PCNN_HAVE_CUDA

pcnn_backend *pcnn_backend_cuda_new(const pcnn_param_table *t, int max_batch, int H, int W)
{
    (void)t;
    (void)max_batch;
    (void)H;
    (void)W;
    pcnn_warn("built without CUDA (rebuild with make GPU=1 on a machine with the CUDA toolkit "
              "and cuDNN)");
    return NULL;
}

#else

#include <dlfcn.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* How many GPUs the CUDA driver sees (0 without a driver or a device), asked
 * of libcuda directly: cheap, and no cuDNN/cuBLAS loaded for nothing. */
static int driver_devices(void)
{
    void *drv = dlopen("libcuda.so.1", RTLD_NOW | RTLD_LOCAL);
    if (!drv) {
        pcnn_note("no CUDA GPU available (no CUDA driver: %s)", dlerror());
        return 0;
    }
    int (*cu_init)(unsigned) = (int (*)(unsigned))dlsym(drv, "cuInit");
    int (*cu_count)(int *) = (int (*)(int *))dlsym(drv, "cuDeviceGetCount");
    int n = 0, rc = cu_init && cu_count ? cu_init(0) : -1;
    if (rc == 0) rc = cu_count(&n);
    if (rc != 0 || n <= 0) {
        pcnn_note("no CUDA GPU available (%s)", rc != 0 ? "the CUDA driver found none or failed to start"
                                                         : "no device found");
        n = 0;
    }
    return n;   /* the driver stays loaded: the runtime uses it */
}

int pcnn_cuda_library_path(char *buf, size_t cap)
{
    const char *env = getenv("PCNN_CUDA_LIB");
    if (env && *env) return snprintf(buf, cap, "%s", env) < (int)cap ? 0 : -1;
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n <= 0) return -1;
    exe[n] = '\0';
    char *slash = strrchr(exe, '/');
    if (!slash) return -1;
    *slash = '\0';   /* the executable's directory, e.g. build/bin or PREFIX/bin */
    return snprintf(buf, cap, "%s/../lib/pcnn/libpcnn-cuda.so", exe) < (int)cap ? 0 : -1;
}

pcnn_backend *pcnn_backend_cuda_new(const pcnn_param_table *t, int max_batch, int H, int W)
{
    static pcnn_backend *(*create)(const pcnn_param_table *, int, int, int, const pcnn_rank_place *);
    if (!create) {
        if (driver_devices() <= 0) return NULL;
        char path[PATH_MAX + 64];
        if (pcnn_cuda_library_path(path, sizeof path)) {
            pcnn_warn("cannot tell where the CUDA backend library is (set PCNN_CUDA_LIB)");
            return NULL;
        }
        void *lib = dlopen(path, RTLD_NOW | RTLD_LOCAL);
        if (!lib) {
            pcnn_warn("cannot load the CUDA backend: %s (set PCNN_CUDA_LIB, or use --device cpu)", dlerror());
            return NULL;
        }
        create = (pcnn_backend * (*)(const pcnn_param_table *, int, int, int, const pcnn_rank_place *))
            dlsym(lib, "pcnn_cuda_backend_create_at");
        if (!create) {
            pcnn_warn("%s: no pcnn_cuda_backend_create_at in it (a stale build? run make)", path);
            return NULL;
        }
    }
    pcnn_rank_place place = {pcnn_dist_rank(), pcnn_dist_size(), pcnn_dist_local_rank(),
                             pcnn_dist_local_size()};
    return create(t, max_batch, H, W, &place);
}

#endif
