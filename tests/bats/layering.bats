#!/usr/bin/env bats
# The families of libcommon (docs/LAYOUT.md): tests/layering.sh finds every include that
# runs against the layering. It passes on this tree, and each kind of stray include makes
# it fail, naming the file and line.

bats_require_minimum_version 1.5.0

setup() {
	L="$PCNN_ROOT/tests/layering.sh"
	# a copy of the sources to damage
	T="$BATS_TEST_TMPDIR/tree"
	mkdir -p "$T"
	cp -R "$PCNN_ROOT/libcommon" "$PCNN_ROOT/cuda" "$T/"
}

@test "layering: this tree keeps the layering" {
	run "$L" "$PCNN_ROOT"
	[ "$status" -eq 0 ]
	[ -z "$output" ]
}

@test "layering: the copy the other tests damage passes before it is damaged" {
	run "$L" "$T"
	[ "$status" -eq 0 ]
	[ -z "$output" ]
}

@test "layering: io/ including model/ fails, naming the file and line" {
	echo '#include "model/net.h"' >> "$T/libcommon/io/datafile.c"
	run "$L" "$T"
	[ "$status" -eq 1 ]
	[[ "$output" == *"libcommon/io/datafile.c:"*'#include "model/net.h": io/ may not include model/'* ]]
}

@test "layering: nn/ including eval/ or io/ fails" {
	echo '#include "eval/metrics.h"' >> "$T/libcommon/nn/nn_gemm.c"
	echo '#include "io/datafile.h"' >> "$T/libcommon/nn/nn_isa.c"
	run "$L" "$T"
	[ "$status" -eq 1 ]
	[[ "$output" == *"libcommon/nn/nn_gemm.c:"*"nn/ may not include eval/"* ]]
	[[ "$output" == *"libcommon/nn/nn_isa.c:"*"nn/ may not include io/"* ]]
}

@test "layering: eval/ including model/ fails" {
	echo '#include "model/fit.h"' >> "$T/libcommon/eval/metrics.h"
	run "$L" "$T"
	[ "$status" -eq 1 ]
	[[ "$output" == *"libcommon/eval/metrics.h:"*"eval/ may not include model/"* ]]
}

@test "layering: the root including a family fails" {
	echo '#include "io/image.h"' >> "$T/libcommon/util.c"
	run "$L" "$T"
	[ "$status" -eq 1 ]
	[[ "$output" == *"libcommon/util.c:"*"root/ may not include io/"* ]]
}

@test "layering: the backend interface including the graph fails" {
	sed -i 's|#include "model/params.h"|#include "model/net.h"\n&|' "$T/libcommon/model/nn_backend.h"
	grep -q 'model/net.h' "$T/libcommon/model/nn_backend.h"
	run "$L" "$T"
	[ "$status" -eq 1 ]
	[[ "$output" == *"libcommon/model/nn_backend.h:"*"the backend interface knows no graph"* ]]
}

@test "layering: the CUDA backend including the graph fails" {
	echo '#include "model/net.h"' >> "$T/cuda/gate.cu"
	run "$L" "$T"
	[ "$status" -eq 1 ]
	[[ "$output" == *"cuda/gate.cu:"*"the CUDA backend sees the interface"* ]]
}

@test "layering: a header named without its folder, or a file outside the families, fails" {
	echo '#include "datafile.h"' >> "$T/libcommon/io/idx.c"
	touch "$T/libcommon/stray.c"
	run "$L" "$T"
	[ "$status" -eq 1 ]
	[[ "$output" == *'libcommon/io/idx.c:'*'#include "datafile.h": not a libcommon header spelt with its folder'* ]]
	[[ "$output" == *"libcommon/stray.c: outside the families"* ]]
}
