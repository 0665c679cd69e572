"""The replicas and their forwarders. Each replica is `election run ... --
CMD` (CMD: the harness's stamping stand-in, scripts/harness/workload.py) in
its own namespace, unprivileged (setpriv to nobody, no capabilities, no new
privileges), with its own --file-dir; it reaches the servers through the
forwarder in its namespace (forwarder.py), also unprivileged."""

import json
import os
import shutil
import signal
import subprocess

from harness import replica
from harness.proc import PROCS, PYTHON, UNPRIVILEGED, chown_nobody

from .common import ATTEMPTER_TIMEOUT, CAPACITY, FWD_BASE, LEADER_TIMEOUT, SESSION, STOP_TIMEOUT, ZK_HOSTS, ZK_PORT, addr

FORWARDER_SRC = os.path.join(os.path.dirname(os.path.abspath(__file__)), "forwarder.py")


class Forwarder:
    def __init__(self, net, work, host):
        self.net = net
        self.host = host
        self.dir = os.path.join(work, "fwd")
        self.conf = os.path.join(self.dir, f"{host}.json")
        self.log = os.path.join(self.dir, f"{host}.log")
        self.proc = None

    def start(self):
        os.makedirs(self.dir, exist_ok=True)
        os.chmod(self.dir, 0o755)
        script = os.path.join(self.dir, "forwarder.py")
        if not os.path.exists(script):
            shutil.copy(FORWARDER_SRC, script)
            os.chmod(script, 0o644)
        self.set()
        routes = ",".join(f"{FWD_BASE + i}={addr(h)}:{ZK_PORT}" for i, h in enumerate(ZK_HOSTS, 1))
        cmd = self.net.exec_prefix(self.host) + UNPRIVILEGED + [PYTHON, "-S", script, self.conf, routes]
        self.proc = PROCS.spawn(cmd, f"forwarder {self.host}", self.log)

    def set(self, delay_ms=0, jitter_ms=0, refuse=()):
        tmp = self.conf + ".tmp"
        with open(tmp, "w") as f:
            json.dump({"delay_ms": delay_ms, "jitter_ms": jitter_ms, "refuse": sorted(refuse)}, f)
        os.chmod(tmp, 0o644)
        os.replace(tmp, self.conf)

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def connect_string(self):
        return ",".join(f"127.0.0.1:{FWD_BASE + i}" for i in range(1, len(ZK_HOSTS) + 1))


class Replica(replica.Replica):
    def __init__(self, net, host, binary, forwarder):
        flags = ["--leader-timeout", replica.ms(LEADER_TIMEOUT), "--attempter-timeout", replica.ms(ATTEMPTER_TIMEOUT),
                 "--session-timeout", replica.ms(SESSION), "--storage-capacity", str(CAPACITY),
                 "--exec-stop-timeout", replica.ms(STOP_TIMEOUT), "--on-exit", "resign", "--log-level", "info"]
        super().__init__(host, net.exec_prefix(host) + UNPRIVILEGED + [binary, "run"], forwarder.connect_string(),
                         None, None, flags)
        self.net = net
        self.fwd = forwarder

    def start(self, round_dir, workload):
        self.dir = os.path.join(round_dir, "files", self.name)
        os.makedirs(self.dir, exist_ok=True)
        chown_nobody(self.dir)
        self.log_path = os.path.join(round_dir, "logs", f"{self.name}.log")
        os.makedirs(os.path.dirname(self.log_path), exist_ok=True)
        self.command = workload.command("stamper")
        # The run's mark (CHAOS_WORK=<round dir>) reaches the daemon, its
        # watchdog and its command: workload.processes() finds them by it.
        self.env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "CHAOS_WORK": workload.work}
        super().start()

    def terminate(self):
        """SIGTERM, as an operator would (once: a second one makes the daemon
        exit at once)."""
        if self.alive():
            try:
                os.kill(self.proc.pid, signal.SIGTERM)
            except OSError:
                pass

    def stop(self, timeout=8.0, signalled=False):
        """SIGTERM (unless `signalled`: sent already), SIGKILL after `timeout`.
        Returns the exit status; None if it had to be killed."""
        if self.proc is None:
            return None
        if self.proc.poll() is not None:
            return self.proc.returncode
        if not signalled:
            self.terminate()
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            PROCS.end(self.proc, ((signal.SIGTERM, 0.1),))
            return None

    def servers(self):
        """The ZooKeeper hosts this replica's namespace has an established
        connection to (its forwarder's upstream)."""
        from .netns import established

        if not self.alive():
            return []
        ips = established(self.proc.pid, ZK_PORT)
        return sorted(h for h in ZK_HOSTS if addr(h) in ips)
