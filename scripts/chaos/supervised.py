"""The fault kinds of the supervised command (`election run ... -- CMD`),
registered after those of faults.py and so run last. Their replicas run
`--exec-stop-timeout 400ms --on-exit resign -- CMD` with the stand-in of
harness/workload.py (variant "stamper", or "pipeline" for a shell with
grandchildren); the suite restarts the replicas with that command before the
first of them.

Each reuses the heal and checks of its plain counterpart where there is one
(faults.leader_sigkill, leader_sigstop, leader_blackhole, leader_sigterm) and
adds, from the children's own stamps (workload.sweep):
  overlaps     a child that started before another's last sign of life, or found
               a process of another command group alive at its start: must be 0
               (Result.longest_overlap: the most negative handover gap)
  handovers    the gap from the old child's last sign of life to the next
               child's start
  child_stop   the old child's last sign of life, from the fault
  next_start   the next child's start, from the fault
  leftovers    after the heal: a live process of any command group but the
               working leader's, or more than one watchdog
and that the working leader after the heal runs its command.

The kinds that probe the holes around the supervisor (restart-after-kill,
restart-after-double-term, outside-delete-stubborn, watchdog-kill,
watchdog-stop, cpu-hog-pause; see the package's docstring) run the child stubborn (SIGTERM ignored) and check that it
was: its ignored SIGTERM stamped, its end a SIGKILL. A daemon that loses its
watchdog must kill the command within NOTICE of the fault. Whatever of an old
command group is still alive after the checks is SIGKILLed (and was reported),
so that one hole does not spoil the faults after it. cpu-hog-pause reports the
watchdog's lateness (Result.lateness): the child's first ignored SIGTERM, stamped
under SCHED_FIFO, minus the deadline of the confirmation that covered the last
file before the pause (sent no later than its sync request reached the proxy; a
lower bound, within the request's way from the daemon to the proxy)."""

import os
import signal
import threading
import time

from harness import SuiteError, mono_ns
from harness.proc import PROCS, pid_alive, pids, stat
from harness.files import FILE_RE
from harness.replica import parse_time
from harness.workload import BEAT, sweep

from . import zkwire
from .common import (
    CHURN_WINDOW, COMMAND_BACKOFF, DEADLINE, HOLD, LEADER_TIMEOUT, SESSION, STOP_MARGIN, STOP_TIMEOUT,
)
from .faults import fault, leader_blackhole, leader_sigkill, leader_sigstop, leader_sigterm

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
    # Overlaps of the children from the old one on (earlier ones were counted before).
    handovers, overlaps = sweep(seg, since=old.start if old else start - 1)
    res.overlaps += overlaps
    # The handovers from the old child on (not the one that started it).
    after = [(p, c, g) for p, c, g in handovers if (c.start > old.start if old else c.start >= n_fault)]
    res.gaps += [round(g, 4) for p, c, g in after]
    if after:
        res.next_start = round((after[0][1].start - n_fault) / 1e9, 4)
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
    watchdogs whose daemon is gone, once `grace` has passed (a killed daemon's
    watchdog waits for its group's zombies to be reaped). Every live daemon
    keeps one watchdog: its command's while it leads, a spare one otherwise."""
    wl = suite.workload
    end = time.time() + grace
    while True:
        procs = [p for p in wl.processes() if p.live()]
        extra = [p for p in procs if p.kind == "command" and (new is None or p.pgid != new.pgid)]
        daemons = {p.pid for p in procs if p.kind == "daemon"}
        extra += [p for p in procs if p.kind == "watchdog" and p.ppid not in daemons]
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


# ---- the holes around the supervisor, each with a command that ignores SIGTERM ----

# The watchdog's deadline for a confirmation sent at confirmedAt (CommandTiming.deadline):
# confirmedAt + this; the group is SIGTERMed then, SIGKILLed STOP_TIMEOUT later.
DEADLINE_SPAN = min(SESSION / 2, SESSION - STOP_TIMEOUT - STOP_MARGIN)
# A daemon that loses its watchdog (killed, or stopped: seen at the next renewal,
# every leader-timeout) kills its command "at once": within this of the fault.
NOTICE = 2 * LEADER_TIMEOUT + 0.1
DOUBLE_TERM_GAP = 0.05  # between the two SIGTERMs (apart enough not to merge into one)
HOG_BEFORE = 0.5  # every CPU busy this long before the pause


def _proc_start(pid):
    """The process's start time (clock ticks since boot), to tell it from a recycled pid; None if gone."""
    s = stat(pid)
    return s[3] if s else None


def _watchdog_of(r, timeout=2.0):
    """The command watchdog of replica r's daemon: its child run as `election watchdog`
    (argv[1]); (pid, start time) or None."""
    end = time.time() + timeout
    while True:
        for d in pids():
            try:
                if (stat(d) or (0, 0))[1] != r.pid:
                    continue
                with open(f"/proc/{d}/cmdline", "rb") as f:
                    argv = f.read().split(b"\0")
            except OSError:
                continue
            if len(argv) > 1 and argv[1] == b"watchdog" and pid_alive(d):
                return d, _proc_start(d)
        if time.time() >= end:
            return None
        time.sleep(0.05)


def _signal_if_same(proc, sig):
    """Signals (pid, start time) unless it is gone (or its pid recycled); True if signalled."""
    pid, start = proc
    if start is None or _proc_start(pid) != start:
        return False
    try:
        os.kill(pid, sig)
        return True
    except OSError:
        return False


def _log_time(r, offset, text, timeout=0.0):
    """The time (ts=) of r's first log line from `offset` that contains `text`,
    waiting up to `timeout`; None if there is none. A line without ts= (the
    watchdog's own) counts with the time it was found."""
    end = time.time() + timeout
    while True:
        for ln, d in r.lines(offset):
            if text in ln:
                return parse_time(d.get("ts")) or time.time()
        if time.time() >= end:
            return None
        time.sleep(0.02)


def _same_child(wl, c):
    """Child c as the stamps show it now."""
    if c is None:
        return None
    return next((k for k in wl.children() if (k.replica, k.token, k.pid) == (c.replica, c.token, c.pid)), c)


def _wait_gone(wl, c, timeout):
    """Waits until child c has stopped stamping (no sign of life for 3 beats) or
    ended; returns it as the stamps then show it."""
    end = time.time() + timeout
    while True:
        k = _same_child(wl, c)
        if k is None or k.ended() or mono_ns() - k.last > 3 * BEAT * 1e9 or time.time() >= end:
            return k
        time.sleep(BEAT)


def _stubborn_checks(res, c, what):
    """The old child ignored a SIGTERM and lived on until the SIGKILL, a stop timeout later:
    else the fault did not test what it says."""
    if c is None:
        return
    if not c.ignored:
        res.failures.append(f"{what}: the stubborn child stamped no ignored SIGTERM")
        return
    lived = (c.last - c.ignored[0]) / 1e9
    res.notes["old child: SIGKILLed after its first ignored SIGTERM s"] = round(lived, 3)
    if c.stop is not None:
        res.failures.append(f"{what}: the stubborn child stopped on SIGTERM")


def _end_strays(suite, res, new):
    """After the checks: any live process of a command group but the working
    leader's is ended here (it was reported), so that one hole found does not
    spoil the faults that follow."""
    ended = []
    for p in suite.workload.processes():
        if p.live() and p.kind == "command" and (new is None or p.pgid != new.pgid):
            try:
                os.kill(p.pid, signal.SIGKILL)
                ended.append(p.pid)
            except OSError:
                pass
    if ended:
        res.notes["stray command processes SIGKILLed after the checks"] = ended


def _restart_at_once(suite, res, leader, token, signals, want_status):
    """The leader's daemon ended by `signals` (the command ignoring SIGTERM) and
    started again at once, with the same arguments and state file: the old
    command, which its watchdog kills only a stop timeout after the daemon's end,
    must be gone before the next one starts (the restarted daemon waits for the
    state file's lock, which the old watchdog holds until then)."""
    wl = suite.workload
    old = _old_child(suite, res, leader, token)
    wl.set_mode("stubborn")
    time.sleep(2 * BEAT)  # the mode is read on SIGTERM; let the file settle
    t0, n0 = time.time(), mono_ns()
    w = None
    try:
        leader.expected_exit = True
        for i, sig in enumerate(signals):
            if i:
                time.sleep(DOUBLE_TERM_GAP)
            leader.kill(sig)
        rc = leader.wait(10)
        n_exit = mono_ns()
        if rc is None:
            res.failures.append(f"{leader.name} did not exit within 10 s of {'+'.join(s.name for s in signals)}")
            suite.collect_log(res, leader, 0)
            leader.proc.kill()
            leader.wait(5)
            n_exit = mono_ns()
        elif rc != want_status:
            res.failures.append(f"{leader.name} exit status {rc} (want {want_status})")
        leader.expected_exit = False
        leader.start()  # not the suite's restore: at once, as a restart loop would
        n_up = mono_ns()
        res.notes["exit"] = {"status": rc, "after_s": round((n_exit - n0) / 1e9, 3)}
        res.notes["restarted after the exit ms"] = round((n_up - n_exit) / 1e6, 1)
        w = suite.wait_working(res, t0, t0)
    finally:
        wl.set_mode("normal")
    new = _handover(suite, res, old, n0, w)
    _stubborn_checks(res, _same_child(wl, old), "restart")
    waited = _log_time(leader, 0, "state file locked: waiting")
    freed = _log_time(leader, 0, "state file free again")
    res.notes["restarted daemon waited for the state file's lock s"] = (
        round(freed - waited, 3) if waited and freed else ("no wait logged" if not waited else "still waiting"))
    if new and old:
        res.notes["next child"] = {"replica": new.replica, "token": new.token, "same token": new.token == old.token}
    _end_strays(suite, res, new)
    return t0, w


@fault("restart-after-kill", "CMD: child ignores SIGTERM, leader's daemon SIGKILL and started again at once",
       variant="stamper")
def restart_after_kill(suite, res, leader, token):
    return _restart_at_once(suite, res, leader, token, [signal.SIGKILL], -signal.SIGKILL)


@fault("restart-after-double-term",
       "CMD: child ignores SIGTERM, leader's daemon SIGTERM twice (_exit) and started again at once", variant="stamper")
def restart_after_double_term(suite, res, leader, token):
    return _restart_at_once(suite, res, leader, token, [signal.SIGTERM, signal.SIGTERM], 128 + signal.SIGTERM)


@fault("outside-delete-stubborn", "CMD: child ignores SIGTERM, leader's candidate znode deleted from outside",
       variant="stamper")
def outside_delete_stubborn(suite, res, leader, token):
    wl = suite.workload
    old = _old_child(suite, res, leader, token)
    znode = leader.znode()
    if not znode:
        raise SuiteError(f"{leader.name} logged no znode")
    off = leader.log_size()
    wl.set_mode("stubborn")
    time.sleep(2 * BEAT)
    w = None
    t_start = time.time()
    try:
        err, n_acked = zkwire.delete(suite.zk, znode)  # as an operator would: a session of its own
        t_acked = time.time()
        res.notes["deleted"] = znode
        res.notes["delete acknowledged after ms"] = round((t_acked - t_start) * 1000, 1)
        if err != zkwire.OK:
            raise SuiteError(f"delete {znode}: {zkwire.error_name(err)}")
        suite.check_left_leader(res, leader, off, want_to="Attempter")
        w = suite.wait_working(res, t_start, t_acked)
        if w and w[0] != leader.name:
            res.takeover = w[2]
    finally:
        wl.set_mode("normal")
    new = _handover(suite, res, old, n_acked, w)
    _stubborn_checks(res, _same_child(wl, old), "outside delete")
    _end_strays(suite, res, new)
    return t_acked, w


@fault("watchdog-kill", "CMD: leader's watchdog SIGKILL, then its daemon SIGKILL", variant="stamper")
def watchdog_kill(suite, res, leader, token):
    wl = suite.workload
    old = _old_child(suite, res, leader, token)
    dog = _watchdog_of(leader)
    if dog is None:
        raise SuiteError(f"{leader.name} (pid {leader.pid}) has no `election watchdog` child")
    off = leader.log_size()
    res.notes["watchdog"] = dog[0]
    t0, n0 = time.time(), mono_ns()
    _signal_if_same(dog, signal.SIGKILL)
    # The daemon must notice at once: its command killed, its leadership given up.
    noticed = _log_time(leader, off, "the command's watchdog exited", timeout=NOTICE + 1.0)
    if noticed is None:
        res.failures.append(f"{leader.name} did not log its watchdog's death within {NOTICE + 1.0:g}s")
    else:
        res.notes["daemon noticed after s"] = round(noticed - t0, 3)
    gone = _wait_gone(wl, old, NOTICE + 1.0)
    suite.check_left_leader(res, leader, off)
    # Then the daemon too: nothing of it may run beside the next leader's command.
    res.notes["daemon SIGKILLed after the watchdog s"] = round(time.time() - t0, 3)
    leader.expected_exit = True
    leader.kill(signal.SIGKILL)
    leader.wait(5)
    w = suite.wait_working(res, t0, t0, exclude=leader.name)
    new = _handover(suite, res, old, n0, w)
    if gone is not None and res.child_stop is not None and res.child_stop > NOTICE:
        res.failures.append(f"the old child's last sign of life {res.child_stop:.3f}s after its watchdog's death "
                            f"(the daemon must kill it at once: within {NOTICE:g}s)")
    _end_strays(suite, res, new)
    return t0, w


@fault("watchdog-daemon-kill", "CMD: leader's daemon and its watchdog SIGKILLed together (kill -9 of every election)",
       variant="stamper")
def watchdog_daemon_kill(suite, res, leader, token):
    """`pkill -9 election`, `killall -9 election`: the daemon and its watchdog die in
    the same instant, before either can act (the watchdog first: the daemon would
    see its death; the daemon first: the watchdog would see the pipe close); the
    command, which ignores SIGTERM, must not outlive both."""
    wl = suite.workload
    old = _old_child(suite, res, leader, token)
    dog = _watchdog_of(leader)
    if dog is None:
        raise SuiteError(f"{leader.name} (pid {leader.pid}) has no `election watchdog` child")
    res.notes["watchdog"] = dog[0]
    wl.set_mode("stubborn")
    time.sleep(2 * BEAT)
    w = None
    try:
        if _proc_start(dog[0]) != dog[1]:
            raise SuiteError(f"{leader.name}'s watchdog {dog[0]} went away before the fault")
        leader.expected_exit = True
        t0, n0 = time.time(), mono_ns()
        os.kill(dog[0], signal.SIGKILL)
        os.kill(leader.pid, signal.SIGKILL)
        res.notes["both killed within us"] = round((mono_ns() - n0) / 1e3, 1)
        leader.wait(5)
        w = suite.wait_working(res, t0, t0, exclude=leader.name)
    finally:
        wl.set_mode("normal")
    new = _handover(suite, res, old, n0, w)
    if old and res.child_stop is not None and res.child_stop > RULE:
        res.failures.append(f"the old child's last sign of life {res.child_stop:.3f}s after the kill, past the timing "
                            f"rule's {RULE:g}s")
    _end_strays(suite, res, new)
    return t0, w


@fault("watchdog-stop", "CMD: leader's watchdog SIGSTOP (its daemon renewing), SIGCONT", variant="stamper")
def watchdog_stop(suite, res, leader, token):
    old = _old_child(suite, res, leader, token)
    dog = _watchdog_of(leader)
    if dog is None:
        raise SuiteError(f"{leader.name} (pid {leader.pid}) has no `election watchdog` child")
    off = leader.log_size()
    res.notes["watchdog"] = dog[0]
    t0, n0 = time.time(), mono_ns()
    _signal_if_same(dog, signal.SIGSTOP)
    w = None
    try:
        # The daemon renews every leader-timeout and must find the watchdog
        # stopped then (a full pipe must never block it either).
        noticed = _log_time(leader, off, "the command's watchdog is stopped", timeout=NOTICE + 1.0)
        if noticed is None:
            res.failures.append(f"{leader.name} did not log its stopped watchdog within {NOTICE + 1.0:g}s")
        else:
            res.notes["daemon noticed after s"] = round(noticed - t0, 3)
        suite.check_left_leader(res, leader, off)
        w = suite.wait_working(res, t0, t0, exclude=leader.name, what="takeover while the watchdog is stopped")
        if w:
            res.takeover = w[2]
        # Its state loop never hung on the stopped watchdog: it is a candidate again meanwhile.
        suite.check_rejoined(res, leader, off, t0)
    finally:
        res.notes["watchdog at the end"] = ("still there: SIGCONT" if _signal_if_same(dog, signal.SIGCONT)
                                            else "gone (killed by its daemon)")
    t_heal = time.time()
    new = _handover(suite, res, old, n0, w)
    if res.child_stop is not None and res.child_stop > NOTICE:
        res.failures.append(f"the old child's last sign of life {res.child_stop:.3f}s after its watchdog stopped "
                            f"(the daemon must kill it at its next renewal: within {NOTICE:g}s)")
    _end_strays(suite, res, new)
    return t_heal, w


def _fresh_file(r, timeout):
    """Waits for a new file in r's directory; returns (its ctime, the ctime of
    the newest file before it or None), ns on CLOCK_MONOTONIC, or None."""
    def ctime(n):
        try:
            return os.stat(os.path.join(r.dir, n)).st_ctime_ns - offset
        except OSError:
            return None

    offset = _realtime_offset()
    try:
        before = {n for n in os.listdir(r.dir) if FILE_RE.match(n)}
    except OSError:
        return None
    end = time.time() + timeout
    while time.time() < end:
        for n in os.listdir(r.dir):
            if n not in before and FILE_RE.match(n):
                t = ctime(n)
                if t is None:
                    before.add(n)
                    continue
                older = [c for c in map(ctime, before) if c is not None and c < t]
                return t, max(older, default=None)
        time.sleep(0.001)
    return None


def _confirmed_by(suite, r, fresh):
    """The latest the leader can have sent the confirmation that covered its
    fresh file (the watchdog's deadline is that + DEADLINE_SPAN): the file's
    ctime, or earlier, the moment its first request more than half a
    leader-timeout after the file before reached the proxy (the confirmation's
    sync: nothing else is sent between two writes; the half keeps out the
    previous confirmation's last request, which a coarse ctime can follow).
    (ns, "ctime" or "proxy")."""
    t, before = fresh
    if before is not None:
        sent = suite.proxy.sent_between(r.name, before + int(LEADER_TIMEOUT / 2 * 1e9), t)
        if sent:
            return sent[0], "proxy"
    return t, "ctime"


def _realtime_offset():
    """CLOCK_REALTIME minus CLOCK_MONOTONIC, ns (the tightest of a few readings)."""
    best = None
    for _ in range(5):
        a = mono_ns()
        t = time.time_ns()
        b = mono_ns()
        if best is None or b - a < best[0]:
            best = (b - a, t - (a + b) // 2)
    return best[1]


@fault("cpu-hog-pause", f"CMD: child hogs every CPU, leader's daemon SIGSTOP {HOLD:g}s, SIGCONT", variant="stamper")
def cpu_hog_pause(suite, res, leader, token):
    wl = suite.workload
    old = _old_child(suite, res, leader, token)
    off = leader.log_size()
    wl.set_mode("hog", token)  # that child alone: stubborn, a busy loop per CPU
    try:
        end = time.time() + 2.0
        c = _same_child(wl, old)
        while old and (c is None or c.hog is None) and time.time() < end:
            time.sleep(BEAT)
            c = _same_child(wl, old)
        if old and (c is None or c.hog is None):
            res.failures.append("the child did not start its busy loops")
        elif c:
            res.notes["busy loops"] = c.hog[1]
        time.sleep(HOG_BEFORE)
        # Paused right after a fresh file: the confirmation that covered it was sent
        # before its rename, and the next one is a leader-timeout away, so the
        # watchdog's deadline is at most the file's ctime + DEADLINE_SPAN.
        fresh = _fresh_file(leader, 1.0)
        if fresh is None:
            res.failures.append(f"{leader.name} wrote no file in 1 s under the CPU hog")
        n0 = mono_ns()
        t_heal, w = leader_sigstop(suite, res, leader, token)
    finally:
        wl.set_mode("normal")
    new = _handover(suite, res, old, n0, w)
    if old:
        c = _same_child(wl, old)
        if not _log_has(leader, off, "election watchdog: leadership deadline passed"):
            res.failures.append(f"{leader.name}'s watchdog did not log the lapsed deadline while the daemon was stopped")
            suite.collect_log(res, leader, off)
        _stubborn_checks(res, c, "cpu hog")
        if fresh is not None and c is not None and c.ignored:
            confirmed, by = _confirmed_by(suite, leader, fresh)
            deadline = confirmed + int(DEADLINE_SPAN * 1e9)
            res.lateness = round((c.ignored[0] - deadline) / 1e9, 4)
            res.notes["paused after the fresh file ms"] = round((n0 - fresh[0]) / 1e6, 1)
            res.notes["confirmation sent by (before the file's ctime) ms"] = [round((fresh[0] - confirmed) / 1e6, 1), by]
            res.notes[f"watchdog's SIGTERM after its deadline (confirmation + {DEADLINE_SPAN:g}s) ms, at least"] = (
                round(res.lateness * 1000, 1))
            res.notes["old child's last sign of life after the deadline ms"] = round((c.last - deadline) / 1e6, 1)
        _stop_rule(res, old, n0, "cpu hog")
    _end_strays(suite, res, new)
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
        p = PROCS.run(["pgrep", "-a", "-g", str(old.pgid)], timeout=10)
        # Zombies run nothing: orphans of the old group wait for this machine's
        # PID 1 to reap them, which can take a second or two (the daemon does not
        # wait for that either); anything alive is a leftover.
        alive = [line for line in p.stdout.strip().splitlines() if "<defunct>" not in line]
        if alive:
            res.leftovers.append(f"pgrep -g {old.pgid}: {'; '.join(alive)}")
    return t_heal, w
