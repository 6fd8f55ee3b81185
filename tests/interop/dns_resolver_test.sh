#!/usr/bin/env bash
# The system resolver finds services through registryd's DNS face: in a
# mount and network namespace of its own (unshare -m -n, root only; skipped
# otherwise, exit 77), registryd serves DNS on 127.0.0.1:53, a resolv.conf
# naming it is mounted over /etc/resolv.conf, and glibc's getent lists the
# instances registered through gRPC.
# Usage: tests/interop/dns_resolver_test.sh build/src/registryd build/tools/registryctl
set -euo pipefail
registryd=$(realpath "$1")
registryctl=$(realpath "$2")
if [ "$(id -u)" -ne 0 ] || ! unshare -m -n true 2>/dev/null; then
  echo "skipped: needs root and unshare -m -n"
  exit 77
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cat >"$work/inside.sh" <<'EOF'
set -euo pipefail
registryd=$1 registryctl=$2 work=$3
ip link set lo up
echo "nameserver 127.0.0.1" >"$work/resolv.conf"
mount --bind "$work/resolv.conf" /etc/resolv.conf
"$registryd" --listen 127.0.0.1:50051 --http-listen "" --dns-listen 127.0.0.1:53 --data-dir "" \
  2>"$work/registryd.log" &
server=$!
trap 'kill $server; wait $server || true' EXIT
for _ in $(seq 100); do
  grep -q "listening on" "$work/registryd.log" && break
  sleep 0.1
done
grep -q "listening on" "$work/registryd.log" || { cat "$work/registryd.log"; exit 1; }
ctl=("$registryctl" --target 127.0.0.1:50051)
"${ctl[@]}" register --service orders --address 10.20.0.1:8080 --instance-id web-1 >/dev/null
"${ctl[@]}" register --service orders --address [fd00::20:2]:8080 --instance-id web-2 >/dev/null
listed=$(getent ahosts orders.service.registryd | awk '{print $1}' | sort -u | tr '\n' ' ')
echo "getent ahosts orders.service.registryd: $listed"
[ "$listed" = "10.20.0.1 fd00::20:2 " ] || { echo "want: 10.20.0.1 fd00::20:2"; exit 1; }
# A name that does not exist is not found (NXDOMAIN): getent exits 2.
if getent ahosts nothere.service.registryd >/dev/null; then echo "nothere.service.registryd resolved"; exit 1; fi
one=$(getent hosts web-1.orders.instance.registryd | awk '{print $1}')
[ "$one" = "10.20.0.1" ] || { echo "web-1.orders.instance.registryd: '$one'"; exit 1; }
echo "the system resolver finds the instances"
EOF
unshare -m -n bash "$work/inside.sh" "$registryd" "$registryctl" "$work"
