/* threads.c — thread policy of the CPU network (see threads.h). */
#include "threads.h"

#include "util.h"

#include <omp.h>
#include <stdlib.h>

/* OpenBLAS's own thread pool (cblas.h declares it only in OpenBLAS's copy). */
void openblas_set_num_threads(int num_threads);

int pcnn_threads_init(void)
{
    static int done;
    if (!done) {
        done = 1;
        const char *s = getenv("PCNN_THREADS");
        long v;
        if (s && *s) {
            if (pcnn_parse_long(s, 1, 1024, &v))
                pcnn_warn("PCNN_THREADS=%s: not a thread count from 1 to 1024, ignored", s);
            else
                omp_set_num_threads((int)v);
        }
        if (!getenv("OPENBLAS_NUM_THREADS")) openblas_set_num_threads(1);
    }
    return omp_get_max_threads();
}
