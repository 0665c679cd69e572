"""`make bench`'s supervised-command pass: graceful handover of `election run -- CMD`.

N replicas of the release binary run `election run ... --exec-stop-timeout 1s --
CMD` on one election path of the bench's ZooKeeper. CMD is a stand-in (STAND_IN,
written into the work directory, run by this Python with -I -S) that appends to
ONE log shared by every replica, one line per write (O_APPEND):

    start REPLICA TOKEN NS PID    first thing at its start
    stop  REPLICA TOKEN NS PID    on SIGTERM, just before it exits

NS is CLOCK_MONOTONIC, the clock this pass reads too (time.monotonic_ns),
REPLICA and TOKEN are $ELECTION_REPLICA_ID and $ELECTION_FENCING_TOKEN.

Each of ROUNDS rounds: wait for one leader and its child running, wait a random
0.3-1.3 s (a random phase of the leader's write cycle and the server's tick),
SIGTERM the leader's daemon, wait for the next child's start stamp, wait for the
stopped daemon to exit and start it again (so there are always N). Measured:

  handover        next child's start - the old child's stop stamp
  signal -> start SIGTERM sent to the old daemon -> next child's start stamp
  signal -> stop  SIGTERM sent to the old daemon -> the old child's stop stamp
  overlaps        over the whole log: a child that started while another had
                  started and not yet stamped its stop (must be 0); children
                  that never stamped a stop (SIGKILLed after the stop timeout)
                  are counted apart
  stand-in start  the stand-in's own start-up (Popen -> its start stamp), run
                  directly ROUNDS times: the part of each handover that is
                  Python's, not election's
and `election verify` over the replicas' files.

There is no peer for this pass: kazoo has no supervised command.

Run alone (its own ZooKeeper, nothing else of the bench):
    ONLY=supervised BINARY=... python3 scripts/bench.py
"""

import calendar
import os
import random
import re
import signal
import subprocess
import sys
import time

from harness import wait_until

from .measure import log
from .stats import summary as stats

STAND_IN = r'''"""make bench's supervised stand-in (scripts/benchlib/supervised.py)."""
import time
T0 = time.clock_gettime_ns(time.CLOCK_MONOTONIC)
import os
import signal
import sys

FD = os.open(sys.argv[1], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
REP = os.environ.get("ELECTION_REPLICA_ID", "-")
TOK = os.environ.get("ELECTION_FENCING_TOKEN", "-")


def stamp(kind, t):
    os.write(FD, f"{kind} {REP} {TOK} {t} {os.getpid()}\n".encode())


def on_term(*_):
    stamp("stop", time.clock_gettime_ns(time.CLOCK_MONOTONIC))
    os._exit(0)


signal.signal(signal.SIGTERM, on_term)
stamp("start", T0)
while True:
    signal.pause()
'''

EXEC_STOP_TIMEOUT = "1s"


def read_stamps(path):
    """[(kind, replica, token, ns, pid)] in file order."""
    out = []
    try:
        with open(path) as f:
            for line in f:
                parts = line.split()
                if len(parts) == 5 and parts[0] in ("start", "stop"):
                    out.append((parts[0], parts[1], parts[2], int(parts[3]), int(parts[4])))
    except FileNotFoundError:
        pass
    return out


def overlaps(stamps):
    """Starts while another child was running (started, no stop stamp yet), and
    children that never stamped a stop."""
    live, bad = {}, []
    for kind, rep, tok, ns, pid in sorted(stamps, key=lambda s: s[3]):
        if kind == "start":
            if live:
                bad.append({"start": [rep, tok, pid, ns], "while_running": [list(v) for v in live.values()]})
            live[pid] = (rep, tok, pid, ns)
        else:
            live.pop(pid, None)
    return bad, list(live.values())


def wait_for(predicate, timeout, what):
    v = wait_until(predicate, timeout, 0.002)
    if not v:
        raise RuntimeError(f"supervised pass: {what} within {timeout:g} s")
    return v


def running_child(stamps):
    """(replica, token, pid, start ns) of the one child started and not stopped, or None."""
    live = {}
    for kind, rep, tok, ns, pid in stamps:
        if kind == "start":
            live[pid] = (rep, tok, pid, ns)
        else:
            live.pop(pid, None)
    return next(iter(live.values())) if len(live) == 1 else None


TS_RE = re.compile(r"^ts=(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)\.(\d{3})Z ")
PHASES = (("stop", "SIGTERM to the old child → group gone (old daemon)"),
          ("release", "group gone → znode deleted (old daemon)"),
          ("watch", "znode deleted → next daemon leads (ZooKeeper's watch)"),
          ("spawn", "leads → command started (first file, fork/exec; next daemon)"))


def log_ms(line):
    m = TS_RE.match(line)
    if not m:
        return None
    return calendar.timegm(time.strptime(m.group(1), "%Y-%m-%dT%H:%M:%S")) * 1000.0 + int(m.group(2))


def phases(bench, old_rep, old_tok, new_rep, new_tok):
    """Where one handover goes, from the two daemons' own log lines (wall clock, ms
    resolution): {phase: ms}, or None when a line is missing."""
    def lines(rid):
        try:
            with open(bench.log_of(rid)) as f:
                return f.readlines()
        except FileNotFoundError:
            return []
    old = lines(old_rep)
    begin = next((i for i, ln in enumerate(old) if 'msg="command started"' in ln and f" token={old_tok}" in ln), None)
    if begin is None:
        return None
    marks = {}
    for ln in old[begin:]:
        for key, needle in (("stopping", 'msg="stopping the command"'), ("stopped", 'msg="command stopped"'),
                            ("deleted", 'msg="candidate znode deleted"')):
            if needle in ln and key not in marks:
                marks[key] = log_ms(ln)
    for ln in lines(new_rep):
        if "msg=transition" in ln and " to=Leader" in ln and f" token={new_tok}" in ln:
            marks.setdefault("leads", log_ms(ln))
        if 'msg="command started"' in ln and f" token={new_tok}" in ln:
            marks.setdefault("started", log_ms(ln))
    keys = ("stopping", "stopped", "deleted", "leads", "started")
    if any(marks.get(k) is None for k in keys):
        return None
    return {name: marks[b] - marks[a] for (name, _), a, b in zip(PHASES, keys, keys[1:])}


def stand_in_startup(python, script, log_path, rounds):
    """Popen -> start stamp of the stand-in run directly, ms."""
    times = []
    for i in range(rounds):
        env = dict(os.environ, ELECTION_REPLICA_ID=f"calib{i}", ELECTION_FENCING_TOKEN="0")
        t0 = time.monotonic_ns()
        p = subprocess.Popen([python, "-I", "-S", script, log_path], env=env, stdin=subprocess.DEVNULL)
        rep = f"calib{i}"
        st = wait_for(lambda: next((s for s in read_stamps(log_path) if s[0] == "start" and s[1] == rep), None),
                      10, "stand-in start stamp")
        times.append((st[3] - t0) / 1e6)
        p.send_signal(signal.SIGTERM)
        p.wait(timeout=10)
    return times


def run(bench, n, rounds):
    """The pass, on `bench` (attached to its ZooKeeper); returns the results dict."""
    cmd_dir = os.path.join(bench.work, "supervised")
    os.makedirs(cmd_dir, exist_ok=True)
    script = os.path.join(cmd_dir, "stand_in.py")
    with open(script, "w") as f:
        f.write(STAND_IN)
    stamps_path = os.path.join(cmd_dir, "stamps.log")
    python = sys.executable or "/usr/bin/python3"

    calib = stand_in_startup(python, script, os.path.join(cmd_dir, "calib.log"), rounds)
    log(f"supervised: stand-in start-up p50 {stats(calib)['p50']:.1f} ms")

    rids = [f"sup{bench.tick_ms}-{i}" for i in range(1, n + 1)]
    extra = ["--exec-stop-timeout", EXEC_STOP_TIMEOUT, "--", python, "-I", "-S", script, stamps_path]
    path = f"/bench-{bench.impl.key}-supervised"
    for rid in rids:
        bench.spawn(rid, path=path, cgroup=False, extra=extra)
    bench.wait_steady(rids)

    handover, sig_start, sig_stop, pairs, missing_stop = [], [], [], [], 0
    parts = {name: [] for name, _ in PHASES}
    for i in range(rounds):
        bench.wait_steady(rids)
        old_rep, old_tok, old_pid, _ = wait_for(lambda: running_child(read_stamps(stamps_path)), 15,
                                                "one child running")
        if bench.procs[old_rep].poll() is not None:
            raise RuntimeError(f"supervised pass: {old_rep} runs the child but its daemon is gone")
        time.sleep(0.3 + random.uniform(0, max(bench.tick_ms / 1000.0, 1.0)))
        t0 = time.monotonic_ns()
        bench.procs[old_rep].send_signal(signal.SIGTERM)

        def next_start():
            return next((s for s in read_stamps(stamps_path)
                         if s[0] == "start" and s[4] != old_pid and s[3] > t0), None)
        _, new_rep, new_tok, new_ns, _ = wait_for(next_start, 20, "no next child")
        try:
            bench.procs[old_rep].wait(timeout=15)
        except subprocess.TimeoutExpired:
            log(f"supervised: {old_rep} did not exit 15 s after SIGTERM; SIGKILL")
            bench.procs[old_rep].kill()
            bench.procs[old_rep].wait()
        stop = next((s for s in read_stamps(stamps_path) if s[0] == "stop" and s[4] == old_pid), None)
        sig_start.append((new_ns - t0) / 1e6)
        if stop is None:
            missing_stop += 1
            log(f"supervised round {i + 1}/{rounds}: the old child {old_pid} stamped no stop")
        else:
            sig_stop.append((stop[3] - t0) / 1e6)
            handover.append((new_ns - stop[3]) / 1e6)
        pairs.append([old_rep, old_tok, new_rep, new_tok])
        split = phases(bench, old_rep, old_tok, new_rep, new_tok)
        if split is not None:
            for k, v in split.items():
                parts[k].append(v)
        log(f"supervised round {i + 1}/{rounds}: handover "
            f"{handover[-1] if stop else float('nan'):.1f} ms, signal -> start {sig_start[-1]:.1f} ms "
            f"({old_rep} token {old_tok} -> {new_rep} token {new_tok})")
        bench.spawn(old_rep, cgroup=False)
    bench.wait_steady(rids)
    verify = bench.verify(rids)
    bench.stop_all()
    bad, unstopped = overlaps(read_stamps(stamps_path))
    return {
        "tick_ms": bench.tick_ms, "n": n, "rounds": rounds, "exec_stop_timeout": EXEC_STOP_TIMEOUT,
        "command": f"{os.path.basename(python)} -I -S stand_in.py (start / stop stamps, CLOCK_MONOTONIC)",
        "handover_ms": stats(handover), "signal_to_start_ms": stats(sig_start),
        "signal_to_stop_ms": stats(sig_stop), "stand_in_startup_ms": stats(calib),
        "phases_ms": {k: stats(v) for k, v in parts.items()},
        "overlaps": bad, "unstopped_children": [list(u) for u in unstopped], "missing_stop_in_rounds": missing_stop,
        "children_started": sum(1 for s in read_stamps(stamps_path) if s[0] == "start"),
        "pairs": pairs, "verify": verify,
    }


def render(s):
    def ms(v):
        return f"{v['p50']:.1f} / {v['p90']:.1f} / {v['max']:.1f} ms" if v["p50"] is not None else "–"
    rows = [
        ("graceful handover: old child's stop → next child's start, p50 / p90 / max", ms(s["handover_ms"])),
        ("SIGTERM to the leader's daemon → next child's start, p50 / p90 / max", ms(s["signal_to_start_ms"])),
    ]
    rows += [(f"  of which {label}, p50 / p90 / max (daemon logs, ms resolution)", ms(s["phases_ms"][name]))
             for name, label in PHASES if name in s.get("phases_ms", {})]
    rows += [
        ("  of which the stand-in's own start-up (Popen → start stamp, run directly), p50 / p90 / max",
         ms(s["stand_in_startup_ms"])),
        ("SIGTERM to the leader's daemon → old child's stop, p50 / p90 / max", ms(s["signal_to_stop_ms"])),
        ("overlaps (a start before the previous stop)", str(len(s["overlaps"]))),
        ("children that stamped no stop (SIGKILLed)", str(s["missing_stop_in_rounds"])),
        ("`election verify` violations", str(len(s["verify"].get("violations", [])))),
    ]
    head = (f"### Supervised command (`election run -- CMD`), tickTime = {s['tick_ms']} ms, no peer\n\n"
            f"{s['n']} replicas, --exec-stop-timeout {s['exec_stop_timeout']}, {s['rounds']} rounds; "
            f"CMD: {s['command']}; {s['children_started']} children started.\n\n")
    lines = ["| measure | election |", "|---|---|"] + [f"| {a} | {b} |" for a, b in rows]
    return head + "\n".join(lines)
