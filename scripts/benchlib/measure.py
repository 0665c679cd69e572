"""The measurements: one ZooKeeper, replicas of one implementation at a time
(the harness's replicas, scripts/harness/), the same code path for election
and for its peers.

An implementation is only a command line: both take the same flags (replica id,
servers, election path, file dir, leader timeout, session timeout, capacity),
write the same files and log their transitions in the same logfmt shape, so
every figure is read the same way: times from the files themselves (each carries
the wall-clock ms at which it was written, compared with the moment the signal
was sent), states from `msg=transition … to=STATE` lines, watch notifications
and packets from ZooKeeper's mntr and cons, CPU from a cgroup per replica,
memory from /proc/PID/smaps.
"""

import json
import os
import random
import re
import shutil
import signal
import sys
import time

from harness import wait_until
from harness.net import four_letter
from harness.proc import PROCS, children, cmdline, end_all
from harness.files import FILE_RE, election_files, token_of, verify
from harness.replica import Replica, parse_time

from . import memory


def log(message):
    print(f"bench: {message}", file=sys.stderr, flush=True)


def now_ms():
    return time.time() * 1000.0


class Implementation:
    """One side: a command line that takes the shared flags. `guardian`: the leader
    has a guardian child process (election's watchdog) that closes the session when
    the daemon dies; `can_resume`: a restart on the same host resumes the session
    (election's state file). `prefix`: the first letter of its replica ids."""

    def __init__(self, key, label, argv, executable, can_resume, guardian=False, prefix=None, version=None):
        self.key, self.label, self.argv, self.executable = key, label, argv, executable
        self.can_resume = can_resume  # crash-restart resumes the session (election's state file)
        self.guardian = guardian
        self.prefix = prefix or key[0]
        self.version = version


# ---- ZooKeeper's four-letter words, and which replica owns which connection ----
def mntr(port):
    stats = {}
    for line in four_letter(port, "mntr").splitlines():
        parts = line.split("\t")
        if len(parts) == 2:
            stats[parts[0]] = parts[1]
    return stats


WATCH_KEYS = ("zk_sum_node_deleted_watch_count", "zk_sum_node_children_watch_count",
              "zk_sum_node_created_watch_count", "zk_sum_node_changed_watch_count")


def watch_notifications(stats):
    """Watches the server has fired so far (every kind): ZooKeeper's own count."""
    return sum(int(float(stats.get(k, 0))) for k in WATCH_KEYS)


CONS_RE = re.compile(r"/[\d.]+:(\d+)\[\d+\]\((.*)\)")


def connection_packets(port):
    """{client port: (packets received, packets sent)} of every client connection (`cons`)."""
    out = {}
    for line in four_letter(port, "cons").splitlines():
        m = CONS_RE.search(line)
        if not m:
            continue
        fields = dict(kv.split("=", 1) for kv in m.group(2).split(",") if "=" in kv)
        if "recved" in fields and "sent" in fields:
            out[int(m.group(1))] = (int(fields["recved"]), int(fields["sent"]))
    return out


def tcp_sockets(server_port):
    """{socket inode: local port} of this host's TCP connections to `server_port`."""
    out = {}
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(table) as f:
                next(f)
                for line in f:
                    parts = line.split()
                    local, remote, inode = parts[1], parts[2], int(parts[9])
                    if int(remote.rsplit(":", 1)[1], 16) == server_port:
                        out[inode] = int(local.rsplit(":", 1)[1], 16)
        except OSError:
            pass
    return out


def socket_inodes(pid):
    found = set()
    try:
        for fd in os.listdir(f"/proc/{pid}/fd"):
            try:
                link = os.readlink(f"/proc/{pid}/fd/{fd}")
            except OSError:
                continue
            if link.startswith("socket:["):
                found.add(int(link[8:-1]))
    except OSError:
        pass
    return found


class Bench:
    def __init__(self, work, zk, tick_ms, impl, flags, session_timeout, cpu, verifier):
        """On `zk` (a harness.zk.Ensemble of one server, running)."""
        self.work, self.tick_ms, self.impl = work, tick_ms, impl
        self.flags, self.session_timeout, self.cpu, self.verifier = flags, session_timeout, cpu, verifier
        self.procs = {}  # replica id -> Popen
        self.replicas = {}  # replica id -> harness Replica (of its latest start)
        self.paths = {}  # replica id -> election path
        self.extras = {}  # replica id -> extra flags (kept across restarts)
        self.pairs = []  # (old leader, new leader) of every failover round, in order
        self.connect, self.zk_port = zk.connect, zk.ports[0]

    def mntr(self):
        return mntr(self.zk_port)

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
        rep = Replica(rid, self.impl.argv, self.connect, self.dir_of(rid), self.log_of(rid),
                      ["--election-path", path, *self.flags, *self.extras.get(rid, [])],
                      preexec=self.cpu.preexec(rid) if cgroup else None)
        self.replicas[rid] = rep
        self.procs[rid] = rep.start()
        return self.procs[rid]

    def stop(self, rid, sig=signal.SIGTERM):
        proc = self.procs.get(rid)
        if proc and proc.poll() is None and PROCS.end(proc, ((sig, 15),)) is None:
            log(f"{rid} ignored {sig.name} for 15 s; SIGKILL")

    def stop_all(self):
        end_all(self.procs.values(), 15)
        self.procs.clear()

    def files(self, rid):
        return election_files(self.dir_of(rid))

    def newest(self, rid):
        names = self.files(rid)
        if not names:
            return None
        m = FILE_RE.match(names[-1])
        return int(m.group(1)), int(m.group(2)), names[-1]

    def written_at(self, rid, name):
        with open(os.path.join(self.dir_of(rid), name)) as f:
            return parse_time(json.load(f)["time"]) * 1000.0

    def leader(self, rids, timeout=30):
        """The replica whose directory has the newest (highest-token) file and whose process lives."""
        def best():
            found = [(n[:2], rid, n[0]) for rid in rids
                     if (n := self.newest(rid)) and self.procs[rid].poll() is None]
            return max(found)[1:] if found else None
        found = wait_until(best, timeout, 0.01)
        if not found:
            raise RuntimeError("no leader")
        return found

    def wait_for_token_above(self, rids, token, timeout):
        """(replica, first name) of the first file with a token above `token`."""
        found = wait_until(lambda: next(((rid, n) for rid in rids for n in self.files(rid) if token_of(n) > token),
                                        None), timeout, 0.005)
        if not found:
            raise RuntimeError(f"no new leader within {timeout}s")
        return found

    def wait_for_written(self, rid, token, seen, timeout):
        """First file `rid` writes that is not in `seen`, with a token >= `token` (resumed or new term)."""
        found = wait_until(lambda: next(((rid, n) for n in self.files(rid) if n not in seen and token_of(n) >= token),
                                        None), timeout, 0.005)
        if not found:
            raise RuntimeError("restarted replica wrote nothing")
        return found

    def wait_steady(self, rids, timeout=30):
        """Every replica up and past Init; one leader writing."""
        def steady():
            states = [self.state(r) for r in rids]
            return states.count("Leader") == 1 and all(s in ("Leader", "Attempter") for s in states)
        if not wait_until(steady, timeout):
            raise RuntimeError(f"not steady: {[self.state(r) for r in rids]}")

    def state(self, rid):
        rep = self.replicas.get(rid)
        return rep.state() if rep else None

    # ---- measurements ----------------------------------------------------
    def guardian(self, rid):
        """The pid of the leader daemon's guardian: its child whose argv holds ` watchdog `."""
        proc = self.procs.get(rid)
        if proc is None or not self.impl.guardian:
            return None
        return next((c for c in children(proc.pid) if " watchdog " in cmdline(c) + " "), None)

    def crash(self, rid, how):
        """Ends leader `rid`'s process as `how` says; returns the ms timestamp at which it
        stopped running. "term": SIGTERM (graceful); "process": SIGKILL of the daemon alone
        (its host, and so its guardian, lives); "host": the daemon and its guardian
        together (SIGSTOP the daemon, SIGKILL the guardian, SIGKILL the daemon), as when a
        machine or a whole container dies."""
        proc = self.procs[rid]
        if how == "term":
            t0 = now_ms()
            proc.send_signal(signal.SIGTERM)
            return t0
        if how == "process":
            t0 = now_ms()
            proc.send_signal(signal.SIGKILL)
            return t0
        guardian = self.guardian(rid)
        t0 = now_ms()
        proc.send_signal(signal.SIGSTOP)
        if guardian is not None:
            try:
                os.kill(guardian, signal.SIGKILL)
            except ProcessLookupError:
                pass
        proc.send_signal(signal.SIGKILL)
        return t0

    def failover_round(self, rids, how, restart_same=False, label=""):
        """One round: the leader ends as `how` says (crash()), at a random phase of the
        server's tick (sessions expire on tick boundaries) and of the leader's 1 s write
        cycle; returns {"ms", "old", "new", "notifications", "guardian"} and,
        for restart_same, "restart_ms" (the same replica restarted at once -> its file)."""
        self.wait_steady(rids)
        old, token = self.leader(rids)
        guardian = self.guardian(old)
        time.sleep(0.3 + random.uniform(0, max(self.tick_ms / 1000.0, 1.0)))
        seen = set(self.files(old))
        n0 = watch_notifications(self.mntr())
        t0 = self.crash(old, how)
        limit = self.negotiated_session_timeout_ms() / 1000 + self.tick_ms / 1000 + 10
        out = {"old": old, "guardian": guardian is not None}
        if restart_same:
            self.procs[old].wait()
            t_restart = now_ms()
            self.spawn(old)
            rid, name = self.wait_for_written(old, token, seen, timeout=limit)
            out["restart_ms"] = self.written_at(rid, name) - t_restart
        else:
            rid, name = self.wait_for_token_above([r for r in rids if r != old], token, timeout=limit)
        out["ms"] = self.written_at(rid, name) - t0
        out["new"] = rid
        self.pairs.append((old, rid))
        if not restart_same:
            self.procs[old].wait()
            time.sleep(0.2)
            out["notifications"] = watch_notifications(self.mntr()) - n0
            self.spawn(old)
        log(f"{self.impl.key} tick {self.tick_ms}: {label}: {out['ms']:.1f} ms ({old} -> {rid})")
        return out

    def pause_round(self, rids, pause_s, watch_s, label=""):
        """The leader's process SIGSTOPped for `pause_s` (past its session's expiry), then
        SIGCONTed and watched for `watch_s`: {"takeover_ms" (stop -> the next leader's
        first file, None if none came during the pause), "zombie_writes" (files of the
        old term that appeared after SIGCONT), "old", "new"}."""
        self.wait_steady(rids)
        old, token = self.leader(rids)
        time.sleep(0.3 + random.uniform(0, max(self.tick_ms / 1000.0, 1.0)))
        proc = self.procs[old]
        t0 = now_ms()
        proc.send_signal(signal.SIGSTOP)
        out = {"old": old, "new": None, "takeover_ms": None}
        try:
            rid, name = self.wait_for_token_above([r for r in rids if r != old], token, timeout=pause_s)
            out["new"], out["takeover_ms"] = rid, self.written_at(rid, name) - t0
        except RuntimeError:
            pass
        time.sleep(max(0.0, t0 / 1000 + pause_s - time.time()))
        at_cont = set(self.files(old))
        proc.send_signal(signal.SIGCONT)
        time.sleep(watch_s)
        late = [n for n in self.files(old) if n not in at_cont and token_of(n) == token]
        out["zombie_writes"] = len(late)
        out["zombie_files"] = late
        # Judged now: by the end of the run the directories' capacity has pruned them.
        out["violations"] = self.verify(rids).get("violations", [])
        self.stop(old)
        self.spawn(old)
        took = "none" if out["takeover_ms"] is None else f"{out['takeover_ms']:.0f} ms"
        log(f"{self.impl.key} tick {self.tick_ms}: {label}: takeover {took}, {len(late)} zombie writes "
            f"({old} -> {out['new']})")
        return out

    def start_round(self, i):
        """Process start -> first file of a lone replica on a fresh election path, ms."""
        rid = f"{self.impl.prefix}-start{i}"
        t0 = now_ms()
        self.spawn(rid, path=f"/bench-{self.impl.key}-start-{i}", cgroup=False)
        if not wait_until(lambda: self.files(rid), 30, 0.002):
            raise RuntimeError(f"lone replica {rid} wrote nothing")
        ms = self.written_at(rid, self.files(rid)[0]) - t0
        self.stop(rid)
        del self.procs[rid]
        return ms

    def pids_of(self, rid):
        """The replica's processes: its cgroup's members (the guardian too), else its pid."""
        pids = self.cpu.members(rid) if hasattr(self.cpu, "members") else []
        return pids or [self.procs[rid].pid]

    def packets(self, rids):
        """{replica: {client port: (received, sent)}} for the replicas' ZooKeeper connections."""
        conns = connection_packets(self.zk_port)
        inode_port = tcp_sockets(self.zk_port)
        out = {}
        for r in rids:
            ports = {inode_port[i] for pid in self.pids_of(r) for i in socket_inodes(pid) if i in inode_port}
            out[r] = {p: conns[p] for p in ports if p in conns}
        return out

    def rest_begin(self, rids):
        """Opens an at-rest window over `rids` (steady); rest_end closes it."""
        self.wait_steady(rids)
        pids = {r: self.procs[r].pid for r in rids}
        return {"rids": list(rids), "pids": pids, "t0": time.time(),
                "cpu": {r: self.cpu.seconds(r, pids[r]) for r in rids}, "packets": self.packets(rids)}

    def rest_end(self, w):
        rids, pids = w["rids"], w["pids"]
        elapsed = time.time() - w["t0"]
        c1 = {r: self.cpu.seconds(r, pids[r]) for r in rids}
        p1 = self.packets(rids)
        if any(self.procs[r].pid != pids[r] or self.procs[r].poll() is not None for r in rids):
            raise RuntimeError(f"{self.impl.key}: a replica restarted inside the at-rest window")
        leader, _ = self.leader(rids)
        follower = next(r for r in rids if r != leader)
        received, sent = {}, {}
        for r in rids:
            rec = snt = 0
            for port, (a, b) in p1[r].items():
                a0, b0 = w["packets"][r].get(port, (0, 0))
                rec, snt = rec + a - a0, snt + b - b0
            received[r], sent[r] = rec / elapsed, snt / elapsed
        rolls = {r: memory.rollup(pids[r]) for r in rids}
        guardian = self.guardian(leader)
        g = memory.rollup(guardian) if guardian else None
        return {
            "packets_received_per_s": received, "packets_sent_per_s": sent,
            "packets_received_per_s_per_replica": sum(received.values()) / len(rids),
            "packets_sent_per_s_per_replica": sum(sent.values()) / len(rids),
            "rss_mib": {r: v["Rss"] / 1024.0 for r, v in rolls.items()},
            "pss_mib": {r: v["Pss"] / 1024.0 for r, v in rolls.items()},
            "private_dirty_mib": {r: v["Private_Dirty"] / 1024.0 for r, v in rolls.items()},
            "guardian_mib": {"rss": g["Rss"] / 1024.0, "pss": g["Pss"] / 1024.0,
                             "private_dirty": g["Private_Dirty"] / 1024.0} if g else None,
            "cpu_s_per_min": {r: (c1[r] - w["cpu"][r]) / elapsed * 60 for r in rids},
            "cpu_method": self.cpu.method, "leader": leader, "seconds": elapsed,
            "memory_leader": memory.breakdown(pids[leader], self.impl.executable),
            "memory_follower": memory.breakdown(pids[follower], self.impl.executable),
            "binary_by_module_kib": memory.binary_by_module(pids[leader], self.impl.executable)
            if self.impl.key == "election" else None,
        }

    def verify(self, rids):
        p, report = verify(self.verifier, [self.dir_of(r) for r in rids], 10)
        return report if report is not None else {
            "violations": [f"verify printed no JSON (exit {p.returncode}): {p.stderr.strip()[:200]}"]}


def cleanup_dir(path):
    if os.environ.get("KEEP") != "1":
        shutil.rmtree(path, ignore_errors=True)
    else:
        log(f"kept {path}")
