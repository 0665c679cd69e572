"""The fault kinds of the supervised command (`election run ... -- CMD`),
registered after those of faults.py and so run last. Their replicas run
`--exec-stop-timeout 400ms --on-exit resign -- CMD` with the stand-in of
workload.py (variant "stamper", or "pipeline" for a shell with grandchildren);
the suite restarts the replicas with that command before the first of them.

Each reuses the heal and checks of its plain counterpart where there is one
(faults.leader_sigkill, leader_sigstop, leader_blackhole, leader_sigterm) and
adds, from the children's own stamps (workload.sweep):
  overlaps     a child that started before another's last sign of life, or found
               a process of another command group alive at its start: must be 0
  handovers    the gap from the old child's last sign of life to the next
               child's start
  child_stop   the old child's last sign of life, from the fault
  leftovers    after the heal: a live process of any command group but the
               working leader's, or more than one watchdog
and that the working leader after the heal runs its command."""

import threading
import time

from .common import (
    BEAT, CHURN_WINDOW, COMMAND_BACKOFF, DEADLINE, SESSION, STOP_MARGIN, STOP_TIMEOUT, mono_ns, parse_time, run,
)
from .faults import fault, leader_blackhole, leader_sigkill, leader_sigstop, leader_sigterm
from .workload import sweep

# The documented timing rule: the group is gone by confirmedAt + SESSION -
# STOP_MARGIN, and the last confirmation was sent before the fault.
RULE = SESSION - STOP_MARGIN


def _old_child(suite, res, leader, token):
    c = suite.workload.wait_running(leader.name, token)
    if c is None:
        res.failures.append(f"the leader {leader.name} (token {token}) runs no command before the fault")
        suite.collect_log(res, leader, 0)
    else:
        res.notes["old child"] = {"replica": c.replica, "token": c.token, "pid": c.pid, "pgid": c.pgid}
    return c


def _log_has(r, offset, text):
    return any(text in ln for ln, _ in r.lines(offset))


def _handover(suite, res, old, n_fault, w, since=None):
    """The checks every supervised fault ends with; returns the working
    leader's child (or None)."""
    wl = suite.workload
    new = None
    if w:
        new = wl.wait_running(w[0], w[1])
        if new is None:
            res.failures.append(f"the working leader {w[0]} (token {w[1]}) runs no command")
    kids = wl.children()
    start = since if since is not None else (old.start if old else n_fault)
    # Every child alive at or after `start` (the old one, the ones before the
    # new leader's and the new leader's own).
    seg = [c for c in kids if c.last >= start - 2e9 or c.start >= start]
    handovers, overlaps = sweep(seg)
    res.overlaps += overlaps
    # The handovers from the old child on (not the one that started it).
    after = [(p, c, g) for p, c, g in handovers if (c.start > old.start if old else c.start >= n_fault)]
    res.gaps += [round(g, 4) for p, c, g in after]
    res.notes["handovers"] = [f"{p.name()} -> {c.name()}: {g * 1000:+.1f} ms" for p, c, g in after][:20]
    if old:
        old = next((c for c in kids if (c.replica, c.token, c.pid) == (old.replica, old.token, old.pid)), old)
        res.child_stop = round((old.last - n_fault) / 1e9, 4)
    _leftovers(suite, res, new)
    if res.overlaps:
        for r in suite.replicas:
            suite.collect_log(res, r, 0)
        res.evidence["stamps"] = [c.as_dict() for c in seg]
    return new


def _leftovers(suite, res, new, grace=3.0):
    """Live processes of any command group but the working leader's, and
    watchdogs beyond the one of that command, once `grace` has passed (a
    killed daemon's watchdog waits for its group's zombies to be reaped)."""
    wl = suite.workload
    end = time.time() + grace
    while True:
        procs = [p for p in wl.processes() if p.live()]
        extra = [p for p in procs if p.kind == "command" and (new is None or p.pgid != new.pgid)]
        dogs = [p for p in procs if p.kind == "watchdog"]
        if len(dogs) > (1 if new else 0):
            extra += dogs
        if not extra or time.time() >= end:
            break
        time.sleep(0.1)
    res.leftovers += [str(p) for p in extra]


def _stop_rule(res, old, n_fault, what):
    """The old child gone within the timing rule's bound of the fault."""
    if old is None:
        return
    after = res.child_stop
    if after is not None and after > RULE:
        res.failures.append(
            f"{what}: the old child's last sign of life {after:.3f}s after the fault, past the timing rule's "
            f"{RULE:g}s (confirmedAt + session {SESSION:g}s - {STOP_MARGIN:g}s)")


def _watchdog_fault(suite, res, leader, token, inject, line, what, complaint):
    """Inject a fault into the leader's daemon alone; the watchdog must stop its
    child (logging `line`) before the next child starts, within the timing rule."""
    old = _old_child(suite, res, leader, token)
    off = leader.log_size()
    n0 = mono_ns()
    t_heal, w = inject(suite, res, leader, token)
    _handover(suite, res, old, n0, w)
    if old:
        if not _log_has(leader, off, line):
            res.failures.append(f"{leader.name}'s watchdog did not log {complaint}")
            suite.collect_log(res, leader, off)
        _stop_rule(res, old, n0, what)
    return t_heal, w


@fault("cmd-daemon-sigkill", "CMD: leader's daemon SIGKILL (watchdog stops the child)", variant="stamper")
def cmd_daemon_sigkill(suite, res, leader, token):
    return _watchdog_fault(suite, res, leader, token, leader_sigkill, "election watchdog: the daemon is gone",
                           "daemon SIGKILL", "stopping the group on the closed pipe")


@fault("cmd-daemon-sigstop", "CMD: leader's daemon SIGSTOP 4s, SIGCONT", variant="stamper")
def cmd_daemon_sigstop(suite, res, leader, token):
    return _watchdog_fault(suite, res, leader, token, leader_sigstop,
                           "election watchdog: leadership deadline passed", "daemon SIGSTOP",
                           "the lapsed deadline while the daemon was stopped")


@fault("cmd-daemon-blackhole", "CMD: leader's ZK connection blackholed 4s", variant="stamper")
def cmd_daemon_blackhole(suite, res, leader, token):
    old = _old_child(suite, res, leader, token)
    off = leader.log_size()
    n0 = mono_ns()
    t_heal, w = leader_blackhole(suite, res, leader, token)
    _handover(suite, res, old, n0, w)
    if old:
        by = "watchdog" if _log_has(leader, off, "election watchdog: leadership deadline passed") else "daemon"
        res.notes["child stopped by"] = by
        _stop_rule(res, old, n0, "blackhole")
    return t_heal, w


@fault("cmd-stubborn-sigterm", "CMD: child ignores SIGTERM, leader's daemon SIGTERM", variant="stamper")
def cmd_stubborn_sigterm(suite, res, leader, token):
    wl = suite.workload
    old = _old_child(suite, res, leader, token)
    off = leader.log_size()
    wl.set_mode("stubborn")
    time.sleep(2 * BEAT)  # the mode is read on SIGTERM; let the file settle
    n0 = mono_ns()
    try:
        t_heal, w = leader_sigterm(suite, res, leader, token)
    finally:
        wl.set_mode("normal")
    _handover(suite, res, old, n0, w)
    if old:
        c = next((k for k in wl.children() if (k.replica, k.pid) == (old.replica, old.pid)), None)
        if c is None or not c.ignored:
            res.failures.append("the stubborn child stamped no ignored SIGTERM")
        else:
            killed = (c.last - c.ignored[0]) / 1e9
            res.notes["killed after SIGTERM s"] = round(killed, 3)
            if c.stop is not None:
                res.failures.append("the stubborn child stopped on SIGTERM")
            # It beat on until the SIGKILL: its last beat is within a beat (and
            # a scheduling delay) of the stop timeout, not before.
            if killed < STOP_TIMEOUT - 4 * BEAT:
                res.failures.append(f"the stubborn child's last beat {killed:.3f}s after SIGTERM: "
                                    f"killed before the stop timeout ({STOP_TIMEOUT:g}s)?")
        if not _log_has(leader, off, "killing its process group"):
            res.failures.append(f"{leader.name} did not log the SIGKILL after the stop timeout")
            suite.collect_log(res, leader, off)
    return t_heal, w


@fault("cmd-exit-churn", f"CMD: child exits 1 at once for {CHURN_WINDOW:g}s (--on-exit resign)", variant="stamper")
def cmd_exit_churn(suite, res, leader, token):
    wl = suite.workload
    old = _old_child(suite, res, leader, token)
    offs = {r.name: r.log_size() for r in suite.replicas}
    pids = {r.name: r.pid for r in suite.replicas}
    t0, n0 = time.time(), mono_ns()
    wl.set_mode("fail")
    try:
        time.sleep(max(0.0, t0 + CHURN_WINDOW - time.time()))
    finally:
        wl.set_mode("normal")
    t_heal, n_heal = time.time(), mono_ns()
    kids = [c for c in wl.children() if c.start >= n0 and c.start <= n_heal]
    created = {
        r.name: sum(
            1 for _, d in r.lines(offs[r.name])
            if d.get("msg") == "candidate created" and t0 <= (parse_time(d.get("ts")) or 0) <= t_heal
        )
        for r in suite.replicas
    }
    starts = {r.name: sum(1 for c in kids if c.replica == r.name) for r in suite.replicas}
    res.churn = {"starts": sum(starts.values()), "candidates_created": sum(created.values()),
                 "starts_by_replica": starts, "candidates_by_replica": created}
    # Backoff after the n-th quick exit in a row: jittered in [d/2, d], d = 1 s x 2^(n-1);
    # every replica's counter was 0 before (no exit of its current daemon).
    floor_starts = 0
    t = 0.0
    while t <= CHURN_WINDOW:
        floor_starts += 1
        t += COMMAND_BACKOFF * 2 ** (floor_starts - 1) / 2
    bound = floor_starts * len(suite.replicas)
    res.notes["churn bound (starts, candidates)"] = bound
    if res.churn["starts"] > bound or res.churn["candidates_created"] > bound:
        res.failures.append(f"churn: {res.churn['starts']} command starts, {res.churn['candidates_created']} "
                            f"candidates created in {CHURN_WINDOW:g}s (at most {bound} with the backoff)")
    # Each replica's own quick exits: its next start waits at least the floor.
    exits = {}
    for c in sorted(wl.children(), key=lambda k: k.start):
        if c.start < (old.start if old else n0) or c.replica not in pids:
            continue
        prev = exits.get(c.replica)
        if prev and c.ppid == prev["daemon"]:
            n, t_exit = prev["n"], prev["at"]
            floor = COMMAND_BACKOFF * 2 ** (n - 1) / 2
            waited = (c.start - t_exit) / 1e9
            if waited < floor:
                res.failures.append(f"{c.replica} restarted its command {waited:.3f}s after quick exit #{n} "
                                    f"(backoff at least {floor:g}s)")
        if c.exit is not None:
            n = (prev["n"] + 1) if prev and c.ppid == prev["daemon"] else 1
            exits[c.replica] = {"n": n, "at": c.exit[0], "daemon": c.ppid}
    # Recovery: the first replica back from its backoff leads with a working
    # command; the deadline counts from the end of the shortest backoff left.
    w = suite.wait_working(res, t_heal, t_heal, deadline=None)
    exits = {}
    for c in wl.children():
        if c.exit is not None and pids.get(c.replica) == c.ppid and c.start >= (old.start if old else n0):
            exits.setdefault(c.replica, []).append(c.exit[0])
    ready = [max(at) + COMMAND_BACKOFF * 2 ** (len(at) - 1) * 1e9 for at in exits.values()]
    left = max(0.0, (min(ready) - n_heal) / 1e9) if ready and len(exits) == len(suite.replicas) else 0.0
    res.notes["backoff left at the heal s"] = round(left, 2)
    if w and w[2] > DEADLINE + left:
        res.missed.append(f"working leader after {w[2]:.2f}s > {DEADLINE:.1f}s + {left:.2f}s of backoff left")
    _handover(suite, res, old, n0, w)
    # A clean slate for what follows: the daemons whose command exited by itself
    # keep their quick-exit count (and backoff) until a 10 s run; restart them.
    # (A replica that died meanwhile is left to the suite, which reports it.)
    stale = sorted({c.replica for c in wl.children() if c.exit is not None and pids.get(c.replica) == c.ppid})
    stale = [n for n in stale if suite.by_name(n).alive() and suite.by_name(n).pid == pids[n]]
    if stale:
        res.notes["restarted after (backoff counters)"] = stale
        for name in stale:
            r = suite.by_name(name)
            r.expected_exit = True
            r.stop()
            r.expected_exit = False
            r.start()
    return t_heal, w


@fault("cmd-pipeline-sigterm", "CMD: shell pipeline with grandchildren, leader's daemon SIGTERM", variant="pipeline")
def cmd_pipeline_sigterm(suite, res, leader, token):
    wl = suite.workload
    old = _old_child(suite, res, leader, token)
    members = wl.group(old.pgid) if old else []
    res.notes["old group"] = [f"{pid} {state} {comm}" for pid, state, comm in members]
    if old and len(members) < 4:
        res.failures.append(f"the old command group has {len(members)} processes, not a shell, the stand-in, sleep and cat")
    # Watch the old group from outside while the daemon stops it.
    seen = {"live": None, "any": None, "dead": None, "scans": 0}
    done = threading.Event()

    def watch():
        while not done.is_set():
            now = mono_ns()
            m = wl.group(old.pgid)
            seen["scans"] += 1
            if any(s not in ("Z", "X") for _, s, _ in m):
                seen["live"] = now
            elif seen["dead"] is None:
                seen["dead"] = mono_ns()  # by the end of this scan: zombies at most
            if m:
                seen["any"] = now
            else:
                break
            time.sleep(0.005)

    th = threading.Thread(target=watch, daemon=True)
    if old:
        th.start()
    n0 = mono_ns()
    try:
        t_heal, w = leader_sigterm(suite, res, leader, token)
    finally:
        done.set()
        if old:
            th.join(5)
    new = _handover(suite, res, old, n0, w)
    if old:
        for what, key in (("last live member seen", "live"), ("no live member left (zombies at most)", "dead"),
                          ("last member (a zombie) seen", "any")):
            if seen[key]:
                res.notes[f"old group: {what}, after SIGTERM s"] = round((seen[key] - n0) / 1e9, 3)
        if new and seen["live"] and seen["live"] >= new.start:
            res.overlaps.append(f"a live process of the old group {old.pgid} seen {(seen['live'] - new.start) / 1e6:.1f} ms "
                                f"after {new.name()} started")
        p = run(["pgrep", "-a", "-g", str(old.pgid)], timeout=10)
        # Zombies run nothing: orphans of the old group wait for this machine's
        # PID 1 to reap them, which can take a second or two (the daemon does not
        # wait for that either); anything alive is a leftover.
        alive = [line for line in p.stdout.strip().splitlines() if "<defunct>" not in line]
        if alive:
            res.leftovers.append(f"pgrep -g {old.pgid}: {'; '.join(alive)}")
    return t_heal, w
