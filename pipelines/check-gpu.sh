#!/usr/bin/env bash
# pipelines/check-gpu.sh — every check that needs a GPU, in stages under one
# deadline (DEADLINE seconds in all, default 540), so that one short GPU lease
# tells everything at once and a timeout still leaves a useful results.md.
#
#   OUT=results/gpu pipelines/check-gpu.sh [--bench-only | --multi-gpu-only | --quality-only]
#                                                 (make check-gpu / bench-gpu / check-multi-gpu)
#
# Stage A, correctness (results.md is written when it ends):
#   A0 the machine: nvidia-smi, nvcc, compute-sanitizer, the libraries found;
#   A1 build: the CUDA library and the GPU tests first, then the tools
#      (PREBUILT=DIR: use a tree built elsewhere with make GPU=1 BUILD=DIR; nothing is built);
#   A2 test_cuda_load; test_gpu_parity in fp32, tf32 and bf16 (PCNN_PRECISION; bf16's
#      bounds are an estimate until this run measures them; test_graph: CUDA graphs
#      against plain passes, bit for bit), each test in its own
#      process (CUDA_LAUNCH_BLOCKING=1: a fault is blamed on its own op, and one
#      fault cannot take the other tests with it); a skip counts as a failure;
#   A3 compute-sanitizer memcheck over one small whole-network test and over the
#      cached sampler's window ops (test_cached_logits_variants);
#   A4 reproducibility: pcnn-fit twice on the GPU, in the backend's mode and with
#      --precision bf16 (model bytes), pcnn-score at two
#      batch sizes (TSV bytes), pcnn-gen on the CPU and the GPU (PNG bytes), and the
#      GPU's cached sampler against its naive one (PNG bytes);
#   A5 multi-GPU (only with 2 or more GPUs, mpirun and an MPI build; otherwise one line
#      "multi-GPU parity: skipped: <why>" in results.md): 2 ranks, one per GPU, against one
#      GPU: pcnn-fit within the data-parallel tolerance, the same N twice byte-identical,
#      NCCL's sum the bytes of the host MPI sum, the rank-to-GPU map, pcnn-score over 2 GPUs.
# Stage B, speed: pcnn-fit (one epoch of 40 batches: epoch_wall_s includes the
#   start and the algorithm choice) / pcnn-score (PCNN_TIMING=1: its phases as rows; the K
#   classes in one wide pass, and for bf16 also as K passes) / pcnn-gen (100 images, the
#   cached sampler) at (R,F,M) = (1,40,5) and (5,160,10), and pcnn-fit alone at (1,160,5),
#   batch 64, fp32, tf32, bf16 (PCNN_PRECISION: bf16 in every pass) and
#   bf16-graph (PCNN_CUDA_GRAPH=1: training steps, scoring passes and the cached sampler's
#   positions, one graph per position shape, replayed as graphs);
#   PyTorch's run of the same model (tests/reference/bench_gpu_torch.py --quick: eager
#   fp32, bf16 autocast + channels_last, torch.compile) when python3 has torch, in the
#   same run on the same GPU.
# Stage C, quality (only with QUALITY_DATA=DIR, a CPEN 455-layout folder or 'fashion'): the
#   whole job, make pipeline-run PROFILE=full, once per objective (hybrid, likelihood), each
#   training QUALITY_S seconds; validation accuracy, the report and the samples under
#   $OUT/quality-<objective>/ (see the stage below). --quality-only: this stage alone.
# Out: $OUT/results.md (the summary), results.tsv (every number), log.txt, and
#   parity-*.txt, memcheck.txt, gen-*/ for the details.
#
# Needs: an NVIDIA GPU and driver; for A1, nvcc, cuDNN 9, cuBLAS and the
# libraries of make deps (OpenBLAS, libpng, libjpeg, zlib) — the build stops with
# a note naming what is missing; nothing is installed. Libraries a prebuilt tree
# needs and the machine lacks are looked for in EXTRA_LIBS (a folder of .so files)
# and the CUDA/PyTorch folders (cuDNN ships inside PyTorch's wheels).
# Without compute-sanitizer A3 is noted and skipped; without torch, PyTorch's row.
# CHECK_GPU_DRYRUN=1 runs the whole script with the CPU standing in for the GPU
# (PCNN_PARITY_SELFTEST=1, --device cpu, two parity tests, tiny sizes: 8x8 images): the test
# of the script itself (tests/bats/gpu_required.bats). There A5 runs 2 CPU ranks whose gradient
# sum goes through the device-collective path (dist.h's test stand-in, PCNN_TEST_DEVICE_COLL)
# as if there were CHECK_GPU_DRYRUN_GPUS GPUs (default 2; 1 shows the skip). A dry run checks
# the script, never a GPU: memcheck and PyTorch are skipped there, so it ends with exit 3.
#
# It never reports a pass it did not see. Exit status: 0 every check ran and passed; 1 a
# check failed, the build failed, or the deadline came first; 3 nothing failed but some
# checks were skipped (one GPU for the multi-GPU stage, no compute-sanitizer, no CUDA
# torch, a dry run): results.md lists them under "Skipped (not passed)"; 130/143 stopped by
# SIGINT/SIGTERM (results.md: "interrupted"; the running command is stopped, nothing after
# it runs). Zero parity tests, a self-test where a GPU is required, a failed build of the
# tools (nothing stale is tested) and a tool that crashes in the benchmark are failures.
#
# Environment: OUT, BUILD, PREBUILT, EXTRA_LIBS, JOBS, DEADLINE, NO_TORCH_COMPILE=1,
# QUALITY_DATA, QUALITY_S, QUALITY_OBJECTIVES, QUALITY_PRECISION (default tf32).
set -u
cd "$(dirname "$0")/.."
ROOT=$PWD
OUT=${OUT:-results/gpu}
JOBS=${JOBS:-$(nproc 2>/dev/null || echo 4)}
DEADLINE=${DEADLINE:-540}
DRY=${CHECK_GPU_DRYRUN:-0}
BENCH_ONLY=0 MULTI_ONLY=0 QUALITY_ONLY=0
[ "${1:-}" = "--bench-only" ] && BENCH_ONLY=1
[ "${1:-}" = "--multi-gpu-only" ] && MULTI_ONLY=1
# --quality-only: A0, A1 and stage C (the whole job per objective), nothing of A2-A5 and B
[ "${1:-}" = "--quality-only" ] && QUALITY_ONLY=1 BENCH_ONLY=1
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
exec > >(tee "$OUT/log.txt") 2>&1
TSV="$OUT/results.tsv"
NOTES="$OUT/notes.txt"
: >"$TSV"
: >"$NOTES"
T0=$(date +%s)
status=0
SKIPPED=()
CHILD=""

say() { printf '\n== %s (%ds)\n' "$*" $(($(date +%s) - T0)); }
note() { printf '%s\n' "$*" | tee -a "$NOTES"; }
fail() { status=1; note "FAIL: $*"; }
# skipped WHAT: a check that did not run is not a pass (exit 3 unless something failed)
skipped() { SKIPPED+=("$1"); note "SKIPPED (not passed): $1"; }
row() { printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$@" >>"$TSV"; }
now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN{printf "%.3f", b - a}'; }
left() { echo $((DEADLINE - ($(date +%s) - T0))); }
# tmo SECONDS cmd...: timeout of at most SECONDS, never past the deadline. The command runs
# in the background and the script waits for it, so that SIGINT/SIGTERM reach the trap at
# once (bash runs a trap only after a foreground command ends); timeout leads the
# command's process group, which the trap stops.
tmo() {
	local want=$1 l rc; shift
	l=$(left)
	[ "$l" -lt "$want" ] && want=$l
	if [ "$want" -le 2 ]; then note "deadline reached: not run: $*"; return 124; fi
	timeout -k 5 "$want" "$@" &
	CHILD=$!
	wait "$CHILD"
	rc=$?
	CHILD=""
	return $rc
}

# tsv_maxdiff A B: the largest |a - b| over the numeric cells of two score TSVs, in
# nats, and the largest |a - b| / |b|
tsv_maxdiff() {
	paste "$1" "$2" | awk -F'\t' 'NR>1{n=NF/2; for(i=1;i<=n;i++) if ($i ~ /^-?[0-9.]+(e[-+]?[0-9]+)?$/) {
		d=$i-$(i+n); if(d<0)d=-d; if(d>m)m=d; b=$(i+n); if(b<0)b=-b; if(b>0 && d/b>r) r=d/b}}
		END{printf "%.3g nats (relative %.3g)", m, r}'
}

# gate NAME: past the deadline, the rest is not run: results.md says so, exit 1
gate() {
	[ "$(left)" -gt 2 ] && return 0
	note "DEADLINE (${DEADLINE} s) reached before $*: the rest was not run"
	results "stopped at the deadline"
	exit 1
}

results() {   # results.md from the notes and the table so far
	local stage=$1
	{
		echo "# make check-gpu — $stage"
		echo
		echo "Machine: $(cat "$OUT/device.txt" 2>/dev/null || echo '?'); $(($(date +%s) - T0)) s of a ${DEADLINE} s deadline."
		echo
		echo "## Checks"
		echo
		sed 's/^/- /' "$NOTES"
		if [ ${#SKIPPED[@]} -gt 0 ]; then
			echo
			echo "## Skipped (not passed)"
			echo
			printf -- '- %s\n' "${SKIPPED[@]}"
		fi
		if [ -s "$TSV" ]; then
			echo
			echo "## Speed"
			echo
			echo "(R,F,M), batch 64, ${S}x${S}, K=4. train: images/s of pcnn-fit steps (fwd+bwd+Adam,"
			echo "the log's images_per_s); score: 519 images x 4 classes, wall (the K classes in one wide"
			echo "pass; score_init_s: device init, score_first_s: the first batch with its plans, both"
			echo "inside score_s; score_kpass_s: K passes, PCNN_SCORE_WIDE=0); sample: 4 x n images, wall."
			echo
			awk -F'\t' '
				{ k = $3 " | " $1 " | " $2; if (!(k in seen)) { seen[k] = 1; order[++n] = k }
				  v[k, $4] = $5 }
				END {
					nc = split("train_img_s epoch_wall_s score_s score_init_s score_first_s score_kpass_s sample_s sample_n peak_gib compile_s", c, " ")
					printf "| size | impl | mode |"; for (i = 1; i <= nc; i++) printf " %s |", c[i]; print ""
					printf "|---|---|---|"; for (i = 1; i <= nc; i++) printf "---|"; print ""
					for (j = 1; j <= n; j++) { printf "| %s |", order[j]
						for (i = 1; i <= nc; i++) printf " %s |", v[order[j], c[i]]; print "" } }' "$TSV"
		fi
	} >"$OUT/results.md"
}
# SIGINT/SIGTERM (Ctrl-C, the end of a lease): stop the running command (its process group:
# timeout and what it runs), say so in results.md and exit 128 + the signal: nothing after it
# runs, and a leased GPU is given back.
on_signal() {
	trap '' INT TERM
	note "interrupted by SIG$1 after $(($(date +%s) - T0)) s: the running stage was stopped, the rest not run"
	if [ -n "$CHILD" ]; then
		kill -TERM -- "-$CHILD" 2>/dev/null || kill -TERM "$CHILD" 2>/dev/null
		local i
		for i in 1 2 3 4 5 6 7 8 9 10; do kill -0 "$CHILD" 2>/dev/null || break; sleep 1; done
		kill -KILL -- "-$CHILD" 2>/dev/null
	fi
	results "interrupted"
	exit "$2"
}
trap 'on_signal INT 130' INT
trap 'on_signal TERM 143' TERM

# The end: results.md says how it went; exit 0 (all passed), 1 (a failure) or 3 (skips).
finish() {
	local how=$1
	if [ $status -ne 0 ]; then results "$how: FAILED ($(grep -c '^FAIL: ' "$NOTES") failed)"
	elif [ ${#SKIPPED[@]} -gt 0 ]; then results "$how: passed, ${#SKIPPED[@]} skipped (not passed)"; status=3
	else results "$how: passed"; fi
	say "done: $OUT/results.md"
	cat "$OUT/results.md"
	exit $status
}

# ------------------------------------------------------------------ A0 machine
say "A0 machine"
S=32   # image side of the generated data
if [ "$DRY" = 1 ]; then
	echo "dry run: the CPU stands in for the GPU (CHECK_GPU_DRYRUN=1); no GPU is checked" | tee "$OUT/device.txt"
	DEV=cpu
	S=8   # the workload of the script's logic: pcnn-gen --naive on 8 images of 32x32 took 45-90 s on 2 loaded cores
	export PCNN_PARITY_SELFTEST=1 PCNN_PARITY_REQUIRE_DEVICE=0
else
	unset PCNN_PARITY_SELFTEST   # never a CPU stand-in where a GPU is checked
	if ! nvidia-smi; then
		fail "no NVIDIA GPU here (nvidia-smi failed): run this on the GPU machine"
		results "no GPU"
		exit 1
	fi
	nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | head -1 | tee "$OUT/device.txt"
	DEV=cuda
	export PCNN_PARITY_REQUIRE_DEVICE=1
fi
command -v nvcc >/dev/null || export PATH=/usr/local/cuda/bin:$PATH
nvcc --version 2>/dev/null | tail -1
have_sanitizer=0
command -v compute-sanitizer >/dev/null && have_sanitizer=1
echo "compute-sanitizer: $have_sanitizer"

# ------------------------------------------------------------------ A1 build
if [ -n "${PREBUILT:-}" ]; then
	BUILD=$PREBUILT
	say "A1 prebuilt tree $BUILD"
	[ -x "$BUILD/tests/test_gpu_parity" ] || { fail "PREBUILT=$BUILD has no tests/test_gpu_parity"; results "no build"; exit 1; }
else
	BUILD=${BUILD:-build-gpu}
	say "A1 build (GPU=1, sm_90, $JOBS jobs)"
	MK=(make BUILD="$BUILD" CUDA_ARCH='-gencode arch=compute_90,code=sm_90 -gencode arch=compute_90,code=compute_90' -j"$JOBS")
	[ "$DRY" = 1 ] && MK=(make BUILD="$BUILD" GPU=0 -j"$JOBS") || MK+=(GPU=1)
	if ! tmo 240 "${MK[@]}" "$BUILD/tests/test_gpu_parity" "$BUILD/tests/test_cuda_load" \
		$( [ "$DRY" = 1 ] || echo "$BUILD/lib/pcnn/libpcnn-cuda.so" ); then
		fail "build of the CUDA library and the GPU tests failed (log.txt): stop"
		results "build failed"
		exit 1
	fi
	if ! tmo 240 "${MK[@]}" all test-tools; then
		# the tools of an earlier build are never tested in their place
		fail "build of the tools failed (log.txt): stop"
		results "build failed"
		exit 1
	fi
fi
BUILD=$(cd "$BUILD" && pwd)
BIN=$BUILD/bin
TBIN=$BUILD/tests/bin

# Libraries the tree needs and the machine lacks: from EXTRA_LIBS, else the CUDA and
# PyTorch folders; only those (a carried libstdc++ must not shadow the machine's).
FILL=$(mktemp -d)
trap 'rm -rf "$FILL" "${W:-}"' EXIT
missing_libs() {
	for f in "$BUILD"/lib/pcnn/libpcnn-cuda.so "$BUILD"/tests/test_gpu_parity "$BIN"/pcnn-fit "$BIN"/pcnn-gen; do
		[ -e "$f" ] && LD_LIBRARY_PATH=${LD_LIBRARY_PATH:-} ldd "$f" 2>/dev/null | awk '/not found/{print $1}'
	done | sort -u
}
miss=$(missing_libs)
if [ -n "$miss" ]; then
	for l in $miss; do
		src=""
		[ -n "${EXTRA_LIBS:-}" ] && [ -e "$EXTRA_LIBS/$l" ] && src=$EXTRA_LIBS/$l
		[ -z "$src" ] && src=$(find /usr/local/cuda*/ /usr/local/lib /opt -maxdepth 10 -name "$l" 2>/dev/null | head -1)
		if [ -n "$src" ]; then ln -sf "$(readlink -f "$src")" "$FILL/$l"; echo "library $l: $src"; fi
	done
	export LD_LIBRARY_PATH=$FILL${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
	# what the filled libraries need in turn (cuDNN's own parts sit beside it)
	for f in "$FILL"/*; do
		d=$(dirname "$(readlink -f "$f")")
		case ":$LD_LIBRARY_PATH:" in *":$d:"*) ;; *) export LD_LIBRARY_PATH=$LD_LIBRARY_PATH:$d ;; esac
	done
	still=$(missing_libs)
	[ -n "$still" ] && fail "libraries still missing: $(echo $still)"
	note "libraries filled in: $(echo $miss)"
fi

# ------------------------------------------------------------------ A5 multi-GPU
# 2 ranks (mpirun, one per GPU: each takes its node-local rank's GPU) against one GPU, on a
# small model: the data-parallel contract of docs/SCALE.md on GPUs. Tolerance: mpi.bats's
# (normalised error 1e-3 of the weights, 3e-3 of Adam's moments, from the CPU's measurements;
# the GPU's own rounding, docs/GPU.md, is far below it); the measured worst is noted, to
# tighten it. Exact: the same N twice, and NCCL's sum against the host MPI sum (PCNN_NCCL=0;
# the same fixed order, so the same bits).
multi_gpu() {
	gate "the multi-GPU parity"
	say "A5 multi-GPU parity (2 ranks vs 1)"
	local ngpu why="" M="$W/multi" f="$OUT/multi-gpu.txt"
	if [ "$DRY" = 1 ]; then ngpu=${CHECK_GPU_DRYRUN_GPUS:-2}
	else ngpu=$(nvidia-smi -L 2>/dev/null | grep -c '^GPU'); fi
	if [ "$ngpu" -lt 2 ]; then why="$ngpu GPU"
	elif ! command -v mpirun >/dev/null; then why="no mpirun here (Open MPI: make deps)"
	elif ! ldd "$BIN/pcnn-fit" 2>/dev/null | grep -q libmpi; then why="the tools were built without MPI (make MPI=1)"
	fi
	if [ -n "$why" ]; then skipped "multi-GPU parity: $why"; return 0; fi
	mkdir -p "$M"
	: >"$f"
	# root in containers; a 2-core dry run needs more slots than cores
	local mpi=(env OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
		OMPI_MCA_rmaps_base_oversubscribe=1 mpirun -np 2 --bind-to none)
	local stand_in=() host_sum=(-x PCNN_NCCL=0) host_how="PCNN_NCCL=0"
	if [ "$DRY" = 1 ]; then   # the CPU's ranks, through the device-collective path
		stand_in=(-x PCNN_TEST_DEVICE_COLL=1 -x PCNN_THREADS=1)
		host_sum=(-x PCNN_TEST_DEVICE_COLL=0 -x PCNN_THREADS=1) host_how="no stand-in"
	fi
	local fa=(-R 1 -F 16 -M 2 -b 16 --max-steps 6 -s 3 --device $DEV)
	local data=$W/val.bin
	tmo 60 "$BIN/pcnn-fit" -q "${fa[@]}" -o "$M/one.bin" "$data" 2>>"$f" &&
		tmo 120 "${mpi[@]}" "${stand_in[@]}" "$BIN/pcnn-fit" "${fa[@]}" -o "$M/two_a.bin" "$data" 2>"$M/two_a.log" &&
		tmo 120 "${mpi[@]}" "${stand_in[@]}" "$BIN/pcnn-fit" -q "${fa[@]}" -o "$M/two_b.bin" "$data" 2>>"$f" &&
		tmo 120 "${mpi[@]}" "${host_sum[@]}" "$BIN/pcnn-fit" "${fa[@]}" -o "$M/two_h.bin" "$data" 2>"$M/two_h.log"
	local rc=$?
	cat "$M/two_a.log" "$M/two_h.log" >>"$f" 2>/dev/null
	if [ $rc -ne 0 ]; then fail "multi-GPU: a pcnn-fit run failed (exit $rc; multi-gpu.txt)"; return 0; fi
	grep -E 'rank [0-9]+ of 2 .*GPU|data parallel|summed in host' "$M/two_a.log" | sed 's/^/  /'
	local sum; sum=$(sed -n 's/.*gradients summed in rank order over \(.*\) (docs.*/\1/p' "$M/two_a.log" | head -1)
	case "$sum" in
	NCCL*|"the test stand-in"*) note "multi-GPU: 2 ranks summed their gradients over $sum" ;;
	*) fail "multi-GPU: the gradients were not summed on the devices ($(grep -h -m1 -E 'summed' "$M/two_a.log"))" ;;
	esac
	if [ "$DRY" = 0 ]; then
		local map; map=$(grep -o 'rank [0-9] of 2 .*GPU [0-9]* of the [0-9]* visible' "$M/two_a.log" | sort | sed 's/ (host [^)]*)//' | paste -sd';')
		if grep -q 'rank 0 of 2 .*GPU 0 of' "$M/two_a.log" && grep -q 'rank 1 of 2 .*GPU 1 of' "$M/two_a.log"; then
			note "multi-GPU: one GPU per rank: $map"
		else fail "multi-GPU: ranks 0 and 1 not on GPUs 0 and 1: ${map:-no rank-to-GPU line}"; fi
	fi
	if cmp -s "$M/two_a.bin" "$M/two_b.bin"; then note "multi-GPU: 2 ranks twice (6 steps): model files byte-identical"
	else fail "multi-GPU: 2 ranks twice (6 steps, same seed): model files differ"; fi
	if cmp -s "$M/two_a.bin" "$M/two_h.bin"; then note "multi-GPU: device sum vs host MPI sum ($host_how): model files byte-identical"
	else fail "multi-GPU: device sum vs host MPI sum ($host_how): model files differ (the same order should give the same bits)"; fi
	"$TBIN/pcnn-modeldiff" -t 1e-3 -m 3e-3 "$M/one.bin" "$M/two_a.bin" >"$M/diff.txt" 2>&1
	rc=$?
	cat "$M/diff.txt" >>"$f"
	local worst; worst=$(tr '\n' ' ' <"$M/diff.txt" | tr -s ' ')
	if [ $rc -eq 0 ]; then note "multi-GPU: 2 ranks vs 1 GPU (6 steps): within 1e-3 (Adam 3e-3): $worst"
	else fail "multi-GPU: 2 ranks vs 1 GPU (6 steps): beyond 1e-3 (Adam 3e-3): $worst"; fi
	tmo 60 "$BIN/pcnn-score" -q -b 64 --device $DEV -o "$M/s1.tsv" "$M/one.bin" "$data" &&
		tmo 120 "${mpi[@]}" "${stand_in[@]}" "$BIN/pcnn-score" -q -b 64 --device $DEV -o "$M/s2.tsv" "$M/one.bin" "$data" 2>>"$f"
	if [ $? -ne 0 ]; then fail "multi-GPU: pcnn-score over 2 ranks failed (multi-gpu.txt)"
	elif cmp -s "$M/s1.tsv" "$M/s2.tsv"; then note "multi-GPU: pcnn-score over 2 ranks vs 1: TSV byte-identical"
	else   # each rank scores half of each round: another batch size (docs/GPU.md)
		local d r
		d=$(tsv_maxdiff "$M/s1.tsv" "$M/s2.tsv")
		r=$(echo "$d" | sed 's/.*relative \([^)]*\))/\1/')
		if awk -v r="$r" 'BEGIN{exit !(r <= 1e-6)}'; then
			note "multi-GPU: pcnn-score over 2 ranks vs 1: not byte-identical; largest difference $d (contract: <= 1e-6 relative)"
		else fail "multi-GPU: pcnn-score over 2 ranks vs 1: largest difference $d (contract: <= 1e-6 relative)"; fi
	fi
}

# ------------------------------------------------------------------ A2 parity
if [ $MULTI_ONLY = 1 ]; then
	W=$(mktemp -d)
	NVAL=519; [ "$DRY" = 1 ] && NVAL=64
	tmo 30 "$TBIN/pcnn-mkdata" -H $S -W $S -K 4 -n $NVAL -s 2 -o "$W/val.bin" || fail "pcnn-mkdata failed (log.txt)"
	multi_gpu
	finish "multi-GPU only"
fi
if [ $BENCH_ONLY = 0 ]; then
	say "A2 test_cuda_load"
	tmo 30 "$BUILD/tests/test_cuda_load" >"$OUT/cuda-load.txt" 2>&1
	rc=$?
	cat "$OUT/cuda-load.txt"
	[ $rc -eq 0 ] && note "test_cuda_load: ok" || fail "test_cuda_load: exit $rc"

	names=$("$BUILD/tests/test_gpu_parity" --list)
	rc=$?
	# the script's logic, not the ops: two of the listed tests in a dry run
	[ "$DRY" = 1 ] && names=$(printf '%s\n' $names | grep -xE 'test_weightnorm|test_dmol')
	if [ $rc -ne 0 ] || [ -z "$names" ]; then
		fail "parity: test_gpu_parity --list named no tests (exit $rc): zero tests is not a pass"
		names=""
	fi
	for prec in fp32 tf32 bf16; do
		[ -n "$names" ] || break
		gate "parity $prec"
		say "A2 parity $prec"
		f=$OUT/parity-$prec.txt
		: >"$f"
		nok=0 nbad=0 nskip=0 bad=""
		for t in $names; do
			# synchronous launches, except for the graphs' test (a capture refuses them)
			blocking=1; case $t in test_graph*) blocking=0 ;; esac
			PCNN_PRECISION=$prec CUDA_LAUNCH_BLOCKING=$blocking tmo 60 "$BUILD/tests/test_gpu_parity" "$t" >"$FILL.out" 2>&1
			rc=$?
			sed "s/^/[$t] /" "$FILL.out" >>"$f"
			rm -f "$FILL.out"
			if grep -q '# SKIP' <(grep "^\[$t\] ok" "$f"); then nskip=$((nskip + 1)); bad="$bad $t(skip)"
			elif [ $rc -ne 0 ]; then nbad=$((nbad + 1)); bad="$bad $t(exit $rc)"
			elif [ "$DRY" = 0 ] && grep -q "^\[$t\] # self-test" "$f"; then
				nbad=$((nbad + 1)); bad="$bad $t(self-test: the CPU against itself)"
			elif ! grep -q "^\[$t\] ok [0-9]* - $t\$" "$f"; then nbad=$((nbad + 1)); bad="$bad $t(no ok line)"
			else nok=$((nok + 1)); fi
		done
		grep -E '^\[[a-z_]+\] (#   |not ok|ok )' "$f" | grep -E 'not ok|rel err|differences|SKIP' | head -400
		if [ $((nbad + nskip)) -ne 0 ] || [ $nok -eq 0 ]; then fail "parity $prec: $nok ok, $nbad failed, $nskip skipped:$bad"
		else note "parity $prec: all $nok tests ok"; fi
		# the largest error per check, for tightening the tolerances
		awk '/rel err/{for(i=1;i<=NF;i++) if($i=="err") {e=$(i+1); if (e+0 > m+0) {m=e; w=$0}}}
			END{if (m != "") printf "largest rel err %s in: %s\n", m, w}' "$f" | sed "s/^/parity $prec: /" | tee -a "$NOTES"
	done
	results "stage A2"

	# -------------------------------------------------------------- A3 memcheck
	gate "memcheck"
	say "A3 compute-sanitizer memcheck"
	if [ "$DRY" = 1 ]; then
		skipped "memcheck: a dry run has no GPU"
	elif [ $have_sanitizer = 0 ]; then
		skipped "memcheck: compute-sanitizer is not on this machine"
	else
		: >"$OUT/memcheck.txt"
		# the whole net (film + input, a hybrid step), then the cached sampler's window ops
		for mc in "test_hybrid_variants:120:whole net, film+input, hybrid step" \
			"test_cached_logits_variants:60:the cached sampler's windows, film+input"; do
			IFS=: read -r mt ms mwhat <<<"$mc"
			gate "memcheck $mt"
			echo "== $mt" >>"$OUT/memcheck.txt"
			tmo "$ms" compute-sanitizer --tool memcheck --leak-check no --error-exitcode 3 \
				"$BUILD/tests/test_gpu_parity" "$mt" >>"$OUT/memcheck.txt" 2>&1
			rc=$?
			tail -3 "$OUT/memcheck.txt"
			case $rc in
			0) note "memcheck ($mt: $mwhat): no errors" ;;
			124|137) skipped "memcheck $mt: did not finish in ${ms} s" ;;
			*) fail "memcheck $mt: exit $rc: $(grep -m3 -E 'ERROR SUMMARY|Invalid|Program hit' "$OUT/memcheck.txt" | tr '\n' ' ')" ;;
			esac
		done
	fi
fi

# ------------------------------------------------------------------ A4 reproducibility
gate "the reproducibility checks"
W=$(mktemp -d)
NTRAIN=4159 NVAL=519; [ "$DRY" = 1 ] && NTRAIN=256 NVAL=64
tmo 30 "$TBIN/pcnn-mkdata" -H $S -W $S -K 4 -n $NTRAIN -s 1 -o "$W/train.bin" || fail "pcnn-mkdata failed (log.txt)"
tmo 30 "$TBIN/pcnn-mkdata" -H $S -W $S -K 4 -n $NVAL -s 2 -o "$W/val.bin" || fail "pcnn-mkdata failed (log.txt)"
if [ $BENCH_ONLY = 0 ]; then
	say "A4 reproducibility"
	fitargs=(-q -R 1 -F 16 -M 2 -b 16 --max-steps 6 -s 3 --device $DEV)
	PCNN_CONV_LOG=1 tmo 60 "$BIN/pcnn-fit" "${fitargs[@]}" -o "$W/r1.bin" "$W/val.bin" 2>"$OUT/conv-algos.txt" &&
		tmo 60 "$BIN/pcnn-fit" "${fitargs[@]}" -o "$W/r2.bin" "$W/val.bin"
	if [ $? -ne 0 ]; then fail "pcnn-fit on $DEV failed (log.txt, conv-algos.txt)"
	elif cmp -s "$W/r1.bin" "$W/r2.bin"; then note "pcnn-fit twice on $DEV (6 steps): model files byte-identical"
	else fail "pcnn-fit twice on $DEV (6 steps, same seed): model files differ"; fi
	# pcnn-fit --precision bf16 (the GPU's bf16 training mode): twice the same bytes, and not
	# the fp32 run's (the mode is not a no-op). The dry run's CPU stand-in has it only with
	# AVX512_BF16.
	if [ "$DRY" = 1 ] && ! grep -qw avx512_bf16 /proc/cpuinfo 2>/dev/null; then
		skipped "pcnn-fit --precision bf16 twice: a dry run on a CPU without AVX512_BF16"
	elif tmo 60 "$BIN/pcnn-fit" "${fitargs[@]}" --precision bf16 -o "$W/b1.bin" "$W/val.bin" &&
		tmo 60 "$BIN/pcnn-fit" "${fitargs[@]}" --precision bf16 -o "$W/b2.bin" "$W/val.bin"; then
		# the model files differ in their "precision" entry anyway: compare what they score
		tmo 60 "$BIN/pcnn-score" -q -b 64 --device $DEV -o "$W/sb.tsv" "$W/b1.bin" "$W/val.bin" &&
			tmo 60 "$BIN/pcnn-score" -q -b 64 --device $DEV -o "$W/sr.tsv" "$W/r1.bin" "$W/val.bin"
		if [ $? -ne 0 ]; then fail "pcnn-score of the bf16-trained model on $DEV failed (log.txt)"
		elif ! cmp -s "$W/b1.bin" "$W/b2.bin"; then fail "pcnn-fit --precision bf16 twice on $DEV (6 steps, same seed): model files differ"
		elif cmp -s "$W/sb.tsv" "$W/sr.tsv"; then fail "pcnn-fit --precision bf16 on $DEV: scores the same bytes as the model trained without it (bf16 not used)"
		else note "pcnn-fit --precision bf16 twice on $DEV (6 steps): model files byte-identical; its scores vs the plain run's: $(tsv_maxdiff "$W/sb.tsv" "$W/sr.tsv")"; fi
	else fail "pcnn-fit --precision bf16 on $DEV failed (log.txt)"; fi
	tmo 60 "$BIN/pcnn-score" -q -b 64 --device $DEV -o "$W/s64.tsv" "$W/r1.bin" "$W/val.bin" &&
		tmo 60 "$BIN/pcnn-score" -q -b 7 --device $DEV -o "$W/s7.tsv" "$W/r1.bin" "$W/val.bin"
	# The GPU's contract (docs/GPU.md): the same bytes for the same batch size; across
	# batch sizes cuBLAS/cuDNN may sum in another order: within 1e-6 relative.
	if [ $? -ne 0 ]; then fail "pcnn-score on $DEV failed (log.txt)"
	elif cmp -s "$W/s64.tsv" "$W/s7.tsv"; then note "pcnn-score on $DEV, batch 64 vs 7: TSV byte-identical"
	else
		d=$(tsv_maxdiff "$W/s64.tsv" "$W/s7.tsv")
		r=$(echo "$d" | sed 's/.*relative \([^)]*\))/\1/')
		if awk -v r="$r" 'BEGIN{exit !(r <= 1e-6)}'; then
			note "pcnn-score on $DEV, batch 64 vs 7: not byte-identical; largest difference $d (contract: <= 1e-6 relative)"
		else fail "pcnn-score on $DEV, batch 64 vs 7: largest difference $d (contract: <= 1e-6 relative)"; fi
	fi
	if tmo 60 "$BIN/pcnn-score" -q -b 64 --device cpu -o "$W/scpu.tsv" "$W/r1.bin" "$W/val.bin"; then
		note "pcnn-score $DEV vs cpu: largest difference of log p: $(tsv_maxdiff "$W/s64.tsv" "$W/scpu.tsv")"
	else fail "pcnn-score on the CPU failed (log.txt)"; fi
	gF=40 gS=20 gB=64; [ "$DRY" = 1 ] && gF=8 gS=3 gB=16
	tmo 60 "$BIN/pcnn-fit" -q -R 1 -F $gF -M 5 -b $gB --max-steps $gS --device $DEV -o "$W/g.bin" "$W/train.bin" || fail "pcnn-fit (1,$gF,5) on $DEV failed"
	# "S of T": how many of folder A's PNGs folder B holds byte for byte
	same_pngs() {
		local same=0 total=0 f
		for f in "$1"/*.png; do
			total=$((total + 1))
			cmp -s "$f" "$2/$(basename "$f")" && same=$((same + 1))
		done
		echo "$same of $total"
	}
	tmo 60 "$BIN/pcnn-gen" -q --no-quality -c all -n 2 -b 8 -s 5 --device cpu -o "$W/gen-cpu" "$W/g.bin" &&
		tmo 60 "$BIN/pcnn-gen" -q --no-quality -c all -n 2 -b 8 -s 5 --device $DEV -o "$W/gen-gpu" "$W/g.bin"
	if [ $? -ne 0 ]; then fail "pcnn-gen failed (log.txt)"
	else
		note "pcnn-gen cpu vs $DEV (seed 5, F=$gF, $gS steps): $(same_pngs "$W/gen-cpu" "$W/gen-gpu") images byte-identical (float rounding may move a sampled value: not counted as a failure)"
		cp -r "$W/gen-cpu" "$W/gen-gpu" "$OUT/" 2>/dev/null
	fi
	# The cached sampler on the device against its naive one (the whole network per
	# position): the same images up to float rounding (the windows' convolutions may sum
	# in another order); test_cached_logits bounds the logits themselves.
	if tmo 60 "$BIN/pcnn-gen" -q --no-quality --naive -c all -n 2 -b 8 -s 5 --device $DEV -o "$W/gen-naive" "$W/g.bin"; then
		note "pcnn-gen on $DEV, cached vs --naive sampler: $(same_pngs "$W/gen-gpu" "$W/gen-naive") images byte-identical (not counted as a failure)"
	else fail "pcnn-gen --naive on $DEV failed (log.txt)"; fi
	# The cached sampler's positions as graphs (PCNN_CUDA_GRAPH=1: one per position shape,
	# captured once and replayed; issue 27 item 4) on the same device: the plain cached
	# sampler's bytes (the same launches; test_graph counts the replays)
	if [ -d "$W/gen-gpu" ] && PCNN_CUDA_GRAPH=1 tmo 60 "$BIN/pcnn-gen" -q --no-quality -c all -n 2 -b 8 -s 5 --device $DEV -o "$W/gen-graph" "$W/g.bin"; then
		read -r gsame _ gtotal <<<"$(same_pngs "$W/gen-gpu" "$W/gen-graph")"
		if [ "$gsame" = "$gtotal" ] && [ "$gtotal" -gt 0 ]; then note "pcnn-gen on $DEV, the cached sampler with graphs vs without: $gsame of $gtotal images byte-identical"
		else fail "pcnn-gen on $DEV, the cached sampler with graphs (PCNN_CUDA_GRAPH=1) vs without: only $gsame of $gtotal images byte-identical"; fi
	elif [ -d "$W/gen-gpu" ]; then fail "pcnn-gen with PCNN_CUDA_GRAPH=1 on $DEV failed (log.txt)"; fi
	results "stage A4"
	multi_gpu
	results "stage A"
fi

# ------------------------------------------------------------------ B speed
if [ $QUALITY_ONLY = 0 ]; then   # (to the end of stage B)
# peak GPU memory (MiB above the idle level) of a command, sampled every 50 ms
peak_run() {   # peak_run FILE cmd... ; writes peak MiB to FILE, returns the command's status
	local f=$1; shift
	if [ "$DRY" = 1 ]; then echo 0 >"$f"; "$@"; return; fi
	local base; base=$(nvidia-smi --query-gpu=memory.used --format=csv,noheader,nounits | head -1)
	nvidia-smi --query-gpu=memory.used --format=csv,noheader,nounits -lms 50 >"$f.trace" 2>/dev/null &
	local mon=$!
	"$@"; local rc=$?
	kill $mon 2>/dev/null; wait $mon 2>/dev/null
	sort -n "$f.trace" | tail -1 | awk -v b="$base" '{print ($1 - b)}' >"$f"
	return $rc
}
steps=40; [ "$DRY" = 1 ] && steps=2
tmo 30 "$TBIN/pcnn-mkdata" -H $S -W $S -K 4 -n $((64 * steps)) -s 4 -o "$W/bench.bin" || fail "pcnn-mkdata failed (log.txt)"
# a size's fourth word "train": training only (issue 27's (1,160,5) goal is a training rate)
SIZES=("1 40 5" "5 160 10" "1 160 5 train")
[ "$DRY" = 1 ] && SIZES=("1 8 1" "1 4 1 train")
for size in "${SIZES[@]}"; do
	# bf16-graph: bf16 with every training step and scoring pass, and each position of the
	# cached sampler (one graph per position shape), replayed as a CUDA graph
	for prec in fp32 tf32 bf16 bf16-graph; do
		graph=0; case $prec in *-graph) graph=1 ;; esac
		pprec=${prec%-graph}
		set -- $size
		tag="$1,$2,$3"
		gate "the benchmark $prec $tag"
		say "B pcnn $prec ($tag)"
		rm -f "$W/m.bin" "$W/fit.tsv"
		t0=$(now)
		PCNN_CUDA_GRAPH=$graph PCNN_PRECISION=$pprec peak_run "$W/peak" tmo 120 "$BIN/pcnn-fit" -q -R $1 -F $2 -M $3 -b 64 \
			-e 1 --device $DEV --log "$W/fit.tsv" -o "$W/m.bin" "$W/bench.bin"
		rc=$?
		t1=$(now)
		if [ $rc -ne 0 ]; then fail "pcnn $prec $tag: pcnn-fit exit $rc"; continue; fi
		ips=$(awk -F'\t' 'NR==1{for(i=1;i<=NF;i++) if($i=="images_per_s") c=i; next} {v=$c} END{print v}' "$W/fit.tsv")
		row pcnn "$prec" "$tag" train_img_s "$ips" img/s
		row pcnn "$prec" "$tag" epoch_wall_s "$(elapsed "$t0" "$t1")" s
		row pcnn "$prec" "$tag" peak_gib "$(awk '{printf "%.3f", $1/1024}' "$W/peak")" GiB
		if [ "${4:-}" = train ]; then results "stage B"; continue; fi
		# the whole tool's wall, and its phases (PCNN_TIMING=1: device init, the first batch's
		# plans, the rest) as rows of their own; the K classes run as one wide pass (the
		# GPU's default); bf16 and bf16-graph also as K passes (PCNN_SCORE_WIDE=0) beside it
		for wide in 1 0; do
			case "$wide,$pprec" in 0,bf16) ;; 0,*) continue ;; esac
			sfx=; [ $wide = 0 ] && sfx=_kpass
			t0=$(now)
			if PCNN_SCORE_WIDE=$wide PCNN_TIMING=1 PCNN_CUDA_GRAPH=$graph PCNN_PRECISION=$pprec tmo 60 "$BIN/pcnn-score" -q -b 64 --device $DEV \
				-o "$W/s.tsv" "$W/m.bin" "$W/val.bin" 2>"$W/score.err"; then
				row pcnn "$prec" "$tag" score${sfx}_s "$(elapsed "$t0" "$(now)")" s
				# "pcnn-score: timing (s): model A, device init B (...), net C, first batch D (...), scoring E ..."
				sed -n 's/^pcnn-score: timing (s): model \([0-9.]*\), device init \([0-9.]*\) ([^)]*), net \([0-9.]*\), first batch \([0-9.]*\) ([^)]*), scoring \([0-9.]*\) .*/\1 \2 \3 \4 \5/p' "$W/score.err" |
					while read -r tm ti tn tf ts; do
						row pcnn "$prec" "$tag" score${sfx}_init_s "$ti" s
						row pcnn "$prec" "$tag" score${sfx}_first_s "$tf" s
						row pcnn "$prec" "$tag" score${sfx}_rest_s "$ts" s
						note "pcnn-score $prec $tag$([ $wide = 0 ] && echo ', K passes'): model ${tm} s, device init ${ti} s, net ${tn} s, first batch ${tf} s, the other batches ${ts} s"
					done
				grep -v '^pcnn-score: timing' "$W/score.err" >&2
			else
				cat "$W/score.err" >&2
				fail "pcnn-score $prec $tag$([ $wide = 0 ] && echo ' (PCNN_SCORE_WIDE=0)')"
			fi
		done
		n=25; [ "$DRY" = 1 ] && n=1   # 100 images in one batch, the cached sampler
		t0=$(now)
		PCNN_CUDA_GRAPH=$graph PCNN_PRECISION=$pprec tmo 45 "$BIN/pcnn-gen" -q --no-quality -c all -n $n -b 100 --device $DEV \
			-o "$W/samples" "$W/m.bin"
		rc=$?
		case $rc in
		0) row pcnn "$prec" "$tag" sample_s "$(elapsed "$t0" "$(now)")" s
		   row pcnn "$prec" "$tag" sample_n $((4 * n)) images ;;
		124|137) fail "pcnn-gen $prec $tag: did not finish in 45 s (no sampling time)" ;;
		*) fail "pcnn-gen $prec $tag: exit $rc$( [ $rc -gt 128 ] && echo " (killed by signal $((rc - 128)))")" ;;
		esac
		results "stage B"
	done
done

gate "the PyTorch benchmark"
say "B PyTorch"
if [ "$DRY" = 1 ]; then
	skipped "PyTorch's benchmark: a dry run has no GPU"
elif python3 -c 'import torch; assert torch.cuda.is_available()' 2>/dev/null; then
	# eager fp32 and bf16 + channels_last at both sizes first, then torch.compile (minutes
	# of compiling at (5,160,10)); each case's start, end or failure (and why) goes to
	# torch-notes.txt and from there into results.md, so a missing row says why
	targs=(--out "$W/torch.tsv" --quick --notes "$OUT/torch-notes.txt")
	[ "${NO_TORCH_COMPILE:-0}" = 1 ] && targs+=(--no-compile)
	: >"$OUT/torch-notes.txt"
	tl=$(($(left) - 10)); [ $tl -gt 300 ] && tl=300
	tmo $tl python3 tests/reference/bench_gpu_torch.py "${targs[@]}"
	rc=$?
	sed 's/^/PyTorch: /' "$OUT/torch-notes.txt" | while IFS= read -r l; do note "$l"; done
	case $rc in
	0) ;;
	124|137) skipped "PyTorch's benchmark: stopped after ${tl} s (the rows of the cases that ended are kept; torch-notes.txt: which ran)" ;;
	*) skipped "PyTorch's benchmark: exit $rc (a case failed: the FAILED line above says why; the other rows are kept)" ;;
	esac
	[ -f "$W/torch.tsv" ] && cat "$W/torch.tsv" >>"$TSV"
else
	skipped "PyTorch's benchmark: python3 has no CUDA torch here"
fi

fi   # stage B

# ------------------------------------------------------------------ C quality
# QUALITY_DATA=DIR (a folder in the CPEN 455 layout, or 'fashion'): the whole job on the
# device, `make pipeline-run PROFILE=full` (prep, fit, the fitted prior, score, argmax,
# complete, gen with its judge, plot, report) with the tools under test, once per objective
# of QUALITY_OBJECTIVES (default "hybrid likelihood"), each trained for QUALITY_S seconds
# (FIT_BUDGET, default 150; PCNN_PRECISION=QUALITY_PRECISION, default tf32). make runs with
# -k, so a step the machine lacks a tool for (gnuplot, cmark-gfm) costs only its own file.
# Each run's small files go to $OUT/quality-<objective>/ (report.md, val.report.md,
# fit.tsv, config.txt, prior.txt, calibration.txt, grid.png, curve.png, logs/); the model
# and data stay in the scratch folder. A dry run does the same on the CPU with the tiny
# fixture and tiny sizes: the test of the chain (tests/bats/gpu_required.bats).
quality_run() {   # quality_run OBJECTIVE SECONDS
	local obj=$1 qs=$2 run=quality-$1 d dst acc rc
	local -a knobs=(PROFILE=full "OBJECTIVE=$obj" "FIT_BUDGET=$qs" "DEVICE=$DEV")
	[ "$DRY" = 1 ] && knobs+=(FILTERS=8 SIZE=8 BATCH=8 EPOCHS=2 GEN_N=2 COMPLETE_N=1 PRIOR_IMAGES=0 MIX=2)
	say "C quality: make pipeline-run ${knobs[*]} DATA=$QUALITY_DATA"
	t0=$(now)
	PCNN_PRECISION=${QUALITY_PRECISION:-tf32} tmo $((qs + 240)) make -k --no-print-directory -C "$ROOT" \
		pipeline-run RUNS_DIR="$W/quality" RUN="$run" DATA="$QUALITY_DATA" PIPE_BIN="$BIN" "${knobs[@]}"
	rc=$?
	d=$W/quality/$run dst=$OUT/quality-$obj
	mkdir -p "$dst"
	for f in report.md val.report.md test.report.md fit.tsv config.txt prior.txt calibration.txt \
		grid.png curve.png completions.png; do
		[ -f "$d/$f" ] && cp "$d/$f" "$dst/"
	done
	[ -d "$d/logs" ] && cp -r "$d/logs" "$dst/"
	acc=$(grep -m1 -o 'accuracy: [0-9.]* ([0-9/]*)' "$d/val.report.md" 2>/dev/null)
	if [ -z "$acc" ]; then
		fail "quality $obj: no validation report (make exit $rc; $dst/logs)"
		return
	fi
	note "quality $obj (PROFILE=full, $(awk 'END{print $1}' "$d/fit.tsv" 2>/dev/null) epochs within a training budget of $qs s, whole run $(elapsed "$t0" "$(now)") s): validation $acc$(
		sed -n 's/^| validation accuracy with a uniform prior | \(.*\) |$/; uniform prior \1/p' "$d/report.md" 2>/dev/null)"
	sed -n 's/^samples judged as their class by \(.*\)$/quality '"$obj"': samples judged as their class by \1/p' "$d/report.md" 2>/dev/null | tee -a "$NOTES"
	[ $rc -eq 0 ] || note "quality $obj: make exit $rc (a step failed; the numbers above come from the files it made: $dst/logs)"
}
if [ -n "${QUALITY_DATA:-}" ]; then
	gate "the quality runs"
	[ -d "${W:-}" ] || W=$(mktemp -d)
	for obj in ${QUALITY_OBJECTIVES:-hybrid likelihood}; do
		gate "the quality run ($obj)"
		qs=${QUALITY_S:-150}
		[ "$(left)" -lt $((qs + 120)) ] && qs=$(($(left) - 120))
		[ "$qs" -lt 5 ] && qs=5
		quality_run "$obj" "$qs"
	done
	[ "$DRY" = 1 ] && [ $QUALITY_ONLY = 1 ] && skipped "the device: a dry run ran the whole job on the CPU"
	results "stage C"
elif [ $QUALITY_ONLY = 1 ]; then
	fail "--quality-only without QUALITY_DATA: nothing to run (QUALITY_DATA=DIR in the CPEN 455 layout, or fashion)"
fi

finish done
