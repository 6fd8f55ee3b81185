#!/usr/bin/env bash
# Sets up, builds and starts a local cluster to try cluster mode with: a
# 3-member etcd cluster (Debian's etcd) and 3 registryd nodes over it, all on
# loopback; Ctrl-C stops them all. Clients may use any node, or all of them:
#   build/tools/registryctl --target ipv4:127.0.0.1:50051,127.0.0.1:50052,127.0.0.1:50053 ls
# Each node's HTTP face (metrics, probes, JSON) is on 127.0.0.1:50081..50083.
# Extra arguments go to every registryd node (tools/cluster.sh --log-level debug).
# Data lives in a temporary directory, removed at the end.
set -euo pipefail
cd "$(dirname "$0")/.."

tools/install-deps.sh
[ -f build/build.ninja ] || meson setup build --wrap-mode=nodownload -Dtests=false -Dbench=false
meson compile -C build -j 2 registryd registryctl

data=$(mktemp -d -t registryd-cluster.XXXXXX)
pids=()
stop() {
  trap - INT TERM EXIT
  echo "stopping the cluster" >&2
  # The nodes first (they leave the cluster cleanly), then etcd.
  for pid in "${pids[@]:3}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]:3}"; do wait "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]:0:3}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]:0:3}"; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$data"
}
trap stop INT TERM EXIT

cluster="e0=http://127.0.0.1:2380,e1=http://127.0.0.1:22380,e2=http://127.0.0.1:32380"
endpoints="http://127.0.0.1:2379,http://127.0.0.1:22379,http://127.0.0.1:32379"
for i in 0 1 2; do
  client_port=$((i == 0 ? 2379 : i * 10000 + 12379))
  peer_port=$((client_port + 1))
  # Each child in a session of its own: Ctrl-C reaches only this script,
  # which stops the nodes before etcd, so that they leave the cluster cleanly.
  setsid etcd --name "e$i" --data-dir "$data/e$i" \
    --listen-client-urls "http://127.0.0.1:$client_port" --advertise-client-urls "http://127.0.0.1:$client_port" \
    --listen-peer-urls "http://127.0.0.1:$peer_port" --initial-advertise-peer-urls "http://127.0.0.1:$peer_port" \
    --initial-cluster "$cluster" --initial-cluster-state new \
    --auto-compaction-mode periodic --auto-compaction-retention 1h >"$data/e$i.log" 2>&1 &
  pids+=($!)
done
echo "etcd: $endpoints (logs in $data)" >&2
for i in 1 2 3; do
  setsid build/src/registryd --listen "127.0.0.1:5005$i" --http-listen "127.0.0.1:5008$i" --dns-listen "127.0.0.1:860$i" --etcd-endpoints "$endpoints" "$@" &
  pids+=($!)
done
wait -n "${pids[@]}"
echo "a process of the cluster exited" >&2
