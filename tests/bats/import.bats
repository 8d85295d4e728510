#!/usr/bin/env bats
# pcnn-import / pcnn-export: PyTorch state_dict <-> pcnn model file. Tests that need
# PyTorch skip when /usr/bin/python3 cannot import torch (CI has none) or when
# PCNN_SKIP_TORCH is set (each torch start costs ~2 s of CPU; ~1 min for this file).

PY=/usr/bin/python3
REF="$PCNN_ROOT/tests/reference"

need_python() {
	[ -x "$PY" ] || skip "no $PY"
}

need_torch() {
	need_python
	[ -z "${PCNN_SKIP_TORCH:-}" ] || skip "PCNN_SKIP_TORCH is set"
	"$PY" -c 'import torch' 2>/dev/null || skip "no PyTorch ($PY cannot import torch)"
}

# One PyTorch run makes every input the tests use (importing torch is the slow part).
setup_file() {
	if [ -z "${PCNN_SKIP_TORCH:-}" ] && [ -x "$PY" ] && "$PY" -c 'import torch' 2>/dev/null; then
		"$PY" "$REF/import_check.py" make-all "$BATS_FILE_TMPDIR"
	fi
}

setup() {
	cd "$BATS_TEST_TMPDIR"
	F="$BATS_FILE_TMPDIR"
}

@test "import: tools/pcnn-import and pcnn-export carry the current modelfile block" {
	need_python
	run "$PY" "$REF/sync_tools.py" --check
	[ "$status" -eq 0 ] || { echo "$output"; false; }
}

@test "import: -h prints usage on stdout, exit 0" {
	need_python
	run "$PCNN_BIN/pcnn-import" -h
	[ "$status" -eq 0 ]
	[[ "$output" == usage:\ pcnn-import* ]]
	run "$PCNN_BIN/pcnn-export" -h
	[ "$status" -eq 0 ]
	[[ "$output" == usage:\ pcnn-export* ]]
}

@test "import: usage errors exit 2" {
	need_python
	run "$PCNN_BIN/pcnn-import"
	[ "$status" -eq 2 ]
	[[ "$output" == *"the following arguments are required"* ]]
	run "$PCNN_BIN/pcnn-import" -H 30 x.pth -o m.bin
	[ "$status" -eq 2 ]
	[[ "$output" == *"-H 30: must be a multiple of 4"* ]]
	run "$PCNN_BIN/pcnn-export" m.bin
	[ "$status" -eq 2 ]
}

@test "import: missing and non-PyTorch input files" {
	need_torch
	run "$PCNN_BIN/pcnn-import" nothere.pth -o m.bin
	[ "$status" -eq 1 ]
	[ "$output" = "pcnn-import: nothere.pth: No such file or directory" ]
	echo "not a checkpoint" > junk.pth
	run "$PCNN_BIN/pcnn-import" junk.pth -o m.bin
	[ "$status" -eq 1 ]
	[[ "$output" == "pcnn-import: junk.pth: cannot read as a PyTorch file"* ]]
	[ ! -e m.bin ]
}

@test "import: random model -> model file -> export gives identical tensors" {
	need_torch
	cp "$F/a.pth" a.pth
	run "$PCNN_BIN/pcnn-import" -H 8 -W 8 a.pth -o a.model
	[ "$status" -eq 0 ]
	[[ "$output" == *"R=1 F=4 M=2 K=3 H=8 W=8, 187 tensors"* ]]
	[[ "$output" != *conditioning* ]]
	[ "$(head -c 8 a.model)" = PCNNMODL ]
	run "$PCNN_BIN/pcnn-info" a.model
	[[ "$output" == *"conditioning: base"* ]]
	run "$PCNN_BIN/pcnn-export" a.model -o b.pth
	[ "$status" -eq 0 ]
	run "$PY" "$REF/import_check.py" same-pth a.pth b.pth
	[ "$status" -eq 0 ] || { echo "$output"; false; }
}

@test "import: film and input variants (SPEC 3b) -> model file -> export give identical tensors" {
	need_torch
	cp "$F/fi.pth" fi.pth
	cp "$F/fo.pth" fo.pth
	cp "$F/ci.pth" ci.pth
	# film + input: hs in every block and the class map; H x W come from class_map
	run "$PCNN_BIN/pcnn-import" fi.pth -o fi.model
	[ "$status" -eq 0 ]
	[[ "$output" == *"R=1 F=4 M=2 K=3 H=8 W=8, 204 tensors, conditioning film,input"* ]]
	run "$PCNN_BIN/pcnn-info" fi.model
	[[ "$output" == *"conditioning: film,input"* ]]
	run "$PCNN_BIN/pcnn-export" fi.model -o fi2.pth
	[ "$status" -eq 0 ]
	[[ "$output" == *"204 tensors, R=1 F=4 M=2 K=3, conditioning film,input"* ]]
	run "$PY" "$REF/import_check.py" same-pth fi.pth fi2.pth
	[ "$status" -eq 0 ] || { echo "$output"; false; }
	# each alone
	run "$PCNN_BIN/pcnn-import" -H 8 -W 8 fo.pth -o fo.model
	[[ "$output" == *"K=2 H=8 W=8, 203 tensors, conditioning film"* ]]
	"$PCNN_BIN/pcnn-export" fo.model -o fo2.pth
	run "$PY" "$REF/import_check.py" same-pth fo.pth fo2.pth
	[ "$status" -eq 0 ] || { echo "$output"; false; }
	run "$PCNN_BIN/pcnn-import" ci.pth -o ci.model
	[[ "$output" == *"K=2 H=8 W=12, 188 tensors, conditioning input"* ]]
	run "$PCNN_BIN/pcnn-info" ci.model
	[[ "$output" == *"conditioning: input"* ]]
	"$PCNN_BIN/pcnn-export" ci.model -o ci2.pth
	run "$PY" "$REF/import_check.py" same-pth ci.pth ci2.pth
	[ "$status" -eq 0 ] || { echo "$output"; false; }
}

@test "import: a class map against -H, and a film model without every hs, are refused" {
	need_torch
	cp "$F/ci.pth" ci.pth
	cp "$F/dh.pth" dh.pth
	run "$PCNN_BIN/pcnn-import" -H 16 ci.pth -o m.bin
	[ "$status" -eq 1 ]
	[[ "$output" == *"the class map (class_map) is for 8x12 images, -H says 16"* ]]
	run "$PCNN_BIN/pcnn-import" dh.pth -o m.bin
	[ "$status" -eq 1 ]
	[[ "$output" == *"1 missing tensor(s), e.g. down_layers.1.ul_stream.0.hs"* ]]
	[ ! -e m.bin ]
}

@test "import: R=2 with module. prefix inside {'state_dict': ...}, stdin to stdout" {
	need_torch
	cp "$F/r2.pth" a.pth
	cp "$F/w.pth" w.pth
	"$PCNN_BIN/pcnn-import" -H 8 -W 8 a.pth -o a.model
	"$PCNN_BIN/pcnn-import" -H 8 -W 8 - -o - < w.pth > w.model
	"$PCNN_BIN/pcnn-export" - -o - < w.model > w2.pth
	run "$PY" "$REF/import_check.py" same-pth a.pth w2.pth
	[ "$status" -eq 0 ] || { echo "$output"; false; }
}

@test "import: no class terms: -K gives zero class terms, --classes names them" {
	need_torch
	cp "$F/n.pth" n.pth
	run "$PCNN_BIN/pcnn-import" -K 3 --classes cat,dog,owl n.pth -o n.model
	[ "$status" -eq 0 ]
	[[ "$output" == *"K=3"*"class terms zero"* ]]
	grep -q cat n.model
	"$PCNN_BIN/pcnn-export" n.model -o n2.pth
	run "$PY" "$REF/import_check.py" hw-zero n2.pth 3
	[ "$status" -eq 0 ] || { echo "$output"; false; }
	run "$PCNN_BIN/pcnn-import" -K 3 --classes a,b n.pth -o x.model
	[ "$status" -eq 2 ]
	[[ "$output" == *"--classes names 2 classes, the model has 3"* ]]
}

@test "import: -K that contradicts the class terms is refused" {
	need_torch
	cp "$F/a.pth" a.pth
	run "$PCNN_BIN/pcnn-import" -K 4 a.pth -o a.model
	[ "$status" -eq 1 ]
	[[ "$output" == *"class terms (.hw) are for 3 classes, -K says 4"* ]]
}

@test "import: weight norm removed (plain .weight) gives the same log-likelihoods" {
	need_torch
	cp "$F/b.pth" a.pth
	cp "$F/p.pth" p.pth
	run "$PCNN_BIN/pcnn-import" -H 8 -W 8 p.pth -o p.model
	[ "$status" -eq 0 ]
	"$PCNN_BIN/pcnn-export" p.model -o p2.pth
	run "$PY" "$REF/import_check.py" same-loglik a.pth p2.pth 8 8
	[ "$status" -eq 0 ] || { echo "$output"; false; }
}

@test "import: unknown, missing and misshapen tensors are refused" {
	need_torch
	cp "$F/x.pth" x.pth
	run "$PCNN_BIN/pcnn-import" x.pth -o m.bin
	[ "$status" -eq 1 ]
	[[ "$output" == "pcnn-import: x.pth: 1 unknown tensor(s), e.g. up_layers.0.u_stream.0.film.weight"* ]]
	cp "$F/d.pth" d.pth
	run "$PCNN_BIN/pcnn-import" d.pth -o m.bin
	[ "$status" -eq 1 ]
	[[ "$output" == *"1 missing tensor(s), e.g. nin_out.lin_a.bias"* ]]
	cp "$F/s.pth" s.pth
	run "$PCNN_BIN/pcnn-import" s.pth -o m.bin
	[ "$status" -eq 1 ]
	[[ "$output" == *"tensor nin_out.lin_a.bias has shape (7,), expected (20,)"* ]]
	[ ! -e m.bin ]
}

@test "import: a full disk is an error and leaves the previous model intact" {
	need_torch
	cp "$F/b.pth" a.pth
	run "$PCNN_BIN/pcnn-import" a.pth -o /dev/full
	[ "$status" -eq 1 ]
	[ "$output" = "pcnn-import: /dev/full: No space left on device (nothing written)" ]
	run "$PCNN_BIN/pcnn-export" "$PCNN_ROOT/tests/fixtures/golden/small.model" -o /dev/full
	[ "$status" -eq 1 ]
	[[ "$output" == *"No space left on device"* ]]
}

@test "export: damaged model files are refused" {
	need_torch
	cp "$PCNN_ROOT/tests/fixtures/golden/small.model" m.model
	chmod u+w m.model
	printf 'X' | dd of=m.model bs=1 seek=300 conv=notrunc 2>/dev/null
	run "$PCNN_BIN/pcnn-export" m.model -o m.pth
	[ "$status" -eq 1 ]
	[[ "$output" == "pcnn-export: m.model: checksum mismatch"* ]]
	head -c 1000 "$PCNN_ROOT/tests/fixtures/golden/small.model" > t.model
	run "$PCNN_BIN/pcnn-export" t.model -o m.pth
	[ "$status" -eq 1 ]
	echo "PCNNDATA" > bad.model
	run "$PCNN_BIN/pcnn-export" bad.model -o m.pth
	[ "$status" -eq 1 ]
	[[ "$output" == *"not a pcnn model file (bad magic)"* ]]
	[ ! -e m.pth ]
}

@test "export: --polyak exports the Polyak copy, and says so when there is none" {
	need_torch
	run "$PCNN_BIN/pcnn-export" --polyak "$PCNN_ROOT/tests/fixtures/golden/small.model" -o p.pth
	[ "$status" -eq 1 ]
	[[ "$output" == *"no Polyak weights"* ]]
	"$PY" "$REF/import_check.py" add-polyak "$PCNN_ROOT/tests/fixtures/golden/small.model" p.model
	run "$PCNN_BIN/pcnn-export" --polyak p.model -o p.pth
	[ "$status" -eq 0 ]
	run "$PY" "$REF/import_check.py" check-polyak p.model p.pth
	[ "$status" -eq 0 ] || { echo "$output"; false; }
}

@test "import: pcnn-score on an imported film+input model = PyTorch log p(x|c) (1e-4 relative)" {
	need_torch
	[ -x "$PCNN_BIN/pcnn-score" ] || skip "pcnn-score not built"
	cp "$F/fsc.pth" a.pth
	"$PCNN_BIN/pcnn-import" a.pth -o a.model
	cp "$F/d.bin" d.bin
	"$PCNN_BIN/pcnn-score" a.model d.bin > s.tsv 2> err || { cat err; false; }
	run "$PY" "$REF/import_check.py" compare-scores a.pth d.bin s.tsv
	[ "$status" -eq 0 ] || { echo "$output"; false; }
}

@test "import: pcnn-score on an imported model = PyTorch log p(x|c) (1e-4 relative)" {
	need_torch
	[ -x "$PCNN_BIN/pcnn-score" ] || skip "pcnn-score not built"
	cp "$F/sc.pth" a.pth
	"$PCNN_BIN/pcnn-import" -H 8 -W 12 a.pth -o a.model
	cp "$F/d.bin" d.bin
	"$PCNN_BIN/pcnn-score" a.model d.bin > s.tsv 2> err || { cat err; false; }
	run "$PY" "$REF/import_check.py" compare-scores a.pth d.bin s.tsv
	[ "$status" -eq 0 ] || { echo "$output"; false; }
}
