# make bench-fid — pcnn-fid vs PyTorch running pytorch-fid's recipe on the CPU
# (pipelines/bench-fid.sh): 100 samples + the CPEN 455 test images, random weights.
#   make bench-fid [CPEN455=path] [BENCH_FID_THREADS=N] [BENCH_FID_DIMS=192]
CPEN455           ?= ../shared/cpen455
BENCH_FID_THREADS ?= $(shell nproc)
BENCH_FID_DIMS    ?= 192

.PHONY: bench-fid
bench-fid: $(BUILD)/bin/pcnn-fid
	@BENCH_BIN=$(BUILD)/bin BENCH_DATA=$(CPEN455) BENCH_THREADS=$(BENCH_FID_THREADS) \
	  BENCH_DIMS=$(BENCH_FID_DIMS) pipelines/bench-fid.sh
