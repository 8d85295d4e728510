#!/usr/bin/env bats
# The GPU parity test cannot pass falsely: where a device is required
# (PCNN_PARITY_REQUIRE_DEVICE=1, as make check-gpu sets, or an NVIDIA device node on the
# machine) a backend that does not load is "not ok" and exit 1, never a SKIP. check-gpu.sh
# runs here with the CPU standing in (its multi-GPU stage too), and a skipped stage says so.

setup() {
	PARITY="${PCNN_BIN%/bin}/tests/test_gpu_parity"
	[ -x "$PARITY" ]   # make test builds it (make unit-tests): missing is a failure, not a skip
}

has_gpu() { command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L 2>/dev/null | grep -q GPU; }

@test "gpu: with a device required, no usable GPU fails loudly (exit 1, not ok, the reason)" {
	if has_gpu; then
		# a GPU is here: the same command must run the tests and pass them
		run env PCNN_PARITY_REQUIRE_DEVICE=1 "$PARITY"
		[ "$status" -eq 0 ]
		[[ "$output" != *"# SKIP"* ]]
		[[ "$output" != *"not ok"* ]]
	else
		run env PCNN_PARITY_REQUIRE_DEVICE=1 "$PARITY"
		[ "$status" -eq 1 ]
		[[ "$output" == *"not ok 1 - test_device_present"* ]]
		[[ "$output" == *"a GPU is required here"*"none could be used:"* ]]
		[[ "$output" != *"# SKIP"* ]]
	fi
}

@test "gpu: without the requirement and without a GPU, the parity tests say why they skip" {
	has_gpu && skip "a GPU is here: the previous test ran the parity tests"
	[ -e /dev/nvidia0 ] && skip "an NVIDIA device node is here: a device is required"
	run env PCNN_PARITY_REQUIRE_DEVICE=0 "$PARITY"
	[ "$status" -eq 0 ]
	[[ "$output" == *"# SKIP"* ]]
	[[ "$output" != *"not ok"* ]]
}

@test "gpu: the parity harness itself passes with a second CPU backend standing in for the GPU" {
	run env PCNN_PARITY_SELFTEST=1 PCNN_PARITY_REQUIRE_DEVICE=0 "$PARITY"
	[ "$status" -eq 0 ]
	[[ "$output" == *"# self-test: a second CPU backend stands in for the GPU"* ]]
	[ "$(grep -c '^ok [0-9]* - test_' <<<"$output")" -eq 17 ]
	[[ "$output" != *"not ok"* ]]
	[[ "$output" != *"# SKIP"* ]]
}

@test "gpu: test_gpu_parity runs the tests named on its command line, lists them, refuses unknown names" {
	run "$PARITY" --list
	[ "$status" -eq 0 ]
	[[ "$output" == *"test_hybrid_variants"* ]]
	[ "$(echo "$output" | wc -l)" -eq 17 ]
	run env PCNN_PARITY_SELFTEST=1 "$PARITY" test_dmol test_hybrid
	[ "$status" -eq 0 ]
	[[ "$output" == *"ok 1 - test_dmol"* ]]
	[[ "$output" == *"ok 2 - test_hybrid"* ]]
	[[ "$output" == *"1..2"* ]]
	run "$PARITY" test_nothing
	[ "$status" -eq 2 ]
	[[ "$output" == *"no test named 'test_nothing'"* ]]
}

@test "gpu: check-gpu.sh, with the CPU standing in for the GPU, passes every stage and writes results.md" {
	out="$BATS_TEST_TMPDIR/gpu"
	run env CHECK_GPU_DRYRUN=1 PREBUILT="${PCNN_BIN%/bin}" DEADLINE=200 OUT="$out" \
		"$PCNN_ROOT/pipelines/check-gpu.sh"
	[ "$status" -eq 0 ]
	grep -q '^# make check-gpu — done' "$out/results.md"
	grep -q 'parity fp32: all 2 tests ok' "$out/results.md"
	grep -q 'parity tf32: all 2 tests ok' "$out/results.md"
	grep -q 'model files byte-identical' "$out/results.md"
	grep -q 'batch 64 vs 7: TSV byte-identical' "$out/results.md"
	grep -q '^| 1,8,1 | pcnn | fp32 | [0-9.]* | [0-9.]* | [0-9.]* |' "$out/results.md"
	# A5: 2 CPU ranks through the device-collective path, or the visible reason it was skipped
	if command -v mpirun >/dev/null && ldd "$PCNN_BIN/pcnn-fit" | grep -q libmpi; then
		grep -q 'multi-GPU: 2 ranks summed their gradients over the test stand-in' "$out/results.md"
		grep -q 'multi-GPU: 2 ranks twice (6 steps): model files byte-identical' "$out/results.md"
		grep -q 'multi-GPU: device sum vs host MPI sum (no stand-in): model files byte-identical' "$out/results.md"
		grep -q 'multi-GPU: 2 ranks vs 1 GPU (6 steps): within 1e-3' "$out/results.md"
		grep -q 'multi-GPU: pcnn-score over 2 ranks vs 1: TSV byte-identical' "$out/results.md"
	else
		grep -q 'multi-GPU parity: skipped: ' "$out/results.md"
	fi
	run grep -q FAIL "$out/results.md"
	[ "$status" -eq 1 ]   # no FAIL line (2: no results.md)
}

@test "gpu: check-gpu.sh's multi-GPU stage says in results.md that it was skipped on one GPU" {
	out="$BATS_TEST_TMPDIR/gpu"
	run env CHECK_GPU_DRYRUN=1 CHECK_GPU_DRYRUN_GPUS=1 PREBUILT="${PCNN_BIN%/bin}" DEADLINE=60 OUT="$out" \
		"$PCNN_ROOT/pipelines/check-gpu.sh" --multi-gpu-only
	[ "$status" -eq 0 ]
	grep -q '^# make check-gpu — multi-GPU only' "$out/results.md"
	grep -qx -- '- multi-GPU parity: skipped: 1 GPU' "$out/results.md"
}

@test "gpu: check-gpu.sh stops at its deadline with results.md saying where, and exit 1" {
	out="$BATS_TEST_TMPDIR/gpu"
	SECONDS=0
	run env CHECK_GPU_DRYRUN=1 PREBUILT="${PCNN_BIN%/bin}" DEADLINE=3 OUT="$out" \
		"$PCNN_ROOT/pipelines/check-gpu.sh"
	[ "$status" -eq 1 ]
	[ "$SECONDS" -lt 30 ]
	grep -q '^# make check-gpu — stopped at the deadline' "$out/results.md"
	grep -q 'DEADLINE (3 s) reached before' "$out/results.md"
}
