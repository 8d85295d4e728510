#!/usr/bin/env bash
# pipelines/check-gpu.sh — everything of issue 5 that needs a GPU, in one run
# well under 10 minutes (make check-gpu / make bench-gpu call it):
#   1. nvidia-smi, toolkit, and which build libraries this machine has;
#   2. make GPU=1 for sm_90 into $BUILD (default build-gpu);
#   3. test_gpu_parity in fp32 and tf32, then the whole suite (tests/run);
#   4. pcnn-gen: the same seed on CPU and GPU, images compared byte for byte;
#   5. benchmarks at (R,F,M) = (5,160,10) and (1,40,5), batch 64, 32x32, K=4:
#      pcnn (fp32 and tf32) and PyTorch (tests/reference/bench_gpu_torch.py);
#   6. $OUT/results.md (table), results.tsv, log.txt.
#
#   OUT=results/gpu pipelines/check-gpu.sh [--bench-only]
# Environment: OUT, BUILD, JOBS, BENCH_FULL=1 (full PyTorch repetitions and
# sampling instead of the quick form), NO_TORCH_COMPILE=1.
set -u
cd "$(dirname "$0")/.."
ROOT=$PWD
OUT=${OUT:-results/gpu}
BUILD=${BUILD:-build-gpu}
JOBS=${JOBS:-$(nproc 2>/dev/null || echo 4)}
BENCH_ONLY=0
[ "${1:-}" = "--bench-only" ] && BENCH_ONLY=1
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
exec > >(tee "$OUT/log.txt") 2>&1
TSV="$OUT/results.tsv"
: >"$TSV"
NOTES="$OUT/notes.txt"
: >"$NOTES"
T0=$(date +%s)
say() { printf '\n== %s (%ds)\n' "$*" $(($(date +%s) - T0)); }
note() { printf '%s\n' "$*" | tee -a "$NOTES"; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN{printf "%.3f", b - a}'; }
row() { printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$@" >>"$TSV"; }

say "device"
if ! nvidia-smi; then
	echo "check-gpu: no NVIDIA GPU here (nvidia-smi failed): run this on the GPU machine" >&2
	exit 1
fi
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
command -v nvcc >/dev/null || export PATH=/usr/local/cuda/bin:$PATH
nvcc --version | tail -2
python3 -c 'import torch; print("torch", torch.__version__, "cuda", torch.version.cuda)' 2>&1

say "build libraries"
# The Makefile links -lopenblas -lpng -ljpeg -lz; the device image may lack some.
# Install nothing: report what is missing (a static archive elsewhere can be named
# with LDFLAGS=-L... in config.mk).
missing=""
for l in openblas png jpeg z; do
	if printf 'int main(void){return 0;}\n' | cc -x c - -o /dev/null -l$l 2>/dev/null; then
		echo "lib$l: ok"
	else
		echo "lib$l: MISSING"; missing="$missing $l"
	fi
done
for h in cblas.h png.h jpeglib.h zlib.h cudnn.h; do
	if printf '#include <%s>\nint main(void){return 0;}\n' "$h" |
		cc -x c - -o /dev/null -I/usr/local/cuda/include -I/usr/include/openblas 2>/dev/null; then
		echo "$h: ok"
	else
		echo "$h: MISSING"; missing="$missing $h"
	fi
done
if [ -n "$missing" ]; then
	note "build libraries missing on this machine:$missing (nothing installed; build stops)"
fi

say "build (GPU=1, sm_90, $JOBS jobs)"
if ! make BUILD="$BUILD" GPU=1 CUDA_ARCH='-gencode arch=compute_90,code=sm_90' -j"$JOBS" all unit-tests; then
	note "build failed (see log.txt)"
	exit 1
fi
BIN=$ROOT/$BUILD/bin
TBIN=$ROOT/$BUILD/tests/bin   # test helpers (pcnn-mkdata; make unit-tests)

status=0
if [ $BENCH_ONLY = 0 ]; then
	# A device is required: a backend that does not load is "not ok" (and its reason,
	# on stderr, lands in the file); a SKIP line counts as a failure here too.
	for prec in fp32 tf32; do
		say "parity $prec"
		PCNN_PARITY_REQUIRE_DEVICE=1 PCNN_PRECISION=$prec timeout 120 "$BUILD/tests/test_gpu_parity" 2>&1 \
			| tee "$OUT/parity-$prec.txt"
		rc=${PIPESTATUS[0]}
		skips=$(grep -c '^ok .*# SKIP' "$OUT/parity-$prec.txt")
		{ [ $rc -ne 0 ] || [ "$skips" -ne 0 ]; } && status=1
		note "parity $prec: exit $rc, $(grep '^ok' "$OUT/parity-$prec.txt" | grep -vc '# SKIP') ok, $(grep -c '^not ok' "$OUT/parity-$prec.txt") not ok, $skips skipped (a skip is a failure here)"
	done
	say "whole suite"
	BUILD=$BUILD timeout 240 tests/run >"$OUT/suite.txt" 2>&1
	rc=$?; [ $rc -ne 0 ] && status=1
	tail -15 "$OUT/suite.txt"
	note "suite: exit $rc: $(tail -1 "$OUT/suite.txt")"
fi

# ---------------------------------------------------------------- pcnn runs
W=$(mktemp -d)
trap 'rm -rf "$W"' EXIT
"$TBIN/pcnn-mkdata" -H 32 -W 32 -K 4 -n 4159 -s 1 -o "$W/train.bin"
"$TBIN/pcnn-mkdata" -H 32 -W 32 -K 4 -n 519 -s 2 -o "$W/val.bin"

# peak GPU memory (MiB above the idle level) of a command, sampled every 50 ms
peak_run() {   # peak_run FILE cmd... ; writes peak MiB to FILE, returns the command's status
	local f=$1; shift
	local base; base=$(nvidia-smi --query-gpu=memory.used --format=csv,noheader,nounits | head -1)
	nvidia-smi --query-gpu=memory.used --format=csv,noheader,nounits -lms 50 >"$f.trace" 2>/dev/null &
	local mon=$!
	"$@"; local rc=$?
	kill $mon 2>/dev/null; wait $mon 2>/dev/null
	sort -n "$f.trace" | tail -1 | awk -v b="$base" '{print ($1 - b)}' >"$f"
	return $rc
}

if [ $BENCH_ONLY = 0 ]; then
	say "pcnn-gen: CPU vs GPU, same seed"
	"$BIN/pcnn-fit" -q -R 1 -F 40 -M 5 -b 64 --max-steps 20 --device cuda -o "$W/g.bin" "$W/train.bin"
	"$BIN/pcnn-gen" -q --no-quality -c all -n 2 -b 8 -s 5 --device cpu -o "$W/gen-cpu" "$W/g.bin"
	"$BIN/pcnn-gen" -q --no-quality -c all -n 2 -b 8 -s 5 --device cuda -o "$W/gen-gpu" "$W/g.bin"
	same=0 total=0 diffpx=0
	for f in "$W"/gen-cpu/*.png; do
		total=$((total + 1))
		if cmp -s "$f" "$W/gen-gpu/$(basename "$f")"; then same=$((same + 1)); fi
	done
	note "pcnn-gen fp32: $same of $total images byte-identical CPU vs GPU (seed 5, F=40)"
	[ "$same" -eq "$total" ] || note "  (differing images: float rounding moved a sampled value; compare visually in $OUT/gen-*)"
	cp -r "$W/gen-cpu" "$W/gen-gpu" "$OUT/" 2>/dev/null
fi

for prec in fp32 tf32; do
	for size in "5 160 10" "1 40 5"; do
		set -- $size
		tag="$1,$2,$3"
		say "pcnn $prec ($tag)"
		export PCNN_PRECISION=$prec
		rm -f "$W/m.bin" "$W/fit.tsv"
		t0=$(date +%s.%N)
		peak_run "$W/peak" timeout 150 "$BIN/pcnn-fit" -q -R $1 -F $2 -M $3 -b 64 -e 1 --device cuda \
			--log "$W/fit.tsv" -o "$W/m.bin" "$W/train.bin"
		rc=$?
		t1=$(date +%s.%N)
		if [ $rc -ne 0 ]; then note "pcnn $prec $tag: pcnn-fit exit $rc"; status=1; continue; fi
		ips=$(awk -F'\t' 'NR==1{for(i=1;i<=NF;i++) if($i=="images_per_s") c=i; next} {v=$c} END{print v}' "$W/fit.tsv")
		row pcnn "$prec" "$tag" train_img_s "$ips" img/s
		row pcnn "$prec" "$tag" epoch_wall_s "$(elapsed "$t0" "$t1")" s
		row pcnn "$prec" "$tag" peak_gib "$(awk '{printf "%.3f", $1/1024}' "$W/peak")" GiB
		t0=$(date +%s.%N)
		timeout 60 "$BIN/pcnn-score" -q -b 64 --device cuda -o "$W/s.tsv" "$W/m.bin" "$W/val.bin" || note "pcnn-score $prec $tag failed"
		t1=$(date +%s.%N)
		row pcnn "$prec" "$tag" score_s "$(elapsed "$t0" "$t1")" s
		t0=$(date +%s.%N)
		timeout 90 "$BIN/pcnn-gen" -q --no-quality -c all -n 25 -b 100 --device cuda -o "$W/samples" "$W/m.bin" || note "pcnn-gen $prec $tag failed"
		t1=$(date +%s.%N)
		row pcnn "$prec" "$tag" sample_s "$(elapsed "$t0" "$t1")" s
		unset PCNN_PRECISION
	done
done

say "PyTorch"
targs=(--out "$W/torch.tsv")
[ "${BENCH_FULL:-0}" = 1 ] || targs+=(--quick)
[ "${NO_TORCH_COMPILE:-0}" = 1 ] && targs+=(--no-compile)
timeout 300 python3 tests/reference/bench_gpu_torch.py "${targs[@]}" || note "PyTorch bench: exit $? (partial results kept)"
[ -f "$W/torch.tsv" ] && cat "$W/torch.tsv" >>"$TSV"

say "results"
python3 - "$TSV" "$NOTES" "$OUT/results.md" <<'PY'
import sys, collections
tsv, notes, md = sys.argv[1:4]
rows = [l.rstrip("\n").split("\t") for l in open(tsv) if l.strip()]
cols = ["train_img_s", "epoch_s", "epoch_wall_s", "score_s", "sample_s", "peak_gib"]
table = collections.OrderedDict()
for impl, mode, size, metric, value, unit in rows:
    table.setdefault((size, impl, mode), {})[metric] = value
out = ["# pcnn vs PyTorch on the GPU (make check-gpu)", "",
       "(R,F,M), batch 64, 32x32, K=4. train: images/s (fwd+bwd+Adam); epoch: 4159 images",
       "(pcnn: wall time of pcnn-fit -e 1, start-up and algorithm search included);",
       "score: 519 images x 4 classes; sample: 100 images (25 per class); peak: GPU memory.", "",
       "| size | impl | mode | " + " | ".join(cols) + " |", "|" + "---|" * (len(cols) + 3)]
for (size, impl, mode), m in table.items():
    out.append("| %s | %s | %s | %s |" % (size, impl, mode, " | ".join(m.get(c, "") for c in cols)))
out += ["", "## Notes", ""] + ["- " + l.rstrip() for l in open(notes) if l.strip()]
open(md, "w").write("\n".join(out) + "\n")
print("\n".join(out))
PY
say "done: $OUT/results.md"
exit $status
