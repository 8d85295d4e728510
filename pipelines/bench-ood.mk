# make bench-ood — how well log p(x) and the input-complexity score S(x) tell the training
# distribution from others (pipelines/bench-ood.sh; docs/QUALITY.md has the numbers).
# Needs two trained models: one on CPEN 455 (32x32) and one on Fashion-MNIST (28x28, the
# four classes of `make pipeline`), e.g. the model.bin of two `make pipeline` runs.
#   make bench-ood OOD_CPEN_MODEL=runs/cpen455-quick/model.bin \
#                  OOD_FASHION_MODEL=runs/fashion-quick/model.bin [CPEN455=../shared/cpen455]
#                  [OOD_N=519] [OOD_THREADS=1] [OOD_DIR=build/bench-ood]
# Either model may be left out (its half is skipped). A benchmark: never in make test.
OOD_CPEN_MODEL    ?=
OOD_FASHION_MODEL ?=
OOD_N             ?= 519
OOD_THREADS       ?= 1
OOD_DIR           ?= $(BUILD)/bench-ood
CPEN455           ?= ../shared/cpen455

.PHONY: bench-ood
bench-ood: all test-tools
	@BENCH_BIN=$(BUILD)/bin BENCH_TEST_BIN=$(BUILD)/tests/bin BENCH_CPEN455=$(CPEN455) \
	  BENCH_N=$(OOD_N) BENCH_THREADS=$(OOD_THREADS) BENCH_DIR=$(OOD_DIR) \
	  CPEN_MODEL=$(OOD_CPEN_MODEL) FASHION_MODEL=$(OOD_FASHION_MODEL) pipelines/bench-ood.sh
