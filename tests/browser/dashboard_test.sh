#!/usr/bin/env bash
# Runs dashboard_test.mjs from a work dir in the build tree, with its npm
# packages (playwright-core, test-only) installed there from the lock file.
# Usage: dashboard_test.sh WORK_DIR REGISTRYD REGISTRYCTL CHROMIUM
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
registryd="$(realpath "$2")"
registryctl="$(realpath "$3")"
work="$(bash "$here/../npm_packages.sh" "$here" "$1/dashboard_test")"
cp "$here/dashboard_test.mjs" "$work/"
cd "$work"
exec node dashboard_test.mjs "$registryd" "$registryctl" "$4" "$work/dashboard.png"
