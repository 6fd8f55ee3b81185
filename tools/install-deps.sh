#!/usr/bin/env bash
# Installs the Debian 12 packages registryd builds, tests and benchmarks with
# (libssl-dev: libcrypto's pkg-config file, for the policy's token hashes;
# etcd-server: registry_bench --compare etcd; openssl: the TLS tests make
# their certificates with it; libcpp-httplib-dev: the HTTP face; prometheus:
# its promtool checks /metrics, and Prometheus itself discovers registered
# servers in a test; chromium: the dashboard's browser test; libclang-rt-14-dev: clang's sanitizer and
# libFuzzer runtimes, only a Recommends of clang-14, which --no-install-recommends
# leaves out; llvm: llvm-symbolizer, without which the sanitizers cannot name
# a report's frames, and TSan's suppressions, matched by function name, do
# not apply; libsystemd-dev: sd_notify; help2man: the man pages; lintian,
# systemd, man-db and logrotate: the package's checks, its unit's
# systemd-analyze, the man pages and the logrotate file it installs; fiu-utils:
# fiu-run and fiu-ctrl, the robustness harness's fsync and write errors;
# libldns-dev: the DNS face's messages; python3-dnspython, bind9-dnsutils and
# haproxy: its tests ask it with dnspython and dig, and balance over it;
# iproute2: the resolver test brings loopback up in a namespace of its own;
# nsd and dnsperf: bench/dns_bench.py measures the DNS face against NSD with
# dnsperf; the bench starts its own NSD, so the system's is stopped and
# disabled when this script installs it). Checked on a fresh Debian 12 (debootstrap --variant=minbase).
# As root it runs apt-get; otherwise it prints the command to run and fails.
set -euo pipefail

packages=(
  build-essential clang libclang-rt-14-dev llvm lld meson ninja-build pkg-config
  libgrpc++-dev libprotobuf-dev libssl-dev protobuf-compiler protobuf-compiler-grpc
  libfmt-dev libcli11-dev libgtest-dev libgmock-dev libbenchmark-dev libcpp-httplib-dev
  python3 python3-grpcio python3-protobuf
  etcd-server openssl prometheus chromium
  libsystemd-dev help2man lintian systemd man-db logrotate fiu-utils
  libldns-dev python3-dnspython bind9-dnsutils haproxy iproute2
  nsd dnsperf
)

missing=()
for package in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
  echo "Missing packages. Run as root:" >&2
  echo "  apt-get update && apt-get install -y ${missing[*]}" >&2
  exit 1
fi
echo "Installing: ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null

# Where systemd runs, Debian's nsd starts a system NSD on port 53; the bench
# starts its own. Stopped and disabled only when this script installed it;
# without systemd running (a container) only the unit's enablement goes.
if [[ " ${missing[*]} " == *" nsd "* ]] && command -v systemctl >/dev/null; then
  if [ -d /run/systemd/system ]; then
    systemctl disable --now nsd >/dev/null 2>&1 || echo "warning: could not stop the system's nsd" >&2
  else
    systemctl disable nsd >/dev/null 2>&1 || true
  fi
fi
