#!/usr/bin/env bats
# pcnn-prep: sources (CSV, folder, IDX), damaged input, options, output handling.
# Fixtures: tests/fixtures/prep (made by make_fixtures.py). Data files are checked through
# their bytes: magic, the end marker's record count, record ids and pixels at known offsets.

setup() {
	FIX="$PCNN_ROOT/tests/fixtures/prep"
	PREP="$PCNN_BIN/pcnn-prep"
	CPEN455=${CPEN455:-$PCNN_ROOT/../shared/cpen455}
	cd "$BATS_TEST_TMPDIR"
}

# Number of records, from the end marker (u16 0xFFFF, u64 count, u32 CRC).
nrec() { tail -c 12 "$1" | head -c 8 | od -An -tu8 | tr -d ' '; }
magic() { head -c 8 "$1"; }
# The record ids, in order (ids here are made of these characters).
ids() { LC_ALL=C grep -aoE '[A-Za-z0-9_./:-]+\.(png|jpg|jpeg|gz:[0-9]+)' "$1"; }

# A CSV in the test folder whose rows name fixture images by absolute path.
csv() { # csv NAME ROW... (ROW: "relpath,label"; relpath under $FIX, or raw with a leading !)
	local name=$1 r
	shift
	: >"$name"
	for r in "$@"; do
		case "$r" in
		!*) printf '%s\n' "${r#!}" >>"$name" ;;
		*) printf '%s/%s\n' "$FIX" "$r" >>"$name" ;;
		esac
	done
}

@test "prep: -h prints usage to stdout and exits 0" {
	run "$PREP" -h
	[ "$status" -eq 0 ]
	[[ "$output" == usage:\ pcnn-prep* ]]
	[[ "$output" == *"--skip-bad"* ]]
}

@test "prep: usage errors exit 2" {
	run "$PREP"
	[ "$status" -eq 2 ]
	[[ "$output" == *"no SOURCE given"* ]]
	run "$PREP" --bogus "$FIX/good.csv"
	[ "$status" -eq 2 ]
	[[ "$output" == *"unknown option '--bogus'"* ]]
	run "$PREP" -H 0 "$FIX/good.csv"
	[ "$status" -eq 2 ]
	[[ "$output" == *"-H: '0' is not a size"* ]]
	run "$PREP" --limit 0 "$FIX/good.csv"
	[ "$status" -eq 2 ]
	run "$PREP" "$FIX/good.csv" "$FIX/crlf.csv"
	[ "$status" -eq 2 ]
	[[ "$output" == *"one SOURCE expected, got 2"* ]]
	run "$PREP" --classes a,,b "$FIX/good.csv"
	[ "$status" -eq 2 ]
	[[ "$output" == *"empty item"* ]]
	run "$PREP" -K 3 --classes a,b "$FIX/good.csv"
	[ "$status" -eq 2 ]
	run "$PREP" --labels x.gz "$FIX/good.csv"
	[ "$status" -eq 2 ]
	[[ "$output" == *"--labels is for IDX sources"* ]]
	run "$PREP" -o x.bin --select 0,1 --classes a,b,c "$FIX/good.csv"
	[ "$status" -eq 2 ]
	[[ "$output" == *"--classes names 3 classes, but there are 2 (--select)"* ]]
	[[ "$output" == *"Try 'pcnn-prep -h'"* ]]
	[ ! -e x.bin ]
}

@test "prep: a CSV manifest becomes a data file with default Class0..Class3" {
	run "$PREP" -o out.bin "$FIX/good.csv"
	[ "$status" -eq 0 ]
	[[ "$output" == *"prep 6 images"*"0 skipped, 4 classes, 32x32"* ]]
	[ "$(magic out.bin)" = PCNNDATA ]
	[ "$(nrec out.bin)" = 6 ]
	head -c 100 out.bin | grep -aq 'Class0.*Class1.*Class2.*Class3'
	# header 36 + 4 × (2 + 6) + 4, records 2 + id + 4 + 3072 + 4, end 14
	ids_len=$(ids out.bin | tr -d '\n' | wc -c)
	[ "$(stat -c %s out.bin)" -eq $((72 + 6 * 3082 + ids_len + 14)) ]
	[ "$(ids out.bin | head -1)" = img/rgb8.png ]
}

@test "prep: CRLF and an id,label header give the same bytes as LF" {
	"$PREP" -q "$FIX/good.csv" >lf.bin
	"$PREP" -q "$FIX/crlf.csv" >crlf.bin
	"$PREP" -q "$FIX/header.csv" >header.bin
	cmp lf.bin crlf.bin
	cmp lf.bin header.bin
}

@test "prep: output is deterministic (same bytes twice, any thread count)" {
	"$PREP" -q -o a.bin "$FIX/good.csv"
	OMP_NUM_THREADS=1 "$PREP" -q -o b.bin "$FIX/good.csv"
	cmp a.bin b.bin
}

@test "prep: piping out works (pcnn-prep x.csv | cat > f)" {
	"$PREP" -q "$FIX/good.csv" | cat >piped.bin
	[ "$(magic piped.bin)" = PCNNDATA ]
	[ "$(nrec piped.bin)" = 6 ]
}

@test "prep: CSV from stdin, paths relative to the current folder" {
	cd "$FIX"
	"$PREP" -q - <good.csv >"$BATS_TEST_TMPDIR/stdin.bin"
	cd "$BATS_TEST_TMPDIR"
	"$PREP" -q "$FIX/good.csv" >file.bin
	cmp stdin.bin file.bin
}

@test "prep: -o /dev/full fails with a message and exit 1" {
	run "$PREP" -o /dev/full "$FIX/good.csv"
	[ "$status" -eq 1 ]
	[[ "$output" == *"No space left on device"* ]]
	[ -c /dev/full ]
	[ -z "$(ls /dev/full.tmp.* 2>/dev/null)" ]
}

@test "prep: stdout to /dev/full fails with exit 1" {
	run bash -c '"$0" -q "$1" >/dev/full' "$PREP" "$FIX/good.csv"
	[ "$status" -eq 1 ]
	[[ "$output" == *"write error"* ]]
}

@test "prep: a truncated PNG stops with file and line, exit 1, no output left" {
	csv bad.csv img/rgb8.png,0 img/gray.jpg,1 bad/truncated.png,2 img/pal8.png,3
	run "$PREP" -o out.bin bad.csv
	[ "$status" -eq 1 ]
	[[ "$output" == *"bad.csv:3: $FIX/bad/truncated.png: damaged PNG"*"--skip-bad"* ]]
	[ ! -e out.bin ]
	[ -z "$(ls)" ] || [ "$(ls)" = bad.csv ]
}

@test "prep: a truncated JPEG and garbage bytes are errors naming the line" {
	csv bad.csv img/rgb8.png,0 bad/truncated.jpg,1
	run "$PREP" -o out.bin bad.csv
	[ "$status" -eq 1 ]
	[[ "$output" == *"bad.csv:2: "*"truncated.jpg: damaged JPEG"* ]]
	csv bad2.csv bad/garbage.jpg,1
	run "$PREP" -o out.bin bad2.csv
	[ "$status" -eq 1 ]
	[[ "$output" == *"bad2.csv:1: "*"garbage.jpg: not a PNG or JPEG file"* ]]
	csv bad3.csv bad/bomb.png,1
	run "$PREP" -o out.bin bad3.csv
	[ "$status" -eq 1 ]
	[[ "$output" == *"20000x20000 pixels refused"* ]]
}

@test "prep: a missing image is an error naming file and line" {
	csv miss.csv img/rgb8.png,0 img/nope.png,1
	run "$PREP" -o out.bin miss.csv
	[ "$status" -eq 1 ]
	[[ "$output" == *"miss.csv:2: $FIX/img/nope.png: cannot open: No such file or directory"* ]]
}

@test "prep: a malformed row is an error with its line number" {
	csv rows.csv img/rgb8.png,0 '!just-a-path' img/gray.jpg,1
	run "$PREP" -o out.bin rows.csv
	[ "$status" -eq 1 ]
	[[ "$output" == *"rows.csv:2: malformed row: expected 'path,label'"* ]]
	csv rows2.csv img/rgb8.png,zero
	run "$PREP" -o out.bin rows2.csv
	[ "$status" -eq 1 ]
	[[ "$output" == *"rows2.csv:1: "*"label is not an integer"* ]]
}

@test "prep: a label out of range for K is an error with its line number" {
	csv lab.csv img/rgb8.png,0 img/gray.jpg,1 img/pal8.png,3
	run "$PREP" -K 2 -o out.bin lab.csv
	[ "$status" -eq 1 ]
	[[ "$output" == *"lab.csv:3: "*"label 3 out of range for 2 classes (0..1)"* ]]
	run "$PREP" --classes a,b -o out.bin lab.csv
	[ "$status" -eq 1 ]
	# Without -K the class count follows the labels: max(4, largest + 1).
	csv big.csv img/rgb8.png,0 img/gray.jpg,5
	run "$PREP" -o out.bin big.csv
	[ "$status" -eq 0 ]
	[[ "$output" == *"6 classes"* ]]
	head -c 120 out.bin | grep -aq 'Class5'
	# ... and says which labels below the largest no image has (a stray label?)
	[[ "$output" == *"big.csv: no image has labels 1, 2, 3, 4, yet the largest label 5 makes 6 classes"* ]]
	csv gap.csv img/rgb8.png,0 img/gray.jpg,1 img/pal8.png,2 img/colour.jpg,3
	run "$PREP" -o out.bin gap.csv
	[ "$status" -eq 0 ]
	[[ "$output" != *"no image has"* ]]
}

@test "prep: --skip-bad skips and counts bad images, rows and labels" {
	csv mixed.csv img/rgb8.png,0 bad/truncated.png,1 img/nope.png,2 '!broken row' \
		img/gray.jpg,7 bad/garbage.jpg,0 img/colour.jpg,3 bad/crc.png,1
	run "$PREP" --skip-bad -K 4 -o out.bin mixed.csv
	[ "$status" -eq 0 ]
	[[ "$output" == *"mixed.csv:4: malformed row"*"(skipped)"* ]]
	[[ "$output" == *"mixed.csv:5: "*"label 7 out of range"*"(skipped)"* ]]
	[[ "$output" == *"mixed.csv:2: "*"damaged PNG"*"(skipped)"* ]]
	[[ "$output" == *"prep 2 images"*"6 skipped"* ]]
	[ "$(nrec out.bin)" = 2 ]
	run "$PREP" -q --skip-bad -K 4 -o out.bin mixed.csv
	[ "$status" -eq 0 ]
	[ -z "$output" ]
}

@test "prep: -H and -W set the image size" {
	"$PREP" -q -H 8 -W 16 -o small.bin "$FIX/good.csv"
	ids_len=$(ids small.bin | tr -d '\n' | wc -c)
	[ "$(stat -c %s small.bin)" -eq $((72 + 6 * (10 + 8 * 16 * 3) + ids_len + 14)) ]
}

@test "prep: --limit with a seed takes a reproducible subset in input order" {
	"$PREP" -q --limit 3 -s 7 -o a.bin "$FIX/good.csv"
	"$PREP" -q --limit 3 --seed 7 -o b.bin "$FIX/good.csv"
	cmp a.bin b.bin
	[ "$(nrec a.bin)" = 3 ]
	# The chosen ids appear in the manifest's order.
	ids a.bin >chosen
	grep -of chosen "$FIX/good.csv" >order
	cmp chosen order
	"$PREP" -q --limit 100 -o all.bin "$FIX/good.csv"
	[ "$(nrec all.bin)" = 6 ]
}

@test "prep: a class folder (ImageFolder): sorted classes and files, nested files, ids" {
	run "$PREP" -o f.bin "$FIX/folder"
	[ "$status" -eq 0 ]
	[[ "$output" == *"prep 6 images"*"3 classes"* ]]
	head -c 60 f.bin | grep -aq 'ant.*cat.*dog'
	[ "$(ids f.bin | tr '\n' ' ')" = "ant/z.png cat/a.jpg cat/b.png cat/sub/c.png dog/x.jpeg dog/y.png " ]
}

@test "prep: --select on a folder keeps and relabels a subset; --classes renames" {
	run "$PREP" --select dog,0 --classes Dog,Ant -o s.bin "$FIX/folder"
	[ "$status" -eq 0 ]
	[[ "$output" == *"prep 3 images"*"2 classes"* ]]
	head -c 60 s.bin | grep -aq 'Dog.*Ant'
	[ "$(ids s.bin | tr '\n' ' ')" = "ant/z.png dog/x.jpeg dog/y.png " ]
	run "$PREP" --select emu -o s.bin "$FIX/folder"
	[ "$status" -eq 2 ]
	[[ "$output" == *"'emu' is neither a class folder"* ]]
}

@test "prep: an empty folder or one without class folders is an error" {
	mkdir empty
	run "$PREP" -o x.bin empty
	[ "$status" -eq 1 ]
	[[ "$output" == *"no class sub-folders"* ]]
}

@test "prep: an empty manifest, a --select or --offset that leaves nothing: exit 1 naming why, no file" {
	: > empty.csv
	run "$PREP" -H 8 -W 8 -o x.bin empty.csv
	[ "$status" -eq 1 ]
	[[ "$output" == *"empty.csv: holds no images: a data file needs at least one"* ]]
	[ ! -e x.bin ]
	csv m.csv "img/rgb8.png,0" "img/colour.jpg,1" "img/pal8.png,-1"
	run "$PREP" -H 8 -W 8 --select 3 -o x.bin m.csv
	[ "$status" -eq 1 ]
	[[ "$output" == *"m.csv: --select keeps none of its 2 labelled images"* ]]
	[ ! -e x.bin ]
	run "$PREP" -H 8 -W 8 --limit 1 --offset 5 -o x.bin m.csv
	[ "$status" -eq 1 ]
	[[ "$output" == *"m.csv: --offset 5 is past its 3 images"* ]]
	csv bad.csv "img/missing.png,0" "!garbage"
	run "$PREP" -H 8 -W 8 --skip-bad -K 2 -o x.bin bad.csv
	[ "$status" -eq 1 ]
	[[ "$output" == *"no image left"* ]]
	[ -z "$(ls | grep '^x\.bin')" ]
	# an unlabelled manifest (a test split) with --select keeps its rows, as before
	csv u.csv "img/rgb8.png,-1"
	run "$PREP" -q -H 8 -W 8 --select 1 -o u.bin u.csv
	[ "$status" -eq 0 ]
	[ "$(nrec u.bin)" -eq 1 ]
}

@test "prep: an output that is the source is refused (exit 2), the source intact" {
	csv m.csv "img/rgb8.png,0"
	cp m.csv m.orig
	run "$PREP" -H 8 -W 8 -o ./m.csv m.csv
	[ "$status" -eq 2 ]
	[[ "$output" == *"./m.csv: the data file (-o) is the same file as the source m.csv"* ]]
	cmp m.csv m.orig
}

# A tiny IDX pair: 3 images of 2x2, labels 2, 0, 1.
make_idx() {
	printf '\0\0\010\003\0\0\0\003\0\0\0\002\0\0\0\002\000\100\200\377\001\002\003\004\377\377\0\0' |
		gzip -n >tiny-images-idx3-ubyte.gz
	printf '\0\0\010\001\0\0\0\003\002\000\001' | gzip -n >tiny-labels-idx1-ubyte.gz
}

@test "prep: IDX images with sibling labels; ids name file and index" {
	make_idx
	run "$PREP" -H 2 -W 2 -o i.bin tiny-images-idx3-ubyte.gz
	[ "$status" -eq 0 ]
	[[ "$output" == *"prep 3 images"*"3 classes, 2x2"* ]]
	[ "$(ids i.bin | head -1)" = "tiny-images-idx3-ubyte.gz:000000" ]
	# Record 0: gray 0, 64, 128, 255 replicated to RGB, label 2.
	off=$((36 + 3 * 8 + 4 + 2 + 32))   # header, id length, 32-byte id
	[ "$(tail -c +$((off + 1)) i.bin | head -c 16 | od -An -tu1 | tr -s ' ')" = \
		" 2 0 0 0 0 0 0 64 64 64 128 128 128 255 255 255" ]
	mv tiny-labels-idx1-ubyte.gz lab.gz
	run "$PREP" -o i.bin tiny-images-idx3-ubyte.gz
	[ "$status" -eq 1 ]
	[[ "$output" == *"no labels file found at tiny-labels-idx1-ubyte.gz (name it with --labels FILE)"* ]]
	run "$PREP" --labels lab.gz --select 1,2 -o i.bin tiny-images-idx3-ubyte.gz
	[ "$status" -eq 0 ]
	[ "$(nrec i.bin)" = 2 ]
	head -c 60 i.bin | grep -aq 'Class1.*Class2'
}

@test "prep: a damaged IDX file is refused with its name" {
	make_idx
	head -c 30 tiny-images-idx3-ubyte.gz >cut-images-idx3-ubyte.gz
	cp tiny-labels-idx1-ubyte.gz cut-labels-idx1-ubyte.gz
	run "$PREP" -o i.bin cut-images-idx3-ubyte.gz
	[ "$status" -eq 1 ]
	[[ "$output" == *"cut-images-idx3-ubyte.gz: "* ]]
	[ ! -e i.bin ]
	printf '\0\0\010\001\0\0\0\002\002\000' | gzip -n >two-labels.gz
	run "$PREP" --labels two-labels.gz -o i.bin tiny-images-idx3-ubyte.gz
	[ "$status" -eq 1 ]
	[[ "$output" == *"2 labels for 3 images"* ]]
}

@test "prep: Fashion-MNIST subset with --select and --classes" {
	fm=/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz
	[ -f "$fm" ] || skip "no Fashion-MNIST at $fm (Debian package dataset-fashion-mnist)"
	run "$PREP" --select 0,1,7,8 --classes T-shirt,Trouser,Sneaker,Bag --limit 200 -s 3 -o fm.bin "$fm"
	[ "$status" -eq 0 ]
	[[ "$output" == *"prep 200 images"*"4 classes"* ]]
	head -c 80 fm.bin | grep -aq 'T-shirt.*Trouser.*Sneaker.*Bag'
	"$PREP" -q --select 0,1,7,8 --classes T-shirt,Trouser,Sneaker,Bag --limit 200 -s 3 -o again.bin "$fm"
	cmp fm.bin again.bin
	ids fm.bin | sed 's/.*://' >idx
	sort -c idx
	[ "$(wc -l <idx)" -eq 200 ]
	"$PREP" -q --select 0,1,7,8 --limit 200 -s 4 "$fm" | ids /dev/stdin | sed 's/.*://' >idx4
	run cmp -s idx idx4
	[ "$status" -eq 1 ]
}

@test "prep: CPEN 455 train/validation/test all prep (12 gray images included)" {
	[ -d "$CPEN455" ] || skip "no CPEN 455 data at $CPEN455"
	for s in train:4159 validation:519 test:519; do
		run "$PREP" -o "${s%%:*}.bin" "$CPEN455/${s%%:*}.csv"
		[ "$status" -eq 0 ]
		[ "$(nrec "${s%%:*}.bin")" = "${s##*:}" ]
		[[ "$output" == *"0 skipped, 4 classes"* ]]
	done
	ids train.bin | grep -qx train/0000208.jpg
}

@test "prep: 8 CPEN 455 images agree with torchvision resize(antialias=True) within 1" {
	[ -d "$CPEN455" ] || skip "no CPEN 455 data at $CPEN455"
	exp="$FIX/resize/expected"
	sed "s|^|$CPEN455/|; s|,.*|,0|" "$exp/cpen455.csv" >real.csv
	"$PREP" -q -o real.bin real.csv
	off=72 worst=0 i=0
	while IFS=, read -r rel ppm; do
		id="$CPEN455/$rel"
		start=$((off + 2 + ${#id} + 4))
		tail -c +$((start + 1)) real.bin | head -c 3072 >got
		tail -c 3072 "$exp/cpen455/$ppm" >want
		d=$(cmp -l got want | awk 'function o(s,  v,i){v=0;for(i=1;i<=length(s);i++)v=v*8+substr(s,i,1);return v}
			{d=o($2)-o($3); if(d<0)d=-d; if(d>m)m=d} END{print m+0}')
		[ "$d" -gt "$worst" ] && worst=$d
		off=$((start + 3072 + 4))
		i=$((i + 1))
	done <"$exp/cpen455.csv"
	[ "$i" -eq 8 ]
	echo "# max |diff| vs torchvision on $i CPEN 455 images: $worst" >&3
	[ "$worst" -le 1 ]
}

@test "prep: --offset with the same seed gives a disjoint subset; together they are --limit's" {
	F="$PCNN_ROOT/tests/fixtures/prep/good.csv"
	"$PCNN_BIN/pcnn-prep" -q -H 8 -W 8 --limit 2 -s 5 -o a.bin "$F"
	"$PCNN_BIN/pcnn-prep" -q -H 8 -W 8 --limit 2 --offset 2 -s 5 -o b.bin "$F"
	"$PCNN_BIN/pcnn-prep" -q -H 8 -W 8 --limit 4 -s 5 -o ab.bin "$F"
	ids() { strings -n 5 "$1" | grep -E '\.(png|jpg)' | sort; }
	ids a.bin > a.ids
	ids b.bin > b.ids
	ids ab.bin > ab.ids
	[ "$(wc -l < a.ids)" -eq 2 ]
	[ "$(wc -l < b.ids)" -eq 2 ]
	[ -z "$(comm -12 a.ids b.ids)" ]
	[ "$(sort a.ids b.ids)" = "$(cat ab.ids)" ]
	run "$PCNN_BIN/pcnn-prep" --offset x "$F"
	[ "$status" -eq 2 ]
}
