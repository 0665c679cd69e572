#!/usr/bin/env bash
# `make test`: check this script's counting (scripts/tests/test_test_sh.py),
# check the protocol's model with spin (scripts/model/), build, run every test
# (unit + integration against real ZooKeeper servers the tests start on free
# loopback ports), a short fuzz pass, the run-cluster terminal test (Ctrl-C /
# hang-up / kill on `make run-cluster`, nothing may be left running), the
# security tests, make lint, the daemon in containers (scripts/containers/:
# image, compose, systemd unit, pod specs under podman), then as root a short
# chaos pass (each fault of `make chaos` once, against a 3-server ensemble), a
# short partition pass (scripts/partition/: network namespaces) and a short
# clock-rate pass (scripts/clockrate/), and end with one summary line:
#
#   tests: N passed, M failed, K skipped
#
# Each step is run by run_step NAME PARSER COMMAND...: its output is shown and
# kept, then PARSER LOG STATUS turns it into "passed failed skipped", which is
# added to the totals. A step whose command fails counts at least one failure.
# Sourcing this file (as scripts/tests/test_test_sh.py does) defines the
# functions and runs nothing.

SCRIPTS=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
BINARY=.build/release/election
XUNIT=""

TOTAL_PASSED=0
TOTAL_FAILED=0
TOTAL_SKIPPED=0
STATUS=0
LOG_DIR=""
STEPS=0

# ---- parsers: LOG STATUS -> "passed failed skipped" on stdout -----------------

# Lines of LOG without terminal colour codes.
plain_log() {
    sed -E $'s/\x1b\\[[0-9;]*[A-Za-z]//g' "$1"
}

# swift test's results from its xUnit output: XUNIT is the path the swift step
# passes to --xunit-output; scripts/xunit_counts.py reads it and the file Swift
# Testing writes beside it (swift-swift-testing.xml), counts distinct tests, and
# counts one failure for a non-zero STATUS with no failed test (a crash). LOG,
# the console output, is not read.
swift_counts() {
    python3 "$SCRIPTS/xunit_counts.py" "$XUNIT" "${2:-0}"
}

# A line `PREFIX: N passed, M failed[, K skipped]` (the last one in LOG) from
# a runner of its own; none, or a non-zero STATUS with nothing failed, counts
# one failure.
summary_line_counts() {
    local prefix=$1 log=$2 status=${3:-0} line p=0 f=0 s=0
    line=$(plain_log "$log" | grep -E "^$prefix: [0-9]+ passed, [0-9]+ failed" | tail -1)
    if [[ $line =~ :\ ([0-9]+)\ passed,\ ([0-9]+)\ failed(,\ ([0-9]+)\ skipped)? ]]; then
        p=${BASH_REMATCH[1]} f=${BASH_REMATCH[2]} s=${BASH_REMATCH[4]:-0}
    else
        f=1
    fi
    if [[ $status -ne 0 && $f -eq 0 ]]; then f=1; fi
    echo "$p $f $s"
}

pty_counts() { summary_line_counts "run-cluster pty" "$@"; }
model_counts() { summary_line_counts "model" "$@"; }
partition_counts() { summary_line_counts "partition" "$@"; }
clockrate_counts() { summary_line_counts "clockrate" "$@"; }
security_counts() { summary_line_counts "security" "$@"; }
fuzz_counts() { summary_line_counts "fuzz" "$@"; }
chaos_counts() { summary_line_counts "chaos" "$@"; }
containers_counts() { summary_line_counts "containers" "$@"; }

# A step that is one check: passed when its command exits 0 (e.g. make lint).
status_counts() {
    if [[ ${2:-0} -eq 0 ]]; then echo "1 0 0"; else echo "0 1 0"; fi
}

# ---- steps ---------------------------------------------------------------------

# Runs a command in a session of its own and kills the whole session (every
# process the command started, such as the test bundle `swift test` spawns) if it
# is not done within LIMIT seconds: a hung test fails the run instead of holding
# CI until its own limit.
bounded() {
    local limit=$1 pid guard status
    shift
    setsid "$@" &
    pid=$!
    (
        trap 'kill "$nap" 2>/dev/null; exit 0' TERM
        sleep "$limit" &
        nap=$!
        wait "$nap"
        echo "test.sh: '$*' still running after ${limit}s: killing it and everything it started" >&2
        kill -TERM -- "-$pid" 2>/dev/null
        sleep 10
        kill -KILL -- "-$pid" 2>/dev/null
    ) &
    guard=$!
    wait "$pid"
    status=$?
    kill "$guard" 2>/dev/null
    wait "$guard" 2>/dev/null
    return "$status"
}

add_counts() {
    TOTAL_PASSED=$((TOTAL_PASSED + $1))
    TOTAL_FAILED=$((TOTAL_FAILED + $2))
    TOTAL_SKIPPED=$((TOTAL_SKIPPED + $3))
}

# run_step NAME PARSER COMMAND...: runs COMMAND (output on screen and in
# $LOG_DIR/NAME.log), counts its results with PARSER and adds them.
run_step() {
    local name=$1 parser=$2 log status counts p f s
    shift 2
    STEPS=$((STEPS + 1))
    log="$LOG_DIR/step-$STEPS.log"
    echo
    echo "== $name =="
    "$@" 2>&1 | tee "$log"
    status=${PIPESTATUS[0]}
    counts=$("$parser" "$log" "$status")
    read -r p f s <<<"$counts"
    add_counts "$p" "$f" "$s"
    ((status == 0 && f == 0)) || STATUS=1
    echo "$name: $p passed, $f failed, $s skipped"
}

# skip_step NAME REASON: counts one skipped test.
skip_step() {
    echo
    echo "$1 skipped: $2"
    add_counts 0 0 1
}

main() {
    set -uo pipefail
    cd "$(dirname "${BASH_SOURCE[0]}")/.." || exit 1

    LOG_DIR=$(mktemp -d "${TMPDIR:-/tmp}/election-test.XXXXXX")
    trap 'rm -rf "$LOG_DIR"' EXIT
    XUNIT="$LOG_DIR/swift.xml"
    # The release flags have one spelling, the Makefile's.
    RELEASE_FLAGS=$(make -s --no-print-directory release-flags)

    # This script's own counting, on sample output (a second, no build).
    run_step "test.sh self-test" status_counts python3 scripts/tests/test_test_sh.py

    # The protocol's model (spin; about a minute): the base verifies, and every
    # variant without one of its rules finds its counterexample.
    run_step "model (make model): spin checks the protocol" model_counts bash scripts/model/check.sh

    swift build --build-tests || exit 1

    # Serial: the integration suites start ZooKeeper JVMs and daemons; two cores.
    # Every suite has a .timeLimit; this bound catches what a time limit cannot
    # (a test stuck in an await that ignores cancellation).
    run_step "swift test" swift_counts bounded 1500 swift test --skip-build --no-parallel --xunit-output "$XUNIT"

    # The release binary, for the steps that run the daemon as `make run-cluster`
    # and `make chaos` do.
    run_step "short fuzz pass (make fuzz FUZZ_SECONDS=5): every parser of outside input" \
        fuzz_counts env FUZZ_SECONDS=5 bash scripts/fuzz.sh

    echo
    echo "== release build (for the run-cluster and chaos steps) =="
    # shellcheck disable=SC2086 # RELEASE_FLAGS is a list of flags
    if ! swift build $RELEASE_FLAGS; then
        echo "release build failed: the run-cluster and chaos steps count as failed"
        add_counts 0 1 0
        STATUS=1
    else
        # Ctrl-C on `make run-cluster` (plain and piped through tee), the
        # terminal closed, the script killed: nothing of the run may be left.
        run_step "run-cluster terminal test" pty_counts \
            env BINARY="$BINARY" python3 scripts/tests/test_run_cluster_pty.py

        run_step "security tests (TLS via stunnel, hostile znodes, deleted leaders, persistent faults)" \
            security_counts env BINARY="$BINARY" python3 scripts/tests/test_security.py

        run_step "make lint: swift-format, hadolint, compose, image closure, kustomize, systemd, shellcheck" \
            status_counts env BINARY="$BINARY" bash scripts/lint.sh

        # The daemon in containers, unprivileged as deployed (podman; installs
        # itself on first use, as root): docker/Dockerfile's image, compose up
        # with failover, the systemd unit under systemd, the pod templates of
        # deploy/kubernetes/. Where podman cannot run, every check is counted
        # as skipped with the reason. About 1.5 minutes with cached images.
        run_step "containers (python3 -m containers): image, compose, systemd unit, pod specs" \
            containers_counts bounded 1500 env BINARY="$BINARY" PYTHONPATH=scripts python3 -m containers

        # The chaos pass needs root (tmpfs and bind mounts on the file-dirs); the
        # partition suite makes network namespaces; the clock-rate test builds a
        # preload and runs the daemon as nobody through setpriv.
        if [[ $(id -u) -eq 0 ]]; then
            run_step "short chaos pass (make chaos ROUNDS=1): every fault once against a 3-server ensemble" \
                chaos_counts env ROUNDS=1 BINARY="$BINARY" PYTHONPATH=scripts python3 -m chaos
            run_step "short partition pass: ZooKeeper split inside, in network namespaces, at two syncLimits" \
                partition_counts bounded 900 env PARTITION_SHORT=1 BINARY="$BINARY" PYTHONPATH=scripts \
                python3 -m partition
            run_step "short clock-rate pass: the leader's clock at half speed" \
                clockrate_counts bounded 600 env CLOCKRATE_SHORT=1 ELECTION_BINARY="$BINARY" \
                python3 scripts/clockrate/test_clockrate.py
        else
            skip_step "chaos pass" "it mounts tmpfs and bind mounts, which needs root (CI runs as root)"
            skip_step "partition pass" "it makes network namespaces, which needs root (CI runs as root)"
            skip_step "clock-rate pass" "it runs the daemon as nobody through setpriv, which needs root"
        fi
    fi

    echo
    echo "tests: ${TOTAL_PASSED} passed, ${TOTAL_FAILED} failed, ${TOTAL_SKIPPED} skipped"
    exit "$STATUS"
}

# Run, not sourced (`return` outside a function works only in a sourced file).
if ! (return 0 2>/dev/null); then
    main "$@"
fi
