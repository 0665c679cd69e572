#!/usr/bin/env bash
# `make mutants`: proves that the safety rules are tested. Each patch under
# Tests/mutants/ removes or weakens one rule; for each, this builds a copy of the
# tree with the patch applied and runs the tests the patch names (its `tests:`
# line, a `swift test --filter` pattern; or its `check:` line, a shell command run
# from the repository with BINARY set to the mutated build, for rules only a
# suite outside `swift test` can reach, such as the partition suite). A mutant is
# *killed* when those tests fail. The run fails unless every mutant is killed.
# About a minute per mutant.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
root=$PWD
work=$root/.build-mutants
tree=$work/tree
scratch=$work/build
mkdir -p "$work"

only=${MUTANTS:-}
patches=()
for p in Tests/mutants/*.patch; do
    name=$(basename "$p" .patch)
    [[ -z $only || ",$only," == *",$name,"* ]] && patches+=("$p")
done
((${#patches[@]})) || { echo "mutants: no patch matches MUTANTS=$only" >&2; exit 2; }

# A fresh copy of what is checked out (with uncommitted changes), built once;
# every mutant then rebuilds only what its patch touches.
rm -rf "$tree"
mkdir -p "$tree"
cp -a Package.swift Sources Tests "$tree"/
echo "mutants: building the unmutated copy"
if ! swift build --package-path "$tree" --scratch-path "$scratch" --build-tests -q; then
    echo "mutants: the unmutated tree does not build" >&2
    exit 2
fi

killed=0 survived=0 broken=0
rows=()
for p in "${patches[@]}"; do
    name=$(basename "$p" .patch)
    what=$(sed -n 's/^mutant: //p' "$p" | head -1)
    tests=$(sed -n 's/^tests: //p' "$p" | head -1)
    check=$(sed -n 's/^check: //p' "$p" | head -1)
    if ! patch -s -p1 -d "$tree" --dry-run <"$p" >/dev/null; then
        echo "mutants: $name no longer applies: the code it mutates has changed" >&2
        broken=$((broken + 1))
        rows+=("| $name | $what | does not apply | |")
        continue
    fi
    patch -s -p1 -d "$tree" <"$p"
    echo "mutants: $name: $what (tests: $tests)"
    if ! swift build --package-path "$tree" --scratch-path "$scratch" --build-tests -q 2>"$work/$name.build.log"; then
        verdict="killed (does not compile)"
        killed=$((killed + 1))
    else
        log=$work/$name.test.log
        if [[ -n $check ]]; then
            tests=$check
            BINARY=$scratch/debug/election timeout -k 10 900 bash -c "$check" >"$log" 2>&1
        else
            ELECTION_BINARY=$scratch/debug/election timeout -k 10 600 \
                swift test --package-path "$tree" --scratch-path "$scratch" --skip-build --no-parallel \
                --filter "$tests" >"$log" 2>&1
        fi
        status=$?
        failing=$(grep -Eo '^✘ Test [^ ]+\(' "$log" | tr -d "(" | sed 's/^✘ Test //' | sort -u | head -3 | paste -sd, -)
        if [[ $status -ne 0 ]]; then
            verdict="killed by ${failing:-exit $status}"
            killed=$((killed + 1))
        else
            verdict="SURVIVED"
            survived=$((survived + 1))
        fi
    fi
    echo "mutants: $name: $verdict"
    rows+=("| $name | $what | $verdict | $tests |")
    patch -s -R -p1 -d "$tree" <"$p"
done

echo
echo "| mutant | what it breaks | result | tests run |"
echo "|---|---|---|---|"
printf '%s\n' "${rows[@]}"
echo
echo "mutants: $killed killed, $survived survived, $broken did not apply"
[[ $survived -eq 0 && $broken -eq 0 ]]
