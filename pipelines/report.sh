#!/bin/sh
# pipelines/report.sh — the report of one `make pipeline` run: RUNDIR/report.md and
# its HTML twin RUNDIR/report.html (Debian's cmark-gfm with its table extension, in a
# page with a small style sheet), both written atomically.
#
#   PCNN_BIN=build/bin pipelines/report.sh runs/fashion-quick
#
# Reads, in RUNDIR: config.txt (key=value lines), fit.tsv, val.scores.tsv,
# val.report.md and test.report.md (pcnn-argmax --report), test.preds.csv, model.bin,
# the data files (through pcnn-info), samples/, grid.png, curve.png, logs/*.time
# (pipelines/step.sh) and logs/gen.log (pcnn-gen's summaries: its own check and the
# k-NN judge). What is missing is reported as missing, not invented.
set -eu

if [ $# -ne 1 ] || [ ! -d "$1" ]; then
	echo "usage: pipelines/report.sh RUNDIR" >&2
	exit 2
fi
d=$1
here=$(cd "$(dirname "$0")" && pwd)
bin=${PCNN_BIN:-build/bin}
name=$(basename "$d")
md=$d/report.md.tmp.$$
html=$d/report.html.tmp.$$
trap 'rm -f "$md" "$html"' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# conf KEY: the value of KEY in config.txt (empty when absent).
conf() { sed -n "s/^$1=//p" "$d/config.txt" 2>/dev/null | head -n 1; }

# The image size H*W*C of the validation data, from pcnn-info ("images: 28x28x3").
dims=$("$bin/pcnn-info" "$d/val.bin" 2>/dev/null | sed -n 's/^images: *//p' | head -n 1)
pixels=$(echo "$dims" | awk -Fx 'NF == 3 { print $1 * $2 * $3 }')

# Mean bits/dim of the labelled rows of a score TSV under their true class:
# -log p(x | y) / (H·W·C · ln 2), SPEC §4. Prints "-" when nothing is labelled.
bpd() {
	awk -F'\t' -v dims="${pixels:-0}" '
		NR > 1 && $2 >= 0 && dims > 0 { s -= $($2 + 3); n++ }
		END { if (n) printf "%.4f (%d images)\n", s / n / dims / log(2), n; else print "-" }' "$1"
}

# The value of "- KEY: value" in an argmax report.
rep() { sed -n "s/^- $2: //p" "$1" 2>/dev/null | head -n 1; }

# Last row of fit.tsv as "column value" lines.
fit_last() {
	awk -F'\t' 'NR == 1 { for (i = 1; i <= NF; i++) h[i] = $i; next } { last = $0 }
		END { n = split(last, v, "\t"); for (i = 1; i <= n; i++) print h[i] "\t" v[i] }' "$d/fit.tsv"
}
fit_col() { fit_last | awk -F'\t' -v c="$1" '$1 == c { print $2 }'; }

# A TSV with a header as a Markdown table (at most 40 rows: every k-th, and the last).
tsv_table() {
	awk -F'\t' '
		NR == 1 { n = NF; line = "|"; sep = "|"
			for (i = 1; i <= NF; i++) { line = line " " $i " |"; sep = sep "---:|" }
			print line; print sep; next }
		{ row[++r] = $0 }
		END { k = int((r + 39) / 40); if (k < 1) k = 1
			for (j = 1; j <= r; j++) if ((j - 1) % k == 0 || j == r) {
				m = split(row[j], v, "\t"); line = "|"
				for (i = 1; i <= m; i++) line = line " " v[i] " |"
				print line } }' "$1"
}

# An argmax report with its headings moved two levels down, to nest in this one.
nested() { sed 's/^#/###/' "$1"; }

secs() { cat "$d/logs/$1.time" 2>/dev/null || echo "-"; }

# pcnn-gen --judge's summary lines in logs/gen.log:
#   pcnn-gen: judge: 5-NN over T (N labelled images) classifies 37.5% of the samples as their class (3/8): Cat 50.0% (2/4), Dog 25.0% (1/4)
#   pcnn-gen: judge ceiling: 5-NN over T classifies 62.5% of V's labelled images as their class (5/8): Cat ...
# judge_line ceiling|judge: that line; per_class LINE: its "Cat 50.0% (2/4), ..." list.
judge_line() { grep -m 1 "^pcnn-gen: $1: " "$d/logs/gen.log" 2>/dev/null || true; }
per_class() { printf '%s\n' "$1" | sed -n 's/.* as their class ([0-9]*\/[0-9]*): //p'; }

# The per-class table of the judge: samples and real validation images judged as their
# class, from the two lists (class names hold no comma: docs/FORMATS.md).
judge_table() {
	awk -v s="$1" -v c="$2" '
		function parse(str, tag,    n, i, parts, name, v) {
			n = split(str, parts, /, /)
			for (i = 1; i <= n; i++)
				if (match(parts[i], / [0-9.]+% \([0-9]+\/[0-9]+\)$/)) {
					name = substr(parts[i], 1, RSTART - 1); v = substr(parts[i], RSTART + 1)
					sub(/%/, " %", v)
					if (tag == "s") order[++k] = name
					val[tag, name] = v
				}
		}
		BEGIN {
			parse(s, "s"); parse(c, "c")
			if (!k) exit
			print "| class | samples judged as their class | real validation images judged as their class |"
			print "|---|---:|---:|"
			for (i = 1; i <= k; i++)
				print "| " order[i] " | " val["s", order[i]] " | " ((("c", order[i]) in val) ? val["c", order[i]] : "-") " |"
		}'
}

val_acc=$(rep "$d/val.report.md" accuracy)
val_f1=$(rep "$d/val.report.md" macro-F1)
test_acc=$(rep "$d/test.report.md" accuracy)
val_bpd=$(bpd "$d/val.scores.tsv")
train_bpd=$(fit_col train_bpd)
epochs=$(fit_col epoch)
nsamples=$(find "$d/samples" -name '*.png' 2>/dev/null | wc -l)
judge=$(judge_line judge)
ceiling=$(judge_line 'judge ceiling')
judge_k=$(printf '%s\n' "$judge" | sed -n 's/^pcnn-gen: judge: \([0-9]*\)-NN .*/\1/p')
judge_pct=$(printf '%s\n' "$judge" | sed -n 's/.* classifies \([0-9.]*\)% of the samples .*/\1 %/p')
ceiling_pct=$(printf '%s\n' "$ceiling" | sed -n 's/.* classifies \([0-9.]*\)% of .*/\1 %/p')
test_rows=$(wc -l <"$d/test.preds.csv")
# calibration.txt (pcnn-argmax --calibrate on validation): the temperature of the posteriors
# and the threshold of the OOD score S(x); the ECE before and after in val.report.md; the
# test images that threshold flags (pcnn-argmax --reject, not applied to test.preds.csv).
cal=$d/calibration.txt
temp=$(sed -n 's/^temperature	//p' "$cal" 2>/dev/null | head -n 1)
ece1=$(sed -n 's/^- ECE at T = 1 (softmax of the log-likelihoods): //p' "$d/val.report.md" 2>/dev/null)
ece2=$(sed -n 's/^- ECE at T = [0-9.e+-]*: //p' "$d/val.report.md" 2>/dev/null)
thr=$(sed -n 's/^reject_threshold	//p' "$cal" 2>/dev/null | head -n 1)
flagged=
if [ -n "$thr" ]; then
	flagged=$("$bin/pcnn-argmax" -q --calibration "$cal" --reject "$d/test.scores.tsv" 2>/dev/null | grep -c ',-1$' || true)
fi
# prior.txt (PRIOR=fitted: pcnn-argmax --fit-prior on training images' scores): the offsets
# log p(c) - log p(first class), and validation's accuracy with a uniform prior for comparison
prior_offsets=
if [ -f "$d/prior.txt" ]; then
	prior_offsets=$(awk -F'\t' '/^#/ || $1 == "scale" { next } !n++ { b = $2 } { printf "%s%s %+.1f", (n > 1 ? ", " : ""), $1, $2 - b }' "$d/prior.txt")
	prior_n=$(sed -n 's/^# .* of \([0-9]*\) labelled images.*/\1/p' "$d/prior.txt")
fi
# validation decided with a uniform prior (pcnn-argmax's default), for comparison
uniform_acc=$("$bin/pcnn-argmax" -q -o /dev/null --report - "$d/val.scores.tsv" 2>&1 | sed -n 's/^- accuracy: //p')
commit=$(git -C "$here/.." rev-parse --short HEAD 2>/dev/null || echo unknown)

{
	echo "# pcnn run \`$name\`"
	echo
	echo "Made by \`make pipeline\` on $(date -u '+%Y-%m-%d %H:%M UTC') (pcnn $commit, $(uname -n), $(nproc 2>/dev/null || echo '?') cores, device \`$(conf device)\`)."
	echo "Data \`$(conf data)\`, profile \`$(conf profile)\`."
	echo
	case $(conf objective) in
	likelihood)
		echo "Objective: **likelihood only** — the generative objective alone, no discriminative term"
		echo "(what the CPEN 455 rules ask for); classified by Bayes' rule, argmax over classes of log p(x | c)." ;;
	hybrid)
		if [ "$(conf 'CE weight')" = auto ]; then   # the weight and temperature the rule reached
			last=$(awk -F'\t' 'NR > 1 && NF >= 12 { w = $11; t = $12 } END { if (w != "") printf "%.3g, temperature %.3g", w, t }' "$d/fit.tsv" 2>/dev/null)
			echo "Objective: **hybrid** — the likelihood plus λ × the cross-entropy of the Bayes posterior, λ set"
			echo "every step from the data's likelihood scale (\`--ce-weight auto\`: 40000 nats / the running −log p(x | y);"
			echo "at the last step λ ${last:-unknown} (set as $(conf 'CE temperature'); auto: 30 / λ), on a share $(conf 'CE fraction') of each batch). It still classifies by"
		else
		echo "Objective: **hybrid** — the likelihood plus $(conf 'CE weight') × the cross-entropy of the Bayes"
		echo "posterior (temperature $(conf 'CE temperature'), on a share $(conf 'CE fraction') of each batch). It still classifies by"
		fi
		echo "Bayes' rule with the generative model, but trains through the posterior: where discriminative"
		echo "training is ruled out (the CPEN 455 rules), use \`OBJECTIVE=likelihood\`." ;;
	*)	echo "Objective: not recorded." ;;
	esac
	echo
	echo "## Results"
	echo
	echo "| measure | value |"
	echo "|---|---:|"
	echo "| validation accuracy | ${val_acc:--} |"
	if [ -n "$prior_offsets" ]; then
		echo "| decision | Bayes' rule with the class prior fitted on ${prior_n:-?} training images (log p(c) - log p($(printf '%s' "$prior_offsets" | sed 's/ .*//')): $prior_offsets nats) |"
		echo "| validation accuracy with a uniform prior | ${uniform_acc:--} |"
	else
		echo "| decision | Bayes' rule with a uniform prior |"
	fi
	echo "| validation macro-F1 | ${val_f1:--} |"
	echo "| validation bits/dim (true class, final model) | $val_bpd |"
	echo "| train bits/dim (last epoch, running mean) | ${train_bpd:--} |"
	case "$test_acc" in
	""|unknown*) echo "| test predictions | $test_rows rows, labels unknown: \`test.preds.csv\` |" ;;
	*)           echo "| test accuracy | $test_acc |" ;;
	esac
	if [ -n "$temp" ]; then
		printf '| posteriors: temperature fitted on validation | T = %.4g (validation ECE %s at T = 1, %s at T) |\n' "$temp" "${ece1:--}" "${ece2:-$ece1}"
	fi
	if [ -n "$flagged" ]; then
		printf '| test images flagged out of distribution | %s of %s (S(x) above %.1f bits, validation'"'"'s %s quantile) |\n' \
			"$flagged" "$test_rows" "$thr" "$(sed -n 's/^reject_quantile\t//p' "$cal")"
	fi
	echo "| epochs trained | ${epochs:--} |"
	if [ -n "$(conf 'coarse stage')" ]; then   # COARSE_EPOCHS: the stage the model started from
		echo "| coarse to fine | $(conf 'coarse stage') (its log: \`coarse/fit.tsv\`) |"
	fi
	echo "| samples | $nsamples PNG in \`samples/\` |"
	echo
	echo "## Training curve"
	echo
	echo "![training curve: bits/dim and validation accuracy per epoch](curve.png)"
	echo
	echo "Per epoch (\`fit.tsv\`):"
	echo
	tsv_table "$d/fit.tsv"
	echo
	echo "## Samples"
	echo
	echo "![generated samples, one row per class](grid.png)"
	echo
	quality=$(sed -n 's/^pcnn-gen: sampled //p' "$d/logs/gen.log" 2>/dev/null | head -n 1)
	if [ -n "$quality" ]; then
		echo "pcnn-gen's own check (the samples scored by the model): $quality."
		echo
	fi
	if [ -n "$judge_pct" ]; then
		echo "An independent check, by a classifier that knows nothing of the model (the k nearest real"
		echo "images in pixel space, \`pcnn-gen --judge\`):"
		echo "samples judged as their class by ${judge_k}-NN over the real training images: $judge_pct (real validation images: ${ceiling_pct:--})."
		echo "The validation images are the ceiling, what this judge gives perfect samples. Per sample (judged"
		echo "class, squared distance to the nearest training image: 0 is a copy) in \`judge.tsv\`."
		echo
		judge_table "$(per_class "$judge")" "$(per_class "$ceiling")"
		echo
	fi
	echo "One row per class, $(conf 'samples per class') samples each, seed $(conf seed). The folder \`samples/\` holds them as"
	echo "\`<Class>_image_<NN>.png\`, the layout the CPEN 455 FID evaluation reads:"
	echo "\`python3 -m pytorch_fid --dims 192 $d/samples DATA/test\`."
	echo
	fid=$(cat "$d/fid.txt" 2>/dev/null || echo off)
	if [ "$fid" != off ] && [ -n "$fid" ]; then
		fidline=$(sed -n 's/^pcnn-fid: FID at dims 192: //p' "$d/logs/fid.log" 2>/dev/null | head -n 1)
		echo "**FID (dims 192) of the samples against the real images: $fid** (\`pcnn-fid\`, pytorch-fid's"
		echo "recipe and weights; lower is better; ${fidline:-see logs/fid.log}). With few images the"
		echo "FID is biased upwards: compare it only with runs of the same sample counts (docs/FID.md)."
	else
		echo "FID: off. \`make pipeline INCEPTION=path/to/pt_inception-2015-12-05-6726825d.pth\` adds the"
		echo "FID (dims 192, the CPEN 455 metric) of the samples against the real images; docs/FID.md"
		echo "says where to get that file (nothing is downloaded)."
	fi
	echo
	if [ -f "$d/completions.png" ]; then
		echo "## Completions"
		echo
		echo "![validation images, top half kept, completed as each class](completions.png)"
		echo
		side=$(conf 'image size' | cut -dx -f1)
		echo "Each row: a validation image (left), then its top half (${side:+$((side / 2)) rows, }kept) and the rest sampled"
		echo "as each class in turn, in class order (\`pcnn-gen --complete\`: the model's idea of"
		echo "\"this top half, as a koala\"). The PNGs are in \`completions/\`."
		echo
	fi
	echo "## Validation"
	echo
	nested "$d/val.report.md"
	echo
	echo "## Test"
	echo
	echo "\`test.preds.csv\`: $test_rows rows \`id,label\`, no header, in the order of the test data:"
	echo "the CPEN 455 \`test.csv\` submission form."
	case "$test_acc" in
	""|unknown*) ;;
	*) echo; nested "$d/test.report.md" ;;
	esac
	echo
	echo "## Configuration"
	echo
	echo "| knob | value |"
	echo "|---|---|"
	sed 's/^\([^=]*\)=\(.*\)$/| \1 | `\2` |/' "$d/config.txt"
	echo
	echo "## Timings"
	echo
	echo "| step | seconds |"
	echo "|---|---:|"
	total=0
	for s in prep-train prep-val prep-test fit score-val score-test argmax-val argmax-test complete gen fid plot; do
		t=$(secs "$s")
		echo "| $s | $t |"
		[ "$t" = - ] || total=$(awk -v a="$total" -v b="$t" 'BEGIN { print a + b }')
	done
	echo "| **total** | **$total** |"
	echo
	echo "Wall seconds of each step's last run (\`logs/<step>.time\`; messages in \`logs/<step>.log\`)."
	echo
	echo "## Model and data"
	echo
	echo '```'
	"$bin/pcnn-info" "$d/model.bin" "$d/train.bin" "$d/val.bin" "$d/test.bin" 2>&1 || true
	echo '```'
	echo
	echo "## Files"
	echo
	echo "- \`train.bin\`, \`val.bin\`, \`test.bin\`: the data files (\`pcnn-info\` shows them)"
	echo "- \`model.bin\`: the model; \`fit.tsv\`: its training log; \`curve.png\`: the curve"
	echo "- \`val.scores.tsv\`, \`test.scores.tsv\`: log p(x | c) in nats for every class"
	echo "- \`val.scores.tsv\`, \`test.scores.tsv\` also hold log p(x) and L(x), the PNG length in bits (\`pcnn-score --ood\`)"
	echo "- \`val.preds.csv\`, \`val.report.md\`: validation predictions and report (with the calibration)"
	echo "- \`calibration.txt\`: the temperature and the OOD threshold fitted on validation (\`pcnn-argmax --calibrate\`);"
	echo "  \`pcnn-argmax --calibration calibration.txt --reject --probs\` applies both to other scores"
	echo "- \`test.preds.csv\`: the test predictions (submission form)"
	echo "- \`completions/\`, \`completions.png\`: validation images completed as each class"
	echo "- \`samples/\`, \`grid.png\`: generated images; \`judge.tsv\`: each judged by ${judge_k:-k}-NN over the training images"
	echo "- \`logs/\`: each step's messages and time; \`config.txt\`: the configuration"
} >"$md"

# The HTML twin: cmark-gfm (GitHub-flavoured Markdown; -e table for the pipe tables,
# whose ---: columns it right-aligns with align="right") writes the body; the head and
# the style sheet are ours. Raw HTML in the Markdown is not passed through (cmark-gfm's
# default), and the report writes none.
if ! command -v cmark-gfm >/dev/null 2>&1; then
	echo "pipelines/report.sh: cmark-gfm not found (it makes report.html): install Debian's cmark-gfm (make deps)" >&2
	exit 1
fi
title=$(printf 'pcnn run %s' "$name" | sed 's/&/\&amp;/g; s/</\&lt;/g; s/>/\&gt;/g')
{
	echo '<!DOCTYPE html>'
	echo '<html lang="en"><head><meta charset="utf-8">'
	echo "<title>$title</title>"
	echo '<style>'
	echo 'body { font: 15px/1.5 system-ui, sans-serif; max-width: 60em; margin: 2em auto; padding: 0 1em; color: #222; }'
	echo 'table { border-collapse: collapse; margin: 0.5em 0 1em; } th, td { border: 1px solid #ccc; padding: 0.2em 0.6em; }'
	echo 'th { background: #f3f3f3; } img { max-width: 100%; }'
	echo 'pre { background: #f6f6f6; padding: 0.6em; overflow-x: auto; } code { font-size: 90%; }'
	echo 'h1, h2, h3 { line-height: 1.2; } h2 { border-bottom: 1px solid #ddd; padding-bottom: 0.2em; }'
	echo '</style></head><body>'
	cmark-gfm -e table "$md"
	echo '</body></html>'
} >"$html"
mv -f "$html" "$d/report.html"
mv -f "$md" "$d/report.md"
