#!/bin/sh
# setup.sh - install the Debian 12 packages mailpulse needs to build, run and test.
# Idempotent and quiet when everything is present. Must run as root to install.
set -eu

pkgs="build-essential pkg-config libpq-dev libgmime-3.0-dev postgresql-15 libmicrohttpd-dev libcjson-dev
      libpcap-dev libinih-dev libsystemd-dev zlib1g-dev libcmocka-dev curl python3
      libcurl4-openssl-dev
      clang clang-format clang-tidy cppcheck libclang-rt-14-dev procps util-linux bc
      systemd-journal-remote pflogsumm python3-yaml python3-milter
      python3-scapy tshark swaks chromium wrk openssl fonts-dejavu-core
      m4 libidn12 libwrap0 libgnutls-dane0 liblockfile1 libldap-2.5-0 libsasl2-2 libdb5.3
      man-db prometheus debhelper dpkg-dev fakeroot lintian"

missing=""
for p in $pkgs; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
        missing="$missing $p"
    fi
done
[ -z "$missing" ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
    echo "setup: missing packages:$missing" >&2
    echo "setup: run as root (or: sudo apt-get install$missing)" >&2
    exit 1
fi
echo "setup: installing$missing" >&2
export DEBIAN_FRONTEND=noninteractive
# The package lists of a fresh machine are empty; update once, quietly.
apt-get update -qq >/dev/null
# prometheus is installed for its promtool; its package would also start a Prometheus
# server. A policy-rc.d (only when the machine has none) keeps that service from starting,
# and its unit is left disabled afterwards.
policy=/usr/sbin/policy-rc.d
case " $(echo $missing) " in
*" prometheus "*)
    if [ ! -e "$policy" ]; then
        printf '#!/bin/sh\n# scripts/setup.sh of mailpulse: no prometheus server while promtool installs\nfor a; do [ "$a" = prometheus ] && exit 101; done\nexit 0\n' >"$policy"
        chmod 755 "$policy"
        trap 'rm -f "$policy"' EXIT
    fi
    ;;
esac
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends $missing >/dev/null
case " $(echo $missing) " in
*" prometheus "*)
    deb-systemd-helper disable prometheus.service >/dev/null 2>&1 || true
    update-rc.d prometheus disable >/dev/null 2>&1 || true
    ;;
esac
# Debian's postgresql package starts a system cluster; mailpulse runs its own under ./var.
echo "setup: done" >&2
