#!/usr/bin/env python3
"""make bench: failover and footprint of election replicas, measured.

Starts a real standalone ZooKeeper (scripts/zk-ensemble.sh) and N replicas of the
release binary (leader-timeout 1 s, session timeout 4 s, the settings of the
reference table), then measures over ROUNDS rounds:

  graceful failover   SIGTERM to the leader -> first file of the next leader
  crash failover      SIGKILL to the leader -> first file of the next leader
  crash-restart       SIGKILL, the same replica restarted at once -> its next file
  start -> first file a lone replica on a fresh election path
  at rest             ZooKeeper packets/s per replica (mntr), RSS and CPU per replica
  scale pass          SCALE_N candidates: watch wake-ups per failover, graceful p50

Times come from the files themselves: each file carries the wall-clock time (ms)
at which the new leader wrote it, compared with the moment the signal was sent.
Prints a markdown table and writes JSON under bench/results/. Environment:
BINARY (default .build/release/election), N (3), SCALE_N (50, 0 skips the pass),
ROUNDS (5), REST_SECONDS (30).
"""

import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BINARY = os.path.abspath(os.environ.get("BINARY", os.path.join(ROOT, ".build/release/election")))
N = int(os.environ.get("N", "3"))
SCALE_N = int(os.environ.get("SCALE_N", "50"))
ROUNDS = int(os.environ.get("ROUNDS", "5"))
REST_SECONDS = float(os.environ.get("REST_SECONDS", "30"))
SESSION_TIMEOUT = 4.0
FLAGS = ["--leader-timeout", "1s", "--session-timeout", "4s", "--attempter-timeout", "10s",
         "--storage-capacity", "10"]
FILE_RE = re.compile(r"^election-(\d{19})-(\d{10})\.json$")

# Targets of the issue and the reference figures measured for the peers.
TARGETS = {
    "graceful_p50_ms": 5, "graceful_p90_ms": 10, "crash_p50_ms": SESSION_TIMEOUT * 1000 + 500,
    "crash_restart_p50_ms": 1000, "start_to_first_file_ms": 100, "packets_per_s": 0.9,
    "rss_mib": 12, "cpu_s_per_min": 0.03, "watch_wakeups_per_failover": 1,
}


def log(message):
    print(f"bench: {message}", file=sys.stderr, flush=True)


def now_ms():
    return time.time() * 1000.0


def pct(values, p):
    if not values:
        return None
    ordered = sorted(values)
    k = (len(ordered) - 1) * p / 100.0
    lo, hi = int(k), min(int(k) + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


class Bench:
    def __init__(self):
        self.work = tempfile.mkdtemp(prefix="election-bench.")
        self.zkdir = os.path.join(self.work, "zk")
        self.procs = {}  # replica id -> Popen
        self.paths = {}  # replica id -> election path
        self.started = 0

    # ---- ZooKeeper -------------------------------------------------------
    def zk(self, *args):
        return subprocess.run(["bash", os.path.join(ROOT, "scripts/zk-ensemble.sh"), *args],
                              check=True, capture_output=True, text=True).stdout

    def start_zk(self):
        self.zk("start", self.zkdir, "1")
        with open(os.path.join(self.zkdir, "connect")) as f:
            self.connect = f.read().strip()
        self.zk_port = int(self.connect.rsplit(":", 1)[1])

    def mntr(self):
        import socket
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

    # ---- replicas --------------------------------------------------------
    def dir_of(self, rid):
        return os.path.join(self.work, "files", rid)

    def log_of(self, rid):
        return os.path.join(self.work, "logs", rid + ".log")

    def spawn(self, rid, path=None, extra=()):
        """Starts replica `rid`; a restart keeps its election path."""
        path = path or self.paths.get(rid, "/bench")
        self.paths[rid] = path
        os.makedirs(os.path.dirname(self.log_of(rid)), exist_ok=True)
        out = open(self.log_of(rid), "a")
        proc = subprocess.Popen(
            [BINARY, "run", "--zk-servers", self.connect, "--replica-id", rid, "--file-dir", self.dir_of(rid),
             "--election-path", path, *FLAGS, *extra],
            stdout=out, stderr=out, stdin=subprocess.DEVNULL)
        out.close()
        self.procs[rid] = proc
        return proc

    def stop(self, rid, sig=signal.SIGTERM, wait=True):
        proc = self.procs.get(rid)
        if proc and proc.poll() is None:
            proc.send_signal(sig)
            if wait:
                try:
                    proc.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()

    def stop_all(self):
        for rid in list(self.procs):
            self.stop(rid, wait=False)
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
        import calendar
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
                lines = [l for l in f if "msg=transition" in l]
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
                    total += sum(1 for l in f if "predecessor gone" in l)
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
            time.sleep(0.3)
            seen = set(self.files(old))
            t0 = now_ms()
            self.procs[old].send_signal(sig)
            if restart_same:
                self.procs[old].wait()
                t_restart = now_ms()
                self.spawn(old)
                rid, name = self.wait_for_written(old, token, seen, timeout=SESSION_TIMEOUT + 10)
                restart_times.append(self.written_at(rid, name) - t_restart)
            else:
                rid, name = self.wait_for_token_above([r for r in rids if r != old], token,
                                                      timeout=SESSION_TIMEOUT + 10)
            times.append(self.written_at(rid, name) - t0)
            if not restart_same:
                self.procs[old].wait()
                time.sleep(0.2)
                wakes.append(self.wakeups(rids) - before)
                self.spawn(old)
            log(f"{label} round {i + 1}/{rounds}: {times[-1]:.1f} ms ({old} -> {rid})")
        return times, restart_times, wakes

    def wait_for_written(self, rid, token, seen, timeout):
        """First file `rid` writes that is not in `seen`, with a token >= `token` (resumed or new term)."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            for name in self.files(rid):
                if name not in seen and int(FILE_RE.match(name).group(1)) >= token:
                    return rid, name
            time.sleep(0.005)
        raise RuntimeError("restarted replica wrote nothing")

    def start_rounds(self, rounds):
        times = []
        for i in range(rounds):
            rid = f"start{i}"
            t0 = now_ms()
            self.spawn(rid, path=f"/bench-start-{i}")
            deadline = time.time() + 20
            while not self.files(rid):
                if time.time() > deadline:
                    raise RuntimeError("lone replica wrote nothing")
                time.sleep(0.002)
            times.append(self.written_at(rid, self.files(rid)[0]) - t0)
            self.stop(rid)
            del self.procs[rid]
        return times

    def at_rest(self, rids, seconds):
        self.wait_steady(rids)
        time.sleep(2)
        def cpu(rid):
            """On-CPU seconds of all the process's threads (schedstat: ns, unlike ticks)."""
            total = 0
            task_dir = f"/proc/{self.procs[rid].pid}/task"
            for tid in os.listdir(task_dir):
                with open(f"{task_dir}/{tid}/schedstat") as f:
                    total += int(f.read().split()[0])
            return total / 1e9
        c0 = {r: cpu(r) for r in rids}
        m0 = self.mntr()
        t0 = time.time()
        time.sleep(seconds)
        m1 = self.mntr()
        elapsed = time.time() - t0
        c1 = {r: cpu(r) for r in rids}
        rss = {}
        for r in rids:
            with open(f"/proc/{self.procs[r].pid}/status") as f:
                rss[r] = int(re.search(r"VmRSS:\s+(\d+)", f.read()).group(1)) / 1024.0
        received = (int(m1["zk_packets_received"]) - int(m0["zk_packets_received"])) / elapsed / len(rids)
        sent = (int(m1["zk_packets_sent"]) - int(m0["zk_packets_sent"])) / elapsed / len(rids)
        leader, _ = self.leader(rids)
        cpu_min = {r: (c1[r] - c0[r]) / elapsed * 60 for r in rids}
        return {
            "packets_received_per_s_per_replica": received, "packets_sent_per_s_per_replica": sent,
            "rss_mib": rss, "cpu_s_per_min": cpu_min, "leader": leader, "seconds": elapsed,
        }

    def verify(self, rids):
        out = subprocess.run([BINARY, "verify", *[self.dir_of(r) for r in rids], "--capacity", "10", "--json"],
                             capture_output=True, text=True)
        return json.loads(out.stdout)

    def cleanup(self):
        self.stop_all()
        try:
            self.zk("stop", self.zkdir)
        except Exception as e:  # the ensemble may not have started
            log(f"stopping ZooKeeper: {e}")
        if os.environ.get("KEEP") != "1":
            shutil.rmtree(self.work, ignore_errors=True)
        else:
            log(f"kept {self.work}")


def summary(values):
    return {"p50": pct(values, 50), "p90": pct(values, 90), "max": max(values) if values else None,
            "samples": [round(v, 2) for v in values]}


def main():
    if not os.access(BINARY, os.X_OK):
        sys.exit(f"bench: no binary at {BINARY} (make release builds it)")
    bench = Bench()
    results = {"date": time.strftime("%Y-%m-%d %H:%M:%S %z"), "machine": os.uname().release,
               "cores": os.cpu_count(), "n": N, "scale_n": SCALE_N, "rounds": ROUNDS,
               "settings": " ".join(FLAGS)}
    handler = lambda *_: (_ for _ in ()).throw(KeyboardInterrupt())
    signal.signal(signal.SIGTERM, handler)
    try:
        started = time.time()
        log(f"work dir {bench.work}; starting ZooKeeper")
        bench.start_zk()
        log(f"start -> first file, {ROUNDS} rounds")
        results["start_to_first_file_ms"] = summary(bench.start_rounds(ROUNDS))
        rids = [f"r{i}" for i in range(1, N + 1)]
        for rid in rids:
            bench.spawn(rid)
        bench.wait_steady(rids)
        log(f"at rest for {REST_SECONDS:.0f} s")
        results["at_rest"] = bench.at_rest(rids, REST_SECONDS)
        graceful, _, wakes = bench.failover_rounds(rids, signal.SIGTERM, ROUNDS, label="graceful")
        results["graceful_ms"] = summary(graceful)
        results["watch_wakeups_per_failover"] = wakes
        crash, _, _ = bench.failover_rounds(rids, signal.SIGKILL, ROUNDS, label="crash")
        results["crash_ms"] = summary(crash)
        kill_to_file, restart_to_file, _ = bench.failover_rounds(
            rids, signal.SIGKILL, ROUNDS, restart_same=True, label="crash-restart")
        results["crash_restart_ms"] = summary(kill_to_file)
        results["restart_to_first_file_ms"] = summary(restart_to_file)
        results["verify"] = bench.verify(rids)
        bench.stop_all()
        if SCALE_N > 0:
            srids = [f"s{i}" for i in range(1, SCALE_N + 1)]
            log(f"scale pass: {SCALE_N} candidates")
            for rid in srids:
                bench.spawn(rid, path="/bench-scale")
            bench.wait_steady(srids, timeout=120)
            sgraceful, _, swakes = bench.failover_rounds(srids, signal.SIGTERM, ROUNDS, label="scale graceful")
            results["scale"] = {"graceful_ms": summary(sgraceful), "watch_wakeups_per_failover": swakes,
                                "verify": bench.verify(srids)}
            bench.stop_all()
        results["wall_seconds"] = round(time.time() - started, 1)
    except KeyboardInterrupt:
        log("interrupted")
        bench.cleanup()
        sys.exit(130)
    except Exception:
        bench.cleanup()
        raise
    bench.cleanup()
    report(results)


def report(r):
    rest = r["at_rest"]
    rss = list(rest["rss_mib"].values())
    cpu = rest["cpu_s_per_min"]
    followers = [v for k, v in cpu.items() if k != rest["leader"]]
    wakes = r["watch_wakeups_per_failover"] + r.get("scale", {}).get("watch_wakeups_per_failover", [])
    rows = [
        ("graceful (SIGTERM) failover p50 / p90", f"{r['graceful_ms']['p50']:.1f} ms / {r['graceful_ms']['p90']:.1f} ms",
         "≤ 5 ms / ≤ 10 ms", r['graceful_ms']['p50'] <= 5 and r['graceful_ms']['p90'] <= 10),
        ("crash (SIGKILL) failover p50", f"{r['crash_ms']['p50'] / 1000:.2f} s",
         f"≤ {TARGETS['crash_p50_ms'] / 1000:.1f} s", r['crash_ms']['p50'] <= TARGETS['crash_p50_ms']),
        ("crash → restart → first file p50 (kill to file / restart to file)",
         f"{r['crash_restart_ms']['p50']:.0f} ms / {r['restart_to_first_file_ms']['p50']:.0f} ms", "≈ 1 s",
         r['crash_restart_ms']['p50'] <= 1000),
        ("process start → first file p50", f"{r['start_to_first_file_ms']['p50']:.0f} ms", "≤ 100 ms",
         r['start_to_first_file_ms']['p50'] <= 100),
        ("ZooKeeper packets/s per replica at rest (received / sent)",
         f"{rest['packets_received_per_s_per_replica']:.2f} / {rest['packets_sent_per_s_per_replica']:.2f}", "≤ 0.9",
         rest['packets_received_per_s_per_replica'] <= 0.9),
        ("RSS per replica (max)", f"{max(rss):.1f} MiB", "≤ 12 MiB", max(rss) <= 12),
        ("CPU per replica at rest, mean (leader / followers max)",
         f"{statistics.mean(cpu.values()):.3f} ({cpu[rest['leader']]:.3f} / "
         f"{max(followers) if followers else 0:.3f}) s/min", "≤ 0.03 s/min",
         statistics.mean(cpu.values()) <= 0.03),
        (f"watch wake-ups per failover ({N} and {r['scale_n']} candidates)", f"{wakes}", "1 each",
         all(w == 1 for w in wakes)),
    ]
    if "scale" in r:
        s = r["scale"]["graceful_ms"]
        rows.append((f"graceful failover p50 / p90, {r['scale_n']} candidates", f"{s['p50']:.1f} ms / {s['p90']:.1f} ms",
                     "p50 unchanged", s["p50"] <= max(5, r['graceful_ms']['p50'] * 2)))
    violations = len(r["verify"]["violations"]) + len(r.get("scale", {}).get("verify", {}).get("violations", []))
    rows.append(("overlap / invariant violations (election verify)", str(violations), "0", violations == 0))
    print(f"\n## election bench — {r['date']}, {r['cores']} cores, kernel {r['machine']}")
    print(f"{r['n']} replicas, one local ZooKeeper, {r['settings']}; medians over {r['rounds']} rounds; "
          f"{r['wall_seconds']} s in all\n")
    print("| measure | result | target | met |")
    print("|---|---|---|---|")
    for name, value, target, met in rows:
        print(f"| {name} | {value} | {target} | {'yes' if met else 'NO'} |")
    os.makedirs(os.path.join(ROOT, "bench/results"), exist_ok=True)
    path = os.path.join(ROOT, "bench/results", time.strftime("bench-%Y%m%d-%H%M%S.json"))
    r["met"] = {name: met for name, _, _, met in rows}
    with open(path, "w") as f:
        json.dump(r, f, indent=2, sort_keys=True)
    print(f"\nJSON: {os.path.relpath(path, ROOT)}")
    if violations:
        sys.exit(1)


if __name__ == "__main__":
    main()
