#!/usr/bin/env bats
# pcnn-import / pcnn-export: PyTorch state_dict <-> pcnn model file, both in C. Everything
# runs from the committed fixtures of tests/fixtures/import/ (made once with PyTorch by
# tests/reference/make_import_fixtures.py): the expected model files are what the Python
# pcnn-import (tests/reference/py_import.py) made of the same inputs, the expected .pth
# files what torch.save made, the scores PyTorch's log p(x | c). Only the last test needs
# PyTorch (torch.load of pcnn-export's output); without it, it says why it skips.

bats_require_minimum_version 1.5.0

PY=/usr/bin/python3

setup() {
	IMP="$PCNN_BIN/pcnn-import"
	EXP="$PCNN_BIN/pcnn-export"
	FX="$PCNN_ROOT/tests/fixtures/import"
	cd "$BATS_TEST_TMPDIR"
}

# The inputs pcnn-import accepts and the options the reference made expect/<name>.model with.
ACCEPTED='a:-H 8 -W 8
r2:-H 8 -W 8
w:-H 8 -W 12
msd:-H 8 -W 12
mdl:-H 8 -W 12
n:-K 3 --classes cat,dog,owl
b:-H 8 -W 12
p:-H 8 -W 12
dt:-H 8 -W 12
st:-H 8 -W 12
int:-H 8 -W 12
fi:
fo:-H 8 -W 8
ci:
sc:-H 8 -W 12
fsc:'

# Offset of the central directory of a zip file (the end record's field at 6 bytes from the end).
cd_offset() {
	od -An -tu4 -j $(($(stat -c %s "$1") - 6)) -N4 "$1" | tr -d ' '
}

# Scores TSVs A and B: the same ids and labels, log p within relative TOL (prints the worst).
close_scores() {
	cmp <(cut -f1,2 "$1") <(cut -f1,2 "$2") || { echo "ids or labels differ"; return 1; }
	awk -F'\t' -v tol="$3" '
		NR == FNR { if (FNR > 1) for (i = 3; i <= NF; i++) a[FNR, i] = $i; next }
		FNR > 1 { for (i = 3; i <= NF; i++) { d = $i - a[FNR, i]; r = a[FNR, i]
			if (d < 0) d = -d; if (r < 0) r = -r; if (d > m * r) m = d / r; c++ } }
		END { printf "max relative difference %.3g over %d values\n", m, c; exit !(c > 0 && m <= tol) }' "$1" "$2"
}

@test "import: -h prints usage on stdout, exit 0" {
	run --separate-stderr "$IMP" -h
	[ "$status" -eq 0 ]
	[[ "$output" == "usage: pcnn-import"* ]]
	[ -z "$stderr" ]
	run --separate-stderr "$EXP" -h
	[ "$status" -eq 0 ]
	[[ "$output" == "usage: pcnn-export"* ]]
	[ -z "$stderr" ]
}

@test "import: usage errors exit 2 with the reason" {
	run "$IMP"
	[ "$status" -eq 2 ]
	[[ "$output" == *"pcnn-import: no input"* ]]
	run "$IMP" "$FX/zip/a.pth"
	[ "$status" -eq 2 ]
	[[ "$output" == *"no output: give -o MODEL"* ]]
	run "$IMP" -H 30 x.pth -o m.bin
	[ "$status" -eq 2 ]
	[[ "$output" == *"-H 30: must be a multiple of 4 in 4..4096"* ]]
	run "$IMP" -W 4100 x.pth -o m.bin
	[ "$status" -eq 2 ]
	[[ "$output" == *"-W 4100: must be a multiple of 4"* ]]
	run "$IMP" -K 0 x.pth -o m.bin
	[ "$status" -eq 2 ]
	[[ "$output" == *"-K 0: must be 1..1024"* ]]
	run "$IMP" --classes a,,b x.pth -o m.bin
	[ "$status" -eq 2 ]
	[[ "$output" == *"--classes: bad class name ''"* ]]
	run "$IMP" --classes a,b,a x.pth -o m.bin
	[ "$status" -eq 2 ]
	[[ "$output" == *"--classes: repeated class name 'a'"* ]]
	run "$IMP" -z x.pth -o m.bin
	[ "$status" -eq 2 ]
	[[ "$output" == *"unknown option '-z'"* ]]
	run "$IMP" a.pth b.pth -o m.bin
	[ "$status" -eq 2 ]
	[[ "$output" == *"one input file (got 2)"* ]]
	run "$EXP" m.bin
	[ "$status" -eq 2 ]
	[[ "$output" == *"pcnn-export: no output"* ]]
	run "$EXP" --polyak
	[ "$status" -eq 2 ]
	[[ "$output" == *"pcnn-export: no input"* ]]
	run "$EXP" --bogus m.bin -o x.pth
	[ "$status" -eq 2 ]
	[[ "$output" == *"unknown option '--bogus'"* ]]
	[ ! -e m.bin ]
	[ ! -e x.pth ]
}

@test "import: missing, empty, foreign and damaged input files exit 1 naming the file" {
	run "$IMP" nothere.pth -o m.bin
	[ "$status" -eq 1 ]
	[ "$output" = "pcnn-import: nothere.pth: No such file or directory" ]
	echo "not a checkpoint" > junk.pth
	run "$IMP" junk.pth -o m.bin
	[ "$status" -eq 1 ]
	[ "$output" = "pcnn-import: junk.pth: cannot read as a PyTorch file: not a PyTorch checkpoint (neither a zip archive nor a pickle)" ]
	: > empty.pth
	run "$IMP" empty.pth -o m.bin
	[ "$status" -eq 1 ]
	[[ "$output" == *"empty.pth: cannot read as a PyTorch file: an empty file"* ]]
	mkdir dir.pth
	run "$IMP" dir.pth -o m.bin
	[ "$status" -eq 1 ]
	[[ "$output" == *"dir.pth: cannot read as a PyTorch file: a folder, not a file"* ]]
	# truncated: a zip without its central directory, a legacy file without its storages
	head -c 20000 "$FX/zip/a.pth" > tz.pth
	run "$IMP" -H 8 -W 8 tz.pth -o m.bin
	[ "$status" -eq 1 ]
	[[ "$output" == "pcnn-import: tz.pth: cannot read as a PyTorch file: damaged zip archive"* ]]
	head -c 45000 "$FX/legacy/a.pth" > tl.pth
	run "$IMP" -H 8 -W 8 tl.pth -o m.bin
	[ "$status" -eq 1 ]
	[[ "$output" == "pcnn-import: tl.pth: cannot read as a PyTorch file: truncated checkpoint"* ]]
	# a list of tensors, not a dict
	for fmt in zip legacy; do
		run "$IMP" "$FX/$fmt/lst.pth" -o m.bin
		[ "$status" -eq 1 ]
		[[ "$output" == *"$fmt/lst.pth: cannot read as a PyTorch file: the checkpoint holds no dictionary of tensors"* ]]
	done
	[ ! -e m.bin ]
}

@test "import: every accepted input gives the Python tool's model file, byte for byte (zip and legacy)" {
	n=0
	while IFS=: read -r name opts; do
		for fmt in zip legacy; do
			[ -f "$FX/$fmt/$name.pth" ] || continue
			# shellcheck disable=SC2086
			run "$IMP" $opts "$FX/$fmt/$name.pth" -o "$name.$fmt.model"
			[ "$status" -eq 0 ] || { echo "$fmt/$name.pth: $output"; return 1; }
			cmp "$name.$fmt.model" "$FX/expect/$name.model" || { echo "$fmt/$name.pth: other bytes"; return 1; }
			n=$((n + 1))
		done
	done <<< "$ACCEPTED"
	[ "$n" -eq 23 ]
}

@test "import: the summary line says what was read" {
	run --separate-stderr "$IMP" -H 8 -W 8 "$FX/zip/a.pth" -o a.model
	[ "$status" -eq 0 ]
	[ "$stderr" = "pcnn-import: a.model: R=1 F=2 M=1 K=3 H=8 W=8, 187 tensors" ]
	run --separate-stderr "$IMP" "$FX/legacy/fi.pth" -o fi.model
	[ "$stderr" = "pcnn-import: fi.model: R=1 F=2 M=1 K=3 H=8 W=8, 204 tensors, conditioning film,input" ]
	run "$PCNN_BIN/pcnn-info" fi.model
	[[ "$output" == *"conditioning: film,input"* ]]
	[[ "$output" == *"option imported_from: fi.pth"* ]]
	run --separate-stderr "$IMP" -K 3 --classes cat,dog,owl "$FX/zip/n.pth" -o n.model
	[ "$stderr" = "pcnn-import: n.model: R=1 F=2 M=1 K=3 H=32 W=32, 187 tensors (class terms zero: none in the input)" ]
	run "$PCNN_BIN/pcnn-info" n.model
	[[ "$output" == *"classes: 3 (cat, dog, owl)"* ]]
	# --unsafe-load is accepted and changes nothing (the pickle is never run)
	run "$IMP" --unsafe-load -H 8 -W 12 "$FX/zip/msd.pth" -o msd.model
	[ "$status" -eq 0 ]
	cmp msd.model "$FX/expect/msd.model"
}

@test "import: a class image stored as embedding.weight (K, 3*H*W) is read as class_map" {
	# (2, 288): 8 x 12 images, not square, so -H (or -W) is needed
	run "$IMP" "$FX/zip/emb.pth" -o m.bin
	[ "$status" -eq 1 ]
	[[ "$output" == *"embedding.weight has shape (2, 288), not a class image (K, 3*H*W) with H and W multiples of 4 (give -H and -W when it is not square)"* ]]
	[ ! -e m.bin ]
	run --separate-stderr "$IMP" -H 8 "$FX/zip/emb.pth" -o emb.model
	[ "$status" -eq 0 ]
	[ "$stderr" = "pcnn-import: emb.model: R=1 F=2 M=1 K=2 H=8 W=12, 188 tensors, conditioning input (class_map from embedding.weight)" ]
	run "$PCNN_TEST_BIN/pcnn-modeldiff" emb.model "$FX/expect/ci.model"
	[ "$status" -eq 0 ]
	[[ "$output" == *identical* ]]
	run "$IMP" -W 12 "$FX/zip/emb.pth" -o emb2.model
	[ "$status" -eq 0 ]
	cmp emb.model emb2.model
	# (3, 192): square, 8 x 8 without options; other sizes refused
	run "$IMP" "$FX/zip/embsq.pth" -o embsq.model
	[ "$status" -eq 0 ]
	run "$PCNN_TEST_BIN/pcnn-modeldiff" embsq.model "$FX/expect/fi.model"
	[ "$status" -eq 0 ]
	[[ "$output" == *identical* ]]
	run "$IMP" -H 8 -W 12 "$FX/zip/embsq.pth" -o m.bin
	[ "$status" -eq 1 ]
	[[ "$output" == *"embedding.weight has shape (3, 192), not a class image (K, 3*H*W) with H and W multiples of 4 for the -H/-W given"* ]]
	[ ! -e m.bin ]
}

@test "import: unknown, missing and misshapen tensors are refused, naming them" {
	run "$IMP" "$FX/legacy/x.pth" -o m.bin
	[ "$status" -eq 1 ]
	[[ "$output" == "pcnn-import: $FX/legacy/x.pth: 1 unknown tensor(s), e.g. up_layers.0.u_stream.0.film.weight (for R=1 F=2 M=1; keys must be as in SPEC §3)" ]]
	run "$IMP" "$FX/legacy/d.pth" -o m.bin
	[ "$status" -eq 1 ]
	[[ "$output" == *"d.pth: 1 missing tensor(s), e.g. nin_out.lin_a.bias (for R=1 F=2 M=1 K=2)" ]]
	run "$IMP" "$FX/legacy/s.pth" -o m.bin
	[ "$status" -eq 1 ]
	[[ "$output" == *"s.pth: tensor nin_out.lin_a.bias has shape (7,), expected (10,) (for R=1 F=2 M=1 K=2)" ]]
	run "$IMP" "$FX/legacy/dh.pth" -o m.bin
	[ "$status" -eq 1 ]
	[[ "$output" == *"dh.pth: 1 missing tensor(s), e.g. down_layers.1.ul_stream.0.hs"* ]]
	run "$IMP" "$FX/legacy/both.pth" -o m.bin
	[ "$status" -eq 1 ]
	[[ "$output" == *"both.pth: nin_out.lin_a has both .weight and .weight_v/.weight_g" ]]
	run "$IMP" "$FX/legacy/cm.pth" -o m.bin
	[ "$status" -eq 1 ]
	[[ "$output" == *"cm.pth: class_map has shape (2, 3, 8, 10), expected (K, 3, H, W) with H and W multiples of 4" ]]
	for fmt in zip legacy; do
		run "$IMP" "$FX/$fmt/dup.pth" -o m.bin
		[ "$status" -eq 1 ]
		[[ "$output" == *"$fmt/dup.pth: tensor nin_out.lin_a.bias appears twice (with and without 'module.')" ]]
		run "$IMP" "$FX/$fmt/nt.pth" -o m.bin
		[ "$status" -eq 1 ]
		[[ "$output" == *"$fmt/nt.pth: entry 'step' is not a named tensor (is this a state_dict?)" ]]
	done
	[ ! -e m.bin ]
}

@test "import: options that contradict the file are refused" {
	run "$IMP" -H 16 "$FX/zip/ci.pth" -o m.bin
	[ "$status" -eq 1 ]
	[[ "$output" == *"ci.pth: the class map (class_map) is for 8x12 images, -H says 16" ]]
	run "$IMP" -W 8 "$FX/zip/ci.pth" -o m.bin
	[ "$status" -eq 1 ]
	[[ "$output" == *"the class map (class_map) is for 8x12 images, -W says 8" ]]
	run "$IMP" -K 4 "$FX/zip/a.pth" -o m.bin
	[ "$status" -eq 1 ]
	[[ "$output" == *"a.pth: the class terms (.hw) are for 3 classes, -K says 4" ]]
	run "$IMP" -K 3 --classes a,b "$FX/zip/n.pth" -o m.bin
	[ "$status" -eq 2 ]
	[[ "$output" == *"n.pth: --classes names 2 classes, the model has 3"* ]]
	run "$IMP" --classes a,b "$FX/zip/a.pth" -o m.bin
	[ "$status" -eq 2 ]
	[[ "$output" == *"--classes names 2 classes, the model has 3"* ]]
	[ ! -e m.bin ]
}

@test "import: stdin to stdout, and a refused input leaves the previous model file alone" {
	run --separate-stderr bash -c '"$0" -H 8 -W 12 - -o - < "$1" > w.model' "$IMP" "$FX/zip/w.pth"
	[ "$status" -eq 0 ]
	[ "$stderr" = "pcnn-import: <stdout>: R=1 F=2 M=1 K=2 H=8 W=12, 187 tensors" ]
	run "$PCNN_TEST_BIN/pcnn-modeldiff" w.model "$FX/expect/w.model"
	[ "$status" -eq 0 ]
	[[ "$output" == *identical* ]]
	run "$PCNN_BIN/pcnn-info" w.model
	[[ "$output" == *"option imported_from: <stdin>"* ]]
	mkdir out
	cp "$FX/expect/a.model" out/keep.model
	run "$IMP" "$FX/legacy/x.pth" -o out/keep.model
	[ "$status" -eq 1 ]
	cmp out/keep.model "$FX/expect/a.model"
	[ "$(ls -A out)" = keep.model ]
}

@test "import: a full disk is an error, for either tool" {
	run "$IMP" -H 8 -W 8 "$FX/zip/a.pth" -o /dev/full
	[ "$status" -eq 1 ]
	[[ "$output" == "pcnn-import: /dev/full: "*"No space left on device"* ]]
	run "$EXP" "$FX/expect/a.model" -o /dev/full
	[ "$status" -eq 1 ]
	[[ "$output" == "pcnn-export: /dev/full: "*"No space left on device"* ]]
	run bash -c '"$0" "$1" -o - > /dev/full' "$EXP" "$FX/expect/a.model"
	[ "$status" -eq 1 ]
	[[ "$output" == *"No space left on device"* ]]
}

@test "export: writes torch.save's bytes (up to torch's central directory; then a byteorder record)" {
	for m in a fi; do
		run --separate-stderr "$EXP" "$FX/expect/$m.model" -o "$m.pth"
		[ "$status" -eq 0 ]
		n=$(cd_offset "$FX/expect/$m.pth")
		[ "$n" -gt 1000 ]
		cmp -n "$n" "$m.pth" "$FX/expect/$m.pth"
		# and not beyond: pcnn adds archive/byteorder, which torch >= 2.1 writes
		run cmp "$m.pth" "$FX/expect/$m.pth"
		[ "$status" -eq 1 ]
		grep -q archive/byteorder "$m.pth"
	done
	[ "$stderr" = "pcnn-export: fi.pth: 204 tensors, R=1 F=2 M=1 K=3, conditioning film,input" ]
	# stdin to stdout: the same bytes
	"$EXP" - -o - < "$FX/expect/a.model" > s.pth
	cmp s.pth a.pth
}

@test "export: --polyak exports the Polyak copy, and says so when there is none" {
	run "$EXP" --polyak "$FX/expect/a.model" -o p.pth
	[ "$status" -eq 1 ]
	[[ "$output" == *"a.model: no Polyak weights (polyak.down_layers.0.u_stream.0.hw missing); export without --polyak" ]]
	[ ! -e p.pth ]
	run --separate-stderr "$EXP" --polyak "$FX/pk.model" -o p.pth
	[ "$status" -eq 0 ]
	[ "$stderr" = "pcnn-export: p.pth: 187 tensors, R=1 F=2 M=1 K=3 (Polyak weights)" ]
	cmp -n "$(cd_offset "$FX/expect/pk.polyak.pth")" p.pth "$FX/expect/pk.polyak.pth"
	# without --polyak the raw weights: a.model's
	"$EXP" "$FX/pk.model" -o raw.pth
	cmp -n "$(cd_offset "$FX/expect/a.pth")" raw.pth "$FX/expect/a.pth"
}

@test "export: pcnn-import reads the export back to the same model file, byte for byte" {
	# the expected model files were imported from files of these names (imported_from)
	while IFS=: read -r name opts; do
		case "$name" in a | fi | ci | fsc | st | n) ;; *) continue ;; esac
		"$EXP" "$FX/expect/$name.model" -o "$name.pth"
		# shellcheck disable=SC2086
		run "$IMP" $opts "$name.pth" -o "$name.model"
		[ "$status" -eq 0 ] || { echo "$name: $output"; return 1; }
		cmp "$name.model" "$FX/expect/$name.model" || { echo "$name: other bytes"; return 1; }
	done <<< "$ACCEPTED"
	[ -f fsc.model ]
	[ -f n.model ]
}

@test "export: damaged model files are refused, naming the file" {
	cp "$FX/expect/a.model" m.model
	chmod u+w m.model
	printf 'X' | dd of=m.model bs=1 seek=300 conv=notrunc 2>/dev/null
	run "$EXP" m.model -o m.pth
	[ "$status" -eq 1 ]
	[[ "$output" == "pcnn-export: m.model: checksum mismatch"* ]]
	head -c 1000 "$FX/expect/a.model" > t.model
	run "$EXP" t.model -o m.pth
	[ "$status" -eq 1 ]
	[[ "$output" == "pcnn-export: t.model: "* ]]
	echo "PCNNDATA" > bad.model
	run "$EXP" bad.model -o m.pth
	[ "$status" -eq 1 ]
	[[ "$output" == *"bad.model: this is a pcnn data file, not a model file"* ]]
	run "$EXP" nothere.model -o m.pth
	[ "$status" -eq 1 ]
	[ "$output" = "pcnn-export: nothere.model: No such file or directory" ]
	# a model file container that is not a whole network
	"$PCNN_TEST_BIN/pcnn-mkdata" -m -o c.model
	run "$EXP" c.model -o m.pth
	[ "$status" -eq 1 ]
	[[ "$output" == "pcnn-export: c.model: missing parameter down_layers.0.u_stream.0.hw (damaged model file?)" ]]
	[ ! -e m.pth ]
}

@test "import: pcnn-score on imported models = PyTorch's log p(x|c) (1e-4 relative)" {
	for m in sc fsc; do
		opts=; [ "$m" = sc ] && opts="-H 8 -W 12"
		# shellcheck disable=SC2086
		"$IMP" $opts "$FX/zip/$m.pth" -o "$m.model" 2> /dev/null
		run --separate-stderr "$PCNN_BIN/pcnn-score" "$m.model" "$FX/d.bin"
		[ "$status" -eq 0 ] || { echo "$stderr"; return 1; }
		echo "$output" > "$m.tsv"
		run close_scores "$m.tsv" "$FX/expect/$m.scores.tsv" 1e-4
		[ "$status" -eq 0 ] || { echo "$m: $output"; return 1; }
	done
}

@test "import: weight norm removed (plain .weight) gives the same log-likelihoods (1e-5 relative)" {
	"$IMP" -H 8 -W 12 "$FX/zip/b.pth" -o b.model 2> /dev/null
	"$IMP" -H 8 -W 12 "$FX/zip/p.pth" -o p.model 2> /dev/null
	run "$PCNN_TEST_BIN/pcnn-modeldiff" b.model p.model
	[ "$status" -eq 1 ]   # other v and g, the same layers
	"$PCNN_TEST_BIN/pcnn-mkdata" -H 8 -W 12 -K 2 -n 6 -o d2.bin
	"$PCNN_BIN/pcnn-score" b.model d2.bin > b.tsv
	"$PCNN_BIN/pcnn-score" p.model d2.bin > p.tsv
	run close_scores p.tsv b.tsv 1e-5
	[ "$status" -eq 0 ] || { echo "$output"; return 1; }
}

@test "export: torch.load(weights_only=True) reads the export; same tensors, same log p(x|c)" {
	[ -x "$PY" ] || skip "no $PY (this one check needs PyTorch; the others run from fixtures)"
	"$PY" -c 'import torch, numpy' 2> /dev/null ||
		skip "no PyTorch for $PY (this one check needs it; the others run from fixtures)"
	"$IMP" "$FX/zip/fsc.pth" -o fsc.model 2> /dev/null
	"$EXP" fsc.model -o fsc.pth 2> /dev/null
	"$PCNN_BIN/pcnn-score" fsc.model "$FX/d.bin" > fsc.tsv
	run "$PY" "$PCNN_ROOT/tests/reference/import_check.py" torch-load fsc.model fsc.pth "$FX/d.bin" fsc.tsv
	[ "$status" -eq 0 ] || { echo "$output"; return 1; }
	[[ "$output" == *"loaded 327 tensors"* ]]
}
