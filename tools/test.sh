#!/usr/bin/env bash
# Sets up, builds and runs every test: the whole suite in build/ (warnings are
# errors; the robustness suite, tests/robustness, runs there only); the Debian package made from build/ (tools/package.sh), installed,
# used and purged (as root only: tests/package/package_test.sh); every suite
# but the benchmarks under AddressSanitizer + UBSan and the fuzz targets for a
# bounded time, from one clang build; the data dir, concurrency and cluster
# tests under ThreadSanitizer (clang). Ends with the line "N passed, N failed".
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
meson test -C build --num-processes "$jobs" --no-suite package --print-errorlogs || status=1

# The package from build/'s objects (only its install directories change),
# then its install test, logged apart (testlog-package.*).
rm -f build/registryd_*.deb
tools/package.sh build >/dev/null || status=1
meson test -C build --no-rebuild --suite package --logbase testlog-package --print-errorlogs || status=1

# One clang build under ASan + UBSan, every library instrumented for
# libFuzzer too (-fsanitize=fuzzer-no-link): it runs every suite but the
# benchmarks and the browser's (registryd serving the three xDS clients
# included; the interop suite's registryd processes are each stopped cleanly,
# so LeakSanitizer runs in them too), then the fuzz targets, each for
# -Dfuzz_seconds from its seed corpus. One build for both saves compiling
# every library twice.
CC=clang CXX=clang++ configure build-sanitize -Dfuzz=true -Dbench=false -Db_sanitize=address,undefined \
  -Db_lundef=false -Dcpp_args=-fsanitize=fuzzer-no-link || exit 1
meson compile -C build-sanitize -j "$jobs" || exit 1
ASAN_OPTIONS=detect_leaks=1 LSAN_OPTIONS=suppressions=$PWD/tests/lsan.supp UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
  meson test -C build-sanitize --no-rebuild --num-processes "$jobs" --suite unit --suite integration --suite concurrency \
  --suite interop --suite xds --suite authz --suite fuzz --print-errorlogs || status=1

# Under TSan: the data dir's, the concurrency test, the per-thread metrics
# and the HTTP face's pool, and the cluster test (registryd's cluster threads
# against a real etcd).
CC=clang CXX=clang++ configure build-tsan -Dbench=false -Db_sanitize=thread -Db_lundef=false || exit 1
meson compile -C build-tsan -j "$jobs" tests/unit/persist_test tests/unit/metrics_test tests/unit/http_parts_test \
  tests/integration/concurrency_test src/registryd || exit 1
TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1 suppressions=$PWD/tests/tsan.supp" \
  meson test -C build-tsan --no-rebuild --suite concurrency --suite cluster --print-errorlogs || status=1

# Each build dir with the suites it must have run: one that ran no test fails
# the run, by name.
python3 tools/count_results.py build=unit,integration,interop,bench,browser,xds,authz,robustness,package \
  build-sanitize=unit,integration,concurrency,interop,xds,authz,fuzz build-tsan=concurrency,cluster || status=1
exit $status
