# pipelines/fuzz.mk — libFuzzer harnesses of every parser (tests/fuzz/fuzz_*.c), with
# ASan + UBSan; fault-free replay of the committed corpus and crash inputs; valgrind.
#
#   make fuzz [FUZZ_SECONDS=60]      build with clang, fuzz each harness FUZZ_SECONDS,
#                                    fail on any crash, leak, timeout or memory blow-up
#   make fuzz-smoke                  the CI version: FUZZ_SMOKE_SECONDS (3) each, after
#                                    replaying tests/fuzz/corpus and tests/fuzz/regressions
#   make fuzz-replay                 no libFuzzer: the harnesses with a plain main
#                                    (tests/fuzz/replay_main.c), built by $(CC) with
#                                    ASan + UBSan, run once on every corpus/regression file
#   make check-valgrind              pcnn-score on a tiny model under valgrind: no leak, no error
#   make fuzz-corpus                 remake the seed corpus (tests/fuzz/make_corpus.sh)
#
# Everything goes to FUZZ_BUILD (default fuzz-out/, ignored by git): lib/ and bin/
# (libFuzzer build), replay/, work/<harness>/ (inputs the fuzzer found, kept between
# runs), artifacts/<harness>/ (crash-*, leak-*, timeout-*, oom-* inputs), logs/.
# A crash input goes to tests/fuzz/regressions/<harness>/ with its fix (see
# tests/fuzz/README.md).

FUZZ_CC            ?= clang
FUZZ_BUILD         ?= fuzz-out
FUZZ_SECONDS       ?= 60
FUZZ_SMOKE_SECONDS ?= 3
FUZZ_RSS_MB        ?= 2560
FUZZ_TIMEOUT       ?= 10
FUZZ_HARNESSES     := datafile modelfile manifest idx scoretsv prior calibration image pth
# the parsers and what they need; nothing of the network
FUZZ_LIB_NAMES     := util io/datafile io/modelfile io/manifest io/idx io/scoretsv io/calibration io/image io/pth io/pth_write
# -max_len per harness: a few small records / tensors / rows; images up to 16 KiB
FUZZ_MAXLEN_datafile  := 4096
FUZZ_MAXLEN_modelfile := 4096
FUZZ_MAXLEN_manifest  := 2048
FUZZ_MAXLEN_idx       := 4096
FUZZ_MAXLEN_scoretsv  := 2048
FUZZ_MAXLEN_prior     := 512
FUZZ_MAXLEN_calibration := 512
FUZZ_MAXLEN_image     := 16384
FUZZ_MAXLEN_pth       := 8192

FUZZ_SAN    := -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer
FUZZ_CFLAGS := -std=c11 -g -O1 $(WARN) -Ilibcommon -Itests/fuzz -D_GNU_SOURCE $(FUZZ_SAN)
FUZZ_LIBS   := -lpng -ljpeg -lz -lm

FUZZ_LIB_OBJS    := $(FUZZ_LIB_NAMES:%=$(FUZZ_BUILD)/lib/%.o)
FUZZ_BINS        := $(FUZZ_HARNESSES:%=$(FUZZ_BUILD)/bin/fuzz_%)
FUZZ_REPLAY_OBJS := $(FUZZ_LIB_NAMES:%=$(FUZZ_BUILD)/replay-lib/%.o)
FUZZ_REPLAYS     := $(FUZZ_HARNESSES:%=$(FUZZ_BUILD)/replay/fuzz_%)
FUZZ_DEPS        := $(wildcard libcommon/*.h libcommon/*/*.h) tests/fuzz/fuzz_common.h

.PHONY: fuzz fuzz-smoke fuzz-replay fuzz-build fuzz-corpus check-valgrind
.SECONDARY: $(FUZZ_LIB_OBJS) $(FUZZ_REPLAY_OBJS)

$(FUZZ_BUILD)/lib/%.o: libcommon/%.c $(FUZZ_DEPS)
	@mkdir -p $(@D)
	$(call say,FUZZCC,$<)$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link -c -o $@ $<

$(FUZZ_BUILD)/bin/fuzz_%: tests/fuzz/fuzz_%.c $(FUZZ_LIB_OBJS) $(FUZZ_DEPS)
	@mkdir -p $(@D)
	$(call say,FUZZLD,$@)$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer -o $@ $< $(FUZZ_LIB_OBJS) $(FUZZ_LIBS)

$(FUZZ_BUILD)/replay-lib/%.o: libcommon/%.c $(FUZZ_DEPS)
	@mkdir -p $(@D)
	$(call say,CC,$<)$(CC) $(FUZZ_CFLAGS) -c -o $@ $<

$(FUZZ_BUILD)/replay/fuzz_%: tests/fuzz/fuzz_%.c tests/fuzz/replay_main.c $(FUZZ_REPLAY_OBJS) $(FUZZ_DEPS)
	@mkdir -p $(@D)
	$(call say,LINK,$@)$(CC) $(FUZZ_CFLAGS) -o $@ $< tests/fuzz/replay_main.c $(FUZZ_REPLAY_OBJS) $(FUZZ_LIBS)

fuzz-build: $(FUZZ_BINS)

# One harness: fuzz_run NAME SECONDS. New inputs go to work/NAME (the committed
# corpus and regressions are read, never written); a finding stops make with the
# harness's log and the input's path. The last lines of the log carry libFuzzer's
# stats (stat::number_of_executed_units, stat::peak_rss_mb).
define fuzz_run
	@mkdir -p $(FUZZ_BUILD)/work/$(1) $(FUZZ_BUILD)/artifacts/$(1) $(FUZZ_BUILD)/logs
	@printf '  %-6s %s (%ss, max_len %s)\n' FUZZ fuzz_$(1) $(2) $(FUZZ_MAXLEN_$(1))
	$(Q)ASAN_OPTIONS=$${ASAN_OPTIONS:-detect_leaks=1:allocator_may_return_null=1} \
	  UBSAN_OPTIONS=$${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1} \
	  $(FUZZ_BUILD)/bin/fuzz_$(1) -max_total_time=$(2) -max_len=$(FUZZ_MAXLEN_$(1)) \
	  -timeout=$(FUZZ_TIMEOUT) -rss_limit_mb=$(FUZZ_RSS_MB) -print_final_stats=1 \
	  -artifact_prefix=$(FUZZ_BUILD)/artifacts/$(1)/ \
	  $(FUZZ_BUILD)/work/$(1) tests/fuzz/corpus/$(1) tests/fuzz/regressions/$(1) \
	  > $(FUZZ_BUILD)/logs/$(1).log 2>&1 || { \
	  echo "fuzz: fuzz_$(1) found a problem; log $(FUZZ_BUILD)/logs/$(1).log, input in $(FUZZ_BUILD)/artifacts/$(1)/:" >&2; \
	  grep -E 'ERROR|SUMMARY|Test unit written' $(FUZZ_BUILD)/logs/$(1).log | head -5 >&2; exit 1; }
	@awk '/^stat::number_of_executed_units/ {n=$$2} /^stat::peak_rss_mb/ {r=$$2} \
	  END {printf "         %-16s %10s execs, peak RSS %s MB\n", "fuzz_$(1)", n, r}' $(FUZZ_BUILD)/logs/$(1).log

endef

fuzz: fuzz-build
	$(foreach h,$(FUZZ_HARNESSES),$(call fuzz_run,$(h),$(FUZZ_SECONDS)))
	@echo "fuzz: $(words $(FUZZ_HARNESSES)) harnesses, $(FUZZ_SECONDS) s each, no finding"

fuzz-smoke: fuzz-build
	$(foreach h,$(FUZZ_HARNESSES),$(call fuzz_run,$(h),$(FUZZ_SMOKE_SECONDS)))
	@echo "fuzz-smoke: $(words $(FUZZ_HARNESSES)) harnesses, corpus and regressions replayed, $(FUZZ_SMOKE_SECONDS) s each, no finding"

fuzz-replay: $(FUZZ_REPLAYS)
	$(Q)for h in $(FUZZ_HARNESSES); do \
	  ASAN_OPTIONS=$${ASAN_OPTIONS:-detect_leaks=1} UBSAN_OPTIONS=$${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1} \
	  $(FUZZ_BUILD)/replay/fuzz_$$h tests/fuzz/corpus/$$h tests/fuzz/regressions/$$h || { \
	  echo "fuzz-replay: fuzz_$$h failed" >&2; exit 1; }; done
	@echo "fuzz-replay: corpus and regressions of $(words $(FUZZ_HARNESSES)) harnesses replayed, no finding"

fuzz-corpus: $(BUILD)/tests/bin/pcnn-mkdata $(BUILD)/bin/pcnn-prep
	$(Q)PCNN_BIN=$(BUILD)/bin PCNN_TEST_BIN=$(BUILD)/tests/bin tests/fuzz/make_corpus.sh

# valgrind on one real tool run: pcnn-score of a tiny model (trained here in
# seconds) on 4 images; any leak or memory error fails. OpenMP's thread pool is
# kept to one thread so its reachable-at-exit blocks are not reported as leaks;
# tests/fuzz/valgrind.supp hides two known false positives of glibc's loader.
check-valgrind: $(BUILD)/bin/pcnn-score $(BUILD)/bin/pcnn-fit $(BUILD)/tests/bin/pcnn-mkdata
	@command -v valgrind >/dev/null || { echo "check-valgrind: valgrind is not installed" >&2; exit 1; }
	$(Q)tmp=$$(mktemp -d) && trap 'rm -rf "$$tmp"' EXIT && \
	$(BUILD)/tests/bin/pcnn-mkdata -H 8 -W 8 -K 2 -n 8 -s 5 -o $$tmp/train.bin && \
	$(BUILD)/tests/bin/pcnn-mkdata -H 8 -W 8 -K 2 -n 4 -s 6 -o $$tmp/test.bin && \
	$(BUILD)/bin/pcnn-fit -q -R 1 -F 4 -M 2 -b 4 -e 1 --device cpu -o $$tmp/m.bin $$tmp/train.bin && \
	OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 valgrind -q --suppressions=tests/fuzz/valgrind.supp --leak-check=full --show-leak-kinds=definite,indirect \
	  --errors-for-leak-kinds=definite,indirect --error-exitcode=99 \
	  $(BUILD)/bin/pcnn-score -q --device cpu -o $$tmp/s.tsv $$tmp/m.bin $$tmp/test.bin && \
	test "$$(wc -l < $$tmp/s.tsv)" -eq 5 && echo "check-valgrind: pcnn-score: no leak, no memory error"
