#!/bin/sh
# deb.sh - build the Debian package in a copy of the tree and put the .deb files in OUTDIR.
#
#   sh scripts/deb.sh OUTDIR
#
# dpkg-buildpackage writes into the source tree and beside it; building in a copy leaves this
# tree as it was. The copy holds the files git knows (committed or not, minus ignored ones),
# or, outside a git checkout, the tree without its build products. It has no .git, so the
# version is VERSION's, the one debian/changelog must match.
set -eu
cd "$(dirname "$0")/.."
[ $# -eq 1 ] || { echo "usage: deb.sh OUTDIR" >&2; exit 2; }
mkdir -p "$1"
out=$(cd "$1" && pwd)
tmp=$(mktemp -d "${TMPDIR:-/tmp}/mailpulse-deb.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
src=$tmp/mailpulse-$(cat VERSION)
mkdir "$src"

if [ -e .git ] && git rev-parse --git-dir >/dev/null 2>&1; then
    git ls-files -z --cached --others --exclude-standard |
        xargs -0 sh -c 'for f; do [ -e "$f" ] && printf "%s\0" "$f"; done' sh |
        tar --null -T - -cf - | tar -C "$src" -xf -
else
    tar --exclude=./build --exclude=./build-asan --exclude=./build-fuzz --exclude=./var \
        --exclude=./mailpulse --exclude=./.git -cf - . | tar -C "$src" -xf -
fi

want=$(cat VERSION)
have=$(dpkg-parsechangelog -l debian/changelog -S Version)
case $have in
"$want" | "$want"-*) ;;
*)
    echo "deb.sh: debian/changelog says $have, VERSION says $want" >&2
    exit 1
    ;;
esac

(cd "$src" && dpkg-buildpackage -b -us -uc -j"${DEB_JOBS:-2}") >"$tmp/build.log" 2>&1 || {
    tail -40 "$tmp/build.log" >&2
    echo "deb.sh: dpkg-buildpackage failed" >&2
    exit 1
}
mv "$tmp"/*.deb "$tmp"/*.buildinfo "$tmp"/*.changes "$out"/
ls "$out"/*.deb
