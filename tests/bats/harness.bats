#!/usr/bin/env bats
# The test harness itself: tests/lint-bats.sh refuses assertions that cannot fail (and this
# tree passes it), and tests/run counts a binary that was not built as a failure.

bats_require_minimum_version 1.5.0

setup() {
	LINT="$PCNN_ROOT/tests/lint-bats.sh"
	FX="$PCNN_ROOT/tests/fixtures/lint"
	cd "$BATS_TEST_TMPDIR"
}

@test "harness: every bats file passes tests/lint-bats.sh" {
	run "$LINT" "$PCNN_ROOT"/tests/bats/*.bats
	echo "$output"
	[ "$status" -eq 0 ]
	[ -z "$output" ]
}

@test "harness: bats itself lets '! cmd' and 'a && b' pass mid-test: why the lint exists" {
	run bats --tap "$FX/blind.bats"
	[ "$status" -eq 0 ]
	[[ "$output" == *"ok 1 blind"* ]]
	run "$LINT" "$FX/blind.bats"
	[ "$status" -eq 1 ]
	[ "${#lines[@]}" -eq 3 ]
	[[ "${lines[0]}" == "$FX/blind.bats:3: a command negated with ! never fails a bats test:"* ]]
	[[ "${lines[1]}" == "$FX/blind.bats:4: an && list fails a bats test only as its last command"* ]]
	[[ "${lines[2]}" == "$FX/blind.bats:5: an && list"* ]]
}

@test "harness: the lint refuses each form that cannot fail, naming file and line" {
	run "$LINT" "$FX/bad.bats"
	echo "$output"
	[ "$status" -eq 1 ]
	for n in 4 5 6; do [[ "$output" == *"bad.bats:$n: a command negated with !"* ]]; done
	for n in 7 8 9 12; do [[ "$output" == *"bad.bats:$n: an && list"* ]]; done
	for n in 10 11; do [[ "$output" == *"bad.bats:$n: a process substitution"* ]]; done
	[ "${#lines[@]}" -eq 9 ]
}

@test "harness: the lint accepts real assertions, conditions, control actions, quoted text" {
	run "$LINT" "$FX/good.bats"
	echo "$output"
	[ "$status" -eq 0 ]
	[ -z "$output" ]
}

# A copy of tests/run over a tree of stand-ins: 2 unit tests, a tool, a helper, a bats file.
fake_tree() {
	mkdir -p tree/tests/unit tree/tests/bats tree/tests/tools tree/tools b/tests/bin b/bin
	cp "$PCNN_ROOT/tests/run" tree/tests/run
	touch tree/tests/unit/test_a.c tree/tests/unit/test_b.c tree/tools/pcnn-x.c tree/tools/pcnn-y \
		tree/tests/tools/pcnn-h.c
	printf '@test "one" {\n\ttrue\n}\n' > tree/tests/bats/one.bats
	for b in b/tests/test_a b/tests/test_b b/bin/pcnn-x b/bin/pcnn-y b/tests/bin/pcnn-h; do
		printf '#!/bin/sh\necho "ok 1 - stand-in"\necho 1..1\n' > "$b"
		chmod +x "$b"
	done
}

@test "harness: tests/run fails when a unit binary, a tool or a test helper is not built" {
	fake_tree
	run env BUILD="$PWD/b" tree/tests/run
	[ "$status" -eq 0 ]
	[ "${lines[-1]}" = "3 passed, 0 failed" ]
	rm b/tests/test_b
	run env BUILD="$PWD/b" tree/tests/run
	[ "$status" -eq 1 ]
	[[ "$output" == *"not ok - $PWD/b/tests/test_b is missing (make unit-tests)"* ]]
	[ "${lines[-1]}" = "2 passed, 1 failed" ]
	rm b/bin/pcnn-y b/tests/bin/pcnn-h
	run env BUILD="$PWD/b" tree/tests/run
	[ "$status" -eq 1 ]
	[[ "$output" == *"not ok - $PWD/b/bin/pcnn-y is missing"* ]]
	[[ "$output" == *"not ok - $PWD/b/tests/bin/pcnn-h is missing"* ]]
	[ "${lines[-1]}" = "2 passed, 3 failed" ]
}
