"""The harness: one ZooKeeper, replicas of one implementation at a time, and the
measurements, the same code path for election and for its peer.

An implementation is only a command line: both take the same flags (replica id,
servers, election path, file dir, leader timeout, session timeout, capacity),
write the same files and log their transitions in the same logfmt shape, so
every figure is read the same way: times from the files themselves (each carries
the wall-clock ms at which it was written, compared with the moment the signal
was sent), states from `msg=transition … to=STATE` lines, watch wake-ups from
`predecessor gone` lines, packets from ZooKeeper's mntr, CPU from a cgroup per
replica, memory from /proc/PID/smaps.
"""

import calendar
import json
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import time

from . import memory

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FILE_RE = re.compile(r"^election-(\d{19})-(\d{10})\.json$")


def log(message):
    print(f"bench: {message}", file=sys.stderr, flush=True)


def now_ms():
    return time.time() * 1000.0


class Implementation:
    def __init__(self, key, label, argv, executable, can_resume):
        self.key, self.label, self.argv, self.executable = key, label, argv, executable
        self.can_resume = can_resume  # crash-restart resumes the session (election's state file)


class Bench:
    def __init__(self, work, zk_dir, tick_ms, impl, flags, session_timeout, cpu, verifier):
        self.work, self.zkdir, self.tick_ms, self.impl = work, zk_dir, tick_ms, impl
        self.flags, self.session_timeout, self.cpu, self.verifier = flags, session_timeout, cpu, verifier
        self.procs = {}  # replica id -> Popen
        self.paths = {}  # replica id -> election path
        self.extras = {}  # replica id -> extra flags (kept across restarts)
        self.pairs = []  # (old leader, new leader) of every failover round, in order
        self.connect = None

    # ---- ZooKeeper -------------------------------------------------------
    @staticmethod
    def zk(*args, tick_ms=None):
        env = dict(os.environ)
        if tick_ms is not None:
            env["ZK_TICK_TIME"] = str(tick_ms)
        return subprocess.run(["bash", os.path.join(ROOT, "scripts/zk-ensemble.sh"), *args],
                              check=True, capture_output=True, text=True, env=env).stdout

    def attach(self):
        with open(os.path.join(self.zkdir, "connect")) as f:
            self.connect = f.read().strip()
        self.zk_port = int(self.connect.rsplit(":", 1)[1])

    def mntr(self):
        with socket.create_connection(("127.0.0.1", self.zk_port), timeout=3) as s:
            s.sendall(b"mntr")
            data = b""
            while chunk := s.recv(65536):
                data += chunk
        stats = {}
        for line in data.decode().splitlines():
            parts = line.split("\t")
            if len(parts) == 2:
                stats[parts[0]] = parts[1]
        return stats

    def negotiated_session_timeout_ms(self):
        """What the server grants a 4 s request: clamped to 2-20 ticks."""
        return min(max(self.session_timeout * 1000, 2 * self.tick_ms), 20 * self.tick_ms)

    # ---- replicas --------------------------------------------------------
    def dir_of(self, rid):
        return os.path.join(self.work, "files", rid)

    def log_of(self, rid):
        return os.path.join(self.work, "logs", rid + ".log")

    def spawn(self, rid, path=None, cgroup=True, extra=None):
        """Starts replica `rid` in its own cgroup; a restart keeps its election path and
        its extra flags."""
        path = path or self.paths.get(rid, f"/bench-{self.impl.key}")
        self.paths[rid] = path
        if extra is not None:
            self.extras[rid] = list(extra)
        os.makedirs(os.path.dirname(self.log_of(rid)), exist_ok=True)
        out = open(self.log_of(rid), "a")
        proc = subprocess.Popen(
            [*self.impl.argv, "--zk-servers", self.connect, "--replica-id", rid, "--file-dir", self.dir_of(rid),
             "--election-path", path, *self.flags, *self.extras.get(rid, [])],
            stdout=out, stderr=out, stdin=subprocess.DEVNULL,
            preexec_fn=self.cpu.preexec(rid) if cgroup else None)
        out.close()
        self.procs[rid] = proc
        return proc

    def stop(self, rid, sig=signal.SIGTERM):
        proc = self.procs.get(rid)
        if proc and proc.poll() is None:
            proc.send_signal(sig)
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                log(f"{rid} ignored {sig.name} for 15 s; SIGKILL")
                proc.kill()
                proc.wait()

    def stop_all(self):
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        deadline = time.time() + 15
        for proc in self.procs.values():
            try:
                proc.wait(timeout=max(0.1, deadline - time.time()))
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        self.procs.clear()

    def files(self, rid):
        try:
            names = os.listdir(self.dir_of(rid))
        except FileNotFoundError:
            return []
        return sorted(n for n in names if FILE_RE.match(n))

    def newest(self, rid):
        names = self.files(rid)
        if not names:
            return None
        m = FILE_RE.match(names[-1])
        return int(m.group(1)), int(m.group(2)), names[-1]

    def written_at(self, rid, name):
        with open(os.path.join(self.dir_of(rid), name)) as f:
            content = json.load(f)
        t = time.strptime(content["time"][:19], "%Y-%m-%dT%H:%M:%S")
        return calendar.timegm(t) * 1000.0 + int(content["time"][20:23])

    def leader(self, rids, timeout=30):
        """The replica whose directory has the newest (highest-token) file and whose process lives."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            best = None
            for rid in rids:
                n = self.newest(rid)
                if n and self.procs[rid].poll() is None and (best is None or n[:2] > best[1][:2]):
                    best = (rid, n)
            if best:
                return best[0], best[1][0]
            time.sleep(0.01)
        raise RuntimeError("no leader")

    def wait_for_token_above(self, rids, token, timeout):
        """(replica, first name) of the first file with a token above `token`."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            for rid in rids:
                for name in self.files(rid):
                    if int(FILE_RE.match(name).group(1)) > token:
                        return rid, name
            time.sleep(0.005)
        raise RuntimeError(f"no new leader within {timeout}s")

    def wait_for_written(self, rid, token, seen, timeout):
        """First file `rid` writes that is not in `seen`, with a token >= `token` (resumed or new term)."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            for name in self.files(rid):
                if name not in seen and int(FILE_RE.match(name).group(1)) >= token:
                    return rid, name
            time.sleep(0.005)
        raise RuntimeError("restarted replica wrote nothing")

    def wait_steady(self, rids, timeout=30):
        """Every replica up and past Init; one leader writing."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            states = [self.state(r) for r in rids]
            if states.count("Leader") == 1 and all(s in ("Leader", "Attempter") for s in states):
                return
            time.sleep(0.05)
        raise RuntimeError(f"not steady: {[self.state(r) for r in rids]}")

    def state(self, rid):
        try:
            with open(self.log_of(rid)) as f:
                lines = [line for line in f if "msg=transition" in line]
        except FileNotFoundError:
            return None
        if not lines:
            return None
        m = re.search(r" to=(\w+)", lines[-1])
        return m.group(1) if m else None

    def wakeups(self, rids):
        total = 0
        for rid in rids:
            try:
                with open(self.log_of(rid)) as f:
                    total += sum(1 for line in f if "predecessor gone" in line)
            except FileNotFoundError:
                pass
        return total

    # ---- measurements ----------------------------------------------------
    def failover_rounds(self, rids, sig, rounds, restart_same=False, label=""):
        times, restart_times, wakes = [], [], []
        for i in range(rounds):
            self.wait_steady(rids)
            old, token = self.leader(rids)
            before = self.wakeups(rids)
            # At a random phase of the server's tick (sessions expire on tick boundaries)
            # and of the leader's 1 s write cycle: rounds that follow one another at a
            # fixed pace would otherwise all hit the same phase and the same bucket.
            time.sleep(0.3 + random.uniform(0, max(self.tick_ms / 1000.0, 1.0)))
            seen = set(self.files(old))
            t0 = now_ms()
            self.procs[old].send_signal(sig)
            limit = self.negotiated_session_timeout_ms() / 1000 + self.tick_ms / 1000 + 10
            if restart_same:
                self.procs[old].wait()
                t_restart = now_ms()
                self.spawn(old)
                rid, name = self.wait_for_written(old, token, seen, timeout=limit)
                restart_times.append(self.written_at(rid, name) - t_restart)
            else:
                rid, name = self.wait_for_token_above([r for r in rids if r != old], token, timeout=limit)
            times.append(self.written_at(rid, name) - t0)
            self.pairs.append((old, rid))
            if not restart_same:
                self.procs[old].wait()
                time.sleep(0.2)
                wakes.append(self.wakeups(rids) - before)
                self.spawn(old)
            log(f"{self.impl.key} tick {self.tick_ms}: {label} round {i + 1}/{rounds}: "
                f"{times[-1]:.1f} ms ({old} -> {rid})")
        return times, restart_times, wakes

    def start_rounds(self, rounds):
        """Process start -> first file of a lone replica on a fresh election path."""
        times = []
        for i in range(rounds):
            rid = f"{self.impl.key}-start{i}"
            t0 = now_ms()
            self.spawn(rid, path=f"/bench-{self.impl.key}-start-{i}", cgroup=False)
            deadline = time.time() + 20
            while not self.files(rid):
                if time.time() > deadline:
                    raise RuntimeError(f"lone replica {rid} wrote nothing")
                time.sleep(0.002)
            times.append(self.written_at(rid, self.files(rid)[0]) - t0)
            self.stop(rid)
            del self.procs[rid]
        return times

    def at_rest(self, rids, seconds):
        """Packets, CPU and memory of a steady group, the window opened 2 s after it settled."""
        self.wait_steady(rids)
        time.sleep(2)
        pids = {r: self.procs[r].pid for r in rids}
        c0 = {r: self.cpu.seconds(r, pids[r]) for r in rids}
        m0 = self.mntr()
        t0 = time.time()
        time.sleep(seconds)
        m1 = self.mntr()
        elapsed = time.time() - t0
        c1 = {r: self.cpu.seconds(r, pids[r]) for r in rids}
        leader, _ = self.leader(rids)
        follower = next(r for r in rids if r != leader)
        rss, pss = {}, {}
        for r in rids:
            roll = memory.rollup(pids[r])
            rss[r], pss[r] = roll["Rss"] / 1024.0, roll["Pss"] / 1024.0
        received = (int(m1["zk_packets_received"]) - int(m0["zk_packets_received"])) / elapsed / len(rids)
        sent = (int(m1["zk_packets_sent"]) - int(m0["zk_packets_sent"])) / elapsed / len(rids)
        cpu_min = {r: (c1[r] - c0[r]) / elapsed * 60 for r in rids}
        return {
            "packets_received_per_s_per_replica": received, "packets_sent_per_s_per_replica": sent,
            "rss_mib": rss, "pss_mib": pss, "cpu_s_per_min": cpu_min, "cpu_method": self.cpu.method,
            "leader": leader, "seconds": elapsed,
            "memory_leader": memory.breakdown(pids[leader], self.impl.executable),
            "memory_follower": memory.breakdown(pids[follower], self.impl.executable),
            "binary_by_module_kib": memory.binary_by_module(pids[leader], self.impl.executable)
            if self.impl.key == "election" else None,
        }

    def verify(self, rids):
        out = subprocess.run([self.verifier, "verify", *[self.dir_of(r) for r in rids], "--capacity", "10", "--json"],
                             capture_output=True, text=True)
        try:
            return json.loads(out.stdout)
        except ValueError:
            return {"violations": [f"verify printed no JSON (exit {out.returncode}): {out.stderr.strip()[:200]}"]}


def cleanup_dir(path):
    if os.environ.get("KEEP") != "1":
        shutil.rmtree(path, ignore_errors=True)
    else:
        log(f"kept {path}")
