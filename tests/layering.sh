#!/bin/sh
# tests/layering.sh [ROOT] — checks the families of libcommon (docs/LAYOUT.md): prints every
# include that runs against the layering, one line each ("file:line: what is wrong"), and
# exits 1; exits 0 when there is none. ROOT is the source tree (default: this checkout).
#
#   root     util, rng, threads, dist            includes nothing of a family
#   io/      file formats, image decode          root
#   nn/      CPU primitives, the ISA switch      root
#   eval/    argmax, bits/dim, metrics, judge    root, io/, nn/
#   model/   parameters, graph, backends, fit    root, io/, nn/, eval/
#
# and: the backend interface (model/nn_backend.h) knows no graph (no model/net.h, no
# model/net_internal.h); the CUDA backend (cuda/) sees the interface, not the graph; tools/
# and tests/ may include anything. A file of libcommon outside a family folder must be one
# of the root's. Includes are quoted, spell the folder (#include "io/datafile.h") and name a
# header that exists.
set -u
root=${1:-$(dirname "$0")/..}
cd "$root" || exit 2
bad=0

complain() { echo "$1"; bad=1; }

# every quoted include of libcommon/ and cuda/: "file:line:header"
includes() {
	grep -Hn '^[[:space:]]*#[[:space:]]*include[[:space:]]*"' "$@" /dev/null |
		sed 's/^\([^:]*\):\([0-9]*\):.*#[[:space:]]*include[[:space:]]*"\([^"]*\)".*/\1:\2:\3/'
}

family_of() {   # the family a header path names: root, io, nn, eval, model or ?
	case $1 in
	*/*) echo "${1%%/*}" ;;
	util.h|rng.h|threads.h|dist.h) echo root ;;
	*) echo "?" ;;
	esac
}

for f in libcommon/*; do
	[ -d "$f" ] && case ${f#libcommon/} in io|nn|eval|model) continue ;; *) complain "$f: a folder that is no family (io, nn, eval, model)"; continue ;; esac
	case ${f#libcommon/} in
	util.[ch]|rng.h|threads.[ch]|dist.[ch]) ;;
	*) complain "$f: outside the families (the root keeps util, rng, threads and dist)" ;;
	esac
done

files=$(find libcommon cuda -name '*.[ch]' -o -name '*.cu' | sort)
# shellcheck disable=SC2086
includes $files > "${TMPDIR:-/tmp}/layering.$$"
while IFS=: read -r file line hdr; do
	where="$file:$line: #include \"$hdr\""
	case $file in
	libcommon/*/*) from=${file#libcommon/}; from=${from%%/*} ;;
	libcommon/*)   from=root ;;
	cuda/*)        from=cuda ;;
	esac
	to=$(family_of "$hdr")
	if [ "$from" = cuda ] && [ ! -f "libcommon/$hdr" ]; then
		[ -f "cuda/$hdr" ] || complain "$where: no such header in cuda/ or libcommon/"
		continue
	fi
	if [ "$to" = "?" ] || [ ! -f "libcommon/$hdr" ]; then
		complain "$where: not a libcommon header spelt with its folder (e.g. \"io/datafile.h\")"
		continue
	fi
	case "$from>$to" in
	root\>root|io\>root|io\>io|nn\>root|nn\>nn) ;;
	eval\>root|eval\>io|eval\>nn|eval\>eval) ;;
	model\>*) ;;
	cuda\>root|cuda\>nn) ;;
	cuda\>model)
		case $hdr in
		model/nn_backend.h|model/params.h) ;;
		*) complain "$where: the CUDA backend sees the interface (model/nn_backend.h, model/params.h), not the graph" ;;
		esac ;;
	*) complain "$where: $from/ may not include $to/ (the layering: root < io, nn < eval < model)" ;;
	esac
	case "$file>$hdr" in
	libcommon/model/nn_backend.h\>model/net.h|libcommon/model/nn_backend.h\>model/net_internal.h)
		complain "$where: the backend interface knows no graph" ;;
	esac
done < "${TMPDIR:-/tmp}/layering.$$"
rm -f "${TMPDIR:-/tmp}/layering.$$"
exit $bad
