#!/usr/bin/env bash
# Sets up, builds and starts registryd on its defaults ([::]:50051, 60 s
# leases), and builds registryctl beside it (build/tools/registryctl). Extra
# arguments go to registryd, e.g. tools/run.sh --log-level debug
set -euo pipefail
cd "$(dirname "$0")/.."

tools/install-deps.sh
tools/setup-build.sh
meson compile -C build -j 2 registryd registryctl
exec build/src/registryd "$@"
