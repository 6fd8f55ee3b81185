#!/usr/bin/env bash
# Sets up build/ the one way both README commands use it: warnings are
# errors, the tests and benchmarks on. A build/ configured otherwise before
# (by hand, say with -Dtests=false) is brought to these options, so that
# tools/run.sh and tools/test.sh work in either order and neither compiles
# again what the other compiled.
set -euo pipefail
cd "$(dirname "$0")/.."

options=(werror=true tests=true bench=true)
if [ ! -f build/build.ninja ]; then
  meson setup build --wrap-mode=nodownload "${options[@]/#/-D}" >/dev/null
  exit 0
fi
# The options that differ from what is wanted, as -Dname=value.
differing=$(meson introspect build --buildoptions | python3 -c '
import json, sys
current = {option["name"]: option["value"] for option in json.load(sys.stdin)}
for wanted in sys.argv[1:]:
    name, value = wanted.split("=")
    if str(current.get(name)).lower() != value:
        print("-D" + wanted)
' "${options[@]}")
if [ -n "$differing" ]; then
  echo "build/: setting $(echo $differing)" >&2
  # shellcheck disable=SC2086  # one option per word
  meson configure build $differing >/dev/null
fi
