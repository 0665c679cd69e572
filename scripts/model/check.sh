#!/usr/bin/env bash
# Checks the protocol model scripts/model/election.pml with spin (docs/model.md):
# the base model must verify with no error over its whole state space, and every
# variant, each with one rule of the protocol taken out or one more fault let in,
# must yield a counterexample of the property it is expected to break.
#
# Prints one line per variant and last `model: N passed, M failed`; exits 0 only
# when all passed. Usage: bash scripts/model/check.sh (from anywhere).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
model="$here/election.pml"
cc=${CC:-cc}

# name | expected: verified, or the property a counterexample breaks (P1, P2, any) | spin -D flags.
# The counterexamples are searched breadth-first (the shortest one), each with only
# the faults it needs; the base model gets every fault.
none="-DCRASHES=0 -DHOSTDEATHS=0 -DDELETES=0 -DRESIGNS=0 -DSTOPS=0"
variants=(
    "base|verified|"
    "NO_RESTART_WAIT|P1|-DNO_RESTART_WAIT -DPROP=1 ${none/CRASHES=0/CRASHES=1}"
    "NO_SHADOW|P1|-DNO_SHADOW -DPROP=1 ${none/DELETES=0/DELETES=1}"
    "NO_FILE_WAIT|P2|-DNO_FILE_WAIT -DPROP=2 ${none/DELETES=0/DELETES=1}"
    "NO_LEASE_SYNC|any|-DNO_LEASE_SYNC $none"
    "LATE_SHADOW|P2|-DLATE_SHADOW -DPROP=2 ${none/DELETES=0/DELETES=1}"
    "SHADOW_DELETE|P1|-DSHADOW_DELETE -DPROP=1 ${none/DELETES=0/DELETES=2}"
    "NO_MARGIN|P1|-DMARGIN=0 -DPROP=1 $none"
    "SHORT_ORPHAN_WAIT|P1|-DOWAIT=HALF -DPROP=1 ${none/DELETES=0/DELETES=1}"
)

missing=""
for tool in spin "$cc"; do
    command -v "$tool" >/dev/null 2>&1 || missing="$missing $tool"
done
if [[ -n $missing ]]; then
    echo "model: not found:$missing (scripts/install-deps.sh installs spin)"
    echo "model: 0 passed, ${#variants[@]} failed"
    exit 1
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/election-model.XXXXXX")
base_pid=""
cleanup() {
    if [[ -n $base_pid ]]; then
        if [[ -f $work/base/pan.pid ]]; then kill "$(cat "$work/base/pan.pid")" 2>/dev/null || true; fi
        kill "$base_pid" 2>/dev/null || true
        wait "$base_pid" 2>/dev/null || true
    fi
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Generates and compiles the verifier of one variant in its own directory.
build() { # dir flags cflags...
    local dir=$1 flags=$2
    shift 2
    mkdir -p "$dir"
    cp "$model" "$dir/election.pml"
    # shellcheck disable=SC2086 # $flags is a list of -D options
    (cd "$dir" && spin -a $flags election.pml >spin.out 2>&1 &&
        "$cc" -O2 -w -DSAFETY "$@" -o pan pan.c >cc.out 2>&1)
}

# The exhaustive search of the base model, depth-first; output in $work/base/pan.out.
verify_base() {
    if ! build "$work/base" ""; then
        echo "build failed" >"$work/base/pan.out"
        return 0
    fi
    cd "$work/base"
    ./pan -m20000 -w25 >pan.out 2>&1 &
    echo $! >pan.pid
    wait $! || true
}

# One counterexample's events, as the model's printf lines say them, in one line.
events() { # dir flags
    local dir=$1 flags=$2
    # shellcheck disable=SC2086
    (cd "$dir" && spin -t -DBFS $flags election.pml 2>/dev/null) | awk '
        {
            n = split($0, part, ";")
            for (k = 1; k <= n; k++) {
                e = part[k]
                gsub(/^[ \t]+|[ \t]+$/, "", e)
                if (e ~ /^spin: trail ends/) exit
                if (e == "" || e ~ /^spin:/) continue
                if (e == "tick") { ticks++; continue }
                if (ticks) { out = out sep (ticks == 1 ? "a tick" : ticks " ticks"); sep = ", "; ticks = 0 }
                out = out sep e; sep = ", "
            }
        }
        END { if (ticks) out = out sep (ticks == 1 ? "a tick" : ticks " ticks"); print out }'
}

started=$SECONDS
verify_base &
base_pid=$!

passed=0
failed=0
lines=()
for entry in "${variants[@]:1}"; do
    IFS='|' read -r name expect flags <<<"$entry"
    dir="$work/$name"
    if ! build "$dir" "-DBFS $flags" -DBFS; then
        lines+=("model $name: FAILED: the model does not compile ($(tail -n 1 "$dir"/*.out | tr '\n' ' '))")
        failed=$((failed + 1))
        continue
    fi
    (cd "$dir" && ./pan >pan.out 2>&1) || true
    states=$(awk '/states, stored/ { print $1; exit }' "$dir/pan.out")
    violated=$(sed -n 's/^pan:1: assertion violated \(.*\) (at depth.*/\1/p' "$dir/pan.out" | head -n 1)
    case $violated in
        *cmd\[0\]*) got=P1 what="two commands alive" ;;
        *maxtok*) got=P2 what="a file of a lower token after a higher one" ;;
        *) got="" what="" ;;
    esac
    if [[ -n $got && -f $dir/election.pml.trail && ($expect == any || $expect == "$got") ]]; then
        steps=$(wc -l <"$dir/election.pml.trail")
        lines+=("model $name: counterexample found as expected ($got, $what; $states states; trail of $steps steps: $(events "$dir" "-DBFS $flags"))")
        passed=$((passed + 1))
    elif [[ -n $got ]]; then
        lines+=("model $name: FAILED: expected a counterexample of $expect, found one of $got")
        failed=$((failed + 1))
    else
        lines+=("model $name: FAILED: no counterexample found ($states states)")
        failed=$((failed + 1))
    fi
done

wait "$base_pid" || true
base_pid=""
out="$work/base/pan.out"
errors=$(sed -n 's/.*errors: \([0-9]*\).*/\1/p' "$out" | head -n 1)
states=$(awk '/states, stored/ { print $1; exit }' "$out")
transitions=$(awk '/transitions \(= stored\+matched\)/ { print $1; exit }' "$out")
depth=$(sed -n 's/.*depth reached \([0-9]*\).*/\1/p' "$out" | head -n 1)
if [[ $errors == 0 && -n $states ]] && ! grep -q -e 'max search depth too small' -e 'Search not completed' "$out"; then
    base_line="model base: verified, $states states, $transitions transitions, depth $depth, 0 errors"
    passed=$((passed + 1))
else
    base_line="model base: FAILED: errors: ${errors:-?}; $(grep -m 1 -e 'assertion violated' -e 'too small' -e 'not completed' -e 'failed' "$out" || true)"
    failed=$((failed + 1))
fi

echo "$base_line"
printf '%s\n' "${lines[@]}"
echo "model: checked in $((SECONDS - started)) s"
echo "model: $passed passed, $failed failed"
[[ $failed == 0 ]]
