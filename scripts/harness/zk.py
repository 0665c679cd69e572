"""ZooKeeper servers (Debian's `zookeeper` package): the zoo.cfg and the
command line of one server (for suites that launch their own: a TLS-only
server, servers in network namespaces), a server's mode, and an ensemble on
loopback run by scripts/zk-ensemble.sh (free ports, 1 server standalone or a
quorum; kill, restart, stop)."""

import os
import re
import signal
import subprocess
import time

from . import ROOT, SuiteError, say, wait_until
from .net import four_letter
from .proc import PROCS, cmdline, pid_alive

SCRIPT = os.path.join(ROOT, "scripts", "zk-ensemble.sh")
CLASSPATH = os.environ.get("ZK_CLASSPATH", "/usr/share/java/zookeeper.jar:/usr/share/java/slf4j-simple.jar")


def zoo_cfg(data_dir, port=None, address="127.0.0.1", tick_ms=500, sync=5, servers=(), extra=()):
    """A server's zoo.cfg: clientPort `port` on `address` (None: no plaintext
    port; `extra` then names the secure one), the quorum's `servers`
    ("server.N=host:peer:election" lines), `extra` lines."""
    lines = [f"tickTime={tick_ms}", "initLimit=10", f"syncLimit={sync}", f"dataDir={data_dir}",
             "admin.enableServer=false", "4lw.commands.whitelist=*"]
    if port is not None:
        lines += [f"clientPort={port}", f"clientPortAddress={address}"]
    return "\n".join([*lines, *extra, *servers]) + "\n"


def server_argv(cfg, java_opts, classpath=CLASSPATH, quorum=False):
    """The JVM running the server of `cfg` (its logs beside it)."""
    main = "org.apache.zookeeper.server." + ("quorum.QuorumPeerMain" if quorum else "ZooKeeperServerMain")
    return ["java", *java_opts, "-cp", classpath, f"-Dzookeeper.log.dir={os.path.dirname(cfg)}", main, cfg]


def server_mode(port, host="127.0.0.1"):
    """leader, follower, standalone; None when the server does not answer
    (down, or up without a quorum)."""
    m = re.search(r"Mode: (\w+)", four_letter(port, "srvr", host, timeout=1, quiet=True))
    return m.group(1) if m else None


class Ensemble:
    """`size` servers on loopback (1: standalone) in `directory`, through
    scripts/zk-ensemble.sh: free ports, tickTime `tick_ms` (the script's
    default when None). Every server's pid is tracked in PROCS."""

    def __init__(self, directory, size=3, tick_ms=None):
        self.dir = directory
        self.size = size
        self.tick_ms = tick_ms
        self.started = False
        self.ports = []
        self.connect = ""

    def script(self, *args, timeout=90):
        env = dict(os.environ, **({"ZK_TICK_TIME": str(self.tick_ms)} if self.tick_ms else {}))
        p = PROCS.run(["bash", SCRIPT, *args], timeout=timeout, env=env)
        self._track()
        return p

    def _track(self):
        for i in range(1, self.size + 1):
            pid = self.pid(i)
            if pid:
                PROCS.add(pid, f"zookeeper zk{i}")

    def start(self, attempts=1, extra_config=()):
        """Starts the servers (`attempts` tries); with `extra_config` lines,
        restarts them with those lines added to every zoo.cfg."""
        for attempt in range(1, attempts + 1):
            self.started = True
            p = self.script("start", self.dir, str(self.size), timeout=180)
            if p.returncode == 0:
                break
            say(f"zk-ensemble start failed (attempt {attempt}): {p.stderr.strip()[-500:]}")
            self.stop()
            if attempt == attempts:
                raise SuiteError(f"could not start the ZooKeeper ensemble: {p.stderr.strip()[-500:]}")
        if extra_config:
            self.stop()
            for i in range(1, self.size + 1):
                with open(os.path.join(self.dir, f"zk{i}", "zoo.cfg"), "a") as f:
                    f.write("".join(line + "\n" for line in extra_config))
            self.startmany(range(1, self.size + 1))
        with open(os.path.join(self.dir, "connect")) as f:
            self.connect = f.read().strip()
        self.ports = [int(hp.rsplit(":", 1)[1]) for hp in self.connect.split(",")]

    def pid(self, i):
        try:
            with open(os.path.join(self.dir, f"zk{i}", "pid")) as f:
                return int(f.read().strip())
        except (OSError, ValueError):
            return None

    def alive(self, i):
        """Server i's recorded pid runs this ensemble's config (a recycled pid is not ours)."""
        pid = self.pid(i)
        return bool(pid) and pid_alive(pid) and os.path.join(self.dir, f"zk{i}", "zoo.cfg") in cmdline(pid)

    def mode(self, i):
        if not self.alive(i):
            return "down"
        return server_mode(self.ports[i - 1]) or "not serving"

    def modes(self):
        return [self.mode(i) for i in range(1, self.size + 1)]

    def serving(self):
        modes = self.modes()
        return modes == ["standalone"] or (all(m in ("leader", "follower") for m in modes)
                                           and modes.count("leader") == 1)

    def wait_serving(self, timeout=30):
        """The time.time() at which the ensemble serves, or None after `timeout`."""
        return wait_until(lambda: self.serving() and time.time(), timeout)

    def signal(self, i, sig, check=True):
        p = self.script("kill", self.dir, str(i), sig, timeout=10)
        if check and p.returncode != 0:
            raise SuiteError(f"zk-ensemble kill zk{i} {sig}: {p.stderr.strip()}")

    def startone(self, i):
        self.startmany([i])

    def startmany(self, servers):
        """Starts the servers of `servers` again, at once; waits for each to listen."""
        procs = []
        for i in servers:
            p = subprocess.Popen(["bash", SCRIPT, "startone", self.dir, str(i)], stdin=subprocess.DEVNULL,
                                 stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                                 start_new_session=True)
            PROCS.add(p.pid, "zk-ensemble startone", p)
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

    def stop(self):
        if not self.started or not os.path.isfile(os.path.join(self.dir, "size")):
            return
        for i in range(1, self.size + 1):  # a SIGSTOPped server would not see SIGTERM
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
        """zkCli (ZooKeeperMain) against the ensemble, as an operator runs it."""
        return PROCS.run(["java", "-Xshare:auto", "-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC", "-Xmx64m",
                          "-cp", CLASSPATH, "org.apache.zookeeper.ZooKeeperMain", "-server", self.connect, *args],
                         timeout=timeout)
