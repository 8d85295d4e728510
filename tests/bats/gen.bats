#!/usr/bin/env bats
# pcnn-gen: usage, bad input, file names, determinism, batch independence.

bats_require_minimum_version 1.5.0

setup_file() {
	cd "$BATS_FILE_TMPDIR"
	"$PCNN_BIN/pcnn-mkdata" -H 4 -W 8 -c Cat,Dog -n 8 -s 3 -o train.bin
	"$PCNN_BIN/pcnn-fit" -q -R 1 -F 4 -M 2 -b 4 -e 1 -o model.bin train.bin
}

setup() {
	GEN="$PCNN_BIN/pcnn-gen"
	cd "$BATS_TEST_TMPDIR"
	cp "$BATS_FILE_TMPDIR/model.bin" .
}

is_png() { [ "$(head -c 8 "$1" | od -An -tx1 | tr -d ' \n')" = "89504e470d0a1a0a" ]; }

@test "gen: -h prints usage on stdout, exit 0" {
	run --separate-stderr "$GEN" -h
	[ "$status" -eq 0 ]
	[[ "$output" == *"usage: pcnn-gen"* ]]
}

@test "gen: usage errors exit 2" {
	run "$GEN"
	[ "$status" -eq 2 ]
	run "$GEN" -n 0 model.bin
	[ "$status" -eq 2 ]
	run "$GEN" -x model.bin
	[ "$status" -eq 2 ]
}

@test "gen: unknown class, damaged model, unwritable folder exit 1 with clear messages" {
	run "$GEN" -c Bird -o s model.bin
	[ "$status" -eq 1 ]
	[[ "$output" == *"no class 'Bird'; its classes are: Cat Dog"* ]]
	head -c 500 model.bin > bad.bin
	run "$GEN" -o s bad.bin
	[ "$status" -eq 1 ]
	[[ "$output" == *"bad.bin"* ]]
	touch afile
	run "$GEN" -n 1 -o afile model.bin
	[ "$status" -eq 1 ]
	[[ "$output" == *"afile: not a writable folder"* ]]
}

@test "gen: writes n PNGs per class named as the CPEN 455 evaluation expects, and a grid" {
	run "$GEN" -n 3 -s 7 -o out --grid grid.png model.bin
	[ "$status" -eq 0 ]
	[ "$(ls out | tr '\n' ' ')" = "Cat_image_01.png Cat_image_02.png Cat_image_03.png Dog_image_01.png Dog_image_02.png Dog_image_03.png " ]
	for f in out/*.png grid.png; do is_png "$f"; done
	[[ "$output" == *"classified as their class"*"bits/dim"* ]]
}

@test "gen: the same seed gives the same bytes, another seed other images" {
	"$GEN" -q -n 2 -s 7 -o a model.bin
	"$GEN" -q -n 2 -s 7 -o b model.bin
	"$GEN" -q -n 2 -s 8 -o c model.bin
	for f in a/*.png; do cmp "$f" "b/$(basename "$f")"; done
	! cmp -s a/Cat_image_01.png c/Cat_image_01.png
}

@test "gen: an image does not depend on the class selection" {
	"$GEN" -q -n 3 -s 7 -b 3 -o all model.bin
	"$GEN" -q -n 3 -s 7 -b 3 -c Dog -o dog model.bin
	"$GEN" -q -n 3 -s 7 -b 3 -c 1 -o one model.bin
	for i in 01 02 03; do
		cmp all/Dog_image_$i.png dog/Dog_image_$i.png
		cmp all/Dog_image_$i.png one/Dog_image_$i.png
	done
}
