#!/usr/bin/env bash
# ptx-compare.sh — do the own CUDA kernels still compute the same thing as at
# another revision? Compiles every cuda/*.cu except the cuDNN/cuBLAS files to
# PTX (nvcc -O3, sm_90) at REV and in the working tree, and compares per kernel
# the sequence of floating-point instructions, registers renamed. No GPU needed.
# Identical sequences mean identical float arithmetic (operations, order, FMA
# contraction); integer address arithmetic may move. Used when the kernels'
# bodies moved into cuda/kernel_math.h (issue 12, item 7).
#
#   pipelines/ptx-compare.sh 217b050     # exit 0: the same; 1: differences shown
set -eu
rev=${1:?usage: pipelines/ptx-compare.sh REV}
cd "$(dirname "$0")/.."
NVCC=${NVCC:-nvcc}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/old" "$tmp/ptx/old" "$tmp/ptx/new"
git archive "$rev" cuda libcommon | tar -x -C "$tmp/old"

# the floating-point instructions of each .entry, registers renamed
fp_seq() {
	awk '/\.entry/ { sub(/\(.*/, ""); print; next }
	     /^[ \t]*(\.reg|\/\/)/ { next }
	     /\.(f32|f64|ftz|approx|rn|rz|rm|rp)([ \t.;,]|$)/ {
	         gsub(/%rd[0-9]+/, "%rd"); gsub(/%r[0-9]+/, "%r"); gsub(/%fd[0-9]+/, "%fd")
	         gsub(/%f[0-9]+/, "%f"); gsub(/%p[0-9]+/, "%p"); print }' "$1"
}

status=0
for f in cuda/*.cu; do
	b=$(basename "$f" .cu)
	case $b in backend_cuda|conv) continue ;; esac
	[ -f "$tmp/old/$f" ] || { echo "$b: not at $rev"; continue; }
	$NVCC -O3 -std=c++17 -arch=sm_90 -I"$tmp/old/libcommon" -I"$tmp/old/cuda" -ptx -o "$tmp/ptx/old/$b.ptx" "$tmp/old/$f"
	$NVCC -O3 -std=c++17 -arch=sm_90 -Ilibcommon -Icuda -ptx -o "$tmp/ptx/new/$b.ptx" "$f"
	fp_seq "$tmp/ptx/old/$b.ptx" >"$tmp/old.fp"
	fp_seq "$tmp/ptx/new/$b.ptx" >"$tmp/new.fp"
	if diff -u "$tmp/old.fp" "$tmp/new.fp" >"$tmp/d"; then
		echo "$b: $(grep -c '\.entry' "$tmp/new.fp") kernels, $(grep -vc '\.entry' "$tmp/new.fp") floating-point instructions, the same"
	else
		echo "$b: DIFFERS"; head -40 "$tmp/d"; status=1
	fi
done
exit $status
