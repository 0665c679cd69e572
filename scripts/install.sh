#!/usr/bin/env bash
# Install election for systemd: `make install` runs this after `make release`.
#
#   BINARY   the binary to install      (default .build/release/election)
#   PREFIX   where it goes              (default /usr/local -> /usr/local/bin/election)
#   DESTDIR  staging root for packagers (default empty: the live system)
#   UNITDIR  where the unit goes        (default /etc/systemd/system, in systemd's
#                                        search path whatever PREFIX is)
#
# Installs $PREFIX/bin/election, $UNITDIR/election.service (its ExecStart=
# rewritten to $PREFIX/bin/election), $PREFIX/share/election/election.env.example
# (always, for reference) and /etc/default/election (only when there is none:
# existing settings are never overwritten). Then `systemd-analyze verify` on
# the installed unit must print nothing. On the live system (no DESTDIR, systemd
# running) it also runs `systemctl daemon-reload`; it never enables or starts
# the service.
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
BINARY="${BINARY:-$root/.build/release/election}"
PREFIX="${PREFIX:-/usr/local}"
DESTDIR="${DESTDIR:-}"
UNITDIR="${UNITDIR:-/etc/systemd/system}"

die() { echo "install: $*" >&2; exit 1; }
[[ -x $BINARY ]] || die "no executable at $BINARY: build it with \`make release\` (or set BINARY=)"
[[ $PREFIX == /* ]] || die "PREFIX must be an absolute path, not '$PREFIX'"
[[ $UNITDIR == /* ]] || die "UNITDIR must be an absolute path, not '$UNITDIR'"

bin="$PREFIX/bin/election"
unit="$UNITDIR/election.service"
envfile=/etc/default/election
example="$PREFIX/share/election/election.env.example"

install -D -m 0755 "$BINARY" "$DESTDIR$bin"
echo "installed $DESTDIR$bin"

install -d -m 0755 "$DESTDIR$UNITDIR"
sed "s|^ExecStart=/usr/local/bin/election |ExecStart=$bin |" \
    "$root/deploy/systemd/election.service" >"$DESTDIR$unit.tmp"
grep -q "^ExecStart=$bin run" "$DESTDIR$unit.tmp" || {
    rm -f "$DESTDIR$unit.tmp"
    die "could not set ExecStart=$bin in deploy/systemd/election.service"
}
chmod 0644 "$DESTDIR$unit.tmp"
mv -f "$DESTDIR$unit.tmp" "$DESTDIR$unit"
echo "installed $DESTDIR$unit (ExecStart=$bin run)"

install -D -m 0644 "$root/deploy/systemd/election.env.example" "$DESTDIR$example"
echo "installed $DESTDIR$example"
if [[ -e $DESTDIR$envfile ]]; then
    echo "kept      $DESTDIR$envfile (exists; compare with $example)"
else
    # 0640: settings may name credentials files and hosts; systemd reads it as root.
    install -D -m 0640 "$root/deploy/systemd/election.env.example" "$DESTDIR$envfile"
    echo "installed $DESTDIR$envfile (set ELECTION_ZK_SERVERS there)"
fi

# systemd-analyze verify checks that ExecStart= exists, so under a DESTDIR it
# looks at a copy of the unit that points into DESTDIR.
if command -v systemd-analyze >/dev/null; then
    check="$DESTDIR$unit"
    tmp=""
    if [[ -n $DESTDIR ]]; then
        tmp="$(mktemp -d)"
        sed "s|^ExecStart=$bin |ExecStart=$DESTDIR$bin |" "$DESTDIR$unit" >"$tmp/election.service"
        check="$tmp/election.service"
    fi
    out="$(systemd-analyze verify "$check" 2>&1)" || true
    [[ -n $tmp ]] && rm -rf "$tmp"
    [[ -z $out ]] || die "systemd-analyze verify $DESTDIR$unit: $out"
    echo "verified  $DESTDIR$unit (systemd-analyze verify: no complaints)"
else
    echo "install: systemd-analyze not found: the unit was not verified" >&2
fi

if [[ -z $DESTDIR && -d /run/systemd/system ]]; then
    systemctl daemon-reload
    echo "ran       systemctl daemon-reload"
fi
cat <<EOF
next:
  \$EDITOR $envfile      # at least ELECTION_ZK_SERVERS
  systemctl enable --now election     # waits until ZooKeeper answers (--no-block: don't wait)
  systemctl status election           # STATUS= names the state; journalctl -u election -f
EOF
