#!/usr/bin/env bats
# The data file reader (libcommon/io/datafile.c) seen through the tools: pcnn-mkdata
# writes, pcnn-info reads every byte. Each kind of damage is refused with exit 1
# and a message that names the file.
#
# Layout of "pcnn-mkdata -n 3" (4x4x3 pixels, classes Class0/Class1, ids img/000000N.png):
#   header   0..55    36 fixed bytes, 2 x (u16 len + "ClassN"), u32 CRC at 52
#   record 1 56..128  u16 id_len at 56, id 58..72, label 73..76, pixels 77..124, CRC 125..128
#   record 2 129..201, record 3 202..274
#   end      275..288 u16 0xFFFF, u64 count 277..284, u32 CRC 285..288

bats_require_minimum_version 1.5.0

setup() {
	I="$PCNN_BIN/pcnn-info"
	MK="$PCNN_TEST_BIN/pcnn-mkdata"
	cd "$BATS_TEST_TMPDIR"
	"$MK" -n 3 -s 42 -o good.bin
}

flip() {   # flip FILE OFFSET: invert every bit of one byte in place
	perl -e 'open my $f, "+<", $ARGV[0] or die; seek $f, $ARGV[1], 0; read $f, my $c, 1;
	         seek $f, $ARGV[1], 0; print $f chr(ord($c) ^ 255); close $f or die' "$1" "$2"
}

damaged() {   # damaged OFFSET: a copy of good.bin with that byte flipped, checked by pcnn-info
	cp good.bin bad.bin
	flip bad.bin "$1"
	cmp -s good.bin bad.bin && return 1
	run --separate-stderr "$I" bad.bin
}

cut_at() {    # cut_at N: the first N bytes of good.bin, checked by pcnn-info
	head -c "$1" good.bin > cut.bin
	run --separate-stderr "$I" cut.bin
}

@test "datafile: the layout above holds" {
	[ "$(stat -c %s good.bin)" -eq 289 ]
	[ "$(head -c 8 good.bin)" = "PCNNDATA" ]
	[ "$(dd if=good.bin bs=1 skip=58 count=15 status=none)" = "img/0000001.png" ]
	[ "$(dd if=good.bin bs=1 skip=204 count=15 status=none)" = "img/0000003.png" ]
	[ "$(od -An -tx1 -j 275 -N2 good.bin | tr -d ' ')" = "ffff" ]
	run "$I" good.bin
	[ "$status" -eq 0 ]
	[[ "$output" == *"records: 3"* ]]
}

@test "datafile: pcnn-mkdata -h, usage error, determinism" {
	run --separate-stderr "$MK" -h
	[ "$status" -eq 0 ]
	[[ "$output" == *"test utility"* ]]
	run "$MK" -n -5
	[ "$status" -eq 2 ]
	[[ "$output" == *"pcnn-mkdata: -n: bad count '-5'"* ]]
	"$MK" -n 3 -s 42 -o again.bin
	cmp good.bin again.bin
	"$MK" -n 3 -s 43 -o other.bin
	run cmp -s good.bin other.bin
	[ "$status" -eq 1 ]   # another seed, other bytes (2: a file is missing)
}

@test "datafile: a stream has the same records as a file, with count 'until the end'" {
	"$MK" -n 3 -s 42 | cat > stream.bin
	[ "$(stat -c %s stream.bin)" -eq 289 ]
	# only the header count (28..35) and the header CRC (52..55) differ
	[ "$(cmp -l good.bin stream.bin | awk '$1 < 29 || ($1 > 36 && $1 < 53) || $1 > 56' | wc -l)" -eq 0 ]
	[ "$(od -An -tx1 -j 28 -N8 stream.bin | tr -d ' ')" = "ffffffffffffffff" ]
	run "$I" stream.bin
	[ "$status" -eq 0 ]
	[[ "$output" == *"header count: streamed"* ]]
}

@test "datafile: pcnn-mkdata to a full disk exits 1" {
	run bash -c '"$0" -n 3 > /dev/full' "$MK"
	[ "$status" -eq 1 ]
	[[ "$output" == *"pcnn-mkdata: <stdout>: write error: No space left on device"* ]]
}

@test "datafile: bad magic" {
	damaged 0
	[ "$status" -eq 1 ]
	[[ "$stderr" == "pcnn-info: bad.bin: not a pcnn file (unknown magic"* ]]
}

@test "datafile: unsupported version" {
	cp good.bin bad.bin
	printf '\002' | dd of=bad.bin bs=1 seek=8 conv=notrunc status=none
	run "$I" bad.bin
	[ "$status" -eq 1 ]
	[ "$output" = "pcnn-info: bad.bin: data file version 2 is not supported (this pcnn reads version 1)" ]
}

@test "datafile: truncated in the fixed header" {
	cut_at 20
	[ "$status" -eq 1 ]
	[[ "$stderr" == "pcnn-info: cut.bin: truncated in header"* ]]
}

@test "datafile: truncated in the class names" {
	cut_at 45
	[ "$status" -eq 1 ]
	[[ "$stderr" == "pcnn-info: cut.bin: truncated in header class names"* ]]
}

@test "datafile: truncated right after the header" {
	cut_at 56
	[ "$status" -eq 1 ]
	[ "$stderr" = "pcnn-info: cut.bin: truncated: no end marker after record 0" ]
}

@test "datafile: truncated inside a record" {
	cut_at 100
	[ "$status" -eq 1 ]
	[ "$stderr" = "pcnn-info: cut.bin: truncated in record pixels (file ends after record 0)" ]
	[ -z "$output" ]
}

@test "datafile: truncated before the end marker" {
	cut_at 275
	[ "$status" -eq 1 ]
	[ "$stderr" = "pcnn-info: cut.bin: truncated: no end marker after record 3" ]
}

@test "datafile: truncated inside the end marker" {
	cut_at 280
	[ "$status" -eq 1 ]
	[[ "$stderr" == "pcnn-info: cut.bin: truncated in end marker"* ]]
}

@test "datafile: truncated stream on stdin names <stdin>" {
	head -c 150 good.bin > cut.bin
	run bash -c 'cat "$1" | "$0"' "$I" cut.bin
	[ "$status" -eq 1 ]
	[[ "$output" == "pcnn-info: <stdin>: truncated"* ]]
}

@test "datafile: flipped byte in a class name (header checksum)" {
	damaged 40
	[ "$status" -eq 1 ]
	[ "$stderr" = "pcnn-info: bad.bin: header checksum mismatch (file damaged)" ]
	[ -z "$output" ]
}

@test "datafile: flipped byte in the header sizes and count" {
	damaged 12   # H = 4 -> 251: a valid size, caught by the checksum
	[ "$status" -eq 1 ]
	[ "$stderr" = "pcnn-info: bad.bin: header checksum mismatch (file damaged)" ]
	damaged 15   # H -> 0xFF000004: out of range
	[ "$status" -eq 1 ]
	[ "$stderr" = "pcnn-info: bad.bin: bad image size 4278190084x4 in header (1..4096)" ]
	damaged 20   # C = 3 -> 252
	[ "$stderr" = "pcnn-info: bad.bin: bad channel count 252 in header" ]
	damaged 28   # count 3 -> 252: caught by the checksum
	[ "$stderr" = "pcnn-info: bad.bin: header checksum mismatch (file damaged)" ]
}

@test "datafile: flipped byte in a record's pixels" {
	damaged 100
	[ "$status" -eq 1 ]
	[ "$stderr" = "pcnn-info: bad.bin: record 1: checksum mismatch (file damaged)" ]
	damaged 250
	[ "$status" -eq 1 ]
	[ "$stderr" = "pcnn-info: bad.bin: record 3: checksum mismatch (file damaged)" ]
}

@test "datafile: flipped byte in a record's id, label and checksum" {
	for off in 60 73 128; do
		damaged $off
		[ "$status" -eq 1 ]
		[[ "$stderr" == "pcnn-info: bad.bin: record "*": checksum mismatch (file damaged)" ]]
	done
}

@test "datafile: flipped byte in a record's id length" {
	damaged 56   # 15 -> 240: reads past the record, then the checksum fails
	[ "$status" -eq 1 ]
	[[ "$stderr" == "pcnn-info: bad.bin: "* ]]
	damaged 57   # 15 -> 0xFF0F: longer than any id
	[ "$status" -eq 1 ]
	[ "$stderr" = "pcnn-info: bad.bin: record 1: bad id length 65295 (file damaged)" ]
}

@test "datafile: flipped byte in the end marker" {
	damaged 277
	[ "$status" -eq 1 ]
	[ "$stderr" = "pcnn-info: bad.bin: end marker checksum mismatch (file damaged)" ]
	damaged 288
	[ "$status" -eq 1 ]
	[ "$stderr" = "pcnn-info: bad.bin: end marker checksum mismatch (file damaged)" ]
	damaged 275
	[ "$status" -eq 1 ]
	[ "$stderr" = "pcnn-info: bad.bin: more records than the header's 3 (file damaged)" ]
}

@test "datafile: bytes after the end marker" {
	{ cat good.bin; printf 'x'; } > bad.bin
	run "$I" bad.bin
	[ "$status" -eq 1 ]
	[ "$output" = "pcnn-info: bad.bin: bytes after the end marker (file damaged, or two files joined)" ]
}

@test "datafile: every single-byte flip is caught" {
	# Exhaustive over the whole 289-byte file: 289 damaged copies (made in one perl run),
	# one pcnn-info run; no copy may pass as a good file (nothing on stdout).
	perl -e 'local $/; open my $f, "<", "good.bin" or die; my $d = <$f>;
	         for my $i (0 .. length($d) - 1) {
	             my $c = $d; substr($c, $i, 1) = chr(ord(substr($d, $i, 1)) ^ 255);
	             open my $o, ">", sprintf("flip%03d.bin", $i) or die; print $o $c; close $o }'
	[ "$(ls flip*.bin | wc -l)" -eq 289 ]
	run --separate-stderr "$I" flip*.bin
	[ "$status" -eq 1 ]
	[ -z "$output" ]
	[ "$(printf '%s\n' "$stderr" | grep -c '^pcnn-info: flip[0-9]*\.bin: ')" -eq 289 ]
}
