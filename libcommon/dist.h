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

#endif
