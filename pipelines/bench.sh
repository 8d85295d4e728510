#!/bin/sh
# pipelines/bench.sh — runs the pcnn and PyTorch CPU benchmarks and prints one table
# (called by `make bench`; the PyTorch column is skipped with a note without torch).
# BENCH_ROUNDS (default 2) rounds, each pcnn then PyTorch.
set -eu
: "${BENCH_BIN:?}" "${BENCH_CONFIGS:?}" "${BENCH_BATCH:?}" "${BENCH_THREADS:?}" "${BENCH_SECONDS:?}"
tmp=$(mktemp)
trap 'rm -f "$tmp"' EXIT
export OMP_NUM_THREADS="$BENCH_THREADS" OPENBLAS_NUM_THREADS="$BENCH_THREADS"
rounds=${BENCH_ROUNDS:-2}
echo "bench: $(nproc) cores, $BENCH_THREADS threads, batch $BENCH_BATCH, 32x32, configs $BENCH_CONFIGS, $rounds rounds" >&2
have_torch=0
if /usr/bin/python3 -c 'import torch' 2>/dev/null; then
	have_torch=1
else
	echo "bench: no PyTorch (/usr/bin/python3 -c 'import torch' failed): pcnn column only" >&2
fi
cfgs=""
for c in $BENCH_CONFIGS; do cfgs="$cfgs -c $c"; done
# Rounds alternate pcnn and PyTorch, so that a slow phase of the machine (a virtual
# machine's speed can move by a quarter from minute to minute) hits both sides alike.
r=1
while [ "$r" -le "$rounds" ]; do
	echo "bench: round $r of $rounds" >&2
	# shellcheck disable=SC2086
	"$BENCH_BIN" -b "$BENCH_BATCH" -t "$BENCH_SECONDS" $BENCH_CONFIGS | sed "s/\$/\t$r/" >> "$tmp"
	if [ "$have_torch" = 1 ]; then
		# shellcheck disable=SC2086
		/usr/bin/python3 tests/reference/bench_torch.py -t "$BENCH_THREADS" -b "$BENCH_BATCH" $cfgs |
			sed "s/\$/\t$r/" >> "$tmp"
	fi
	r=$((r + 1))
done
# One row per config and metric: each side's best round (the highest rate, the largest
# peak RSS), their ratio, and the range of the ratio round by round.
table() { awk -F'\t' '
	{
		k = $1 "|" $2 "|" $3
		if (!(k in v) || $4 + 0 > v[k] + 0) v[k] = $4
		per[k "|" $5] = $4; rounds[$5] = 1; cfg[$2] = 1; order[++n] = $2
	}
	END {
		printf "%-10s %-26s %12s %12s %8s %14s\n", "R,F,M", "metric", "pcnn", "pytorch", "ratio", "ratio by round"
		nm = split("train_img_per_s train_ce_all_img_per_s train_ce_quarter_img_per_s train_bf16_img_per_s score_img_per_s peak_rss_mib", ms, " ")
		for (i = 1; i <= n; i++) {
			c = order[i]; if (seen[c]++) continue
			for (j = 1; j <= nm; j++) {
				m = ms[j]; p = v["pcnn|" c "|" m]; t = v["torch|" c "|" m]
				if (p == "" && t == "") continue
				r = (p != "" && t != "" && t > 0) ? sprintf("%.2fx", p / t) : "-"
				lo = ""; hi = ""
				for (q in rounds) {
					a = per["pcnn|" c "|" m "|" q]; b = per["torch|" c "|" m "|" q]
					if (a == "" || b == "" || b <= 0) continue
					x = a / b
					if (lo == "" || x < lo) lo = x
					if (hi == "" || x > hi) hi = x
				}
				range = lo == "" ? "-" : sprintf("%.2f-%.2fx", lo, hi)
				printf "%-10s %-26s %12s %12s %8s %14s\n", c, m, p == "" ? "-" : p, t == "" ? "-" : t, r, range
			}
		}
	}' "$tmp"
}
table
# Where the time goes: one config's training step and scoring batch, by kind, with each
# kind's rate as a share of the FMA peak (nn_prof.h says how the peak is computed).
echo
echo "breakdown (PCNN_PROFILE; set PCNN_PEAK_GFLOPS to give the peak yourself):"
# shellcheck disable=SC2086
"$BENCH_BIN" -p -r 3 -b "$BENCH_BATCH" $BENCH_CONFIGS
