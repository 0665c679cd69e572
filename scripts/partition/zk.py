"""The ZooKeeper ensemble: three servers (Debian's `zookeeper` package, as
scripts/zk-ensemble.sh runs it), each in its own namespace on its own address,
tickTime 500 ms and the round's syncLimit. A fresh data directory for every
syncLimit setting.

The servers run as root: their data directories then need no chown and the
namespaces' ports no care, and they are not the system under test (the
daemons are, and they run unprivileged)."""

import os
import re
import socket
import time

from .common import (
    JAVA_OPTS, PROCS, TICK_MS, ZK_CLASSPATH, ZK_HOSTS, ZK_PORT, SuiteError, addr, pid_alive, say,
)


class Ensemble:
    def __init__(self, net, work, sync):
        self.net = net
        self.sync = sync
        self.dir = os.path.join(work, f"zk-sync{sync}")
        self.procs = {}  # host -> Popen
        self.starts = {h: 0 for h in ZK_HOSTS}

    def configure(self):
        servers = "".join(f"server.{i}={addr(h)}:2888:3888\n" for i, h in enumerate(ZK_HOSTS, 1))
        for i, h in enumerate(ZK_HOSTS, 1):
            d = os.path.join(self.dir, h)
            os.makedirs(os.path.join(d, "data"), exist_ok=True)
            with open(os.path.join(d, "data", "myid"), "w") as f:
                f.write(f"{i}\n")
            with open(os.path.join(d, "zoo.cfg"), "w") as f:
                f.write(
                    f"tickTime={TICK_MS}\ninitLimit=10\nsyncLimit={self.sync}\n"
                    f"dataDir={d}/data\nclientPort={ZK_PORT}\nclientPortAddress={addr(h)}\n"
                    "admin.enableServer=false\n4lw.commands.whitelist=*\n" + servers
                )

    def start(self):
        self.configure()
        for h in ZK_HOSTS:
            self.startone(h)
        if not self.wait_serving(60):
            raise SuiteError(f"ZooKeeper (syncLimit {self.sync}) not serving after 60 s: {self.modes()}")

    def startone(self, h):
        d = os.path.join(self.dir, h)
        self.starts[h] += 1
        cmd = self.net.exec_prefix(h) + [
            "java", *JAVA_OPTS, "-cp", ZK_CLASSPATH, f"-Dzookeeper.log.dir={d}",
            "org.apache.zookeeper.server.quorum.QuorumPeerMain", os.path.join(d, "zoo.cfg"),
        ]
        self.procs[h] = PROCS.spawn(cmd, f"zookeeper {h}", os.path.join(d, "zk.log"))

    def alive(self, h):
        p = self.procs.get(h)
        return p is not None and p.poll() is None and pid_alive(p.pid)

    def kill(self, h):
        p = self.procs.get(h)
        if p is not None and p.poll() is None:
            p.kill()
            p.wait(10)

    def stop(self):
        for h in ZK_HOSTS:
            p = self.procs.get(h)
            if p is not None:
                PROCS.end(p, term_wait=5)

    def mode(self, h):
        if not self.alive(h):
            return "down"

        def ask():
            with socket.create_connection((addr(h), ZK_PORT), timeout=1) as s:
                s.settimeout(1)
                s.sendall(b"srvr")
                data = b""
                while True:
                    chunk = s.recv(4096)
                    if not chunk:
                        return data
                    data += chunk

        try:
            data = self.net.call_in(h, ask, timeout=3)
        except (OSError, TimeoutError):
            return "not serving"
        m = re.search(rb"Mode: (\w+)", data)
        return m.group(1).decode() if m else "not serving"

    def modes(self):
        return {h: self.mode(h) for h in ZK_HOSTS}

    def leader(self):
        ls = [h for h, m in self.modes().items() if m == "leader"]
        return ls[0] if len(ls) == 1 else None

    def serving(self):
        m = list(self.modes().values())
        return all(x in ("leader", "follower") for x in m) and m.count("leader") == 1

    def wait_serving(self, timeout):
        end = time.time() + timeout
        while time.time() < end:
            if self.serving():
                return True
            time.sleep(0.2)
        return False

    def restore(self):
        """Every server running and the ensemble serving (after a fault that
        killed one)."""
        for h in ZK_HOSTS:
            if not self.alive(h):
                say(f"  restarting {h}")
                self.startone(h)
        return self.wait_serving(60)
