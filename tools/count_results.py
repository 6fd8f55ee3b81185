#!/usr/bin/env python3
"""Adds up the test cases of meson's JUnit logs in the given build dirs (each
run's testlog*.junit.xml: tools/test.sh logs the package's run apart) and
prints the closing line "N passed, N failed" (gtest cases count one by one).

Each argument is DIR or DIR=SUITE,SUITE,...: the suites named must each have
run at least one test in DIR, else the run fails with a line that says
which and why (a build dir configured with -Dtests=false runs none)."""
import sys
import xml.etree.ElementTree as ElementTree
from pathlib import Path

passed = failed = skipped = 0
for argument in sys.argv[1:]:
    build_dir, _, suites = argument.partition("=")
    expected = [suite for suite in suites.split(",") if suite]
    log = Path(build_dir) / "meson-logs" / "testlog.junit.xml"
    if not log.exists():
        print(f"{build_dir}/: no test ran ({log} is missing): the run stopped early, or meson found no test "
              f"(`meson configure {build_dir}` shows whether tests=true)")
        failed += 1
        continue
    ran = set()
    suites_run = [suite for each_log in sorted(log.parent.glob("testlog*.junit.xml"))
                  for suite in ElementTree.parse(each_log).getroot().iter("testsuite")]
    for suite in suites_run:
        for case in suite.iter("testcase"):
            # The test's suites: "project.project:unit+concurrency / core.RegistryTest"
            # names a gtest's testsuite, "project:interop / tls" a plain test's case.
            named = case.get("name", "") if " / " in case.get("name", "") else suite.get("name", "")
            ran.update(named.split(" / ", 1)[0].rpartition(":")[2].split("+"))
            if case.find("failure") is not None or case.find("error") is not None:
                failed += 1
            elif case.find("skipped") is not None:
                skipped += 1
            else:
                passed += 1
    for suite in expected:
        if suite not in ran:
            print(f"{build_dir}/: suite '{suite}' ran no test: is it built there? "
                  f"(`meson configure {build_dir}` shows the tests and bench options)")
            failed += 1
line = f"{passed} passed, {failed} failed"
print(line + (f", {skipped} skipped" if skipped else ""))
sys.exit(1 if failed or not passed else 0)
