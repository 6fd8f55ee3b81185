#!/usr/bin/env python3
"""Adds up the test cases of meson's JUnit logs in the given build dirs and
prints the closing line "N passed, N failed" (gtest cases count one by one)."""
import sys
import xml.etree.ElementTree as ElementTree
from pathlib import Path

passed = failed = skipped = 0
for build_dir in sys.argv[1:]:
    log = Path(build_dir) / "meson-logs" / "testlog.junit.xml"
    if not log.exists():
        print(f"{log}: missing (the test run did not finish)")
        failed += 1
        continue
    for case in ElementTree.parse(log).getroot().iter("testcase"):
        if case.find("failure") is not None or case.find("error") is not None:
            failed += 1
        elif case.find("skipped") is not None:
            skipped += 1
        else:
            passed += 1
line = f"{passed} passed, {failed} failed"
print(line + (f", {skipped} skipped" if skipped else ""))
sys.exit(1 if failed or not passed else 0)
