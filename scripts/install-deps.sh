#!/usr/bin/env bash
# Installs what building and running election needs on Debian/Ubuntu:
#   libzookeeper-mt-dev  the ZooKeeper C client the Swift code links against
#   zookeeper            the server jar, for scripts/zk-ensemble.sh and tests
#   a Java runtime       to run that server
#   python3              zk-ensemble.sh picks free ports with it
#   procps               pgrep/pkill, used by tests to prove nothing is left behind
#   strace               the durability test reads the fsync/rename order of the real binary
#   spin                 `make model` checks the protocol's model (scripts/model/)
#   nftables, iproute2   the partition suite's network namespaces and faults
# Idempotent and silent when everything is present, so CI can call it every run.
set -euo pipefail

missing=()

# A package counts as present when dpkg says it is installed.
installed() {
    dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"
}

installed libzookeeper-mt-dev || missing+=(libzookeeper-mt-dev)
installed zookeeper || missing+=(zookeeper)
# Tools count as present when they are on PATH, however they got there (a JDK
# in /opt, python3 from pyenv): installing a second copy would only confuse.
command -v java >/dev/null 2>&1 || missing+=(default-jre-headless)
command -v python3 >/dev/null 2>&1 || installed python3 || missing+=(python3)
command -v strace >/dev/null 2>&1 || missing+=(strace)
command -v spin >/dev/null 2>&1 || missing+=(spin)
command -v nft >/dev/null 2>&1 || missing+=(nftables)
command -v ip >/dev/null 2>&1 || missing+=(iproute2)
{ command -v pgrep && command -v pkill; } >/dev/null 2>&1 || installed procps || missing+=(procps)

((${#missing[@]} == 0)) && exit 0

if ! command -v apt-get >/dev/null 2>&1; then
    echo "install-deps: missing ${missing[*]} and no apt-get here; install them by hand" >&2
    exit 1
fi
sudo=()
if [[ $(id -u) -ne 0 ]]; then
    command -v sudo >/dev/null 2>&1 || {
        echo "install-deps: missing ${missing[*]}; run this script as root" >&2
        exit 1
    }
    sudo=(sudo)
fi

echo "install-deps: installing ${missing[*]}" >&2
"${sudo[@]}" apt-get update -qq
"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive \
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
