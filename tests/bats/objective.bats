#!/usr/bin/env bats
# The training objective is named (issue 26): pcnn-fit records it in the model file and says
# it, pcnn-info shows it, make pipeline's OBJECTIVE knob sets it and the report states it.

bats_require_minimum_version 1.5.0

setup() {
	FIT="$PCNN_BIN/pcnn-fit"
	INFO="$PCNN_BIN/pcnn-info"
	MK="$PCNN_TEST_BIN/pcnn-mkdata"
	cd "$BATS_TEST_TMPDIR"
	"$MK" -H 8 -W 8 -K 2 -n 6 -s 3 -o train.bin
}

pipe() {
	make -C "$PCNN_ROOT" --no-print-directory DATA="$PCNN_ROOT/tests/fixtures/pipeline/cpen455-tiny" \
		PROFILE=tiny BUILD="${PCNN_BIN%/bin}" RUNS_DIR="$BATS_TEST_TMPDIR/runs" PIPE_BIN="$PCNN_BIN" "$@"
}

@test "objective: pcnn-fit says and records the likelihood objective; pcnn-info shows it" {
	run --separate-stderr "$FIT" -R 1 -F 4 -M 2 -b 3 -e 1 -o m.bin train.bin
	[ "$status" -eq 0 ]
	[[ "$stderr" == *"objective: likelihood only"* ]]
	run "$INFO" m.bin
	[ "$status" -eq 0 ]
	echo "$output" | grep -qx 'objective: likelihood only'
	[[ "$output" == *"option objective: likelihood"* ]]
}

@test "objective: a hybrid model records the hybrid and its CE settings; resuming keeps them" {
	run --separate-stderr "$FIT" -R 1 -F 4 -M 2 -b 3 -e 1 --ce-weight 2 --ce-temperature 5 --ce-fraction 0.5 -o h.bin train.bin
	[ "$status" -eq 0 ]
	[[ "$stderr" == *"hybrid objective: cross-entropy weight 2, temperature 5"* ]]
	[[ "$stderr" != *"likelihood only"* ]]
	run "$INFO" h.bin
	[[ "$output" == *"objective: hybrid (likelihood + 2 x cross-entropy of the Bayes posterior, temperature 5, on 50% of each batch)"* ]]
	run "$FIT" -q -r h.bin -e 2 train.bin
	[ "$status" -eq 0 ]
	run "$INFO" h.bin
	[[ "$output" == *"objective: hybrid (likelihood + 2 x"* ]]
}

@test "objective: a model pcnn-fit did not train says the objective is not recorded" {
	"$MK" -m -H 8 -W 8 -K 2 -o made.bin
	run "$INFO" made.bin
	[ "$status" -eq 0 ]
	echo "$output" | grep -qx 'objective: not recorded'
}

@test "objective: make pipeline refuses OBJECTIVE=likelihood with a CE weight, and an unknown objective" {
	run pipe OBJECTIVE=likelihood CE_WEIGHT=3 pipeline-config
	[ "$status" -ne 0 ]
	[[ "$output" == *"OBJECTIVE=likelihood with CE_WEIGHT=3: the likelihood objective has no cross-entropy term"* ]]
	run pipe OBJECTIVE=discriminative pipeline-config
	[ "$status" -ne 0 ]
	[[ "$output" == *"OBJECTIVE=discriminative: not one of hybrid, likelihood"* ]]
	# tiny has no CE term: asking for the hybrid there needs a weight
	run pipe OBJECTIVE=hybrid pipeline-config
	[ "$status" -ne 0 ]
	[[ "$output" == *"OBJECTIVE=hybrid with CE_WEIGHT=0"* ]]
}

@test "objective: make pipeline's report and config name the objective (likelihood, then hybrid)" {
	run pipe -j2 pipeline OBJECTIVE=likelihood RUN=lik
	[ "$status" -eq 0 ] || { echo "$output"; false; }
	grep -qx 'objective=likelihood' runs/lik/config.txt
	grep -q '^Objective: \*\*likelihood only\*\*' runs/lik/report.md
	run pipe -j2 pipeline OBJECTIVE=hybrid CE_WEIGHT=2 CE_TEMP=4 RUN=hyb
	[ "$status" -eq 0 ] || { echo "$output"; false; }
	grep -qx 'objective=hybrid' runs/hyb/config.txt
	grep -q '^Objective: \*\*hybrid\*\* — the likelihood plus 2 × the cross-entropy' runs/hyb/report.md
	run "$INFO" runs/hyb/model.bin
	[[ "$output" == *"objective: hybrid (likelihood + 2 x"* ]]
}
