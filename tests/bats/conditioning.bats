#!/usr/bin/env bats
# pcnn-fit --conditioning (the variants of SPEC §3b: film, input) through the tools:
# option checking, the model file telling its variant (pcnn-info), the base model
# unchanged, exact resume with the variant taken from the file, and pcnn-score /
# pcnn-gen on a variant model (cached sampler = naive, byte for byte).

bats_require_minimum_version 1.5.0

setup() {
	FIT="$PCNN_BIN/pcnn-fit"
	MK="$PCNN_TEST_BIN/pcnn-mkdata"
	cd "$BATS_TEST_TMPDIR"
	"$MK" -H 8 -W 8 -K 2 -n 12 -s 3 -o train.bin
	"$MK" -H 8 -W 8 -K 2 -n 6 -s 4 -o val.bin
	TINY=(-R 1 -F 4 -M 2 -b 4)
}

@test "conditioning: --conditioning takes none or a comma list of film, input (else exit 2)" {
	for bad in "" film, films film,film "film input" FILM; do
		run "$FIT" --conditioning "$bad" -o m.bin train.bin
		[ "$status" -eq 2 ]
		[[ "$output" == *"--conditioning: expected none or a comma list of film, input; got '$bad'"* ]]
	done
	[ ! -e m.bin ]
	run "$FIT" -h
	[[ "$output" == *"--conditioning L"* ]]
}

@test "conditioning: each variant trains and the file tells it; none is the model without the option" {
	for c in none film input film,input input,film; do
		"$FIT" -q "${TINY[@]}" -e 1 --conditioning "$c" -o "m-$c.bin" train.bin
		want=$c
		[ "$c" = none ] && want=base
		[ "$c" = input,film ] && want=film,input
		run "$PCNN_BIN/pcnn-info" "m-$c.bin"
		[ "$status" -eq 0 ]
		[[ "$output" == *"conditioning: $want"* ]]
	done
	"$FIT" -q "${TINY[@]}" -e 1 -o plain.bin train.bin
	cmp plain.bin m-none.bin
	cmp m-film,input.bin m-input,film.bin
	run "$PCNN_BIN/pcnn-info" plain.bin
	[[ "$output" == *"conditioning: base"* ]]
}

@test "conditioning: film,input resumes exactly; the variant comes from the file" {
	"$FIT" -q "${TINY[@]}" --conditioning film,input -e 2 -o full.bin train.bin
	"$FIT" -q "${TINY[@]}" --conditioning film,input -e 1 -o part.bin train.bin
	"$FIT" -q -e 2 -r part.bin train.bin
	cmp full.bin part.bin
	"$FIT" -q "${TINY[@]}" --conditioning film,input -e 2 --max-steps 4 -o mid.bin train.bin
	run "$FIT" -e 2 --conditioning none -r mid.bin train.bin
	[ "$status" -eq 0 ]
	[[ "$output" == *"-R/-F/-M/--conditioning/-s ignored"* ]]
	cmp full.bin mid.bin
}

@test "conditioning: score and gen on a film,input model; cached and naive samples identical" {
	"$FIT" -q "${TINY[@]}" --conditioning film,input -e 1 -o m.bin train.bin
	"$FIT" -q "${TINY[@]}" -e 1 -o plain.bin train.bin
	run --separate-stderr "$PCNN_BIN/pcnn-score" m.bin val.bin
	[ "$status" -eq 0 ]
	[ "${#lines[@]}" -eq 7 ]
	"$PCNN_BIN/pcnn-score" -q plain.bin val.bin > plain.tsv
	printf '%s\n' "${lines[@]}" > film.tsv
	run cmp -s film.tsv plain.tsv
	[ "$status" -eq 1 ]   # the film,input model scores otherwise (2: a file is missing)
	G=(-q --no-quality -c all -n 2 -b 2 -s 5)
	"$PCNN_BIN/pcnn-gen" "${G[@]}" -o cached m.bin
	"$PCNN_BIN/pcnn-gen" "${G[@]}" --naive -o naive m.bin
	[ "$(ls cached | wc -l)" -eq 4 ]
	for f in naive/*.png; do cmp "$f" "cached/${f#naive/}"; done
}
