#!/usr/bin/env bash
# `make test`: build, run every test (unit + integration against real ZooKeeper
# servers the tests start on free loopback ports), and end with one summary line.
set -uo pipefail
cd "$(dirname "$0")/.."

swift build --build-tests || exit 1

log=$(mktemp "${TMPDIR:-/tmp}/election-test.XXXXXX")
trap 'rm -f "$log"' EXIT
# Serial: the integration suites start ZooKeeper JVMs and daemons; two cores.
swift test --skip-build --no-parallel 2>&1 | tee "$log"
status=${PIPESTATUS[0]}

total=$(grep -Eo 'Test run with [0-9]+ tests?' "$log" | tail -1 | grep -Eo '[0-9]+' || echo 0)
failed=$(grep -Ec '^✘ Test .* failed' "$log" || true)
cases=$(grep -Eo 'with [0-9]+ test cases' "$log" | grep -Eo '[0-9]+' | awk '{s+=$1} END {print s+0}')
skipped=$(grep -Ec '^➜ Test .* skipped' "$log" || true)
echo
echo "(${total} test functions; the parameterised ones ran ${cases:-0} cases; skips say why above)"
echo "tests: $((total - failed - skipped)) passed, ${failed} failed, ${skipped} skipped"
exit "$status"
