#!/usr/bin/env python3
"""Self-test of scripts/test.sh's counting, on sample output (fixtures/).

    python3 scripts/tests/test_test_sh.py

Sources scripts/test.sh (which then only defines its functions) and checks
that swift_counts counts failed tests, not lines: one test with four issues is
one failure, a parameterised test with two failing cases is one, the per-case
lines of a verbose run and the run's own "failed" line are none. Also the
summary-line parsers of the run-cluster pty test and the chaos pass, and
run_step's totals. Needs only bash and python3; builds and runs nothing else.
"""

import os
import re
import shutil
import subprocess
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
TEST_SH = os.path.join(ROOT, "scripts", "test.sh")
FIXTURES = os.path.join(HERE, "fixtures")


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


def fixture(name):
    return os.path.join(FIXTURES, name)


class SwiftCounts(unittest.TestCase):
    def test_failures_count_tests_not_lines(self):
        (p, f, s), account = counts("swift_counts", fixture("swift-test-failures.txt"), 1)
        # 7 tests: 2 failed (one with 4 issues, one parameterised with 2
        # failing cases), 1 skipped, 4 passed (one with a known issue).
        self.assertEqual((p, f, s), (4, 2, 1))
        self.assertIn("7 test functions", account)
        self.assertIn("ran 7 cases", account)  # 3 + 4 cases of the parameterised tests

    def test_the_old_way_counted_lines(self):
        """What the old `grep -Ec '^✘ Test .* failed'` counted on the same
        output: every issue line whose message says "failed" (5 of 6), the
        per-case lines of the verbose run (2), both tests' end lines and the
        run line: 10 for 2 failed tests."""
        with open(fixture("swift-test-failures.txt"), encoding="utf-8") as f:
            old = sum(1 for line in f if re.match(r"^✘ Test .* failed", line))
        self.assertEqual(old, 10)

    def test_all_passed(self):
        (p, f, s), account = counts("swift_counts", fixture("swift-test-pass.txt"), 0)
        self.assertEqual((p, f, s), (2, 0, 1))
        self.assertIn("3 test functions", account)

    def test_crash_without_run_line(self):
        """The test process died: the tests that passed so far, one failure."""
        (p, f, s), _ = counts("swift_counts", fixture("swift-test-crash.txt"), 132)
        self.assertEqual((p, f, s), (2, 1, 0))

    def test_failed_status_without_failed_test(self):
        """swift test exited non-zero although every test passed (e.g. the
        XCTest harness failed): still a failure."""
        (p, f, s), _ = counts("swift_counts", fixture("swift-test-pass.txt"), 1)
        self.assertEqual((p, f, s), (2, 1, 1))

    def test_colour_codes(self):
        """The same output with the symbols coloured, as on a terminal."""
        with open(fixture("swift-test-failures.txt"), encoding="utf-8") as f:
            text = f.read()
        for sym, colour in (("✘", "91"), ("✔", "92"), ("➜", "93"), ("◇", "90")):
            text = text.replace(f"\n{sym} ", f"\n\x1b[{colour}m{sym}\x1b[0m ")
        with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False, encoding="utf-8") as tmp:
            tmp.write(text)
        try:
            (p, f, s), _ = counts("swift_counts", tmp.name, 1)
        finally:
            os.unlink(tmp.name)
        self.assertEqual((p, f, s), (4, 2, 1))

    def test_empty_log(self):
        with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as tmp:
            pass
        try:
            self.assertEqual(counts("swift_counts", tmp.name, 0)[0], (0, 0, 0))
            self.assertEqual(counts("swift_counts", tmp.name, 1)[0], (0, 1, 0))
        finally:
            os.unlink(tmp.name)


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

    def test_status(self):
        self.assertEqual(self.parse("status_counts", "", 0), (1, 0, 0))
        self.assertEqual(self.parse("status_counts", "", 2), (0, 1, 0))


class Steps(unittest.TestCase):
    def test_run_step_adds_counts(self):
        with tempfile.TemporaryDirectory() as d:
            out, err, rc = bash(
                'LOG_DIR=$1\n'
                'run_step "one check" status_counts true >/dev/null\n'
                'run_step "another" status_counts false >/dev/null\n'
                'run_step "swift" swift_counts cat "$2" >/dev/null 2>&1\n'
                'skip_step "chaos" "not root" >/dev/null\n'
                'echo "$TOTAL_PASSED $TOTAL_FAILED $TOTAL_SKIPPED $STATUS"',
                d, fixture("swift-test-pass.txt"),
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
