#!/usr/bin/env bash
# tests/fuzz/make_corpus.sh — remakes the seed corpus of the fuzz harnesses in
# tests/fuzz/corpus/<harness>/ with the project's own tools (pcnn-mkdata,
# pcnn-fit, pcnn-score) and the committed image fixtures of tests/fixtures/prep.
# The same tools give the same bytes, so rerunning it changes nothing.
#
#   PCNN_BIN=build/bin PCNN_TEST_BIN=build/tests/bin tests/fuzz/make_corpus.sh
#   (or: make fuzz-corpus; pcnn-mkdata is a test helper, built into build/tests/bin)
#
# Seeds stay small (a few hundred bytes) so the fuzzer mutates them quickly.
set -eu
cd "$(dirname "$0")/../.."
B=${PCNN_BIN:-build/bin}
T=${PCNN_TEST_BIN:-${B%/bin}/tests/bin}
C=tests/fuzz/corpus
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
for h in datafile modelfile manifest idx scoretsv prior calibration image pth; do
	rm -rf "${C:?}/$h"
	mkdir -p "$C/$h" "tests/fuzz/regressions/$h"
done

# ---- data files: file and stream forms, labels unknown, gray, many classes, empty
d=$C/datafile
"$T/pcnn-mkdata" -n 3 -s 42 -o "$d/file-3.bin"
"$T/pcnn-mkdata" -n 2 -s 42 > "$d/stream-2.bin"
"$T/pcnn-mkdata" -U -n 2 -p test/ -s 7 -o "$d/unlabelled.bin"
"$T/pcnn-mkdata" -H 2 -W 3 -C 1 -K 1 -n 2 -o "$d/gray-1class.bin"
"$T/pcnn-mkdata" -H 1 -W 1 -c ant,bee,cat,dog,eel -n 4 -o "$d/5classes.bin"
"$T/pcnn-mkdata" -n 0 -o "$d/empty.bin"
"$T/pcnn-mkdata" -H 2 -W 2 -C 4 -n 1 -p 'dir with space/x,y;' -o "$d/odd-id.bin"

# ---- model files: the pcnn-mkdata container in a few shapes
m=$C/modelfile
"$T/pcnn-mkdata" -m -o "$m/default.bin"
"$T/pcnn-mkdata" -m -H 8 -W 8 -C 1 -c a,b,c -s 2 -o "$m/gray-3classes.bin"
"$T/pcnn-mkdata" -m -H 2 -W 2 -K 1 -s 3 -o "$m/1class.bin"

# ---- CSV manifests: plain, header, CRLF, BOM, unknown labels, commas in paths, bad rows
c=$C/manifest
printf 'train/0000001.jpg,0\ntrain/0000002.jpg,3\n' > "$c/plain.csv"
printf 'id,label\r\ntrain/a.jpg,1\r\ntest/b.jpg,-1\r\n' > "$c/header-crlf.csv"
printf '\xef\xbb\xbfimg/x.png , 2 \n\n  \n/abs/y.png,0' > "$c/bom-spaces-abs.csv"
printf 'a,b,c.png,1\nno comma\n,3\nx.png,\nx.png,-2\nx.png,99999999999\nt\tab.png,0\n' > "$c/malformed.csv"
printf 'ID,LABEL\n' > "$c/header-only.csv"

# ---- IDX: images (3 dims) and labels (1 dim), plain and gzip'd
x=$C/idx
printf '\0\0\x08\x03\0\0\0\x02\0\0\0\x02\0\0\0\x03abcdefghijkl' > "$x/images-2x2x3.idx"
printf '\0\0\x08\x01\0\0\0\x04\x00\x01\x02\x09' > "$x/labels-4.idx"
gzip -9 -n -c "$x/images-2x2x3.idx" > "$x/images-2x2x3.idx.gz"
gzip -9 -n -c "$x/labels-4.idx" > "$x/labels-4.idx.gz"

# ---- score TSVs: from a tiny trained model (pcnn-fit, pcnn-score), plus hand-made forms
s=$C/scoretsv
"$T/pcnn-mkdata" -H 4 -W 4 -K 2 -n 4 -s 3 -o "$tmp/t.bin"
"$T/pcnn-mkdata" -U -H 4 -W 4 -K 2 -n 2 -s 4 -p test/ -o "$tmp/u.bin"
"$B/pcnn-fit" -q -R 1 -F 4 -M 2 -b 4 -e 1 --device cpu -o "$tmp/m.bin" "$tmp/t.bin"
"$B/pcnn-score" -q --device cpu -o "$s/score.tsv" "$tmp/m.bin" "$tmp/t.bin"
"$B/pcnn-score" -q --device cpu -o "$s/unlabelled.tsv" "$tmp/m.bin" "$tmp/u.bin"
"$B/pcnn-score" -q --device cpu --true-label -o "$s/true-label.tsv" "$tmp/m.bin" "$tmp/t.bin"
"$B/pcnn-score" -q --device cpu --ood -o "$s/ood.tsv" "$tmp/m.bin" "$tmp/t.bin"
printf 'id\tlabel\tA\tB\tC\r\nx.png\t2\t-1e3\t-0.5\t1e-320\r\ny,z.png\t-1\t0\t-0\t+3.25' > "$s/crlf-3classes.tsv"

# ---- priors for 4 classes Class0..Class3 (the harness also tries 1 class)
p=$C/prior
printf 'Class0,0.1\nClass1\t0.2\n# comment\n\nClass2,0.3\nClass3,0.4\n' > "$p/named.txt"
printf '1\n1\n1\n1\n' > "$p/bare.txt"
printf '0\n0\n0\n2.5e-3\r\n' > "$p/zeros.txt"
printf '0.7\n' > "$p/one.txt"

# ---- calibration files for 4 classes Class0..Class3 (the harness also tries 1 class)
k=$C/calibration
printf '# pcnn calibration\npcnn-calibration\t1\nclasses\tClass0,Class1,Class2,Class3\ntemperature\t38.2160412395871\nreject_quantile\t0.99\nreject_threshold\t1370.6219999541\n' > "$k/full.txt"
printf 'pcnn-calibration\t1\r\nclasses\tClass0\r\ntemperature\t2\r\n' > "$k/one-class-crlf.txt"

# ---- images: the committed fixtures of pcnn-prep's tests (tests/fixtures/prep/make_fixtures.py)
i=$C/image
for f in tests/fixtures/prep/img/*.png tests/fixtures/prep/img/*.jpg tests/fixtures/prep/bad/*; do
	[ -s "$f" ] && cp "$f" "$i/$(basename "$(dirname "$f")")-$(basename "$f")"
done
# ---- PyTorch checkpoints: one written by pcnn's writer, and the committed small fixtures of
# tests/fixtures/import (tests/reference/make_import_fixtures.py), in both torch.save formats
t=$C/pth
"$T/pcnn-craft" pth "$t/written.pth"
for f in tests/fixtures/import/zip/dup.pth tests/fixtures/import/zip/nt.pth tests/fixtures/import/zip/lst.pth \
	tests/fixtures/import/legacy/dup.pth tests/fixtures/import/legacy/nt.pth tests/fixtures/import/legacy/lst.pth; do
	cp "$f" "$t/$(basename "$(dirname "$f")")-$(basename "$f")"
done

echo "make_corpus: $(find "$C" -type f | wc -l) seeds, $(du -sk "$C" | cut -f1) KiB in $C"
