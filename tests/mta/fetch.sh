#!/bin/sh
# fetch.sh - Debian MTA packages unpacked into a private tree, for the real-MTA tests.
#
# usage: fetch.sh DIR PKG...   prints DIR/root
#
# Exim, Sendmail and Postfix conflict in dpkg, so they are not installed: each package is
# fetched with `apt-get download` and unpacked with `dpkg-deb -x` under DIR/root, once (a
# stamp per package). Set-id bits are dropped: the tests run the binaries as they are, from
# there, with their own configuration. The libraries they need that do not conflict
# (libidn12, libwrap0, m4 ...) come from scripts/setup.sh. Where two packages ship the same
# path, the one unpacked last wins; see sendmail.PKG below.
set -eu
dir=$1
shift
mkdir -p "$dir/debs" "$dir/root"
for pkg in "$@"; do
    [ -f "$dir/debs/.unpacked-$pkg" ] && continue
    rm -f "$dir/debs/${pkg}"_*.deb
    # apt-get download writes into the current directory; _apt cannot, so it warns.
    (cd "$dir/debs" && apt-get download -qq "$pkg" 2>&1 | grep -v '^W: Download is performed unsandboxed' >&2) || true
    deb=$(ls "$dir/debs/${pkg}"_*.deb 2>/dev/null | head -1)
    if [ -z "$deb" ]; then
        echo "fetch.sh: cannot download $pkg (apt-get update? network?)" >&2
        exit 1
    fi
    dpkg-deb -x "$deb" "$dir/root"
    # /usr/sbin/sendmail is shipped by Postfix and by Exim (a link to exim4): whichever was
    # unpacked last owns it, so a package's own program is also kept as sendmail.PKG
    if dpkg-deb -c "$deb" | grep '^-.* \./usr/sbin/sendmail$' >/dev/null; then
        cp "$dir/root/usr/sbin/sendmail" "$dir/root/usr/sbin/sendmail.$pkg"
    fi
    touch "$dir/debs/.unpacked-$pkg"
done
find "$dir/root/usr" -type f -perm /6000 -exec chmod ug-s {} +
echo "$dir/root"
