#!/usr/bin/env bash
# Sets up, builds and runs every test: the whole suite in build/ (warnings are
# errors), then every suite but the benchmarks under
# AddressSanitizer + UBSan (g++), the data dir, concurrency and cluster tests
# under ThreadSanitizer (clang), and the fuzz targets for a bounded time (clang,
# libFuzzer). Ends with the line "N passed, N failed".
set -uo pipefail
cd "$(dirname "$0")/.."

tools/install-deps.sh || exit 1
jobs=2

# configure DIR [meson options...]: sets up DIR once.
configure() {
  local dir=$1
  shift
  [ -f "$dir/build.ninja" ] || meson setup "$dir" --wrap-mode=nodownload -Dwerror=true "$@" >/dev/null || return 1
}

status=0
tools/setup-build.sh || exit 1
meson compile -C build -j "$jobs" || exit 1
meson test -C build --num-processes "$jobs" --print-errorlogs || status=1

# Sanitizer builds compile only what they run: under ASan + UBSan every
# suite but the benchmarks and the browser's (registryd serving the three xDS
# clients included) (the interop suite's registryd processes are each
# stopped cleanly, so LeakSanitizer runs in them too); under TSan the data
# dir's, the concurrency test, the per-thread metrics and the HTTP face's
# pool, and the cluster test (registryd's cluster threads against a real
# etcd).
configure build-asan -Dbench=false -Db_sanitize=address,undefined -Db_lundef=false || exit 1
meson compile -C build-asan -j "$jobs" tests/unit/core_test tests/unit/persist_test \
  tests/unit/cluster_parts_test tests/unit/call_pool_test tests/unit/metrics_test tests/unit/http_parts_test \
  tests/integration/integration_test tests/integration/concurrency_test tests/unit/xds_test tests/unit/xds_resource_cache_test \
  tests/unit/auth_test tests/xds/xds_echo_client src/registryd tools/registryctl || exit 1
ASAN_OPTIONS=detect_leaks=1 LSAN_OPTIONS=suppressions=$PWD/tests/lsan.supp UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
  meson test -C build-asan --no-rebuild --suite unit --suite integration --suite concurrency --suite interop \
  --suite xds --suite authz --print-errorlogs || status=1

CC=clang CXX=clang++ configure build-tsan -Dbench=false -Db_sanitize=thread -Db_lundef=false || exit 1
meson compile -C build-tsan -j "$jobs" tests/unit/persist_test tests/unit/metrics_test tests/unit/http_parts_test \
  tests/integration/concurrency_test src/registryd || exit 1
TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1 suppressions=$PWD/tests/tsan.supp" \
  meson test -C build-tsan --no-rebuild --suite concurrency --suite cluster --print-errorlogs || status=1

# The fuzz targets (libFuzzer, clang): every library instrumented, under
# ASan + UBSan, each run for -Dfuzz_seconds from its seed corpus.
CC=clang CXX=clang++ configure build-fuzz -Dfuzz=true -Dbench=false -Db_sanitize=address,undefined \
  -Db_lundef=false -Dcpp_args=-fsanitize=fuzzer-no-link || exit 1
meson compile -C build-fuzz -j "$jobs" tests/fuzz/ads_fuzz tests/fuzz/journal_fuzz tests/fuzz/policy_fuzz \
  tests/fuzz/request_fuzz tests/fuzz/registry_model_fuzz || exit 1
meson test -C build-fuzz --no-rebuild --suite fuzz --print-errorlogs || status=1

# Each build dir with the suites it must have run: one that ran no test fails
# the run, by name.
python3 tools/count_results.py build=unit,integration,interop,bench,browser,xds,authz \
  build-asan=unit,integration,concurrency,interop,xds,authz build-tsan=concurrency,cluster build-fuzz=fuzz || status=1
exit $status
