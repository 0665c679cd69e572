#!/usr/bin/python3
"""The peer that `make bench` measures side by side with election: kazoo's
`Election` recipe driving the same work.

Takes election's settings under the same flag names, writes the same files
(election-<token, 19 digits>-<counter, 10 digits>.json holding
{"counter","host","pid","replica","time","token"} and a newline), with the same
durability (temporary file, write, fsync, oldest files removed down to capacity,
rename, fsync of the directory), and logs its transitions in the same logfmt
shape (msg=transition from=… to=…) so that the one harness drives every side.
The fencing token is the sequence number of the candidate znode kazoo's Lock
created: it grows with every candidate created under the election path and is
known without a round trip.

What it does not do, because the recipe cannot: resume a session after a crash
(a new Lock has a new node prefix, so it never finds its old candidate) or fence
a write against a paused process (the recipe has no notion of it). It stops
writing as soon as kazoo reports the connection SUSPENDED or LOST, as kazoo's
documentation asks of a leader.

SIGTERM or SIGINT: stop writing, release leadership (delete the candidate znode),
close the session, exit 0. A second signal exits at once (128 + signal).

Run with Debian's python3 (python3-kazoo): /usr/bin/python3 bench/kazoo_election.py
"""

import argparse
import json
import os
import re
import signal
import socket
import sys
import threading
import time

from kazoo.client import KazooClient, KazooState
from kazoo.exceptions import KazooException

FILE_RE = re.compile(r"^election-(\d{19})-(\d{10})\.json$")
TEMP_PREFIX = ".election-tmp+"


def duration(text):
    """`1s`, `500ms`, `1m30s`, `1.5s` -> seconds."""
    total, pos = 0.0, 0
    for m in re.finditer(r"(\d+(?:\.\d+)?)(ms|s|m|h)", text):
        if m.start() != pos:
            break
        total += float(m.group(1)) * {"ms": 0.001, "s": 1, "m": 60, "h": 3600}[m.group(2)]
        pos = m.end()
    if pos != len(text) or total <= 0:
        raise argparse.ArgumentTypeError(f"bad duration {text!r}")
    return total


def now_millis():
    return int(time.time() * 1000)


def iso(millis):
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(millis // 1000)) + f".{millis % 1000:03d}Z"


def log(level, msg, **fields):
    parts = [f"ts={iso(now_millis())}", f"level={level}", f"msg={msg}"]
    for key in sorted(fields):
        value = str(fields[key])
        parts.append(f'{key}="{value}"' if re.search(r'[\s="]', value) else f"{key}={value}")
    sys.stderr.write(" ".join(parts) + "\n")
    sys.stderr.flush()


class FileStore:
    """election's FileStore, line for line where it matters: same names, same content, same syscalls."""

    def __init__(self, directory, capacity, replica):
        self.directory, self.capacity, self.replica = directory, capacity, replica

    def path(self, name):
        return os.path.join(self.directory, name)

    def prepare(self):
        os.makedirs(self.directory, exist_ok=True)
        probe = self.path(f"{TEMP_PREFIX}{self.replica}+probe.tmp")
        fd = os.open(probe, os.O_CREAT | os.O_WRONLY | os.O_TRUNC | os.O_CLOEXEC, 0o644)
        try:
            os.write(fd, b"probe\n")
            os.fsync(fd)
        finally:
            os.close(fd)
            os.unlink(probe)
        mine = f"{TEMP_PREFIX}{self.replica}+"
        for name in os.listdir(self.directory):
            if name.startswith(mine) and name.endswith(".tmp"):
                os.unlink(self.path(name))

    def files(self):
        found = []
        for name in os.listdir(self.directory):
            m = FILE_RE.match(name)
            if m:
                found.append((int(m.group(1)), int(m.group(2)), name))
        return sorted(found)

    def next_counter(self, token):
        return max([c for t, c, _ in self.files() if t == token], default=0) + 1

    def write(self, token, counter, content):
        existing = self.files()
        if existing and existing[-1][0] > token:
            raise RuntimeError(f"{self.directory} holds a file of fencing token {existing[-1][0]}, newer than ours")
        name = f"election-{token:019d}-{counter:010d}.json"
        temp = self.path(f"{TEMP_PREFIX}{self.replica}+{token}-{counter}.tmp")
        fd = os.open(temp, os.O_CREAT | os.O_TRUNC | os.O_WRONLY | os.O_CLOEXEC, 0o644)
        try:
            view = memoryview(content)
            while view:
                view = view[os.write(fd, view):]
            os.fsync(fd)
        except OSError:
            os.close(fd)
            os.unlink(temp)
            raise
        os.close(fd)
        existing = [e for e in existing if e[2] != name]
        while len(existing) >= self.capacity:
            oldest = existing.pop(0)
            try:
                os.unlink(self.path(oldest[2]))
            except FileNotFoundError:
                pass
        os.rename(temp, self.path(name))
        dfd = os.open(self.directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)


class Replica:
    def __init__(self, args):
        self.args = args
        self.stop = threading.Event()
        self.wake = threading.Event()  # stop, or a connection state change
        self.state = "Init"
        self.election = None
        self.failed = False
        self.store = FileStore(args.file_dir, args.storage_capacity, args.replica_id)
        self.host = socket.gethostname()
        self.pid = os.getpid()
        self.client = KazooClient(hosts=args.zk_servers, timeout=args.session_timeout)
        self.client.add_listener(self.on_state)

    def transition(self, to, reason, **fields):
        log("info", "transition", replica=self.args.replica_id, **{"from": self.state}, to=to, reason=reason, **fields)
        self.state = to

    def on_state(self, state):
        if state != KazooState.CONNECTED:
            log("warning", "connection", replica=self.args.replica_id, state=state)
        self.wake.set()

    def run(self):
        """The worker thread: one Election per attempt, again after a lost session, until stopped."""
        try:
            self.store.prepare()
        except OSError as e:
            log("error", "file-dir unusable", replica=self.args.replica_id, error=e)
            self.failed = True
            os.kill(os.getpid(), signal.SIGTERM)
            return
        while not self.stop.is_set():
            try:
                self.client.start(timeout=self.args.session_timeout)
                self.client.ensure_path(self.args.election_path)
                break
            except Exception as e:
                log("warning", "ZooKeeper unavailable", replica=self.args.replica_id, error=repr(e))
                self.stop.wait(1)
        else:
            return
        self.transition("Attempter", f"resources ready (session 0x{self.client.client_id[0]:x})")
        identity = json.dumps({"host": self.host, "pid": self.pid, "replica": self.args.replica_id},
                              separators=(",", ":"), sort_keys=True)
        while not self.stop.is_set():
            if not self.client.connected:
                self.stop.wait(0.1)
                continue
            election = self.client.Election(self.args.election_path, identity)
            lock = election.lock
            self.election = election
            if self.stop.is_set():
                break
            try:
                election.run(self.lead, lock)
            except KazooException as e:
                log("warning", "election attempt failed", replica=self.args.replica_id, error=repr(e))
            except Exception as e:
                log("error", "leader failed", replica=self.args.replica_id, error=repr(e))
            if self.state == "Leader" and not self.stop.is_set():
                self.transition("Attempter", "leadership lost")
            if not self.stop.is_set():
                self.stop.wait(0.1)

    def lead(self, lock):
        """Called by the recipe once this candidate is the lowest; returning releases the lock."""
        # The fencing token: the candidate's sequence number, which grows with every
        # candidate created under the election path and is known without a round trip.
        # (The czxid, election's token, would cost an exists() between the watch firing
        # and the first write: that round trip made this driver 2-3x slower than the
        # recipe's run() and a write, bench/kazoo_minimal.py.)
        token = int(lock.node[-10:])
        self.transition("Leader", f"lowest candidate {lock.node} (fencing token {token})", token=token)
        counter = self.store.next_counter(token)
        next_write = time.monotonic()
        while not self.stop.is_set():
            if self.client.state != KazooState.CONNECTED:
                return  # SUSPENDED or LOST: not provably leader any more
            now = time.monotonic()
            if now >= next_write:
                millis = now_millis()
                content = json.dumps({"counter": counter, "host": self.host, "pid": self.pid,
                                      "replica": self.args.replica_id, "time": iso(millis), "token": token},
                                     separators=(",", ":"), sort_keys=True).encode() + b"\n"
                self.store.write(token, counter, content)
                counter += 1
                next_write += self.args.leader_timeout
                if next_write <= time.monotonic():
                    next_write = time.monotonic() + self.args.leader_timeout
            self.wake.wait(max(0.0, next_write - time.monotonic()))
            self.wake.clear()

    def shutdown(self):
        self.stop.set()
        self.wake.set()
        election = self.election
        if election is not None:
            election.cancel()  # a waiting candidate gives up; a leader's lead() returns on `stop`


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("command", nargs="?", default="run", choices=["run"])
    p.add_argument("--zk-servers", required=True)
    p.add_argument("--replica-id", default=socket.gethostname())
    p.add_argument("--election-path", default="/election")
    p.add_argument("--file-dir", default="/tmp/election")
    p.add_argument("--leader-timeout", type=duration, default=10.0)
    p.add_argument("--session-timeout", type=duration, default=10.0)
    p.add_argument("--storage-capacity", type=int, default=10)
    p.add_argument("--attempter-timeout", type=duration, default=10.0,
                   help="accepted for the same command line; the recipe waits on its watch alone")
    args = p.parse_args()
    if args.storage_capacity < 1:
        p.error("--storage-capacity must be at least 1")
    return args


def main():
    args = parse_args()

    # Signals are taken by this thread alone, with sigwait: block them before any
    # thread (kazoo's included) exists, so that every thread inherits the mask.
    signals = {signal.SIGTERM, signal.SIGINT}
    signal.pthread_sigmask(signal.SIG_BLOCK, signals)
    log("info", "starting", replica=args.replica_id, state="Init", implementation="kazoo Election")
    replica = Replica(args)
    worker = threading.Thread(target=replica.run, name="election", daemon=True)
    worker.start()
    got = signal.sigwait(signals)
    for s in signals:  # a second signal: out at once
        signal.signal(s, lambda sig, _: os._exit(128 + sig))
    signal.pthread_sigmask(signal.SIG_UNBLOCK, signals)
    replica.transition("Stopping", f"signal {signal.Signals(got).name}")
    replica.shutdown()
    worker.join(timeout=10)
    try:
        replica.client.stop()  # closes the session: the server deletes what is left at once
        replica.client.close()
    except Exception as e:
        log("warning", "closing the session", replica=args.replica_id, error=repr(e))
    log("info", "stopped", replica=args.replica_id)
    return 1 if replica.failed else 0


if __name__ == "__main__":
    sys.exit(main())
