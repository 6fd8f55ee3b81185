#!/usr/bin/env bash
# The robustness harness (docs/ROBUSTNESS.md) on registryd built in build/:
#   tools/robustness.sh --count 200      200 random seeds, stopping at the first failure
#   tools/robustness.sh --count 200 --keep-going   all 200 (a report: runs.log)
#   tools/robustness.sh --seed 7         one seed again (a failing run prints this command)
#   tools/robustness.sh --scenario NAME  a named regression scenario (tests/robustness/testdata/NAME.json)
#     [--mode standalone|cluster] [--fault NAME] [--negative-control] [--keep]
# Failing runs stay in build/tests/robustness/results/<scenario>/<seed>/
# (verdict.json, timeline.html, histories, logs, data dirs); every run's
# one-line outcome goes to build/tests/robustness/results/runs.log.
set -uo pipefail
cd "$(dirname "$0")/.."

count=0
keep_going=0
args=()
while [ $# -gt 0 ]; do
  case "$1" in
    --count) count=$2; shift 2 ;;
    --keep-going) keep_going=1; shift ;;
    *) args+=("$1"); shift ;;
  esac
done

tools/install-deps.sh || exit 1
tools/setup-build.sh || exit 1
meson compile -C build -j 2 registryd registry_bench || exit 1
results=build/tests/robustness/results
mkdir -p "$results"
harness=(/usr/bin/python3 tests/robustness/harness.py --registryd build/src/registryd --etcd "$(command -v etcd)"
  --registry-bench build/bench/registry_bench
  --protos protos --protoc "$(command -v protoc)" --grpc-python-plugin "$(command -v grpc_python_plugin)"
  --results "$results")

if [ "$count" -eq 0 ]; then
  "${harness[@]}" "${args[@]}" | tee -a "$results/runs.log"
  exit "${PIPESTATUS[0]}"
fi
failed=0
for i in $(seq 1 "$count"); do
  seed=$(( (RANDOM << 15 | RANDOM) + 100 ))  # past the CI seeds
  if ! "${harness[@]}" --seed "$seed" "${args[@]}" | tee -a "$results/runs.log"; then
    failed=$((failed + 1))
    [ "$keep_going" -eq 1 ] || { echo "run $i of $count failed (seed $seed); stopping"; exit 1; }
  fi
done
echo "$((count - failed)) of $count runs passed"
[ "$failed" -eq 0 ]
