"""The suite: sets up the topology, runs every selected fault kind ROUNDS
times (each against a steady cluster: one working leader, the others
candidates), restores and verifies after each, and tears everything down.
Before a kind of the supervised command (supervised.py) the replicas are
restarted, gracefully, with that command; at the end every command must be gone
and the children's stamps of the whole run must show no two alive at once."""

import os
import signal
import time

from harness import SuiteError, say
from harness.proxy import ProxyHub
from harness.workload import Workload, sweep
from harness.zk import Ensemble

from .common import FOREIGN, FOREIGN_TEXT, POLL, REPLICAS, ZK_SERVERS
from .faults import select
from .observation import Observations, Poller
from .report import Result
from .topology import Replica, mount_tmpfs


class Chaos(Observations):
    """Three replicas behind their proxies against a ZooKeeper ensemble; runs
    the selected fault kinds, each ROUNDS times, and keeps their Results."""

    def __init__(self, binary, rounds, work):
        self.binary = binary
        self.rounds = rounds
        self.work = work
        self.proxy = None
        self.zk = Ensemble(os.path.join(work, "zk"), ZK_SERVERS)
        self.replicas = [Replica(work, i, binary) for i in range(1, REPLICAS + 1)]
        self.poller = Poller(self.replicas)
        self.seen_violations = set()
        self.results = []
        self.workload = Workload(work)
        self.variant = None  # the supervised command the replicas run now

    # -- setup / teardown --

    def setup(self):
        for sub in ("files", "archive", "logs"):
            os.makedirs(os.path.join(self.work, sub), exist_ok=True)
        for r in self.replicas:
            os.makedirs(r.dir, exist_ok=True)
            os.makedirs(r.archive, exist_ok=True)
            mount_tmpfs(r.dir)
            with open(os.path.join(r.dir, FOREIGN), "wb") as f:
                f.write(FOREIGN_TEXT)
        say(f"starting a {ZK_SERVERS}-server ZooKeeper ensemble in {self.zk.dir}")
        self.zk.start(attempts=2)
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

    def by_name(self, name):
        return next(r for r in self.replicas if r.name == name)

    def restore_replicas(self, res):
        for r in self.replicas:
            if not r.alive():
                rc = r.proc.returncode if r.proc else None
                if r.proc is not None and not getattr(r, "expected_exit", False):
                    res.failures.append(f"{r.name} exited unexpectedly (status {rc})")
                    self.collect_log(res, r, 0, f"{r.name}.{r.incarnation} log (exited)")
                r.expected_exit = False
                r.start()

    # -- the run --

    def run(self, selected):
        faults = select(selected)
        s = self.wait_steady(60)
        if not s:
            raise SuiteError("no steady leader after start: " + "; ".join(f"{r.name}={r.state()}" for r in self.replicas))
        say(f"steady: {s[0]} leads with token {s[1]}")
        total = len(faults)
        for n, f in enumerate(faults, 1):
            key, label, fn = f.key, f.label, f.run
            for rnd in range(1, self.rounds + 1):
                res = Result(key, rnd)
                res.variant = f.variant
                self.results.append(res)
                self.configure(f.variant)
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
                    + f"; violations {len(res.violations)}, late appearances {len(res.late)}, zombies {len(res.zombies)}"
                    + (f"; overlaps {len(res.overlaps)}"
                       + (f" (longest {res.longest_overlap() * 1000:.0f} ms)" if res.longest_overlap() else "")
                       + ", handover gaps "
                       + ", ".join(f"{g * 1000:.0f}" for g in res.gaps[:12]) + " ms"
                       + (f", old child's last sign {res.child_stop:.3f}s after the fault" if res.child_stop is not None else "")
                       + (f", churn {res.churn['starts']} starts / {res.churn['candidates_created']} candidates" if res.churn else "")
                       + f", leftovers {len(res.leftovers)}" if f.variant else "")
                    + "".join(f"; MISSED {m}" for m in res.missed)
                    + "".join(f"; FAIL {x}" for x in res.failures)
                )
                for v in res.violations + res.late + res.zombies + res.overlaps + res.leftovers:
                    say(f"     {v}")

    def configure(self, variant):
        """Restarts the replicas (gracefully) with the supervised command
        `variant` (None: without a command) unless they run it already."""
        if variant == self.variant:
            return
        if variant:
            self.workload.setup()
            self.workload.set_mode("normal")
        say(f"restarting the replicas with {'command ' + variant if variant else 'no command'}")
        for r in self.replicas:
            r.expected_exit = True
            r.stop()
        for r in self.replicas:
            r.expected_exit = False
            r.command = self.workload.command(variant) if variant else None
            r.start()
        # Only files of the new processes count toward a steady leader: one that
        # leads again at once must not pass for steady on its old files.
        self.steady_after = time.time()
        self.variant = variant

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
        self.steady_after = time.time()

    def final_checks(self):
        res = Result("final", 0)
        for r in self.replicas:
            try:
                with open(os.path.join(r.dir, FOREIGN), "rb") as f:
                    if f.read() != FOREIGN_TEXT:
                        res.failures.append(f"{r.name}/{FOREIGN} changed")
            except OSError as e:
                res.failures.append(f"{r.name}/{FOREIGN} gone: {e}")
        if self.workload.ready:
            self.final_command_checks(res)
        time.sleep(2 * POLL)
        self.check_appearances(res)  # files seen since the last fault's check
        res.failures += [f"late appearance: {m}" for m in res.late]
        return res

    def final_command_checks(self, res):
        """Every replica stopped (gracefully): no command process may be left
        (pgrep by the scripts' paths, and every process carrying this run's
        mark), and the stamps of the whole run show no two children at once."""
        for r in self.replicas:
            r.expected_exit = True
            r.stop()
        wl = self.workload
        end = time.time() + 3.0  # zombies of orphans wait for PID 1 to reap them
        while True:
            left = [p for p in wl.processes() if p.live()]
            found = wl.pgrep()
            if not (left or found) or time.time() >= end:
                break
            time.sleep(0.1)
        res.failures += [f"left after the suite: {p}" for p in left]
        res.failures += [f"left after the suite (pgrep -f): {ln}" for ln in found if not any(str(p.pid) == ln.split()[0] for p in left)]
        kids = wl.children()
        handovers, overlaps = sweep(kids)
        res.failures += [f"overlap: {o}" for o in overlaps]
        unended = [c.name() for c in kids if not c.ended() and not c.ignored]
        res.notes["command children"] = len(kids)
        res.notes["command handovers"] = len(handovers)
        res.notes["killed without a stop stamp"] = unended
        say(f"supervised command: {len(kids)} children in the whole run, {len(overlaps)} overlaps, "
            f"{len(left) + len(found)} processes left after the suite")
