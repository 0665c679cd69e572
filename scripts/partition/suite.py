"""The run: the network, the forwarders, and for every syncLimit setting a
fresh ensemble; for every fault x round a fresh set of replicas (new file
directories, new sessions, a new stamps log), a steady leader, the fault,
and the checks:

  overlaps   from the commands' own stamps (harness.workload.sweep): a command
             that started before another's last sign of life, or found another
             command's process alive at its start. Zero tolerance.
  verify     `election verify` over the three live file directories (with
             --capacity), after the replicas stopped.
  takeover   after the heal, a working leader: a replica with a file that
             appeared after the heal and its command running (stamped within
             300 ms) with that file's token, within session timeout + 2 s.
  gap        while the fault lasts, the longest stretch with no command
             running anywhere (the other two replicas have healthy links in
             every fault): at most 2 x session timeout + 2 s.
  left       after the replicas' graceful stop: no process carrying the round's
             mark (daemon, watchdog, command); after every heal: no nft table
             in any namespace."""

import os
import signal
import time
from types import SimpleNamespace

from harness import SuiteError, mono_ns, say
from harness.proc import PYTHON, cmdline, pid_alive
from harness.files import election_files, token_of, verify
from harness.workload import Workload, sweep

from .common import (
    CAPACITY, DEADLINE, DELAY_GAP_EXTRA, GAP_LIMIT, GIVE_UP, REPLICA_HOSTS, SETTLE, STEADY_TIMEOUT, ZK_HOSTS,
)
from .netns import Network
from .replicas import Forwarder, Replica
from .report import Result
from .zk import Ensemble


class Suite:
    def __init__(self, binary, work, rounds, faults, syncs):
        self.binary = binary
        self.work = work
        self.rounds = rounds
        self.faults = faults
        self.syncs = syncs
        self.net = Network(work)
        self.forwarders = {h: Forwarder(self.net, work, h) for h in REPLICA_HOSTS}
        self.replicas = [Replica(self.net, h, binary, self.forwarders[h]) for h in REPLICA_HOSTS]
        self.zk = None
        self.results = []
        self.workloads = []  # every round's Workload (the cleanup scans their marks)

    # -- setup / teardown --

    def setup(self):
        say(f"network: namespaces {self.net.tag}-{{br,zk1-3,r1-3}}, subnet 10.213.0.0/24, no route out")
        self.net.create()
        for f in self.forwarders.values():
            f.start()
        time.sleep(0.3)
        dead = [h for h, f in self.forwarders.items() if not f.alive()]
        if dead:
            raise SuiteError(f"forwarder(s) {dead} exited; see {self.work}/fwd/")

    def cleanup(self):
        for r in self.replicas:
            r.terminate()
        for r in self.replicas:
            try:
                r.stop(timeout=5, signalled=True)
            except Exception as e:
                say(f"warning: stopping {r.name}: {e}")
        if self.zk:
            self.zk.stop()

    def by_name(self, name):
        return next(r for r in self.replicas if r.name == name)

    # -- the run --

    def run(self):
        for sync in self.syncs:
            self.zk = Ensemble(self.net, self.work, sync)
            say(f"ZooKeeper: syncLimit {sync} (x tick 500 ms = {sync * 0.5:g} s); starting 3 servers")
            t = time.time()
            self.zk.start()
            say(f"ZooKeeper serving after {time.time() - t:.1f}s: {self.zk.modes()}")
            for f in self.faults:
                for rnd in range(1, self.rounds + 1):
                    res = Result(f.key, f.label, sync, rnd)
                    self.results.append(res)
                    try:
                        self.round(f, res)
                    except BaseException as e:
                        res.failures.append(f"round not completed: {e!r}")
                        raise
                    res.log()
            self.zk.stop()
            self.zk = None

    def round(self, f, res):
        rdir = os.path.join(self.work, "rounds", f"sync{res.sync}-{f.key}-{res.round}")
        os.makedirs(rdir)
        os.chmod(rdir, 0o755)
        wl = Workload(rdir)
        wl.python = PYTHON  # run by user nobody
        wl.setup()
        os.chmod(wl.dir, 0o755)
        os.chmod(wl.log, 0o666)  # every replica's command (user nobody) appends to it
        self.workloads.append(wl)
        dead = [h for h, fw in self.forwarders.items() if not fw.alive()]
        if dead:
            raise SuiteError(f"forwarder(s) of {dead} exited; see {self.work}/fwd/")
        if not self.zk.restore():
            raise SuiteError(f"ZooKeeper not serving before the round: {self.zk.modes()}")
        ctx = self.start_steady(f, res, rdir, wl)
        say(f"[sync {res.sync} {f.key} round {res.round}] {f.label}: leader {ctx.leader} "
            f"(token {ctx.token}) on {ctx.server} ({ctx.server_mode}), ZK leader {ctx.zk_leader}")
        t_fault, t_heal = f.run(self, ctx)
        res.fault_s = round((t_heal - t_fault) / 1e9, 2)
        res.notes.update(ctx.notes)
        self.check_takeover(res, wl, t_heal)
        left = self.net.tables()
        if left:
            res.leftovers += [f"nft after the heal: {t}" for t in left]
        time.sleep(SETTLE)
        self.stop_replicas(res)
        self.check_left(res, wl)
        self.verify(res)
        self.check_stamps(res, wl, t_fault, t_heal)
        if not all(self.zk.alive(h) for h in ZK_HOSTS):
            res.notes["ZooKeeper restarted after the round"] = [h for h in ZK_HOSTS if not self.zk.alive(h)]

    def place(self, placement):
        """Through the forwarders: every replica's new sessions go to the
        placement's servers only."""
        modes = self.zk.modes()
        if placement == "follower":
            refuse = [i for i, h in enumerate(ZK_HOSTS, 1) if modes[h] == "leader"]
        elif placement == "zk-leader":
            refuse = [i for i, h in enumerate(ZK_HOSTS, 1) if modes[h] != "leader"]
        else:
            refuse = []
        for fw in self.forwarders.values():
            fw.set(refuse=refuse)
        return modes

    def start_steady(self, f, res, rdir, wl):
        """Starts the replicas and waits for a steady cluster: every server
        serving, one replica leading with its command running for 1 s and
        files appearing, the other two candidates (Attempter), the leader's
        session on one server that fits the fault's placement."""
        for attempt in (1, 2, 3):
            self.place(f.placement)
            for r in self.replicas:
                r.start(rdir, wl)
            ctx = self.wait_steady(wl, f.placement)
            for fw in self.forwarders.values():
                fw.set()  # placement done: reconnects go anywhere again
            if ctx:
                res.leader = ctx.leader
                res.server = f"{ctx.server} ({ctx.server_mode})"
                res.zk_leader = ctx.zk_leader
                return ctx
            res.setup_retries += 1
            say(f"  not steady (attempt {attempt}): states "
                + ", ".join(f"{r.name}={r.state()} on {r.servers()}" for r in self.replicas)
                + f"; ZooKeeper {self.zk.modes()}; restarting the replicas")
            for r in self.replicas:
                res.evidence[f"{r.name} log (not steady, attempt {attempt})"] = r.tail(30)
                r.terminate()
            for r in self.replicas:
                r.stop(timeout=5, signalled=True)
            if not self.zk.restore():
                break
        raise SuiteError("no steady cluster after three starts of the replicas")

    def wait_steady(self, wl, placement):
        end = time.time() + STEADY_TIMEOUT
        counts = {}
        while time.time() < end:
            time.sleep(0.2)
            if not all(r.alive() for r in self.replicas):
                return None
            running = [c for c in (wl.running(r.name, within=0.3) for r in self.replicas) if c]
            if len(running) != 1:
                continue
            c = running[0]
            if (mono_ns() - c.start) / 1e9 < 1.0:
                continue
            leader = self.by_name(c.replica)
            n = len(election_files(leader.dir))
            grew = n > counts.get(leader.name, n)
            counts = {leader.name: n}
            if not grew:
                continue
            if leader.state() != "Leader" or any(r.state() != "Attempter" for r in self.replicas if r is not leader):
                continue
            servers = leader.servers()
            if len(servers) != 1:
                continue
            modes = self.zk.modes()
            if sorted(modes.values()) != ["follower", "follower", "leader"]:
                continue
            server = servers[0]
            if placement == "follower" and modes[server] != "follower":
                return None
            if placement == "zk-leader" and modes[server] != "leader":
                return None
            z = next(h for h, m in modes.items() if m == "leader")
            return SimpleNamespace(leader=leader.name, token=c.token, server=server, server_mode=modes[server],
                                   zk_leader=z, notes={})
        return None

    # -- checks --

    def check_takeover(self, res, wl, t_heal):
        before = {r.name: set(election_files(r.dir)) for r in self.replicas}
        end = time.monotonic() + GIVE_UP
        while time.monotonic() < end:
            for r in self.replicas:
                new = set(election_files(r.dir)) - before[r.name]
                for tok in {token_of(n) for n in new}:
                    if wl.running(r.name, tok, within=0.3):
                        res.takeover_s = round((mono_ns() - t_heal) / 1e9, 3)
                        res.leader_after = f"{r.name} token {tok}"
                        if res.takeover_s > DEADLINE:
                            res.failures.append(f"working leader {res.takeover_s:.2f}s after the heal (> {DEADLINE:g}s)")
                        return
            time.sleep(0.05)
        res.failures.append(f"no working leader within {GIVE_UP:g}s of the heal")

    def stop_replicas(self, res):
        died = set()
        for r in self.replicas:
            if not r.alive():
                died.add(r.name)
                res.failures.append(f"{r.name} exited during the round (status {r.proc.returncode})")
        for r in self.replicas:  # all at once: no handovers between graceful stops
            r.terminate()
        for r in self.replicas:
            rc = r.stop(timeout=8, signalled=True)
            if r.name in died:
                continue
            if rc is None:
                res.failures.append(f"{r.name} ignored SIGTERM for 8 s (killed)")
            elif rc != 0:
                res.failures.append(f"{r.name} exit status {rc} after SIGTERM")
        if not res.ok():
            for r in self.replicas:
                res.evidence.setdefault(f"{r.name} log", r.tail(60))

    def check_left(self, res, wl):
        """After the graceful stop: no process carrying the round's mark, and
        none in a replica's namespace but its forwarder (every process there
        is the suite's: it is ended)."""
        fwd = {fw.proc.pid for fw in self.forwarders.values() if fw.proc}
        end = time.time() + 3.0  # orphans' zombies wait for PID 1 to reap them
        while True:
            marked = [p for p in wl.processes() if p.live()]
            in_ns = [(h, pid) for h in REPLICA_HOSTS for pid in self.net.processes(h)
                     if pid not in fwd and pid_alive(pid) and pid not in {p.pid for p in marked}]
            if not (marked or in_ns) or time.time() >= end:
                break
            time.sleep(0.1)
        for p in marked:
            res.leftovers.append(f"process {p}")
        for h, pid in in_ns:
            res.leftovers.append(f"process {pid} in {h}'s namespace: {cmdline(pid)[:160] or '?'}")
        for pid in [p.pid for p in marked] + [pid for _, pid in in_ns]:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass

    def verify(self, res):
        dirs = [r.dir for r in self.replicas]
        p, report = verify(self.binary, dirs, CAPACITY)
        if report is None:
            raise SuiteError(f"election verify exit {p.returncode}: {p.stdout.strip()[-300:]} {p.stderr.strip()[-300:]}")
        res.violations = report.get("violations", [])
        res.files = report.get("files")

    def check_stamps(self, res, wl, t_fault, t_heal):
        kids = wl.children()
        res.children = len(kids)
        _, msgs = sweep(kids)
        res.overlaps = msgs
        longest = 0.0
        for i, a in enumerate(kids):
            for b in kids[i + 1:]:
                o = min(a.last, b.last) - max(a.start, b.start)
                if o > 0:
                    longest = max(longest, o / 1e6)
                    res.overlap_pairs.append(
                        f"{a.name()} [{(a.start - t_fault) / 1e9:+.3f}s, {(a.last - t_fault) / 1e9:+.3f}s] and "
                        f"{b.name()} [{(b.start - t_fault) / 1e9:+.3f}s, {(b.last - t_fault) / 1e9:+.3f}s] "
                        f"from the fault: {o / 1e6:.0f} ms together")
        res.longest_overlap_ms = round(longest, 1) if longest else (0.0 if msgs else None)
        # The longest stretch within [t_fault, t_heal] that no command covers.
        spans = sorted((c.start, c.last) for c in kids)
        gap, at = 0, t_fault
        for s, e in spans:
            if e <= at:
                continue
            if s > at:
                gap = max(gap, min(s, t_heal) - at)
            at = max(at, e)
            if at >= t_heal:
                break
        if at < t_heal:
            gap = max(gap, t_heal - at)
        res.gap_s = round(gap / 1e9, 3)
        limit = GAP_LIMIT + (DELAY_GAP_EXTRA if res.fault == "delay" else 0.0)
        if res.gap_s > limit:
            res.failures.append(f"no command ran for {res.gap_s:.2f}s while the fault lasted (> {limit:g}s)")
        res.handovers = [
            f"{c.replica} token {c.token} started {(c.start - t_fault) / 1e9:+.3f}s from the fault, "
            f"last sign {(c.last - t_fault) / 1e9:+.3f}s" + (" (stopped)" if c.stop else "")
            for c in kids
        ]
