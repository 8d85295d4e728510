#!/bin/sh
# pipelines/quality.sh — `make quality`: runs recipes of `make pipeline` and writes one
# table of what each reaches (a benchmark: minutes to hours, never part of `make test`).
#
#   pipelines/quality.sh [RECIPES_FILE]       default: pipelines/quality.recipes
#
# Each recipe line of the file is   name | DATA | make pipeline knobs ...
# (DATA: fashion, or a folder in the CPEN 455 layout; '#' starts a comment). A knob
# SEEDS=1,2,3 (quality.sh's own) runs the recipe once per seed, as RUN=quality-<name>-s<seed>
# SEED=<seed>, and the row gives mean ± standard deviation over them (n - 1 in the sample
# deviation; one run's accuracy on 519 images is uncertain by ±1.7 points, so claims are
# means). Without it one run, RUN=quality-<name>. Each runs as `make pipeline-run RUN=...
# DATA=... knobs...` (reusing what a previous run of the same knobs left), then its numbers
# are read from the run folder:
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
linear=${PCNN_TEST_BIN:-$root/build/tests/bin}/pcnn-linear   # the reference row (make test-tools)

val_bpd() {   # mean -log p(x | true class) / (H W 3 ln 2) from a score TSV and the image size
	awk -F'\t' -v dims="$2" 'NR > 1 && $2 >= 0 { s -= $($2 + 3); n++ }
		END { if (n) printf "%.4f", s / n / dims / log(2); else printf "-" }' "$1"
}

# mean ± sd of the numbers on stdin (one a line; "-" and empty lines skipped), printf'd
# with FMT; "-" when none; the mean alone for one.
stats() {
	awk -v fmt="$1" '$1 != "-" && NF { x[n++] = $1; s += $1 }
		END {
			if (!n) { printf "-"; exit }
			m = s / n; v = 0
			for (i = 0; i < n; i++) v += (x[i] - m) ^ 2
			if (n == 1) printf fmt, m
			else printf fmt " ± " fmt, m, sqrt(v / (n - 1))
		}'
}

# One run's numbers, tab-separated: val accuracy (%), macro-F1, val bits/dim, test accuracy
# (%), best epoch, samples self-classified, 5-NN judged (ceiling), training s, whole run s.
run_numbers() {
	d=$1
	acc=$(sed -n 's/^- accuracy: \([0-9.]*\).*/\1/p' "$d/val.report.md" | awk 'NF { print 100 * $1 }')
	f1=$(sed -n 's/^- macro-F1: //p' "$d/val.report.md")
	dims=$(sed -n 's/^image size=\([0-9]*\)x\([0-9]*\)/\1 \2/p' "$d/config.txt" | awk '{ print $1 * $2 * 3 }')
	bpd=$(val_bpd "$d/val.scores.tsv" "$dims")
	best=$("${PIPE_BIN:-$root/build/bin}/pcnn-info" "$d/model.bin" 2>/dev/null | sed -n 's/^best on validation: epoch \([0-9]*\).*/\1/p')
	self=$(sed -n 's/.* \([0-9.]*\)% classified as their class.*/\1/p' "$d/logs/gen.log" 2>/dev/null | head -n 1)
	judged=$(sed -n 's/^samples judged as their class by [0-9]*-NN over the real training images: \([0-9.]*\) % (real validation images: \([0-9.]*\) %).*/\1 (\2)/p' "$d/report.md" 2>/dev/null | head -n 1)
	secs=$(cat "$d/logs/fit.time" 2>/dev/null || echo -)
	total=$(cat "$d"/logs/*.time 2>/dev/null | awk '{ s += $1 } END { if (NR) printf "%.0f", s; else printf "-" }')
	tacc=$(sed -n 's/^- accuracy: \([0-9.]*\).*/\1/p' "$d/test.report.md" 2>/dev/null | awk 'NF { printf "%.2f", 100 * $1 }')
	# the same validation scores decided with a uniform prior (report.md has it when PRIOR=fitted
	# decided; otherwise the accuracy above is the uniform prior's)
	uacc=$(sed -n 's/^| validation accuracy with a uniform prior | \([0-9.]*\) .*/\1/p' "$d/report.md" 2>/dev/null |
		awk 'NF { print 100 * $1 }')
	printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "${acc:--}" "${f1:--}" "${bpd:--}" "${tacc:--}" \
		"${best:--}" "${self:--}" "${judged:--}" "$secs" "$total" "${uacc:-${acc:--}}"
}

col() { cut -f"$1" "$2"; }

{
	echo "# pcnn quality: recipes and what they reach"
	echo
	echo "Made by \`make quality\` on $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores ($cpu), pcnn $(git -C "$root" describe --always --dirty 2>/dev/null || echo '?')."
	echo "Rows with several seeds give mean ± standard deviation over them."
	echo
	echo "The decision is Bayes' rule with the class prior fitted on training images (PRIOR=fitted,"
	echo "the default) unless the knobs say PRIOR=uniform; the next column decides the same scores"
	echo "with a uniform prior."
	echo
	echo "| recipe | data | objective | seeds | val accuracy | val accuracy, uniform prior | val macro-F1 | val bits/dim | test accuracy | best epoch | samples self-classified | samples 5-NN judged (real val ceiling) | training s | whole run s | knobs |"
	echo "|---|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|"
} > "$out.tmp"

grep -v '^[[:space:]]*\(#\|$\)' "$recipes" | while IFS='|' read -r name data knobs; do
	name=$(echo "$name" | tr -d '[:space:]')
	data=$(echo "$data" | tr -d '[:space:]')
	seeds=$(printf '%s\n' $knobs | sed -n 's/^SEEDS=//p' | tr ',' ' ')
	knobs=$(printf '%s\n' $knobs | grep -v '^SEEDS=' | tr '\n' ' ' | sed 's/ $//')
	nums=$(mktemp)
	objective=-
	for seed in ${seeds:-none}; do
		if [ "$seed" = none ]; then run=quality-$name; seedknob=; else run=quality-$name-s$seed; seedknob=SEED=$seed; fi
		d=$runs/$run
		echo "pcnn quality: $name: make pipeline-run RUN=$run DATA=$data $knobs $seedknob" >&2
		# shellcheck disable=SC2086  # knobs are words
		if ! $make --no-print-directory -C "$root" pipeline-run RUN="$run" DATA="$data" $knobs $seedknob >&2; then
			echo "pcnn quality: $name: $run failed" >&2
			printf 'failed\n' >> "$nums"
			continue
		fi
		objective=$(sed -n 's/^objective=//p' "$d/config.txt" | head -n 1)
		run_numbers "$d" >> "$nums"
	done
	n=$(grep -vc '^failed' "$nums" || true)
	nfail=$(grep -c '^failed' "$nums" || true)
	if [ "$n" -eq 0 ]; then
		echo "| $name | $data | ${objective:--} | ${seeds:-1 run} | failed | | | | | | | | | | \`$knobs\` |" >> "$out.tmp"
		rm -f "$nums"
		continue
	fi
	grep -v '^failed' "$nums" > "$nums.ok"
	judged=$(col 7 "$nums.ok" | sed 's/ (.*//' | stats '%.1f %%')
	ceiling=$(col 7 "$nums.ok" | sed -n 's/.*(\(.*\))/\1/p' | stats '%.1f %%')
	printf '| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s (%s) | %s | %s | `%s` |\n' "$name" "$data" \
		"${objective:--}" "$(if [ -n "$seeds" ]; then echo $seeds | tr ' ' ','; else echo 1 run; fi)$([ "$nfail" -gt 0 ] && echo " ($nfail failed)")" \
		"$(col 1 "$nums.ok" | stats '%.2f %%')" "$(col 10 "$nums.ok" | stats '%.2f %%')" "$(col 2 "$nums.ok" | stats '%.4f')" \
		"$(col 3 "$nums.ok" | stats '%.4f')" "$(col 4 "$nums.ok" | stats '%.2f %%')" \
		"$(col 5 "$nums.ok" | tr '\n' ',' | sed 's/,$//')" "$(col 6 "$nums.ok" | stats '%.1f %%')" \
		"$judged" "$ceiling" "$(col 8 "$nums.ok" | stats '%.0f')" "$(col 9 "$nums.ok" | stats '%.0f')" \
		"$knobs" >> "$out.tmp"
	rm -f "$nums" "$nums.ok"
	# The floor, once per data set, on the same data files as the recipe's last run: a
	# linear model on the raw pixels (tests/tools/pcnn-linear.c: multinomial logistic
	# regression, L2 chosen on validation). A discriminative reference, not a pcnn recipe.
	# (once per data set, image size and class list: all ten Fashion-MNIST classes are another
	# set than four, CPEN 455 at 16x16 another than at 32x32)
	dkey="$data $("${PIPE_BIN:-$root/build/bin}/pcnn-info" "$d/train.bin" 2>/dev/null | sed -n 's/^images: //p; s/^classes: //p' | tr '\n' ' ')"
	if [ -n "${linear:-}" ] && [ -x "$linear" ] && ! grep -qxF "$dkey" "$out.data" 2>/dev/null &&
		[ -f "$d/train.bin" ] && [ -f "$d/val.bin" ]; then
		echo "$dkey" >> "$out.data"
		echo "pcnn quality: the linear reference on $d's data files" >&2
		test_file=; [ -f "$d/test.bin" ] && test_file=$d/test.bin
		# shellcheck disable=SC2086
		if lin=$("$linear" "$d/train.bin" "$d/val.bin" $test_file); then
			lacc=$(echo "$lin" | sed -n 's/.*val accuracy \([0-9.]*\) %.*/\1 %/p')
			ltacc=$(echo "$lin" | sed -n 's/.*test accuracy \([0-9.]*\) %.*/\1 %/p')
			llam=$(echo "$lin" | sed -n 's/^linear: lambda \([^,]*\),.*/\1/p')
			echo "| linear (reference) | $data | discriminative | - | $lacc | | | | ${ltacc:--} | | | | | | \`pcnn-linear\` on $run's data files, L2 $llam chosen on validation |" >> "$out.tmp"
		fi
	fi
done
rm -f "$out.data"
mv -f "$out.tmp" "$out"
cat "$out"
