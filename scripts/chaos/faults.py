"""The fault kinds, in the order they run. Each is a function registered with
@fault(key, label):

    @fault("leader-sigterm", "leader SIGTERM")
    def leader_sigterm(suite, res, leader, token):
        ...
        return t_heal, working

key is the name FAULTS=... selects it by (and the "fault" of its results in the
JSON); label is its row in the table. It is called with the suite
(suite.Chaos: the topology as suite.zk, suite.proxy, suite.replicas, and the
waits and checks of observation.Observations), the round's report.Result to
fill in (notes, failures, zombies, takeover; wait_working records missed
deadlines), the replica that leads and its fencing token. It injects the fault,
heals it (every fault is undone before it returns), and returns the time of the
heal and what suite.wait_working(...) found after it: (replica, token, seconds)
or None. A replica it kills on purpose gets `expected_exit = True`; the suite
restarts dead replicas after every fault, verifies, and waits for a steady
cluster before the next. A fault that cannot be carried out raises
harness.SuiteError (not a finding about the daemon).

A new kind is one more decorated function here (registration order is run
order); one that needs more of the topology adds it in topology.py and reaches
it through the suite. The kinds of the supervised command (`-- CMD`) are in
supervised.py, registered after these (imported at the end of this module)
with @fault(key, label, variant=...): the suite restarts the replicas with that
command before the first of them."""

import errno
import os
import signal
import time
from typing import Callable, NamedTuple

from harness import SuiteError

from .common import FILLER, HOLD, SESSION, ZK_SERVERS
from .topology import mount_readonly_bind, unmount_top


class Fault(NamedTuple):
    key: str
    label: str
    run: Callable  # run(suite, res, leader, token) -> (t_heal, working or None)
    variant: str = None  # the replicas' supervised command (harness/workload.py), None: none
    optional: bool = False  # run only when FAULTS names it


FAULTS = []  # every registered Fault, in run order


def fault(key, label, variant=None, optional=False):
    """Registers the decorated function as the fault kind `key`; `variant`:
    the replicas run that supervised command (workload.Workload.command) for it;
    `optional`: not in the default selection (a hole no fix covers yet), run when
    FAULTS names it."""

    def register(fn):
        if any(f.key == key for f in FAULTS):
            raise ValueError(f"fault kind {key!r} registered twice")
        FAULTS.append(Fault(key, label, fn, variant, optional))
        return fn

    return register


def names():
    """Every registered kind, optional ones too (what FAULTS may name)."""
    return [f.key for f in FAULTS]


def default_names():
    """The kinds run when FAULTS is not set."""
    return [f.key for f in FAULTS if not f.optional]


def select(keys):
    """The registered faults whose key is in `keys`, in run order."""
    return [f for f in FAULTS if f.key in keys]


@fault("leader-sigterm", "leader SIGTERM")
def leader_sigterm(suite, res, leader, token):
    r = leader
    t0 = time.time()
    r.expected_exit = True
    r.kill(signal.SIGTERM)
    rc = r.wait(10)
    res.notes["exit"] = {"status": rc, "after_s": round(time.time() - t0, 2)}
    if rc != 0:
        res.failures.append(f"{r.name} exit status {rc} after SIGTERM (want 0 within 10 s)")
        suite.collect_log(res, r, 0)
        if rc is None:
            r.proc.kill()
            r.wait(5)
    w = suite.wait_working(res, t0, t0, exclude=r.name)
    return t0, w


@fault("leader-sigkill", "leader SIGKILL")
def leader_sigkill(suite, res, leader, token):
    r = leader
    t0 = time.time()
    r.expected_exit = True
    r.kill(signal.SIGKILL)
    r.wait(5)
    w = suite.wait_working(res, t0, t0, exclude=r.name)
    return t0, w


@fault("follower-sigkill", "follower SIGKILL")
def follower_sigkill(suite, res, leader, token):
    r = next(x for x in suite.replicas if x is not leader)
    res.notes["killed"] = r.name
    t0 = time.time()
    r.expected_exit = True
    r.kill(signal.SIGKILL)
    r.wait(5)
    w = suite.wait_working(res, t0, t0)
    return t0, w


@fault("leader-sigstop", f"leader SIGSTOP {HOLD:g}s, SIGCONT")
def leader_sigstop(suite, res, leader, token):
    r = leader
    off = r.log_size()
    t0 = time.time()
    r.kill(signal.SIGSTOP)
    w = suite.wait_working(res, t0, t0, exclude=r.name, what="takeover while stopped")
    if w:
        res.takeover = w[2]
    time.sleep(max(0.0, t0 + HOLD - time.time()))
    t_snap = time.time()
    before = set(os.listdir(r.dir))
    t_heal = time.time()
    r.kill(signal.SIGCONT)
    w = suite.wait_working(res, t_heal, t_heal)
    time.sleep(1.0)  # give a zombie every chance to write
    suite.check_left_leader(res, r, off)
    suite.check_rejoined(res, r, off, t_heal)
    # A stopped process creates no file: any file of its old term that was
    # not in its directory at SIGCONT was written after it resumed.
    zombies = suite.file_events(
        lambda e: e.replica == r.name and e.token == token and e.seen >= t_snap and e.name not in before
    )
    res.zombies += [f"{r.name}/{e.name} (time {e.time:.3f}, seen {e.seen - t_heal:+.3f}s after SIGCONT)" for e in zombies]
    if zombies:
        suite.collect_log(res, r, off)
    return t_heal, w


@fault("leader-blackhole", f"leader's ZK connection blackholed {HOLD:g}s")
def leader_blackhole(suite, res, leader, token):
    r = leader
    off = r.log_size()
    res.notes["connected_to_zk"] = suite.proxy.connected_servers(r.name)
    t0 = time.time()
    suite.proxy.blackhole(r.name)
    w = suite.wait_working(res, t0, t0, exclude=r.name, what="takeover while cut off")
    if w:
        res.takeover = w[2]
    time.sleep(max(0.0, t0 + HOLD - time.time()))
    t_heal = time.time()
    suite.proxy.heal(r.name)
    w = suite.wait_working(res, t_heal, t_heal)
    # Cut off for longer than the session timeout, it must have stopped
    # writing: its session may have expired by then.
    zombies = suite.file_events(lambda e: e.replica == r.name and e.token == token and t0 + SESSION < e.time <= t_heal)
    res.zombies += [f"{r.name}/{e.name} written {e.time - t0:.3f}s into the blackhole" for e in zombies]
    suite.check_left_leader(res, r, off)
    suite.check_rejoined(res, r, off, t_heal)
    return t_heal, w


def _pick_zk(suite, leader, mode):
    modes = suite.zk.modes()
    want = [i + 1 for i, m in enumerate(modes) if m == mode]
    if not want:
        raise SuiteError(f"no ZooKeeper {mode} (modes {modes})")
    conn = suite.proxy.connected_servers(leader.name)
    pref = [i for i in want if i in conn]
    return (pref or want)[0], modes, conn


def _zk_kill_restart(suite, res, leader, mode):
    i, modes, conn = _pick_zk(suite, leader, mode)
    res.notes["zk"] = {"killed": f"zk{i}", "modes": modes, "leader replica connected to": [f"zk{c}" for c in conn]}
    t0 = time.time()
    suite.zk.signal(i, "KILL")
    time.sleep(HOLD)
    suite.zk.startone(i)
    t_heal = suite.zk.wait_serving()
    if t_heal is None:
        raise SuiteError(f"zk{i} did not rejoin the ensemble: {suite.zk.modes()}")
    res.notes["zk down for s"] = round(t_heal - t0, 2)
    w = suite.wait_working(res, t_heal, t_heal)
    return t_heal, w


@fault("zk-follower-kill", "ZK follower SIGKILL, restart")
def zk_follower_kill(suite, res, leader, token):
    return _zk_kill_restart(suite, res, leader, "follower")


@fault("zk-leader-kill", "ZK leader SIGKILL, restart")
def zk_leader_kill(suite, res, leader, token):
    return _zk_kill_restart(suite, res, leader, "leader")


@fault("zk-quorum-loss", f"ZK quorum lost (2 of 3 down) {HOLD:g}s")
def zk_quorum_loss(suite, res, leader, token):
    modes = suite.zk.modes()
    conn = suite.proxy.connected_servers(leader.name)
    # Kill the ZooKeeper leader and the server the leading replica uses
    # (another follower if that is the leader itself).
    zl = modes.index("leader") + 1
    others = [i for i in range(1, ZK_SERVERS + 1) if i != zl]
    second = next((i for i in others if i in conn), others[0])
    victims = [zl, second]
    res.notes["zk"] = {"killed": [f"zk{i}" for i in victims], "modes": modes}
    t0 = time.time()
    for i in victims:
        suite.zk.signal(i, "KILL")
    time.sleep(HOLD)
    suite.zk.startmany(victims)
    # The quorum is back as soon as two servers serve (a leader serves only then),
    # before all three do: a replica may write from that moment. `no_quorum` is the
    # last time a poll still found no leader.
    no_quorum, end = time.time(), time.time() + 30
    while time.time() < end and "leader" not in suite.zk.modes():
        no_quorum = time.time()
        time.sleep(0.02)
    t_heal = suite.zk.wait_serving()
    if t_heal is None:
        raise SuiteError(f"quorum did not come back: {suite.zk.modes()}")
    res.notes["quorum lost for s"] = round(no_quorum - t0, 2)
    w = suite.wait_working(res, t_heal, t_heal)
    # Without a quorum nobody can confirm leadership: after the session
    # timeout no replica may write until the quorum is back.
    zombies = suite.file_events(lambda e: t0 + SESSION < e.time < no_quorum)
    res.zombies += [f"{e.replica}/{e.name} written {e.time - t0:.3f}s into the quorum loss" for e in zombies]
    return t_heal, w


@fault("zk-server-sigstop", f"ZK server SIGSTOP {HOLD:g}s")
def zk_server_sigstop(suite, res, leader, token):
    conn = suite.proxy.connected_servers(leader.name)
    modes = suite.zk.modes()
    # Odd rounds: the server the leading replica talks to; even rounds: the
    # ZooKeeper leader (whichever the replica talks to).
    if res.round % 2 == 1 and conn:
        i = conn[0]
    else:
        i = modes.index("leader") + 1
    res.notes["zk"] = {"stopped": f"zk{i}", "mode": modes[i - 1], "modes": modes,
                       "leader replica connected to": [f"zk{c}" for c in conn]}
    suite.zk.signal(i, "STOP")
    try:
        time.sleep(HOLD)
    finally:
        t_heal = time.time()
        suite.zk.signal(i, "CONT")
    if suite.zk.wait_serving() is None:
        raise SuiteError(f"ensemble not serving after SIGCONT: {suite.zk.modes()}")
    w = suite.wait_working(res, t_heal, t_heal)
    return t_heal, w


def _filedir_fault(suite, res, leader, token, apply, undo, label):
    r = leader
    off = r.log_size()
    t0 = time.time()
    detail = apply(r)
    res.notes["fault"] = detail
    w = suite.wait_working(res, t0, t0, exclude=r.name, what="takeover by a healthy replica")
    if w:
        res.takeover = w[2]
    suite.check_left_leader(res, r, off, want_reason="leadership released")
    time.sleep(max(0.0, t0 + SESSION - time.time()))
    problem = undo(r)
    if problem:
        res.failures.append(problem)
    t_heal = time.time()
    w = suite.wait_working(res, t_heal, t_heal)
    suite.check_rejoined(res, r, off, t_heal)
    return t_heal, w


@fault("filedir-readonly", "file-dir read-only under the leader")
def filedir_readonly(suite, res, leader, token):
    # A read-only bind mount stacked on the directory (see
    # topology.mount_readonly_bind for why not a read-only remount).
    def apply(r):
        mount_readonly_bind(r.dir)
        return f"{r.dir}: read-only bind mount on top"

    def undo(r):
        unmount_top(r.dir)

    return _filedir_fault(suite, res, leader, token, apply, undo, "read-only")


@fault("filedir-full", "file-dir full under the leader")
def filedir_full(suite, res, leader, token):
    state = {}

    def apply(r):
        path = os.path.join(r.dir, FILLER)
        state["size"] = fill(path)
        return f"{path}: {state['size']} bytes until ENOSPC"

    def undo(r):
        path = os.path.join(r.dir, FILLER)
        try:
            size = os.path.getsize(path)
            os.remove(path)
        except OSError:
            size = None
        if size != state["size"]:
            return f"the filler file (a foreign file) was touched: {state['size']} bytes -> {size}"

    return _filedir_fault(suite, res, leader, token, apply, undo, "full")


@fault("znode-delete", "own candidate znode deleted")
def znode_delete(suite, res, leader, token):
    r = leader
    znode = r.znode()
    if not znode:
        raise SuiteError(f"{r.name} logged no znode")
    off = r.log_size()
    t_start = time.time()
    p = suite.zk.zkcli("delete", znode)
    t_end = time.time()
    res.notes["deleted"] = znode
    res.notes["zkCli_s"] = round(t_end - t_start, 2)
    if p.returncode != 0:
        raise SuiteError(f"zkCli delete {znode}: {(p.stdout + p.stderr).strip()[-500:]}")
    suite.check_left_leader(res, r, off, want_to="Attempter")
    t0 = suite.noticed(r, off, t_end)
    w = suite.wait_working(res, t_start, t0)
    return t0, w


@fault("election-path-delete", "election path deleted")
def election_path_delete(suite, res, leader, token):
    off = leader.log_size()
    t_start = time.time()
    for attempt in range(1, 6):
        p = suite.zk.zkcli("deleteall", "/election")
        if p.returncode == 0:
            break
        # A replica may recreate a child between the listing and the delete.
        time.sleep(0.2)
    else:
        raise SuiteError(f"zkCli deleteall /election: {(p.stdout + p.stderr).strip()[-500:]}")
    t_end = time.time()
    res.notes["deleteall attempts"] = attempt
    res.notes["zkCli_s"] = round(t_end - t_start, 2)
    suite.check_left_leader(res, leader, off)
    t0 = suite.noticed(leader, off, t_end)
    w = suite.wait_working(res, t_start, t0)
    if w and w[1] <= token:
        res.failures.append(f"new leader token {w[1]} not above the old {token}")
    return t0, w


# ---- helpers -------------------------------------------------------------------------


def fill(path):
    """Writes zeros until ENOSPC (64 KiB, then 4 KiB steps); returns the size."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    size = 0
    try:
        for step in (65536, 4096):
            chunk = b"\0" * step
            while True:
                try:
                    n = os.write(fd, chunk)
                except OSError as e:
                    if e.errno != errno.ENOSPC:
                        raise
                    break
                size += n
                if n < step:
                    break
        os.fsync(fd)
    finally:
        os.close(fd)
    return os.path.getsize(path)


# The supervised command's kinds register after the ones above, so run last.
from . import supervised  # noqa: E402,F401
