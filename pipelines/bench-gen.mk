# make bench-gen — sampling speed, naive vs cached sampler (tests/bench/bench_gen.c):
# 100 images (25 per class, K = 4), 32x32, CPU. The naive time is H*W passes times
# one timed pass (a full naive run takes hours); a real naive run on NAIVE images
# (R,F,M:NAIVE) checks the bytes.
#   make bench-gen [BENCH_GEN_CONFIGS="1,40,5:1 2,80,10"] [BENCH_GEN_IMAGES=100]
#                  [BENCH_GEN_BATCH=32] [BENCH_GEN_PASSES=8] [BENCH_GEN_THREADS=2]
BENCH_GEN_CONFIGS ?= 1,40,5:1 2,80,10
BENCH_GEN_IMAGES  ?= 100
BENCH_GEN_BATCH   ?= 32
BENCH_GEN_PASSES  ?= 8
BENCH_GEN_THREADS ?= $(shell nproc)

$(BUILD)/bench/bench_gen: $(BUILD)/tests/bench/bench_gen.o $(LIBPCNN)
	@mkdir -p $(@D)
	$(call say,LINK,$@)$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

.PHONY: bench-gen
bench-gen: $(BUILD)/bench/bench_gen
	OMP_NUM_THREADS=$(BENCH_GEN_THREADS) OPENBLAS_NUM_THREADS=$(BENCH_GEN_THREADS) \
	  $(BUILD)/bench/bench_gen -n $(BENCH_GEN_IMAGES) -p $(BENCH_GEN_PASSES) -b $(BENCH_GEN_BATCH) $(BENCH_GEN_CONFIGS)
