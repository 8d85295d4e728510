#!/usr/bin/env bats
# pcnn-gen: the default (cached) sampler writes the same PNG bytes as --naive.

bats_require_minimum_version 1.5.0

setup_file() {
	cd "$BATS_FILE_TMPDIR"
	"$PCNN_TEST_BIN/pcnn-mkdata" -H 8 -W 12 -c Cat,Dog,Owl -n 6 -s 3 -o train.bin
	"$PCNN_BIN/pcnn-fit" -q -R 1 -F 4 -M 2 -b 6 -e 1 -o model.bin train.bin
}

setup() {
	GEN="$PCNN_BIN/pcnn-gen"
	cd "$BATS_TEST_TMPDIR"
	cp "$BATS_FILE_TMPDIR/model.bin" .
}

@test "gen cached: default and --naive write identical PNGs (every class, batches of 2)" {
	run "$GEN" -q --no-quality -c all -n 3 -b 2 -s 9 --grid cached.png -o cached model.bin
	[ "$status" -eq 0 ]
	run "$GEN" -q --no-quality -c all -n 3 -b 2 -s 9 --grid naive.png -o naive --naive model.bin
	[ "$status" -eq 0 ]
	[ "$(ls cached | wc -l)" -eq 9 ]
	for f in naive/*.png; do cmp "$f" "cached/${f#naive/}"; done
	cmp naive.png cached.png
	[ "$(ls naive)" = "$(ls cached)" ]
}

@test "gen cached: one class by name, same bytes as --naive; another seed differs" {
	run "$GEN" -q --no-quality -c Owl -n 2 -s 4 -o a model.bin
	[ "$status" -eq 0 ]
	run "$GEN" -q --no-quality -c Owl -n 2 -s 4 -o b --naive model.bin
	[ "$status" -eq 0 ]
	cmp a/Owl_image_01.png b/Owl_image_01.png
	cmp a/Owl_image_02.png b/Owl_image_02.png
	run "$GEN" -q --no-quality -c Owl -n 2 -s 5 -o c model.bin
	[ "$status" -eq 0 ]
	run cmp -s a/Owl_image_01.png c/Owl_image_01.png
	[ "$status" -eq 1 ]   # another seed, another image (2: a file is missing)
}

@test "gen cached: the summary names the sampler; --naive says naive" {
	run --separate-stderr "$GEN" --no-quality -c Cat -n 1 -o a model.bin
	[ "$status" -eq 0 ]
	[[ "$stderr" == *"sampled"* ]]
	[[ "$stderr" != *"naive"* ]]
	run --separate-stderr "$GEN" --no-quality -c Cat -n 1 -o b --naive model.bin
	[ "$status" -eq 0 ]
	[[ "$stderr" == *"sampled (naive)"* ]]
}
