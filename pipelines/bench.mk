# make bench — CPU speed of pcnn beside the PyTorch reference (tests/reference/
# bench_torch.py), same machine, same threads, one run; prints a table, then where the
# time of a training step and of a scoring batch goes (bench_cpu -p, nn_prof.h).
#   make bench [BENCH_CONFIGS="1,40,5 2,80,10"] [BENCH_BATCH=32] [BENCH_THREADS=2] [BENCH_SECONDS=3]
#              [BENCH_ROUNDS=2]   rounds of pcnn then PyTorch; the table keeps each side's best
BENCH_CONFIGS ?= 1,40,5 2,80,10
BENCH_BATCH   ?= 32
BENCH_THREADS ?= $(shell nproc)
BENCH_SECONDS ?= 3
BENCH_ROUNDS  ?= 2

$(BUILD)/bench/bench_cpu: $(BUILD)/tests/bench/bench_cpu.o $(LIBPCNN)
	@mkdir -p $(@D)
	$(call say,LINK,$@)$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

.PHONY: bench
bench: $(BUILD)/bench/bench_cpu
	@BENCH_BIN=$(BUILD)/bench/bench_cpu BENCH_CONFIGS="$(BENCH_CONFIGS)" BENCH_BATCH=$(BENCH_BATCH) \
	  BENCH_THREADS=$(BENCH_THREADS) BENCH_SECONDS=$(BENCH_SECONDS) BENCH_ROUNDS=$(BENCH_ROUNDS) \
	  pipelines/bench.sh
