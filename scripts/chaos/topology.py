"""The topology the faults act on: a ZooKeeper ensemble (scripts/zk-ensemble.sh),
one TCP proxy listener per (replica, ZooKeeper server) so that one replica's
connection can be blackholed alone, the replicas of the release binary (with
`-- CMD` for the supervised-command faults, see workload.py), and the mounts
under them (each --file-dir is its own small tmpfs; a read-only bind
mount can be stacked on it)."""

import asyncio
import collections
import os
import re
import signal
import socket
import subprocess
import threading
import time

from .common import (
    ATTEMPTER_TIMEOUT, CAPACITY, LEADER_TIMEOUT, SESSION, STOP_TIMEOUT, TMPFS_SIZE, TRACK, ZK_CLASSPATH,
    ZK_SCRIPT, ZK_SERVERS, SuiteError, mono_ns, mounted, parse_logfmt, pid_alive, run, say,
)

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
        # replica -> CLOCK_MONOTONIC ns at which its bytes (requests) reached the
        # proxy and were forwarded, the latest few thousand (see sent_between).
        self.sent = {}
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
                self._pump(conn, creader, uwriter, upstream=True), self._pump(conn, ureader, cwriter)
            )
        except Exception:
            pass
        finally:
            conn.close()
            self.conns.discard(conn)

    async def _pump(self, conn, reader, writer, upstream=False):
        try:
            while True:
                data = await reader.read(65536)
                if not data:
                    break
                if conn.held or conn.replica in self.blackholed:
                    conn.held = True
                    continue
                if upstream:
                    self.sent.setdefault(conn.replica, collections.deque(maxlen=4000)).append(mono_ns())
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

    def sent_between(self, replica, lo_ns, hi_ns):
        """When the replica's requests reached the proxy (CLOCK_MONOTONIC ns, in
        order) within [lo_ns, hi_ns]: each no earlier than the replica sent it."""

        async def go():
            return sorted(t for t in self.sent.get(replica, ()) if lo_ns <= t <= hi_ns)

        return self._call(go())

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
        # `election run ... -- command` when set (workload.Workload.command): the
        # supervised-command faults; None for the others.
        self.command = None
        self.mark = {"CHAOS_WORK": work}  # in the environment of the daemon, its watchdog and its command

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
            # debug: the suite follows every state change, and while a fault repeats
            # the daemon logs its cycles at debug (one warning says so); the churn
            # check also counts the "candidate created" lines.
            "--log-level", "debug",
        ]
        if self.command:
            cmd += ["--exec-stop-timeout", f"{int(STOP_TIMEOUT * 1000)}ms", "--on-exit", "resign", "--", *self.command]
        self.proc = subprocess.Popen(
            cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True,
            env={**os.environ, **self.mark},
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


# ---- mounts ------------------------------------------------------------------------


def mount_tmpfs(path):
    """A small tmpfs of its own on `path` (a replica's --file-dir)."""
    p = run(["mount", "-t", "tmpfs", "-o", f"size={TMPFS_SIZE},mode=0755", "tmpfs", path])
    if p.returncode != 0:
        raise SuiteError(f"mount tmpfs on {path}: {p.stderr.strip()}")
    TRACK.mounts.append(path)


def mount_readonly_bind(path):
    """A read-only bind mount stacked on `path`: remounting the tmpfs itself
    read-only fails (EBUSY) while the daemon holds any file in it open for
    writing (a lock file, a temporary file); a fresh bind mount has no writers.
    Every create, write-open, unlink or rename through the directory then fails
    with EROFS; descriptors opened before stay writable (they belong to the
    tmpfs mount underneath)."""
    p = run(["mount", "--bind", path, path], timeout=10)
    if p.returncode != 0:
        raise SuiteError(f"mount --bind {path}: {p.stderr.strip()}")
    TRACK.mounts.append(path)
    p = run(["mount", "-o", "remount,bind,ro", path], timeout=10)
    if p.returncode != 0:
        raise SuiteError(f"remount,bind,ro {path}: {p.stderr.strip()}")


def unmount_top(path):
    """Removes the topmost mount on `path` (the read-only bind mount), retrying
    while it is busy."""
    for _ in range(60):
        if run(["umount", path], timeout=10).returncode == 0:
            TRACK.mounts.pop(len(TRACK.mounts) - 1 - TRACK.mounts[::-1].index(path))
            return
        time.sleep(0.05)  # busy: the daemon has the directory open right now
    raise SuiteError(f"could not unmount the read-only bind mount on {path}")


def unmount_all():
    """Undoes every mount the suite made, newest first."""
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
