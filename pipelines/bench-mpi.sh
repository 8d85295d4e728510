#!/usr/bin/env bash
# pipelines/bench-mpi.sh — one machine's cores as threads or as MPI ranks (docs/SCALE.md):
# 1 rank x T threads against T ranks x 1 thread, pcnn-fit and pcnn-score images/s, and the
# seconds per step pcnn-fit's ranks spend in collectives (waits for the slowest included).
# Prints a markdown table. Run by `make bench-mpi` (BENCH_MPI_CONFIGS, BENCH_MPI_STEPS,
# BENCH_MPI_THREADS); never in the tests.
set -eu
BIN=${PCNN_BIN:-build/bin} TBIN=${PCNN_TEST_BIN:-build/tests/bin}
CONFIGS=${BENCH_MPI_CONFIGS:-"1,40,5"}
STEPS=${BENCH_MPI_STEPS:-4}
T=${BENCH_MPI_THREADS:-2}
BATCH=32 SIZE=32 K=4
command -v mpirun >/dev/null || { echo "bench-mpi: mpirun not found (make deps)" >&2; exit 1; }
ldd "$BIN/pcnn-fit" | grep -q libmpi || { echo "bench-mpi: pcnn-fit built without MPI (make MPI=1)" >&2; exit 1; }
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
export PCNN_DEVICE=cpu
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
n=$((STEPS * BATCH))
"$TBIN/pcnn-mkdata" -H $SIZE -W $SIZE -K $K -n $n -s 1 -o "$tmp/train.bin"
"$TBIN/pcnn-mkdata" -H $SIZE -W $SIZE -K $K -n 64 -s 2 -o "$tmp/score.bin"

# run LAYOUT R F M: one row of the table
run() {
	local ranks=$1 threads=$2 R=$3 F=$4 M=$5 launch=() tr sc coll
	[ "$ranks" -gt 1 ] && launch=(mpirun -np "$ranks" -x PCNN_THREADS)
	rm -f "$tmp/m.bin" "$tmp/fit.tsv"
	PCNN_THREADS=$threads "${launch[@]}" "$BIN/pcnn-fit" -R "$R" -F "$F" -M "$M" -b $BATCH -e 1 \
		--log "$tmp/fit.tsv" -o "$tmp/m.bin" "$tmp/train.bin" 2> "$tmp/fit.err"
	tr=$(awk -F'\t' 'NR == 2 { print $8 }' "$tmp/fit.tsv")
	coll=$(sed -n 's/.*collectives (rank 0): .*s in total, \([0-9.]*\) ms per step.*/\1/p' "$tmp/fit.err")
	PCNN_THREADS=$threads "${launch[@]}" "$BIN/pcnn-score" -o /dev/null "$tmp/m.bin" "$tmp/score.bin" 2> "$tmp/score.err"
	sc=$(sed -n 's/.*(\([0-9.]*\) images\/s).*/\1/p' "$tmp/score.err")
	printf '| %s,%s,%s | %d rank x %d thread | %s | %s | %s |\n' "$R" "$F" "$M" "$ranks" "$threads" \
		"$tr" "${coll:--}" "$sc"
}

echo "pcnn bench-mpi: $(nproc) cores, batch $BATCH, ${SIZE}x$SIZE, K = $K, $STEPS steps; $(mpirun --version 2>&1 | head -1)"
echo
echo "| R,F,M | layout | train images/s | collectives ms/step | score images/s |"
echo "|---|---|---:|---:|---:|"
for c in $CONFIGS; do
	IFS=, read -r R F M <<< "$c"
	run 1 "$T" "$R" "$F" "$M"
	run "$T" 1 "$R" "$F" "$M"
done
