#!/usr/bin/env python3
"""Self-test of scripts/test.sh's counting, on sample output.

    python3 scripts/tests/test_test_sh.py

Sources scripts/test.sh (which then only defines its functions) and checks
that swift_counts counts tests, not failed expectations, from the xUnit XML
that `swift test --xunit-output` leaves (samples written here, in Swift
Testing's shape): one test with four issues is one failure, a skipped test is
skipped, a test listed twice counts once, both file names are read, a crash
(no XML, or XML cut short) with a non-zero status is one failure. Also the
summary-line parsers of the suites with runners of their own, and run_step's
totals. Needs only bash and python3; builds and runs nothing else.
"""

import os
import shutil
import subprocess
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
TEST_SH = os.path.join(ROOT, "scripts", "test.sh")


# Sourcing test.sh must run nothing; should it ever, a `swift` that refuses to
# build comes first on the PATH.
NO_SWIFT = tempfile.mkdtemp(prefix="test-sh-selftest.")
with open(os.path.join(NO_SWIFT, "swift"), "w") as f:
    f.write('#!/bin/sh\necho "test_test_sh: swift must not run here" >&2\nexit 97\n')
os.chmod(os.path.join(NO_SWIFT, "swift"), 0o755)


def bash(script, *args):
    """Runs `script` after sourcing test.sh; returns (stdout, stderr, status)."""
    env = dict(os.environ, PATH=NO_SWIFT + os.pathsep + os.environ.get("PATH", ""))
    p = subprocess.run(
        ["bash", "-c", f'source "$0" || exit 99\n{script}', TEST_SH, *args],
        capture_output=True, text=True, timeout=30, env=env,
    )
    return p.stdout, p.stderr, p.returncode


def counts(fn, path, status=0):
    out, err, rc = bash(f'{fn} "$1" "$2"', path, str(status))
    if rc != 0:
        raise AssertionError(f"{fn} exited {rc}: {err}")
    return tuple(int(x) for x in out.split()), err


def testcase(name, *children, classname="ElectionTests.StateTests"):
    inner = "".join(f"\n      {c}" for c in children)
    return (f'    <testcase classname="{classname}" name="{name}" time="0.01">{inner}\n    </testcase>' if children
            else f'    <testcase classname="{classname}" name="{name}" time="0.01" />')


def xunit(*cases):
    """An xUnit file as Swift Testing writes it."""
    failures = sum(c.count("<failure") for c in cases)
    skipped = sum(c.count("<skipped") for c in cases)
    return ('<?xml version="1.0" encoding="UTF-8"?>\n<testsuites>\n'
            f'  <testsuite name="TestResults" errors="0" tests="{len(cases)}" failures="{failures}" '
            f'skipped="{skipped}" time="1.5">\n' + "\n".join(cases) + "\n  </testsuite>\n</testsuites>\n")


ISSUE = '<failure message="Expectation failed: (token &#8594; 3) == 4" />'
# 7 tests: 2 failed (one with 4 issues, a parameterised one with 2 failing
# cases), 1 skipped, 4 passed (one with a known issue, which is not listed).
FAILURES = xunit(
    testcase("leaderWritesFirstFile()"),
    testcase("staleLeaderRefusesToWrite()", ISSUE, ISSUE, ISSUE, ISSUE),
    testcase("parsesDurations(_:)", ISSUE, ISSUE, classname="ElectionTests.DurationTests"),
    testcase("readOnlyDirectoryAsUser()", "<skipped>runs as root: chmod cannot make it read-only</skipped>"),
    testcase("knownIssueStillPasses()"),
    testcase("followerWaits()", classname="IntegrationTests.FailoverTests"),
    testcase("sessionExpires()", classname="IntegrationTests.FailoverTests"),
)
PASSING = xunit(testcase("a()"), testcase("b()"), testcase("c()", "<skipped />"))


class SwiftCounts(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="test-sh-xunit.")
        self.path = os.path.join(self.dir, "swift.xml")  # what --xunit-output is given
        self.beside = os.path.join(self.dir, "swift-swift-testing.xml")  # where Swift Testing writes

    def tearDown(self):
        shutil.rmtree(self.dir, ignore_errors=True)

    def write(self, path, text):
        with open(path, "w", encoding="utf-8") as f:
            f.write(text)

    def counts(self, status=0):
        out, err, rc = bash('XUNIT=$1 swift_counts /dev/null "$2"', self.path, str(status))
        if rc != 0:
            raise AssertionError(f"swift_counts exited {rc}: {err}")
        return tuple(int(x) for x in out.split()), err

    def test_failures_count_tests_not_issues(self):
        self.write(self.beside, FAILURES)
        (p, f, s), account = self.counts(1)
        self.assertEqual((p, f, s), (4, 2, 1))
        self.assertIn("7 tests in swift-swift-testing.xml", account)

    def test_all_passed(self):
        self.write(self.beside, PASSING)
        self.assertEqual(self.counts(0)[0], (2, 0, 1))

    def test_the_file_given_when_xctest_is_disabled(self):
        """Swift Testing alone writes to the path given; an XCTest file there
        with none of our tests adds nothing."""
        self.write(self.path, PASSING)
        self.assertEqual(self.counts(0)[0], (2, 0, 1))
        self.write(self.path, xunit())
        self.write(self.beside, FAILURES)
        self.assertEqual(self.counts(1)[0], (4, 2, 1))

    def test_a_test_listed_twice_counts_once(self):
        self.write(self.path, xunit(testcase("a()"), testcase("b()")))
        self.write(self.beside, xunit(testcase("a()", ISSUE), testcase("b()")))
        self.assertEqual(self.counts(1)[0], (1, 1, 0))

    def test_crash_without_xml(self):
        """The test process died before writing anything: one failure."""
        (p, f, s), account = self.counts(132)
        self.assertEqual((p, f, s), (0, 1, 0))
        self.assertIn("no xUnit file", account)

    def test_crash_with_xml_cut_short(self):
        """Swift Testing writes the head at the start and the rest at the end."""
        self.write(self.beside, '<?xml version="1.0" encoding="UTF-8"?>\n<testsuites>\n')
        (p, f, s), account = self.counts(132)
        self.assertEqual((p, f, s), (0, 1, 0))
        self.assertIn("not XML", account)

    def test_failed_status_without_failed_test(self):
        """swift test exited non-zero although every test passed (e.g. an issue
        recorded outside any test): still a failure."""
        self.write(self.beside, PASSING)
        self.assertEqual(self.counts(1)[0], (2, 1, 1))

    def test_nothing(self):
        self.assertEqual(self.counts(0)[0], (0, 0, 0))


class SummaryLines(unittest.TestCase):
    def parse(self, fn, text, status=0):
        with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as tmp:
            tmp.write(text)
        try:
            return counts(fn, tmp.name, status)[0]
        finally:
            os.unlink(tmp.name)

    def test_pty(self):
        self.assertEqual(self.parse("pty_counts", "ok\nrun-cluster pty: 3 passed, 1 failed, 0 skipped\n", 1), (3, 1, 0))
        self.assertEqual(self.parse("pty_counts", "run-cluster pty: 0 passed, 0 failed, 4 skipped\n"), (0, 0, 4))
        self.assertEqual(self.parse("pty_counts", "Traceback (most recent call last):\n", 1), (0, 1, 0))

    def test_chaos(self):
        self.assertEqual(self.parse("chaos_counts", "[ 80.0s] results: x\nchaos: 13 passed, 0 failed\n"), (13, 0, 0))
        self.assertEqual(self.parse("chaos_counts", "chaos: 12 passed, 1 failed\n", 1), (12, 1, 0))
        # Interrupted or a suite error: it still prints its line, exits non-zero.
        self.assertEqual(self.parse("chaos_counts", "chaos: 0 passed, 0 failed\n", 2), (0, 1, 0))
        self.assertEqual(self.parse("chaos_counts", "", 2), (0, 1, 0))

    def test_containers(self):
        text = "containers: ok      image: runs as uid/gid 10001 (0.3s)\ncontainers: 30 passed, 1 failed, 0 skipped\n"
        self.assertEqual(self.parse("containers_counts", text, 1), (30, 1, 0))
        # Where podman cannot run: all skipped, exit 0.
        self.assertEqual(self.parse("containers_counts", "containers: 0 passed, 0 failed, 27 skipped\n"), (0, 0, 27))
        self.assertEqual(self.parse("containers_counts", "Traceback (most recent call last):\n", 1), (0, 1, 0))

    def test_every_suite_by_its_own_line(self):
        """Each parser reads its own suite's line and no other's (one without
        a skipped count, one coloured)."""
        lines = {"model_counts": "model", "partition_counts": "partition", "clockrate_counts": "clockrate",
                 "security_counts": "security", "fuzz_counts": "fuzz"}
        for fn, prefix in lines.items():
            text = f"other: 9 passed, 0 failed\n\x1b[1m{prefix}: 5 passed, 2 failed\x1b[0m\n"
            self.assertEqual(self.parse(fn, text, 1), (5, 2, 0), fn)
            self.assertEqual(self.parse(fn, "other: 9 passed, 0 failed\n", 0), (0, 1, 0), fn)

    def test_status(self):
        self.assertEqual(self.parse("status_counts", "", 0), (1, 0, 0))
        self.assertEqual(self.parse("status_counts", "", 2), (0, 1, 0))


class Steps(unittest.TestCase):
    def test_run_step_adds_counts(self):
        with tempfile.TemporaryDirectory() as d:
            xml = os.path.join(d, "swift-swift-testing.xml")
            with open(xml, "w") as f:
                f.write(PASSING)
            out, err, rc = bash(
                'LOG_DIR=$1 XUNIT=$1/swift.xml\n'
                'run_step "one check" status_counts true >/dev/null\n'
                'run_step "another" status_counts false >/dev/null\n'
                'run_step "swift" swift_counts true >/dev/null 2>&1\n'
                'skip_step "chaos" "not root" >/dev/null\n'
                'echo "$TOTAL_PASSED $TOTAL_FAILED $TOTAL_SKIPPED $STATUS"',
                d,
            )
        self.assertEqual(rc, 0, err)
        # 1 + 0 + 2 passed, 0 + 1 + 0 failed, 0 + 0 + 1 + 1 skipped; status 1
        self.assertEqual(out.split(), ["3", "1", "2", "1"])

    def test_sourcing_runs_nothing(self):
        out, err, rc = bash('echo sourced')
        self.assertEqual((out, rc), ("sourced\n", 0), err)


def main():
    suite = unittest.defaultTestLoader.loadTestsFromModule(sys.modules[__name__])
    try:
        result = unittest.TextTestRunner(verbosity=2).run(suite)
    finally:
        shutil.rmtree(NO_SWIFT, ignore_errors=True)
    sys.exit(0 if result.wasSuccessful() else 1)


if __name__ == "__main__":
    main()
