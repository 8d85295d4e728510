#!/bin/sh
# pipelines/deps.sh — the Debian packages pcnn needs, and their installation.
#
#   pipelines/deps.sh install   install every missing package (apt-get, as root), saying what it does
#   pipelines/deps.sh ensure    same, but only when something is missing; if it cannot
#                               install (not root, no apt), print the exact command and fail
#   pipelines/deps.sh list      print the package names
#
# Build: gcc/make (assumed present), libpng, libjpeg-turbo, zlib, OpenBLAS.
# Tests: bats. Default data (make pipeline): dataset-fashion-mnist. Report: gnuplot (the
# training curve), cmark-gfm (report.html from report.md).
# Fuzzing (make fuzz): clang with its sanitizer runtimes. Data parallelism (mpirun -np N
# pcnn-fit, docs/SCALE.md; its tests): Open MPI.
#
# Installed with --no-install-recommends: what these recommend is not used by pcnn
# (ImageMagick and Ghostscript through gnuplot's groff, a Fortran coarray library through
# libopenmpi-dev, llvm-dev and Python through clang, GNU parallel through bats), and every
# feature works without it: make test and make pipeline pass on a fresh Debian 12 with only
# these. Nothing here is an interpreter a tool needs: every tool is a C program.
set -eu

PACKAGES="libpng-dev libjpeg62-turbo-dev zlib1g-dev libopenblas-dev bats gnuplot-nox cmark-gfm dataset-fashion-mnist clang libclang-rt-dev libopenmpi-dev openmpi-bin"

missing() {
	for p in $PACKAGES; do
		dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q '^install ok installed$' || printf '%s ' "$p"
	done
}

install_now() {
	pkgs=$1
	if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null 2>&1; then
		echo "pcnn: missing Debian packages: $pkgs" >&2
		echo "pcnn: install them with:  sudo apt-get update && sudo apt-get install -y --no-install-recommends $pkgs" >&2
		exit 1
	fi
	echo "pcnn: installing missing Debian packages: $pkgs" >&2
	apt-get update -qq >&2
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $pkgs >&2
	echo "pcnn: installed: $pkgs" >&2
}

case "${1:-}" in
list)    echo "$PACKAGES" ;;
install|ensure)
	m=$(missing)
	if [ -n "$m" ]; then
		install_now "$m"
	elif [ "$1" = install ]; then
		echo "pcnn: all Debian packages present: $PACKAGES" >&2
	fi ;;
*)       echo "usage: pipelines/deps.sh install|ensure|list" >&2; exit 2 ;;
esac
