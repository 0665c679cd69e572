#!/usr/bin/env bash
# `make fuzz`: libFuzzer over every parser that reads outside input (the targets
# of Sources/Election/FuzzTargets.swift), FUZZ_SECONDS each (default 60; `make
# test` runs 5). Seeds and every input that once crashed live in Tests/fuzz/<target>/
# (the unit tests replay them); a new crash is written there as crash-<sha1> and
# fails the run: commit it with the fix. Ends with `fuzz: N passed, M failed`.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
seconds=${FUZZ_SECONDS:-60}
scratch=.build-fuzz
echo "fuzz: building the libFuzzer binary (-sanitize=fuzzer) under $scratch"
if ! swift build --scratch-path "$scratch" --product ElectionFuzz -Xswiftc -sanitize=fuzzer -Xswiftc -DFUZZING; then
    echo "fuzz: 0 passed, 1 failed"
    exit 1
fi
binary=$scratch/debug/ElectionFuzz
passed=0 failed=0
for seeds in Tests/fuzz/*/; do
    target=$(basename "$seeds")
    corpus=$scratch/corpus/$target
    mkdir -p "$corpus"
    log=$scratch/$target.log
    before=$(find "$seeds" -name 'crash-*' | wc -l)
    # Seeds are read from Tests/fuzz (never written); new inputs go to the scratch corpus.
    # Swift's own backtracer would take the crash signal before libFuzzer could save the input.
    SWIFT_BACKTRACE=enable=no ELECTION_FUZZ_TARGET=$target timeout -k 10 $((seconds + 60)) "$binary" "$corpus" "$seeds" \
        -max_total_time="$seconds" -artifact_prefix="$seeds/" -print_final_stats=1 >"$log" 2>&1
    status=$?
    runs=$(grep -Eo 'Done [0-9]+ runs' "$log" | grep -Eo '[0-9]+' || echo 0)
    after=$(find "$seeds" -name 'crash-*' | wc -l)
    if [[ $status -eq 0 && $after -eq $before ]]; then
        echo "fuzz: $target ok ($runs runs in ${seconds}s)"
        passed=$((passed + 1))
    else
        echo "fuzz: $target FAILED (exit $status; new crash inputs under $seeds):"
        grep -E 'ERROR|Fatal error|Precondition|SUMMARY' "$log" | head -5
        failed=$((failed + 1))
    fi
done
echo "fuzz: $passed passed, $failed failed"
[[ $failed -eq 0 ]]
