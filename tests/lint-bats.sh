#!/usr/bin/env bash
# tests/lint-bats.sh — refuses bats lines that look like assertions but can never fail.
#
#   tests/lint-bats.sh tests/bats/*.bats      exit 0 when clean, 1 with "file:line: why" lines
#
# bats runs a test under `set -e`, and bash's errexit ignores a command negated with `!`
# and every command of an `a && b` list but the last, unless it is the test's last command:
#
#   ! cmp -s a.bin b.bin        # passes whether or not the files differ
#   [ -z "$x" ] && [ -z "$y" ]  # passes when $x is not empty
#   cmp <(tool a) <(tool b)     # passes when both tools fail (empty equals empty)
#
# Refused, in a test or in setup/teardown (helpers are functions whose status is their last
# command; they are not checked for && lists):
#   1. a command that starts with `!` (anywhere in the file): write
#      `run cmp -s a b; [ "$status" -eq 1 ]`, or `if cmd; then false; fi`;
#   2. an `a && b` list whose last command is not a control action: allowed are
#      `cond && break|continue|return|skip|exit ...` and `cond && var=value`; `[[ a && b ]]`,
#      `if`/`while` conditions and quoted text (awk programs) are not lists;
#   3. a process substitution `<(...)` (its status is lost): write the output to a file
#      with a checked command first.
# Heredoc bodies and comments are skipped.
set -u

lint_file() {
	awk -v FILE="$1" '
	function fail(why) { printf "%s:%d: %s: %s\n", FILE, start, why, orig; bad = 1 }
	# The line without quoted text, comments, [[ ]] tests and $(( )) arithmetic. A quote
	# left open goes on to the next line (a multi-line awk program).
	function strip(s,    out, i, c, q, n, rest, e) {
		out = ""; q = open_quote; n = length(s)
		for (i = 1; i <= n; i++) {
			c = substr(s, i, 1)
			if (q == "") {
				if (c == "\\") { out = out "xx"; i++; continue }
				if (c == "\047" || c == "\"") { q = c; out = out "Q"; continue }
				if (c == "#" && (i == 1 || substr(s, i - 1, 1) ~ /[ \t;]/)) break
				out = out c
			} else {
				if (q == "\"" && c == "\\") { i++; continue }
				if (c == q) q = ""
			}
		}
		open_quote = q
		while (match(out, /\[\[[ \t]/)) {
			rest = substr(out, RSTART)
			e = index(rest, " ]]")
			if (!e) break
			out = substr(out, 1, RSTART - 1) "T" substr(rest, e + 3)
		}
		gsub(/\$\(\([^)]*\)\)/, "N", out)
		return out
	}
	function check(line, code,    n, segs, k, seg, tail) {
		if (line ~ /^[ \t]*![ \t]/ || line ~ /(;|[ \t]then|[ \t]do|[ \t]else|\{)[ \t]+![ \t]/ ||
		    line ~ /^[ \t]*(then|do|else)[ \t]+![ \t]/)
			fail("a command negated with ! never fails a bats test")
		if (!body) return
		if (code ~ /<\(/)
			fail("a process substitution hides its command'"'"'s status (write it to a file first)")
		n = split(line, segs, /;/)
		for (k = 1; k <= n; k++) {
			seg = segs[k]
			sub(/^[ \t]*((then|do|else|\{|\()[ \t]+)*/, "", seg)
			if (seg ~ /^(if|elif|while|until)[ \t]/ || seg !~ /&&/) continue
			tail = seg
			sub(/.*&&[ \t]*/, "", tail)
			sub(/[ \t]*(\|\||\||\)|\}).*$/, "", tail)
			if (tail ~ /^(break|continue|return|skip|exit)([ \t]|$)/) continue
			if (tail ~ /^[A-Za-z_][A-Za-z_0-9]*(\[[^]]*\])?\+?=/) continue
			fail("an && list fails a bats test only as its last command (split it, or use if)")
		}
	}
	heredoc != "" {
		t = $0
		if (heredoc_tabs) sub(/^\t+/, "", t)
		if (t == heredoc) heredoc = ""
		next
	}
	{
		if (cont == "") start = NR
		if ($0 ~ /\\$/) { cont = cont substr($0, 1, length($0) - 1) " "; next }
		orig = cont $0
		cont = ""
		if (orig ~ /^@test / || orig ~ /^(setup|teardown|setup_file|teardown_file)[ \t]*\(\)/) body = 1
		else if (orig ~ /^}/) body = 0
		# for <(: the line without plain text in quotes and comments (a "$(... <(...))" counts)
		code = orig
		gsub(/"[^"$]*"/, "", code)
		gsub(/\047[^\047]*\047/, "", code)
		sub(/(^|[ \t])#.*/, "", code)
		check(strip(orig), code)
		if (match(orig, /(^|[^<])<<-?[ \t]*["\047]?[A-Za-z_]+/)) {   # not a <<< here-string
			heredoc = substr(orig, RSTART, RLENGTH)
			sub(/^[^<]/, "", heredoc)
			heredoc_tabs = heredoc ~ /^<<-/
			gsub(/^<<-?[ \t]*["\047]?/, "", heredoc)
		}
	}
	END { exit bad }' "$1"
}

rc=0
for f in "$@"; do
	lint_file "$f" || rc=1
done
exit $rc
