"""The election files replicas write: their names, `election verify` over
them, and a poller that reads every file as it appears and archives it, so
that files pruned away by the replicas' capacity still count."""

import json
import os
import re
import stat
import threading
import time

from .proc import PROCS
from .replica import parse_time

FILE_RE = re.compile(r"^election-(\d{19})-(\d{10})\.json$")


def election_files(directory):
    """The names of the election files in `directory`, sorted (token, then
    counter); [] when it cannot be listed."""
    try:
        return sorted(n for n in os.listdir(directory) if FILE_RE.match(n))
    except OSError:
        return []


def token_of(name):
    return int(FILE_RE.match(name).group(1))


def verify(binary, dirs, capacity=None, copies=False, cwd=None):
    """`election verify DIRS --json`: (the CompletedProcess, its report, or
    None when it printed no JSON)."""
    cmd = [binary, "verify", *dirs, "--json"] + (["--capacity", str(capacity)] if capacity else [])
    p = PROCS.run(cmd + (["--copies"] if copies else []), timeout=60, cwd=cwd)
    try:
        return p, json.loads(p.stdout)
    except ValueError:
        return p, None


class FileEvent:
    """A file as first seen in the directory of `replica`: `time` is the time
    written in it (else `seen`), `seen` when the poller read it, `writer` the
    replica named in it; `appeared` when it appeared in its directory (its
    ctime, `appeared_by` "ctime"; or, `appeared_by` "poll", the end of the
    listing that found it), `appeared_lo` the earliest it can have appeared
    (its ctime; or the start of the listing before, which did not have it). A
    file gone before it could be read has no writer and no time of its own."""

    __slots__ = ("replica", "name", "token", "counter", "time", "seen", "pid", "writer", "appeared", "appeared_lo",
                 "appeared_by")

    def __init__(self, replica, name, token, counter, t, seen, pid, writer, appeared=None, appeared_lo=None,
                 appeared_by="poll"):
        self.replica, self.name, self.token, self.counter = replica, name, token, counter
        self.time, self.seen, self.pid, self.writer = t, seen, pid, writer
        self.appeared = seen if appeared is None else appeared
        self.appeared_lo = self.appeared if appeared_lo is None else appeared_lo
        self.appeared_by = appeared_by

    def as_dict(self):
        return {k: getattr(self, k) for k in self.__slots__}


class Poller:
    """Lists `dirs` ([(replica, directory, archive directory)]) every
    `interval` s from a thread of its own, reads every election file that
    appears (a FileEvent each; directories and links named like one are
    passed over) and copies it into the archive directory.

    When a file appeared: its st_ctime_ns at first sight (fstat on the open
    file; the rename that publishes it sets it, on tmpfs too), or, for a file
    gone or unlinked by then (its ctime is then the unlink's), the listings:
    absent at the start of the previous one, present at the end of this one."""

    def __init__(self, dirs, interval):
        self.dirs = list(dirs)
        self.interval = interval
        self.cond = threading.Condition()
        self.events = []
        self.known = {replica: set() for replica, _, _ in self.dirs}
        self.listed = {}  # replica -> when its last listing that worked began
        self.max_token = 0
        self.missed = 0  # files that vanished before they could be read
        self.errors = []
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._run, name="poller", daemon=True)

    def start(self):
        self.thread.start()
        return self

    def stop(self):
        """Ends the thread, then lists every directory once more."""
        self.stopping.set()
        self.thread.join(timeout=5)
        self.scan_all()

    def _run(self):
        while not self.stopping.is_set():
            self.scan_all()
            time.sleep(self.interval)

    def scan_all(self):
        for replica, directory, archive in self.dirs:
            try:
                self.scan(replica, directory, archive)
            except Exception as e:  # never let the poller die
                self.errors.append(f"poller error on {replica}: {e!r}")

    def scan(self, replica, directory, archive):
        began = time.time()
        try:
            names = os.listdir(directory)
        except OSError:
            return
        listed = time.time()
        before, self.listed[replica] = self.listed.get(replica), began
        known = self.known[replica]
        for n in sorted(names):
            m = FILE_RE.match(n)
            if not m or n in known:
                continue
            seen = time.time()
            st = None
            try:
                if not stat.S_ISREG(os.lstat(os.path.join(directory, n)).st_mode):
                    known.add(n)
                    continue
                with open(os.path.join(directory, n), "rb") as f:
                    st = os.fstat(f.fileno())
                    data = f.read()
            except FileNotFoundError:
                data = None
            except OSError:
                continue
            known.add(n)
            if st is not None and st.st_nlink > 0:
                appeared = lo = st.st_ctime_ns / 1e9
                by = "ctime"
            else:  # gone, or unlinked under us (ctime = the unlink's): the listings
                appeared, lo, by = listed, (before if before is not None else 0.0), "poll"
            t, pid, writer = seen, None, None
            if data is None:
                self.missed += 1
            else:
                try:
                    c = json.loads(data)
                    t = parse_time(c.get("time")) or seen
                    pid, writer = c.get("pid"), c.get("replica")
                except ValueError:
                    pass  # verify reports partial files
                with open(os.path.join(archive, n), "wb") as f:
                    f.write(data)
            ev = FileEvent(replica, n, int(m.group(1)), int(m.group(2)), t, seen, pid, writer, appeared, lo, by)
            with self.cond:
                self.events.append(ev)
                self.max_token = max(self.max_token, ev.token)
                self.cond.notify_all()

    def snapshot(self):
        with self.cond:
            return list(self.events), self.max_token

    def all(self):
        return self.snapshot()[0]

    def newest(self):
        """The event of the highest (token, counter), or None."""
        return max(self.all(), key=lambda e: (e.token, e.counter), default=None)

    def wait(self, predicate, timeout):
        """The earliest-written event that satisfies `predicate`, waiting up to
        `timeout` s for one; None."""
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                hits = [e for e in self.events if predicate(e)]
                if hits:
                    return min(hits, key=lambda e: e.time)
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                self.cond.wait(min(left, 0.05))
