#!/usr/bin/env bats
# Fault injection (issue 7): writes that fail (full device, a file size limit, a folder
# the tool may not write, a closed pipe), pcnn-fit killed with SIGKILL, hostile headers
# and files, ids that the text formats cannot carry. Every failure is a clear message,
# exit 1, and the previous output file left as it was.
#
# Hostile files are crafted by the test helper pcnn-craft (tests/tools/pcnn-craft.c).
# Tiny configs throughout (8x8 images, -R 1 -F 4 -M 2): the whole file runs in well
# under a minute on 2 cores.

bats_require_minimum_version 1.5.0

setup_file() {
	# one tiny real model (8x8, one epoch on 8 images) and one PNG it drew, for all tests
	cd "$BATS_FILE_TMPDIR"
	"$PCNN_TEST_BIN/pcnn-mkdata" -H 8 -W 8 -K 2 -n 8 -s 5 -o tm-train.bin
	"$PCNN_BIN/pcnn-fit" -q -R 1 -F 4 -M 2 -b 4 --device cpu -e 1 -o tm.bin tm-train.bin
	"$PCNN_BIN/pcnn-gen" -q --device cpu -c 0 -n 1 --no-quality -o gen tm.bin
	cp gen/*.png tm.png
}

setup() {
	B="$PCNN_BIN"
	T="$PCNN_TEST_BIN"   # test helpers (pcnn-mkdata)
	cd "$BATS_TEST_TMPDIR"
	TINY=(-R 1 -F 4 -M 2 -b 4 --device cpu)
	cp "$BATS_FILE_TMPDIR/tm-train.bin" "$BATS_FILE_TMPDIR/tm.png" .
}

# limit_v KB CMD...: CMD under an address-space limit of KB KiB (ulimit -v), so an
# allocation the size of a header's claim fails. An ASan build (make test SANITIZE=1)
# reserves terabytes of shadow memory and cannot start under such a limit: there CMD
# runs without it (ASan's allocator still refuses absurd sizes, as an error).
limit_v() {
	if [ "${SANITIZE:-}" = 1 ] || grep -qa __asan_init "$2"; then
		"${@:2}"
	else
		bash -c 'ulimit -v "$0"; exec "$@"' "$@"
	fi
}

tiny_model() {   # tiny_model OUT: a real 8x8 model, one epoch on tm-train.bin
	cp "$BATS_FILE_TMPDIR/tm.bin" "$1"
}

# patch_data FILE H W C COUNT: rewrite the fixed header of a data file and fix its CRC.
patch_data() {
	"$PCNN_TEST_BIN/pcnn-craft" data-header "$@"
}

# poison_model FILE VALUE: set element 0 of the first tensor to VALUE (nan, inf, -inf)
# and fix the file's CRC, so only the finiteness check can refuse it.
poison_model() {
	"$PCNN_TEST_BIN/pcnn-craft" poison "$@"
}

# ---------------------------------------------------------------- failing writes

@test "faults: output to /dev/full is an error (exit 1) for every writing tool" {
	tiny_model m.bin
	"$T/pcnn-mkdata" -H 8 -W 8 -K 2 -n 2 -s 6 -o d.bin
	"$B/pcnn-score" -q --device cpu -o s.tsv m.bin d.bin
	full() {   # full WHAT: the last run failed with exit 1 on the full device
		[ "$status" -eq 1 ] || { echo "$1: exit $status: $output"; return 1; }
		[[ "$output" == *"No space left on device"* ]] || { echo "$1: $output"; return 1; }
	}
	run "$T/pcnn-mkdata" -n 2 -o /dev/full;                         full mkdata
	run "$B/pcnn-score" -q --device cpu -o /dev/full m.bin d.bin;   full score
	run "$B/pcnn-argmax" -q -o /dev/full s.tsv;                     full argmax
	run bash -c '"$0" d.bin > /dev/full' "$B/pcnn-info";            full info
	run "$B/pcnn-gen" -q --device cpu -n 1 --no-quality -o gen --grid /dev/full m.bin
	full gen
	run bash -c '"$0" -q -H 8 -W 8 "$1" > /dev/full' "$B/pcnn-prep" "$PCNN_ROOT/tests/fixtures/prep/good.csv"
	full prep
}

@test "faults: a file size limit mid-write keeps the previous model, data and scores intact" {
	tiny_model m.bin
	cp m.bin m.orig
	"$T/pcnn-mkdata" -H 8 -W 8 -K 2 -n 2 -s 6 -o d.bin
	cp d.bin d.orig
	"$B/pcnn-score" -q --device cpu -o s.tsv m.bin d.bin
	cp s.tsv s.orig
	# SIGXFSZ ignored (inherited through exec): a write past 8 KiB fails with EFBIG
	lim() { bash -c 'trap "" XFSZ; ulimit -f 8; exec "$@"' lim "$@"; }
	run lim "$B/pcnn-fit" -q "${TINY[@]}" -e 2 -r m.bin tm-train.bin
	[ "$status" -eq 1 ]
	[[ "$output" == *"m.bin"*"File too large"* ]]
	cmp m.bin m.orig
	run lim "$T/pcnn-mkdata" -H 32 -W 32 -n 20 -o d.bin
	[ "$status" -eq 1 ]
	[[ "$output" == *"d.bin"*"File too large"* ]]
	cmp d.bin d.orig
	"$T/pcnn-mkdata" -H 8 -W 8 -K 2 -n 200 -s 7 -o many.bin
	run lim "$B/pcnn-score" -q --device cpu -o s.tsv m.bin many.bin
	[ "$status" -eq 1 ]
	[[ "$output" == *"s.tsv"*"File too large"* ]]
	cmp s.tsv s.orig
	# nothing half-written is left under a plausible name
	[ -z "$(ls | grep -F .tmp.)" ]
}

@test "faults: a folder the tool may not write: exit 1, previous files untouched" {
	command -v setpriv > /dev/null || skip "setpriv (util-linux) is needed to drop root's override"
	tiny_model m.bin
	mkdir ro
	cp m.bin ro/m.bin
	"$T/pcnn-mkdata" -H 8 -W 8 -K 2 -n 2 -s 6 -o ro/d.bin
	cp ro/m.bin m.orig
	cp ro/d.bin d.orig
	chmod 555 ro
	# Tests may run as root, whom chmod does not stop: drop the capabilities that
	# override file permissions for the tool (a no-op for an ordinary user).
	asuser() { setpriv --bounding-set=-dac_override,-dac_read_search,-fowner "$@"; }
	run asuser "$B/pcnn-fit" -q "${TINY[@]}" -e 2 -r ro/m.bin tm-train.bin
	[ "$status" -eq 1 ]
	[[ "$output" == *"ro/m.bin"*"Permission denied"* ]]
	run asuser "$T/pcnn-mkdata" -n 3 -o ro/d.bin
	[ "$status" -eq 1 ]
	[[ "$output" == *"ro/d.bin"*"Permission denied"* ]]
	run asuser "$B/pcnn-score" -q --device cpu -o ro/s.tsv m.bin ro/d.bin
	[ "$status" -eq 1 ]
	[[ "$output" == *"ro/s.tsv"*"Permission denied"* ]]
	chmod 755 ro
	cmp ro/m.bin m.orig
	cmp ro/d.bin d.orig
	[ "$(ls ro)" = "$(printf 'd.bin\nm.bin')" ]
	# a folder that does not exist: the same, with its reason
	run "$T/pcnn-mkdata" -n 3 -o no/such/dir/d.bin
	[ "$status" -eq 1 ]
	[[ "$output" == *"no/such/dir/d.bin"*"No such file or directory"* ]]
}

@test "faults: a closed pipe on stdout is an error (exit 1), not silence" {
	tiny_model m.bin
	"$T/pcnn-mkdata" -H 8 -W 8 -K 2 -n 40 -s 6 -o d.bin
	# The reader is gone before the tool starts: its first write meets EPIPE.
	closed() { { sleep 0.3; "$@"; } | true; return "${PIPESTATUS[0]}"; }
	run closed "$T/pcnn-mkdata" -n 5
	[ "$status" -eq 1 ]
	[[ "$output" == *"pcnn-mkdata: <stdout>: write error: Broken pipe"* ]]
	run closed "$B/pcnn-score" -q --device cpu m.bin d.bin
	[ "$status" -eq 1 ]
	[[ "$output" == *"Broken pipe"* ]]
	run closed "$B/pcnn-info" d.bin
	[ "$status" -eq 1 ]
	[[ "$output" == *"Broken pipe"* ]]
	run closed "$B/pcnn-prep" -q -H 8 -W 8 "$PCNN_ROOT/tests/fixtures/prep/good.csv"
	[ "$status" -eq 1 ]
	[[ "$output" == *"Broken pipe"* ]]
}

# ---------------------------------------------------------------- SIGKILL during training

@test "faults: pcnn-fit killed with SIGKILL: the model is always complete and -r continues" {
	# long enough (192 steps, a checkpoint each) that the kills land mid-run on a fast machine
	"$T/pcnn-mkdata" -H 8 -W 8 -K 2 -n 64 -s 3 -o train.bin
	"$B/pcnn-fit" -q "${TINY[@]}" -e 12 -o full.bin train.bin
	last=0 kills=0
	for i in 1 2 3 4 5; do
		before=$(stat -c %Y.%s m.bin 2>/dev/null || echo none)
		if [ -e m.bin ]; then
			"$B/pcnn-fit" -q -e 12 --checkpoint-every 1 --device cpu -r m.bin train.bin 2>/dev/null &
		else
			"$B/pcnn-fit" -q "${TINY[@]}" -e 12 --checkpoint-every 1 -o m.bin train.bin 2>/dev/null &
		fi
		pid=$!
		# let it write a checkpoint or two, then kill it at a random moment
		for _ in $(seq 200); do
			[ "$(stat -c %Y.%s m.bin 2>/dev/null || echo none)" != "$before" ] && break
			kill -0 $pid 2>/dev/null || break
			sleep 0.05
		done
		sleep "0.$((RANDOM % 4))$((RANDOM % 10))"
		kill -KILL $pid 2>/dev/null && kills=$((kills + 1))
		wait $pid || true
		[ -e m.bin ] || continue
		# always a whole checkpoint, never a torn one, and never older than the last
		"$B/pcnn-info" -q m.bin
		step=$("$B/pcnn-info" m.bin | sed -n 's/^training: .* epochs, \([0-9]*\) steps.*/\1/p')
		[ "$step" -ge "$last" ]
		last=$step
	done
	echo "# $kills kills, last checkpoint at step $last" >&3
	[ $kills -ge 1 ]
	# resuming to the end gives exactly the uninterrupted result
	if [ -e m.bin ]; then
		"$B/pcnn-fit" -q -e 12 --device cpu -r m.bin train.bin
	else
		"$B/pcnn-fit" -q "${TINY[@]}" -e 12 -o m.bin train.bin
	fi
	cmp m.bin full.bin
	# a kill during a checkpoint's write left m.bin.tmp.PID: the next run removed it
	[ -z "$(ls | grep -F m.bin.tmp.)" ]
}

# ---------------------------------------------------------------- hostile inputs

@test "faults: a data header claiming 10^12 records allocates only what the file holds" {
	"$T/pcnn-mkdata" -H 8 -W 8 -K 2 -n 8 -s 3 -o d.bin
	patch_data d.bin 8 8 3 1000000000000
	run --separate-stderr limit_v 300000 "$B/pcnn-info" d.bin
	[ "$status" -eq 1 ]
	[[ "$stderr" == *"d.bin: record count mismatch (header 1000000000000, end marker 8, read 8)"* ]]
	# pcnn-fit loads the whole file: it fails on the count, not on memory (4 GiB: room
	# for a CUDA build's libraries; the claim is 10^12 x 192 bytes)
	run limit_v 4000000 "$B/pcnn-fit" -q -R 1 -F 4 -M 2 -b 4 --device cpu -e 1 -o m.bin d.bin
	[ "$status" -eq 1 ]
	[[ "$output" == *"record count mismatch"* ]]
	[[ "$output" != *"out of memory"* ]]
	[ ! -e m.bin ]
}

@test "faults: a data header claiming 65535x65535 images is refused before any allocation" {
	"$T/pcnn-mkdata" -H 8 -W 8 -K 2 -n 1 -o d.bin
	patch_data d.bin 65535 65535 3 1
	run --separate-stderr limit_v 300000 "$B/pcnn-info" d.bin
	[ "$status" -eq 1 ]
	[[ "$stderr" == *"d.bin: bad image size 65535x65535 in header (1..4096)"* ]]
	# the largest size the format allows (4096x4096x4) with one tiny record: truncated
	patch_data d.bin 4096 4096 4 1
	run --separate-stderr limit_v 300000 "$B/pcnn-info" d.bin
	[ "$status" -eq 1 ]
	[[ "$stderr" == *"d.bin: truncated in record pixels"* ]]
}

@test "faults: NaN and Inf in a model file are refused (with the CRC made right)" {
	"$T/pcnn-mkdata" -m -o m.bin
	"$B/pcnn-info" -q m.bin
	for v in nan inf -inf; do
		cp m.bin bad.bin
		poison_model bad.bin "$v"
		run --separate-stderr "$B/pcnn-info" bad.bin
		[ "$status" -eq 1 ]
		[[ "$stderr" == *"bad.bin: tensor "*" holds NaN or Inf at element 0 (refusing a broken model)"* ]]
	done
	# and through a tool that would use the weights
	tiny_model real.bin
	poison_model real.bin nan
	"$T/pcnn-mkdata" -H 8 -W 8 -K 2 -n 2 -o d.bin
	run "$B/pcnn-score" -q --device cpu real.bin d.bin
	[ "$status" -eq 1 ]
	[[ "$output" == *"real.bin: tensor "*"holds NaN or Inf"* ]]
	run "$B/pcnn-fit" -q -e 2 --device cpu -r real.bin d.bin
	[ "$status" -eq 1 ]
	[[ "$output" == *"holds NaN or Inf"* ]]
}

@test "faults: a PNG claiming 100000x100000 pixels (a decompression bomb) is refused by the size limit" {
	# 100000 x 100000 RGB, IDAT: rows of zeros, compressed ~1000:1 (the first 4 MB of them)
	"$T/pcnn-craft" png-bomb bomb.png
	printf 'bomb.png,0\n' > m.csv
	run --separate-stderr limit_v 1000000 "$B/pcnn-prep" -q -H 8 -W 8 -o d.bin m.csv
	[ "$status" -eq 1 ]
	[[ "$stderr" == *"m.csv:1: bomb.png: PNG of 100000x100000 pixels refused (limits: sides 1..16384, 100000000 pixels)"* ]]
	[ ! -e d.bin ]
	run --separate-stderr "$B/pcnn-prep" --skip-bad -H 8 -W 8 -o d.bin m.csv
	[[ "$stderr" == *"bomb.png: PNG of 100000x100000 pixels refused"* ]]
}

# ---------------------------------------------------------------- ids the text formats cannot carry

@test "faults: manifest paths with a tab or CR are refused with their line; a comma travels quoted" {
	mkdir img
	tiny_model m.bin
	cp tm.png 'img/a,b.png'
	cp tm.png 'img/q"uote.png'
	cp tm.png 'img/plain.png'
	printf 'img/plain.png,0\nimg/a\tb.png,1\n' > tab.csv
	run "$B/pcnn-prep" -q -H 8 -W 8 -o d.bin tab.csv
	[ "$status" -eq 1 ]
	[[ "$output" == *"tab.csv:2: malformed row: tab in path"* ]]
	printf 'img/plain.png,0\nimg/a\rb.png,1\n' > cr.csv
	run "$B/pcnn-prep" -q -H 8 -W 8 -o d.bin cr.csv
	[ "$status" -eq 1 ]
	[[ "$output" == *"cr.csv:2: malformed row: carriage return inside the path"* ]]
	[ ! -e d.bin ]
	# comma and double quote: through the data file and the TSV, quoted in the CSV
	printf 'img/a,b.png,0\nimg/q"uote.png,1\nimg/plain.png,-1\n' > ok.csv
	"$B/pcnn-prep" -q -K 2 -H 8 -W 8 -o d.bin ok.csv
	"$B/pcnn-score" -q --device cpu -o s.tsv m.bin d.bin
	[ "$(cut -f1 s.tsv)" = "$(printf 'id\nimg/a,b.png\nimg/q"uote.png\nimg/plain.png')" ]
	"$B/pcnn-argmax" -q s.tsv > pred.csv
	[ "$(cut -d, -f1 pred.csv | head -1)" = '"img/a' ]
	[ "$(sed -n 1p pred.csv)" = '"img/a,b.png",'"$(sed -n 1p pred.csv | sed 's/.*,//')" ]
	[[ "$(sed -n 2p pred.csv)" == '"img/q""uote.png",'[01] ]]
	[[ "$(sed -n 3p pred.csv)" == 'img/plain.png,'[01] ]]
	[ "$(wc -l < pred.csv)" -eq 3 ]
}

@test "faults: file names with a tab or newline in an image folder are refused, or skipped" {
	mkdir -p src/cat src/dog
	cp tm.png src/cat/ok.png
	cp tm.png src/dog/ok.png
	cp tm.png "src/cat/$(printf 'a\tb.png')"
	run "$B/pcnn-prep" -q -H 8 -W 8 -o d.bin src
	[ "$status" -eq 1 ]
	[[ "$output" == *"bad image id 'cat/a"*"no tab or newline"* ]]
	[ ! -e d.bin ]
	rm "src/cat/$(printf 'a\tb.png')"
	cp tm.png "src/dog/$(printf 'new\nline.png')"
	run "$B/pcnn-prep" -q -H 8 -W 8 -o d.bin src
	[ "$status" -eq 1 ]
	[[ "$output" == *"no tab or newline"* ]]
	[ ! -e d.bin ]
	# ids stay one field of the TSV whatever the tools are given
	run "$T/pcnn-mkdata" -n 1 -p "$(printf 'x\ty')" -o d.bin
	[ "$status" -eq 1 ]
	[[ "$output" == *"ids made from 'x"*"are not valid (too long, or hold a tab or newline)"* ]]
	[ ! -e d.bin ]
}

@test "faults: class names with a comma, tab or newline are refused" {
	run "$T/pcnn-mkdata" -n 1 -c "$(printf 'a\tb'),c"
	[ "$status" -ne 0 ]
	[[ "$output" == *"bad class name"* ]]
	run "$T/pcnn-mkdata" -n 1 -c "$(printf 'a\nb'),c"
	[ "$status" -ne 0 ]
	[[ "$output" == *"bad class name"* ]]
	printf 'x.png,0\n' > m.csv
	run "$B/pcnn-prep" -q --classes "$(printf 'a\tb'),c" m.csv
	[ "$status" -ne 0 ]
	[[ "$output" == *"class"* ]]
}
