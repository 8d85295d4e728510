#!/usr/bin/env bash
# pipelines/step.sh — runs one step of `make pipeline`: times it, keeps its messages
# in a log, and writes its stdout to a file atomically.
#
#   pipelines/step.sh LOGDIR NAME [-o OUT] -- COMMAND [ARG...]
#
# The command's stderr goes to the terminal and to LOGDIR/NAME.log; with -o its stdout
# goes to OUT.tmp.<pid>, renamed onto OUT only when the command succeeds, so an
# interrupted or failed step never leaves a plausible-looking OUT. On success the wall
# time in seconds goes to LOGDIR/NAME.time (read by pipelines/report.sh).
# Exit status: the command's.
set -u
if [ $# -lt 4 ]; then
	echo "usage: pipelines/step.sh LOGDIR NAME [-o OUT] -- COMMAND [ARG...]" >&2
	exit 2
fi
logdir=$1 name=$2
shift 2
out= tmp=
if [ "$1" = -o ]; then out=$2; shift 2; fi
[ "${1:-}" = -- ] && shift
mkdir -p "$logdir" || exit 1
log=$logdir/$name.log
rm -f "$logdir/$name.time"

trap '[ -n "$tmp" ] && rm -f "$tmp"' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

if [ -n "$out" ]; then
	tmp=$out.tmp.$$
	exec 4>"$tmp" || exit 1
else
	exec 4>&1
fi
start=$(date +%s.%N)
# stdout -> fd 4 (OUT or our stdout); stderr -> tee (log + our stderr).
"$@" 2>&1 1>&4 4>&- | tee "$log" 1>&2 4>&-
rc=${PIPESTATUS[0]}
exec 4>&-
end=$(date +%s.%N)
if [ "$rc" -ne 0 ]; then
	echo "pcnn pipeline: step '$name' failed (exit $rc): $*" >&2
	echo "pcnn pipeline: its messages are in $log" >&2
	exit "$rc"
fi
if [ -n "$out" ]; then
	mv -f "$tmp" "$out" || exit 1
	tmp=
fi
awk -v a="$start" -v b="$end" 'BEGIN { printf "%.1f\n", b - a }' >"$logdir/$name.time"
