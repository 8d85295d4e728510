#!/usr/bin/env bats
# The GPU parity test cannot pass falsely: where a device is required
# (PCNN_PARITY_REQUIRE_DEVICE=1, as make check-gpu sets, or an NVIDIA device node on the
# machine) a backend that does not load is "not ok" and exit 1, never a SKIP.

setup() {
	PARITY="${PCNN_BIN%/bin}/tests/test_gpu_parity"
	[ -x "$PARITY" ] || skip "test_gpu_parity not built (make unit-tests)"
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
	[ "$(grep -c '^ok [0-9]* - test_' <<<"$output")" -eq 12 ]
	[[ "$output" != *"not ok"* ]]
	[[ "$output" != *"# SKIP"* ]]
}
