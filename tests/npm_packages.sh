#!/usr/bin/env bash
# Installs a test's npm packages (test-only tools) from its lock file into a
# work dir in the build tree, once per lock file: the source tree gets no
# node_modules. Prints the work dir.
# Usage: npm_packages.sh PACKAGE_DIR WORK_DIR
set -euo pipefail
package="$(realpath "$1")"
mkdir -p "$2"
work="$(realpath "$2")"
cp "$package/package.json" "$package/package-lock.json" "$work/"
cd "$work"
if ! cmp -s package-lock.json node_modules/.package-lock.json 2>/dev/null; then
  npm ci --no-audit --no-fund --loglevel=error >&2
fi
echo "$work"
