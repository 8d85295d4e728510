/*
 * dist.h — the collectives of data parallelism (docs/SCALE.md): pcnn-fit, pcnn-score and
 * pcnn-gen started N times by mpirun or srun split their work by rank and meet here. This is
 * the only module that talks to MPI; built without MPI (make MPI=0), or started without a
 * launcher, it is one rank of one and every call below is a no-op, so the tools are what they
 * were.
 *
 *   pcnn_init(argv[0]);
 *   pcnn_dist_init();                           // MPI_Init when a launcher started us
 *   uint64_t lo, hi;
 *   pcnn_dist_shard(n, pcnn_dist_rank(), pcnn_dist_size(), &lo, &hi);   // my images
 *   ... work on [lo, hi) ...
 *   pcnn_dist_sum_floats(grads, nparams);       // the same bits on every rank
 *   return pcnn_dist_exit(rc, 1);               // MPI_Finalize (or MPI_Abort on a lone failure)
 *
 * Reductions have a fixed order: the sum of rank values is ((v0 + v1) + v2) + ... in rank
 * order, whatever algorithm the MPI library would pick, so a run is the same bits for the same
 * rank count on any network (MPI_Allreduce promises no order). A rank that dies ends the job:
 * Open MPI's mpirun kills the others (its default), a rank that exits on an error without the
 * others calls MPI_Abort (pcnn_dist_exit, and an atexit hook for pcnn_die and usage errors).
 * On GPUs the gradients are summed by the devices' own collective (NCCL), bootstrapped here
 * (pcnn_dist_device_join below), in the same order.
 */
#ifndef PCNN_DIST_H
#define PCNN_DIST_H

#include <stddef.h>
#include <stdint.h>

/* Starts MPI when the process was started by a launcher (Open MPI's mpirun, srun, Hydra:
 * their environment variables say so) and the build has MPI; PCNN_MPI=0 keeps one process.
 * On ranks other than 0 the program name in messages becomes "prog[rank]". Returns 0, or
 * -1 when started by a launcher with N > 1 ranks but built without MPI (printed: each of
 * the N copies would redo the whole job). */
int pcnn_dist_init(void);
int pcnn_dist_rank(void);
int pcnn_dist_size(void);
/* "MPI" when built with it, "none" otherwise (for messages and the bench). */
const char *pcnn_dist_library(void);

/* Ends the rank: rc 0, or an rc every rank reached together (collective = 1): MPI_Finalize
 * and rc. A failure of this rank alone (collective = 0, rc != 0, N > 1): MPI_Abort(rc), which
 * ends every rank (none is left waiting in a collective). Returns rc. */
int pcnn_dist_exit(int rc, int collective);

/* Contiguous share [lo, hi) of n items for rank r of N: sizes differ by at most one, the
 * first ranks holding the larger shares. */
void pcnn_dist_shard(uint64_t n, int r, int N, uint64_t *lo, uint64_t *hi);

/* buf[i] <- sum over ranks of buf[i], summed in rank order, the same bits on every rank.
 * Bandwidth-optimal: a reduce-scatter as one all-to-all (rank j sums piece j of every rank)
 * and an all-gather, 2 (N - 1) / N · n · 4 bytes sent per rank. */
void pcnn_dist_sum_floats(float *buf, size_t n);
/* all (N x n) <- every rank's mine (n), in rank order. */
void pcnn_dist_allgather_doubles(const double *mine, int n, double *all);
/* Rank r's items [lo_r, hi_r) of n (pcnn_dist_shard) of per doubles each, mine on this rank,
 * into all (n x per) on every rank. */
void pcnn_dist_allgather_shards(const double *mine, uint64_t n, size_t per, double *all);
/* The same into out on rank 0 only (others may pass NULL), for bytes. */
void pcnn_dist_gather_shards(const void *mine, uint64_t n, size_t per_bytes, void *out);
/* Rank 0's bytes to every rank. */
void pcnn_dist_bcast(void *buf, size_t bytes);
/* Rank 0's n items of per_bytes (all, read on rank 0 only): rank r receives its shard
 * [lo_r, hi_r) (pcnn_dist_shard) into mine. */
void pcnn_dist_scatter_shards(const void *all, uint64_t n, size_t per_bytes, void *mine);
/* The largest v over ranks. */
int pcnn_dist_max_int(int v);

/* Seconds spent inside the collectives above since the start (for the bench and the log). */
double pcnn_dist_seconds(void);

/* This rank's index among the ranks on its host (MPI_COMM_TYPE_SHARED), and their number;
 * 0 and 1 for one process. The CUDA backend takes GPU local_rank mod (visible GPUs). */
int pcnn_dist_local_rank(void);
int pcnn_dist_local_size(void);

/*
 * A device's own collective (NCCL on CUDA GPUs: cuda/nccl_reduce.cu), which the training loop
 * uses instead of pcnn_dist_sum_floats when every rank has one: the gradients are summed in
 * device memory, without the copies to the host and back. The backend fills one in
 * (pcnn_net_device_coll, net.h); this module bootstraps it over MPI (rank 0 makes the group's
 * id, MPI_Bcast carries its bytes, every rank joins) and calls it. The sum has
 * pcnn_dist_sum_floats's order, so the two paths give the same bits.
 *
 *   int on_dev = pcnn_dist_device_join(pcnn_net_device_coll(net), quiet);   // collective
 *   ... a step ...
 *   if (on_dev) pcnn_dist_sum_device_floats(pcnn_net_grads_device(net), n);
 *   else        host copy, pcnn_dist_sum_floats, upload
 *   pcnn_dist_device_leave();                   // before the net is freed
 */
enum { PCNN_DIST_ID_MAX = 256, PCNN_DIST_NAME_MAX = 64 };
typedef struct pcnn_dist_device {
    void *ctx;
    size_t id_bytes;   /* bytes of the group's id, at most PCNN_DIST_ID_MAX */
    /* Loads what the collective needs: NULL when usable, with name ("NCCL 2.28.3") and gpu
     * (the device's unique id: two ranks on one GPU cannot form a group) filled in; else why
     * not, for the fallback's note. */
    const char *(*open)(void *ctx, char name[PCNN_DIST_NAME_MAX], char gpu[PCNN_DIST_NAME_MAX]);
    void (*make_id)(void *ctx, void *id);                         /* rank 0; dies on failure */
    void (*join)(void *ctx, const void *id, int rank, int nranks);   /* every rank; dies on failure */
    /* buf (n floats, device memory) <- the sum over ranks, ((v0 + v1) + v2) + ... in rank order,
     * the same bits on every rank; queued on the device's stream */
    void (*sum_floats)(void *ctx, float *buf, size_t n);
    void (*wait)(void *ctx);   /* until the device's queued work is done (dies on its error) */
} pcnn_dist_device;

/* Collective. dev: this rank's device collective, NULL for none (the CPU). Returns 1 when every
 * rank has a usable one, each on its own device, and all joined one group; 0 otherwise, and
 * then, where some rank runs on a device, rank 0 says in one line (unless quiet) why the
 * gradients go through host memory. PCNN_TEST_DEVICE_COLL=1|shared|unavailable (the tests,
 * check-gpu.sh's dry run) gives a rank without one a stand-in that sums host memory over MPI:
 * each on its own "device", all on one, or usable on rank 0 only. */
int pcnn_dist_device_join(const pcnn_dist_device *dev, int quiet);
/* The joined group's sum (pcnn_dist_device_join returned 1), timed with the collectives. */
void pcnn_dist_sum_device_floats(float *buf, size_t n);
/* The joined group's name ("NCCL 2.28.3"), or pcnn_dist_library() when none is joined. */
const char *pcnn_dist_device_name(void);
/* Forgets the joined group (call before its backend is freed, which frees the group). */
void pcnn_dist_device_leave(void);

/*
 * Work on a stream of records in rounds, shared by the ranks (pcnn-score, pcnn-gen and
 * pcnn-fit's validation; one protocol instead of one per tool). Each round:
 *   rank 0 reads up to per_rank x N records (N ranks);
 *   rank r receives shard r of them (pcnn_dist_shard: contiguous, in order) and works on it;
 *   rank 0 gets every result back and writes the round, records in read order.
 * So a round of one process is one batch of per_rank records, and a round of N ranks is N
 * such batches side by side: the same batches one process would make, in the same order.
 * One process (or a build without MPI) runs read, work and write on the same buffers, no
 * copies. Records are plain bytes (their layout is the caller's: use memcpy for any field
 * that needs an alignment the record size does not give).
 *
 *   pcnn_dist_rounds r = {.in_bytes = npix + 4, .out_bytes = K * 8, .per_rank = batch,
 *                         .ctx = &s, .read = read_images, .work = score, .write = write_rows};
 *   if (pcnn_dist_run_rounds(&r) < 0) ... every rank: rank 0 said why
 */
typedef struct pcnn_dist_rounds {
    size_t in_bytes;    /* one record as read (>= 1) */
    size_t out_bytes;   /* one record's result (>= 1) */
    int per_rank;       /* records one rank works on at once: its batch (>= 1) */
    void *ctx;
    /* rank 0: up to cap records into in; their number, 0 at the end of the stream, or -1
     * after a message (the round is not worked on; every rank stops) */
    int (*read)(void *ctx, void *in, int cap);
    /* every rank: its n records (1 <= n <= per_rank) -> their n results */
    void (*work)(void *ctx, const void *in, int n, void *out);
    /* rank 0: the round's n records and results in read order; 0, or -1 after a message
     * (every rank stops before the next round) */
    int (*write)(void *ctx, const void *in, const void *out, int n);
} pcnn_dist_rounds;

/* Collective: runs rounds until read says the end. Returns the records done, or -1 on every
 * rank when rank 0's read or write failed. */
int64_t pcnn_dist_run_rounds(const pcnn_dist_rounds *r);

#endif
