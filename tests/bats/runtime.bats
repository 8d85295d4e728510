#!/usr/bin/env bats
# What a pcnn installation runs on: compiled programs only (issue 24). `make install`
# installs build/bin; a tool written in Python (or any interpreter) would need packages
# that `make deps` does not install, and would fail on a fresh machine while passing on
# one where someone installed them by hand.

setup() {
	cd "$BATS_TEST_TMPDIR"
}

@test "runtime: every tool in build/bin is an ELF executable (or a shell script needing only sh)" {
	n=0
	for f in "$PCNN_BIN"/*; do
		n=$((n + 1))
		[ -x "$f" ] || { echo "$f: not executable"; return 1; }
		if [ "$(head -c 4 "$f" | od -An -c | tr -d ' ')" = '177ELF' ]; then
			continue
		fi
		case "$(head -n 1 "$f")" in
		'#!/bin/sh' | '#!/bin/sh '*) ;;
		*) echo "$f: neither an ELF executable nor a /bin/sh script: $(head -n 1 "$f")"; return 1 ;;
		esac
	done
	[ "$n" -ge 9 ]
}

@test "runtime: every tool's source is C (tools/pcnn-*.c), so make builds it" {
	for f in "$PCNN_ROOT"/tools/*; do
		case "$f" in
		*/pcnn-*.c) [ -x "$PCNN_BIN/$(basename "$f" .c)" ] || { echo "$f: not built"; return 1; } ;;
		*) echo "$f: a tool that is not C"; return 1 ;;
		esac
	done
}

@test "runtime: the tools link no interpreter library" {
	for f in "$PCNN_BIN"/*; do
		run ldd "$f"
		[ "$status" -eq 0 ] || { echo "$f: $output"; return 1; }
		if [[ "$output" == *libpython* || "$output" == *libperl* || "$output" == *libtorch* ]]; then
			echo "$f: $output"
			return 1
		fi
	done
}
