"""Check 3, systemd: deploy/systemd/election.service under systemd as PID 1, in
a privileged container (podman --systemd=always) of a bookworm image with
Debian's zookeeperd. The binary and the unit are installed as `make install`
does (scripts/install.sh with DESTDIR, copied into the container before it
boots); /etc/default/election points at the local ZooKeeper with short
timeouts. One drop-in, for speed only: WatchdogSec=5s (the unit's 30 s would
make the SIGSTOP check wait half a minute). Everything else (DynamicUser=,
the empty CapabilityBoundingSet=, SystemCallFilter=, ...) is the unit's own."""

import json
import os
import re
import time

from . import podman as pm
from .common import check_endpoints, expect

GROUP = "systemd"
TITLE = "deploy/systemd/election.service under systemd with zookeeperd"
CHECKS = [
    "unit starts: READY=1 (active/running), STATUS= names the state",
    "every endpoint answers under the unit's hardening",
    "systemctl stop: exit status 0, znode deleted",
    "journal of a normal start and stop has no error-looking line",
    "kill -9 of the main PID: its guardian closes the session at once, systemd restarts it",
    "SIGSTOPped past WatchdogSec=: aborted by the watchdog and restarted",
]
SETTINGS = """\
# /etc/default/election of scripts/containers/check_systemd.py
ELECTION_ZK_SERVERS=127.0.0.1:2181
ELECTION_HTTP_ADDR=127.0.0.1:8080
ELECTION_SESSION_TIMEOUT=4s
ELECTION_LEADER_TIMEOUT=1s
"""
WATCHDOG = 5
DROP_IN = f"""\
# scripts/containers/check_systemd.py: a shorter watchdog, so that the SIGSTOP
# check takes seconds rather than the unit's 30 s.
[Service]
WatchdogSec={WATCHDOG}s
"""
STATES = ("Init", "Attempter", "Leader", "Failover", "Stopping")
ERRORISH = re.compile(r"error|fail|errno|warn", re.I)


def run(ctx, check):
    image = ctx.systemd_image()
    root = ctx.run.tmpdir("install")
    r = pm.run(["bash", os.path.join(pm.ROOT, "scripts", "install.sh")],
               env=dict(os.environ, DESTDIR=root, BINARY=ctx.binary, PREFIX="/usr/local"))
    pm.say("systemd: " + " | ".join(line for line in r.stdout.splitlines() if line.startswith(("installed", "verified"))))
    with open(os.path.join(root, "etc", "default", "election"), "w") as f:
        f.write(SETTINGS)
    os.makedirs(os.path.join(root, "etc", "systemd", "system", "election.service.d"))
    with open(os.path.join(root, "etc", "systemd", "system", "election.service.d", "50-test.conf"), "w") as f:
        f.write(DROP_IN)

    box = ctx.run.name("systemd")
    pm.podman("create", "--name", box, "--privileged", "--systemd=always", "--hostname", "election-host", image)
    pm.podman("cp", f"{root}/.", f"{box}:/")
    pm.podman("start", box)

    def sh(*argv, check=True, timeout=60):
        return pm.podman("exec", box, *argv, check=check, timeout=timeout)

    def show(*props):
        out = sh("systemctl", "show", "election", "-p", ",".join(props)).stdout
        return dict(line.split("=", 1) for line in out.splitlines() if "=" in line)

    def candidates():
        r = sh("election", "status", "--zk-servers", "127.0.0.1:2181", "--json", "--timeout", "5s", check=False)
        if r.returncode not in (0, 2):
            raise pm.CommandFailed(f"election status exited {r.returncode}: {r.stdout.strip()} {r.stderr.strip()}")
        if not r.stdout.startswith("{"):
            return []  # exit 2: "No election at /election" (nothing there yet)
        return json.loads(r.stdout).get("candidates") or []

    def journal():
        return sh("journalctl", "-u", "election", "-o", "cat", "--no-pager").stdout.splitlines()

    pm.wait_until("systemd is up", lambda: sh("systemctl", "is-system-running", check=False).stdout.strip()
                  in ("running", "degraded"), timeout=60)
    pm.wait_until("zookeeperd answers on 127.0.0.1:2181", lambda: sh(
        "election", "status", "--zk-servers", "127.0.0.1:2181", "--timeout", "2s", check=False).returncode in (0, 2),
        timeout=90, interval=1)

    with check(CHECKS[0], required=True):
        # Enabled as the unit's header says (enable --now, in two steps here);
        # enabled, it also stays loaded once stopped, with its exit status.
        sh("systemctl", "enable", "election")
        # Type=notify: start returns once the daemon sent READY=1.
        sh("systemctl", "start", "election", timeout=60)
        p = show("ActiveState", "SubState", "StatusText")
        expect((p["ActiveState"], p["SubState"]) == ("active", "running"), f"unit: {p}")
        expect(any(p["StatusText"].startswith(s) for s in STATES), f"StatusText names no state: {p['StatusText']!r}")
        pm.say(f"systemd: StatusText={p['StatusText']!r}")

    with check(CHECKS[1]):
        def get(path):
            r = sh("curl", "-sS", "--max-time", "3", "-w", "\n%{http_code}", f"http://127.0.0.1:8080{path}", check=False)
            if r.returncode != 0:
                raise pm.CommandFailed(f"curl {path}: exit {r.returncode}: {r.stderr.strip()}")
            body, _, code = r.stdout.rpartition("\n")
            return int(code), body
        check_endpoints(get)

    with check(CHECKS[2]):
        before = [c["znode"] for c in candidates()]
        expect(len(before) == 1, f"before the stop, the candidates are {before}")
        sh("systemctl", "stop", "election", timeout=60)
        # ExecMainCode 1 = CLD_EXITED (not killed: a death by SIGTERM is a
        # "success" for systemd too, but not an exit status 0).
        p = show("ActiveState", "Result", "ExecMainCode", "ExecMainStatus")
        expect(p == {"ActiveState": "inactive", "Result": "success", "ExecMainCode": "1", "ExecMainStatus": "0"},
               f"after the stop: {p}")
        after = candidates()
        expect(after == [], f"znodes left after the stop: {after}")

    with check(CHECKS[3]):
        lines = journal()
        expect(any("Deactivated successfully" in line for line in lines), "no 'Deactivated successfully' line")
        bad = [line for line in lines if ERRORISH.search(line)]
        expect(not bad, "error-looking lines in `journalctl -u election -o cat`:\n" + "\n".join(bad))

    seen = len(journal())
    sh("systemctl", "start", "election", timeout=60)

    with check(CHECKS[4]):
        p = show("MainPID", "NRestarts")
        first = candidates()
        expect(len(first) == 1, f"candidates before the kill: {first}")
        sh("bash", "-c", f"kill -9 {p['MainPID']}")
        q = pm.wait_until("restarted by systemd", lambda: restarted(show, p), timeout=30)
        lines = journal()[seen:]
        seen += len(lines)
        session = first[0]["session"]
        # The leader's guardian (the watchdog process, which ignores systemd's
        # SIGTERM to the rest of the cgroup) closed the dead daemon's session, so
        # the znode went at once; the restarted daemon joins with a new session.
        closed = [line for line in lines if "closed the daemon's ZooKeeper session" in line]
        expect(any(session.lower() in line.lower() for line in closed),
               f"no 'closed the daemon's ZooKeeper session {session}' line; closed lines: {closed}")
        now = pm.wait_until("a new candidate", lambda: [c for c in candidates() if c["session"] != session] or None,
                            timeout=30)
        expect(all(c["session"] != session for c in candidates()),
               f"the old session's znode outlived the kill: {candidates()}")
        pm.say(f"systemd: main PID {p['MainPID']} -> {q['MainPID']}, session {session} closed by its guardian, "
               f"new session {now[0]['session']}")

    with check(CHECKS[5]):
        p = show("MainPID", "NRestarts")
        stopped = time.monotonic()
        sh("bash", "-c", f"kill -STOP {p['MainPID']}")
        q = pm.wait_until("aborted and restarted", lambda: restarted(show, p), timeout=WATCHDOG + 30)
        took = time.monotonic() - stopped
        lines = journal()[seen:]
        expect(any("Watchdog timeout" in line for line in lines), "no 'Watchdog timeout' line:\n" + "\n".join(lines))
        expect(any("Failed with result 'watchdog'" in line for line in lines),
               "no \"Failed with result 'watchdog'\" line:\n" + "\n".join(lines))
        pm.say(f"systemd: SIGSTOPped main PID {p['MainPID']} replaced by {q['MainPID']} after {took:.1f}s")

    sh("systemctl", "stop", "election", check=False, timeout=60)


def restarted(show, before):
    """The unit's properties once it is active again with another main PID and one more restart."""
    q = show("ActiveState", "MainPID", "NRestarts")
    if (q["ActiveState"] == "active" and q["MainPID"] not in ("0", before["MainPID"])
            and int(q["NRestarts"]) == int(before["NRestarts"]) + 1):
        return q
    return None
