# bench-prep: time pcnn-prep on the whole CPEN 455 set (train 4159, validation 519,
# test 519 images: 64x64 JPEG -> 32x32) and print one table row per set.
#
#   make bench-prep                       data at ../shared/cpen455
#   make bench-prep CPEN455=/path/to/data OMP_NUM_THREADS=1
#
# Each set is prepped to a temporary file (removed afterwards); the time is the wall
# time of the whole command, reading the JPEGs included (the second and later runs
# read them from the page cache).

CPEN455 ?= ../shared/cpen455

.PHONY: bench-prep
bench-prep: $(BUILD)/bin/pcnn-prep
	@test -d "$(CPEN455)" || { echo "bench-prep: no CPEN 455 data at $(CPEN455) (set CPEN455=DIR)" >&2; exit 1; }
	@tmp=$$(mktemp -d) && trap 'rm -rf "$$tmp"' EXIT && \
	printf '%-12s %8s %9s %10s %12s\n' set images seconds images/s 'ms/1000 img'; \
	tot_n=0; tot_t=0; \
	for s in train validation test; do \
		t0=$$(date +%s.%N); \
		$(BUILD)/bin/pcnn-prep -q -o "$$tmp/$$s.bin" "$(CPEN455)/$$s.csv" || exit 1; \
		t1=$$(date +%s.%N); \
		n=$$(tail -c 12 "$$tmp/$$s.bin" | head -c 8 | od -An -tu8 | tr -d ' '); \
		t=$$(echo "$$t1 - $$t0" | bc -l); \
		tot_n=$$((tot_n + n)); tot_t=$$(echo "$$tot_t + $$t" | bc -l); \
		printf '%-12s %8d %9.3f %10.0f %12.1f\n' $$s $$n $$t $$(echo "$$n / $$t" | bc -l) $$(echo "1000000 * $$t / $$n" | bc -l); \
	done; \
	printf '%-12s %8d %9.3f %10.0f %12.1f\n' all $$tot_n $$tot_t $$(echo "$$tot_n / $$tot_t" | bc -l) $$(echo "1000000 * $$tot_t / $$tot_n" | bc -l); \
	echo "($${OMP_NUM_THREADS:-$$(nproc)} threads; $(CPEN455))"
