# make bench-mpi: 1 rank x 2 threads against 2 ranks x 1 thread on this machine (train and
# score images/s, collectives per step); pipelines/bench-mpi.sh, docs/SCALE.md.
BENCH_MPI_CONFIGS ?= 1,40,5
BENCH_MPI_STEPS   ?= 4
BENCH_MPI_THREADS ?= 2
.PHONY: bench-mpi
bench-mpi: all test-tools
	@PCNN_BIN=$(BUILD)/bin PCNN_TEST_BIN=$(BUILD)/tests/bin BENCH_MPI_CONFIGS="$(BENCH_MPI_CONFIGS)" \
	  BENCH_MPI_STEPS=$(BENCH_MPI_STEPS) BENCH_MPI_THREADS=$(BENCH_MPI_THREADS) pipelines/bench-mpi.sh
