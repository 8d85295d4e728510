#!/bin/sh
# pipelines/quality.sh — `make quality`: runs recipes of `make pipeline` and writes one
# table of what each reaches (a benchmark: minutes to hours, never part of `make test`).
#
#   pipelines/quality.sh [RECIPES_FILE]       default: pipelines/quality.recipes
#
# Each recipe line of the file is   name | DATA | make pipeline knobs ...
# (DATA: fashion, or a folder in the CPEN 455 layout; '#' starts a comment). Each runs
# as `make pipeline-run RUN=quality-<name> DATA=... knobs...` (reusing what a previous
# run of the same knobs left), then its numbers are read from the run folder:
#   validation accuracy and macro-F1   val.report.md (pcnn-argmax)
#   validation bits/dim                val.scores.tsv under the true class
#   best epoch                         pcnn-info of model.bin
#   samples self-classified            logs/gen.log (the model scoring its own samples)
#   samples judged by 5-NN             report.md (nearest real training images; pcnn-gen --judge)
#   test accuracy                      test.report.md (when the test labels are known)
#   training time, whole run           logs/fit.time, the sum of logs/*.time (wall seconds)
# The table goes to stdout and to $QUALITY_OUT (default runs/quality.md), with the machine named.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
recipes=${1:-$here/quality.recipes}
runs=${RUNS_DIR:-runs}
make=${MAKE:-make}
cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)
out=${QUALITY_OUT:-$runs/quality.md}
mkdir -p "$runs"

val_bpd() {   # mean -log p(x | true class) / (H W 3 ln 2) from a score TSV and the image size
	awk -F'\t' -v dims="$2" 'NR > 1 && $2 >= 0 { s -= $($2 + 3); n++ }
		END { if (n) printf "%.4f", s / n / dims / log(2); else printf "-" }' "$1"
}

{
	echo "# pcnn quality: recipes and what they reach"
	echo
	echo "Made by \`make quality\` on $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores ($cpu), pcnn $(git -C "$root" describe --always --dirty 2>/dev/null || echo '?')."
	echo
	echo "| recipe | data | val accuracy | val macro-F1 | val bits/dim | test accuracy | best epoch | samples self-classified | samples 5-NN judged (real val ceiling) | training s | whole run s | knobs |"
	echo "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|"
} > "$out.tmp"

grep -v '^[[:space:]]*\(#\|$\)' "$recipes" | while IFS='|' read -r name data knobs; do
	name=$(echo "$name" | tr -d '[:space:]')
	data=$(echo "$data" | tr -d '[:space:]')
	run=quality-$name
	d=$runs/$run
	echo "pcnn quality: $name: make pipeline-run RUN=$run DATA=$data $knobs" >&2
	# shellcheck disable=SC2086  # knobs are words
	if ! $make --no-print-directory -C "$root" pipeline-run RUN="$run" DATA="$data" $knobs >&2; then
		echo "| $name | $data | failed | | | | | | | | | \`$knobs\` |" >> "$out.tmp"
		continue
	fi
	acc=$(sed -n 's/^- accuracy: \([0-9.]*\).*/\1/p' "$d/val.report.md")
	f1=$(sed -n 's/^- macro-F1: //p' "$d/val.report.md")
	dims=$(sed -n 's/^image size=\([0-9]*\)x\([0-9]*\)/\1 \2/p' "$d/config.txt" | awk '{ print $1 * $2 * 3 }')
	bpd=$(val_bpd "$d/val.scores.tsv" "$dims")
	best=$("${PIPE_BIN:-$root/build/bin}/pcnn-info" "$d/model.bin" | sed -n 's/^best on validation: epoch \([0-9]*\).*/\1/p')
	self=$(sed -n 's/.* \([0-9.]*%\) classified as their class.*/\1/p' "$d/logs/gen.log" | head -n 1)
	judged=$(sed -n 's/^samples judged as their class by [0-9]*-NN over the real training images: \([0-9.]*\) % (real validation images: \([0-9.]*\) %).*/\1 % (\2 %)/p' "$d/report.md" | head -n 1)
	secs=$(cat "$d/logs/fit.time" 2>/dev/null || echo -)
	total=$(cat "$d"/logs/*.time 2>/dev/null | awk '{ s += $1 } END { printf "%.0f", s }')
	tacc=$(sed -n 's/^- accuracy: \([0-9.]*\).*/\1/p' "$d/test.report.md" 2>/dev/null | awk 'NF { printf "%.2f %%", 100 * $1 }')
	printf '| %s | %s | %.2f %% | %s | %s | %s | %s | %s | %s | %s | %s | `%s` |\n' "$name" "$data" \
		"$(echo "$acc" | awk '{ print 100 * $1 }')" "$f1" "$bpd" "${tacc:--}" "${best:--}" "${self:--}" \
		"${judged:--}" "$secs" "$total" "$(echo $knobs)" >> "$out.tmp"
done
mv -f "$out.tmp" "$out"
cat "$out"
