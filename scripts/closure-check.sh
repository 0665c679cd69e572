#!/usr/bin/env bash
# closure-check: does the runtime image of docker/Dockerfile hold every shared
# library the release binary needs?
#
#   scripts/closure-check.sh [BINARY [DOCKERFILE]]
#     BINARY      default .build/release/election (make release)
#     DOCKERFILE  default docker/Dockerfile
#
# For every library `ldd BINARY` resolves on this (Debian bookworm) machine,
# `dpkg -S` names the Debian package that ships it; that package must be one
# the Dockerfile's last stage installs with `apt-get install` (or one of their
# dependencies, per `apt-cache depends --recurse`), or one of the packages of
# debian:bookworm-slim (docker/bookworm-slim-packages.txt says how that list was
# made). Exit 0 when all are covered, 1 naming each library and package that is
# not, 2 when the check cannot run (no binary, unknown package). Needs dpkg and
# apt-cache with current lists (`apt-get update`), no container engine.
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
binary="${1:-$root/.build/release/election}"
dockerfile="${2:-$root/docker/Dockerfile}"
slim_list="${SLIM_PACKAGES:-$root/docker/bookworm-slim-packages.txt}"

die() { echo "closure-check: $*" >&2; exit 2; }
[[ -f $binary ]] || die "no binary at $binary: build it first (make release)"
[[ -f $dockerfile ]] || die "no Dockerfile at $dockerfile"
[[ -f $slim_list ]] || die "no package list at $slim_list"
for tool in ldd dpkg apt-cache; do
    command -v "$tool" >/dev/null || die "needs ldd, dpkg and apt-cache (a Debian machine); no $tool"
done

# The packages the runtime (last) stage installs: the words after
# `apt-get install` up to the end of the command (`&&`, `;`, `|`), without
# options and version pins. Continuation lines are joined first.
runtime_packages() {
    awk '
        { line = line $0 }
        /\\$/ { sub(/\\$/, "", line); next }
        { print line; line = "" }
    ' "$1" | awk '
        toupper($1) == "FROM" { stage = ""; next }
        { stage = stage "\n" $0 }
        END { print stage }
    ' | awk '
        {
            for (i = 1; i <= NF; i++) {
                if ($i == "install" && i > 1 && $(i - 1) ~ /(apt-get|apt)$/) {
                    for (j = i + 1; j <= NF; j++) {
                        if ($j == "&&" || $j == ";" || $j == "|" || $j == "||") break
                        w = $j
                        gsub(/[;"'"'"']/, "", w)
                        if (w ~ /^-/ || w == "") continue
                        sub(/=.*/, "", w)
                        print w
                    }
                }
            }
        }
    ' | sort -u
}

mapfile -t installed < <(runtime_packages "$dockerfile")

declare -A allowed=() why=()
while read -r pkg; do
    [[ -z $pkg || $pkg == \#* ]] && continue
    allowed[$pkg]=1
    why[$pkg]="in debian:bookworm-slim"
done <"$slim_list"

for pkg in "${installed[@]}"; do
    deps="$(apt-cache depends --recurse --important --no-recommends --no-suggests \
        --no-conflicts --no-breaks --no-replaces --no-enhances "$pkg" 2>/dev/null)" ||
        die "apt-cache knows no package '$pkg' (installed by $dockerfile); run apt-get update"
    while read -r dep; do
        [[ -z $dep || $dep == \<* ]] && continue
        if [[ -z ${allowed[$dep]:-} ]]; then
            allowed[$dep]=1
            if [[ $dep == "$pkg" ]]; then why[$dep]="installed by the Dockerfile"; else why[$dep]="dependency of $pkg"; fi
        fi
    done < <(printf '%s\n' "$deps" | sed -n 's/^ *|\{0,1\}\(Pre\)\{0,1\}Depends: //p; /^[^ ]/p' | sed 's/:.*//' | sort -u)
    why[$pkg]="installed by the Dockerfile"
done

# The package that ships a file, trying the path as ldd printed it, its /usr
# twin (bookworm's merged /usr: /lib -> /usr/lib) and the symlink's target.
owner() {
    local path="$1" candidate real
    real="$(readlink -f "$path" 2>/dev/null || echo "$path")"
    for candidate in "$path" "${path#/usr}" "/usr$path" "$real" "${real#/usr}" "/usr$real"; do
        [[ $candidate == /* ]] || continue
        if out="$(dpkg -S "$candidate" 2>/dev/null)"; then
            printf '%s\n' "$out" | head -n 1 | sed 's/: \/.*//; s/, .*//; s/:.*//'
            return 0
        fi
    done
    return 1
}

ldd_out="$(ldd "$binary" 2>&1)" || true
if grep -q 'not a dynamic executable' <<<"$ldd_out"; then
    echo "closure-check: ok: $binary is statically linked"
    exit 0
fi

failures=0 checked=0 summary=()
while read -r line; do
    [[ -z $line || $line == linux-vdso* ]] && continue
    if [[ $line == *"=> not found"* ]]; then
        echo "closure-check: ${line%% *} is not found on this machine (ldd), so it cannot be in the image either" >&2
        failures=$((failures + 1))
        continue
    fi
    if [[ $line == *" => "* ]]; then
        lib="${line%% *}"
        path="${line#* => }"
        path="${path%% *}"
    else
        path="${line%% *}"
        lib="$(basename "$path")"
    fi
    checked=$((checked + 1))
    if ! pkg="$(owner "$path")"; then
        echo "closure-check: $lib ($path) belongs to no Debian package: the runtime image cannot install it" >&2
        failures=$((failures + 1))
        continue
    fi
    if [[ -n ${allowed[$pkg]:-} ]]; then
        summary+=("$pkg")
        echo "  $lib  $path  <- $pkg (${why[$pkg]})"
    else
        echo "closure-check: $lib ($path) comes from package $pkg, which the runtime stage of $dockerfile does not install (it installs: ${installed[*]:-nothing}) and debian:bookworm-slim does not ship: add $pkg to its apt-get install" >&2
        failures=$((failures + 1))
    fi
done <<<"$ldd_out"

if ((failures > 0)); then
    echo "closure-check: FAILED: $failures of the shared libraries of $binary missing from the runtime image" >&2
    exit 1
fi
echo "closure-check: ok: $checked shared libraries, all in the runtime image, from $(printf '%s\n' "${summary[@]}" | sort -u | tr '\n' ' ' | sed 's/ $//')"
