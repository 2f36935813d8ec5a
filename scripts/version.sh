#!/bin/sh
# version.sh - print mailpulse's version: `git describe` in a git checkout, else VERSION.
#
# VERSION holds the release number. A git checkout says more: the nearest tag (v0.2.0 ->
# 0.2.0, with -N-gHASH when commits follow it), or, before the first tag, VERSION followed by
# +gHASH; -dirty marks uncommitted changes. A tree without .git of its own (a tarball, the
# copy a Debian package is built from) never asks git, so a repository around it is not read.
set -eu
cd "$(dirname "$0")/.."
base=$(cat VERSION)
if [ -e .git ] && command -v git >/dev/null 2>&1 &&
    d=$(git describe --tags --always --dirty 2>/dev/null); then
    case $d in
    v[0-9]*) echo "${d#v}" ;;
    [0-9]*.*) echo "$d" ;;
    *) echo "$base+g$d" ;;
    esac
else
    echo "$base"
fi
