#!/usr/bin/env bats
# pcnn-fit --precision bf16 (issue 13, item 4): the training GEMMs in bfloat16 on a CPU with
# AVX512_BF16; refused elsewhere (forced here with PCNN_ISA=avx512); the option resumes from
# the model file; scoring stays fp32.

bats_require_minimum_version 1.5.0

setup() {
	FIT="$PCNN_BIN/pcnn-fit"
	MK="$PCNN_TEST_BIN/pcnn-mkdata"
	cd "$BATS_TEST_TMPDIR"
	"$MK" -H 8 -W 8 -K 2 -n 12 -s 3 -o train.bin
	TINY=(-R 1 -F 4 -M 2 -b 4)
}

# The bf16 tests need the instruction; a CPU without it is told, not failed.
need_bf16() {
	grep -qw avx512_bf16 /proc/cpuinfo 2>/dev/null ||
		skip "this CPU has no AVX512_BF16: pcnn-fit --precision bf16 cannot run here"
}

@test "fit --precision: -h documents it; a bad value is a usage error (exit 2)" {
	run --separate-stderr "$FIT" -h
	[ "$status" -eq 0 ]
	[[ "$output" == *"--precision P      fp32 (default) or bf16"* ]]
	run "$FIT" --precision fp16 "${TINY[@]}" -o m.bin train.bin
	[ "$status" -eq 2 ]
	[[ "$output" == *"--precision: expected fp32 or bf16, got 'fp16'"* ]]
	[ ! -e m.bin ]
}

@test "fit --precision bf16: refused with exit 2 where the CPU lacks AVX512_BF16 (PCNN_ISA=avx512)" {
	run env PCNN_ISA=avx512 "$FIT" --precision bf16 "${TINY[@]}" -e 1 -o m.bin train.bin
	[ "$status" -eq 2 ]
	[[ "$output" == *"pcnn-fit: --precision bf16 needs a CPU with AVX512_BF16; this one runs the "* ]]
	[[ "$output" == *"(use --precision fp32)"* ]]
	[ ! -e m.bin ]
	# fp32 is still fine there
	PCNN_ISA=avx512 "$FIT" -q --precision fp32 "${TINY[@]}" -e 1 -o m.bin train.bin
}

@test "fit --precision bf16: trains; the same bytes twice and for 1 and 2 threads; not fp32's" {
	need_bf16
	run "$FIT" --precision bf16 "${TINY[@]}" -e 2 -o a.bin train.bin
	[ "$status" -eq 0 ]
	[[ "$output" == *"device cpu, bf16 GEMMs"* ]]
	[[ "$output" == *"epoch 2/2: train"* ]]
	run "$PCNN_BIN/pcnn-info" a.bin
	[[ "$output" == *"option precision: bf16"* ]]
	PCNN_THREADS=1 "$FIT" -q --precision bf16 "${TINY[@]}" -e 2 -o b.bin train.bin
	PCNN_THREADS=2 "$FIT" -q --precision bf16 "${TINY[@]}" -e 2 -o c.bin train.bin
	cmp a.bin b.bin
	cmp a.bin c.bin
	"$FIT" -q "${TINY[@]}" -e 2 -o f.bin train.bin
	run "$PCNN_BIN/pcnn-info" f.bin
	[[ "$output" == *"option precision: fp32"* ]]
	S="$PCNN_BIN/pcnn-score"
	"$S" -q --last a.bin < train.bin > a.tsv
	"$S" -q --last f.bin < train.bin > f.tsv
	[ -s a.tsv ]
	run cmp -s a.tsv f.tsv
	[ "$status" -eq 1 ]   # bf16 trains otherwise than fp32 (2: a file is missing)
}

@test "fit --precision bf16: F = 40 on 12x12 images (9 rows an image at 3x3: odd weight-gradient K) repeats for 1 and 2 threads" {
	need_bf16
	"$MK" -H 12 -W 12 -K 3 -n 6 -s 7 -o odd.bin
	PCNN_THREADS=1 "$FIT" -q --precision bf16 -R 1 -F 40 -M 3 -b 3 -e 1 --conditioning film,input -o a.bin odd.bin
	PCNN_THREADS=2 "$FIT" -q --precision bf16 -R 1 -F 40 -M 3 -b 3 -e 1 --conditioning film,input -o b.bin odd.bin
	cmp a.bin b.bin
}

@test "fit --precision bf16: resumes in bf16 exactly (after an epoch, mid-epoch); -r --precision fp32 overrides" {
	need_bf16
	"$FIT" -q --precision bf16 "${TINY[@]}" -e 3 -o full.bin train.bin
	"$FIT" -q --precision bf16 "${TINY[@]}" -e 1 -o part.bin train.bin
	"$FIT" -q -e 3 -r part.bin train.bin
	cmp full.bin part.bin
	"$FIT" -q --precision bf16 "${TINY[@]}" -e 3 --max-steps 4 -o mid.bin train.bin
	"$FIT" -q -e 3 -r mid.bin train.bin
	cmp full.bin mid.bin
	# continued in fp32 instead: another result, and the file says so
	"$FIT" -q --precision bf16 "${TINY[@]}" -e 1 -o switch.bin train.bin
	"$FIT" -q -e 3 --precision fp32 -r switch.bin train.bin
	run cmp -s full.bin switch.bin
	[ "$status" -eq 1 ]
	run "$PCNN_BIN/pcnn-info" switch.bin
	[[ "$output" == *"option precision: fp32"* ]]
	# a bf16 checkpoint where bf16 is missing: refused, with the way out
	"$FIT" -q --precision bf16 "${TINY[@]}" -e 1 -o again.bin train.bin
	run env PCNN_ISA=avx512 "$FIT" -q -e 2 -r again.bin train.bin
	[ "$status" -eq 2 ]
	[[ "$output" == *"(use --precision fp32)"* ]]
	PCNN_ISA=avx512 "$FIT" -q -e 2 --precision fp32 -r again.bin train.bin
}

@test "fit --precision bf16: the model scores in fp32 (the same bytes on the AVX2 path)" {
	need_bf16
	"$FIT" -q --precision bf16 "${TINY[@]}" -e 1 -o m.bin train.bin
	S="$PCNN_BIN/pcnn-score"
	"$S" -q m.bin < train.bin > avx512.tsv
	PCNN_ISA=avx2 "$S" -q m.bin < train.bin > avx2.tsv
	[ -s avx512.tsv ]
	cmp avx512.tsv avx2.tsv
}
