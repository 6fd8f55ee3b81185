#!/usr/bin/env bash
# The Debian package as an operator gets it: installed with dpkg -i, its unit
# checked by systemd-analyze (verify, and the offline security rating), the
# installed programs' --version and --check-config, the installed registryd
# started as an unprivileged user from the packaged configuration (state in a
# temporary dir), an instance registered and discovered through the
# installed registryctl, then dpkg -P and nothing of it left behind.
#
#   package_test.sh BUILD_DIR
#
# tests the newest registryd_*.deb in BUILD_DIR (tools/package.sh's output).
# It changes the machine (it installs, then purges, a package): it needs
# root, and refuses to run where a registryd package is installed already.
# Without root it is skipped (exit 77). tools/test.sh makes the package
# with tools/package.sh first.
set -uo pipefail

deb=$(ls -t "$1"/registryd_*.deb 2>/dev/null | head -n 1)
if [ "$(id -u)" -ne 0 ]; then
  echo "skipped: installing a package needs root (CI runs it as root on a machine of its own)"
  exit 77
fi
if dpkg-query -W -f='${Status}' registryd 2>/dev/null | grep -q "installed"; then
  echo "FAIL: a registryd package is installed here already; this test would replace, then purge it"
  exit 1
fi
if [ -z "$deb" ]; then
  echo "FAIL: no registryd_*.deb in $1: make it with tools/package.sh first (tools/test.sh does)"
  exit 1
fi

failures=0
check() {  # check DESCRIPTION COMMAND...: runs COMMAND, reports, counts a failure
  local description=$1
  shift
  local output
  if output=$("$@" 2>&1); then
    echo "ok: $description"
  else
    echo "FAIL: $description"
    echo "$output" | sed 's/^/    /' | tail -n 30
    failures=$((failures + 1))
  fi
}

work=$(mktemp -d)
chmod 0755 "$work"  # nobody reaches the data dir inside
server_pid=
cleanup() {
  [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null
  dpkg -P registryd >/dev/null 2>&1
  rm -rf "$work"
}
trap cleanup EXIT

check "dpkg -i installs it with its dependencies present" dpkg -i "$deb"
dpkg -L registryd | sort >"$work/files"

check "the installed files are where Debian expects them" bash -c '
  for path in /usr/sbin/registryd /usr/bin/registryctl /lib/systemd/system/registryd.service \
      /etc/registryd/registryd.toml /etc/logrotate.d/registryd /usr/share/man/man8/registryd.8.gz \
      /usr/share/man/man1/registryctl.1.gz /usr/share/doc/registryd/copyright; do
    [ -f "$path" ] || { echo "missing: $path"; exit 1; }
  done
  grep -qx /etc/registryd/registryd.toml /var/lib/dpkg/info/registryd.conffiles || { echo "not a conffile"; exit 1; }'
check "registryd --version names the version and revision" bash -c \
  '/usr/sbin/registryd --version | grep -E "^registryd [0-9]+\.[0-9]+\.[0-9]+ \(.+\)$"'
check "registryctl --version too" bash -c \
  '/usr/bin/registryctl --version | grep -E "^registryctl [0-9]+\.[0-9]+\.[0-9]+ \(.+\)$"'
check "the packaged configuration passes --check-config" \
  /usr/sbin/registryd --config /etc/registryd/registryd.toml --check-config
check "logrotate reads the package's file" logrotate --debug /etc/logrotate.d/registryd
check "man finds both pages" bash -c 'man -w registryd.8 && man -w registryctl.1'
check "systemd-analyze verify finds nothing in the unit" \
  systemd-analyze verify /lib/systemd/system/registryd.service
check "systemd-analyze security rates the unit OK or better (exposure at most 2.0)" bash -c '
  rating=$(systemd-analyze security --offline=yes /lib/systemd/system/registryd.service 2>&1 |
    sed -n "s/.*Overall exposure level for registryd.service: \([0-9.]*\).*/\1/p")
  echo "exposure: ${rating:-none}"
  [ -n "$rating" ] && python3 -c "import sys; sys.exit(0 if float(sys.argv[1]) <= 2.0 else 1)" "$rating"'

# The installed registryd as an unprivileged user, from the packaged
# configuration; loopback ports of its own and a temporary data dir.
install -d -o nobody -g nogroup "$work/state"
setpriv --reuid=nobody --regid=nogroup --clear-groups --inh-caps=-all \
  /usr/sbin/registryd --config /etc/registryd/registryd.toml --data-dir "$work/state" \
  --listen 127.0.0.1:0 --http-listen 127.0.0.1:0 --dns-listen 127.0.0.1:0 2>"$work/registryd.log" &
server_pid=$!
address=
for _ in $(seq 1 300); do
  address=$(sed -n 's/.*registryd listening on \([^ ]*\).*/\1/p' "$work/registryd.log" | head -n 1)
  [ -n "$address" ] && break
  kill -0 "$server_pid" 2>/dev/null || break
  sleep 0.1
done
check "the installed registryd serves as nobody from the packaged configuration" test -n "$address"
if [ -n "$address" ]; then
  check "registryctl registers an instance" \
    /usr/bin/registryctl --target "$address" register --service package-test --instance-id one --address 127.0.0.1:9
  check "registryctl discovers it" bash -c \
    "/usr/bin/registryctl --target '$address' discover package-test | grep -q 127.0.0.1:9"
  check "its state is in the data dir given, owned by nobody" bash -c \
    "[ -n \"\$(find '$work/state' -mindepth 1 -user nobody -print -quit)\" ]"
  kill -TERM "$server_pid"
  wait "$server_pid"
  check "it stops cleanly on SIGTERM" test $? -eq 0
  server_pid=
fi
[ $failures -eq 0 ] || { echo "--- registryd's log:"; tail -n 20 "$work/registryd.log"; }

check "dpkg -P purges it" dpkg -P registryd
check "nothing of it is left behind" bash -c '
  left=0
  while read -r path; do
    [ -d "$path" ] && continue  # directories (/lib, /etc) are shared
    if [ -e "$path" ] || [ -L "$path" ]; then echo "left: $path"; left=1; fi
  done <"$1"
  for dir in /etc/registryd /usr/share/doc/registryd; do
    [ -e "$dir" ] && { echo "left: $dir"; left=1; }
  done
  dpkg-query -W registryd >/dev/null 2>&1 && { echo "dpkg still knows registryd"; left=1; }
  exit $left' _ "$work/files"

echo "$failures failure(s)"
[ $failures -eq 0 ]
