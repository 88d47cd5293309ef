#!/bin/sh
# deps.sh -- install the Debian 12 packages mtad needs to build (--build) or to
# build and run its tests (--test, the default).  Idempotent: when everything is
# there it prints nothing and exits 0.  As root it installs what is missing with
# apt-get; otherwise it prints the exact apt-get line and exits 1.
#
#   contrib/deps.sh [--build|--test] [--check]
#   --check: only report (exit 1 when something is missing), never install.
set -eu

BUILD="make gcc pkg-config libgnutls28-dev gnutls-bin libidn2-dev libunbound-dev libpsl-dev publicsuffix
libevent-dev libsqlite3-dev libncurses-dev libjansson-dev libcrypt-dev"
TEST="python3 python3-pytest python3-dnslib python3-dnspython python3-dkim
python3-nacl python3-aiosmtpd python3-pyte swaks libnet-ssleay-perl
libio-socket-inet6-perl libdigest-hmac-perl msmtp postfix tmux strace clang
libclang-rt-14-dev sqlite3 mandoc man-db"

want=$BUILD
check=0
for arg in "$@"; do
    case "$arg" in
    --build) want=$BUILD ;;
    --test) want="$BUILD $TEST" ;;
    --check) check=1 ;;
    *) echo "usage: $0 [--build|--test] [--check]" >&2; exit 2 ;;
    esac
done
[ $# -eq 0 ] && want="$BUILD $TEST"

missing=""
for p in $want; do
    st=$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)
    [ "$st" = "installed" ] || missing="$missing $p"
done
[ -z "$missing" ] && exit 0

line="apt-get install -y --no-install-recommends$missing"
if [ "$check" = 1 ] || [ "$(id -u)" != 0 ]; then
    echo "deps.sh: missing Debian packages:$missing" >&2
    echo "deps.sh: as root run: $line" >&2
    exit 1
fi

echo "deps.sh: installing:$missing" >&2
export DEBIAN_FRONTEND=noninteractive
# Postfix is only wanted for smtp-source/smtp-sink: no configuration, no daemon.
echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
apt-get update -qq >&2 || true
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends $missing >&2
