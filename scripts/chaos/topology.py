"""The topology the faults act on, beside the harness's ZooKeeper ensemble and
TCP proxies (scripts/harness/): the replicas of the release binary (with `--
CMD` for the supervised-command faults, see harness/workload.py), and the
mounts under them (each --file-dir is its own small tmpfs; a read-only bind
mount can be stacked on it)."""

import os
import time

from harness import SuiteError, replica, say
from harness.proc import PROCS

from .common import ATTEMPTER_TIMEOUT, CAPACITY, LEADER_TIMEOUT, SESSION, STOP_TIMEOUT, TMPFS_SIZE

MOUNTS = []  # mount points the suite made, in order (a path twice: a layer on a layer)


class Replica(replica.Replica):
    """r<idx>: its --file-dir under <work>/files (a tmpfs), an archive of its
    files under <work>/archive, a log per start under <work>/logs. The run's
    mark (CHAOS_WORK=<work>) is in the environment of the daemon, its watchdog
    and its command."""

    def __init__(self, work, idx, binary):
        name = f"r{idx}"
        super().__init__(name, [binary, "run"], "", os.path.join(work, "files", name), None,
                         env={**os.environ, "CHAOS_WORK": work})
        self.archive = os.path.join(work, "archive", name)
        self.logdir = os.path.join(work, "logs")
        self.incarnation = 0
        self.expected_exit = False  # set while the suite itself kills it
        # `election run ... -- command` when set (workload.Workload.command): the
        # supervised-command faults; None for the others.
        self.command = None

    def start(self):
        self.incarnation += 1
        self.log_path = os.path.join(self.logdir, f"{self.name}.{self.incarnation}.log")
        # debug: the suite follows every state change, and while a fault repeats
        # the daemon logs its cycles at debug (one warning says so); the churn
        # check also counts the "candidate created" lines.
        self.flags = ["--leader-timeout", replica.ms(LEADER_TIMEOUT), "--attempter-timeout",
                      replica.ms(ATTEMPTER_TIMEOUT), "--session-timeout", replica.ms(SESSION),
                      "--storage-capacity", str(CAPACITY), "--log-level", "debug"]
        if self.command:
            self.flags += ["--exec-stop-timeout", replica.ms(STOP_TIMEOUT), "--on-exit", "resign"]
        super().start()

    def stop(self, timeout=8):
        if self.alive() and super().stop(timeout) is None:
            say(f"warning: {self.name} (pid {self.pid}) ignored SIGTERM for {timeout}s; SIGKILL")

    def znode(self):
        z = [d.get("znode") for _, d in self.lines() if d.get("msg") == "leading"]
        return z[-1] if z else None


# ---- mounts ------------------------------------------------------------------------


def mounted(path):
    path = os.path.realpath(path)
    with open("/proc/self/mounts") as f:
        for line in f:
            fields = line.split()
            if len(fields) > 1 and fields[1].replace("\\040", " ") == path:
                return True
    return False


def mount_tmpfs(path):
    """A small tmpfs of its own on `path` (a replica's --file-dir)."""
    p = PROCS.run(["mount", "-t", "tmpfs", "-o", f"size={TMPFS_SIZE},mode=0755", "tmpfs", path])
    if p.returncode != 0:
        raise SuiteError(f"mount tmpfs on {path}: {p.stderr.strip()}")
    MOUNTS.append(path)


def mount_readonly_bind(path):
    """A read-only bind mount stacked on `path`: remounting the tmpfs itself
    read-only fails (EBUSY) while the daemon holds any file in it open for
    writing (a lock file, a temporary file); a fresh bind mount has no writers.
    Every create, write-open, unlink or rename through the directory then fails
    with EROFS; descriptors opened before stay writable (they belong to the
    tmpfs mount underneath)."""
    p = PROCS.run(["mount", "--bind", path, path], timeout=10)
    if p.returncode != 0:
        raise SuiteError(f"mount --bind {path}: {p.stderr.strip()}")
    MOUNTS.append(path)
    p = PROCS.run(["mount", "-o", "remount,bind,ro", path], timeout=10)
    if p.returncode != 0:
        raise SuiteError(f"remount,bind,ro {path}: {p.stderr.strip()}")


def unmount_top(path):
    """Removes the topmost mount on `path` (the read-only bind mount), retrying
    while it is busy."""
    for _ in range(60):
        if PROCS.run(["umount", path], timeout=10).returncode == 0:
            MOUNTS.pop(len(MOUNTS) - 1 - MOUNTS[::-1].index(path))
            return
        time.sleep(0.05)  # busy: the daemon has the directory open right now
    raise SuiteError(f"could not unmount the read-only bind mount on {path}")


def unmount_all():
    """Undoes every mount the suite made, newest first."""
    for m in reversed(MOUNTS):
        if not mounted(m):
            continue
        # A read-only mount unmounts as well; each entry is one layer (the
        # tmpfs, and a read-only bind mount on top if a fault was cut short).
        for _ in range(20):
            if PROCS.run(["umount", m], timeout=10).returncode == 0:
                break
            time.sleep(0.25)
        else:
            say(f"warning: {m} busy; lazy unmount")
            PROCS.run(["umount", "-l", m], timeout=10)
