#!/usr/bin/env bash
# Runs dashboard_test.mjs from a work dir in the build tree, with its npm
# packages (playwright-core, test-only) installed there from the lock file:
# the source tree gets no node_modules.
# Usage: dashboard_test.sh WORK_DIR REGISTRYD REGISTRYCTL CHROMIUM
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
work="$(realpath "$1")/dashboard_test"
registryd="$(realpath "$2")"
registryctl="$(realpath "$3")"
mkdir -p "$work"
cp "$here/package.json" "$here/package-lock.json" "$here/dashboard_test.mjs" "$work/"
cd "$work"
if ! cmp -s package-lock.json node_modules/.package-lock.json 2>/dev/null; then
  npm ci --no-audit --no-fund --loglevel=error
fi
exec node dashboard_test.mjs "$registryd" "$registryctl" "$4" "$work/dashboard.png"
