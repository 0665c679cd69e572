"""The ZooKeeper ensemble: three servers (Debian's `zookeeper` package, as
scripts/zk-ensemble.sh runs it), each in its own namespace on its own address,
tickTime 500 ms and the round's syncLimit. A fresh data directory for every
syncLimit setting.

The servers run as root: their data directories then need no chown and the
namespaces' ports no care, and they are not the system under test (the
daemons are, and they run unprivileged)."""

import os

from harness import SuiteError, say, wait_until
from harness.proc import PROCS, pid_alive
from harness.zk import server_argv, server_mode, zoo_cfg

from .common import JAVA_OPTS, TICK_MS, ZK_HOSTS, ZK_PORT, addr


class Ensemble:
    def __init__(self, net, work, sync):
        self.net = net
        self.sync = sync
        self.dir = os.path.join(work, f"zk-sync{sync}")
        self.procs = {}  # host -> Popen
        self.starts = {h: 0 for h in ZK_HOSTS}

    def configure(self):
        servers = [f"server.{i}={addr(h)}:2888:3888" for i, h in enumerate(ZK_HOSTS, 1)]
        for i, h in enumerate(ZK_HOSTS, 1):
            d = os.path.join(self.dir, h)
            os.makedirs(os.path.join(d, "data"), exist_ok=True)
            with open(os.path.join(d, "data", "myid"), "w") as f:
                f.write(f"{i}\n")
            with open(os.path.join(d, "zoo.cfg"), "w") as f:
                f.write(zoo_cfg(f"{d}/data", ZK_PORT, addr(h), TICK_MS, self.sync, servers))

    def start(self):
        self.configure()
        for h in ZK_HOSTS:
            self.startone(h)
        if not self.wait_serving(60):
            raise SuiteError(f"ZooKeeper (syncLimit {self.sync}) not serving after 60 s: {self.modes()}")

    def startone(self, h):
        d = os.path.join(self.dir, h)
        self.starts[h] += 1
        cmd = self.net.exec_prefix(h) + server_argv(os.path.join(d, "zoo.cfg"), JAVA_OPTS, quorum=True)
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
                PROCS.end(p)

    def mode(self, h):
        if not self.alive(h):
            return "down"
        try:
            return self.net.call_in(h, lambda: server_mode(ZK_PORT, addr(h)), timeout=3) or "not serving"
        except (OSError, TimeoutError):
            return "not serving"

    def modes(self):
        return {h: self.mode(h) for h in ZK_HOSTS}

    def leader(self):
        ls = [h for h, m in self.modes().items() if m == "leader"]
        return ls[0] if len(ls) == 1 else None

    def serving(self):
        m = list(self.modes().values())
        return all(x in ("leader", "follower") for x in m) and m.count("leader") == 1

    def wait_serving(self, timeout):
        return bool(wait_until(self.serving, timeout, 0.2))

    def restore(self):
        """Every server running and the ensemble serving (after a fault that
        killed one)."""
        for h in ZK_HOSTS:
            if not self.alive(h):
                say(f"  restarting {h}")
                self.startone(h)
        return self.wait_serving(60)
