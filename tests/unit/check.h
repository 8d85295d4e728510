/*
 * check.h — the C unit-test harness: TAP lines on stdout, non-zero exit on any failure.
 *
 *   static void test_roundtrip(void) { CHECK(x == 1); CHECK_NEAR(a, b, 1e-6); }
 *   int main(void) { RUN(test_roundtrip); return check_summary(); }
 *
 * tests/run counts the "ok"/"not ok" lines of every test binary.
 */
#ifndef PCNN_CHECK_H
#define PCNN_CHECK_H

#include <math.h>
#include <stdio.h>

static int check_failures_in_test, check_passed, check_failed, check_number;

#define CHECK(cond)                                                                       \
    do {                                                                                  \
        if (!(cond)) {                                                                    \
            printf("#   %s:%d: CHECK(%s) failed\n", __FILE__, __LINE__, #cond);           \
            check_failures_in_test++;                                                     \
        }                                                                                 \
    } while (0)

/* |a - b| <= tol, printed with both values when it fails. */
#define CHECK_NEAR(a, b, tol)                                                             \
    do {                                                                                  \
        double check_a_ = (a), check_b_ = (b);                                            \
        if (!(fabs(check_a_ - check_b_) <= (tol))) {                                      \
            printf("#   %s:%d: %s = %.9g, %s = %.9g, differ by more than %g\n", __FILE__, \
                   __LINE__, #a, check_a_, #b, check_b_, (double)(tol));                  \
            check_failures_in_test++;                                                     \
        }                                                                                 \
    } while (0)

#define RUN(fn)                                                                           \
    do {                                                                                  \
        check_failures_in_test = 0;                                                       \
        fn();                                                                             \
        check_number++;                                                                   \
        if (check_failures_in_test) {                                                     \
            check_failed++;                                                               \
            printf("not ok %d - %s\n", check_number, #fn);                                \
        } else {                                                                          \
            check_passed++;                                                               \
            printf("ok %d - %s\n", check_number, #fn);                                    \
        }                                                                                 \
        fflush(stdout);                                                                   \
    } while (0)

/* A test that cannot run here (no GPU, no fixture) says why; counted as passed-by-skip. */
#define SKIP(fn, why)                                                                     \
    do {                                                                                  \
        check_number++;                                                                   \
        printf("ok %d - %s # SKIP %s\n", check_number, #fn, why);                         \
    } while (0)

/* check_quiet(1) ... check_quiet(0): the expected error messages between go to /dev/null. */
static inline void check_quiet(int on)
{
    static FILE *saved;
    if (on) {
        saved = stderr;
        stderr = fopen("/dev/null", "w");
    } else {
        fclose(stderr);
        stderr = saved;
    }
}

static inline int check_summary(void)
{
    printf("1..%d\n", check_number);
    return check_failed ? 1 : 0;
}

#endif
