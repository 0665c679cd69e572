#!/usr/bin/env python3
"""`swift test`'s results from its xUnit output: scripts/test.sh's swift step.

    python3 scripts/xunit_counts.py PATH STATUS

PATH is what test.sh passed to `swift test --xunit-output`, STATUS the exit
status of `swift test`. While XCTest runs beside Swift Testing (the default)
SwiftPM writes Swift Testing's results beside PATH, with `-swift-testing`
before the extension (swift.xml: swift-swift-testing.xml), and XCTest's to
PATH itself (in a serial run, none at all); with XCTest disabled, Swift
Testing's go to PATH. Both files are read, whichever exist.

Counted are distinct tests (a <testcase>'s classname and name): failed when
it has a <failure> or <error> (a test with four failed expectations is one
failure), skipped when it has <skipped>, passed otherwise. A non-zero STATUS
with no failed test found (a crash, a build error, no XML at all) counts one
failure. Prints "passed failed skipped" on stdout and a one-line account on
stderr."""

import os
import sys
import xml.etree.ElementTree as ET


def files(path):
    """PATH and the file Swift Testing writes beside it."""
    stem, ext = os.path.splitext(path)
    return [path, f"{stem}-swift-testing{ext}"]


def counts(path, status=0):
    """(passed, failed, skipped, account)."""
    tests, read, notes = {}, [], []
    for f in files(path):
        if not os.path.exists(f):
            continue
        try:
            root = ET.parse(f).getroot()
        except ET.ParseError as e:
            notes.append(f"{os.path.basename(f)} is not XML ({e})")
            continue
        read.append(os.path.basename(f))
        for case in root.iter("testcase"):
            key = (case.get("classname", ""), case.get("name", ""))
            if case.find("failure") is not None or case.find("error") is not None:
                verdict = "failed"
            elif case.find("skipped") is not None:
                verdict = "skipped"
            else:
                verdict = "passed"
            # The same test twice: failed beats passed beats skipped.
            order = ("skipped", "passed", "failed")
            if order.index(verdict) >= order.index(tests.get(key, "skipped")):
                tests[key] = verdict
    passed, failed, skipped = (sum(1 for v in tests.values() if v == k) for k in ("passed", "failed", "skipped"))
    if status != 0 and failed == 0:
        failed = 1
        notes.append(f"exit status {status} with no failed test in the XML: one failure")
    account = (f"swift test: {len(tests)} tests in {', '.join(read) or 'no xUnit file'}, {failed} failed, "
               f"{skipped} skipped" + "".join(f"; {n}" for n in notes))
    return passed, failed, skipped, account


def main():
    passed, failed, skipped, account = counts(sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 0)
    print(account, file=sys.stderr)
    print(passed, failed, skipped)


if __name__ == "__main__":
    main()
