#!/bin/sh
# deb_package.sh - the Debian package: built by dpkg-buildpackage -b -us -uc in a copy of the
# tree (scripts/deb.sh) without touching this one, lintian reports no error, the unpacked
# binary prints the package's version and parses the sample like the build's binary, and
# the package installs, configures and purges in a throwaway root: a copy-on-write overlay
# of this machine's own filesystem in a private mount namespace, discarded at the end.
set -u
. "$(dirname "$0")/lib.sh"

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
for tool in dpkg-buildpackage dh lintian fakeroot; do
    if ! command -v "$tool" >/dev/null 2>&1; then
        not_ok "$tool is installed (make setup installs debhelper, dpkg-dev, fakeroot, lintian)"
        exit 0
    fi
done

# debian/control's Build-Depends resolve in the archive (what `apt-get build-dep ./` installs).
if (cd "$ROOT" && apt-get build-dep -s ./) >"$WORK/builddep.out" 2>&1; then
    ok "apt-get build-dep -s ./ resolves the build dependencies"
else
    not_ok "apt-get build-dep -s ./: $(tail -3 "$WORK/builddep.out" | tr '\n' ' ')"
fi

# What the tree looks like before, ignored files included, to see that the build left it alone.
tree_state() {
    (cd "$ROOT" && git status --porcelain --ignored 2>/dev/null; ls -a "$ROOT" "$ROOT/debian")
}
tree_state >"$WORK/tree.before"

t0=$(date +%s)
if sh "$ROOT/scripts/deb.sh" "$WORK/deb" >"$WORK/deb.out" 2>&1; then
    ok "dpkg-buildpackage -b -us -uc builds the package ($(($(date +%s) - t0)) s)"
else
    not_ok "dpkg-buildpackage: $(tail -15 "$WORK/deb.out" | tr '\n' ' ')"
    exit 0
fi
tree_state >"$WORK/tree.after"
if cmp -s "$WORK/tree.before" "$WORK/tree.after"; then
    ok "the build left the source tree as it was"
else
    not_ok "the build changed the source tree: $(diff "$WORK/tree.before" "$WORK/tree.after" | head -5 | tr '\n' ' ')"
fi

VERSION=$(cat "$ROOT/VERSION")
DEB=$WORK/deb/mailpulse_${VERSION}_$(dpkg --print-architecture).deb
check "the package is named mailpulse_${VERSION}_ARCH.deb" test -f "$DEB"

lintian --no-tag-display-limit "$WORK"/deb/mailpulse_*.changes >"$WORK/lintian.out" 2>&1
errors=$(grep -c '^E: ' "$WORK/lintian.out")
check_eq "lintian reports no errors" 0 "$errors"
grep '^[EW]: ' "$WORK/lintian.out" | head -20 | sed 's/^/# lintian: /'

# --- the package's contents
: >"$WORK/absent"
dpkg-deb -c "$DEB" | awk '{ print $6 }' | sed 's|^\./|/|' >"$WORK/contents"
for f in /usr/bin/mailpulse /usr/lib/mailpulse/mailpulse-full /usr/share/man/man8/mailpulse.8.gz \
    /usr/share/man/man5/mailpulse.conf.5.gz /lib/systemd/system/mailpulse.service \
    /lib/systemd/system/mailpulse-compact.service /lib/systemd/system/mailpulse-compact.timer \
    /etc/mailpulse.conf /usr/share/bash-completion/completions/mailpulse \
    /usr/share/doc/mailpulse/copyright /usr/share/doc/mailpulse/examples/grafana/mailpulse.json \
    /usr/share/doc/mailpulse/examples/prometheus/alerts.yml; do
    grep -qx "$f" "$WORK/contents" || echo "$f" >>"$WORK/absent"
done
check_eq "the package holds both programs, both man pages, the unit, the config, completion, examples" \
    "" "$(tr '\n' ' ' <"$WORK/absent")"
dpkg-deb -e "$DEB" "$WORK/control"
check_eq "/etc/mailpulse.conf is a conffile" "/etc/mailpulse.conf" "$(cat "$WORK/control/conffiles")"

dpkg-deb -x "$DEB" "$WORK/unpacked"
u=$WORK/unpacked
check_eq "the unit runs the installed binary" "ExecStart=/usr/bin/mailpulse serve --config /etc/mailpulse.conf --foreground" \
    "$(grep '^ExecStart=' "$u/lib/systemd/system/mailpulse.service")"

# --- the unpacked binary
check_eq "unpacked mailpulse --version" "mailpulse $VERSION" "$("$u/usr/bin/mailpulse" --version)"
"$u/usr/bin/mailpulse" parse --year 2026 "$ROOT/samples/mail.log" >"$WORK/parse.deb" 2>"$WORK/parse.err"
"$BIN" parse --year 2026 "$ROOT/samples/mail.log" >"$WORK/parse.build" 2>/dev/null
n=$(wc -l <"$WORK/parse.deb")
if [ "$n" -gt 10 ] && cmp -s "$WORK/parse.deb" "$WORK/parse.build"; then
    ok "unpacked mailpulse parse samples/mail.log: the build's $n events"
else
    not_ok "unpacked mailpulse parse: $n events, differing from the build's"
fi
check_eq "unpacked mailpulse report (through mailpulse-full)" \
    "$("$BIN" report --year 2026 "$ROOT/samples/mail.log" 2>&1)" \
    "$("$u/usr/bin/mailpulse" report --year 2026 "$ROOT/samples/mail.log" 2>&1)"
if MANWIDTH=80 man -l "$u/usr/share/man/man8/mailpulse.8.gz" 2>/dev/null | grep -q 'EXIT STATUS'; then
    ok "the packaged mailpulse(8) renders"
else
    not_ok "the packaged mailpulse(8) renders"
fi

# --- install, configure and purge in a throwaway root
OV=$WORK/overlay
# What the install touches, on the host: it must stay as it was.
host_state() {
    # existence, owner and mode only: serve runs of other tests may write in /var/lib/mailpulse
    for f in /usr/bin/mailpulse /etc/mailpulse.conf /var/lib/mailpulse /lib/systemd/system/mailpulse.service; do
        stat -c '%n %U:%G %a' "$f" 2>&1
    done
    getent passwd mailpulse
    dpkg-query -W -f='${Status}\n' mailpulse 2>&1
}
host_state >"$WORK/host.before"
mkdir -p "$OV"
cp "$DEB" "$WORK/mailpulse.deb"
cp "$ROOT/samples/mail.log" "$WORK/mail.log"
cat >"$WORK/in-root.sh" <<'INROOT'
set -u
say() { echo "$1 - $2"; }
t() { n=$1; shift; if "$@" >/dev/null 2>&1; then say ok "$n"; else say "not ok" "$n"; fi; }
eq() { if [ "$2" = "$3" ]; then say ok "$1"; else say "not ok" "$1 (want '$2', got '$3')"; fi; }
export DEBIAN_FRONTEND=noninteractive
t "in the throwaway root: dpkg -i mailpulse.deb" dpkg -i /tmp/mailpulse.deb
t "in the throwaway root: the mailpulse user is a system user" \
    sh -c '[ "$(id -u mailpulse)" -lt 1000 ]'
t "in the throwaway root: mailpulse is in group adm" sh -c 'id -nG mailpulse | grep -qw adm'
eq "in the throwaway root: /var/lib/mailpulse" "mailpulse:mailpulse 750" \
    "$(stat -c '%U:%G %a' /var/lib/mailpulse)"
eq "in the throwaway root: /etc/mailpulse.conf" "root:mailpulse 640" \
    "$(stat -c '%U:%G %a' /etc/mailpulse.conf)"
t "in the throwaway root: the unit is not enabled" \
    sh -c '! ls /etc/systemd/system/*.wants/mailpulse.service'
eq "in the throwaway root: /usr/bin/mailpulse --version" "mailpulse $1" "$(mailpulse --version)"
t "in the throwaway root: mailpulse parse as the mailpulse user" \
    sh -c 'setpriv --reuid=mailpulse --regid=mailpulse --init-groups mailpulse parse --year 2026 /tmp/mail.log | grep -q "\"status\":\"bounced\""'
t "in the throwaway root: the configuration is valid as shipped (--check-config)" \
    sh -c 'mailpulse serve --check-config | grep -q "/var/log/mail.log"'
t "in the throwaway root: systemd-analyze verify mailpulse.service" \
    systemd-analyze verify /lib/systemd/system/mailpulse.service
t "in the throwaway root: systemd-analyze verify the compaction service and timer" \
    systemd-analyze verify /lib/systemd/system/mailpulse-compact.service \
    /lib/systemd/system/mailpulse-compact.timer
t "in the throwaway root: the compaction timer is not enabled" \
    sh -c '! ls /etc/systemd/system/*.wants/mailpulse-compact.timer'
t "in the throwaway root: db compact --config finds the shipped configuration's database" \
    sh -c 'mailpulse db compact --config /etc/mailpulse.conf 2>&1 | grep -q "cannot connect to the database"' 
t "in the throwaway root: man mailpulse finds the page" sh -c 'man -w mailpulse | grep -q mailpulse.8'
t "in the throwaway root: dpkg --purge mailpulse" dpkg --purge mailpulse
t "in the throwaway root: purge removed the binary, config and state" \
    sh -c '! [ -e /usr/bin/mailpulse ] && ! [ -e /etc/mailpulse.conf ] && ! [ -e /var/lib/mailpulse ]'
INROOT
# unshare -m: the mounts below exist only in this namespace; the overlay's upper layer is a
# tmpfs, so whatever dpkg writes vanishes with it.
unshare -m --propagation private sh -c '
    set -e
    OV=$1 W=$2
    mount -t tmpfs tmpfs "$OV"
    mkdir "$OV/up" "$OV/wk" "$OV/root"
    mount -t overlay overlay -o "lowerdir=/,upperdir=$OV/up,workdir=$OV/wk" "$OV/root"
    mount --bind /proc "$OV/root/proc"
    mount --bind /dev "$OV/root/dev"
    mount -t tmpfs tmpfs "$OV/root/tmp"
    mount -t tmpfs tmpfs "$OV/root/run"
    cp "$W/mailpulse.deb" "$W/mail.log" "$W/in-root.sh" "$OV/root/tmp/"
    echo "root-ready"
    chroot "$OV/root" sh /tmp/in-root.sh "$3"
' sh "$OV" "$WORK" "$VERSION" >"$WORK/root.out" 2>"$WORK/root.err"
if grep -q '^root-ready$' "$WORK/root.out"; then
    grep -v '^root-ready$' "$WORK/root.out"
    grep -q '^ok - in the throwaway root: dpkg --purge' "$WORK/root.out" ||
        tail -5 "$WORK/root.err" | sed 's/^/# /'
else
    echo "# note: no throwaway root could be made here (an overlay of / in a private mount"
    echo "# namespace needs CAP_SYS_ADMIN): $(head -3 "$WORK/root.err" | tr '\n' ' ')"
    echo "# the install, configure and purge checks did not run"
fi
host_state >"$WORK/host.after"
if cmp -s "$WORK/host.before" "$WORK/host.after"; then
    ok "the throwaway install left the host as it was"
else
    not_ok "the throwaway install changed the host: $(diff "$WORK/host.before" "$WORK/host.after" | tr '\n' ' ')"
fi
