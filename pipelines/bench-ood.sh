#!/usr/bin/env bash
# pipelines/bench-ood.sh — out-of-distribution detection measured (make bench-ood).
#
# For a model and its in-distribution validation images, scores them and four sets of
# other images with `pcnn-score --ood`, and prints for each set the AUROC of
#   raw:   −log p(x)                  (nats; log p(x) = log Σ_c p(x | c) / K, uniform prior)
#   S(x):  −log2 p(x) − L(x)          (bits; L(x) = the image's length as a PNG; Serrà et al. 2020)
# with the other images as positives (AUROC 1: every one scores above every validation
# image; 0.5: chance; below 0.5: the score ranks them as *more* typical), and the fraction of
# them `pcnn-argmax --reject` flags at the threshold calibrated on validation (its 99th
# percentile of S, `pcnn-argmax --calibrate`).
#
#   CPEN 455 model (32x32):   validation.csv against (a) Fashion-MNIST t10k images (4 classes)
#                             resized to 32x32 RGB, (b) uniform noise, (c) constant images of
#                             a random colour, (c′) of a random gray level, (d) the validation
#                             images upside down
#   Fashion model (28x28):    Fashion t10k images (not its training file) against (a) CPEN 455
#                             validation images resized to 28x28, (b)-(d) as above
# Then the temperature of the posteriors: fitted on all of validation (its ECE there), and on
# one half of it measured on the other (two-fold), ECE over 15 bins before and after.
# AUROC is the Mann-Whitney U statistic with ties counted half (midranks), in awk.
set -eu
: "${BENCH_BIN:?}" "${BENCH_TEST_BIN:?}" "${BENCH_CPEN455:?}" "${BENCH_N:?}" "${BENCH_THREADS:?}" "${BENCH_DIR:?}"
CPEN_MODEL=${CPEN_MODEL:-} FASHION_MODEL=${FASHION_MODEL:-}
FASHION_DIR=${FASHION_DIR:-/usr/share/datasets/fashion-mnist}
if [ -z "$CPEN_MODEL$FASHION_MODEL" ]; then
	echo "bench-ood: give OOD_CPEN_MODEL=model.bin and/or OOD_FASHION_MODEL=model.bin (pipelines/bench-ood.mk)" >&2
	exit 2
fi
export PCNN_THREADS="$BENCH_THREADS" OMP_NUM_THREADS="$BENCH_THREADS" OMP_WAIT_POLICY=passive
mkdir -p "$BENCH_DIR"
B=$BENCH_BIN T=$BENCH_TEST_BIN N=$BENCH_N
t10k=$FASHION_DIR/t10k-images-idx3-ubyte.gz

# The classes of a model file, comma-separated (pcnn-info: "classes: 4 (A, B, C, D)").
classes() { "$B/pcnn-info" "$1" | sed -n 's/^classes: [0-9]* (\(.*\))$/\1/p' | sed 's/, /,/g'; }

# "score ood?" lines of a score TSV with the ood: columns: column 1 −log p(x) (nats) or S(x)
# (bits), as $2 says.
column() {
	awk -F'\t' -v which="$2" -v ood="$3" '
		NR == 1 { for (i = 1; i <= NF; i++) { if ($i == "ood:log_px") lp = i; if ($i == "ood:png_bits") pb = i }; next }
		{ v = which == "raw" ? -$lp : -$lp / log(2) - $pb; printf "%.6f %d\n", v, ood }' "$1"
}

# AUROC of the positives (second field 1) against the negatives (0), ties at midranks.
auroc() {
	sort -g -k1,1 | awk '
		{ s[NR] = $1 + 0; l[NR] = $2 }
		END {
			i = 1
			while (i <= NR) {
				j = i
				while (j < NR && s[j + 1] == s[i]) j++
				r = (i + j) / 2
				for (k = i; k <= j; k++) if (l[k] == 1) { R += r; n1++ } else n0++
				i = j + 1
			}
			printf "%.4f", (R - n1 * (n1 + 1) / 2) / (n1 * n0)
		}'
}

# "a b": the ECE at T = 1 and at the file's temperature in an argmax report.
ece() {
	echo "$(sed -n 's/^- ECE at T = 1 (softmax of the log-likelihoods): //p' "$1") $(sed -n 's/^- ECE at T = [0-9.e+-]*: //p' "$1")"
}

# calibrate DIR: the temperature fitted on all of validation and its ECE there, and fitted on
# one half (odd / even rows) and measured on the other: what a test set would see.
calibrate() {
	local d=$1 h
	for h in 0 1; do
		{ head -n 1 "$d/in.tsv"; awk -v h="$h" 'NR > 1 && NR % 2 == h' "$d/in.tsv"; } >"$d/half$h.tsv"
		"$B/pcnn-argmax" -q --calibrate "$d/half$h.cal" <"$d/half$h.tsv" >/dev/null
	done
	"$B/pcnn-argmax" -q --calibration "$d/half0.cal" --report "$d/on1.md" <"$d/half1.tsv" >/dev/null
	"$B/pcnn-argmax" -q --calibration "$d/half1.cal" --report "$d/on0.md" <"$d/half0.tsv" >/dev/null
	local all h0 h1
	all=$(ece "$d/in.report.md") h0=$(ece "$d/on0.md") h1=$(ece "$d/on1.md")
	echo "| fitted on | T | measured on | ECE at T = 1 | ECE at T |"
	echo "|---|---:|---:|---:|---:|"
	printf '| all of validation | %.1f | the same | %s | %s |\n' "$(sed -n 's/^temperature\t//p' "$d/calibration.txt")" $all
	printf '| odd rows | %.1f | even rows | %s | %s |\n' "$(sed -n 's/^temperature\t//p' "$d/half0.cal")" $h1
	printf '| even rows | %.1f | odd rows | %s | %s |\n' "$(sed -n 's/^temperature\t//p' "$d/half1.cal")" $h0
}

# bench NAME MODEL IN.bin OOD_A.bin LABEL_A: scores, calibrates and prints one table.
bench() {
	local name=$1 model=$2 d=$BENCH_DIR/$1
	mkdir -p "$d"
	"$T/pcnn-oodset" noise "$d/in.bin" "$d/noise.bin" 1
	"$T/pcnn-oodset" constant "$d/in.bin" "$d/constant.bin" 1
	"$T/pcnn-oodset" gray "$d/in.bin" "$d/gray.bin" 1
	"$T/pcnn-oodset" flip "$d/in.bin" "$d/flip.bin"
	local t0 t1
	t0=$(date +%s)
	for set in in other noise constant gray flip; do
		"$B/pcnn-score" -q --device cpu --ood "$model" "$d/$set.bin" >"$d/$set.tsv"
	done
	t1=$(date +%s)
	"$B/pcnn-argmax" -q --calibrate "$d/calibration.txt" --report "$d/in.report.md" <"$d/in.tsv" >/dev/null
	echo
	echo "### $name model ($(basename "$(dirname "$model")")/$(basename "$model")), $(grep -c . "$d/in.tsv" | awk '{print $1 - 1}') validation images, scored in $((t1 - t0)) s"
	echo
	echo "validation: $(sed -n 's/^- accuracy: //p' "$d/in.report.md"), temperature $(sed -n 's/^temperature\t//p' "$d/calibration.txt"), threshold S > $(sed -n 's/^reject_threshold\t//p' "$d/calibration.txt") bits"
	echo
	echo "| other images | n | AUROC −log p(x) | AUROC S(x) | flagged at validation's 99th percentile of S |"
	echo "|---|---:|---:|---:|---:|"
	local set label n raw s flagged
	for set in other noise constant gray flip; do
		case $set in
		other) label=$3 ;; noise) label="(b) uniform noise" ;; constant) label="(c) constant images" ;;
		gray) label="(c′) constant gray images" ;;
		flip) label="(d) validation upside down" ;;
		esac
		n=$(($(grep -c . "$d/$set.tsv") - 1))
		raw=$( { column "$d/in.tsv" raw 0; column "$d/$set.tsv" raw 1; } | auroc)
		s=$( { column "$d/in.tsv" S 0; column "$d/$set.tsv" S 1; } | auroc)
		flagged=$("$B/pcnn-argmax" -q --calibration "$d/calibration.txt" --reject <"$d/$set.tsv" | grep -c ',-1$' || true)
		printf '| %s | %d | %s | %s | %d (%.1f %%) |\n' "$label" "$n" "$raw" "$s" "$flagged" "$(awk -v a="$flagged" -v b="$n" 'BEGIN { print 100 * a / b }')"
	done
	echo
	echo "Calibration of the posteriors (pcnn-argmax --calibrate; ECE over 15 bins):"
	echo
	calibrate "$d"
}

echo "bench-ood: $(getconf _NPROCESSORS_ONLN) cores ($(sed -n 's/^model name\t*: //p' /proc/cpuinfo | head -n 1)), PCNN_THREADS=$BENCH_THREADS, $(date -u '+%Y-%m-%d %H:%M UTC')" >&2
if [ -n "$CPEN_MODEL" ]; then
	c=$(classes "$CPEN_MODEL")
	d=$BENCH_DIR/CPEN455
	mkdir -p "$d"
	"$B/pcnn-prep" -q -o "$d/in.bin" -H 32 -W 32 --classes "$c" "$BENCH_CPEN455/validation.csv"
	"$B/pcnn-prep" -q -o "$d/other.bin" -H 32 -W 32 --select 0,1,7,8 --classes "$c" --limit "$N" -s 1 "$t10k"
	bench CPEN455 "$CPEN_MODEL" "(a) Fashion-MNIST, 32×32 RGB"
fi
if [ -n "$FASHION_MODEL" ]; then
	c=$(classes "$FASHION_MODEL")
	d=$BENCH_DIR/Fashion-MNIST
	mkdir -p "$d"
	"$B/pcnn-prep" -q -o "$d/in.bin" -H 28 -W 28 --select 0,1,7,8 --classes "$c" --limit "$N" -s 2 "$t10k"
	"$B/pcnn-prep" -q -o "$d/other.bin" -H 28 -W 28 --classes "$c" "$BENCH_CPEN455/validation.csv"
	bench Fashion-MNIST "$FASHION_MODEL" "(a) CPEN 455 validation, 28×28"
fi
