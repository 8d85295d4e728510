#!/bin/sh
# pipelines/bench-fid.sh — times pcnn-fid against PyTorch running the same recipe
# (tests/reference/bench_fid_torch.py) on this machine and prints one table.
# 100 "samples" (the first 100 training images) against the test images, both tools
# with the same random-weight InceptionV3 (tests/fixtures/fid/inception.pth: speed does
# not depend on the weights), the same thread count. Called by `make bench-fid`.
set -eu
: "${BENCH_BIN:?}" "${BENCH_DATA:?}" "${BENCH_THREADS:?}" "${BENCH_DIMS:?}"
W=tests/fixtures/fid/inception.pth
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir "$tmp/samples"
find "$BENCH_DATA/train" -maxdepth 1 -name '*.jpg' | sort | head -n 100 | while read -r f; do ln -s "$(readlink -f "$f")" "$tmp/samples/"; done
real=$(readlink -f "$BENCH_DATA/test")
na=$(ls "$tmp/samples" | wc -l) nb=$(ls "$real" | grep -ci '\.\(png\|jpe\?g\)$')
export OMP_NUM_THREADS="$BENCH_THREADS" PCNN_THREADS="$BENCH_THREADS"
echo "bench-fid: $(nproc) cores, $BENCH_THREADS threads, dims $BENCH_DIMS, $na samples + $nb images of $real" >&2
t0=$(date +%s.%N)
pf=$("$BENCH_BIN/pcnn-fid" -q --dims "$BENCH_DIMS" --inception "$W" "$tmp/samples" "$real")
t1=$(date +%s.%N)
ps=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }')
if /usr/bin/python3 -c 'import torch' 2>/dev/null; then
	line=$(/usr/bin/python3 tests/reference/bench_fid_torch.py -t "$BENCH_THREADS" --dims "$BENCH_DIMS" "$W" "$tmp/samples" "$real")
	ts=$(echo "$line" | cut -f2) tf=$(echo "$line" | cut -f4)
else
	echo "bench-fid: no PyTorch (/usr/bin/python3 -c 'import torch' failed): pcnn column only" >&2
	ts=- tf=-
fi
n=$((na + nb))
printf '%-22s %12s %12s %8s\n' metric pcnn pytorch ratio
awk -v n="$n" -v p="$ps" -v t="$ts" -v pf="$pf" -v tf="$tf" 'BEGIN {
	printf "%-22s %12.2f %12s %8s\n", "seconds", p, t, t == "-" ? "-" : sprintf("%.2fx", t / p)
	printf "%-22s %12.1f %12s %8s\n", "images/s", n / p, t == "-" ? "-" : sprintf("%.1f", n / t), t == "-" ? "-" : sprintf("%.2fx", t / p)
	printf "%-22s %12s %12s %8s\n", "FID", pf, tf, "-"
}'
