/* test_rounds.c — pcnn_dist_run_rounds (dist.h): records reach work in shards, results come
 * back to write in read order, and a failure of read or write on rank 0 stops every rank.
 * Runs as one process in make test, and as N ranks under mpirun (tests/bats/mpi.bats): each
 * rank checks what it saw, rank 0 what it wrote. */
#include "check.h"
#include "dist.h"
#include "util.h"

#include <stdint.h>
#include <string.h>

/* A stream of n records, record i the uint32 i; work's result is (i * i, its rank). */
typedef struct stream {
    uint32_t n, next;     /* rank 0: records read so far */
    uint32_t written;     /* rank 0: results written, checked in order */
    int fail_read_at;     /* read returns -1 when next reaches it (-1: never) */
    int fail_write_at;    /* write returns -1 at the round holding it (-1: never) */
    int rounds_read, rounds_written, worked, max_n, order_ok, ranks_seen;
} stream;

typedef struct result {
    uint64_t square;
    int32_t rank, pad;
} result;

static int read_cb(void *ctx, void *in, int cap)
{
    stream *s = ctx;
    uint32_t *rec = in;
    if (s->fail_read_at >= 0 && s->next >= (uint32_t)s->fail_read_at) return -1;
    int nb = 0;
    while (nb < cap && s->next < s->n) rec[nb++] = s->next++;
    if (nb) s->rounds_read++;
    return nb;
}

static void work_cb(void *ctx, const void *in, int n, void *out)
{
    stream *s = ctx;
    const uint32_t *rec = in;
    result *r = out;
    for (int i = 0; i < n; i++) r[i] = (result){(uint64_t)rec[i] * rec[i], pcnn_dist_rank(), 0};
    s->worked += n;
    if (n > s->max_n) s->max_n = n;
}

static int write_cb(void *ctx, const void *in, const void *out, int n)
{
    stream *s = ctx;
    const uint32_t *rec = in;
    const result *r = out;
    int fail = 0;
    for (int i = 0; i < n; i++, s->written++) {
        if (rec[i] != s->written || r[i].square != (uint64_t)s->written * s->written) s->order_ok = 0;
        s->ranks_seen |= 1 << r[i].rank;
        if ((int)s->written == s->fail_write_at) fail = 1;
    }
    s->rounds_written++;
    return fail ? -1 : 0;
}

static int64_t run(stream *s, int per_rank)
{
    pcnn_dist_rounds r = {.in_bytes = sizeof(uint32_t), .out_bytes = sizeof(result), .per_rank = per_rank,
                          .ctx = s, .read = read_cb, .work = work_cb, .write = write_cb};
    return pcnn_dist_run_rounds(&r);
}

static stream make(uint32_t n)
{
    return (stream){.n = n, .fail_read_at = -1, .fail_write_at = -1, .order_ok = 1};
}

/* 10 records, 3 per rank: every record worked once, written in order, each rank's share at
 * most its batch; with N ranks every rank took part. */
static void test_all_records_in_order(void)
{
    int N = pcnn_dist_size(), rank0 = pcnn_dist_rank() == 0;
    stream s = make(10);
    CHECK(run(&s, 3) == 10);
    CHECK(s.max_n <= 3);
    CHECK(s.worked >= 1);
    if (rank0) {
        CHECK(s.written == 10 && s.order_ok);
        CHECK(s.rounds_read == (int)((10 + 3 * N - 1) / (3 * N)));
        CHECK(s.rounds_written == s.rounds_read);
        if (N > 1) CHECK(s.ranks_seen == (1 << N) - 1);
    }
}

/* An empty stream: no round, 0 records, nothing worked. */
static void test_empty(void)
{
    stream s = make(0);
    CHECK(run(&s, 4) == 0);
    CHECK(s.worked == 0 && s.rounds_written == 0);
}

/* read fails in the second round: -1 on every rank, that round never worked or written. */
static void test_read_failure(void)
{
    int N = pcnn_dist_size(), rank0 = pcnn_dist_rank() == 0;
    stream s = make(100);
    s.fail_read_at = 2 * N;   /* after the first round of 2 per rank */
    CHECK(run(&s, 2) == -1);
    if (rank0) CHECK(s.rounds_written == 1 && s.written == (uint32_t)(2 * N));
}

/* write fails in the first round: -1 on every rank, no further round read. */
static void test_write_failure(void)
{
    int rank0 = pcnn_dist_rank() == 0;
    stream s = make(100);
    s.fail_write_at = 0;
    CHECK(run(&s, 2) == -1);
    if (rank0) CHECK(s.rounds_read == 1 && s.rounds_written == 1);
}

int main(int argc, char **argv)
{
    (void)argc;
    pcnn_init(argv[0]);
    if (pcnn_dist_init()) return 1;
    RUN(test_all_records_in_order);
    RUN(test_empty);
    RUN(test_read_failure);
    RUN(test_write_failure);
    return pcnn_dist_exit(check_summary(), 1);
}
