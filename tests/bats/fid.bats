#!/usr/bin/env bats
# pcnn-fid: usage, the weights file (missing, not a checkpoint, a tensor missing), folders
# (missing, empty, one image, a damaged image, another image type), the FID of the fixtures
# against PyTorch/scipy (tests/reference/make_fid.py), data files as sources, full stdout.

bats_require_minimum_version 1.5.0

setup() {
	FID="$PCNN_BIN/pcnn-fid"
	FX="$PCNN_ROOT/tests/fixtures/fid"
	cd "$BATS_TEST_TMPDIR"
	cp -r "$FX/a" "$FX/b" .
	W="$FX/inception.pth"
}

# |x - y| <= tol
near() { awk -v x="$1" -v y="$2" -v t="$3" 'BEGIN { d = x - y; if (d < 0) d = -d; exit !(d <= t) }'; }

@test "fid: -h prints usage on stdout, exit 0" {
	run --separate-stderr "$FID" -h
	[ "$status" -eq 0 ]
	[[ "$output" == *"usage: pcnn-fid"* ]]
	[[ "$output" == *"pt_inception-2015-12-05-6726825d.pth"* ]]
}

@test "fid: usage errors exit 2 (no weights, one folder, unknown --dims, unknown option)" {
	run "$FID" a b
	[ "$status" -eq 2 ]
	[[ "$output" == *"missing --inception FILE"* ]]
	run "$FID" --inception "$W" a
	[ "$status" -eq 2 ]
	[[ "$output" == *"expected two folders"* ]]
	run "$FID" --inception "$W" a b c
	[ "$status" -eq 2 ]
	run "$FID" --dims 2048 --inception "$W" a b
	[ "$status" -eq 2 ]
	[[ "$output" == *"--dims: expected 64 or 192, got '2048'"* ]]
	run "$FID" --dims x --inception "$W" a b
	[ "$status" -eq 2 ]
	run "$FID" --nope --inception "$W" a b
	[ "$status" -eq 2 ]
}

@test "fid: the FID of the fixtures, dims 64 and 192, both weight formats = PyTorch/scipy within 1e-3" {
	for dims in 64 192; do
		ref=$(awk -v d=$dims '$1 == "fid" && $2 == d { print $3 }' "$FX/expected.txt")
		for w in inception.pth inception-legacy.pth; do
			run --separate-stderr "$FID" --dims $dims --inception "$FX/$w" a b
			[ "$status" -eq 0 ]
			echo "dims $dims $w: $output (reference $ref)"
			near "$output" "$ref" 1e-3
		done
	done
	# the default is 192, and the summary names both folders
	run --separate-stderr "$FID" --inception "$W" a b
	[ "$status" -eq 0 ]
	near "$output" "$(awk '$1 == "fid" && $2 == 192 { print $3 }' "$FX/expected.txt")" 1e-3
	[[ "$stderr" == *"FID at dims 192: 5 images in a, 6 in b"* ]]
	run --separate-stderr "$FID" -q --inception "$W" a b
	[ -z "$stderr" ]
}

@test "fid: a folder against itself is 0; the order of the folders does not matter" {
	run --separate-stderr "$FID" -q --dims 64 --inception "$W" a a
	[ "$status" -eq 0 ]
	near "$output" 0 1e-3
	ab=$("$FID" -q --dims 64 --inception "$W" a b)
	ba=$("$FID" -q --dims 64 --inception "$W" b a)
	near "$ab" "$ba" 1e-4
}

@test "fid: weights file missing, not a checkpoint, truncated, or without a tensor: exit 1 naming it" {
	run "$FID" --inception nope.pth a b
	[ "$status" -eq 1 ]
	[[ "$output" == *"nope.pth: No such file or directory"* ]]
	run "$FID" --inception a/a0.png a b
	[ "$status" -eq 1 ]
	[[ "$output" == *"a/a0.png: not a PyTorch checkpoint"* ]]
	: > empty.pth
	run "$FID" --inception empty.pth a b
	[ "$status" -eq 1 ]
	[[ "$output" == *"empty.pth: an empty file"* ]]
	head -c 300000 "$W" > cut.pth
	run "$FID" --inception cut.pth a b
	[ "$status" -eq 1 ]
	[[ "$output" == *"cut.pth: damaged zip archive"* ]]
	head -c 300000 "$FX/inception-legacy.pth" > cut-legacy.pth
	run "$FID" --inception cut-legacy.pth a b
	[ "$status" -eq 1 ]
	[[ "$output" == *"cut-legacy.pth: truncated checkpoint"* ]]
	# a checkpoint that is not pytorch-fid's Inception: a PixelCNN++ state_dict (pcnn-export)
	"$PCNN_BIN/pcnn-export" "$PCNN_ROOT/tests/fixtures/import/expect/a.model" -o other.pth 2> /dev/null
	run "$FID" --inception other.pth a b
	[ "$status" -eq 1 ]
	[[ "$output" == *"other.pth: no tensor 'Conv2d_1a_3x3.conv.weight': not pytorch-fid's InceptionV3 weights"* ]]
	# the same without torch: the zip's data.pkl names no Conv2d tensor once renamed
	sed 's/Conv2d_1a_3x3\.conv\.weight/Conv2d_1a_3x3.conv.weighX/' "$FX/inception-legacy.pth" > renamed.pth
	run "$FID" --inception renamed.pth a b
	[ "$status" -eq 1 ]
	[[ "$output" == *"renamed.pth: no tensor 'Conv2d_1a_3x3.conv.weight'"* ]]
}

@test "fid: missing folder, empty folder, one image, a damaged image, a BMP: exit 1 naming it" {
	run "$FID" --inception "$W" nope b
	[ "$status" -eq 1 ]
	[[ "$output" == *"nope: No such file or directory"* ]]
	mkdir empty
	run "$FID" --inception "$W" a empty
	[ "$status" -eq 1 ]
	[[ "$output" == *"empty: no images"* ]]
	mkdir one
	cp a/a0.png one/
	run "$FID" --inception "$W" one b
	[ "$status" -eq 1 ]
	[[ "$output" == *"one: 1 image; FID needs at least 2"* ]]
	head -c 600 b/b0.png > b/b0.png.tmp
	mv b/b0.png.tmp b/b0.png
	run "$FID" --inception "$W" a b
	[ "$status" -eq 1 ]
	[[ "$output" == *"b/b0.png: "* ]]
	cp "$FX/b/b0.png" b/
	touch b/scan.bmp
	run "$FID" --inception "$W" a b
	[ "$status" -eq 1 ]
	[[ "$output" == *"b/scan.bmp: pcnn-fid reads PNG and JPEG images only"* ]]
}

@test "fid: a pcnn data file as a source equals the folder of the same images" {
	# the 32 × 32 images of b as a data file (pcnn-prep copies equal sizes exactly)
	mkdir sq
	cp b/b0.png b/b1.jpg b/b4.jpeg b/b5.png sq/
	{ echo "id,label"; for f in sq/*; do echo "$f,0"; done; } > sq.csv
	"$PCNN_BIN/pcnn-prep" -q -o sq.bin sq.csv
	x=$("$FID" -q --dims 64 --inception "$W" a sq)
	y=$("$FID" -q --dims 64 --inception "$W" a sq.bin)
	near "$x" "$y" 1e-4
}

@test "fid: a full stdout is an error" {
	run bash -c "'$FID' -q --dims 64 --inception '$W' a b > /dev/full"
	[ "$status" -eq 1 ]
	[[ "$output" == *"No space left on device"* ]]
}

@test "fid: make pipeline reports the FID with INCEPTION, says how to turn it on without" {
	for t in pcnn-prep pcnn-fit pcnn-score pcnn-argmax pcnn-gen pcnn-info; do
		[ -x "$PCNN_BIN/$t" ]   # make test builds them first: missing is a failure
	done
	data="$PCNN_ROOT/tests/fixtures/pipeline/cpen455-tiny"
	pipe() {
		make -C "$PCNN_ROOT" --no-print-directory DATA="$data" PROFILE=tiny \
			BUILD="${PCNN_BIN%/bin}" RUNS_DIR="$BATS_TEST_TMPDIR/runs" PIPE_BIN="$PCNN_BIN" "$@"
	}
	run pipe pipeline
	[ "$status" -eq 0 ]
	d="$BATS_TEST_TMPDIR/runs/cpen455-tiny-tiny"
	[ "$(cat "$d/fid.txt")" = off ]
	grep -q '^FID: off. `make pipeline INCEPTION=path/to/pt_inception-2015-12-05-6726825d.pth` adds the$' "$d/report.md"
	model=$(find "$d/model.bin" -printf '%T@')
	run pipe pipeline INCEPTION="$W"
	[ "$status" -eq 0 ]
	[ "$(find "$d/model.bin" -printf '%T@')" = "$model" ]   # only fid and the report redone
	want=$("$FID" -q --dims 192 --inception "$W" "$d/samples" "$data/test")
	[ "$(cat "$d/fid.txt")" = "$want" ]
	grep -q "^\*\*FID (dims 192) of the samples against the real images: $want\*\*" "$d/report.md"
	grep -q "FID (dims 192) of the samples against the real images: $want" "$d/report.html"
	grep -q '^| fid | [0-9.]* |$' "$d/report.md"
}

@test "fid: pcnn-gen --fid-against prints the FID of its samples (= pcnn-fid's)" {
	"$PCNN_TEST_BIN/pcnn-mkdata" -H 8 -W 8 -K 2 -n 6 -s 3 -o train.bin
	"$PCNN_BIN/pcnn-fit" -q -R 1 -F 4 -M 2 -b 4 -e 1 -o model.bin train.bin
	run "$PCNN_BIN/pcnn-gen" --fid-against b model.bin
	[ "$status" -eq 2 ]
	[[ "$output" == *"--fid-against needs --inception FILE"* ]]
	run "$PCNN_BIN/pcnn-gen" --fid-against b --inception nope.pth model.bin
	[ "$status" -eq 1 ]
	[[ "$output" == *"nope.pth: No such file or directory"* ]]
	[ ! -d samples ]   # checked before sampling
	run "$PCNN_BIN/pcnn-gen" -n 2 --no-quality --fid-dims 64 --fid-against b --inception "$W" -o s model.bin
	[ "$status" -eq 0 ]
	want=$("$FID" -q --dims 64 --inception "$W" s b)
	[[ "$output" == *"pcnn-gen: FID "*" (dims 64, s against b)"* ]]
	got=$(echo "$output" | sed -n 's/^pcnn-gen: FID \([0-9.]*\) .*/\1/p')
	near "$got" "$want" 1e-4
}
