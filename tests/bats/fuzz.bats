#!/usr/bin/env bats
# The fuzz harnesses (tests/fuzz, pipelines/fuzz.mk) in CI: the committed seed corpus and
# every crash input found so far (tests/fuzz/regressions) replayed under ASan + UBSan,
# then a short fuzzing run of each harness. Builds go to $BUILD/fuzz-out (incremental).

bats_require_minimum_version 1.5.0

setup() {
	cd "$PCNN_ROOT"
	BUILD_DIR=${PCNN_BIN%/bin}
	FB="$BUILD_DIR/fuzz-out"
}

can_build() {   # can_build CC EXTRA-FLAGS: CC links an ASan+UBSan program with them
	if [[ "$2" == *fuzzer* ]]; then
		printf '#include <stddef.h>\n#include <stdint.h>\nint LLVMFuzzerTestOneInput(const uint8_t *d, size_t n) { (void)d; (void)n; return 0; }\n'
	else
		printf 'int main(void) { return 0; }\n'
	fi > "$BATS_TEST_TMPDIR/t.c"
	"$1" -fsanitize=address,undefined $2 -o "$BATS_TEST_TMPDIR/t" "$BATS_TEST_TMPDIR/t.c" 2>/dev/null
}

@test "fuzz: corpus and regressions replay clean, then 1 s of libFuzzer per harness" {
	command -v clang > /dev/null || skip "clang is not installed (libFuzzer needs it; make fuzz-replay runs without)"
	can_build clang -fsanitize=fuzzer || skip "clang cannot link -fsanitize=fuzzer (libclang-rt-dev missing)"
	run make --no-print-directory BUILD="$BUILD_DIR" FUZZ_BUILD="$FB" FUZZ_SMOKE_SECONDS=1 fuzz-smoke
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "$output" == *"fuzz-smoke: 9 harnesses, corpus and regressions replayed"* ]]
	# every harness ran (stats present) and found nothing
	[ "$(grep -c ' execs, peak RSS' <<< "$output")" -eq 9 ]
}

@test "fuzz: the harnesses without libFuzzer (plain main, \$CC, ASan + UBSan) replay every input" {
	cc=${CC:-cc}
	can_build "$cc" "" || skip "$cc cannot link an ASan + UBSan program"
	run make --no-print-directory BUILD="$BUILD_DIR" FUZZ_BUILD="$FB" fuzz-replay
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "$output" == *"fuzz-replay: corpus and regressions of 9 harnesses replayed, no finding"* ]]
	# the crash input of the manifest reader is among them, and is refused cleanly now
	[ -s tests/fuzz/regressions/manifest/cr-inside-path.csv ]
	n=$(( $(ls tests/fuzz/corpus/manifest | wc -l) + $(ls tests/fuzz/regressions/manifest | wc -l) ))
	[[ "$output" == *"fuzz_manifest: $n inputs run"* ]]
}

@test "fuzz: a harness reports a planted bug (the replay build is not blind)" {
	cc=${CC:-cc}
	can_build "$cc" "" || skip "$cc cannot link an ASan + UBSan program"
	# a harness that reads one byte past its input when the input starts with 'X'
	cat > "$BATS_TEST_TMPDIR/fuzz_planted.c" <<-'EOF'
	#include <stddef.h>
	#include <stdint.h>
	int LLVMFuzzerInitialize(int *argc, char ***argv) { (void)argc, (void)argv; return 0; }
	int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n)
	{
	    volatile uint8_t c = 0;
	    if (n && d[0] == 'X') c = d[n];
	    return c;
	}
	EOF
	"$cc" -g -fsanitize=address,undefined -o "$BATS_TEST_TMPDIR/planted" \
		"$BATS_TEST_TMPDIR/fuzz_planted.c" tests/fuzz/replay_main.c
	printf 'ok' > "$BATS_TEST_TMPDIR/good"
	printf 'X' > "$BATS_TEST_TMPDIR/bad"
	run "$BATS_TEST_TMPDIR/planted" "$BATS_TEST_TMPDIR/good"
	[ "$status" -eq 0 ]
	run "$BATS_TEST_TMPDIR/planted" "$BATS_TEST_TMPDIR/good" "$BATS_TEST_TMPDIR/bad"
	[ "$status" -ne 0 ]
	[[ "$output" == *"heap-buffer-overflow"* ]]
}
