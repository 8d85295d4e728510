#!/usr/bin/env bats
# make quality's table (pipelines/quality.sh): a recipe with SEEDS= runs once per seed and
# its row gives mean ± standard deviation; a failed seed is counted, not averaged. The
# pipeline runs are stood in for by a stub make that writes what a run leaves (a real run
# takes minutes: benchmarks are never tests).

bats_require_minimum_version 1.5.0

setup() {
	cd "$BATS_TEST_TMPDIR"
	export RUNS_DIR="$BATS_TEST_TMPDIR/runs" QUALITY_OUT="$BATS_TEST_TMPDIR/q.md"
	export MAKE="$BATS_TEST_TMPDIR/fake-make" PIPE_BIN="$PCNN_BIN"
	# the stub: seed s reaches accuracy 0.8, 0.9, 0.7 for s = 1, 2, 3; seed 4 fails
	cat > fake-make <<'STUB'
#!/bin/sh
run= seed=1
for a; do case $a in RUN=*) run=${a#RUN=} ;; SEED=*) seed=${a#SEED=} ;; esac; done
echo "$*" >> "$RUNS_DIR/calls"
[ "$seed" = 4 ] && exit 1
d=$RUNS_DIR/$run
mkdir -p "$d/logs"
acc=$(echo "$seed" | awk '{ print ($1 == 1 ? 0.8 : $1 == 2 ? 0.9 : 0.7) }')
printf -- '- accuracy: %s (8/10)\n- macro-F1: 0.5\n' "$acc" > "$d/val.report.md"
printf 'image size=2x2\nobjective=likelihood\n' > "$d/config.txt"
# -log p = 12 ln 2 nats over 2x2x3 values: 1 bit/dim
printf 'id\tlabel\tA\tB\na\t0\t-8.317766166719343\t-9\n' > "$d/val.scores.tsv"
echo $((10 * seed)) > "$d/logs/fit.time"
echo 5 > "$d/logs/gen.time"
echo 'pcnn-gen: sampled 8 images in 1s, 75.0% classified as their class, 1.0 bits/dim' > "$d/logs/gen.log"
echo 'samples judged as their class by 5-NN over the real training images: 50.0 % (real validation images: 60.0 %).' > "$d/report.md"
# seed 2's decision used a fitted prior: its report gives the uniform prior's accuracy too
if [ "$seed" = 2 ]; then echo '| validation accuracy with a uniform prior | 0.500000 (5/10) |' >> "$d/report.md"; fi
STUB
	chmod +x fake-make
	mkdir -p runs
}

@test "quality: SEEDS=1,2,3 runs each seed (RUN=quality-NAME-sSEED SEED=s) and gives mean ± sd" {
	printf 'r | fashion | PROFILE=quick SEEDS=1,2,3\n' > recipes
	run "$PCNN_ROOT/pipelines/quality.sh" recipes
	[ "$status" -eq 0 ] || { echo "$output"; false; }
	[ "$(grep -c 'pipeline-run' runs/calls)" -eq 3 ]
	grep -q 'RUN=quality-r-s2 DATA=fashion PROFILE=quick SEED=2' runs/calls
	# SEEDS is quality.sh's own: never passed to make
	run grep -c 'SEEDS' runs/calls
	[ "$output" = 0 ]
	row=$(grep '^| r |' q.md)
	echo "$row"
	# the uniform prior's column: seed 2's report says 50 %, the others decided with it (80, 70)
	[[ "$row" == "| r | fashion | likelihood | 1,2,3 | 80.00 % ± 10.00 % | 66.67 % ± 15.28 % | 0.5000 ± 0.0000 | 1.0000 ± 0.0000 | - | "* ]]
	[[ "$row" == *"| 75.0 % ± 0.0 % | 50.0 % ± 0.0 % (60.0 % ± 0.0 %) | 20 ± 10 | 25 ± 10 | \`PROFILE=quick\` |" ]]
}

@test "quality: without SEEDS one run, its numbers alone; a failed seed is counted, not averaged" {
	printf 'one | fashion | PROFILE=quick\nsome | fashion | SEEDS=2,4\n' > recipes
	run "$PCNN_ROOT/pipelines/quality.sh" recipes
	[ "$status" -eq 0 ] || { echo "$output"; false; }
	grep -q 'RUN=quality-one DATA=fashion PROFILE=quick$' runs/calls
	[[ "$(grep '^| one |' q.md)" == "| one | fashion | likelihood | 1 run | 80.00 % | 80.00 % | 0.5000 | 1.0000 | "* ]]
	[[ "$(grep '^| some |' q.md)" == "| some | fashion | likelihood | 2,4 (1 failed) | 90.00 % | "* ]]
}

@test "quality: a recipe whose every run fails says failed" {
	printf 'bad | fashion | SEEDS=4\n' > recipes
	run "$PCNN_ROOT/pipelines/quality.sh" recipes
	[ "$status" -eq 0 ]
	[[ "$(grep '^| bad |' q.md)" == "| bad | fashion | - | 4 | failed |"* ]]
}

@test "quality: pcnn-linear, the reference: fits its training set (n < D), refuses a bad call" {
	"$PCNN_TEST_BIN/pcnn-mkdata" -H 8 -W 8 -K 3 -n 20 -s 5 -o t.bin
	run --separate-stderr "$PCNN_TEST_BIN/pcnn-linear" -l 1e-4,1 t.bin t.bin t.bin
	[ "$status" -eq 0 ]
	# 20 random images in 192 dimensions are separable: both L2 fit them all, and the tie
	# goes to the larger
	[ "$output" = "linear: lambda 1, val accuracy 100.00 % (20/20), test accuracy 100.00 % (20/20)" ]
	[[ "$stderr" == *"lambda 0.0001: train accuracy 100.00 %"* ]]
	[[ "$stderr" == *"lambda 1: train accuracy"* ]]
	run "$PCNN_TEST_BIN/pcnn-linear" t.bin
	[ "$status" -eq 2 ]
	[[ "$output" == *"expected TRAIN VAL [TEST]"* ]]
	run "$PCNN_TEST_BIN/pcnn-linear" t.bin missing.bin
	[ "$status" -eq 1 ]
	[[ "$output" == *"missing.bin"* ]]
}

@test "quality: the linear reference row, once per data set, on a run's data files" {
	"$PCNN_TEST_BIN/pcnn-mkdata" -H 8 -W 8 -K 3 -n 20 -s 5 -o t.bin
	# the stub's runs get data files: the training set as validation too (the reference fits it)
	printf 'cp "%s" "$d/train.bin"; cp "%s" "$d/val.bin"\n' "$PWD/t.bin" "$PWD/t.bin" >> fake-make
	printf 'r | fashion | SEEDS=1,2\nr2 | fashion | PROFILE=quick\n' > recipes
	run "$PCNN_ROOT/pipelines/quality.sh" recipes
	[ "$status" -eq 0 ] || { echo "$output"; false; }
	[ "$(grep -c '^| linear (reference) |' q.md)" -eq 1 ]
	[[ "$(grep '^| linear' q.md)" == "| linear (reference) | fashion | discriminative | - | 100.00 % | | | | - | "* ]]
}

@test "quality: another class list of the same data set gets its own linear row" {
	"$PCNN_TEST_BIN/pcnn-mkdata" -H 8 -W 8 -K 3 -n 20 -s 5 -o t3.bin
	"$PCNN_TEST_BIN/pcnn-mkdata" -H 8 -W 8 -K 2 -n 20 -s 6 -o t2.bin
	# runs named *ten* get the 2-class files, the others the 3-class ones
	printf 'f=%s; case $run in *ten*) f=%s ;; esac; cp "$f" "$d/train.bin"; cp "$f" "$d/val.bin"\n' \
		"$PWD/t3.bin" "$PWD/t2.bin" >> fake-make
	printf 'four | fashion | PROFILE=quick\nfour-again | fashion | PROFILE=quick\nten | fashion | PROFILE=quick\n' > recipes
	run "$PCNN_ROOT/pipelines/quality.sh" recipes
	[ "$status" -eq 0 ] || { echo "$output"; false; }
	[ "$(grep -c '^| linear (reference) | fashion |' q.md)" -eq 2 ]
	grep -q "^| linear (reference) | fashion | .*on quality-ten's data files" q.md
}
