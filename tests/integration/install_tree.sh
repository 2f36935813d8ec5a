#!/bin/sh
# install_tree.sh - `make install DESTDIR=... PREFIX=...` lays out what a packager expects
# (binary, both man pages, the unit naming the installed path, bash completion, the example
# configuration, docs), installs nothing outside DESTDIR, keeps a configured
# /etc/mailpulse.conf, and `make uninstall` takes back all it put there but a changed config.
set -u
. "$(dirname "$0")/lib.sh"

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BUILDDIR=$(dirname "$BIN")
D=$WORK/dest
mk() { make --no-print-directory -C "$ROOT" BUILD="$BUILDDIR" DESTDIR="$D" "$@"; }

if mk install PREFIX=/usr/local >"$WORK/install.out" 2>&1; then
    ok "make install DESTDIR=... PREFIX=/usr/local"
else
    not_ok "make install: $(tail -5 "$WORK/install.out" | tr '\n' ' ')"
    exit 0
fi
(cd "$D" && find . -type f | sed 's|^\./|/|' | sort) >"$WORK/files"
cat >"$WORK/want" <<'LIST'
/etc/mailpulse.conf
/usr/local/bin/mailpulse
/usr/local/lib/mailpulse/mailpulse-full
/usr/local/lib/systemd/system/mailpulse-compact.service
/usr/local/lib/systemd/system/mailpulse-compact.timer
/usr/local/lib/systemd/system/mailpulse.service
/usr/local/share/bash-completion/completions/mailpulse
/usr/local/share/doc/mailpulse/README.md
/usr/local/share/doc/mailpulse/examples/grafana/mailpulse.json
/usr/local/share/doc/mailpulse/examples/mailpulse.conf
/usr/local/share/doc/mailpulse/examples/prometheus/alerts.yml
/usr/local/share/man/man5/mailpulse.conf.5
/usr/local/share/man/man8/mailpulse.8
LIST
check_eq "the installed files, and only those" "$(cat "$WORK/want")" "$(cat "$WORK/files")"
check_eq "the binary is mode 755" 755 "$(stat -c %a "$D/usr/local/bin/mailpulse")"
check_eq "the man page is mode 644" 644 "$(stat -c %a "$D/usr/local/share/man/man8/mailpulse.8")"
check_eq "the unit's ExecStart names the installed binary" \
    "ExecStart=/usr/local/bin/mailpulse serve --config /etc/mailpulse.conf --foreground" \
    "$(grep '^ExecStart=' "$D/usr/local/lib/systemd/system/mailpulse.service")"
check_eq "the compaction unit runs the installed binary on the installed configuration" \
    "ExecStart=/usr/local/bin/mailpulse db compact --config /etc/mailpulse.conf" \
    "$(grep '^ExecStart=' "$D/usr/local/lib/systemd/system/mailpulse-compact.service")"
check_eq "the unit's Documentation names the installed docs" \
    "Documentation=man:mailpulse(8) man:mailpulse.conf(5) file:///usr/local/share/doc/mailpulse/README.md" \
    "$(grep '^Documentation=' "$D/usr/local/lib/systemd/system/mailpulse.service")"
check_eq "the installed binary's --version is the build's" "$("$BIN" --version)" \
    "$("$D/usr/local/bin/mailpulse" --version)"
v=$("$BIN" --version)
case $v in
"mailpulse $(cat "$ROOT/VERSION")"*) ok "--version starts with VERSION ($v)" ;;
*) not_ok "--version starts with VERSION (got $v)" ;;
esac
check_eq "-V is --version" "$v" "$("$BIN" -V)"
# mailpulse runs parse itself, linked without the server libraries, and hands the other
# commands to the installed mailpulse-full.
case $(ldd "$D/usr/local/bin/mailpulse") in
*libpq* | *libmicrohttpd* | *libcurl* | *libgmime*) not_ok "mailpulse links no server library" ;;
*) ok "mailpulse links no server library" ;;
esac
check_eq "the installed mailpulse runs report through mailpulse-full" \
    "$("$BIN" report --year 2026 "$ROOT/samples/mail.log" 2>&1)" \
    "$("$D/usr/local/bin/mailpulse" report --year 2026 "$ROOT/samples/mail.log" 2>&1)"
mv "$D/usr/local/lib/mailpulse/mailpulse-full" "$WORK/full.away"
err=$("$D/usr/local/bin/mailpulse" report "$ROOT/samples/mail.log" 2>&1 >/dev/null)
case $err in
*"cannot run mailpulse-full ($D/usr/local/bin/mailpulse-full or $D/usr/local/bin/../lib/mailpulse/mailpulse-full): No such file or directory"*)
    ok "without mailpulse-full, report says where it looked" ;;
*) not_ok "without mailpulse-full, report says where it looked: $err" ;;
esac
mv "$WORK/full.away" "$D/usr/local/lib/mailpulse/mailpulse-full"
# One that is there but cannot run (beside mailpulse, none in ../lib): its error is the one told.
mv "$D/usr/local/lib/mailpulse/mailpulse-full" "$D/usr/local/bin/mailpulse-full"
chmod a-x "$D/usr/local/bin/mailpulse-full"
err=$("$D/usr/local/bin/mailpulse" report "$ROOT/samples/mail.log" 2>&1 >/dev/null)
case $err in
*"cannot run mailpulse-full ("*"): Permission denied"*)
    ok "a mailpulse-full that cannot run: report names the real cause" ;;
*) not_ok "a mailpulse-full that cannot run: report names the real cause: $err" ;;
esac
chmod 755 "$D/usr/local/bin/mailpulse-full"
mv "$D/usr/local/bin/mailpulse-full" "$D/usr/local/lib/mailpulse/mailpulse-full"

# A configured host keeps its configuration through install and uninstall.
echo "; configured" >>"$D/etc/mailpulse.conf"
cp "$D/etc/mailpulse.conf" "$WORK/conf.mine"
mk install PREFIX=/usr/local >/dev/null 2>&1
check "a second install keeps a changed /etc/mailpulse.conf" cmp -s "$WORK/conf.mine" "$D/etc/mailpulse.conf"
mk uninstall PREFIX=/usr/local >"$WORK/uninstall.out" 2>&1 || not_ok "make uninstall"
check_eq "make uninstall leaves only the changed configuration" "/etc/mailpulse.conf" \
    "$(cd "$D" && find . -type f | sed 's|^\./|/|')"

# PREFIX=/usr UNITDIR=/lib/systemd/system, as the Debian package installs
rm -rf "$D"
mk install PREFIX=/usr UNITDIR=/lib/systemd/system >/dev/null 2>&1
check_eq "PREFIX=/usr: ExecStart=/usr/bin/mailpulse" \
    "ExecStart=/usr/bin/mailpulse serve --config /etc/mailpulse.conf --foreground" \
    "$(grep '^ExecStart=' "$D/lib/systemd/system/mailpulse.service" 2>&1)"
mk uninstall PREFIX=/usr UNITDIR=/lib/systemd/system >/dev/null 2>&1
check_eq "make uninstall of an untouched install leaves no file" "" "$(cd "$D" && find . -type f)"
