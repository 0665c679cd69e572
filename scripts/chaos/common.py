"""What every part of the chaos suite shares: the settings, the log line, the
parsers, the suite's exceptions and the bookkeeping of everything it starts
(processes and mounts), which the cleanup undoes on every way out."""

import datetime
import os
import re
import subprocess
import threading
import time

# ---- settings -----------------------------------------------------------------

ZK_SERVERS = 3
REPLICAS = 3
SESSION = 2.0  # --session-timeout, seconds
LEADER_TIMEOUT = 0.2  # --leader-timeout: fast, so a zombie write would show
ATTEMPTER_TIMEOUT = 2.0
CAPACITY = 5
TMPFS_SIZE = "2m"
DEADLINE = SESSION + 2.0  # a working leader within this long after the heal
HOLD = 2 * SESSION  # how long a fault lasts that must outlive the session
RECOVER_LIMIT = DEADLINE + 5.0  # a healed replica back to Attempter (+ 5 s backoff cap)
STEADY_WINDOW = 1.0  # "working": only one replica gained files for this long
STEADY_MIN_FILES = 3  # ... and at least this many
GIVE_UP = 30.0  # after this long without a working leader, restart the replicas
POLL = 0.025  # directory poll interval
FOREIGN = "operator-notes.txt"
FOREIGN_TEXT = b"not an election file; the daemon must leave this alone\n"
FILLER = "chaos-filler.bin"
# The supervised command (`election run ... -- CMD`, workload.py, supervised.py):
STOP_TIMEOUT = 0.4  # --exec-stop-timeout; the daemon refuses more than SESSION/2 - 0.5 s
STOP_MARGIN = max(0.5, SESSION / 10)  # WorkloadTiming.margin: the group is gone by confirmedAt + SESSION - this
BEAT = 0.025  # the stand-in command stamps a beat this often
CHURN_WINDOW = 10.0  # how long a command that exits at once is left failing
COMMAND_BACKOFF = 1.0  # the daemon's first backoff after a quick exit; doubles per quick exit

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ZK_SCRIPT = os.path.join(ROOT, "scripts", "zk-ensemble.sh")
ZK_CLASSPATH = os.environ.get(
    "ZK_CLASSPATH", "/usr/share/java/zookeeper.jar:/usr/share/java/slf4j-simple.jar"
)
FILE_RE = re.compile(r"^election-(\d{19})-(\d{10})\.json$")
LOGFMT_RE = re.compile(r'(\w+)=("(?:[^"\\]|\\.)*"|\S*)')

START = time.time()


def mono_ns():
    """CLOCK_MONOTONIC in ns: the clock of the stand-in command's stamps and of
    the daemon's watchdog (system-wide, so every process on the host reads the
    same one)."""
    return time.clock_gettime_ns(time.CLOCK_MONOTONIC)


def say(msg):
    print(f"[{time.time() - START:7.1f}s] {msg}", flush=True)


def parse_time(s):
    """RFC 3339 (as in the files and the logs' ts=) to epoch seconds, or None."""
    try:
        t = datetime.datetime.fromisoformat(s.replace("Z", "+00:00"))
    except (AttributeError, TypeError, ValueError):
        return None
    if t.tzinfo is None:
        t = t.replace(tzinfo=datetime.timezone.utc)
    return t.timestamp()


def parse_logfmt(line):
    out = {}
    for key, value in LOGFMT_RE.findall(line):
        if value.startswith('"'):
            value = value[1:-1].replace('\\"', '"').replace("\\\\", "\\")
        out[key] = value
    return out


class Interrupted(Exception):
    pass


class SuiteError(Exception):
    """The suite itself cannot go on (not a finding about the daemon)."""


# ---- bookkeeping of everything we start ---------------------------------------


class Tracker:
    def __init__(self):
        self.pids = {}  # pid -> description, every process we started
        self.mounts = []  # mount points we made, in order
        self.lock = threading.Lock()

    def add_pid(self, pid, what):
        with self.lock:
            self.pids[pid] = what


TRACK = Tracker()


def pid_alive(pid):
    """Alive and not a zombie."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            state = f.read().rsplit(")", 1)[1].split()[0]
        return state != "Z"
    except (OSError, IndexError):
        return False


def mounted(path):
    path = os.path.realpath(path)
    with open("/proc/self/mounts") as f:
        for line in f:
            fields = line.split()
            if len(fields) > 1 and fields[1].replace("\\040", " ") == path:
                return True
    return False


def run(cmd, timeout=60, **kw):
    """Runs a short command we start; its pid is tracked while it runs."""
    p = subprocess.Popen(
        cmd,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
        **kw,
    )
    TRACK.add_pid(p.pid, " ".join(cmd[:3]))
    try:
        out, err = p.communicate(timeout=timeout)
    except BaseException:
        p.kill()
        p.communicate()
        raise
    return subprocess.CompletedProcess(cmd, p.returncode, out, err)
