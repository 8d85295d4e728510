#!/usr/bin/env bats
# pcnn-info: summaries of data files, model files and score TSVs.

bats_require_minimum_version 1.5.0

setup() {
	I="$PCNN_BIN/pcnn-info"
	MK="$PCNN_TEST_BIN/pcnn-mkdata"
	F="$PCNN_ROOT/tests/fixtures/argmax"
	cd "$BATS_TEST_TMPDIR"
}

@test "info: -h prints usage on stdout, exit 0" {
	run --separate-stderr "$I" -h
	[ "$status" -eq 0 ]
	[[ "$output" == *"usage: pcnn-info"* ]]
	[ -z "$stderr" ]
}

@test "info: unknown option is a usage error (exit 2)" {
	run "$I" -z x.bin
	[ "$status" -eq 2 ]
	[[ "$output" == *"pcnn-info: unknown option '-z'"* ]]
	[[ "$output" == *"Try 'pcnn-info -h'"* ]]
}

@test "info: stdin twice is a usage error" {
	run "$I" - -
	[ "$status" -eq 2 ]
	[[ "$output" == *"'-' (stdin) given more than once"* ]]
}

@test "info: missing file exits 1 naming it, and the other files are still shown" {
	"$MK" -n 3 -o a.bin
	run --separate-stderr "$I" nope.bin a.bin
	[ "$status" -eq 1 ]
	[ "$stderr" = "pcnn-info: nope.bin: No such file or directory" ]
	[ "${lines[0]}" = "file: a.bin" ]
}

@test "info: data file summary" {
	"$MK" -H 5 -W 3 -C 1 -c cat,dog,fish -n 40 -s 7 -o d.bin
	run --separate-stderr "$I" d.bin
	[ "$status" -eq 0 ]
	[ -z "$stderr" ]
	[ "${lines[0]}" = "file: d.bin" ]
	[ "${lines[1]}" = "kind: pcnn data file, version 1" ]
	[ "${lines[2]}" = "images: 5x3x1" ]
	[ "${lines[3]}" = "classes: 3 (cat, dog, fish)" ]
	[ "${lines[4]}" = "records: 40" ]
	[ "${lines[5]}" = "header count: 40" ]
	[[ "${lines[6]}" == "label 0 cat: "* ]]
	[[ "${lines[8]}" == "label 2 fish: "* ]]
	[ "${lines[9]}" = "unlabelled: 0" ]
	[ "${lines[10]}" = "checksums: ok" ]
	# the histogram adds up to the record count
	total=$(printf '%s\n' "${lines[@]}" | awk -F': ' '/^label /{ s += $2 } END { print s }')
	[ "$total" -eq 40 ]
}

@test "info: unlabelled records are counted" {
	"$MK" -U -n 6 -o t.bin
	run "$I" t.bin
	[ "$status" -eq 0 ]
	[[ "$output" == *$'label 0 Class0: 0\nlabel 1 Class1: 0\nunlabelled: 6'* ]]
}

@test "info: reads a data stream from a pipe" {
	run bash -c '"$0" -n 4 -s 3 | "$1"' "$MK" "$I"
	[ "$status" -eq 0 ]
	[ "${lines[0]}" = "file: <stdin>" ]
	[ "${lines[4]}" = "records: 4" ]
	[ "${lines[5]}" = "header count: streamed (count in the end marker)" ]
	run bash -c '"$0" -n 4 -s 3 | "$1" -' "$MK" "$I"
	[ "$status" -eq 0 ]
	[ "${lines[4]}" = "records: 4" ]
}

@test "info: output goes through a pipe and is deterministic" {
	"$MK" -n 9 -s 5 -o a.bin
	"$I" a.bin "$F/report.tsv" | cat > one.txt
	"$I" a.bin "$F/report.tsv" > two.txt
	cmp one.txt two.txt
	[ -s one.txt ]
}

@test "info: several files are separated by a blank line" {
	"$MK" -n 2 -o a.bin
	"$MK" -n 3 -K 4 -o b.bin
	run "$I" a.bin b.bin
	[ "$status" -eq 0 ]
	[ "$(printf '%s\n' "$output" | grep -c '^file: ')" -eq 2 ]
	[[ "$output" == *$'checksums: ok\n\nfile: b.bin'* ]]
}

@test "info: model file summary" {
	"$MK" -m -H 8 -W 8 -K 3 -s 11 -o m.bin
	run --separate-stderr "$I" m.bin
	[ "$status" -eq 0 ]
	[ "${lines[0]}" = "file: m.bin" ]
	[[ "$output" == *"kind: pcnn model file, version 1"* ]]
	[[ "$output" == *"images: 8x8x3"* ]]
	[[ "$output" == *"classes: 3 (Class0, Class1, Class2)"* ]]
}

@test "info: a damaged model file exits 1 naming it" {
	"$MK" -m -o m.bin
	size=$(stat -c %s m.bin)
	head -c $((size - 7)) m.bin > cut.bin
	run "$I" cut.bin
	[ "$status" -eq 1 ]
	[[ "$output" == "pcnn-info: cut.bin: "* ]]
}

@test "info: a model file on stdin is refused with a hint" {
	"$MK" -m -o m.bin
	run "$I" - < m.bin
	[ "$status" -eq 1 ]
	[[ "$output" == *"<stdin>: a model file; give its file name instead"* ]]
}

@test "info: score TSV summary, and its errors carry the line" {
	run "$I" "$F/report.tsv"
	[ "$status" -eq 0 ]
	[[ "$output" == *"kind: score TSV (log p(x | c) in nats)"* ]]
	[[ "$output" == *"classes: 4 (Class0, Class1, Class2, Class3)"* ]]
	[[ "$output" == *$'rows: 10\nlabel 0 Class0: 3\nlabel 1 Class1: 2\nlabel 2 Class2: 3\nlabel 3 Class3: 0\nunlabelled: 2'* ]]
	{ cat "$F/report.tsv"; printf 'x\t0\t1\n'; } > bad.tsv
	run "$I" bad.tsv
	[ "$status" -eq 1 ]
	[[ "$output" == *"pcnn-info: bad.tsv: line 12: expected 6 tab-separated columns"* ]]
}

@test "info: an unknown kind of file is refused" {
	printf 'hello world\n' > x.txt
	run "$I" x.txt
	[ "$status" -eq 1 ]
	[[ "$output" == *"pcnn-info: x.txt: not a pcnn file (unknown magic"* ]]
	: > empty
	run "$I" empty
	[ "$status" -eq 1 ]
	[[ "$output" == *"pcnn-info: empty: empty file"* ]]
}

@test "info: -q only verifies" {
	"$MK" -n 3 -o a.bin
	run --separate-stderr "$I" -q a.bin
	[ "$status" -eq 0 ]
	[ -z "$output" ]
	[ -z "$stderr" ]
	head -c 100 a.bin > cut.bin
	run --separate-stderr "$I" -q cut.bin
	[ "$status" -eq 1 ]
	[ -z "$output" ]
	[[ "$stderr" == "pcnn-info: cut.bin: truncated"* ]]
}

@test "info: a full disk on stdout is an error (exit 1)" {
	"$MK" -n 3 -o a.bin
	run bash -c '"$0" "$1" > /dev/full' "$I" a.bin
	[ "$status" -eq 1 ]
	[[ "$output" == *"pcnn-info: <stdout>: write error: No space left on device"* ]]
}
