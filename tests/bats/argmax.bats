#!/usr/bin/env bats
# pcnn-argmax: score TSV -> predictions CSV, report, posteriors, and refusals.

bats_require_minimum_version 1.5.0

setup() {
	A="$PCNN_BIN/pcnn-argmax"
	F="$PCNN_ROOT/tests/fixtures/argmax"
	cd "$BATS_TEST_TMPDIR"
}

tsv() {   # tsv FILE: the header of a 2-class score TSV, then stdin
	{ printf 'id\tlabel\tA\tB\n'; cat; } > "$1"
}

@test "argmax: -h prints usage on stdout, exit 0" {
	run --separate-stderr "$A" -h
	[ "$status" -eq 0 ]
	[[ "$output" == *"usage: pcnn-argmax"* ]]
	[[ "$output" == *"--format"* ]]
	[ -z "$stderr" ]
}

@test "argmax: unknown option is a usage error (exit 2)" {
	run "$A" --bogus "$F/report.tsv"
	[ "$status" -eq 2 ]
	[[ "$output" == *"pcnn-argmax: unknown option '--bogus'"* ]]
	[[ "$output" == *"Try 'pcnn-argmax -h'"* ]]
}

@test "argmax: bad --format value and missing option value are usage errors" {
	run "$A" --format 2024 "$F/report.tsv"
	[ "$status" -eq 2 ]
	[[ "$output" == *"--format: '2024' is not one of cpen455, 2023"* ]]
	run "$A" --prior
	[ "$status" -eq 2 ]
	[[ "$output" == *"option '--prior' needs a value"* ]]
}

@test "argmax: two operands are a usage error" {
	run "$A" "$F/report.tsv" "$F/ties.tsv"
	[ "$status" -eq 2 ]
	[[ "$output" == *"one score TSV at most"* ]]
}

@test "argmax: missing input file exits 1 naming it" {
	run "$A" nope.tsv
	[ "$status" -eq 1 ]
	[[ "$output" == "pcnn-argmax: nope.tsv: No such file or directory" ]]
}

@test "argmax: default output is the CPEN 455 submission form" {
	run --separate-stderr "$A" "$F/report.tsv"
	[ "$status" -eq 0 ]
	[ "$output" = "$(cat "$F/report.csv")" ]
	[ "${lines[0]}" = "train/0000001.jpg,0" ]
	[ "${lines[8]}" = "test/0000021.jpg,3" ]
	[ "${#lines[@]}" -eq 10 ]
	[ "$stderr" = "pcnn-argmax: 10 images, 8 labelled, accuracy 0.625000 (5/8)" ]
}

@test "argmax: stdin to stdout through pipes, byte for byte deterministic" {
	cat "$F/report.tsv" | "$A" -q | cat > a.csv
	"$A" -q < "$F/report.tsv" > b.csv
	"$A" -q - < "$F/report.tsv" > c.csv
	cmp a.csv "$F/report.csv"
	cmp a.csv b.csv
	cmp a.csv c.csv
}

@test "argmax: CRLF input gives the same predictions" {
	sed 's/$/\r/' "$F/report.tsv" > crlf.tsv
	"$A" -q crlf.tsv > out.csv
	cmp out.csv "$F/report.csv"
}

@test "argmax: --format 2023 writes a header and bare file names" {
	run --separate-stderr "$A" --format 2023 "$F/report.tsv"
	[ "$status" -eq 0 ]
	[ "${lines[0]}" = "id,label" ]
	[ "${lines[1]}" = "0000001.jpg,0" ]
	[ "${lines[9]}" = "0000021.jpg,3" ]
	[ "$output" = "$(cat "$F/report-2023.csv")" ]
}

@test "argmax: ties go to the lowest class index" {
	run "$A" -q "$F/ties.tsv"
	[ "$status" -eq 0 ]
	[ "$output" = "$(printf 'tie/all.png,0\ntie/last2.png,1\ntie/first-last.png,0')" ]
}

@test "argmax: ids with a comma or quote are quoted as in RFC 4180" {
	printf 'a,b.png\t0\t-1\t-2\nq"x.png\t-1\t-2\t-1\n' | tsv s.tsv
	run "$A" -q s.tsv
	[ "$status" -eq 0 ]
	[ "${lines[0]}" = '"a,b.png",0' ]
	[ "${lines[1]}" = '"q""x.png",1' ]
}

@test "argmax: --report matches the hand-computed example" {
	run --separate-stderr "$A" --report rep.md "$F/report.tsv"
	[ "$status" -eq 0 ]
	[ "$output" = "$(cat "$F/report.csv")" ]
	cmp rep.md "$F/report.md"
	grep -qx -- '- images: 10 (8 labelled, 2 without a label)' rep.md
	grep -qx -- '- accuracy: 0.625000 (5/8)' rep.md
	grep -qx -- '- macro-F1: 0.622222' rep.md
	grep -qxF '| Class0 | 1.000000 | 0.666667 | 0.800000 | 3 | 2 |' rep.md
	grep -qxF '| Class1 | 0.333333 | 0.500000 | 0.400000 | 2 | 3 |' rep.md
	grep -qxF '| Class2 | 0.666667 | 0.666667 | 0.666667 | 3 | 3 |' rep.md
	grep -qxF '| Class0 | 2 | 1 | 0 | 0 |' rep.md
	grep -qxF '| Class1 | 0 | 1 | 1 | 0 |' rep.md
	grep -qxF '| Class2 | 0 | 1 | 2 | 0 |' rep.md
	grep -qxF '| Class3 | 0 | 0 | 0 | 0 |' rep.md
}

@test "argmax: --report - writes the report on stderr, predictions stay on stdout" {
	run --separate-stderr "$A" --report - "$F/report.tsv"
	[ "$status" -eq 0 ]
	[ "$output" = "$(cat "$F/report.csv")" ]
	[ "$stderr" = "$(cat "$F/report.md")" ]
}

@test "argmax: unlabelled input: summary says so, report says accuracy unknown" {
	printf 'x.png\t-1\t-1\t-2\n' | tsv s.tsv
	run --separate-stderr "$A" --report rep.md s.tsv
	[ "$status" -eq 0 ]
	[ "$stderr" = "pcnn-argmax: 1 images, no labels" ]
	grep -qx -- '- accuracy: unknown (no labelled images)' rep.md
}

@test "argmax: -q prints nothing on stderr" {
	run --separate-stderr "$A" -q "$F/report.tsv"
	[ "$status" -eq 0 ]
	[ -z "$stderr" ]
}

@test "argmax: --probs at -6000 nats gives finite posteriors that sum to 1" {
	printf 'a.png\t0\t-6000.0\t-6001.0\nb.png\t1\t-6500.25\t-6500.25\nc.png\t1\t-9000\t-6000\n' | tsv s.tsv
	run "$A" -q --probs s.tsv
	[ "$status" -eq 0 ]
	[ "${lines[0]}" = "id,label,p_A,p_B" ]
	# p_A = 1/(1+e^-1) = 0.731058579
	[ "${lines[1]}" = "a.png,0,0.731058579,0.268941421" ]
	[ "${lines[2]}" = "b.png,0,0.5,0.5" ]
	[ "${lines[3]}" = "c.png,1,0,1" ]
	awk -F, 'NR > 1 { s = $3 + $4; if (s < 1 - 1e-8 || s > 1 + 1e-8) exit 1
	                  if ($3 !~ /^[0-9.e-]+$/ || $4 !~ /^[0-9.e-]+$/) exit 1 }' <<<"$output"
}

@test "argmax: --probs with --format 2023 uses bare names" {
	run "$A" -q --probs --format 2023 "$F/report.tsv"
	[ "$status" -eq 0 ]
	[ "${lines[0]}" = "id,label,p_Class0,p_Class1,p_Class2,p_Class3" ]
	[[ "${lines[1]}" == 0000001.jpg,0,* ]]
	awk -F, 'NR > 1 { s = $3 + $4 + $5 + $6; if (s < 1 - 1e-8 || s > 1 + 1e-8) exit 1 }' <<<"$output"
}

@test "argmax: --prior changes a close decision; uniform changes nothing" {
	"$A" -q --prior uniform "$F/report.tsv" > u.csv
	cmp u.csv "$F/report.csv"
	# test/0000027.jpg: scores 0, -0.5, -1, -0.25 (+6000): class 0; a prior 7x heavier on
	# Class1 adds log 7 = 1.95 to it and makes it win.
	printf 'Class1\t0.7\nClass0,0.1\nClass2\t0.1\nClass3\t0.1\n' > prior.txt
	run "$A" -q --prior prior.txt "$F/report.tsv"
	[ "$status" -eq 0 ]
	[ "${lines[9]}" = "test/0000027.jpg,1" ]
	printf '1\n7\n1\n1\n' > bare.txt
	"$A" -q --prior bare.txt "$F/report.tsv" > bare.csv
	[ "$(printf '%s\n' "${lines[@]}")" = "$(cat bare.csv)" ]
}

@test "argmax: a bad prior file exits 1 with its line" {
	printf 'Class0,0.5\nDog,0.5\n' > prior.txt
	run "$A" -q --prior prior.txt "$F/report.tsv"
	[ "$status" -eq 1 ]
	[[ "$output" == "pcnn-argmax: prior.txt: line 2: unknown class 'Dog'"* ]]
	printf '1\n1\n' > short.txt
	run "$A" -q --prior short.txt "$F/report.tsv"
	[ "$status" -eq 1 ]
	[[ "$output" == *"short.txt: 2 class priors given, the scores have 4 classes"* ]]
	run "$A" -q --prior nofile "$F/report.tsv"
	[ "$status" -eq 1 ]
	[[ "$output" == *"nofile: No such file or directory"* ]]
}

@test "argmax: wrong column count names the line" {
	printf 'a.png\t0\t-1\t-2\nb.png\t0\t-1\n' | tsv s.tsv
	run "$A" s.tsv
	[ "$status" -eq 1 ]
	[[ "$output" == *"pcnn-argmax: s.tsv: line 3: expected 4 tab-separated columns (id, label, 2 scores), found 3"* ]]
}

@test "argmax: a non-number names the line and class" {
	printf 'a.png\t0\t-1\t-2\nb.png\t0\t-1\t-2\nc.png\t0\t-1\tminus-two\n' | tsv s.tsv
	run "$A" s.tsv
	[ "$status" -eq 1 ]
	[[ "$output" == *"s.tsv: line 4: score for class B is 'minus-two', not a finite number"* ]]
}

@test "argmax: NaN and Inf are refused with the line" {
	printf 'a.png\t0\tnan\t-2\n' | tsv s.tsv
	run "$A" s.tsv
	[ "$status" -eq 1 ]
	[[ "$output" == *"s.tsv: line 2: score for class A is 'nan', not a finite number"* ]]
	printf 'a.png\t0\t-1\t-2\na.png\t0\t-1\t-inf\n' | tsv t.tsv
	run "$A" t.tsv
	[ "$status" -eq 1 ]
	[[ "$output" == *"t.tsv: line 3: score for class B is '-inf', not a finite number"* ]]
}

@test "argmax: label out of range names the line" {
	printf 'a.png\t2\t-1\t-2\n' | tsv s.tsv
	run "$A" s.tsv
	[ "$status" -eq 1 ]
	[[ "$output" == *"s.tsv: line 2: label '2' is not an integer in -1..1"* ]]
}

@test "argmax: header mismatch is refused at line 1" {
	printf 'name\tlabel\tA\tB\na.png\t0\t-1\t-2\n' > s.tsv
	run "$A" s.tsv
	[ "$status" -eq 1 ]
	[[ "$output" == *"s.tsv: line 1: header must start with 'id<TAB>label', found 'name<TAB>label'"* ]]
	printf 'id\tlabel\tA\tA\n' > d.tsv
	run "$A" d.tsv
	[ "$status" -eq 1 ]
	[[ "$output" == *"d.tsv: line 1: class name 'A' appears twice (columns 3 and 4)"* ]]
	printf 'id,label,A,B\na.png,0,-1,-2\n' > c.tsv
	run "$A" c.tsv
	[ "$status" -eq 1 ]
	[[ "$output" == *"c.tsv: line 1: header has 1 tab-separated column; "*"not commas"* ]]
}

@test "argmax: empty input, a header without rows and a data file are refused" {
	: > e.tsv
	run "$A" e.tsv
	[ "$status" -eq 1 ]
	[[ "$output" == *"e.tsv: empty (expected a score TSV from pcnn-score)"* ]]
	: | tsv h.tsv
	run "$A" -o h.csv h.tsv
	[ "$status" -eq 1 ]
	[[ "$output" == *"h.tsv: no rows after the header: nothing to predict"* ]]
	[ ! -e h.csv ]
	"$PCNN_TEST_BIN/pcnn-mkdata" -n 2 -o d.bin
	run "$A" d.bin
	[ "$status" -eq 1 ]
	[[ "$output" == *"d.bin: "* ]]
}

@test "argmax: a file cut inside its last line (no final newline) is refused, no predictions left" {
	printf 'a.png\t0\t-1\t-2\nb.png\t1\t-3\t-4\n' | tsv whole.tsv
	run "$A" -q -o whole.csv whole.tsv
	[ "$status" -eq 0 ]
	# cut inside the last number: -4 becomes -, then -4. (all still parse as numbers once cut)
	for n in 1 3 5; do
		head -c -$n whole.tsv > cut.tsv
		run "$A" -q -o out.csv cut.tsv
		[ "$status" -eq 1 ]
		[[ "$output" == *"cut.tsv: line 3: no newline at its end: the file is cut short"* ]]
		[ ! -e out.csv ]
	done
	# from a pipe too
	run bash -c 'head -c -1 "$1" | "$0" -q' "$A" whole.tsv
	[ "$status" -eq 1 ]
	[[ "$output" == *"<stdin>: line 3: no newline at its end"* ]]
}

@test "argmax: an output that is the input is refused (exit 2), the input intact" {
	cp "$F/report.tsv" s.tsv
	run "$A" -o s.tsv s.tsv
	[ "$status" -eq 2 ]
	[[ "$output" == *"s.tsv: the predictions (-o) is the same file as the score TSV s.tsv"* ]]
	cmp s.tsv "$F/report.tsv"
	run "$A" --report ./s.tsv s.tsv
	[ "$status" -eq 2 ]
	cmp s.tsv "$F/report.tsv"
}

@test "argmax: on bad input -o leaves no output file" {
	printf 'a.png\t0\t-1\t-2\nb.png\t0\tx\t-2\n' | tsv s.tsv
	run "$A" -o out.csv s.tsv
	[ "$status" -eq 1 ]
	[ ! -e out.csv ]
	[ -z "$(ls | grep -v '^s.tsv$')" ]
	run "$A" -q -o out.csv "$F/report.tsv"
	[ "$status" -eq 0 ]
	cmp out.csv "$F/report.csv"
}

@test "argmax: a full disk on stdout is an error (exit 1)" {
	run bash -c '"$0" -q "$1" > /dev/full' "$A" "$F/report.tsv"
	[ "$status" -eq 1 ]
	[[ "$output" == *"pcnn-argmax: <stdout>: write error: No space left on device"* ]]
}

@test "argmax: a report that cannot be written is an error (exit 1)" {
	# Not --report /dev/full: the atomic writer would rename a temporary file over it.
	run "$A" -q --report nodir/rep.md "$F/report.tsv"
	[ "$status" -eq 1 ]
	[[ "$output" == *"pcnn-argmax: nodir/rep.md: cannot create: No such file or directory"* ]]
}

@test "argmax: a closed pipe on stdout is an error, not silence" {
	awk 'BEGIN { for (i = 1; i <= 20000; i++) printf "img/%06d.png\t-1\t-6000\t-6001\n", i }' | tsv big.tsv
	run bash -c 'set -o pipefail; "$0" -q "$1" | head -c 10 > /dev/null' "$A" big.tsv
	[ "$status" -eq 1 ]
	[[ "$output" == *"write error: Broken pipe"* ]]
}

# ---- calibration and out-of-distribution flagging (tests/fixtures/argmax/README.md: ood.tsv)

@test "argmax: -h explains calibration and rejection" {
	run --separate-stderr "$A" -h
	[ "$status" -eq 0 ]
	for o in --calibrate --calibration --temperature --reject --reject-threshold --reject-quantile; do
		[[ "$output" == *"$o"* ]]
	done
}

@test "argmax: --reject-threshold is applied exactly: above it -1, at it kept" {
	run --separate-stderr "$A" --reject-threshold -300 "$F/ood.tsv"
	[ "$status" -eq 0 ]
	[ "${lines[0]}" = "r01.png,-1" ]   # S = -100 > -300
	[ "${lines[5]}" = "r06.png,-1" ]   # S = -200
	[ "${lines[2]}" = "r03.png,1" ]    # S = -300: at the threshold, kept
	[ "$(grep -c ',-1$' <<<"$output")" -eq 2 ]
	[[ "$stderr" == *"10 images, 7 labelled, accuracy 0.857143 (6/7), 2 rejected as out of distribution"* ]]
	# one step below the row's score flags it too
	run "$A" -q --reject-threshold -300.000001 "$F/ood.tsv"
	[ "${lines[2]}" = "r03.png,-1" ]
	[ "$(grep -c ',-1$' <<<"$output")" -eq 3 ]
}

@test "argmax: --calibrate fits T = 10/ln 8 and the 0.8-quantile threshold of the fixture" {
	run --separate-stderr "$A" --calibrate cal.txt --reject-quantile 0.8 --report rep.md "$F/ood.tsv"
	[ "$status" -eq 0 ]
	[ "${lines[0]}" = "r01.png,0" ]    # calibrating alone flags nothing
	grep -qx 'pcnn-calibration	1' cal.txt
	grep -qx 'classes	A,B' cal.txt
	grep -qx 'reject_quantile	0.8' cal.txt
	grep -qx 'reject_threshold	-300' cal.txt
	awk -F'\t' '$1 == "temperature" { d = $2 - 10 / log(8); exit !(d < 1e-9 && d > -1e-9) }' cal.txt
	grep -q '^## Calibration' rep.md
	grep -q '^- ECE at T = 4.80898' rep.md
	# applied to the same scores: the threshold of the file flags r01 and r06
	"$A" -q --calibration cal.txt --reject "$F/ood.tsv" > applied.csv
	[ "$(grep -c ',-1$' applied.csv)" -eq 2 ]
	grep -qx 'r06.png,-1' applied.csv
	grep -qx 'r03.png,1' applied.csv
}

@test "argmax: the temperature divides the logits of --probs; --calibration gives the same" {
	# margin 10 nats, T = 10/ln 8: p = 8/9
	run "$A" -q --probs --temperature 4.8089834696298785 "$F/ood.tsv"
	[ "$status" -eq 0 ]
	[ "${lines[1]}" = "r01.png,0,0.888888889,0.111111111" ]
	"$A" -q --calibrate cal.txt "$F/ood.tsv" > /dev/null
	"$A" -q --probs --calibration cal.txt "$F/ood.tsv" > cal.csv
	[ "$(printf '%s\n' "${lines[@]}")" = "$(cat cal.csv)" ]
	# --temperature 1 is the plain softmax
	"$A" -q --probs --temperature 1 "$F/ood.tsv" > t1.csv
	"$A" -q --probs "$F/ood.tsv" > plain.csv
	cmp t1.csv plain.csv
}

@test "argmax: ECE in the report by hand (before and after the temperature)" {
	# T = 1: each row's confidence is σ(10) = 0.9999546, all in the last bin, accuracy 8/9:
	# ECE = |8/9 - σ(10)| = 0.1110657. At T = 10/ln 8 the confidence is 8/9: ECE = 0.
	"$A" -q --calibrate cal.txt --report rep.md "$F/ood.tsv" > /dev/null
	grep -qx -- '- ECE at T = 1 (softmax of the log-likelihoods): 0.1111' rep.md
	grep -qx -- '- ECE at T = 4.80898: 0.0000' rep.md
	grep -q '^| (0.867–0.933\] | 0 | | | 9 | 0.889 | 0.889 |$' rep.md
	grep -q '^| (0.933–1.000\] | 9 | 1.000 | 0.889 | 0 | | |$' rep.md
}

@test "argmax: --reject in the report counts the flagged images" {
	"$A" -q --reject-threshold -300 --report rep.md "$F/ood.tsv" > /dev/null
	grep -q '^## Out of distribution' rep.md
	grep -q -- '- rejected: 2 of 10 images (20.00 %)' rep.md
	grep -q -- '- of them labelled: 2' rep.md
	grep -q -- '- accuracy: 0.857143 (6/7)' rep.md
}

@test "argmax: calibration usage errors exit 2" {
	run "$A" --reject "$F/ood.tsv"
	[ "$status" -eq 2 ]
	[[ "$output" == *"--reject needs a threshold"* ]]
	run "$A" --calibrate a.txt --calibration b.txt "$F/ood.tsv"
	[ "$status" -eq 2 ]
	run "$A" --calibrate a.txt --temperature 2 "$F/ood.tsv"
	[ "$status" -eq 2 ]
	run "$A" --reject-quantile 0.9 "$F/ood.tsv"
	[ "$status" -eq 2 ]
	[[ "$output" == *"--reject-quantile"* ]]
	for bad in 0 -1 nan abc; do
		run "$A" --temperature "$bad" "$F/ood.tsv"
		[ "$status" -eq 2 ]
	done
	run "$A" --calibrate x.txt --reject-quantile 1.5 "$F/ood.tsv"
	[ "$status" -eq 2 ]
	run "$A" --reject-threshold inf "$F/ood.tsv"
	[ "$status" -eq 2 ]
	cp "$F/ood.tsv" in.tsv
	run "$A" --calibrate in.tsv in.tsv
	[ "$status" -eq 2 ]
	cmp in.tsv "$F/ood.tsv"
	[ ! -e a.txt ]
	[ ! -e x.txt ]
}

@test "argmax: --reject on scores without the ood columns, --calibrate without labels: exit 1" {
	run "$A" -q --reject-threshold 5 "$F/report.tsv"
	[ "$status" -eq 1 ]
	[[ "$output" == *"--reject needs the columns ood:log_px and ood:png_bits (score with pcnn-score --ood)"* ]]
	printf 'a.png\t-1\t-1\t-2\n' | tsv u.tsv
	run "$A" -q --calibrate cal.txt u.tsv
	[ "$status" -eq 1 ]
	[[ "$output" == *"--calibrate needs labelled rows"* ]]
	[ ! -e cal.txt ]
	# a calibration without a threshold cannot reject
	"$A" -q --calibrate cal.txt "$F/report.tsv" > /dev/null
	[ -z "$(grep reject cal.txt)" ]
	run "$A" -q --calibration cal.txt --reject "$F/ood.tsv"
	[ "$status" -eq 1 ]
}

@test "argmax: a calibration file of other classes or damaged is refused with its line" {
	"$A" -q --calibrate cal.txt "$F/ood.tsv" > /dev/null
	run "$A" -q --calibration cal.txt "$F/report.tsv"
	[ "$status" -eq 1 ]
	[[ "$output" == *"cal.txt: line 3: made for classes 'A,B'"* ]]
	sed 's/^temperature.*/temperature\t-1/' cal.txt > bad.txt
	run "$A" -q --calibration bad.txt "$F/ood.tsv"
	[ "$status" -eq 1 ]
	[[ "$output" == *"bad.txt: line 4: temperature '-1' is not a number > 0"* ]]
	run "$A" -q --calibration nope.txt "$F/ood.tsv"
	[ "$status" -eq 1 ]
	[[ "$output" == *"nope.txt: No such file or directory"* ]]
	run "$A" -q --calibration "$F/ood.tsv" "$F/ood.tsv"
	[ "$status" -eq 1 ]
	[[ "$output" == *"expected 'pcnn-calibration' first"* ]]
}

@test "argmax: --calibrate to a full disk is an error (exit 1)" {
	run "$A" -q --calibrate /dev/full "$F/ood.tsv"
	[ "$status" -eq 1 ]
}

# The closed form of tests/unit/test_prior.c: log-likelihoods 100 nats apart either way;
# where class B leads, 3 of 4 images are B; where A leads, 1 of 2. The fitted prior makes
# the frequencies exact: log p(B) - log p(A) = 100 nats (and T = 200 / ln 3).
prior_fixture() {
	tsv "$1" <<'T'
p1	1	-6000	-5900
p2	1	-6000	-5900
p3	1	-6000	-5900
p4	0	-6000	-5900
m1	1	-6000	-6100
m2	0	-6000	-6100
T
}

@test "argmax: --fit-prior fits log p(B) - log p(A) = 100 nats on the closed-form fixture" {
	prior_fixture train.tsv
	run --separate-stderr "$A" --fit-prior prior.txt train.tsv
	[ "$status" -eq 0 ]
	[[ "$stderr" == *"fitted prior on 6 labelled images"*"B +100.0"* ]]
	[[ "$stderr" == *"accuracy on them 0.6667 with a uniform prior, 0.6667 with this one"* ]]
	[ "$(sed -n 2p prior.txt)" = "scale	log" ]
	awk -F'\t' '$1 == "A" { a = $2 } $1 == "B" { b = $2 }
		END { d = b - a - 100; exit !(d < 1e-6 && d > -1e-6 && a + 0 < 0 && b + 0 <= 0) }' prior.txt
	grep -q '^# .*fitted with T 182.04' prior.txt   # 200 / ln 3 = 182.047...
}

@test "argmax: a fitted prior moves decisions by its offset, read back with --prior" {
	prior_fixture train.tsv
	"$A" -q --fit-prior prior.txt train.tsv > /dev/null
	# A leads B by 99 nats: uniform says A, the prior (B +100) says B; by 101: A either way
	tsv test.tsv <<'T'
a99	-1	-6000	-6099
a101	-1	-6000	-6101
T
	run --separate-stderr "$A" -q test.tsv
	[ "$output" = "$(printf 'a99,0\na101,0')" ]
	run --separate-stderr "$A" -q --prior prior.txt test.tsv
	[ "$output" = "$(printf 'a99,1\na101,0')" ]
	# a log-scale file by hand: only differences count
	printf 'scale\tlog\nA\t1000\nB\t1100\n' > hand.txt
	run --separate-stderr "$A" -q --prior hand.txt test.tsv
	[ "$output" = "$(printf 'a99,1\na101,0')" ]
	printf 'scale\tlog\nA\t0\nB\tnan\n' > bad.txt
	run "$A" -q --prior bad.txt test.tsv
	[ "$status" -eq 1 ]
	[[ "$output" == *"bad.txt: line 3"*"not a log-probability"* ]]
}

@test "argmax: --fit-prior refusals: with --prior, onto the input, without labels" {
	prior_fixture train.tsv
	run "$A" --fit-prior p.txt --prior uniform train.tsv
	[ "$status" -eq 2 ]
	[[ "$output" == *"--fit-prior fits the prior, --prior gives one: not both"* ]]
	cp train.tsv keep.tsv
	run "$A" --fit-prior train.tsv train.tsv
	[ "$status" -eq 2 ]
	cmp train.tsv keep.tsv
	tsv unl.tsv <<'T'
u1	-1	-1	-2
T
	run "$A" --fit-prior p.txt unl.tsv
	[ "$status" -eq 1 ]
	[[ "$output" == *"--fit-prior needs labelled rows"* ]]
	[ ! -e p.txt ]
}
