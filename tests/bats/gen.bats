#!/usr/bin/env bats
# pcnn-gen: usage, bad input, file names, determinism, batch independence; the k-NN
# judge (--judge, --judge-ceiling, --judge-out, --judge-k).

bats_require_minimum_version 1.5.0

setup_file() {
	cd "$BATS_FILE_TMPDIR"
	"$PCNN_TEST_BIN/pcnn-mkdata" -H 4 -W 8 -c Cat,Dog -n 8 -s 3 -o train.bin
	"$PCNN_TEST_BIN/pcnn-mkdata" -H 4 -W 8 -c Cat,Dog -n 6 -s 4 -o val.bin
	"$PCNN_BIN/pcnn-fit" -q -R 1 -F 4 -M 2 -b 4 -e 1 -o model.bin train.bin
}

setup() {
	GEN="$PCNN_BIN/pcnn-gen"
	cd "$BATS_TEST_TMPDIR"
	cp "$BATS_FILE_TMPDIR/model.bin" "$BATS_FILE_TMPDIR/train.bin" "$BATS_FILE_TMPDIR/val.bin" .
	MK="$PCNN_TEST_BIN/pcnn-mkdata"
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
	run cmp -s a/Cat_image_01.png c/Cat_image_01.png
	[ "$status" -eq 1 ]   # another seed, another image (2: a file is missing)
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

# ---------------------------------------------------------------- the k-NN judge

@test "gen: --judge prints the k-NN share per class and overall, beside the self-check" {
	run --separate-stderr "$GEN" -n 3 -s 7 -o out --judge train.bin --judge-ceiling val.bin model.bin
	[ "$status" -eq 0 ]
	[ -z "$output" ]
	[[ "$stderr" == *"classified as their class"*"(model's own scoring)"* ]]
	grep -Eq '^pcnn-gen: judge: 5-NN over train\.bin \(8 labelled images\) classifies [0-9]+\.[0-9]% of the samples as their class \([0-6]/6\): Cat [0-9.]+% \([0-3]/3\), Dog [0-9.]+% \([0-3]/3\)$' <<<"$stderr"
	grep -Eq "^pcnn-gen: judge ceiling: 5-NN over train\.bin classifies [0-9]+\.[0-9]% of val\.bin's labelled images as their class \([0-6]/6\): " <<<"$stderr"
	# --judge-k is the k of both lines
	run --separate-stderr "$GEN" -n 1 -s 7 -o out --judge train.bin --judge-k 3 --judge-ceiling val.bin model.bin
	[ "$status" -eq 0 ]
	[[ "$stderr" == *"judge: 3-NN over train.bin"*"judge ceiling: 3-NN over train.bin"* ]]
}

@test "gen: samples judged against themselves: 1-NN finds each at distance 0, 100 %" {
	"$GEN" -q -n 3 -s 7 -o out model.bin
	mkdir -p real/Cat real/Dog
	cp out/Cat_* real/Cat/
	cp out/Dog_* real/Dog/
	# the PNGs back as a data file of the same size (a folder per class: Cat, Dog)
	"$PCNN_BIN/pcnn-prep" -q -H 4 -W 8 -o self.bin real
	run --separate-stderr "$GEN" -n 3 -s 7 -o again --judge self.bin --judge-k 1 --judge-out j.tsv model.bin
	[ "$status" -eq 0 ]
	[[ "$stderr" == *"judge: 1-NN over self.bin (6 labelled images) classifies 100.0% of the samples as their class (6/6): Cat 100.0% (3/3), Dog 100.0% (3/3)"* ]]
	printf 'file\tdrawn\tjudged\tnearest_sqdist\n' >want.tsv
	for c in Cat Dog; do for i in 01 02 03; do printf '%s_image_%s.png\t%s\t%s\t0\n' $c $i $c $c; done; done >>want.tsv
	diff want.tsv j.tsv
	# the same with the Cat images unlabelled (-1): never neighbours, so every Cat sample
	# is judged Dog, at a distance above 0; the Dog samples still find themselves
	{ for f in out/Cat_*; do echo "$f,-1"; done; for f in out/Dog_*; do echo "$f,1"; done; } >half.csv
	"$PCNN_BIN/pcnn-prep" -q -H 4 -W 8 --classes Cat,Dog -o half.bin half.csv
	run --separate-stderr "$GEN" -n 3 -s 7 -o again --judge half.bin --judge-k 1 --judge-out h.tsv model.bin
	[ "$status" -eq 0 ]
	[[ "$stderr" == *"(3 labelled images) classifies 50.0% of the samples as their class (3/6): Cat 0.0% (0/3), Dog 100.0% (3/3)"* ]]
	tail -n +2 h.tsv | awk -F'\t' '$3 != "Dog" || ($2 == "Cat") != ($4 > 0) { bad = 1 } END { exit bad }'
	# the ceiling: the real images against themselves, 1-NN: all right
	run --separate-stderr "$GEN" -n 1 -o again --judge train.bin --judge-k 1 --judge-ceiling train.bin model.bin
	[ "$status" -eq 0 ]
	[[ "$stderr" == *"judge ceiling: 1-NN over train.bin classifies 100.0% of train.bin's labelled images as their class (8/8)"* ]]
}

@test "gen: --judge-out is one row per PNG, the same bytes every time; -q writes it silently" {
	run --separate-stderr "$GEN" -q -n 2 -s 7 -o a --judge train.bin --judge-out a.tsv model.bin
	[ "$status" -eq 0 ]
	[ -z "$stderr" ]
	"$GEN" -q -n 2 -s 7 -o b --judge train.bin --judge-out b.tsv model.bin
	cmp a.tsv b.tsv
	[ "$(head -n 1 a.tsv)" = "$(printf 'file\tdrawn\tjudged\tnearest_sqdist')" ]
	[ "$(tail -n +2 a.tsv | cut -f1 | tr '\n' ' ')" = "$(ls a | tr '\n' ' ')" ]
	# drawn: the class in the file name; judged: a class; distance: a positive integer
	tail -n +2 a.tsv | awk -F'\t' 'NF != 4 || index($1, $2 "_image_") != 1 || ($3 != "Cat" && $3 != "Dog") || $4 !~ /^[1-9][0-9]*$/ { bad = 1 } END { exit bad }'
}

@test "gen: a judge file of another size or classes, unlabelled or too small: exit 1, clear message, nothing sampled" {
	"$MK" -H 8 -W 8 -c Cat,Dog -n 8 -o big.bin
	run "$GEN" -n 1 -o s --judge big.bin model.bin
	[ "$status" -eq 1 ]
	[[ "$output" == "pcnn-gen: --judge: big.bin: images are 8x8x3, the model's samples 4x8x3 (give real labelled images of the model's size and classes, e.g. its training set)" ]]
	"$MK" -H 4 -W 8 -C 1 -c Cat,Dog -n 8 -o gray.bin
	run "$GEN" -n 1 -o s --judge gray.bin model.bin
	[ "$status" -eq 1 ]
	[[ "$output" == *"gray.bin: images are 4x8x1, the model's samples 4x8x3"* ]]
	"$MK" -H 4 -W 8 -c Cat,Dog,Owl -n 8 -o three.bin
	run "$GEN" -n 1 -o s --judge three.bin model.bin
	[ "$status" -eq 1 ]
	[[ "$output" == *"--judge: three.bin: 3 classes, the model has 2 ("* ]]
	"$MK" -H 4 -W 8 -c Cat,Owl -n 8 -o owl.bin
	run "$GEN" -n 1 -o s --judge train.bin --judge-ceiling owl.bin model.bin
	[ "$status" -eq 1 ]
	[[ "$output" == *"--judge-ceiling: owl.bin: class 1 is 'Owl', the model's class 1 is 'Dog' ("* ]]
	"$MK" -U -H 4 -W 8 -c Cat,Dog -n 8 -o unl.bin
	run "$GEN" -n 1 -o s --judge unl.bin model.bin
	[ "$status" -eq 1 ]
	[[ "$output" == *"--judge: unl.bin: no labelled images ("* ]]
	run "$GEN" -n 1 -o s --judge train.bin --judge-ceiling unl.bin model.bin
	[ "$status" -eq 1 ]
	[[ "$output" == *"--judge-ceiling: unl.bin: no labelled images ("* ]]
	"$MK" -H 4 -W 8 -c Cat,Dog -n 3 -o three-images.bin
	run "$GEN" -n 1 -o s --judge three-images.bin model.bin
	[ "$status" -eq 1 ]
	[[ "$output" == *"--judge: three-images.bin: 3 labelled images, fewer than the 5 neighbours of --judge-k"* ]]
	run "$GEN" -n 1 -o s --judge train.bin --judge-k 9 model.bin
	[ "$status" -eq 1 ]
	[[ "$output" == *"train.bin: 8 labelled images, fewer than the 9 neighbours of --judge-k"* ]]
	# checked before sampling: no output folder was made
	[ ! -e s ]
}

@test "gen: a missing or damaged judge file: exit 1, the file named" {
	run "$GEN" -n 1 -o s --judge nosuch.bin model.bin
	[ "$status" -eq 1 ]
	[[ "$output" == *"nosuch.bin: No such file or directory"* ]]
	head -c 60 train.bin >cut.bin
	run "$GEN" -n 1 -o s --judge train.bin --judge-ceiling cut.bin model.bin
	[ "$status" -eq 1 ]
	[[ "$output" == *"cut.bin: truncated"* ]]
	[ ! -e s ]
}

@test "gen: judge options without --judge, or a bad --judge-k: usage error, exit 2" {
	run "$GEN" -n 1 --judge-ceiling val.bin model.bin
	[ "$status" -eq 2 ]
	[[ "$output" == *"--judge-ceiling needs --judge REAL"* ]]
	run "$GEN" -n 1 --judge-out j.tsv model.bin
	[ "$status" -eq 2 ]
	[[ "$output" == *"--judge-out needs --judge REAL"* ]]
	run "$GEN" -n 1 --judge-k 3 model.bin
	[ "$status" -eq 2 ]
	run "$GEN" -n 1 --judge train.bin --judge-k 0 model.bin
	[ "$status" -eq 2 ]
	[[ "$output" == *"--judge-k: expected 1..1000, got '0'"* ]]
	run "$GEN" -n 1 --judge train.bin --judge-k x model.bin
	[ "$status" -eq 2 ]
	run "$GEN" -n 1 model.bin --judge
	[ "$status" -eq 2 ]
}

@test "gen: a grid or judge table that is an input is refused (exit 2), the input intact" {
	cp model.bin model.orig
	cp train.bin train.orig
	run "$GEN" -n 1 --grid model.bin model.bin
	[ "$status" -eq 2 ]
	[[ "$output" == *"model.bin: the grid (--grid) is the same file as the model model.bin"* ]]
	run "$GEN" -n 1 --judge train.bin --judge-out ./train.bin model.bin
	[ "$status" -eq 2 ]
	[[ "$output" == *"the judge's table (--judge-out) is the same file as the judge's images (--judge) train.bin"* ]]
	cmp model.bin model.orig
	cmp train.bin train.orig
	[ ! -e samples ]
}

@test "gen: --judge-out to a full disk or an unwritable place exits 1" {
	run "$GEN" -q -n 1 -o s --judge train.bin --judge-out /dev/full model.bin
	[ "$status" -eq 1 ]
	[[ "$output" == *"/dev/full"*"No space left on device"* ]]
	run "$GEN" -q -n 1 -o s --judge train.bin --judge-out no/such/dir/j.tsv model.bin
	[ "$status" -eq 1 ]
	[[ "$output" == *"no/such/dir/j.tsv"* ]]
}

# ---- --complete: real images of val.bin (4x8, classes Cat, Dog) completed by class

# png_size FILE: "width height" from the IHDR chunk
png_size() { od -An -tu1 -j16 -N8 "$1" | awk '{ print $3 * 256 + $4, $7 * 256 + $8 }'; }

@test "gen: --complete keeps the given rows byte for byte and samples the rest, per class" {
	run --separate-stderr "$GEN" --complete val.bin --rows 2 -n 3 -o out --grid grid.png model.bin
	[ "$status" -eq 0 ]
	[[ "$stderr" == *"completed 6 images"* ]]
	[ "$(ls out | wc -l)" -eq 6 ]
	for c in Cat Dog; do
		for i in 1 2 3; do
			f=out/${c}_image_0$i.png
			is_png "$f"
			"$PCNN_TEST_BIN/pcnn-pngcmp" "$f" val.bin "$i" 2   # rows 0 and 1: the real image's
		done
	done
	# the sampled rows are not the real image's (4x8x3 values drawn: equal by chance ~never)
	run "$PCNN_TEST_BIN/pcnn-pngcmp" out/Cat_image_01.png val.bin 1 0
	[ "$status" -eq 1 ]
	# and not another given image's rows: the helper itself tells images apart
	run "$PCNN_TEST_BIN/pcnn-pngcmp" out/Cat_image_01.png val.bin 2 2
	[ "$status" -eq 1 ]
	# grid: 3 rows (images) of 3 cells (original, Cat, Dog), 2-pixel gutters
	[ "$(png_size grid.png)" = "$((3 * 8 + 4 * 2)) $((3 * 4 + 4 * 2))" ]
}

@test "gen: --complete: the cached and the naive sampler, -c and -b give the same bytes" {
	"$GEN" -q --complete val.bin --rows 1 -n 2 -s 5 -o a model.bin
	"$GEN" -q --complete val.bin --rows 1 -n 2 -s 5 -o b --naive model.bin
	"$GEN" -q --complete val.bin --rows 1 -n 2 -s 5 -o c -c Dog -b 1 model.bin
	for f in a/*.png; do cmp "$f" "b/$(basename "$f")"; done
	cmp a/Dog_image_01.png c/Dog_image_01.png
	cmp a/Dog_image_02.png c/Dog_image_02.png
	[ ! -e c/Cat_image_01.png ]
	"$GEN" -q --complete val.bin --rows 1 -n 2 -s 6 -o d model.bin
	run cmp a/Cat_image_01.png d/Cat_image_01.png
	[ "$status" -ne 0 ]
}

@test "gen: --complete usage errors exit 2, bad data exit 1" {
	run "$GEN" --complete val.bin model.bin
	[ "$status" -eq 2 ]
	[[ "$output" == *"--complete needs --rows R"* ]]
	run "$GEN" --rows 2 model.bin
	[ "$status" -eq 2 ]
	[[ "$output" == *"--rows needs --complete DATA"* ]]
	run "$GEN" --complete val.bin --rows 0 model.bin
	[ "$status" -eq 2 ]
	run "$GEN" --complete val.bin --rows 4 model.bin
	[ "$status" -eq 2 ]
	[[ "$output" == *"--rows 4: the model's images have 4 rows; keep 1..3 of them"* ]]
	run "$GEN" --complete val.bin --rows 2 --judge train.bin model.bin
	[ "$status" -eq 2 ]
	run "$GEN" --complete val.bin --rows 2 --grid val.bin model.bin
	[ "$status" -eq 2 ]
	run "$GEN" --complete val.bin --rows 2 -n 7 -o out model.bin
	[ "$status" -eq 1 ]
	[[ "$output" == *"val.bin: has 6 images, -n asks to complete 7"* ]]
	"$MK" -H 8 -W 8 -c Cat,Dog -n 2 -o big.bin
	run "$GEN" --complete big.bin --rows 2 -o out model.bin
	[ "$status" -eq 1 ]
	[[ "$output" == *"8x8"* ]]
	run "$GEN" --complete nope.bin --rows 2 -o out model.bin
	[ "$status" -eq 1 ]
	[[ "$output" == *"nope.bin"* ]]
	run "$GEN" -h
	[[ "$output" == *"--complete DATA"* ]]
	[[ "$output" == *"--rows R"* ]]
}
