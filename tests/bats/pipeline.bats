#!/usr/bin/env bats
# make pipeline, end to end, on the tiny CPEN 455-layout set in tests/fixtures/pipeline
# (made by make-fixture.py: 4 classes, 24/8/8 images of 16x16) with PROFILE=tiny
# (8x8 images, R=1 F=4 M=2, 1 epoch, 2 samples per class): a few seconds.
# setup_file runs it once with -j2; the tests look at what it made, then re-run it.
# Everything happens in the test folders (RUNS_DIR); the repository is only read.

TOOLS="pcnn-prep pcnn-fit pcnn-score pcnn-argmax pcnn-gen pcnn-info"

missing_tools() {
	local t m=
	for t in $TOOLS; do [ -x "$PCNN_BIN/$t" ] || m="$m $t"; done
	echo "${m# }"
}

# pipe ARGS...: make on the fixture, runs in $RUNS; ARGS come last, so they win.
# run_mk ARGS...: the same with the run's own makefile (what `make pipeline` runs last),
# for -q and -n, which look at one make's rules.
pipe() {
	make -C "$PCNN_ROOT" --no-print-directory DATA="$FIXDATA" PROFILE=tiny \
		BUILD="${PCNN_BIN%/bin}" RUNS_DIR="$RUNS" PIPE_BIN="$PCNN_BIN" "$@"
}
run_mk() { pipe -f pipelines/pipeline.mk "$@"; }

setup_file() {
	export FIXDATA="$PCNN_ROOT/tests/fixtures/pipeline/cpen455-tiny"
	export RUNS="$BATS_FILE_TMPDIR/runs"
	export RUNDIR="$RUNS/cpen455-tiny-tiny"
	[ -z "$(missing_tools)" ] || return 0
	local rc=0
	pipe -j2 pipeline >"$BATS_FILE_TMPDIR/first.out" 2>&1 || rc=$?
	echo $rc >"$BATS_FILE_TMPDIR/first.rc"
}

setup() {
	local m
	m=$(missing_tools)
	# make test builds them first: a missing tool is a failure, never a skip
	if [ -n "$m" ]; then
		echo "tools missing in \$PCNN_BIN: $m (make all)"
		return 1
	fi
	cd "$BATS_TEST_TMPDIR"
}

is_png() { [ "$(head -c 8 "$1" | od -An -tx1 | tr -d ' \n')" = 89504e470d0a1a0a ]; }
# mtimes of every file of the run, one "path time" line each
stamps() { find "$RUNDIR" -type f -printf '%P %T@\n' | sort; }

@test "pipeline: make -j2 pipeline makes every output, well formed" {
	cat "$BATS_FILE_TMPDIR/first.out"
	[ "$(cat "$BATS_FILE_TMPDIR/first.rc")" -eq 0 ]
	for f in train.bin val.bin test.bin model.bin; do
		"$PCNN_BIN/pcnn-info" -q "$RUNDIR/$f"
	done
	# the submission's folder only with make submission
	[ ! -e "$RUNDIR/submit" ]
	# training log: a header and one row (1 epoch) with the named columns
	[ "$(wc -l <"$RUNDIR/fit.tsv")" -eq 2 ]
	head -n 1 "$RUNDIR/fit.tsv" | grep -q 'epoch.*train_bpd.*val_bpd.*val_acc'
	# scores: header + one row per image, 2 + 4 classes columns
	[ "$(wc -l <"$RUNDIR/val.scores.tsv")" -eq 9 ]
	[ "$(head -n 1 "$RUNDIR/val.scores.tsv")" = "$(printf 'id\tlabel\tClass0\tClass1\tClass2\tClass3\tood:log_px\tood:png_bits')" ]
	# PRIOR=fitted (the default): the class prior fitted on the training subset's scores (all
	# 24 here), on a log scale, used by val's and test's argmax; the report names the decision
	[ "$(wc -l <"$RUNDIR/prior.scores.tsv")" -eq 25 ]
	[ "$(sed -n 2p "$RUNDIR/prior.txt")" = "scale	log" ]
	grep -q '^# pcnn class prior (pcnn-argmax --fit-prior) of 24 labelled images' "$RUNDIR/prior.txt"
	grep -qx 'prior=fitted (on up to 1000 training images)' "$RUNDIR/config.txt"
	grep -q "^| decision | Bayes' rule with the class prior fitted on 24 training images (log p(c) - log p(Class0): Class0 +0.0, Class1 [-+][0-9.]*, Class2 [-+][0-9.]*, Class3 [-+][0-9.]* nats) |$" "$RUNDIR/report.md"
	grep -q '^| validation accuracy with a uniform prior | [0-9.]* ([0-9]*/8) |$' "$RUNDIR/report.md"
	# calibration fitted on validation, applied in test's report; the report says both
	grep -q '^temperature	' "$RUNDIR/calibration.txt"
	grep -q '^reject_threshold	' "$RUNDIR/calibration.txt"
	grep -q '^- ECE at T = 1 ' "$RUNDIR/val.report.md"
	grep -q '^| posteriors: temperature fitted on validation | T = ' "$RUNDIR/report.md"
	grep -q '^| test images flagged out of distribution | [0-9]* of 8 ' "$RUNDIR/report.md"
	# completions: 4 validation images (rows) of the original and 4 classes, 8x8 cells
	is_png "$RUNDIR/completions.png"
	[ "$(ls "$RUNDIR/completions" | wc -l)" -eq 16 ]
	[ "$(od -An -tu1 -j16 -N8 "$RUNDIR/completions.png" | awk '{ print $3 * 256 + $4, $7 * 256 + $8 }')" = "$((5 * 8 + 6 * 2)) $((4 * 8 + 5 * 2))" ]
	grep -q '!\[.*\](completions.png)' "$RUNDIR/report.md"
	# validation: 8 predictions and a report with the accuracy and the confusion matrix
	[ "$(wc -l <"$RUNDIR/val.preds.csv")" -eq 8 ]
	grep -q '^- accuracy: [0-9.]* ([0-9]*/8)$' "$RUNDIR/val.report.md"
	grep -q '^| true \\ predicted |' "$RUNDIR/val.report.md"
	# test: the submission, one row per row of test.csv, same paths, same order, labels 0..3
	tr -d '\r' <"$FIXDATA/test.csv" | cut -d, -f1 >want.ids
	cut -d, -f1 "$RUNDIR/test.preds.csv" >got.ids
	diff want.ids got.ids
	# every row well formed (the old '! grep -qv' form of this line passed although its pattern,
	# test/[0-9]*.jpg, matched none of the fixture's test/synth0033.jpg rows)
	[ "$(grep -cv '^test/synth[0-9]*\.jpg,[0-3]$' "$RUNDIR/test.preds.csv")" -eq 0 ]
	# samples: GEN_N=2 per class, named for the CPEN 455 evaluation, and the pictures
	[ "$(find "$RUNDIR/samples" -type f | wc -l)" -eq 8 ]
	for c in Class0 Class1 Class2 Class3; do
		for i in 01 02; do is_png "$RUNDIR/samples/${c}_image_$i.png"; done
	done
	is_png "$RUNDIR/grid.png"
	is_png "$RUNDIR/curve.png"
	# the k-NN judge of the samples: a header and one row per sample, each file in samples/
	[ "$(wc -l <"$RUNDIR/judge.tsv")" -eq 9 ]
	[ "$(head -n 1 "$RUNDIR/judge.tsv")" = "$(printf 'file\tdrawn\tjudged\tnearest_sqdist')" ]
	tail -n +2 "$RUNDIR/judge.tsv" | cut -f1 | while read -r f; do [ -f "$RUNDIR/samples/$f" ]; done
	# the report: metrics, embedded pictures, configuration, timings; and its HTML twin
	grep -q '^| validation accuracy | [0-9.]* ([0-9]*/8) |$' "$RUNDIR/report.md"
	grep -q '^| validation bits/dim .* | [0-9.]* (8 images) |$' "$RUNDIR/report.md"
	grep -q '!\[.*\](curve.png)' "$RUNDIR/report.md"
	grep -q '!\[.*\](grid.png)' "$RUNDIR/report.md"
	grep -q '^| filters (F) | `4` |$' "$RUNDIR/report.md"
	grep -q '^| fit | [0-9.]* |$' "$RUNDIR/report.md"
	grep -q '^samples judged as their class by 5-NN over the real training images: [0-9.]* % (real validation images: [0-9.]* %)\.$' "$RUNDIR/report.md"
	grep -q '^| Class3 | [0-9.]* % ([0-2]/2) | [0-9.]* % ([0-2]/2) |$' "$RUNDIR/report.md"
	grep -q '<img src="curve.png"' "$RUNDIR/report.html"
	grep -q '<img src="grid.png"' "$RUNDIR/report.html"
	grep -q '</html>' "$RUNDIR/report.html"
	# report.html by cmark-gfm -e table: real tables, right-aligned number columns
	grep -q '<th align="right">samples judged as their class</th>' "$RUNDIR/report.html"
	grep -q '<td>validation accuracy</td>' "$RUNDIR/report.html"
	[ "$(grep -c '^|' "$RUNDIR/report.html")" -eq 0 ]
	# no temporary or partial file left behind
	[ -z "$(find "$RUNDIR" -name '*.tmp*' -o -name '*.partial.*')" ]
	# the closing lines
	grep -q "^pcnn: run $RUNDIR: validation accuracy" "$BATS_FILE_TMPDIR/first.out"
}

@test "pipeline: a second run does nothing" {
	before=$(stamps)
	run run_mk -q pipeline-run
	[ "$status" -eq 0 ]
	run pipe pipeline
	[ "$status" -eq 0 ]
	[ "$(grep -cE '^  (PREP|FIT|SCORE|ARGMAX|GEN|PLOT|REPORT) ' <<<"$output")" -eq 0 ]
	[ "$(stamps)" = "$before" ]
}

@test "pipeline: a deleted intermediate is rebuilt, and only what depends on it" {
	model=$(find "$RUNDIR/model.bin" -printf '%T@')
	report=$(find "$RUNDIR/report.md" -printf '%T@')
	rm "$RUNDIR/val.scores.tsv" "$RUNDIR/grid.png"
	run run_mk -q pipeline-run
	[ "$status" -eq 1 ]
	run pipe pipeline
	[ "$status" -eq 0 ]
	[[ "$output" == *"SCORE  $RUNDIR/val.scores.tsv"* ]]
	[[ "$output" == *"GEN    $RUNDIR/grid.png"* ]]
	[[ "$output" != *"FIT "* && "$output" != *"PREP "* ]]
	[ -s "$RUNDIR/val.scores.tsv" ]
	is_png "$RUNDIR/grid.png"
	[ "$(find "$RUNDIR/model.bin" -printf '%T@')" = "$model" ]
	[ "$(find "$RUNDIR/report.md" -printf '%T@')" != "$report" ]
	run run_mk -q pipeline-run
	[ "$status" -eq 0 ]
}

@test "pipeline: a deleted judge.tsv redoes gen and the report, nothing else" {
	model=$(find "$RUNDIR/model.bin" -printf '%T@')
	rm "$RUNDIR/judge.tsv"
	run pipe pipeline
	[ "$status" -eq 0 ]
	[[ "$output" == *"GEN    $RUNDIR/grid.png"* && "$output" == *"REPORT "* ]]
	[[ "$output" != *"FIT "* && "$output" != *"SCORE "* ]]
	[ "$(wc -l <"$RUNDIR/judge.tsv")" -eq 9 ]
	[ "$(find "$RUNDIR/model.bin" -printf '%T@')" = "$model" ]
}

@test "pipeline: changing a knob redoes the steps it affects, from the first one" {
	# (make -n: what would run first; the stamps it rewrites make the change stick)
	# DEVICE changes no result: only the report (which shows it) is redone
	run run_mk -n pipeline-run DEVICE=cpu
	[ "$status" -eq 0 ]
	[[ "$output" == *report.sh* && "$output" != *pcnn-[a-z]* ]]
	# GEN_N: the samples (and the report)
	run run_mk -n pipeline-run DEVICE=cpu GEN_N=3
	[[ "$output" == *pcnn-gen* && "$output" != *pcnn-fit* && "$output" != *pcnn-prep* ]]
	# EPOCHS: training (and what follows), not prep
	run run_mk -n pipeline-run DEVICE=cpu GEN_N=3 EPOCHS=2
	[[ "$output" == *pcnn-fit* && "$output" != *pcnn-prep* ]]
	# SIZE: prep, so everything
	run run_mk -n pipeline-run DEVICE=cpu GEN_N=3 EPOCHS=2 SIZE=12
	[[ "$output" == *pcnn-prep* ]]
}

@test "pipeline: a failing step stops the run and leaves nothing that looks finished" {
	cp -r "$FIXDATA" bad
	head -c 100 "$FIXDATA/train/synth0001.jpg" >bad/train/synth0001.jpg
	run make -C "$PCNN_ROOT" --no-print-directory pipeline DATA="$PWD/bad" PROFILE=tiny \
		RUNS_DIR="$PWD/runs" PIPE_BIN="$PCNN_BIN"
	[ "$status" -eq 2 ]
	[[ "$output" == *"train/synth0001.jpg"* ]]
	[[ "$output" == *"step 'prep-train' failed"* ]]
	[ ! -e runs/bad-tiny/train.bin ]
	[ ! -e runs/bad-tiny/model.bin ]
	[ -z "$(find runs -name '*.tmp*')" ]
}

@test "pipeline: DATA with spaces in its path works, read through the run's link" {
	d="$PWD/a folder/with a space"
	mkdir -p "$d"
	cp -r "$FIXDATA"/. "$d"/
	run pipe DATA="$d" pipeline
	echo "$output"
	[ "$status" -eq 0 ]
	R="$RUNS/with_a_space-tiny"
	[ "$(readlink "$R/data")" = "$d" ]
	# the same data and knobs as the first run: the same submission, to the byte
	cmp "$R/test.preds.csv" "$RUNDIR/test.preds.csv"
	grep -q "^data=$d\$" "$R/config.txt"
	run run_mk DATA="$d" -q pipeline-run
	[ "$status" -eq 0 ]   # and it is up to date
}

@test "pipeline: bad DATA, PROFILE and RUN are refused with a clear message" {
	run make -C "$PCNN_ROOT" --no-print-directory pipeline-run DATA="$PWD/nothing" RUNS_DIR="$PWD/runs"
	[ "$status" -eq 2 ]
	[[ "$output" == *"DATA=$PWD/nothing: no train.csv there"* ]]
	run pipe pipeline-run PROFILE=huge
	[ "$status" -eq 2 ]
	[[ "$output" == *"PROFILE=huge: not one of quick, long, full, tiny"* ]]
	run pipe pipeline-run RUN=a/b
	[ "$status" -eq 2 ]
	[[ "$output" == *"RUN=a/b: a run name is one folder name"* ]]
	[ ! -e runs ]
}

@test "pipeline: RANKS and LAUNCH put the launcher before fit, score and gen only; it is in fit's stamp, not gen's" {
	# (make -n on a copy of the run: the stamps it rewrites stay there)
	cp -r "$RUNDIR" "$RUNS/ranks"
	run_mk -n pipeline-run RUN=ranks DEVICE=cpu >/dev/null   # the stamps of one process
	fit1=$(cat "$RUNS/ranks/.args/fit") gen1=$(cat "$RUNS/ranks/.args/gen")
	run run_mk -n pipeline-run RUN=ranks DEVICE=cpu RANKS=2
	echo "$output"
	[ "$status" -eq 0 ]
	for t in pcnn-fit pcnn-score pcnn-gen; do
		[ "$(grep -c "/$t " <<<"$output")" -ge 1 ]
		[ -z "$(grep "/$t " <<<"$output" | grep -v "mpirun -np 2 [^ ]*/$t ")" ]
	done
	grep -q '/pcnn-argmax ' <<<"$output"
	[ -z "$(grep -E '/pcnn-(argmax|prep|info) ' <<<"$output" | grep mpirun)" ]
	[ "$(cat "$RUNS/ranks/.args/fit")" = "$fit1"$'\n'"launcher: mpirun -np 2" ]
	[ "$(cat "$RUNS/ranks/.args/gen")" = "$gen1" ]
	run run_mk -n pipeline-run RUN=ranks DEVICE=cpu LAUNCH="srun -n 3 --kill-on-bad-exit=1"
	[ "$status" -eq 0 ]
	grep '/pcnn-fit ' <<<"$output" | grep -q 'srun -n 3 --kill-on-bad-exit=1 [^ ]*/pcnn-fit '
	[ "$(sed -n 2p "$RUNS/ranks/.args/fit")" = "launcher: srun -n 3 --kill-on-bad-exit=1" ]
	# back to one process (RANKS=1 is no launcher): the stamp of before, fit again
	run run_mk -n pipeline-run RUN=ranks DEVICE=cpu RANKS=1
	[ "$status" -eq 0 ]
	[[ "$output" == *pcnn-fit* && "$output" != *mpirun* && "$output" != *srun* ]]
	[ "$(cat "$RUNS/ranks/.args/fit")" = "$fit1" ]
}

@test "pipeline: a bad RANKS, and RANKS with LAUNCH, are refused with a clear message" {
	run pipe pipeline-run RANKS=0
	[ "$status" -eq 2 ]
	[[ "$output" == *"RANKS=0: the number of ranks for fit, score and gen, 1 or more"* ]]
	run pipe pipeline-run RANKS=two
	[ "$status" -eq 2 ]
	[[ "$output" == *"RANKS=two: the number of ranks"* ]]
	run pipe pipeline-run RANKS=2 LAUNCH=srun
	[ "$status" -eq 2 ]
	[[ "$output" == *"RANKS=2 and LAUNCH=srun: give one of them"* ]]
}

@test "pipeline: pipeline-clean removes the run folder" {
	cp -r "$RUNDIR" "$RUNS/copy"
	run pipe pipeline-clean RUN=copy
	[ "$status" -eq 0 ]
	[ ! -e "$RUNS/copy" ]
	[ -d "$RUNDIR" ]
}

@test "pipeline: make quality's script runs each recipe and writes one table" {
	printf 'tiny-a | %s | PROFILE=tiny\n# a comment\ntiny-b | %s | PROFILE=tiny CE_WEIGHT=1 CE_TEMP=5 CONDITIONING=film,input CLASS_LR_MULT=2\n' \
		"$FIXDATA" "$FIXDATA" > r.recipes
	run env RUNS_DIR="$BATS_TEST_TMPDIR/q" QUALITY_OUT="$BATS_TEST_TMPDIR/q.md" PIPE_BIN="$PCNN_BIN" \
		BUILD="${PCNN_BIN%/bin}" "$PCNN_ROOT/pipelines/quality.sh" r.recipes
	[ "$status" -eq 0 ]
	[ "$(grep -c '^| tiny-' q.md)" -eq 2 ]
	# objective, seeds (one run), accuracy, macro-F1, bits/dim, no test labels, best epoch 1,
	# both sample checks, times
	grep -Eq '^\| tiny-a \| [^|]* \| likelihood \| 1 run \| [0-9.]+ % \| [0-9.]+ % \| 0\.[0-9]+ \| [0-9.]+ \| - \| 1 \| [0-9.]+ % \| [0-9.]+ % \([0-9.]+ %\) \| [0-9]+ \| [0-9]+ \| `PROFILE=tiny` \|$' q.md
	grep -Eq '^\| tiny-b \| [^|]* \| hybrid \| 1 run \| ' q.md
	grep -q '^conditioning=film,input$' q/quality-tiny-b/config.txt
	grep -q -- '--ce-weight 1 --ce-temperature 5' q/quality-tiny-b/.args/fit
	[[ "$output" == *"| recipe | data | objective | seeds | val accuracy |"* ]]
}

@test "pipeline: make submission retrains on train + val for the kept epochs, decides test, then does nothing" {
	# a run of its own (earlier tests leave the first one with other knobs), up to date
	cp -a "$RUNDIR" "$RUNS/sub"
	S="$RUNS/sub/submit"
	pipe pipeline RUN=sub >/dev/null 2>&1
	run pipe submission RUN=sub
	echo "$output"
	[ "$status" -eq 0 ]
	# the run was up to date: only the submission's steps ran
	[ "$(grep -cE '^  (PREP|GEN|PLOT) ' <<<"$output")" -eq 0 ]
	[[ "$output" == *"pcnn: submission: $S/test.preds.csv"* ]]
	[[ "$output" == *"validation cannot judge it"* ]]
	"$PCNN_BIN/pcnn-info" -q "$S/model.bin"
	info=$("$PCNN_BIN/pcnn-info" "$S/model.bin")
	# 24 training + 8 validation images, the kept epoch's count of epochs
	[[ "$info" == *"option train_images: 32"* ]]
	kept=$("$PCNN_BIN/pcnn-info" "$RUNS/sub/model.bin" | sed -n 's/^option best_epoch: //p')
	[ -n "$kept" ]
	[[ "$info" == *"training: $kept epochs"* ]]
	[ "$(wc -l <"$S/fit.tsv")" -eq $((kept + 1)) ]
	# the same recipe: the run's fit arguments without -e and --time-budget
	[ "$(xargs <"$S/.args/fit")" = "$(sed -e 's/ -e [0-9]*//' -e 's/ --time-budget [0-9]*//' "$RUNS/sub/.args/fit" | xargs)" ]
	# every test image decided, by the prior fitted on prior.bin's scores under this model
	[ "$(wc -l <"$S/test.preds.csv")" -eq 8 ]
	head -n 1 "$S/prior.txt" | grep -q 'fitted'
	[ "$(cut -d, -f1 "$S/test.preds.csv")" = "$(cut -d, -f1 "$RUNS/sub/test.preds.csv")" ]
	# a second time: nothing to do
	before=$(find "$S" -type f -printf '%P %T@\n' | sort)
	run run_mk -q submission-run RUN=sub
	[ "$status" -eq 0 ]
	run pipe submission RUN=sub
	[ "$status" -eq 0 ]
	[ "$(grep -cE '^  [A-Z]+ ' <<<"$output")" -eq 0 ]
	[ "$(find "$S" -type f -printf '%P %T@\n' | sort)" = "$before" ]
}

@test "pipeline: COARSE_EPOCHS trains a coarse stage at half the size first, the run's model starts from it; resumable, stamped" {
	local runs="$BATS_TEST_TMPDIR/runs" dir="$BATS_TEST_TMPDIR/runs/c2f"
	run pipe pipeline RUNS_DIR="$runs" RUN=c2f SIZE=16 COARSE_EPOCHS=1 EPOCHS=1
	[ "$status" -eq 0 ]
	[[ "$output" == *"FIT    $dir/coarse/model.bin"* ]]
	for f in coarse/train.bin coarse/val.bin coarse/model.bin coarse/fit.tsv model.bin fit.tsv report.md; do
		[ -s "$dir/$f" ]
	done
	run "$PCNN_BIN/pcnn-info" "$dir/coarse/train.bin"
	[[ "$output" == *"images: 8x8x3"* ]]
	run "$PCNN_BIN/pcnn-info" "$dir/model.bin"
	[[ "$output" == *"images: 16x16x3"* ]]
	[[ "$output" == *"option init_from: $dir/coarse/model.bin"* ]]
	[[ "$output" == *"option init_size: 8x8"* ]]
	[[ "$output" == *"option init_epochs: 1"* ]]
	grep -qx "coarse stage=1 epochs at 8x8 first; then the epochs at 16x16 start from its weights at learning rate 5e-05" "$dir/config.txt"
	grep -q "^| coarse to fine | 1 epochs at 8x8 first; .* (its log: \`coarse/fit.tsv\`) |$" "$dir/report.md"
	grep -q -- '--lr 5e-05 .*--init '"$dir"'/coarse/model.bin' "$dir/.args/fit"
	grep -q -- '--lr 2e-4 ' "$dir/.args/fit-coarse"
	run pipe -f pipelines/pipeline.mk -q pipeline-run RUNS_DIR="$runs" RUN=c2f SIZE=16 COARSE_EPOCHS=1 EPOCHS=1
	[ "$status" -eq 0 ]
	# the coarse stage's epochs retrain it and the run's model, no prep
	run pipe pipeline RUNS_DIR="$runs" RUN=c2f SIZE=16 COARSE_EPOCHS=2 EPOCHS=1
	[ "$status" -eq 0 ]
	[[ "$output" == *"FIT    $dir/coarse/model.bin"* && "$output" == *"FIT    $dir/model.bin"* ]]
	[[ "$output" != *"PREP "* ]]
	# an interrupted coarse stage is resumed, losing nothing
	cp "$dir/coarse/model.bin" whole.bin
	rm -f "$dir/coarse/model.bin" "$dir/coarse/fit.tsv"
	"$PCNN_BIN/pcnn-fit" -q $(cat "$dir/.args/fit-coarse" | sed 's/-e 2/-e 1/') -V "$dir/coarse/val.bin" \
		--log "$dir/coarse/fit.partial.tsv" -o "$dir/coarse/model.partial.bin" "$dir/coarse/train.bin"
	run pipe pipeline RUNS_DIR="$runs" RUN=c2f SIZE=16 COARSE_EPOCHS=2 EPOCHS=1
	[ "$status" -eq 0 ]
	[[ "$output" == *"resuming the interrupted training in $dir/coarse/model.partial.bin"* ]]
	cmp whole.bin "$dir/coarse/model.bin"
	# a partial fine stage older than the coarse model it would continue is not resumed
	# (newer than its stamp and data, which the runs above wrote, older than the coarse model)
	cp "$dir/model.bin" "$dir/model.partial.bin"
	cp "$dir/fit.tsv" "$dir/fit.partial.tsv"
	sleep 1
	touch "$dir/coarse/model.bin"
	run pipe pipeline RUNS_DIR="$runs" RUN=c2f SIZE=16 COARSE_EPOCHS=2 EPOCHS=1
	[ "$status" -eq 0 ]
	[[ "$output" == *"FIT    $dir/model.bin"* && "$output" != *"resuming"* ]]
}

@test "pipeline: the quick profile's hybrid trains coarse to fine on 28x28 and larger images, at half the side rounded up to a multiple of 4" {
	# pipeline-config reads no data: the fixture's folder stands for any CPEN 455 layout
	conf() { pipe PROFILE=quick RUNS_DIR="$BATS_TEST_TMPDIR/runs" "$@" pipeline-config; }
	fashion() { make -C "$PCNN_ROOT" --no-print-directory PROFILE=quick RUNS_DIR="$BATS_TEST_TMPDIR/runs" "$@" pipeline-config; }
	run conf SIZE=32
	[ "$status" -eq 0 ]
	grep -qx 'epochs=2' <<<"$output"
	grep -qx 'coarse stage=3 epochs at 16x16 first; then the epochs at 32x32 start from its weights at learning rate 0.0005' <<<"$output"
	grep -q '^fit=.* -e 2 --lr 0.0005 .*--init .*/coarse/model.bin' <<<"$output"
	grep -q '^fit coarse=.* -e 3 --lr 2e-3 ' <<<"$output"
	# Fashion-MNIST (28x28): the same recipe, its coarse stage at 16x16
	run fashion
	[ "$status" -eq 0 ]
	grep -qx 'epochs=2' <<<"$output"
	grep -qx 'coarse stage=3 epochs at 16x16 first; then the epochs at 28x28 start from its weights at learning rate 0.0005' <<<"$output"
	grep -q '^fit=-R 1 -F 32 .* -e 2 --lr 0.0005 .*--init .*/coarse/model.bin' <<<"$output"
	grep -q '^prep coarse train=-H 16 -W 16 ' <<<"$output"
	# one stage: the likelihood objective, asked for, and below 28x28
	run conf SIZE=32 OBJECTIVE=likelihood
	grep -qx 'epochs=3' <<<"$output"
	[[ "$output" != *coarse* ]]
	run fashion OBJECTIVE=likelihood
	grep -qx 'epochs=3' <<<"$output"
	[[ "$output" != *coarse* ]]
	run conf SIZE=32 OBJECTIVE=likelihood COARSE_EPOCHS=3
	grep -qx 'epochs=2' <<<"$output"
	grep -q '^coarse stage=3 epochs at 16x16' <<<"$output"
	run conf SIZE=32 COARSE_EPOCHS=0
	grep -qx 'epochs=3' <<<"$output"
	[[ "$output" != *coarse* ]]
	run fashion COARSE_EPOCHS=0
	grep -qx 'epochs=3' <<<"$output"
	[[ "$output" != *coarse* ]]
	run conf SIZE=24
	grep -qx 'epochs=3' <<<"$output"
	[[ "$output" != *coarse* ]]
	# given epochs and sizes win; half the side rounded up to a multiple of 4
	run conf SIZE=32 EPOCHS=4
	grep -qx 'epochs=4' <<<"$output"
	run fashion COARSE_SIZE=12
	grep -q '^coarse stage=3 epochs at 12x12 first; then the epochs at 28x28' <<<"$output"
	run conf SIZE=24 COARSE_EPOCHS=2
	grep -q '^coarse stage=2 epochs at 12x12 first; then the epochs at 24x24' <<<"$output"
	run conf SIZE=20 COARSE_EPOCHS=2
	grep -q '^coarse stage=2 epochs at 12x12 first; then the epochs at 20x20' <<<"$output"
	run conf SIZE=64
	grep -q '^coarse stage=3 epochs at 32x32 first; then the epochs at 64x64' <<<"$output"
	# the fine stage's CE term: the run's (auto) unless FINE_CE_WEIGHT says otherwise
	run conf SIZE=32
	grep -qx 'fine stage CE weight=auto, temperature auto' <<<"$output"
	grep -q '^fit=.* --ce-weight auto --ce-temperature auto .*--init ' <<<"$output"
	run conf SIZE=32 FINE_CE_WEIGHT=init
	grep -qx 'fine stage CE weight=init (the weight and temperature the coarse stage ended with)' <<<"$output"
	grep -q '^fit=.* --lr 0.0005 .* --ce-weight init --ce-fraction 0.5 .*--init ' <<<"$output"
	grep -q '^fit coarse=.* --ce-weight auto --ce-temperature auto ' <<<"$output"
	run conf SIZE=32 FINE_CE_WEIGHT=5 FINE_CE_TEMP=4
	grep -q '^fit=.* --ce-weight 5 --ce-temperature 4 .*--init ' <<<"$output"
	grep -q '^fit coarse=.* --ce-weight auto --ce-temperature auto ' <<<"$output"
	# the fine stage keeps the run's objective
	run conf SIZE=32 OBJECTIVE=likelihood COARSE_EPOCHS=3 FINE_CE_WEIGHT=init
	[ "$status" -eq 0 ]
	run conf SIZE=32 OBJECTIVE=likelihood COARSE_EPOCHS=3 FINE_CE_WEIGHT=5
	[ "$status" -ne 0 ]
	[[ "$output" == *"FINE_CE_WEIGHT=5 with the likelihood objective: its fine stage has no cross-entropy term"* ]]
	run conf SIZE=32 FINE_CE_WEIGHT=0
	[ "$status" -ne 0 ]
	[[ "$output" == *"FINE_CE_WEIGHT=0 with the hybrid objective: its fine stage would train by the likelihood alone"* ]]
	run conf SIZE=32 COARSE_EPOCHS=0 FINE_CE_WEIGHT=0
	[ "$status" -eq 0 ]
}
