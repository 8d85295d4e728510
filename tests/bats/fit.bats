#!/usr/bin/env bats
# pcnn-fit: usage, bad input, determinism, checkpoints, exact resume, signals, NaN.

bats_require_minimum_version 1.5.0

setup() {
	FIT="$PCNN_BIN/pcnn-fit"
	MK="$PCNN_TEST_BIN/pcnn-mkdata"
	cd "$BATS_TEST_TMPDIR"
	"$MK" -H 8 -W 8 -K 2 -n 12 -s 3 -o train.bin
	"$MK" -H 8 -W 8 -K 2 -n 6 -s 4 -o val.bin
	TINY=(-R 1 -F 4 -M 2 -b 4)
}

@test "fit: -h prints usage on stdout, exit 0" {
	run --separate-stderr "$FIT" -h
	[ "$status" -eq 0 ]
	[[ "$output" == *"usage: pcnn-fit"* ]]
	[ -z "$stderr" ]
}

@test "fit: no operand, no -o, bad number, unknown option are usage errors (exit 2)" {
	run "$FIT" -o m.bin
	[ "$status" -eq 2 ]
	[[ "$output" == *"missing TRAIN data file"* ]]
	run "$FIT" train.bin
	[ "$status" -eq 2 ]
	[[ "$output" == *"missing -o MODEL"* ]]
	run "$FIT" -F 0 -o m.bin train.bin
	[ "$status" -eq 2 ]
	[[ "$output" == *"-F: expected an integer in 1..4096, got '0'"* ]]
	run "$FIT" --lr abc -o m.bin train.bin
	[ "$status" -eq 2 ]
	run "$FIT" --bogus -o m.bin train.bin
	[ "$status" -eq 2 ]
	[[ "$output" == *"unknown option '--bogus'"* ]]
}

@test "fit: missing and damaged training files exit 1 naming the file" {
	run "$FIT" -o m.bin nope.bin
	[ "$status" -eq 1 ]
	[[ "$output" == *"pcnn-fit: nope.bin: No such file or directory"* ]]
	printf 'NOTADATAFILE....................................' > bad.bin
	run "$FIT" -o m.bin bad.bin
	[ "$status" -eq 1 ]
	[[ "$output" == *"bad.bin: not a pcnn data file"* ]]
	head -c 200 train.bin > trunc.bin
	run "$FIT" -o m.bin trunc.bin
	[ "$status" -eq 1 ]
	[[ "$output" == *"trunc.bin: truncated"* ]]
	[ ! -e m.bin ]
}

@test "fit: unlabelled training data is refused with a hint" {
	"$MK" -H 8 -W 8 -n 4 -U -o test.bin
	run "$FIT" "${TINY[@]}" -o m.bin test.bin
	[ "$status" -eq 1 ]
	[[ "$output" == *"has no label (-1): training needs labelled data"* ]]
	[ ! -e m.bin ]
}

@test "fit: images whose sides are not divisible by 4 are refused" {
	"$MK" -H 6 -W 8 -n 4 -o odd.bin
	run "$FIT" "${TINY[@]}" -o m.bin odd.bin
	[ "$status" -eq 1 ]
	[[ "$output" == *"sides divisible by 4"* ]]
}

@test "fit: trains, logs every epoch, and the model describes itself" {
	run "$FIT" "${TINY[@]}" -e 2 -V val.bin --log fit.tsv -o m.bin train.bin
	[ "$status" -eq 0 ]
	[[ "$output" == *"epoch 2/2: train"*"bits/dim, validation"*"accuracy"* ]]
	[ "$(head -1 fit.tsv)" = "$(printf 'epoch\tstep\ttrain_bpd\tval_bpd\tval_acc\tlr\tseconds\timages_per_s\ttrain_ce\tval_acc_prior\tce_weight\tce_temperature')" ]
	[ "$(wc -l < fit.tsv)" -eq 3 ]
	[ "$(cut -f2 fit.tsv | tail -1)" = "6" ]
	# docs/PIPELINE.md and pcnn-fit -h name every column, in order
	grep -qF "\`$(head -1 fit.tsv | tr '\t' ' ')\`" "$PCNN_ROOT/docs/PIPELINE.md"
	"$FIT" -h | tr -s ' \n' ' ' | grep -qF "$(head -1 fit.tsv | sed 's/\t/, /g')"
	run "$PCNN_BIN/pcnn-info" m.bin
	[ "$status" -eq 0 ]
	[[ "$output" == *"training: 2 epochs, 6 steps"* ]]
	[[ "$output" == *"polyak: yes"* ]]
	[[ "$output" == *"adam state: yes"* ]]
}

@test "fit: the same seed gives the same bytes; another seed does not" {
	"$FIT" -q "${TINY[@]}" -e 1 -s 5 -o a.bin train.bin
	"$FIT" -q "${TINY[@]}" -e 1 -s 5 -o b.bin train.bin
	"$FIT" -q "${TINY[@]}" -e 1 -s 6 -o c.bin train.bin 2> err.txt
	cmp a.bin b.bin
	run cmp -s a.bin c.bin
	[ "$status" -eq 1 ]   # another seed, other bytes (2: a file is missing)
	[ ! -s err.txt ]   # -q: nothing on stderr
	# the same bytes on another instruction set and thread count
	PCNN_ISA=avx2 PCNN_THREADS=1 "$FIT" -q "${TINY[@]}" -e 1 -s 5 -o d.bin train.bin
	cmp a.bin d.bin
}

@test "fit: resuming after an epoch gives exactly the uninterrupted result" {
	"$FIT" -q "${TINY[@]}" -e 3 -o full.bin train.bin
	"$FIT" -q "${TINY[@]}" -e 1 -o part.bin train.bin
	"$FIT" -q -e 3 -r part.bin train.bin
	cmp full.bin part.bin
}

@test "fit: resuming from a mid-epoch checkpoint gives exactly the uninterrupted result" {
	"$FIT" -q "${TINY[@]}" -e 2 -o full.bin train.bin
	"$FIT" -q "${TINY[@]}" -e 2 --max-steps 4 -o part.bin train.bin
	run "$PCNN_BIN/pcnn-info" part.bin
	[[ "$output" == *"training: 1 epochs, 4 steps"* ]]
	"$FIT" -q -e 2 -r part.bin train.bin
	cmp full.bin part.bin
}

@test "fit: resuming with -V (mid-epoch, and after an epoch) gives the uninterrupted run's bytes" {
	# the best epoch's tensors are kept at the end of the file whenever they were first stored
	"$FIT" -q "${TINY[@]}" -e 2 -V val.bin -o full.bin train.bin
	"$FIT" -q "${TINY[@]}" -e 2 -V val.bin --max-steps 2 -o mid.bin train.bin
	"$FIT" -q -e 2 -V val.bin -r mid.bin train.bin
	cmp full.bin mid.bin
	"$FIT" -q "${TINY[@]}" -e 1 -V val.bin -o part.bin train.bin
	"$FIT" -q -e 2 -V val.bin -r part.bin train.bin
	cmp full.bin part.bin
}

@test "fit: --time-budget stops at an epoch boundary, exit 0, and -r goes on to -e's bytes" {
	# a budget far below one epoch: the first epoch always runs, no second starts
	run "$FIT" "${TINY[@]}" -e 3 --time-budget 0.000001 -o part.bin train.bin
	[ "$status" -eq 0 ]
	[[ "$output" == *"stopped after epoch 1 of 3"*"--time-budget"* ]]
	run "$PCNN_BIN/pcnn-info" part.bin
	[[ "$output" == *"training: 1 epochs, 3 steps"* ]]
	# the stop is a checkpoint like any other: resuming reaches the uninterrupted bytes
	"$FIT" -q "${TINY[@]}" -e 3 -o full.bin train.bin
	"$FIT" -q -e 3 -r part.bin train.bin
	cmp full.bin part.bin
	# a budget that is never reached changes nothing
	"$FIT" -q "${TINY[@]}" -e 3 --time-budget 100000 -o roomy.bin train.bin
	cmp full.bin roomy.bin
	run "$FIT" --time-budget -1 -o m.bin train.bin
	[ "$status" -eq 2 ]
	[[ "$output" == *"--time-budget: expected a number"* ]]
}

@test "fit: --ce-* options are checked (exit 2)" {
	run "$FIT" --ce-weight -1 -o m.bin train.bin
	[ "$status" -eq 2 ]
	[[ "$output" == *"--ce-weight: expected a number"* ]]
	run "$FIT" --ce-fraction 1.5 -o m.bin train.bin
	[ "$status" -eq 2 ]
	run "$FIT" --ce-temperature 0 -o m.bin train.bin
	[ "$status" -eq 2 ]
	[ ! -e m.bin ]
}

@test "fit: the hybrid objective trains, logs its CE term, differs from the likelihood alone" {
	run "$FIT" "${TINY[@]}" -e 2 --ce-weight 1 --ce-temperature 5 --ce-fraction 0.5 -V val.bin --log fit.tsv -o h.bin train.bin
	[ "$status" -eq 0 ]
	[[ "$output" == *"hybrid objective: cross-entropy weight 1, temperature 5, on 2 of every 4 images (6 passes per batch instead of 4)"* ]]
	[[ "$output" == *"epoch 2/2: train"*"bits/dim, CE "* ]]
	# train_ce: a finite positive number every epoch
	awk -F'\t' 'NR > 1 { if (!($9 > 0)) exit 1 }' fit.tsv
	"$FIT" -q "${TINY[@]}" -e 2 -o plain.bin train.bin
	run cmp -s h.bin plain.bin
	[ "$status" -eq 1 ]
	# --ce-weight 0 is the likelihood alone, to the byte
	"$FIT" -q "${TINY[@]}" -e 2 --ce-weight 0 -o zero.bin train.bin
	"$PCNN_BIN/pcnn-score" -q plain.bin < val.bin > plain.tsv
	"$PCNN_BIN/pcnn-score" -q zero.bin < val.bin > zero.tsv
	[ "$(wc -l < plain.tsv)" -eq 7 ]   # a header and the 6 images
	cmp plain.tsv zero.tsv
}

@test "fit: the hybrid objective resumes exactly (after an epoch and mid-epoch), options from the file" {
	H=(--ce-weight 2 --ce-temperature 3 --ce-fraction 0.75)
	"$FIT" -q "${TINY[@]}" "${H[@]}" -e 2 -o full.bin train.bin
	"$FIT" -q "${TINY[@]}" "${H[@]}" -e 1 -o part.bin train.bin
	"$FIT" -q -e 2 -r part.bin train.bin
	cmp full.bin part.bin
	"$FIT" -q "${TINY[@]}" "${H[@]}" -e 2 --max-steps 4 -o mid.bin train.bin
	"$FIT" -q -e 2 -r mid.bin train.bin
	cmp full.bin mid.bin
	# the same bytes on another instruction set and thread count
	PCNN_ISA=avx2 PCNN_THREADS=1 "$FIT" -q "${TINY[@]}" "${H[@]}" -e 2 -o isa.bin train.bin
	cmp full.bin isa.bin
}

@test "fit: the best validation epoch is kept; score and gen use it, --last the last epoch" {
	"$FIT" -q "${TINY[@]}" -e 1 -V val.bin -o m.bin train.bin
	cp m.bin epoch1.bin
	run "$PCNN_BIN/pcnn-info" m.bin
	[[ "$output" == *"best on validation: epoch 1, accuracy"* ]]
	# a second epoch without validation: the best stays epoch 1's weights
	"$FIT" -q -e 2 -r m.bin train.bin
	run "$PCNN_BIN/pcnn-info" m.bin
	[[ "$output" == *"training: 2 epochs"* ]]
	[[ "$output" == *"best on validation: epoch 1"* ]]
	S="$PCNN_BIN/pcnn-score"
	"$S" -q m.bin < val.bin > best.tsv
	"$S" -q --last epoch1.bin < val.bin > e1.tsv
	"$S" -q --last m.bin < val.bin > last.tsv
	cmp best.tsv e1.tsv
	run cmp -s best.tsv last.tsv
	[ "$status" -eq 1 ]
	G="$PCNN_BIN/pcnn-gen"
	"$G" -q -n 1 -o gb --no-quality m.bin
	"$G" -q -n 1 -o g1 --no-quality --last epoch1.bin
	"$G" -q -n 1 -o gl --no-quality --last m.bin
	cmp gb/Class0_image_01.png g1/Class0_image_01.png
	run cmp -s gb/Class0_image_01.png gl/Class0_image_01.png
	[ "$status" -eq 1 ]
}

@test "fit: resume with another batch size is refused" {
	"$FIT" -q "${TINY[@]}" -e 1 -o m.bin train.bin
	run "$FIT" -b 3 -e 2 -r m.bin train.bin
	[ "$status" -eq 1 ]
	[[ "$output" == *"cannot resume"*"use the same -b and training data"* ]]
}

@test "fit: a model that does not fit the data is refused" {
	"$FIT" -q "${TINY[@]}" -e 1 -o m.bin train.bin
	"$MK" -H 12 -W 12 -K 2 -n 4 -o big.bin
	run "$FIT" -e 2 -r m.bin big.bin
	[ "$status" -eq 1 ]
	[[ "$output" == *"made for 8x8x3 images, big.bin has 12x12x3"* ]]
}

@test "fit: a NaN loss stops with exit 1 and leaves the last good checkpoint" {
	"$FIT" -q "${TINY[@]}" -e 1 -o m.bin train.bin
	cp m.bin before.bin
	PCNN_TEST_NAN_STEP=5 run "$FIT" -e 3 -r m.bin train.bin
	[ "$status" -eq 1 ]
	[[ "$output" == *"the loss became NaN at epoch 2, step 5"* ]]
	[[ "$output" == *"keeps the last good checkpoint"* ]]
	cmp m.bin before.bin
}

@test "fit: SIGINT saves a checkpoint, exits 130, and resume matches an uninterrupted run" {
	"$MK" -H 8 -W 8 -K 2 -n 64 -s 9 -o long.bin
	"$FIT" -q "${TINY[@]}" -e 30 -o full.bin long.bin
	"$FIT" "${TINY[@]}" -e 30 --checkpoint-every 0 -o part.bin long.bin 2> fit.err &
	pid=$!
	# wait until training runs (first epoch line or a checkpoint), then interrupt
	for _ in $(seq 100); do [ -e part.bin ] && break; sleep 0.05; done
	kill -INT $pid
	rc=0
	wait $pid || rc=$?
	if [ $rc -eq 0 ]; then skip "training finished before the signal arrived"; fi
	[ $rc -eq 130 ]
	grep -q "interrupted by SIGINT: checkpoint saved to part.bin" fit.err
	"$PCNN_BIN/pcnn-info" part.bin > /dev/null
	"$FIT" -q -e 30 -r part.bin long.bin
	cmp full.bin part.bin
}

@test "fit: SIGTERM exits 143 with a valid checkpoint" {
	"$MK" -H 8 -W 8 -K 2 -n 64 -s 9 -o long.bin
	"$FIT" "${TINY[@]}" -e 50 -o m.bin long.bin 2> fit.err &
	pid=$!
	for _ in $(seq 100); do [ -e m.bin ] && break; sleep 0.05; done
	kill -TERM $pid
	rc=0
	wait $pid || rc=$?
	[ $rc -eq 143 ]
	grep -q "interrupted by SIGTERM" fit.err
	"$PCNN_BIN/pcnn-info" m.bin > /dev/null
}

@test "fit: -o - and -o /dev/full are refused before training: a model file is a regular file" {
	# several checkpoints to stdout would be several model files back to back
	run --separate-stderr "$FIT" "${TINY[@]}" -e 3 -o - train.bin
	[ "$status" -eq 2 ]
	[[ "$stderr" == *"-o -: a model file is rewritten at every checkpoint, so it is always a regular file, never stdout"* ]]
	[ -z "$output" ]
	[[ "$stderr" != *"epoch 1/3"* ]]
	# a device (a full disk's stand-in) is written in place: refused the same way, at once
	run "$FIT" "${TINY[@]}" -e 1 -o /dev/full train.bin
	[ "$status" -eq 1 ]
	[[ "$output" == *"/dev/full: not a regular file"* ]]
	[[ "$output" != *"training R="* ]]
	# a full disk during a checkpoint is faults.bats's (a file size limit mid-write)
}

@test "fit: -o is checked before training: a missing folder, a folder, a read-only folder" {
	run "$FIT" "${TINY[@]}" -e 1 -o no/such/dir/m.bin train.bin
	[ "$status" -eq 1 ]
	[[ "$output" == *"no/such/dir/m.bin: cannot create: No such file or directory"* ]]
	[[ "$output" != *"training R="* ]]
	mkdir folder
	run "$FIT" "${TINY[@]}" -e 1 -o folder train.bin
	[ "$status" -eq 1 ]
	[[ "$output" == *"folder: is a folder, not a file"* ]]
	[[ "$output" != *"training R="* ]]
	if command -v setpriv > /dev/null; then
		mkdir ro
		chmod 555 ro
		# root is not stopped by chmod: drop the capabilities that override it
		run setpriv --bounding-set=-dac_override,-dac_read_search,-fowner "$FIT" "${TINY[@]}" -e 1 -o ro/m.bin train.bin
		chmod 755 ro
		[ "$status" -eq 1 ]
		[[ "$output" == *"ro/m.bin: cannot create: Permission denied"* ]]
		[[ "$output" != *"training R="* ]]
		[ -z "$(ls ro)" ]   # the probe is removed
	fi
}

@test "fit: an output that is also an input is refused (exit 2), the input left intact" {
	cp train.bin same.bin
	run "$FIT" "${TINY[@]}" -e 1 -o same.bin same.bin
	[ "$status" -eq 2 ]
	[[ "$output" == *"same.bin: the model file (-o) is the same file as the training data same.bin"* ]]
	cmp same.bin train.bin
	cp val.bin v.bin
	run "$FIT" "${TINY[@]}" -e 1 -V v.bin -o v.bin train.bin
	[ "$status" -eq 2 ]
	[[ "$output" == *"the same file as the validation data (-V) v.bin"* ]]
	cmp v.bin val.bin
	# another name of the same file: a hard link, a ./ path
	ln train.bin hard.bin
	run "$FIT" "${TINY[@]}" -e 1 -o ./hard.bin train.bin
	[ "$status" -eq 2 ]
	cmp hard.bin same.bin
	run "$FIT" "${TINY[@]}" -e 1 --log train.bin -o m.bin train.bin
	[ "$status" -eq 2 ]
	[[ "$output" == *"train.bin: the log (--log) is the same file as the training data"* ]]
	cmp train.bin same.bin
	# -r: the same path continues in place; another name of the resumed file is refused
	"$FIT" -q "${TINY[@]}" -e 1 -o m.bin train.bin
	cp m.bin m1.bin
	run "$FIT" -e 2 -r m.bin -o ./m.bin train.bin
	[ "$status" -eq 2 ]
	[[ "$output" == *"./m.bin: the model file (-o) is the resumed model m.bin under another name"* ]]
	cmp m.bin m1.bin
	"$FIT" -q -e 2 -r m.bin -o m.bin train.bin
	run "$PCNN_BIN/pcnn-info" m.bin
	[[ "$output" == *"training: 2 epochs"* ]]
}

@test "fit: temporaries that a killed run left beside -o are removed; a live one's are not" {
	sleep 0 &
	dead=$!
	wait $dead
	touch "m.bin.tmp.$dead" "m.bin.tmp.$$" "other.bin.tmp.$dead"
	"$FIT" -q "${TINY[@]}" -e 1 -o m.bin train.bin
	[ ! -e "m.bin.tmp.$dead" ]
	[ -e "m.bin.tmp.$$" ]            # this shell is alive: maybe a writer at work
	[ -e "other.bin.tmp.$dead" ]     # another output's
}

@test "fit: -e 0 on a new model is a usage error; on a trained one, nothing to do" {
	run "$FIT" "${TINY[@]}" -e 0 -o m.bin train.bin
	[ "$status" -eq 2 ]
	[[ "$output" == *"-e 0: a new model needs at least one epoch"* ]]
	[ ! -e m.bin ]
	"$FIT" -q "${TINY[@]}" -e 1 -o m.bin train.bin
	run "$FIT" -e 0 -r m.bin train.bin
	[ "$status" -eq 0 ]
	[[ "$output" == *"m.bin: already trained for 1 epochs"* ]]
}

@test "fit: validation data that does not fit the training data is named, not the model file" {
	"$MK" -H 12 -W 12 -K 2 -n 4 -o big.bin
	run "$FIT" "${TINY[@]}" -e 1 -V big.bin -o m.bin train.bin
	[ "$status" -eq 1 ]
	[[ "$output" == *"big.bin: 12x12x3 images, the training data train.bin has 8x8x3"* ]]
	[[ "$output" != *"m.bin"* ]]
	"$MK" -H 8 -W 8 -K 3 -n 4 -o k3.bin
	run "$FIT" "${TINY[@]}" -e 1 -V k3.bin -o m.bin train.bin
	[ "$status" -eq 1 ]
	[[ "$output" == *"k3.bin: 3 classes, the training data train.bin has 2"* ]]
	[ ! -e m.bin ]
}

@test "fit: training data from a pipe" {
	cat train.bin | "$FIT" -q "${TINY[@]}" -e 1 -o p.bin -
	"$FIT" -q "${TINY[@]}" -e 1 -o f.bin train.bin
	cmp p.bin f.bin
}

@test "fit: --keep-best-by fitted keeps the epoch of the best val_acc_prior; -r keeps the choice" {
	"$FIT" -q "${TINY[@]}" -e 3 -V val.bin --keep-best-by fitted --log fit.tsv -o m.bin train.bin
	# the kept epoch: the highest val_acc_prior (column 10), ties to the lower val_bpd
	want=$(awk -F'\t' 'NR > 1 && (NR == 2 || $10 > a || ($10 == a && $4 < b)) { a = $10; b = $4; e = $1 }
		END { print e }' fit.tsv)
	run "$PCNN_BIN/pcnn-info" m.bin
	[[ "$output" == *"best on validation: epoch $want, accuracy "*" with the prior fitted on validation"* ]]
	[[ "$output" == *"keep_best_by: fitted"* ]]
	# every epoch logs both accuracies, numbers in [0, 1]
	[ "$(awk -F'\t' 'NR > 1 && $5 >= 0 && $5 <= 1 && $10 >= 0 && $10 <= 1' fit.tsv | wc -l)" -eq 3 ]
	# resumed without the option, the model file's choice goes on: the same bytes
	"$FIT" -q "${TINY[@]}" -e 1 -V val.bin --keep-best-by fitted -o part.bin train.bin
	"$FIT" -q -e 3 -V val.bin -r part.bin train.bin
	cmp m.bin part.bin
	run "$FIT" --keep-best-by best -o x.bin train.bin
	[ "$status" -eq 2 ]
	[[ "$output" == *"--keep-best-by: expected uniform or fitted, got 'best'"* ]]
}

@test "fit: several TRAIN files train as one: the bytes of their records concatenated" {
	# streamed files (count 'until the end marker'): a header, records, an end marker of
	# 14 bytes (u16, u64 count, CRC); the end marker of 18 records from an 18-record file
	"$MK" -H 8 -W 8 -K 2 -n 12 -s 3 > a.bin
	"$MK" -H 8 -W 8 -K 2 -n 6 -s 4 > b.bin
	"$MK" -H 8 -W 8 -K 2 -n 18 -s 5 > e.bin
	rec=$((($(stat -c %s a.bin) - $(stat -c %s b.bin)) / 6))
	hdr=$(($(stat -c %s b.bin) - 14 - 6 * rec))
	{ head -c -14 a.bin; tail -c +$((hdr + 1)) b.bin | head -c -14; tail -c 14 e.bin; } > ab.bin
	run "$PCNN_BIN/pcnn-info" ab.bin
	[ "$status" -eq 0 ]
	[[ "$output" == *"records: 18"* ]]
	"$FIT" -q "${TINY[@]}" -e 2 -o one.bin ab.bin
	"$FIT" -q "${TINY[@]}" -e 2 -o two.bin a.bin b.bin
	cmp one.bin two.bin
	run "$PCNN_BIN/pcnn-info" two.bin
	[[ "$output" == *"option train_images: 18"* ]]
	# the order is the order given: b a trains otherwise
	"$FIT" -q "${TINY[@]}" -e 2 -o ba.bin b.bin a.bin
	run cmp -s one.bin ba.bin
	[ "$status" -eq 1 ]
	# -r with the same files resumes exactly; with fewer it is refused
	"$FIT" -q "${TINY[@]}" -e 1 -o r.bin a.bin b.bin
	"$FIT" -q -e 2 -r r.bin a.bin b.bin
	cmp r.bin two.bin
	run "$FIT" -q -e 3 -r r.bin a.bin
	[ "$status" -eq 1 ]
	[[ "$output" == *"on 18 images, this run has batch 4 on 12 images"* ]]
}

@test "fit: several TRAIN files: one that does not fit is named; stdin only once; -o none of them" {
	"$MK" -H 12 -W 12 -K 2 -n 4 -o big.bin
	run "$FIT" "${TINY[@]}" -e 1 -o m.bin train.bin big.bin
	[ "$status" -eq 1 ]
	[[ "$output" == *"big.bin: 12x12x3 images, the training data train.bin has 8x8x3"* ]]
	[ ! -e m.bin ]
	run "$FIT" "${TINY[@]}" -e 1 -o m.bin - -
	[ "$status" -eq 2 ]
	[[ "$output" == *"stdin ('-') can be read once"* ]]
	run "$FIT" "${TINY[@]}" -e 1 -V - -o m.bin train.bin -
	[ "$status" -eq 2 ]
	cp val.bin v2.bin
	run "$FIT" "${TINY[@]}" -e 1 -o v2.bin train.bin v2.bin
	[ "$status" -eq 2 ]
	[[ "$output" == *"v2.bin: the model file (-o) is the same file as the training data v2.bin"* ]]
	cmp v2.bin val.bin
	head -c 300 val.bin > cut.bin
	run "$FIT" "${TINY[@]}" -e 1 -o m.bin train.bin cut.bin
	[ "$status" -eq 1 ]
	[[ "$output" == *"cut.bin"* ]]
	[ ! -e m.bin ]
}

@test "fit: --lr-schedule cosine: the logged rates follow lr (1 + cos(pi t / T)) / 2, resume is exact" {
	# 12 images, batch 4: 3 steps per epoch, T = 6 steps; the log gives each epoch's last
	# step's rate: t = 2 -> 0.75 lr, t = 5 -> (1 - cos(pi / 6)) / 2 = 0.0669873 lr
	"$FIT" -q "${TINY[@]}" -e 2 --lr 1e-3 --lr-schedule cosine --log c.tsv -o c.bin train.bin
	awk -F '\t' 'NR == 2 { if ($6 < 7.4999e-4 || $6 > 7.5001e-4) exit 1 }
	             NR == 3 { if ($6 < 6.6987e-5 || $6 > 6.6988e-5) exit 1 }' c.tsv
	run "$PCNN_BIN/pcnn-info" c.bin
	[[ "$output" == *"option lr_schedule: cosine"* ]]
	# another schedule, other bytes
	"$FIT" -q "${TINY[@]}" -e 2 --lr 1e-3 -o d.bin train.bin
	run cmp -s c.bin d.bin
	[ "$status" -eq 1 ]
	# stopped mid-run (step 4 of 6) and resumed: the uninterrupted bytes, schedule and base
	# rate from the file
	"$FIT" -q "${TINY[@]}" -e 2 --lr 1e-3 --lr-schedule cosine --max-steps 4 -o r.bin train.bin
	"$FIT" -q -e 2 -r r.bin train.bin
	cmp r.bin c.bin
	# the same for the epoch decay with a --lr of its own (the file's lr_base, not the default)
	"$FIT" -q "${TINY[@]}" -e 2 --lr 1e-3 --max-steps 4 -o e.bin train.bin
	"$FIT" -q -e 2 -r e.bin train.bin
	cmp e.bin d.bin
	# no per-epoch factor with it
	run "$FIT" "${TINY[@]}" -e 2 --lr-schedule cosine --lr-decay 0.5 -o x.bin train.bin
	[ "$status" -eq 2 ]
	[[ "$output" == *"--lr-decay with --lr-schedule cosine"* ]]
	run "$FIT" "${TINY[@]}" -e 2 --lr-schedule linear -o x.bin train.bin
	[ "$status" -eq 2 ]
	[[ "$output" == *"expected epoch-decay or cosine, got 'linear'"* ]]
	[ ! -e x.bin ]
}

@test "fit: --dropout 0 trains without dropout: recorded, named, exact resume; other rates refused" {
	run "$FIT" "${TINY[@]}" -e 2 --dropout 0 -o n.bin train.bin
	[ "$status" -eq 0 ]
	[[ "$output" == *", no dropout"* ]]
	run "$PCNN_BIN/pcnn-info" n.bin
	[[ "$output" == *"option dropout: 0"* ]]
	"$FIT" -q "${TINY[@]}" -e 2 -o d.bin train.bin
	run "$PCNN_BIN/pcnn-info" d.bin
	[[ "$output" == *"option dropout: 0.5"* ]]
	run cmp -s n.bin d.bin
	[ "$status" -eq 1 ]
	# --dropout 0.5 is the default's bytes
	"$FIT" -q "${TINY[@]}" -e 2 --dropout 0.5 -o h.bin train.bin
	cmp h.bin d.bin
	# stopped and resumed: the option from the file, the uninterrupted bytes
	"$FIT" -q "${TINY[@]}" -e 2 --dropout 0 --max-steps 3 -o r.bin train.bin
	"$FIT" -q -e 2 -r r.bin train.bin
	cmp r.bin n.bin
	run "$FIT" "${TINY[@]}" -e 1 --dropout 0.3 -o x.bin train.bin
	[ "$status" -eq 2 ]
	[[ "$output" == *"--dropout 0.3: 0.5 (SPEC's rate, the default) or 0 (none)"* ]]
	[ ! -e x.bin ]
}

@test "fit: --ce-prior learned: the posterior's log prior learned along, recorded, exact resume, named" {
	"$MK" -H 8 -W 8 -K 4 -n 12 -s 3 -o k4.bin
	run "$FIT" "${TINY[@]}" -e 2 --ce-weight 1 --ce-temperature 2 --ce-prior learned -o p.bin k4.bin
	[ "$status" -eq 0 ]
	[[ "$output" == *"the posterior's log prior is learned along (--ce-prior learned; now 0 for every class)"* ]]
	run "$PCNN_BIN/pcnn-info" p.bin
	[[ "$output" == *"on 100% of each batch, with a learned prior)"* ]]
	[[ "$output" == *"option ce_prior: learned"* ]]
	# K numbers; all classes in every posterior: each step's gradient sums to 0 over the
	# classes, so the prior does too; a step moves each by at most tau = 2 nats (6 steps)
	b=$(printf '%s\n' "$output" | sed -n 's/^option ce_log_prior: //p')
	printf '%s\n' "$b" | awk -F, '{ s = 0; m = 0
		for (i = 1; i <= NF; i++) { s += $i; if ($i > m) m = $i; if (-$i > m) m = -$i }
		if (NF != 4 || s > 1e-9 || s < -1e-9 || m <= 0 || m > 12) { print "bad prior " $0; exit 1 } }'
	# the prior changes training: not the uniform prior's bytes
	"$FIT" -q "${TINY[@]}" -e 2 --ce-weight 1 --ce-temperature 2 -o u.bin k4.bin
	run cmp -s u.bin p.bin
	[ "$status" -eq 1 ]
	run "$PCNN_BIN/pcnn-info" u.bin
	[[ "$output" == *"option ce_prior: uniform"* ]]
	[[ "$output" != *"ce_log_prior"* ]]
	# stopped mid-epoch and resumed: the option and the prior from the file, the same bytes
	"$FIT" -q "${TINY[@]}" -e 2 --ce-weight 1 --ce-temperature 2 --ce-prior learned --max-steps 4 -o r.bin k4.bin
	"$FIT" -q -e 2 -r r.bin k4.bin
	cmp r.bin p.bin
	# given again on resume it wins: the rest of the run with the uniform prior
	"$FIT" -q "${TINY[@]}" -e 2 --ce-weight 1 --ce-temperature 2 --ce-prior learned --max-steps 4 -o r.bin k4.bin
	"$FIT" -q -e 2 -r r.bin -o r2.bin --ce-prior uniform k4.bin
	run "$PCNN_BIN/pcnn-info" r2.bin
	[[ "$output" == *"option ce_prior: uniform"* ]]
	# the likelihood objective has no CE term to learn it in
	run "$FIT" "${TINY[@]}" -e 1 --ce-prior learned -o x.bin k4.bin
	[ "$status" -eq 2 ]
	[[ "$output" == *"--ce-prior learned: the likelihood objective has no CE term"* ]]
	run "$FIT" "${TINY[@]}" -e 1 --ce-weight 1 --ce-prior flat -o x.bin k4.bin
	[ "$status" -eq 2 ]
	[[ "$output" == *"--ce-prior: expected uniform or learned, got 'flat'"* ]]
	[ ! -e x.bin ]
}

@test "fit: --ce-weight auto: weight 40000 nats / the running -log p(x | y), temperature 30 / weight; logged, recorded, exact resume, named" {
	# one step per epoch (-b 12 on 12 images): epoch 1 runs at the start value, the code
	# length of uniform pixels L0 = 8 ln 2 x 8 x 8 x 3 nats, epoch 2 at the running mean
	# 0.95 L0 + 0.05 L1, L1 the first step's -log p(x | y) (epoch 1's train_bpd x 192 ln 2)
	run "$FIT" "${TINY[@]}" -b 12 -e 2 --ce-weight auto --log fit.tsv -o a.bin train.bin
	[ "$status" -eq 0 ]
	[[ "$output" == *"cross-entropy weight auto (40000 nats / the running -log p(x | y): now 37.6), temperature 30 / weight (now 0.799)"* ]]
	[[ "$output" == *"epoch 2/2: train"*"(weight "*", temperature "* ]]
	[ "$(head -1 fit.tsv | cut -f11,12)" = "$(printf 'ce_weight\tce_temperature')" ]
	awk -F'\t' 'NR == 2 { L = 8 * log(2) * 192; want = 40000 / L; L1 = $3 * 192 * log(2) }
		NR == 3 { want = 40000 / (0.95 * 8 * log(2) * 192 + 0.05 * L1) }
		NR > 1 { if (($11 - want) ^ 2 > (1e-6 * want) ^ 2 || ($11 * $12 - 30) ^ 2 > 1e-10) {
			print "row " NR ": weight " $11 " temperature " $12 ", want " want; exit 1 } }' fit.tsv
	run "$PCNN_BIN/pcnn-info" a.bin
	[[ "$output" == *"option ce_weight: auto"* ]]
	[[ "$output" == *"option ce_temperature: auto"* ]]
	[[ "$output" == *"option ce_nll_ema: "* ]]
	[[ "$output" == *"objective: hybrid (likelihood + an automatic weight x cross-entropy"*"temperature 30 / weight (last "* ]]
	# a temperature given stays fixed; the weight still follows the likelihood
	"$FIT" -q "${TINY[@]}" -b 12 -e 2 --ce-weight auto --ce-temperature 2 --log t.tsv -o t.bin train.bin
	awk -F'\t' 'NR > 1 && $12 != 2 { exit 1 }' t.tsv
	run "$PCNN_BIN/pcnn-info" t.bin
	[[ "$output" == *"option ce_temperature: 2"* ]]
	# stopped mid-epoch and after an epoch, resumed: the rule and its running mean from the file
	"$FIT" -q "${TINY[@]}" -e 2 --ce-weight auto --ce-fraction 0.5 -o full.bin train.bin
	"$FIT" -q "${TINY[@]}" -e 2 --ce-weight auto --ce-fraction 0.5 --max-steps 4 -o mid.bin train.bin
	"$FIT" -q -e 2 -r mid.bin train.bin
	cmp full.bin mid.bin
	"$FIT" -q "${TINY[@]}" -e 1 --ce-weight auto --ce-fraction 0.5 -o part.bin train.bin
	"$FIT" -q -e 2 -r part.bin train.bin
	cmp full.bin part.bin
	# a fixed weight's log says so too, the likelihood's says NA
	"$FIT" -q "${TINY[@]}" -e 1 --ce-weight 2 --ce-temperature 3 --log f.tsv -o f.bin train.bin
	[ "$(tail -1 f.tsv | cut -f11,12)" = "$(printf '2\t3')" ]
	"$FIT" -q "${TINY[@]}" -e 1 --log l.tsv -o l.bin train.bin
	[ "$(tail -1 l.tsv | cut -f11,12)" = "$(printf 'NA\tNA')" ]
	# --ce-temperature auto is the auto weight's default; with a fixed weight, 30 / it
	"$FIT" -q "${TINY[@]}" -b 12 -e 2 --ce-weight auto --ce-temperature auto -o ta.bin train.bin
	cmp a.bin ta.bin
	"$FIT" -q "${TINY[@]}" -e 1 --ce-weight 2 --ce-temperature auto -o x.bin train.bin
	"$FIT" -q "${TINY[@]}" -e 1 --ce-weight 2 --ce-temperature 15 -o y.bin train.bin
	cmp x.bin y.bin
	"$FIT" -q "${TINY[@]}" -e 1 --ce-weight 0 --ce-temperature auto -o z.bin train.bin
	"$PCNN_BIN/pcnn-info" z.bin | grep -qx 'objective: likelihood only'
}

@test "fit: --ce-classes N draws N of K classes per CE image: fewer passes, exact resume, named" {
	"$MK" -H 8 -W 8 -K 4 -n 12 -s 3 -o k4.bin
	run "$FIT" "${TINY[@]}" -e 2 --ce-weight 1 --ce-classes 2 -o d.bin k4.bin
	[ "$status" -eq 0 ]
	# 4 CE images a batch, each twice (its class and one other): 8 passes, not 16
	[[ "$output" == *"each under its class and 1 of the 3 others drawn (8 passes per batch instead of 4)"* ]]
	run "$PCNN_BIN/pcnn-info" d.bin
	[[ "$output" == *"on 100% of each batch, over its class and 1 others drawn)"* ]]
	"$FIT" -q "${TINY[@]}" -e 2 --ce-weight 1 -o a.bin k4.bin
	run cmp -s a.bin d.bin
	[ "$status" -eq 1 ]
	# N >= K is all classes: the default's bytes
	"$FIT" -q "${TINY[@]}" -e 2 --ce-weight 1 --ce-classes 4 -o k.bin k4.bin
	cmp a.bin k.bin
	# stopped mid-run and resumed: the option from the file, the uninterrupted bytes
	"$FIT" -q "${TINY[@]}" -e 2 --ce-weight 1 --ce-classes 2 --max-steps 4 -o r.bin k4.bin
	"$FIT" -q -e 2 -r r.bin k4.bin
	cmp r.bin d.bin
	run "$FIT" "${TINY[@]}" -e 1 --ce-weight 1 --ce-classes 1 -o x.bin k4.bin
	[ "$status" -eq 2 ]
	[[ "$output" == *"--ce-classes 1: a posterior over the true class alone"* ]]
	[ ! -e x.bin ]
}

@test "fit: --init starts a new model from a coarse model's weights at another size; errors" {
	"$MK" -H 16 -W 16 -K 2 -n 12 -s 5 -o fine.bin
	"$MK" -H 16 -W 16 -K 2 -n 6 -s 6 -o fineval.bin
	"$FIT" -q "${TINY[@]}" -e 2 --conditioning film,input -V val.bin -o coarse.bin train.bin
	run "$FIT" -b 4 -e 2 --init coarse.bin -V fineval.bin --log f.tsv -o a.bin fine.bin
	[ "$status" -eq 0 ]
	[[ "$output" == *"epochs 1..2"* ]]
	run "$PCNN_BIN/pcnn-info" a.bin
	[[ "$output" == *"images: 16x16x3"* ]]
	[[ "$output" == *"conditioning: film,input"* ]]
	[[ "$output" == *"training: 2 epochs"* ]]
	[[ "$output" == *"option init_from: coarse.bin"* ]]
	[[ "$output" == *"option init_size: 8x8"* ]]
	[[ "$output" == *"option init_epochs: 2"* ]]
	[ "$(wc -l < f.tsv)" -eq 3 ]
	# deterministic, resumable exactly, and not the model trained from scratch
	"$FIT" -q -b 4 -e 2 --init coarse.bin -V fineval.bin -o b.bin fine.bin
	cmp a.bin b.bin
	"$FIT" -q -b 4 -e 1 --init coarse.bin -V fineval.bin -o c.bin fine.bin
	"$FIT" -q -e 2 -r c.bin -V fineval.bin fine.bin
	cmp a.bin c.bin
	"$FIT" -q -b 4 -e 2 --conditioning film,input -V fineval.bin -o s.bin fine.bin
	run cmp -s a.bin s.bin
	[ "$status" -eq 1 ]
	# what it refuses: with -r, with sizes of its own, -o naming it, other classes, damage
	run "$FIT" -e 3 -r a.bin --init coarse.bin fine.bin
	[ "$status" -eq 2 ]
	[[ "$output" == *"--init starts a new model from another's weights, -r continues one: not both"* ]]
	"$FIT" -q "${TINY[@]}" -e 2 --conditioning input,film --init coarse.bin -V fineval.bin -o d.bin fine.bin
	cmp a.bin d.bin
	run "$FIT" "${TINY[@]}" -e 1 --conditioning film --init coarse.bin -o x.bin fine.bin
	[ "$status" -eq 2 ]
	[[ "$output" == *"--init: coarse.bin is R=1 F=4 M=2 with conditioning film,input; -R/-F/-M/--conditioning, when given, must agree"* ]]
	run "$FIT" -M 3 -e 1 --init coarse.bin -o x.bin fine.bin
	[ "$status" -eq 2 ]
	"$FIT" -q -F 4 -b 4 -e 2 --init coarse.bin -V fineval.bin -o e.bin fine.bin
	cmp a.bin e.bin
	cp coarse.bin keep.bin
	run "$FIT" -b 4 -e 1 --init coarse.bin -o coarse.bin fine.bin
	[ "$status" -eq 2 ]
	[[ "$output" == *"the initial model (--init)"* ]]
	cmp coarse.bin keep.bin
	"$MK" -H 16 -W 16 -K 3 -n 12 -s 5 -o k3.bin
	run "$FIT" -b 4 -e 1 --init coarse.bin -o x.bin k3.bin
	[ "$status" -eq 1 ]
	[[ "$output" == *"coarse.bin: made for 2 classes, k3.bin has 3"* ]]
	run "$FIT" -b 4 -e 1 --init nope.bin -o x.bin fine.bin
	[ "$status" -eq 1 ]
	[[ "$output" == *"nope.bin: No such file or directory"* ]]
	head -c 3000 coarse.bin > cut.bin
	run "$FIT" -b 4 -e 1 --init cut.bin -o x.bin fine.bin
	[ "$status" -eq 1 ]
	[[ "$output" == *"cut.bin: "* ]]
	[ ! -e x.bin ]
}

@test "fit: --ce-weight init continues the initial model's CE term: the rule's last weight and temperature, or its fixed ones" {
	"$MK" -H 16 -W 16 -K 2 -n 12 -s 5 -o fine.bin
	"$FIT" -q "${TINY[@]}" -e 2 --ce-weight auto --ce-fraction 0.5 -o auto.bin train.bin
	w=$("$PCNN_BIN/pcnn-info" auto.bin | sed -n 's/^option ce_weight_last: //p')
	t=$("$PCNN_BIN/pcnn-info" auto.bin | sed -n 's/^option ce_temperature_last: //p')
	[[ "$w" =~ ^[0-9.]+$ && "$t" =~ ^[0-9.]+$ ]]
	run "$FIT" -b 4 -e 1 --ce-weight init --ce-fraction 0.5 --init auto.bin -o a.bin fine.bin
	[ "$status" -eq 0 ]
	[[ "$output" == *"hybrid objective: cross-entropy weight $(printf '%g' "$w"), temperature $(printf '%g' "$t"),"* ]]
	run "$PCNN_BIN/pcnn-info" a.bin
	[[ "$output" == *"option ce_weight: $w"* && "$output" == *"option ce_temperature: $t"* ]]
	[[ "$output" == *"option init_from: auto.bin"* ]]
	# the same bytes as the numbers given by hand
	"$FIT" -q -b 4 -e 1 --ce-weight "$w" --ce-temperature "$t" --ce-fraction 0.5 --init auto.bin -o b.bin fine.bin
	cmp a.bin b.bin
	# fixed ones are kept; a given temperature wins; the likelihood stays the likelihood
	"$FIT" -q "${TINY[@]}" -e 1 --ce-weight 3 --ce-temperature 7 -o fixed.bin train.bin
	"$FIT" -q -b 4 -e 1 --ce-weight init --init fixed.bin -o c.bin fine.bin
	run "$PCNN_BIN/pcnn-info" c.bin
	[[ "$output" == *"option ce_weight: 3"$'\n'* && "$output" == *"option ce_temperature: 7"$'\n'* ]]
	"$FIT" -q -b 4 -e 1 --ce-weight init --ce-temperature 2 --init fixed.bin -o d.bin fine.bin
	run "$PCNN_BIN/pcnn-info" d.bin
	[[ "$output" == *"option ce_weight: 3"$'\n'* && "$output" == *"option ce_temperature: 2"$'\n'* ]]
	"$FIT" -q "${TINY[@]}" -e 1 -o lik.bin train.bin
	"$FIT" -q -b 4 -e 1 --ce-weight init --init lik.bin -o e.bin fine.bin
	run "$PCNN_BIN/pcnn-info" e.bin
	[[ "$output" == *"objective: likelihood only"* ]]
	# it needs --init (a file that does not record the term: test_objective)
	run "$FIT" "${TINY[@]}" -e 1 --ce-weight init -o x.bin train.bin
	[ "$status" -eq 2 ]
	[[ "$output" == *"--ce-weight init: continues the CE term of the --init model; give --init FILE"* ]]
	[ ! -e x.bin ]
}
