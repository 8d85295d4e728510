#!/usr/bin/env bats
# pcnn-score: usage, bad input, the TSV contract, batching, pipes, full disk.

bats_require_minimum_version 1.5.0

setup_file() {
	cd "$BATS_FILE_TMPDIR"
	"$PCNN_TEST_BIN/pcnn-mkdata" -H 8 -W 8 -K 3 -n 9 -s 3 -o train.bin
	"$PCNN_BIN/pcnn-fit" -q -R 1 -F 4 -M 2 -b 4 -e 1 -o model.bin train.bin
}

setup() {
	SC="$PCNN_BIN/pcnn-score"
	MK="$PCNN_TEST_BIN/pcnn-mkdata"
	cd "$BATS_TEST_TMPDIR"
	cp "$BATS_FILE_TMPDIR/model.bin" "$BATS_FILE_TMPDIR/train.bin" .
}

@test "score: -h prints usage on stdout, exit 0" {
	run --separate-stderr "$SC" -h
	[ "$status" -eq 0 ]
	[[ "$output" == *"usage: pcnn-score"* ]]
}

@test "score: usage errors exit 2" {
	run "$SC"
	[ "$status" -eq 2 ]
	[[ "$output" == *"missing MODEL"* ]]
	run "$SC" -b 0 model.bin
	[ "$status" -eq 2 ]
	run "$SC" model.bin a b
	[ "$status" -eq 2 ]
}

@test "score: missing and damaged model files exit 1 naming the file" {
	run "$SC" nope.bin train.bin
	[ "$status" -eq 1 ]
	[[ "$output" == *"nope.bin: No such file or directory"* ]]
	cp model.bin flip.bin
	printf '\x55' | dd of=flip.bin bs=1 seek=3000 conv=notrunc 2>/dev/null
	run "$SC" flip.bin train.bin
	[ "$status" -eq 1 ]
	[[ "$output" == *"flip.bin: checksum mismatch"* ]]
	head -c 100 model.bin > trunc.bin
	run "$SC" trunc.bin train.bin
	[ "$status" -eq 1 ]
	[[ "$output" == *"trunc.bin"* ]]
	run "$SC" train.bin train.bin
	[ "$status" -eq 1 ]
	[[ "$output" == *"train.bin: this is a pcnn data file, not a model file"* ]]
}

@test "score: a model that does not fit the data says what to do" {
	"$MK" -H 8 -W 8 -K 2 -n 3 -o two.bin
	run "$SC" model.bin two.bin
	[ "$status" -eq 1 ]
	[[ "$output" == *"made for 3 classes, two.bin has 2"* ]]
	"$MK" -H 12 -W 8 -K 3 -n 3 -o big.bin
	run "$SC" model.bin big.bin
	[ "$status" -eq 1 ]
	[[ "$output" == *"made for 8x8x3 images"* ]]
}

@test "score: the TSV has the header and one finite row per image" {
	run --separate-stderr "$SC" model.bin train.bin
	[ "$status" -eq 0 ]
	[ "${lines[0]}" = "$(printf 'id\tlabel\tClass0\tClass1\tClass2')" ]
	[ "${#lines[@]}" -eq 10 ]
	[[ "${lines[1]}" == img/0000001.png$'\t'* ]]
	for l in "${lines[@]:1}"; do
		[ "$(printf '%s\n' "$l" | awk -F'\t' '{print NF}')" -eq 5 ]
		printf '%s\n' "$l" | awk -F'\t' '{for (i = 3; i <= 5; i++) if ($i !~ /^-[0-9]+\.[0-9]+$/) exit 1}'
	done
	[[ "$stderr" == *"scored 9 images"*"bits/dim under the true label"* ]]
}

@test "score: stdin to stdout; the same bytes for any batch size, thread count, instruction set" {
	"$SC" -q model.bin < train.bin > a.tsv
	cat train.bin | "$SC" -q model.bin - > b.tsv
	cmp a.tsv b.tsv
	# every GEMM element is one fma chain in a fixed order (libcommon/nn/nn_gemm.h)
	"$SC" -q -b 1 model.bin train.bin > c.tsv
	cmp a.tsv c.tsv
	PCNN_THREADS=1 "$SC" -q -b 3 model.bin train.bin > d.tsv
	cmp a.tsv d.tsv
	PCNN_ISA=scalar "$SC" -q -b 5 model.bin train.bin > e.tsv
	cmp a.tsv e.tsv
	PCNN_ISA=avx2 "$SC" -q model.bin train.bin > f.tsv
	cmp a.tsv f.tsv
	# -q: nothing on stderr (not even the --device auto fallback notice)
	"$SC" -q model.bin train.bin 2> err.txt > /dev/null
	[ ! -s err.txt ]

	"$SC" -q model.bin train.bin | "$PCNN_BIN/pcnn-argmax" > pred.csv 2>/dev/null
	[ "$(wc -l < pred.csv)" -eq 9 ]
}

@test "score: PCNN_DEVICE sets the default device; --device overrides it; a bad value is a usage error" {
	PCNN_DEVICE=cpu "$SC" -q model.bin train.bin > cpu.tsv
	PCNN_DEVICE=auto "$SC" model.bin train.bin > auto.tsv 2> err.txt
	if [ ! -e /dev/nvidia0 ]; then
		cmp cpu.tsv auto.tsv
		run env PCNN_DEVICE=cuda "$SC" -q model.bin train.bin
		[ "$status" -eq 1 ]
		if [[ "$output" == *"built without CUDA"* ]]; then
			# make GPU=0: auto is the CPU without a word; cuda names the build
			[[ "$output" == *"this pcnn was built without CUDA (use --device cpu, or rebuild with GPU=1)"* ]]
			run grep -c "running on the CPU" err.txt
			[ "$output" = 0 ]
		else
			# a build with CUDA on a machine without a GPU: auto says it falls back
			[[ "$output" == *"no usable GPU"* ]]
			grep -q "running on the CPU" err.txt
		fi
	fi
	PCNN_DEVICE=cuda "$SC" -q --device cpu model.bin train.bin > over.tsv
	cmp cpu.tsv over.tsv
	run env PCNN_DEVICE=gpu "$SC" -q model.bin train.bin
	[ "$status" -eq 2 ]
	[[ "$output" == *"PCNN_DEVICE: expected cpu, cuda or auto, got 'gpu'"* ]]
}

@test "score: PCNN_PROFILE=1 prints where the time went (stderr) and changes no byte of the output" {
	"$SC" -q model.bin train.bin > plain.tsv
	PCNN_PROFILE=1 "$SC" -q model.bin train.bin > prof.tsv 2> prof.txt
	cmp plain.tsv prof.tsv
	grep -q '^profile: [0-9.]* s wall; FMA peak [0-9.]* GFLOP/s' prof.txt
	grep -q '^conv fwd (stride 1, implicit GEMM) ' prof.txt
	grep -q '^likelihood (dmol) ' prof.txt
	grep -q '^not timed' prof.txt
	PCNN_PEAK_GFLOPS=100 PCNN_PROFILE=1 "$SC" -q model.bin train.bin 2>&1 >/dev/null | grep -q 'FMA peak 100.0 GFLOP/s (PCNN_PEAK_GFLOPS)'
}

@test "score: PCNN_TIMING=1 prints each phase's seconds on stderr (even with -q), changes no byte; without it -q is silent" {
	"$SC" -q -b 4 model.bin train.bin > plain.tsv 2> plain.err
	[ ! -s plain.err ]
	PCNN_TIMING=1 "$SC" -q -b 4 model.bin train.bin > timed.tsv 2> timed.err
	cmp plain.tsv timed.tsv
	[ "$(wc -l < timed.err)" -eq 1 ]
	n='[0-9]+\.[0-9]{3}'
	grep -Eq "^pcnn-score: timing \(s\): model $n, device init $n \(cpu: library, device, handles\), net $n, first batch $n \(plans, first use\), scoring $n \(2 more batches\), read $n, write $n, total $n\$" timed.err
	PCNN_TIMING=0 "$SC" -q model.bin train.bin 2> off.err > /dev/null
	[ ! -s off.err ]
}

@test "score: PCNN_SCORE_WIDE=1 (the K classes of a batch in one pass, a GPU's default) gives the CPU's K-pass bytes" {
	"$SC" -q -b 4 model.bin train.bin > k.tsv
	PCNN_SCORE_WIDE=1 "$SC" -q -b 4 model.bin train.bin > w.tsv
	PCNN_SCORE_WIDE=1 "$SC" -q -b 7 model.bin train.bin > w7.tsv
	cmp k.tsv w.tsv
	cmp k.tsv w7.tsv
}

@test "score: --true-label gives the same log-likelihood as the full table" {
	"$SC" -q model.bin train.bin > all.tsv
	"$SC" -q --true-label model.bin train.bin > true.tsv
	[ "$(head -1 true.tsv)" = "$(printf 'id\tlabel\tlogp\tbpd')" ]
	paste all.tsv true.tsv | tail -n +2 | awk -F'\t' '{ want = $(3 + $2); got = $8; d = want - got; if (d < 0) d = -d; if (d > 1e-3) { print "row " NR ": " want " vs " got; exit 1 } }'
}

@test "score: an output that is an input is refused (exit 2), the input intact" {
	"$MK" -H 8 -W 8 -K 3 -n 3 -s 5 -o d.bin
	cp d.bin d.orig
	cp model.bin model.orig
	run "$SC" -o d.bin model.bin d.bin
	[ "$status" -eq 2 ]
	[[ "$output" == *"d.bin: the score TSV (-o) is the same file as the data d.bin"* ]]
	cmp d.bin d.orig
	run "$SC" -o ./model.bin model.bin d.bin
	[ "$status" -eq 2 ]
	[[ "$output" == *"the same file as the model model.bin"* ]]
	cmp model.bin model.orig
}

@test "score: output to /dev/full fails with exit 1; -o writes a file" {
	run "$SC" model.bin train.bin -o /dev/full
	[ "$status" -ne 0 ]
	run "$SC" -o /dev/full model.bin train.bin
	[ "$status" -eq 1 ]
	[[ "$output" == *"/dev/full"*"No space left on device"* ]]
	run "$SC" -q -o s.tsv model.bin train.bin
	[ "$status" -eq 0 ]
	[ "$(wc -l < s.tsv)" -eq 10 ]
}

@test "score: --ood adds log p(x) and L(x); the class columns stay the same bytes" {
	"$SC" -q model.bin train.bin > plain.tsv
	run --separate-stderr "$SC" -q --ood model.bin train.bin
	[ "$status" -eq 0 ]
	[ "${lines[0]}" = "$(printf 'id\tlabel\tClass0\tClass1\tClass2\tood:log_px\tood:png_bits')" ]
	printf '%s\n' "${lines[@]}" > ood.tsv
	cut -f1-5 ood.tsv | cmp - plain.tsv
	# log p(x) = log sum_c p(x | c) / K, from the printed columns: each carries 5e-7 of rounding
	tail -n +2 ood.tsv | awk -F'\t' '{ m = $3; for (i = 4; i <= 5; i++) if ($i > m) m = $i
		s = 0; for (i = 3; i <= 5; i++) s += exp($i - m)
		d = m + log(s) - log(3) - $6; if (d < 0) d = -d
		if (d > 2e-6) { print "row " NR ": " d; exit 1 }
		if ($7 !~ /^[0-9]+$/ || $7 % 8) { print "L(x) not a whole number of bytes: " $7; exit 1 } }'
	# the readers take it: pcnn-argmax gives the same predictions, pcnn-info says so
	"$PCNN_BIN/pcnn-argmax" -q plain.tsv > a.csv
	"$PCNN_BIN/pcnn-argmax" -q ood.tsv > b.csv
	cmp a.csv b.csv
	"$PCNN_BIN/pcnn-info" ood.tsv | grep -q '^ood columns: log p(x) in nats, L(x) in bits'
	# the same bytes for any batch size
	"$SC" -q --ood -b 2 model.bin < train.bin | cmp - ood.tsv
}

@test "score: --ood L(x): noise takes its raw size or more, a constant image far less, the same image the same" {
	"$PCNN_TEST_BIN/pcnn-oodset" constant train.bin flat.bin 7
	"$PCNN_TEST_BIN/pcnn-oodset" flip flat.bin flatflip.bin
	"$SC" -q --ood model.bin flat.bin | tail -n +2 | cut -f7 > flat.bits
	"$SC" -q --ood model.bin flatflip.bin | tail -n +2 | cut -f7 > flatflip.bits
	"$SC" -q --ood model.bin train.bin | tail -n +2 | cut -f7 > noise.bits
	cmp flat.bits flatflip.bits   # a constant image upside down is itself
	# train.bin is uniform noise (pcnn-mkdata): 8x8x3 random bytes do not compress
	awk '$1 < 8 * 8 * 8 * 3 { exit 1 }' noise.bits
	# a constant one is the PNG's 57 bytes of framing (pngsize.h) and a short zlib stream
	awk '$1 > 8 * (57 + 30) { exit 1 }' flat.bits
}

@test "score: --ood with --true-label is a usage error" {
	run "$SC" --ood --true-label model.bin train.bin
	[ "$status" -eq 2 ]
	[[ "$output" == *"--ood needs log p(x | c) of every class: not with --true-label"* ]]
}
