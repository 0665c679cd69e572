#!/usr/bin/env bash
# Builds the clock-rate preload (libclockrate.so) and the C helpers of its test
# (clockrate-probe: measures waits and clocks under the preload; clockrate-stamper:
# the supervised command that stamps its beats with the real CLOCK_MONOTONIC)
# into DIR (default: $CLOCKRATE_BUILD or /tmp/clockrate-build). Prints DIR.
# Nothing here is committed; everything is world-readable so that unprivileged
# daemons can load it.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
out=${1:-${CLOCKRATE_BUILD:-/tmp/clockrate-build}}
mkdir -p "$out"
chmod 755 "$out"
CC=${CC:-cc}
"$CC" -O2 -Wall -Wextra -shared -fPIC -o "$out/libclockrate.so" "$here/clockrate.c" -ldl
"$CC" -O2 -Wall -Wextra -o "$out/clockrate-probe" "$here/probe.c" -lpthread
"$CC" -O2 -Wall -Wextra -o "$out/clockrate-stamper" "$here/stamper.c"
chmod 755 "$out/libclockrate.so" "$out/clockrate-probe" "$out/clockrate-stamper"
echo "$out"
