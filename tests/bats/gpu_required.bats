#!/usr/bin/env bats
# The GPU parity test cannot pass falsely: where a device is required
# (PCNN_PARITY_REQUIRE_DEVICE=1, as make check-gpu sets, or an NVIDIA device node on the
# machine) a backend that does not load is "not ok" and exit 1, never a SKIP, and the CPU
# self-test is refused. check-gpu.sh runs here with the CPU standing in (its multi-GPU stage
# too), and never reports a pass it did not see: a skipped stage is exit 3 and listed, zero
# parity tests, a failed build, a crashing tool are failures, a signal stops it (130/143).
# Stand-ins (a tree of links with one file replaced, a fake nvidia-smi or make on PATH)
# make each of those happen here.

setup() {
	PARITY="${PCNN_BIN%/bin}/tests/test_gpu_parity"
	[ -x "$PARITY" ]   # make test builds it (make unit-tests): missing is a failure, not a skip
	cd "$BATS_TEST_TMPDIR"
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
	[ "$(grep -c '^ok [0-9]* - test_' <<<"$output")" -eq 23 ]
	[[ "$output" != *"not ok"* ]]
	[[ "$output" != *"# SKIP"* ]]
}

@test "gpu: test_gpu_parity runs the tests named on its command line, lists them, refuses unknown names" {
	run "$PARITY" --list
	[ "$status" -eq 0 ]
	[[ "$output" == *"test_hybrid_variants"* ]]
	[ "$(echo "$output" | wc -l)" -eq 23 ]
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
	[ "$status" -eq 3 ]   # nothing failed; memcheck and PyTorch cannot run in a dry run
	# skipped: memcheck, PyTorch, (one GPU: multi-GPU), (no AVX512_BF16: fit --precision bf16)
	grep -qx '# make check-gpu — done: passed, [2-4] skipped (not passed)' "$out/results.md"
	grep -qx -- '- memcheck: a dry run has no GPU' "$out/results.md"
	grep -qx -- "- PyTorch's benchmark: a dry run has no GPU" "$out/results.md"
	grep -q 'parity fp32: all 2 tests ok' "$out/results.md"
	grep -q 'parity tf32: all 2 tests ok' "$out/results.md"
	grep -q 'parity bf16: all 2 tests ok' "$out/results.md"
	if grep -qw avx512_bf16 /proc/cpuinfo; then
		grep -q 'pcnn-fit --precision bf16 twice on cpu (6 steps): model files byte-identical' "$out/results.md"
	else
		grep -qx -- '- pcnn-fit --precision bf16 twice: a dry run on a CPU without AVX512_BF16' "$out/results.md"
	fi
	grep -q 'model files byte-identical' "$out/results.md"
	grep -q 'batch 64 vs 7: TSV byte-identical' "$out/results.md"
	grep -q '^| 1,8,1 | pcnn | fp32 | [0-9.]* | [0-9.]* | [0-9.]* |' "$out/results.md"
	grep -q '^| 1,8,1 | pcnn | bf16 | [0-9.]* | [0-9.]* | [0-9.]* |' "$out/results.md"
	grep -q '^| 1,8,1 | pcnn | bf16-graph | [0-9.]* | [0-9.]* | [0-9.]* |' "$out/results.md"
	# pcnn-score's phases (PCNN_TIMING=1) as rows; bf16 also as K passes; a training-only size
	grep -q '^| 1,8,1 | pcnn | bf16 | [0-9.]* | [0-9.]* | [0-9.]* | [0-9.]* | [0-9.]* | [0-9.]* | [0-9.]* |' "$out/results.md"
	grep -q '^| 1,8,1 | pcnn | tf32 | [0-9.]* | [0-9.]* | [0-9.]* | [0-9.]* | [0-9.]* |  | [0-9.]* |' "$out/results.md"
	grep -q '^- pcnn-score fp32 1,8,1: model [0-9.]* s, device init [0-9.]* s, net [0-9.]* s, first batch [0-9.]* s, the other batches [0-9.]* s$' "$out/results.md"
	grep -q '^- pcnn-score bf16-graph 1,8,1, K passes: model ' "$out/results.md"
	grep -q '^| 1,4,1 | pcnn | tf32 | [0-9.]* | [0-9.]* |  |  |  |  |  |  | [0-9.]* |  |$' "$out/results.md"
	# A5: 2 CPU ranks through the device-collective path, or the visible reason it was skipped
	if command -v mpirun >/dev/null && ldd "$PCNN_BIN/pcnn-fit" | grep -q libmpi; then
		grep -q 'multi-GPU: 2 ranks summed their gradients over the test stand-in' "$out/results.md"
		grep -q 'multi-GPU: 2 ranks twice (6 steps): model files byte-identical' "$out/results.md"
		grep -q 'multi-GPU: device sum vs host MPI sum (no stand-in): model files byte-identical' "$out/results.md"
		grep -q 'multi-GPU: 2 ranks vs 1 GPU (6 steps): within 1e-3' "$out/results.md"
		grep -q 'multi-GPU: pcnn-score over 2 ranks vs 1: TSV byte-identical' "$out/results.md"
	else
		grep -q 'SKIPPED (not passed): multi-GPU parity: ' "$out/results.md"
	fi
	run grep -q FAIL "$out/results.md"
	[ "$status" -eq 1 ]   # no FAIL line (2: no results.md)
}

@test "gpu: check-gpu.sh's multi-GPU stage says in results.md that it was skipped on one GPU" {
	out="$BATS_TEST_TMPDIR/gpu"
	run env CHECK_GPU_DRYRUN=1 CHECK_GPU_DRYRUN_GPUS=1 PREBUILT="${PCNN_BIN%/bin}" DEADLINE=60 OUT="$out" \
		"$PCNN_ROOT/pipelines/check-gpu.sh" --multi-gpu-only
	[ "$status" -eq 3 ]   # a skip is not a pass
	grep -qx '# make check-gpu — multi-GPU only: passed, 1 skipped (not passed)' "$out/results.md"
	grep -qx -- '- SKIPPED (not passed): multi-GPU parity: 1 GPU' "$out/results.md"
	grep -qx '## Skipped (not passed)' "$out/results.md"
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

# A PREBUILT tree of links to this build, in $BATS_TEST_TMPDIR/tree, for a stand-in file.
link_tree() {
	local real=${PCNN_BIN%/bin} t="$BATS_TEST_TMPDIR/tree"
	mkdir -p "$t"
	cp -rs "$real"/. "$t"/
}

@test "gpu: the parity self-test is refused where a device is required (exit 1, no ok line)" {
	run env PCNN_PARITY_SELFTEST=1 PCNN_PARITY_REQUIRE_DEVICE=1 "$PARITY"
	[ "$status" -eq 1 ]
	[[ "$output" == *"not ok 1 - test_device_present"* ]]
	[[ "$output" == *"PCNN_PARITY_SELFTEST=1"*"refused"* ]]
	[ "$(grep -c '^ok ' <<<"$output")" -eq 0 ]
}

@test "gpu: check-gpu.sh on a 'GPU' machine clears PCNN_PARITY_SELFTEST: no GPU, no pass" {
	# a fake nvidia-smi says a GPU is there; there is none, so nothing may pass
	mkdir fakebin
	printf '#!/bin/sh\ncase "$*" in *-L*) echo "GPU 0: Fake (UUID: GPU-0)";; *query*) echo "Fake GPU, 81559 MiB, 1.0";; esac\n' > fakebin/nvidia-smi
	chmod +x fakebin/nvidia-smi
	out="$BATS_TEST_TMPDIR/gpu"
	run env PATH="$PWD/fakebin:$PATH" PCNN_PARITY_SELFTEST=1 PREBUILT="${PCNN_BIN%/bin}" DEADLINE=25 \
		OUT="$out" "$PCNN_ROOT/pipelines/check-gpu.sh"
	[ "$status" -eq 1 ]
	grep -q '^- FAIL: parity fp32: 0 ok, 23 failed' "$out/results.md"
	[ "$(grep -c 'tests ok' "$out/results.md")" -eq 0 ]
	[ "$(grep -c 'self-test' "$out/parity-fp32.txt")" -eq 0 ]
}

@test "gpu: check-gpu.sh counts zero parity tests as a failure" {
	link_tree
	rm tree/tests/test_gpu_parity
	printf '#!/bin/sh\nexit 0\n' > tree/tests/test_gpu_parity   # --list names nothing
	chmod +x tree/tests/test_gpu_parity
	out="$BATS_TEST_TMPDIR/gpu"
	run env CHECK_GPU_DRYRUN=1 PREBUILT="$PWD/tree" DEADLINE=15 OUT="$out" "$PCNN_ROOT/pipelines/check-gpu.sh"
	[ "$status" -eq 1 ]
	grep -q '^- FAIL: parity: test_gpu_parity --list named no tests (exit 0): zero tests is not a pass' "$out/results.md"
	[ "$(grep -c 'all 0 tests ok' "$out/results.md")" -eq 0 ]
}

@test "gpu: check-gpu.sh stops when the tools fail to build, and tests no stale binary" {
	# a make that "builds" the GPU tests by linking this build, then fails on the tools
	mkdir fakebin
	cat > fakebin/make <<-EOF
	#!/bin/sh
	for a; do case \$a in BUILD=*) b=\${a#BUILD=} ;; esac; done
	case " \$* " in *" all "*) echo "make: *** [all] Error 2" >&2; exit 2 ;; esac
	mkdir -p "\$b" && cp -rs "${PCNN_BIN%/bin}"/. "\$b"/
	EOF
	chmod +x fakebin/make
	out="$BATS_TEST_TMPDIR/gpu"
	run env PATH="$PWD/fakebin:$PATH" CHECK_GPU_DRYRUN=1 BUILD="$PWD/b" DEADLINE=60 OUT="$out" \
		"$PCNN_ROOT/pipelines/check-gpu.sh"
	[ "$status" -eq 1 ]
	grep -qx '# make check-gpu — build failed' "$out/results.md"
	grep -q '^- FAIL: build of the tools failed' "$out/results.md"
	[ "$(grep -c '^== A2' "$out/log.txt")" -eq 0 ]
}

@test "gpu: SIGTERM stops check-gpu.sh at once: results.md says interrupted, exit 143, nothing after" {
	out="$BATS_TEST_TMPDIR/gpu"
	env CHECK_GPU_DRYRUN=1 PREBUILT="${PCNN_BIN%/bin}" DEADLINE=200 OUT="$out" \
		"$PCNN_ROOT/pipelines/check-gpu.sh" > run.log 2>&1 &
	pid=$!
	for _ in $(seq 600); do
		if grep -q '^== A4' run.log; then break; fi
		sleep 0.1
	done
	grep -q '^== A4' run.log
	sleep 1
	kill -TERM $pid
	SECONDS=0
	rc=0
	wait $pid || rc=$?
	cat run.log
	[ $rc -eq 143 ]
	[ "$SECONDS" -lt 20 ]
	grep -qx '# make check-gpu — interrupted' "$out/results.md"
	grep -q '^- interrupted by SIGTERM after' "$out/results.md"
	[ "$(grep -c '^== \(A5\|B\)' run.log)" -eq 0 ]
}

@test "gpu: make bench-gpu fails when a tool crashes (not 'not finished', not exit 0)" {
	link_tree
	rm tree/bin/pcnn-gen
	printf '#!/bin/sh\nkill -SEGV $$\n' > tree/bin/pcnn-gen
	chmod +x tree/bin/pcnn-gen
	out="$BATS_TEST_TMPDIR/gpu"
	run env CHECK_GPU_DRYRUN=1 PREBUILT="$PWD/tree" DEADLINE=100 OUT="$out" \
		"$PCNN_ROOT/pipelines/check-gpu.sh" --bench-only
	[ "$status" -eq 1 ]
	grep -q '^- FAIL: pcnn-gen fp32 1,8,1: exit 139 (killed by signal 11)' "$out/results.md"
	grep -qx '# make check-gpu — done: FAILED (4 failed)' "$out/results.md"   # fp32, tf32, bf16, bf16-graph
}

@test "gpu: check-gpu.sh --quality-only runs the whole job per objective (the CPU standing in)" {
	out="$BATS_TEST_TMPDIR/gpu"
	run env CHECK_GPU_DRYRUN=1 PREBUILT="${PCNN_BIN%/bin}" DEADLINE=300 OUT="$out" \
		QUALITY_DATA="$PCNN_ROOT/tests/fixtures/pipeline/cpen455-tiny" \
		"$PCNN_ROOT/pipelines/check-gpu.sh" --quality-only
	[ "$status" -eq 3 ]   # passed, but a dry run never counts as the device's pass
	grep -qx '# make check-gpu — done: passed, 1 skipped (not passed)' "$out/results.md"
	for obj in hybrid likelihood; do
		grep -Eq "^- quality $obj \(PROFILE=full, 2 epochs within a training budget of [0-9]+ s, whole run [0-9.]+ s\): validation accuracy: [0-9.]+ \([0-9]+/8\)(; uniform prior [0-9.]+ \([0-9]+/8\))?$" "$out/results.md"
		grep -q "^objective=$obj$" "$out/quality-$obj/config.txt"
		grep -q '^profile=full$' "$out/quality-$obj/config.txt"
		[ "$(wc -l <"$out/quality-$obj/fit.tsv")" -eq 3 ]
		[ -f "$out/quality-$obj/grid.png" ]
	done
	# the pipeline's default: both objectives decide with the prior fitted on training images
	for obj in hybrid likelihood; do
		grep -q "^| decision | Bayes' rule with the class prior fitted on 24 training images" "$out/quality-$obj/report.md"
		grep -q "^- quality $obj .*; uniform prior [0-9.]* ([0-9]*/8)$" "$out/results.md"
	done
	# the parity and speed stages did not run
	run grep -c 'parity\|^| 1,8,1 ' "$out/results.md"
	[ "$output" = 0 ]
	# without QUALITY_DATA there is nothing to run: a failure, not a pass
	run env CHECK_GPU_DRYRUN=1 PREBUILT="${PCNN_BIN%/bin}" DEADLINE=60 OUT="$out/none" \
		"$PCNN_ROOT/pipelines/check-gpu.sh" --quality-only
	[ "$status" -eq 1 ]
	grep -q 'FAIL: --quality-only without QUALITY_DATA' "$out/none/results.md"
}
