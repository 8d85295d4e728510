#!/bin/sh
# pipelines/bench.sh — runs the pcnn and PyTorch CPU benchmarks and prints one table
# (called by `make bench`; the PyTorch column is skipped with a note without torch).
set -eu
: "${BENCH_BIN:?}" "${BENCH_CONFIGS:?}" "${BENCH_BATCH:?}" "${BENCH_THREADS:?}" "${BENCH_SECONDS:?}"
tmp=$(mktemp)
trap 'rm -f "$tmp"' EXIT
export OMP_NUM_THREADS="$BENCH_THREADS" OPENBLAS_NUM_THREADS="$BENCH_THREADS"
echo "bench: $(nproc) cores, $BENCH_THREADS threads, batch $BENCH_BATCH, 32x32, configs $BENCH_CONFIGS" >&2
# shellcheck disable=SC2086
"$BENCH_BIN" -b "$BENCH_BATCH" -t "$BENCH_SECONDS" $BENCH_CONFIGS >> "$tmp"
if /usr/bin/python3 -c 'import torch' 2>/dev/null; then
	cfgs=""
	for c in $BENCH_CONFIGS; do cfgs="$cfgs -c $c"; done
	# shellcheck disable=SC2086
	/usr/bin/python3 tests/reference/bench_torch.py -t "$BENCH_THREADS" -b "$BENCH_BATCH" $cfgs >> "$tmp"
else
	echo "bench: no PyTorch (/usr/bin/python3 -c 'import torch' failed): pcnn column only" >&2
fi
table() { awk -F'\t' '
	{ v[$1 "|" $2 "|" $3] = $4; cfg[$2] = 1; order[++n] = $2 }
	END {
		printf "%-10s %-26s %12s %12s %8s\n", "R,F,M", "metric", "pcnn", "pytorch", "ratio"
		nm = split("train_img_per_s train_ce_all_img_per_s train_ce_quarter_img_per_s train_bf16_img_per_s score_img_per_s peak_rss_mib", ms, " ")
		for (i = 1; i <= n; i++) {
			c = order[i]; if (seen[c]++) continue
			for (j = 1; j <= nm; j++) {
				m = ms[j]; p = v["pcnn|" c "|" m]; t = v["torch|" c "|" m]
				r = (p != "" && t != "" && t > 0) ? sprintf("%.2fx", p / t) : "-"
				if (p == "" && t == "") continue
				printf "%-10s %-26s %12s %12s %8s\n", c, m, p == "" ? "-" : p, t == "" ? "-" : t, r
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
