#!/usr/bin/env python3
"""`make chaos`: fault injection against a real 3-server ZooKeeper ensemble on
loopback and three replicas of the release binary.

Every fault is repeated ROUNDS times. After each one the suite checks that
exactly one leader is working again within session timeout + 2 s of the heal
(for killed leaders: of the kill), counts zombie writes, and runs
`election verify` over every replica's directory (with --capacity) and over an
archive of every file the suite has seen (no capacity: the whole history).

    ROUNDS=1 BINARY=.build/release/election python3 scripts/chaos.py

Environment:
  ROUNDS   repetitions of each fault (default 1)
  BINARY   the election executable (default .build/release/election)
  FAULTS   comma-separated fault names to run (default: all; see FAULTS below)
  KEEP=1   keep the work directory (logs, ZooKeeper data, archived files)

The topology: each replica reaches ZooKeeper only through its own TCP proxy
(one listener per server, per replica, inside this process), so one replica's
connection can be blackholed alone. Each replica's --file-dir is its own small
tmpfs (2 MiB), so "read-only" is a read-only bind mount stacked on it and
"full" is a filler file written until ENOSPC. A foreign file
(operator-notes.txt) lies in every directory and must survive, as must the filler.

Zombie writes: a SIGSTOPped leader's files of its old term that appear after
SIGCONT; a blackholed leader's files of its term written more than the session
timeout into the blackhole; any file written more than the session timeout into
a quorum loss. Besides `election verify`, the poller (every 25 ms) checks that
each file in a replica's directory names that replica as its writer.

Needs root (mounts). Everything the suite starts (replicas, ZooKeeper servers,
zkCli runs, mounts) is tracked and undone on every way out: normal end, an
exception, SIGINT/SIGTERM/SIGHUP, interpreter exit. Processes and mounts that
it did not make are never touched.

Output: progress lines, a markdown table, chaos/results/chaos-<timestamp>.json,
and a last line `chaos: N passed, M failed` (one per fault kind). The exit
status is 1 if any fault kind failed, 2 if the suite could not run.
"""

import asyncio
import atexit
import datetime
import errno
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
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

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ZK_SCRIPT = os.path.join(ROOT, "scripts", "zk-ensemble.sh")
ZK_CLASSPATH = os.environ.get(
    "ZK_CLASSPATH", "/usr/share/java/zookeeper.jar:/usr/share/java/slf4j-simple.jar"
)
FILE_RE = re.compile(r"^election-(\d{19})-(\d{10})\.json$")
LOGFMT_RE = re.compile(r'(\w+)=("(?:[^"\\]|\\.)*"|\S*)')

START = time.time()


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


# ---- the TCP proxy: one listener per (replica, ZooKeeper server) ----------------


class Conn:
    def __init__(self, replica, server):
        self.replica = replica
        self.server = server
        self.held = False  # blackholed: bytes are read and dropped
        self.upstream = False
        self.writers = []

    def close(self):
        for w in self.writers:
            try:
                w.close()
            except Exception:
                pass


class ProxyHub:
    """Forwards bytes between each replica and the ZooKeeper servers. A
    blackholed replica's bytes are dropped in both directions and its new
    connections are accepted but never forwarded; at the heal, the connections
    that were held are closed (their streams lost bytes) and forwarding resumes
    for new ones: the C client reconnects, as after a partition."""

    def __init__(self):
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self._run, name="proxy", daemon=True)
        self.blackholed = set()
        self.conns = set()
        self.servers = []
        self.thread.start()

    def _run(self):
        asyncio.set_event_loop(self.loop)
        self.loop.run_forever()

    def _call(self, coro, timeout=10):
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def listen(self, replica, server, upstream_port):
        return self._call(self._listen(replica, server, upstream_port))

    async def _listen(self, replica, server, upstream_port):
        async def handle(reader, writer):
            await self._handle(replica, server, upstream_port, reader, writer)

        srv = await asyncio.start_server(handle, "127.0.0.1", 0)
        self.servers.append(srv)
        return srv.sockets[0].getsockname()[1]

    async def _handle(self, replica, server, upstream_port, creader, cwriter):
        conn = Conn(replica, server)
        conn.writers.append(cwriter)
        self.conns.add(conn)
        try:
            if replica in self.blackholed:
                conn.held = True
                while await creader.read(65536):
                    pass
                return
            try:
                ureader, uwriter = await asyncio.wait_for(
                    asyncio.open_connection("127.0.0.1", upstream_port), 3
                )
            except (OSError, asyncio.TimeoutError):
                return
            conn.writers.append(uwriter)
            conn.upstream = True
            await asyncio.gather(
                self._pump(conn, creader, uwriter), self._pump(conn, ureader, cwriter)
            )
        except Exception:
            pass
        finally:
            conn.close()
            self.conns.discard(conn)

    async def _pump(self, conn, reader, writer):
        try:
            while True:
                data = await reader.read(65536)
                if not data:
                    break
                if conn.held or conn.replica in self.blackholed:
                    conn.held = True
                    continue
                writer.write(data)
                await writer.drain()
        except Exception:
            pass
        finally:
            conn.close()

    def blackhole(self, replica):
        async def go():
            self.blackholed.add(replica)
            for c in list(self.conns):
                if c.replica == replica:
                    c.held = True

        self._call(go())

    def heal(self, replica):
        async def go():
            self.blackholed.discard(replica)
            for c in list(self.conns):
                if c.replica == replica and c.held:
                    c.close()

        self._call(go())

    def connected_servers(self, replica):
        async def go():
            return sorted(
                {c.server for c in self.conns if c.replica == replica and c.upstream and not c.held}
            )

        return self._call(go())

    def stop(self):
        async def go():
            for s in self.servers:
                s.close()
            for c in list(self.conns):
                c.close()

        try:
            self._call(go(), timeout=5)
        except Exception:
            pass
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=5)


# ---- ZooKeeper ensemble (scripts/zk-ensemble.sh) --------------------------------


class Ensemble:
    def __init__(self, work):
        self.dir = os.path.join(work, "zk")
        self.started = False
        self.ports = []
        self.connect = ""

    def script(self, *args, timeout=90):
        return run(["bash", ZK_SCRIPT, *args], timeout=timeout)

    def start(self):
        for attempt in (1, 2):
            self.started = True
            p = self.script("start", self.dir, str(ZK_SERVERS))
            self._track()
            if p.returncode == 0:
                break
            say(f"zk-ensemble start failed (attempt {attempt}): {p.stderr.strip()[-500:]}")
            self.stop()
            if attempt == 2:
                raise SuiteError("could not start the ZooKeeper ensemble")
        with open(os.path.join(self.dir, "connect")) as f:
            self.connect = f.read().strip()
        self.ports = [int(hp.rsplit(":", 1)[1]) for hp in self.connect.split(",")]

    def _track(self):
        for i in range(1, ZK_SERVERS + 1):
            pid = self.pid(i)
            if pid:
                TRACK.add_pid(pid, f"zookeeper zk{i}")

    def pid(self, i):
        try:
            with open(os.path.join(self.dir, f"zk{i}", "pid")) as f:
                return int(f.read().strip())
        except (OSError, ValueError):
            return None

    def alive(self, i):
        pid = self.pid(i)
        if not pid or not pid_alive(pid):
            return False
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                return os.path.join(self.dir, f"zk{i}", "zoo.cfg").encode() in f.read()
        except OSError:
            return False

    def mode(self, i):
        if not self.alive(i):
            return "down"
        try:
            with socket.create_connection(("127.0.0.1", self.ports[i - 1]), timeout=1) as s:
                s.settimeout(1)
                s.sendall(b"srvr")
                data = b""
                while True:
                    chunk = s.recv(4096)
                    if not chunk:
                        break
                    data += chunk
        except OSError:
            return "not serving"
        m = re.search(rb"Mode: (\w+)", data)
        return m.group(1).decode() if m else "not serving"

    def modes(self):
        return [self.mode(i) for i in range(1, ZK_SERVERS + 1)]

    def serving(self):
        modes = self.modes()
        return all(m in ("leader", "follower") for m in modes) and modes.count("leader") == 1

    def signal(self, i, sig):
        p = self.script("kill", self.dir, str(i), sig, timeout=10)
        if p.returncode != 0:
            raise SuiteError(f"zk-ensemble kill zk{i} {sig}: {p.stderr.strip()}")

    def startone(self, i):
        p = self.script("startone", self.dir, str(i))
        self._track()
        if p.returncode != 0:
            raise SuiteError(f"zk-ensemble startone zk{i}: {p.stderr.strip()[-500:]}")

    def startmany(self, servers):
        procs = []
        for i in servers:
            p = subprocess.Popen(
                ["bash", ZK_SCRIPT, "startone", self.dir, str(i)],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                text=True,
                start_new_session=True,
            )
            TRACK.add_pid(p.pid, "zk-ensemble startone")
            procs.append((i, p))
        try:
            for i, p in procs:
                _, err = p.communicate(timeout=90)
                if p.returncode != 0:
                    raise SuiteError(f"zk-ensemble startone zk{i}: {err.strip()[-800:]}")
        finally:
            for _, p in procs:  # on an error, the other starts must not linger
                if p.poll() is None:
                    p.kill()
                    p.wait()
            self._track()

    def wait_serving(self, timeout=30):
        end = time.time() + timeout
        while time.time() < end:
            if self.serving():
                return time.time()
            time.sleep(0.05)
        return None

    def stop(self):
        if not self.started or not os.path.isdir(self.dir):
            return
        for i in range(1, ZK_SERVERS + 1):  # a SIGSTOPped server would not see SIGTERM
            if self.alive(i):
                try:
                    os.kill(self.pid(i), signal.SIGCONT)
                except OSError:
                    pass
        try:
            self.script("stop", self.dir, timeout=60)
        except Exception as e:
            say(f"warning: zk-ensemble stop: {e}")

    def zkcli(self, *args, timeout=30):
        cmd = [
            "java", "-Xshare:auto", "-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC", "-Xmx64m",
            "-cp", ZK_CLASSPATH, "org.apache.zookeeper.ZooKeeperMain",
            "-server", self.connect, *args,
        ]
        return run(cmd, timeout=timeout)


# ---- replicas --------------------------------------------------------------------


class Replica:
    def __init__(self, work, idx, binary):
        self.name = f"r{idx}"
        self.binary = binary
        self.dir = os.path.join(work, "files", self.name)
        self.archive = os.path.join(work, "archive", self.name)
        self.logdir = os.path.join(work, "logs")
        self.incarnation = 0
        self.proc = None
        self.log_path = None
        self.zk_servers = ""
        self.expected_exit = False  # set while the suite itself kills it

    def start(self):
        self.incarnation += 1
        self.log_path = os.path.join(self.logdir, f"{self.name}.{self.incarnation}.log")
        log = open(self.log_path, "ab")
        cmd = [
            self.binary, "run",
            "--zk-servers", self.zk_servers,
            "--replica-id", self.name,
            "--file-dir", self.dir,
            "--leader-timeout", f"{int(LEADER_TIMEOUT * 1000)}ms",
            "--attempter-timeout", f"{int(ATTEMPTER_TIMEOUT * 1000)}ms",
            "--session-timeout", f"{int(SESSION * 1000)}ms",
            "--storage-capacity", str(CAPACITY),
            "--log-level", "info",
        ]
        self.proc = subprocess.Popen(
            cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True
        )
        log.close()
        TRACK.add_pid(self.proc.pid, f"replica {self.name}")

    @property
    def pid(self):
        return self.proc.pid if self.proc else None

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def kill(self, sig):
        if self.alive():
            os.kill(self.proc.pid, sig)

    def wait(self, timeout):
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return None

    def stop(self, timeout=8):
        if not self.alive():
            return
        try:
            os.kill(self.proc.pid, signal.SIGCONT)
            os.kill(self.proc.pid, signal.SIGTERM)
        except OSError:
            pass
        if self.wait(timeout) is None:
            say(f"warning: {self.name} (pid {self.pid}) ignored SIGTERM for {timeout}s; SIGKILL")
            self.proc.kill()
            self.wait(5)

    def log_size(self):
        try:
            return os.path.getsize(self.log_path)
        except OSError:
            return 0

    def lines(self, offset=0):
        try:
            with open(self.log_path, "rb") as f:
                f.seek(offset)
                text = f.read().decode("utf-8", "replace")
        except OSError:
            return []
        return [(ln, parse_logfmt(ln)) for ln in text.splitlines() if ln.strip()]

    def transitions(self, offset=0):
        return [(ln, d) for ln, d in self.lines(offset) if d.get("msg") == "transition"]

    def state(self):
        t = self.transitions()
        return t[-1][1].get("to", "?") if t else "Init"

    def znode(self):
        z = [d.get("znode") for _, d in self.lines() if d.get("msg") == "leading"]
        return z[-1] if z else None

    def tail(self, offset=0, n=40):
        return [ln for ln, _ in self.lines(offset)][-n:]


# ---- the directory poller: sees (and archives) every file any replica writes ------


class FileEvent:
    __slots__ = ("replica", "name", "token", "counter", "time", "seen", "pid", "writer")

    def __init__(self, replica, name, token, counter, t, seen, pid, writer):
        self.replica, self.name, self.token, self.counter = replica, name, token, counter
        self.time, self.seen, self.pid, self.writer = t, seen, pid, writer

    def as_dict(self):
        return {k: getattr(self, k) for k in self.__slots__}


class Poller:
    def __init__(self, replicas):
        self.replicas = replicas
        self.lock = threading.Lock()
        self.events = []
        self.known = {r.name: set() for r in replicas}
        self.max_token = 0
        self.missed = 0  # files that vanished before they could be read
        self.anomalies = []  # e.g. a file in r1's directory written by r2
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._run, name="poller", daemon=True)

    def start(self):
        self.thread.start()

    def stop(self):
        self.stopping.set()
        self.thread.join(timeout=5)

    def _run(self):
        while not self.stopping.is_set():
            for r in self.replicas:
                try:
                    self.scan(r)
                except Exception as e:  # never let the poller die
                    self.anomalies.append(f"poller error on {r.name}: {e!r}")
            time.sleep(POLL)

    def scan(self, r):
        try:
            names = os.listdir(r.dir)
        except OSError:
            return
        known = self.known[r.name]
        for n in sorted(names):
            m = FILE_RE.match(n)
            if not m or n in known:
                continue
            seen = time.time()
            try:
                with open(os.path.join(r.dir, n), "rb") as f:
                    data = f.read()
            except FileNotFoundError:
                data = None
            except OSError:
                continue
            known.add(n)
            token, counter = int(m.group(1)), int(m.group(2))
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
                with open(os.path.join(r.archive, n), "wb") as f:
                    f.write(data)
                if writer is not None and writer != r.name:
                    self.anomalies.append(f"{r.name}/{n} was written by {writer}")
            ev = FileEvent(r.name, n, token, counter, t, seen, pid, writer)
            with self.lock:
                self.events.append(ev)
                self.max_token = max(self.max_token, token)

    def snapshot(self):
        with self.lock:
            return list(self.events), self.max_token

    def steady(self, since, exclude=None):
        """A working leader: for at least STEADY_WINDOW only one replica gained
        files (files written at or after `since`), all of one token, the
        highest token seen, at least STEADY_MIN_FILES of them in the window. Returns
        (replica, token, start) where start is the time of the first file of
        that term after the last file anybody else wrote since `since`."""
        events, max_token = self.snapshot()
        now = time.time()
        evs = [e for e in events if e.time >= since]
        recent = [e for e in evs if e.seen > now - STEADY_WINDOW]
        if len(recent) < STEADY_MIN_FILES:
            return None
        keys = {(e.replica, e.token) for e in recent}
        if len(keys) != 1:
            return None
        rep, tok = keys.pop()
        if tok < max_token or rep == exclude:
            return None
        last_other = max((e.time for e in evs if (e.replica, e.token) != (rep, tok)), default=-1)
        first = min(e.time for e in evs if (e.replica, e.token) == (rep, tok) and e.time > last_other)
        if now - first < STEADY_WINDOW:
            return None  # the only writer, but not for long enough yet
        return rep, tok, first


# ---- the suite ---------------------------------------------------------------------


class Result:
    def __init__(self, fault, rnd):
        self.fault = fault
        self.round = rnd
        self.leader_before = None
        self.leader_after = None
        self.after_heal = None  # seconds from the heal to a working leader
        self.takeover = None  # seconds from the fault to another replica working
        self.longest_gap = None  # longest time without any file written, around the fault
        self.missed = []
        self.violations = []
        self.zombies = []
        self.failures = []
        self.notes = {}
        self.evidence = {}

    def ok(self):
        return not (self.missed or self.violations or self.zombies or self.failures)

    def as_dict(self):
        return dict(self.__dict__)


class Chaos:
    def __init__(self, binary, rounds, work):
        self.binary = binary
        self.rounds = rounds
        self.work = work
        self.proxy = None
        self.zk = Ensemble(work)
        self.replicas = [Replica(work, i, binary) for i in range(1, REPLICAS + 1)]
        self.poller = Poller(self.replicas)
        self.seen_violations = set()
        self.results = []

    # -- setup / teardown --

    def setup(self):
        for sub in ("files", "archive", "logs"):
            os.makedirs(os.path.join(self.work, sub), exist_ok=True)
        for r in self.replicas:
            os.makedirs(r.dir, exist_ok=True)
            os.makedirs(r.archive, exist_ok=True)
            p = run(["mount", "-t", "tmpfs", "-o", f"size={TMPFS_SIZE},mode=0755", "tmpfs", r.dir])
            if p.returncode != 0:
                raise SuiteError(f"mount tmpfs on {r.dir}: {p.stderr.strip()}")
            TRACK.mounts.append(r.dir)
            with open(os.path.join(r.dir, FOREIGN), "wb") as f:
                f.write(FOREIGN_TEXT)
        say(f"starting a {ZK_SERVERS}-server ZooKeeper ensemble in {self.zk.dir}")
        self.zk.start()
        say(f"ZooKeeper up: {self.zk.connect} modes {self.zk.modes()}")
        self.proxy = ProxyHub()
        for r in self.replicas:
            ports = [self.proxy.listen(r.name, i + 1, p) for i, p in enumerate(self.zk.ports)]
            r.zk_servers = ",".join(f"127.0.0.1:{p}" for p in ports)
        self.poller.start()
        for r in self.replicas:
            r.start()
        say(f"replicas started: {', '.join(f'{r.name} pid {r.pid}' for r in self.replicas)}")

    def cleanup(self):
        for r in self.replicas:
            try:
                r.stop()
            except Exception as e:
                say(f"warning: stopping {r.name}: {e}")
        if self.poller.thread.is_alive():
            self.poller.stop()
        if self.proxy:
            self.proxy.stop()
        self.zk.stop()

    # -- observations --

    def by_name(self, name):
        return next(r for r in self.replicas if r.name == name)

    def wait_steady(self, timeout=GIVE_UP):
        """Waits until the cluster is quiet: three replicas alive, every
        ZooKeeper server serving, exactly one working leader (files), which is
        the one replica whose log says Leader, the others Attempter."""
        end = time.time() + timeout
        while time.time() < end:
            s = self.poller.steady(time.time() - STEADY_WINDOW - 0.5)
            if s and all(r.alive() for r in self.replicas) and self.zk.serving():
                states = {r.name: r.state() for r in self.replicas}
                if states[s[0]] == "Leader" and all(
                    st == "Attempter" for n, st in states.items() if n != s[0]
                ):
                    return s
            time.sleep(0.1)
        return None

    def wait_working(self, res, since, ref, exclude=None, what="working leader"):
        """Waits for a working leader whose files start at or after `since`;
        the time from `ref` to its first file must be within DEADLINE."""
        end = ref + GIVE_UP
        while time.time() < end:
            s = self.poller.steady(since, exclude)
            if s:
                rep, tok, first = s
                took = max(0.0, first - ref)
                if took > DEADLINE:
                    res.missed.append(f"{what} after {took:.2f}s > {DEADLINE:.1f}s")
                return rep, tok, took
            time.sleep(0.05)
        res.missed.append(f"no {what} after {GIVE_UP:.0f}s")
        return None

    def collect_log(self, res, r, offset, key=None):
        res.evidence[key or f"{r.name}.{r.incarnation} log"] = r.tail(offset, 60)

    def wait_state(self, r, offset, predicate, timeout):
        end = time.time() + timeout
        while time.time() < end:
            tr = r.transitions(offset)
            if predicate(tr):
                return tr
            time.sleep(0.05)
        return None

    def check_left_leader(self, res, r, offset, want_to=None, want_reason=None, timeout=DEADLINE):
        def pred(tr):
            for _, d in tr:
                if d.get("from") == "Leader" and (want_to is None or d.get("to") == want_to):
                    if want_reason is None or want_reason in d.get("reason", ""):
                        return True
            return False

        tr = self.wait_state(r, offset, pred, timeout)
        if tr is None:
            res.failures.append(
                f"{r.name} logged no transition from Leader"
                + (f" to {want_to}" if want_to else "")
                + (f" with '{want_reason}'" if want_reason else "")
            )
            self.collect_log(res, r, offset)
        else:
            left = [d for _, d in tr if d.get("from") == "Leader"][0]
            res.notes[f"{r.name} left Leader"] = f"to={left.get('to')} reason={left.get('reason')}"

    def check_rejoined(self, res, r, offset, since, timeout=RECOVER_LIMIT):
        """After the heal the replica must end up a candidate again (Attempter,
        or Leader if it legitimately won again)."""
        end = since + timeout
        while time.time() < end:
            tr = r.transitions(offset)
            if r.alive() and tr and tr[-1][1].get("to") in ("Attempter", "Leader"):
                res.notes[f"{r.name} back to {tr[-1][1].get('to')} after heal"] = round(time.time() - since, 2)
                return
            time.sleep(0.05)
        res.failures.append(f"{r.name} not back to Attempter within {timeout:.0f}s of the heal (state {r.state()})")
        self.collect_log(res, r, offset)

    def verify(self, res):
        """`election verify` over the live directories (capacity checked) and
        over the archive of every file seen (the whole history). Violations not
        reported before count for this fault."""
        found = []
        names = [r.name for r in self.replicas]
        for base, cap in ((os.path.join(self.work, "files"), True), (os.path.join(self.work, "archive"), False)):
            cmd = [self.binary, "verify", *names, "--json"] + (["--capacity", str(CAPACITY)] if cap else [])
            p = run(cmd, timeout=60, cwd=base)
            try:
                report = json.loads(p.stdout)
                found += report.get("violations", [])
            except ValueError:
                found.append(f"verify ({'live' if cap else 'archive'}) exit {p.returncode}: "
                             f"{p.stdout.strip()[-300:]} {p.stderr.strip()[-300:]}")
        found += self.poller.anomalies
        for r in self.replicas:  # a file that is not an election file is never touched
            path = os.path.join(r.dir, FOREIGN)
            try:
                with open(path, "rb") as f:
                    intact = f.read() == FOREIGN_TEXT
            except OSError:
                intact = False
            if not intact:
                res.failures.append(f"foreign file {r.name}/{FOREIGN} changed or removed")
                with open(path, "wb") as f:
                    f.write(FOREIGN_TEXT)
        for v in found:
            if v not in self.seen_violations:
                self.seen_violations.add(v)
                res.violations.append(v)
        if res.violations:
            for r in self.replicas:
                res.evidence[f"{r.name} files"] = sorted(os.listdir(r.dir))

    def restore_replicas(self, res):
        for r in self.replicas:
            if not r.alive():
                rc = r.proc.returncode if r.proc else None
                if r.proc is not None and not getattr(r, "expected_exit", False):
                    res.failures.append(f"{r.name} exited unexpectedly (status {rc})")
                    self.collect_log(res, r, 0, f"{r.name}.{r.incarnation} log (exited)")
                r.expected_exit = False
                r.start()

    def file_events(self, pred):
        events, _ = self.poller.snapshot()
        return [e for e in events if pred(e)]

    # -- the faults --

    def f_leader_sigterm(self, res, leader, token):
        r = leader
        t0 = time.time()
        r.expected_exit = True
        r.kill(signal.SIGTERM)
        rc = r.wait(10)
        res.notes["exit"] = {"status": rc, "after_s": round(time.time() - t0, 2)}
        if rc != 0:
            res.failures.append(f"{r.name} exit status {rc} after SIGTERM (want 0 within 10 s)")
            self.collect_log(res, r, 0)
            if rc is None:
                r.proc.kill()
                r.wait(5)
        w = self.wait_working(res, t0, t0, exclude=r.name)
        return t0, w

    def f_leader_sigkill(self, res, leader, token):
        r = leader
        t0 = time.time()
        r.expected_exit = True
        r.kill(signal.SIGKILL)
        r.wait(5)
        w = self.wait_working(res, t0, t0, exclude=r.name)
        return t0, w

    def f_follower_sigkill(self, res, leader, token):
        r = next(x for x in self.replicas if x is not leader)
        res.notes["killed"] = r.name
        t0 = time.time()
        r.expected_exit = True
        r.kill(signal.SIGKILL)
        r.wait(5)
        w = self.wait_working(res, t0, t0)
        return t0, w

    def f_leader_sigstop(self, res, leader, token):
        r = leader
        off = r.log_size()
        t0 = time.time()
        r.kill(signal.SIGSTOP)
        w = self.wait_working(res, t0, t0, exclude=r.name, what="takeover while stopped")
        if w:
            res.takeover = w[2]
        time.sleep(max(0.0, t0 + HOLD - time.time()))
        t_snap = time.time()
        before = set(os.listdir(r.dir))
        t_heal = time.time()
        r.kill(signal.SIGCONT)
        w = self.wait_working(res, t_heal, t_heal)
        time.sleep(1.0)  # give a zombie every chance to write
        self.check_left_leader(res, r, off)
        self.check_rejoined(res, r, off, t_heal)
        # A stopped process creates no file: any file of its old term that was
        # not in its directory at SIGCONT was written after it resumed.
        zombies = self.file_events(
            lambda e: e.replica == r.name and e.token == token and e.seen >= t_snap and e.name not in before
        )
        res.zombies += [f"{r.name}/{e.name} (time {e.time:.3f}, seen {e.seen - t_heal:+.3f}s after SIGCONT)" for e in zombies]
        if zombies:
            self.collect_log(res, r, off)
        return t_heal, w

    def f_leader_blackhole(self, res, leader, token):
        r = leader
        off = r.log_size()
        res.notes["connected_to_zk"] = self.proxy.connected_servers(r.name)
        t0 = time.time()
        self.proxy.blackhole(r.name)
        w = self.wait_working(res, t0, t0, exclude=r.name, what="takeover while cut off")
        if w:
            res.takeover = w[2]
        time.sleep(max(0.0, t0 + HOLD - time.time()))
        t_heal = time.time()
        self.proxy.heal(r.name)
        w = self.wait_working(res, t_heal, t_heal)
        # Cut off for longer than the session timeout, it must have stopped
        # writing: its session may have expired by then.
        zombies = self.file_events(lambda e: e.replica == r.name and e.token == token and t0 + SESSION < e.time <= t_heal)
        res.zombies += [f"{r.name}/{e.name} written {e.time - t0:.3f}s into the blackhole" for e in zombies]
        self.check_left_leader(res, r, off)
        self.check_rejoined(res, r, off, t_heal)
        return t_heal, w

    def _pick_zk(self, leader, mode):
        modes = self.zk.modes()
        want = [i + 1 for i, m in enumerate(modes) if m == mode]
        if not want:
            raise SuiteError(f"no ZooKeeper {mode} (modes {modes})")
        conn = self.proxy.connected_servers(leader.name)
        pref = [i for i in want if i in conn]
        return (pref or want)[0], modes, conn

    def _zk_kill_restart(self, res, leader, mode):
        i, modes, conn = self._pick_zk(leader, mode)
        res.notes["zk"] = {"killed": f"zk{i}", "modes": modes, "leader replica connected to": [f"zk{c}" for c in conn]}
        t0 = time.time()
        self.zk.signal(i, "KILL")
        time.sleep(HOLD)
        self.zk.startone(i)
        t_heal = self.zk.wait_serving()
        if t_heal is None:
            raise SuiteError(f"zk{i} did not rejoin the ensemble: {self.zk.modes()}")
        res.notes["zk down for s"] = round(t_heal - t0, 2)
        w = self.wait_working(res, t_heal, t_heal)
        return t_heal, w

    def f_zk_follower_kill(self, res, leader, token):
        return self._zk_kill_restart(res, leader, "follower")

    def f_zk_leader_kill(self, res, leader, token):
        return self._zk_kill_restart(res, leader, "leader")

    def f_zk_quorum_loss(self, res, leader, token):
        modes = self.zk.modes()
        conn = self.proxy.connected_servers(leader.name)
        # Kill the ZooKeeper leader and the server the leading replica uses
        # (another follower if that is the leader itself).
        zl = modes.index("leader") + 1
        others = [i for i in range(1, ZK_SERVERS + 1) if i != zl]
        second = next((i for i in others if i in conn), others[0])
        victims = [zl, second]
        res.notes["zk"] = {"killed": [f"zk{i}" for i in victims], "modes": modes}
        t0 = time.time()
        for i in victims:
            self.zk.signal(i, "KILL")
        time.sleep(HOLD)
        self.zk.startmany(victims)
        t_heal = self.zk.wait_serving()
        if t_heal is None:
            raise SuiteError(f"quorum did not come back: {self.zk.modes()}")
        res.notes["quorum lost for s"] = round(t_heal - t0, 2)
        w = self.wait_working(res, t_heal, t_heal)
        # Without a quorum nobody can confirm leadership: after the session
        # timeout no replica may write until the quorum is back.
        zombies = self.file_events(lambda e: t0 + SESSION < e.time < t_heal)
        res.zombies += [f"{e.replica}/{e.name} written {e.time - t0:.3f}s into the quorum loss" for e in zombies]
        return t_heal, w

    def f_zk_server_sigstop(self, res, leader, token):
        conn = self.proxy.connected_servers(leader.name)
        modes = self.zk.modes()
        # Odd rounds: the server the leading replica talks to; even rounds: the
        # ZooKeeper leader (whichever the replica talks to).
        if res.round % 2 == 1 and conn:
            i = conn[0]
        else:
            i = modes.index("leader") + 1
        res.notes["zk"] = {"stopped": f"zk{i}", "mode": modes[i - 1], "modes": modes,
                           "leader replica connected to": [f"zk{c}" for c in conn]}
        self.zk.signal(i, "STOP")
        try:
            time.sleep(HOLD)
        finally:
            t_heal = time.time()
            self.zk.signal(i, "CONT")
        if self.zk.wait_serving() is None:
            raise SuiteError(f"ensemble not serving after SIGCONT: {self.zk.modes()}")
        w = self.wait_working(res, t_heal, t_heal)
        return t_heal, w

    def _filedir_fault(self, res, leader, token, apply, undo, label):
        r = leader
        off = r.log_size()
        t0 = time.time()
        detail = apply(r)
        res.notes["fault"] = detail
        w = self.wait_working(res, t0, t0, exclude=r.name, what="takeover by a healthy replica")
        if w:
            res.takeover = w[2]
        self.check_left_leader(res, r, off, want_reason="leadership released")
        time.sleep(max(0.0, t0 + SESSION - time.time()))
        problem = undo(r)
        if problem:
            res.failures.append(problem)
        t_heal = time.time()
        w = self.wait_working(res, t_heal, t_heal)
        self.check_rejoined(res, r, off, t_heal)
        return t_heal, w

    def f_filedir_readonly(self, res, leader, token):
        # A read-only bind mount stacked on the directory: remounting the tmpfs
        # itself read-only fails (EBUSY) while the daemon holds any file in it
        # open for writing (a lock file, a temporary file); a fresh bind mount
        # has no writers. Every create, write-open, unlink or rename through
        # the directory then fails with EROFS; descriptors opened before stay
        # writable (they belong to the tmpfs mount underneath).
        def apply(r):
            p = run(["mount", "--bind", r.dir, r.dir], timeout=10)
            if p.returncode != 0:
                raise SuiteError(f"mount --bind {r.dir}: {p.stderr.strip()}")
            TRACK.mounts.append(r.dir)
            p = run(["mount", "-o", "remount,bind,ro", r.dir], timeout=10)
            if p.returncode != 0:
                raise SuiteError(f"remount,bind,ro {r.dir}: {p.stderr.strip()}")
            return f"{r.dir}: read-only bind mount on top"

        def undo(r):
            for _ in range(60):
                if run(["umount", r.dir], timeout=10).returncode == 0:
                    TRACK.mounts.pop(len(TRACK.mounts) - 1 - TRACK.mounts[::-1].index(r.dir))
                    return None
                time.sleep(0.05)  # busy: the daemon has the directory open right now
            raise SuiteError(f"could not unmount the read-only bind mount on {r.dir}")

        return self._filedir_fault(res, leader, token, apply, undo, "read-only")

    def f_filedir_full(self, res, leader, token):
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

        return self._filedir_fault(res, leader, token, apply, undo, "full")

    def noticed(self, r, offset, t_end):
        """When the old leader logged leaving Leader (the operator's delete
        happened just before; zkCli's JVM takes a while to exit), else t_end."""
        for _, d in r.transitions(offset):
            if d.get("from") == "Leader":
                t = parse_time(d.get("ts"))
                if t is not None:
                    return min(t, t_end)
        return t_end

    def f_znode_delete(self, res, leader, token):
        r = leader
        znode = r.znode()
        if not znode:
            raise SuiteError(f"{r.name} logged no znode")
        off = r.log_size()
        t_start = time.time()
        p = self.zk.zkcli("delete", znode)
        t_end = time.time()
        res.notes["deleted"] = znode
        res.notes["zkCli_s"] = round(t_end - t_start, 2)
        if p.returncode != 0:
            raise SuiteError(f"zkCli delete {znode}: {(p.stdout + p.stderr).strip()[-500:]}")
        self.check_left_leader(res, r, off, want_to="Attempter")
        t0 = self.noticed(r, off, t_end)
        w = self.wait_working(res, t_start, t0)
        return t0, w

    def f_election_path_delete(self, res, leader, token):
        off = leader.log_size()
        t_start = time.time()
        for attempt in range(1, 6):
            p = self.zk.zkcli("deleteall", "/election")
            if p.returncode == 0:
                break
            # A replica may recreate a child between the listing and the delete.
            time.sleep(0.2)
        else:
            raise SuiteError(f"zkCli deleteall /election: {(p.stdout + p.stderr).strip()[-500:]}")
        t_end = time.time()
        res.notes["deleteall attempts"] = attempt
        res.notes["zkCli_s"] = round(t_end - t_start, 2)
        self.check_left_leader(res, leader, off)
        t0 = self.noticed(leader, off, t_end)
        w = self.wait_working(res, t_start, t0)
        if w and w[1] <= token:
            res.failures.append(f"new leader token {w[1]} not above the old {token}")
        return t0, w

    FAULTS = [
        ("leader-sigterm", "leader SIGTERM", f_leader_sigterm),
        ("leader-sigkill", "leader SIGKILL", f_leader_sigkill),
        ("follower-sigkill", "follower SIGKILL", f_follower_sigkill),
        ("leader-sigstop", f"leader SIGSTOP {HOLD:g}s, SIGCONT", f_leader_sigstop),
        ("leader-blackhole", f"leader's ZK connection blackholed {HOLD:g}s", f_leader_blackhole),
        ("zk-follower-kill", "ZK follower SIGKILL, restart", f_zk_follower_kill),
        ("zk-leader-kill", "ZK leader SIGKILL, restart", f_zk_leader_kill),
        ("zk-quorum-loss", f"ZK quorum lost (2 of 3 down) {HOLD:g}s", f_zk_quorum_loss),
        ("zk-server-sigstop", f"ZK server SIGSTOP {HOLD:g}s", f_zk_server_sigstop),
        ("filedir-readonly", "file-dir read-only under the leader", f_filedir_readonly),
        ("filedir-full", "file-dir full under the leader", f_filedir_full),
        ("znode-delete", "own candidate znode deleted", f_znode_delete),
        ("election-path-delete", "election path deleted", f_election_path_delete),
    ]

    def run(self, selected):
        faults = [f for f in self.FAULTS if f[0] in selected]
        s = self.wait_steady(60)
        if not s:
            raise SuiteError("no steady leader after start: " + "; ".join(f"{r.name}={r.state()}" for r in self.replicas))
        say(f"steady: {s[0]} leads with token {s[1]}")
        total = len(faults)
        for n, (key, label, fn) in enumerate(faults, 1):
            for rnd in range(1, self.rounds + 1):
                res = Result(key, rnd)
                self.results.append(res)
                s = self.wait_steady()
                if not s:
                    res.failures.append("cluster not steady before the fault; restarting every replica")
                    self.restart_all(res)
                    s = self.wait_steady(60)
                    if not s:
                        raise SuiteError("cluster not steady even after restarting the replicas")
                leader = self.by_name(s[0])
                res.leader_before = {"replica": s[0], "token": s[1]}
                say(f"[fault {n}/{total} round {rnd}/{self.rounds}] {label} (leader {s[0]}, token {s[1]})")
                t_begin = time.time()
                t_heal, w = fn(self, res, leader, s[1])
                times = sorted(e.time for e in self.file_events(lambda e: t_begin - 1 <= e.time <= time.time()))
                if len(times) > 1:
                    res.longest_gap = round(max(b - a for a, b in zip(times, times[1:])), 3)
                if w:
                    res.leader_after = {"replica": w[0], "token": w[1]}
                    res.after_heal = round(w[2], 3)
                    if res.takeover is not None:
                        res.takeover = round(res.takeover, 3)
                self.restore_replicas(res)
                self.verify(res)
                if not w:
                    self.restart_all(res)
                say(
                    f"  -> {'ok' if res.ok() else 'FAILED'}: "
                    + (f"working leader {w[0]} (token {w[1]}) {w[2]:.2f}s after heal" if w else "no working leader")
                    + (f", takeover {res.takeover:.2f}s" if res.takeover is not None else "")
                    + f"; violations {len(res.violations)}, zombies {len(res.zombies)}"
                    + "".join(f"; MISSED {m}" for m in res.missed)
                    + "".join(f"; FAIL {f}" for f in res.failures)
                )
                for v in res.violations + res.zombies:
                    say(f"     {v}")

    def restart_all(self, res):
        for r in self.replicas:
            self.collect_log(res, r, 0, f"{r.name}.{r.incarnation} log (before restart)")
            r.expected_exit = True
            if r.alive():
                r.kill(signal.SIGCONT)
                r.kill(signal.SIGKILL)
                r.wait(5)
            r.expected_exit = False
            r.start()

    def final_checks(self):
        res = Result("final", 0)
        for r in self.replicas:
            try:
                with open(os.path.join(r.dir, FOREIGN), "rb") as f:
                    if f.read() != FOREIGN_TEXT:
                        res.failures.append(f"{r.name}/{FOREIGN} changed")
            except OSError as e:
                res.failures.append(f"{r.name}/{FOREIGN} gone: {e}")
        return res


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


# ---- report ------------------------------------------------------------------------


def fmt_times(values):
    if not values:
        return "-"
    return f"{statistics.median(values):.2f} / {max(values):.2f} s"


def summarize(results, fault_list):
    rows = []
    for key, label, _ in fault_list:
        rs = [r for r in results if r.fault == key]
        if not rs:
            continue
        rows.append(
            {
                "fault": key,
                "label": label,
                "repetitions": len(rs),
                "violations": sum(len(r.violations) for r in rs),
                "zombie_writes": sum(len(r.zombies) for r in rs),
                "missed_deadlines": sum(1 for r in rs if r.missed),
                "other_failures": sum(len(r.failures) for r in rs),
                "after_heal": [r.after_heal for r in rs if r.after_heal is not None],
                "takeover": [r.takeover for r in rs if r.takeover is not None],
                "longest_gap": [r.longest_gap for r in rs if r.longest_gap is not None],
                "passed": all(r.ok() for r in rs),
            }
        )
    return rows


def print_table(rows):
    print()
    print(f"| fault | reps | violations | zombie writes | missed deadlines (> {DEADLINE:g} s) "
          "| working leader after heal (median / max) | takeover during fault (median / max) "
          "| longest write gap (median / max) | other failures |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        print(
            f"| {r['label']} | {r['repetitions']} | {r['violations']} | {r['zombie_writes']} "
            f"| {r['missed_deadlines']} | {fmt_times(r['after_heal'])} | {fmt_times(r['takeover'])} "
            f"| {fmt_times(r['longest_gap'])} | {r['other_failures']} |"
        )
    print()
    print("after heal: from the heal (killed replicas: from the kill; operator deletes: from the old leader")
    print("logging it) to the first file of the leader that is then the only one writing. takeover: from the")
    print("fault to the first file of another replica while the fault lasts. longest write gap: the longest")
    print("time in which no replica wrote a file, from the fault to the end of its check.")
    print()


# ---- main ----------------------------------------------------------------------------


def die(msg):
    """The suite cannot run at all: exit 2, as for any suite error."""
    print(msg, file=sys.stderr, flush=True)
    sys.exit(2)


def resolve_binary(b):
    if not os.path.isabs(b) and not os.path.exists(b) and os.path.exists(os.path.join(ROOT, b)):
        b = os.path.join(ROOT, b)
    b = os.path.abspath(b)
    if not (os.path.isfile(b) and os.access(b, os.X_OK)):
        die(f"chaos: no executable at '{b}'; build it with 'swift build -c release' or set BINARY")
    return b


def leftovers(chaos, work):
    left = []
    for pid, what in sorted(TRACK.pids.items()):
        if pid_alive(pid):
            try:
                with open(f"/proc/{pid}/cmdline", "rb") as f:
                    cmd = f.read().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                continue
            # Every process we start names the work directory (replicas: their
            # --file-dir; servers: their zoo.cfg); a recycled pid is not ours.
            if work in cmd:
                left.append(f"process {pid} ({what}) still running: {cmd[:120]}")
    for m in TRACK.mounts:
        if mounted(m):
            left.append(f"mount {m} still mounted")
    return left


def main():
    if os.geteuid() != 0:
        die("chaos: must run as root: every replica's --file-dir is a tmpfs mount "
                 "(read-only and full file-dir faults); try sudo")
    try:
        rounds = int(os.environ.get("ROUNDS", "") or 1)
    except ValueError:
        rounds = 0
    if rounds < 1:
        die(f"chaos: ROUNDS must be a whole number of at least 1, not '{os.environ.get('ROUNDS')}'")
    binary = resolve_binary(os.environ.get("BINARY", ".build/release/election"))
    names = [f[0] for f in Chaos.FAULTS]
    selected = [s.strip() for s in os.environ.get("FAULTS", "").split(",") if s.strip()] or names
    unknown = [s for s in selected if s not in names]
    if unknown:
        die(f"chaos: unknown fault(s) {', '.join(unknown)}; known: {', '.join(names)}")
    for tool in ("java", "mount", "umount"):
        if not shutil.which(tool):
            die(f"chaos: {tool} not found; run scripts/install-deps.sh")
    keep = os.environ.get("KEEP", "") not in ("", "0")

    work = tempfile.mkdtemp(prefix="election-chaos.", dir=os.environ.get("TMPDIR", "/tmp"))
    chaos = Chaos(binary, rounds, work)
    cleaned = []

    def cleanup():
        if cleaned:
            return
        cleaned.append(True)
        for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(s, signal.SIG_IGN)  # finish cleaning up, whatever comes
        chaos.cleanup()
        for m in reversed(TRACK.mounts):
            if not mounted(m):
                continue
            # A read-only mount unmounts as well; each entry is one layer (the
            # tmpfs, and a read-only bind mount on top if a fault was cut short).
            for _ in range(20):
                if run(["umount", m], timeout=10).returncode == 0:
                    break
                time.sleep(0.25)
            else:
                say(f"warning: {m} busy; lazy unmount")
                run(["umount", "-l", m], timeout=10)
        left = leftovers(chaos, work)
        for w in left:
            say(f"warning: left behind: {w}")
        if keep or left:
            say(f"work directory kept: {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)

    def on_signal(signum, frame):
        raise Interrupted(signal.Signals(signum).name)

    atexit.register(cleanup)
    for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(s, on_signal)

    say(f"chaos: {len(selected)} fault(s) x {rounds} round(s); binary {binary}; work {work}")
    say(f"settings: {ZK_SERVERS} ZK servers (tickTime 500 ms), {REPLICAS} replicas, session {SESSION:g}s, "
        f"leader-timeout {LEADER_TIMEOUT * 1000:g}ms, attempter-timeout {ATTEMPTER_TIMEOUT:g}s, "
        f"capacity {CAPACITY}, deadline {DEADLINE:g}s")
    status = 0
    error = None
    final = None
    try:
        chaos.setup()
        chaos.run(selected)
        final = chaos.final_checks()
    except Interrupted as e:
        error = f"interrupted by {e}"
        status = 130
        if chaos.results and chaos.results[-1].ok():
            chaos.results[-1].failures.append(error)
    except SuiteError as e:
        error = f"suite error: {e}"
        status = 2
    except Exception as e:
        import traceback

        traceback.print_exc()
        error = f"suite error: {e!r}"
        status = 2
    finally:
        if error:
            say(error)
        try:
            for r in chaos.results[-1:]:
                if not r.ok() or error:
                    for rep in chaos.replicas:
                        chaos.collect_log(r, rep, 0)
        except Exception:
            pass
        cleanup()

    rows = summarize(chaos.results, Chaos.FAULTS)
    print_table(rows)
    if final and final.failures:
        for f in final.failures:
            say(f"FAIL (foreign files): {f}")
    duration = time.time() - START
    out = {
        "started": datetime.datetime.fromtimestamp(START, datetime.timezone.utc).isoformat(),
        "duration_s": round(duration, 1),
        "rounds": rounds,
        "binary": binary,
        "error": error,
        "settings": {
            "zk_servers": ZK_SERVERS, "replicas": REPLICAS, "session_timeout_s": SESSION,
            "leader_timeout_s": LEADER_TIMEOUT, "attempter_timeout_s": ATTEMPTER_TIMEOUT,
            "storage_capacity": CAPACITY, "deadline_s": DEADLINE, "hold_s": HOLD,
        },
        "summary": rows,
        "final_checks": final.as_dict() if final else None,
        "poller_missed_files": chaos.poller.missed,
        "results": [r.as_dict() for r in chaos.results],
    }
    resdir = os.path.join(ROOT, "chaos", "results")
    os.makedirs(resdir, exist_ok=True)
    path = os.path.join(resdir, "chaos-" + time.strftime("%Y%m%d-%H%M%S", time.localtime(START)) + ".json")
    with open(path, "w") as f:
        json.dump(out, f, indent=1, default=str)
    say(f"results: {path} ({duration:.0f}s)")
    passed = sum(1 for r in rows if r["passed"])
    failed = len(rows) - passed
    if final and final.failures:
        failed += 1
    if error:
        failed = max(failed, 1)
    print(f"chaos: {passed} passed, {failed} failed", flush=True)
    if status == 0 and failed:
        status = 1
    sys.exit(status)


if __name__ == "__main__":
    main()
