"""What every part of the partition suite shares: its settings, the log line,
short commands, the bookkeeping of every long-lived process it starts, and the
unprivileged launch of a process inside a network namespace.

The log line, the short-command runner, the monotonic clock and the logfmt
parser are the chaos suite's (scripts/chaos/common.py)."""

import os
import signal
import subprocess
import sys
import threading
import time

from chaos.common import Interrupted, SuiteError, mono_ns, parse_logfmt, pid_alive, run, say

# Re-exported: the chaos suite's log line, runner, clock, parser and exceptions.
__all__ = ["Interrupted", "SuiteError", "mono_ns", "parse_logfmt", "pid_alive", "run", "say"]

# ---- settings -------------------------------------------------------------------

SUBNET = "10.213.0"  # /24, private; the bridge namespace has no link anywhere else
ZK_HOSTS = ("zk1", "zk2", "zk3")
REPLICA_HOSTS = ("r1", "r2", "r3")
ZK_PORT = 2181
FWD_BASE = 21810  # replica namespace: 127.0.0.1:FWD_BASE+i forwards to zk<i>
TICK_MS = 500
SYNC_DEFAULT = (2, 5)  # syncLimit: x tick = 1 s (< session) and 2.5 s (>= session)
SESSION = 2.0  # --session-timeout, seconds
LEADER_TIMEOUT = 0.2  # --leader-timeout: a file every 200 ms, so a stale writer shows
ATTEMPTER_TIMEOUT = 2.0
STOP_TIMEOUT = 0.4  # --exec-stop-timeout (at most SESSION/2 - 0.5 s)
CAPACITY = 1000  # --storage-capacity: a round never reaches it, so verify sees its whole history
DEADLINE = SESSION + 2.0  # a working leader within this long after the heal
GAP_LIMIT = 2 * SESSION + 2.0  # while a fault lasts: the longest stretch with no command running
# Under the delay fault the leader's step-down itself crosses the slow link: its last
# confirmation is given up only after half a session timeout, and its closeSession
# reaches the server one delayed trip later. One round trip of that delay
# (2 x 800 ms at most) is added to the limit for that fault alone.
DELAY_GAP_EXTRA = 1.6
HOLD = 8.0  # how long a fault lasts (flapping: FLAP_HOLD)
FLAP_HOLD = 20.0
SETTLE = 2.0  # after the working leader is found: keep running, so a late overlap shows
GIVE_UP = 20.0  # wait this long for a working leader after the heal before calling it missing
STEADY_TIMEOUT = 45.0
JAVA_OPTS = ["-Xmx128m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1", "-Xshare:auto"]
ZK_CLASSPATH = os.environ.get("ZK_CLASSPATH", "/usr/share/java/zookeeper.jar:/usr/share/java/slf4j-simple.jar")

# How the daemons (and the forwarders) run: as deployed, unprivileged.
UNPRIVILEGED = [
    "setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", "--inh-caps=-all",
    "--bounding-set=-all", "--ambient-caps=-all", "--no-new-privs", "--",
]
NOBODY_UID, NOBODY_GID = 65534, 65534
# The interpreter of the unprivileged processes (forwarders, the stand-in
# command): the system's, which user nobody can reach (a root-only pyenv
# interpreter would not be).
PYTHON = next((p for p in ("/usr/bin/python3", sys.executable) if p and os.access(p, os.X_OK)), "python3")


def addr(host):
    """The host's address on the private subnet: zk<i> .1<i>, r<i> .2<i>."""
    kind, i = host[:-1], int(host[-1])
    return f"{SUBNET}.{10 + i}" if kind == "zk" else f"{SUBNET}.{20 + i}"


# ---- bookkeeping of every long-lived process --------------------------------------


class Procs:
    """Every long-lived process the suite starts (ZooKeeper servers, forwarders,
    replicas), so that cleanup can end exactly those, by pid."""

    def __init__(self):
        self.lock = threading.Lock()
        self.procs = {}  # pid -> (Popen, description)

    def spawn(self, cmd, what, log_path, env=None):
        log = open(log_path, "ab")
        try:
            p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                 start_new_session=True, env=env)
        finally:
            log.close()
        with self.lock:
            self.procs[p.pid] = (p, what)
        return p

    def live(self):
        with self.lock:
            items = list(self.procs.values())
        return [(p, w) for p, w in items if p.poll() is None]

    def end(self, p, term_wait=5.0):
        """SIGTERM (SIGCONT first: a stopped process would not see it), then
        SIGKILL after term_wait seconds. Returns the exit status."""
        if p.poll() is not None:
            return p.returncode
        for sig in (signal.SIGCONT, signal.SIGTERM):
            try:
                os.kill(p.pid, sig)
            except OSError:
                pass
        try:
            return p.wait(term_wait)
        except subprocess.TimeoutExpired:
            pass
        try:
            os.kill(p.pid, signal.SIGKILL)
        except OSError:
            pass
        try:
            return p.wait(5)
        except subprocess.TimeoutExpired:
            return None

    def end_all(self, term_wait=5.0):
        live = self.live()
        for p, _ in live:
            for sig in (signal.SIGCONT, signal.SIGTERM):
                try:
                    os.kill(p.pid, sig)
                except OSError:
                    pass
        end = time.time() + term_wait
        for p, _ in live:
            try:
                p.wait(max(0.1, end - time.time()))
            except subprocess.TimeoutExpired:
                pass
        for p, _ in live:
            if p.poll() is None:
                try:
                    os.kill(p.pid, signal.SIGKILL)
                except OSError:
                    pass
                try:
                    p.wait(5)
                except subprocess.TimeoutExpired:
                    pass


PROCS = Procs()


def chown_nobody(path):
    os.chown(path, NOBODY_UID, NOBODY_GID)
