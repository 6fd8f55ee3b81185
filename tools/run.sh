#!/usr/bin/env bash
# Sets up, builds and starts registryd on its defaults ([::]:50051, 60 s
# leases). Extra arguments go to registryd, e.g. tools/run.sh --log-level debug
set -euo pipefail
cd "$(dirname "$0")/.."

tools/install-deps.sh
[ -f build/build.ninja ] || meson setup build --wrap-mode=nodownload -Dtests=false -Dbench=false
meson compile -C build -j 2 registryd
exec build/src/registryd "$@"
