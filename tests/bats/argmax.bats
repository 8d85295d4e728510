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
