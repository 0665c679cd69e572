#!/usr/bin/env bash
# `make test`: build, run every test (unit + integration against real ZooKeeper
# servers the tests start on free loopback ports), then a short chaos pass (each
# fault of `make chaos` once, against a 3-server ensemble), and end with one
# summary line.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
RELEASE_FLAGS=${RELEASE_FLAGS:--c release --static-swift-stdlib -Xswiftc -use-ld=lld}

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
echo "swift test: ${total} test functions (the parameterised ones ran ${cases:-0} cases), ${failed} failed, ${skipped} skipped (reasons above)"

# The chaos pass needs root (tmpfs and bind mounts on the file-dirs).
chaos_passed=0 chaos_failed=0
if [[ $(id -u) -eq 0 ]]; then
    echo
    echo "== short chaos pass (make chaos ROUNDS=1): every fault once against a 3-server ensemble =="
    # shellcheck disable=SC2086 # RELEASE_FLAGS is a list of flags
    if swift build $RELEASE_FLAGS; then
        ROUNDS=1 BINARY=.build/release/election python3 scripts/chaos.py 2>&1 | tee "$log"
        chaos_status=${PIPESTATUS[0]}
        line=$(grep -E '^chaos: [0-9]+ passed, [0-9]+ failed' "$log" | tail -1)
        chaos_passed=$(sed -E 's/^chaos: ([0-9]+) passed.*/\1/' <<<"$line")
        chaos_failed=$(sed -E 's/.* ([0-9]+) failed.*/\1/' <<<"$line")
        if [[ $chaos_status -ne 0 ]]; then
            status=1
            [[ ${chaos_failed:-0} -eq 0 ]] && chaos_failed=1
        fi
    else
        status=1
        chaos_failed=1
    fi
else
    echo "chaos pass skipped: it mounts tmpfs and bind mounts, which needs root (CI runs as root)"
    skipped=$((skipped + 1))
fi

echo
echo "tests: $((total - failed - skipped + ${chaos_passed:-0})) passed, $((failed + ${chaos_failed:-0})) failed, ${skipped} skipped"
exit "$status"
