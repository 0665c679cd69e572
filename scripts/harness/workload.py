"""The supervised command of the chaos suite (chaos/supervised.py) and the
partition suite: a stand-in that the replicas run as `election run ...
--exec-stop-timeout 400ms -- CMD`, and what its own stamps prove.

The stand-in (stamper.py, written into <work>/cmd/ by the suite) appends to ONE
log shared by every replica, one line per write (O_APPEND):

    start REPLICA TOKEN NS PID PGID PPID         at its start
    scan  REPLICA TOKEN NS PID PGID PPID LIST    then: every other command process alive
    beat  REPLICA TOKEN NS PID PGID PPID         every 25 ms while it runs
    stop  REPLICA TOKEN NS PID PGID PPID         on SIGTERM, just before it exits
    term-ignored ...                             on SIGTERM in mode "stubborn"
    exit  REPLICA TOKEN NS PID PGID PPID 1       when it exits by itself (mode "fail")

NS is CLOCK_MONOTONIC (mono_ns: the clock the daemon's watchdog reads too), TOKEN is $ELECTION_FENCING_TOKEN. LIST is what the child found in /proc
right after its start stamp: every live process (not a zombie) outside its own
process group whose environment carries this run's mark (CHAOS_WORK=<work>,
which the suite gives the daemons, and so their watchdogs and commands) and
$ELECTION_FENCING_TOKEN (so: a command or one of its descendants, such as a
pipeline's `sleep | cat`, which write no stamps). "-" when there is none.

A child's lifetime is [start, last sign of life] (the latest of its stamps); two
children overlap when one starts before another's last sign of life, or when
its scan found any process of another command group alive. No tolerance: a
killed child's real end lies at most a beat after its last stamp.

Mode (<work>/cmd/mode, read at every beat and on SIGTERM): "MODE" for every
child, or "MODE TOKEN" for the child of that fencing token alone (the others run
normal). normal; stubborn (SIGTERM is stamped and ignored: only SIGKILL ends
it); fail (exit 1 at the next beat, and at once after the start stamp for a new
child); hog (stubborn, and at the next beat it forks one busy loop per CPU it
may run on, in its process group and ignoring SIGTERM too, and stamps

    hog   REPLICA TOKEN NS PID PGID PPID N

then raises itself to SCHED_FIFO when it may, so that its term-ignored and beat
stamps are not delayed behind the loops: they time the watchdog's SIGTERM and
SIGKILL. A loop ends by itself once its parent is gone).

Variants of the command: "stamper" (the stand-in itself, its process group's
only member) and "pipeline" (`sh pipeline.sh`: a shell that runs the stand-in
and `sleep 1000 | cat` in the background and exits with the stand-in's status:
a process group with grandchildren)."""

import os
import shutil
import sys
import time

from . import mono_ns
from .proc import PROCS, cmdline, pids, stat

BEAT = 0.025  # the stand-in stamps a beat this often

STAMPER = r'''"""The suites' supervised command (see scripts/harness/workload.py)."""
import os
import signal
import sys
import time

LOG, MODE = sys.argv[1], sys.argv[2]
MARK = b"CHAOS_WORK=" + os.environb.get(b"CHAOS_WORK", b"?") + b"\0"
REP = os.environ.get("ELECTION_REPLICA_ID", "-")
TOK = os.environ.get("ELECTION_FENCING_TOKEN", "-")
PID, PGID, PPID = os.getpid(), os.getpgrp(), os.getppid()
FD = os.open(LOG, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)


def ns():
    return time.clock_gettime_ns(time.CLOCK_MONOTONIC)


def stamp(kind, t=None, extra=""):
    os.write(FD, f"{kind} {REP} {TOK} {ns() if t is None else t} {PID} {PGID} {PPID}{extra}\n".encode())


def mode():
    try:
        with open(MODE) as f:
            words = f.read().split()
    except OSError:
        return "normal"
    if not words or (len(words) > 1 and words[1] != TOK):
        return "normal"
    return words[0]


def on_term(signum, frame):
    if mode() in ("stubborn", "hog"):
        stamp("term-ignored")
        return
    stamp("stop")
    os._exit(0)


def busy(parent):
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    while os.getppid() == parent:
        for _ in range(100000):
            pass
    os._exit(0)


def hog():
    cpus = len(os.sched_getaffinity(0))
    for _ in range(cpus):
        if os.fork() == 0:
            busy(PID)
    stamp("hog", extra=f" {cpus}")
    try:
        os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(10))
    except (AttributeError, OSError):
        pass


t0 = ns()
signal.signal(signal.SIGTERM, on_term)
stamp("start", t0)
others = []
for d in os.listdir("/proc"):
    if not d.isdigit():
        continue
    try:
        with open(f"/proc/{d}/environ", "rb") as f:
            env = b"\0" + f.read()
        if b"\0" + MARK not in env or b"\0ELECTION_FENCING_TOKEN=" not in env:
            continue
        with open(f"/proc/{d}/stat") as f:
            st = f.read()
    except OSError:
        continue
    comm, rest = st[st.index("(") + 1:st.rindex(")")], st[st.rindex(")") + 2:].split()
    if int(rest[2]) != PGID and rest[0] not in ("Z", "X"):
        others.append(f"{d}:{rest[2]}:{rest[0]}:{comm.replace(' ', '_')}")
stamp("scan", extra=" " + (",".join(others) or "-"))
hogging = False
while True:
    m = mode()
    if m == "fail":
        stamp("exit", extra=" 1")
        os._exit(1)
    if m == "hog" and not hogging:
        hogging = True
        hog()
    stamp("beat")
    time.sleep(BEAT)
'''.replace("BEAT)", f"{BEAT})")

PIPELINE = """#!/bin/sh
# The suites' supervised command as a shell pipeline (scripts/harness/workload.py):
# the stand-in and `sleep 1000 | cat` run in the background, all in the command's
# process group; the shell exits with the stand-in's status.
"$1" -S "$2" "$3" "$4" &
p=$!
sleep 1000 | cat &
wait "$p"
"""


class Child:
    """One run of the command, from its stamps."""

    __slots__ = ("replica", "token", "pid", "pgid", "ppid", "start", "last", "stop", "exit", "ignored", "others",
                 "hog")

    def __init__(self, replica, token, pid, pgid, ppid, start):
        self.replica, self.token, self.pid, self.pgid, self.ppid = replica, token, pid, pgid, ppid
        self.start = self.last = start
        self.stop = self.exit = None
        self.ignored = []
        self.others = []
        self.hog = None  # (ns, busy loops) once it hogs every CPU (mode hog)

    def ended(self):
        return self.stop is not None or self.exit is not None

    def name(self):
        return f"{self.replica} token {self.token} pid {self.pid}"

    def as_dict(self):
        return {k: getattr(self, k) for k in self.__slots__}


class Proc:
    __slots__ = ("pid", "pgid", "ppid", "state", "comm", "cmdline", "kind", "token", "replica")

    def __init__(self, **kw):
        for k in self.__slots__:
            setattr(self, k, kw.get(k))

    def live(self):
        return self.state not in ("Z", "X")

    def __str__(self):
        return (f"pid {self.pid} pgid {self.pgid} ppid {self.ppid} {self.state} {self.kind}"
                + (f" of {self.replica} token {self.token}" if self.token else "") + f": {self.cmdline[:100]}")


class Workload:
    def __init__(self, work):
        self.work = work
        self.dir = os.path.join(work, "cmd")
        self.log = os.path.join(self.dir, "stamps.log")
        self.mode_path = os.path.join(self.dir, "mode")
        self.stamper = os.path.join(self.dir, "stamper.py")
        self.pipeline = os.path.join(self.dir, "pipeline.sh")
        self.python = sys.executable or shutil.which("python3")
        self.mark = f"CHAOS_WORK={work}".encode()
        self.ready = False

    def setup(self):
        if self.ready:
            return
        os.makedirs(self.dir, exist_ok=True)
        with open(self.stamper, "w") as f:
            f.write(STAMPER)
        with open(self.pipeline, "w") as f:
            f.write(PIPELINE)
        open(self.log, "ab").close()
        self.set_mode("normal")
        self.ready = True

    def command(self, variant):
        if variant == "pipeline":
            return ["sh", self.pipeline, self.python, self.stamper, self.log, self.mode_path]
        return [self.python, "-S", self.stamper, self.log, self.mode_path]

    def set_mode(self, mode, token=None):
        """`mode` for every child, or for the child of fencing token `token` alone."""
        tmp = self.mode_path + ".tmp"
        with open(tmp, "w") as f:
            f.write(mode + ("" if token is None else f" {token}") + "\n")
        os.replace(tmp, self.mode_path)

    # -- the stamps --

    def children(self):
        kids = {}
        try:
            with open(self.log) as f:
                lines = f.read().splitlines()
        except OSError:
            return []
        for line in lines:
            p = line.split()
            if len(p) < 7:
                continue
            kind, rep, tok = p[0], p[1], p[2]
            try:
                t, pid, pgid, ppid = int(p[3]), int(p[4]), int(p[5]), int(p[6])
                token = int(tok)
            except ValueError:
                continue
            key = (rep, token, pid)
            c = kids.get(key)
            if c is None:
                # Lines of one process can be read out of order only across
                # processes; its own start line comes first.
                c = kids[key] = Child(rep, token, pid, pgid, ppid, t)
            if kind == "start":
                c.start = min(c.start, t)
            c.last = max(c.last, t)
            if kind == "stop":
                c.stop = t
            elif kind == "exit":
                c.exit = (t, int(p[7]) if len(p) > 7 else None)
            elif kind == "term-ignored":
                c.ignored.append(t)
            elif kind == "scan" and len(p) > 7 and p[7] != "-":
                c.others = p[7].split(",")
            elif kind == "hog":
                c.hog = (t, int(p[7]) if len(p) > 7 and p[7].isdigit() else None)
        return sorted(kids.values(), key=lambda c: c.start)

    def running(self, replica=None, token=None, within=0.5):
        """The child of `replica` (and `token`) that is running now: no end
        stamp and a stamp within `within` seconds."""
        now = mono_ns()
        for c in reversed(self.children()):
            if (replica is None or c.replica == replica) and (token is None or c.token == token):
                if not c.ended() and now - c.last <= within * 1e9:
                    return c
        return None

    def wait_running(self, replica=None, token=None, timeout=3.0):
        end = time.time() + timeout
        while True:
            c = self.running(replica, token)
            if c or time.time() >= end:
                return c
            time.sleep(BEAT)

    # -- processes --

    def processes(self):
        """Every process whose environment carries this run's mark: daemons,
        their watchdogs, and commands with all their descendants."""
        out = []
        for pid in pids():
            try:
                with open(f"/proc/{pid}/environ", "rb") as f:
                    env = f.read().split(b"\0")
            except OSError:
                continue
            st = stat(pid) if self.mark in env else None
            if st is None:
                continue
            cmd = cmdline(pid)
            vals = dict(e.split(b"=", 1) for e in env if b"=" in e)
            token = vals.get(b"ELECTION_FENCING_TOKEN")
            kind = "command" if token is not None else "watchdog" if " watchdog " in f" {cmd} " else "daemon"
            out.append(Proc(pid=pid, pgid=st[2], ppid=st[1], state=st[0], comm=st[4], cmdline=cmd or f"[{st[4]}]",
                            kind=kind, token=token.decode() if token else None,
                            replica=(vals.get(b"ELECTION_REPLICA_ID") or b"").decode() or None))
        return out

    def group(self, pgid):
        """Members of process group `pgid` (any process, marked or not): [(pid, state, comm)]."""
        return [(pid, st[0], st[4]) for pid in pids() if (st := stat(pid)) and st[2] == pgid]

    def pgrep(self):
        """`pgrep -f` by the scripts' paths: the stand-ins and the pipeline
        shells still running (the daemons' command lines name the scripts too,
        after `--`; the patterns are anchored so that they do not match)."""
        found = []
        for pattern in (f"^{self.python} -S {self.stamper}", f"^sh {self.pipeline}"):
            p = PROCS.run(["pgrep", "-a", "-f", pattern], timeout=10)
            found += [ln for ln in p.stdout.splitlines() if ln.strip()]
        return found


# ---- what the stamps prove -----------------------------------------------------------


def sweep(children, since=None):
    """Walks the children in start order. Returns (handovers, overlaps):
    handovers are (previous, child, gap_s) with previous the child whose last
    sign of life is the latest before `child` started; overlaps are messages,
    about the children that started after `since` (ns) when it is given (an
    overlap already reported for an earlier fault is not counted again)."""
    handovers, overlaps = [], []
    latest = None
    for c in sorted(children, key=lambda k: k.start):
        counted = since is None or c.start > since
        if latest is not None:
            gap = (c.start - latest.last) / 1e9
            handovers.append((latest, c, gap))
            if gap < 0 and counted:
                overlaps.append(f"{c.name()} started {-gap * 1000:.1f} ms before the last sign of life of {latest.name()}")
        if c.others and counted:
            overlaps.append(f"{c.name()} found other command processes alive at its start: {', '.join(c.others)}")
        if latest is None or c.last > latest.last:
            latest = c
    return handovers, overlaps
