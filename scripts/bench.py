#!/usr/bin/env python3
"""make bench: failover and footprint of election, side by side with its peers.

For each ZooKeeper tickTime in TICKS (default 2000, the server's default, then
500, this project's test ensembles), starts a real standalone ZooKeeper
(scripts/zk-ensemble.sh) and runs on it, at once and through the same code
(scripts/benchlib/measure.py on the harness, scripts/harness/), N replicas of
each side (SIDES, benchlib/sides.py):
the release binary; kazoo's Election recipe (bench/kazoo_election.py, Debian's
python3-kazoo); Curator's LeaderLatch (bench/CuratorElection.java, Debian's
libcurator-recipes-java 5.4.0, compiled with Debian's javac by the bench); and,
in the graceful rounds only, the minimal kazoo driver (bench/kazoo_minimal.py),
the cross-check of the full one. Missing packages are installed with apt-get.
Every side gets the same settings (leader-timeout 1 s, session timeout 4 s,
capacity 10) and writes the same files.

Rounds are interleaved: each round runs one measurement of every side, the
order rotated from round to round (election, kazoo, Curator; kazoo, Curator,
election; ...), so that a load that drifts during the run falls on all sides
alike. Measured, ROUNDS rounds each unless said:

  graceful failover     SIGTERM to the leader -> first file of the next leader
  crash of the host     the leader's process and (election) its guardian die
                        together: SIGSTOP the daemon, SIGKILL the guardian, SIGKILL
                        the daemon; for the peers, which have no guardian, SIGKILL
  crash of the process  election only: SIGKILL of the daemon, its guardian alive
                        (the peers' process crash is their host crash)
  crash-restart         host crash, the same replica restarted at once -> its next
                        file (election only: the recipes cannot resume a session)
  start -> first file   a lone replica on a fresh election path
  pause                 PAUSE_ROUNDS rounds: the leader SIGSTOPped past its
                        session's expiry, then SIGCONTed: files of the old term
                        that appear afterwards (zombie writes)
  at rest               all groups at once for REST_SECONDS: ZooKeeper packets per
                        replica (its own connections, from the server's `cons`), CPU
                        per replica from a cgroup of its own (benchlib/cpu.py), RSS,
                        PSS and private dirty (/proc/PID/smaps_rollup; election's
                        guardian apart), where the memory goes (benchlib/memory.py)
  watch notifications   per graceful failover, from the server's own counters (mntr)
  scale pass            SCALE_N candidates of each side at the first tick, at once,
                        graceful rounds interleaved: notifications, graceful p50
  HTTP pass             at HTTP_TICK, election alone: N replicas with --http-addr
                        beside N without (benchlib/httppass.py)
  supervised pass       at SUPERVISED_TICK, election alone: `election run -- CMD`
                        handover (benchlib/supervised.py)

Each figure is reported as its p50 with its spread (p10-p90) and, against
election, the round-by-round ratio's p50 and spread; a difference is called a
win only when the two sides' p10-p90 spreads do not overlap ("within noise"
otherwise). Times come from the files themselves: each carries the wall-clock ms
at which it was written, compared with the moment of the signal, sent at a
random phase of the server's tick and of the leader's write cycle.

Prints markdown tables, writes JSON under bench/results/ and, unless DOCS=0,
docs/benchmarks.md from that JSON (benchlib/docs.py; `scripts/bench.py --render
FILE.json` rewrites it from a saved run). Environment: BINARY (default
.build/release/election), SIDES (election,kazoo,curator), CROSSCHECK (1: the
minimal kazoo driver in the graceful rounds), N (3), SCALE_N (50, 0 skips the
pass), ROUNDS (5), PAUSE_ROUNDS (3, 0 skips), REST_SECONDS (30), TICKS
(2000,500), MEASURES (rest,start,graceful,crash,pause), HTTP_TICK (the last of
TICKS; 0 skips the HTTP pass), HTTP_ROUNDS (15 each side, per condition),
HTTP_RATE (50), HTTP_SECONDS (30), FLOOD (1000), SUPERVISED_TICK (500 when in
TICKS, else the last), SUPERVISED_ROUNDS (10; 0 skips the pass),
ONLY=supervised (that pass alone, on its own ZooKeeper at SUPERVISED_TICK,
~1 min), KEEP=1 keeps the work directory, DOCS=0 leaves docs/benchmarks.md alone.
"""

import hashlib
import json
import os
import platform
import signal
import subprocess
import sys
import tempfile
import time

sys.dont_write_bytecode = True  # no __pycache__ left under scripts/benchlib
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from benchlib import docs, httppass, report, sides, supervised  # noqa: E402
from benchlib.cpu import CpuMeter  # noqa: E402
from benchlib.measure import Bench, cleanup_dir, log, mntr  # noqa: E402
from benchlib.stats import summary  # noqa: E402
from harness import ROOT  # noqa: E402
from harness.zk import Ensemble  # noqa: E402

BINARY = os.path.abspath(os.environ.get("BINARY", os.path.join(ROOT, ".build/release/election")))
N = int(os.environ.get("N", "3"))
SCALE_N = int(os.environ.get("SCALE_N", "50"))
ROUNDS = int(os.environ.get("ROUNDS", "5"))
PAUSE_ROUNDS = int(os.environ.get("PAUSE_ROUNDS", "3"))
REST_SECONDS = float(os.environ.get("REST_SECONDS", "30"))
TICKS = [int(t) for t in os.environ.get("TICKS", "2000,500").split(",") if t.strip()]
if "PEER" in os.environ and "SIDES" not in os.environ:  # the old spelling: PEER=none / PEER=kazoo
    os.environ["SIDES"] = "election" if os.environ["PEER"] == "none" else f"election,{os.environ['PEER']}"
SIDES = [x.strip() for x in os.environ.get("SIDES", ",".join(sides.ALL)).split(",") if x.strip()]
CROSSCHECK = os.environ.get("CROSSCHECK", "1") == "1" and "kazoo" in SIDES
MEASURES = set(x.strip() for x in os.environ.get("MEASURES", "rest,start,graceful,crash,pause").split(","))
HTTP_TICK = int(os.environ.get("HTTP_TICK", str(TICKS[-1] if TICKS else 0)))
HTTP_ROUNDS = int(os.environ.get("HTTP_ROUNDS", "15"))
HTTP_RATE = float(os.environ.get("HTTP_RATE", "50"))
HTTP_SECONDS = float(os.environ.get("HTTP_SECONDS", "30"))
FLOOD = int(os.environ.get("FLOOD", "1000"))
ONLY = os.environ.get("ONLY", "")
SUPERVISED_TICK = int(os.environ.get("SUPERVISED_TICK",
                                     "500" if 500 in TICKS or ONLY else str(TICKS[-1] if TICKS else 0)))
SUPERVISED_ROUNDS = int(os.environ.get("SUPERVISED_ROUNDS", "10"))
DOCS = os.environ.get("DOCS", "1") == "1"
if ONLY == "supervised":
    TICKS, SCALE_N, HTTP_TICK, SIDES, CROSSCHECK, DOCS = [SUPERVISED_TICK], 0, 0, ["election"], False, False
elif ONLY:
    sys.exit(f"bench: ONLY must be supervised or unset, not {ONLY!r}")
if not SIDES or SIDES[0] != "election":
    sys.exit("bench: SIDES must start with election")
SESSION_TIMEOUT = 4.0
FLAGS = ["--leader-timeout", "1s", "--session-timeout", "4s", "--attempter-timeout", "10s",
         "--storage-capacity", "10"]
LEADER_TIMEOUT_S = 1.0


def machine():
    model = ""
    try:
        with open("/proc/cpuinfo") as f:
            model = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), "")
    except OSError:
        pass
    distro = ""
    try:
        with open("/etc/os-release") as f:
            distro = next((line.split("=", 1)[1].strip().strip('"') for line in f
                           if line.startswith("PRETTY_NAME")), "")
    except OSError:
        pass
    with open("/proc/meminfo") as f:
        mem_gib = int(f.readline().split()[1]) / 1024 / 1024
    return f"{os.cpu_count()} cores ({model}), {mem_gib:.0f} GiB, Linux {platform.release()}, {distro}"


def loadavg():
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def git_head():
    out = subprocess.run(["git", "-C", ROOT, "rev-parse", "--short=12", "HEAD"], capture_output=True, text=True)
    return out.stdout.strip() if out.returncode == 0 else None


def interleave(jobs, rounds, run_job, orders):
    """Runs `rounds` rounds of `jobs` ([(side, kind)]), the order rotated by one each
    round; {job: [result per round]}. Appends each round's order to `orders`."""
    results = {job: [] for job in jobs}
    for r in range(rounds):
        k = r % len(jobs)
        order = jobs[k:] + jobs[:k]
        orders.append([f"{side}:{kind}" for side, kind in order])
        for job in order:
            results[job].append(run_job(job, r))
    return results


def pause_seconds(bench):
    """Long enough for the server to expire the paused leader's session and the next
    leader to write: the granted timeout, a tick, and 1.5 s."""
    return bench.negotiated_session_timeout_ms() / 1000 + bench.tick_ms / 1000 + 1.5


def run_tick(tick, zk, impls, cross, work, cpu):
    """Every figure of every side at one tick; the groups run at once on one ZooKeeper."""
    allimpls = impls + ([cross] if cross else [])
    benches = {impl.key: Bench(os.path.join(work, f"tick{tick}"), zk, tick, impl, FLAGS, SESSION_TIMEOUT, cpu, BINARY)
               for impl in allimpls}
    rids = {impl.key: [f"{impl.prefix}{tick}-{i}" for i in range(1, N + 1)] for impl in allimpls}
    keys = [impl.key for impl in impls]
    out = {"negotiated_session_ms": benches["election"].negotiated_session_timeout_ms(), "orders": {},
           "sides": {k: {} for k in keys}}
    if cross:
        out["crosscheck"] = {}
    try:
        for impl in allimpls:
            log(f"tick {tick}: starting {N} replicas of {impl.label}")
            for rid in rids[impl.key]:
                benches[impl.key].spawn(rid)
        for k, b in benches.items():
            b.wait_steady(rids[k], timeout=90)

        if "rest" in MEASURES:
            time.sleep(2)
            log(f"tick {tick}: every group at rest for {REST_SECONDS:.0f} s, at once")
            windows = {k: benches[k].rest_begin(rids[k]) for k in keys}
            time.sleep(REST_SECONDS)
            for k in keys:
                out["sides"][k]["at_rest"] = benches[k].rest_end(windows[k])

        def run_job(job, r):
            side, kind = job
            b, g = benches[side], rids[side]
            label = f"{kind} round {r + 1}"
            if kind == "start":
                ms = b.start_round(r)
                log(f"{side} tick {tick}: start -> first file round {r + 1}: {ms:.0f} ms")
                return ms
            if kind == "graceful":
                return b.failover_round(g, "term", label=label)
            if kind == "crash_host":
                return b.failover_round(g, "host", label=label)
            if kind == "crash_process":
                return b.failover_round(g, "process", label=label)
            if kind == "crash_restart":
                return b.failover_round(g, "host", restart_same=True, label=label)
            if kind == "pause":
                return b.pause_round(g, pause_seconds(b), 2 * LEADER_TIMEOUT_S + 1, label=label)
            raise ValueError(kind)

        if "start" in MEASURES:
            res = interleave([(k, "start") for k in keys], ROUNDS, run_job, out["orders"].setdefault("start", []))
            for (k, _), v in res.items():
                out["sides"][k]["start_to_first_file_ms"] = summary(v)
        if "graceful" in MEASURES:
            jobs = [(k, "graceful") for k in keys] + ([(cross.key, "graceful")] if cross else [])
            res = interleave(jobs, ROUNDS, run_job, out["orders"].setdefault("graceful", []))
            for (k, _), v in res.items():
                dest = out["crosscheck"] if cross and k == cross.key else out["sides"][k]
                dest["graceful_ms"] = summary([x["ms"] for x in v])
                dest["watch_notifications_per_failover"] = [x["notifications"] for x in v]
                dest["graceful_pairs"] = [[x["old"], x["new"]] for x in v]
            if cross:
                # the full kazoo driver's own rounds, for the cross-check's table
                out["crosscheck"]["kazoo_graceful_ms"] = out["sides"]["kazoo"]["graceful_ms"]
        if "crash" in MEASURES:
            jobs = [(k, "crash_host") for k in keys]
            e = next(i for i in impls if i.key == "election")
            jobs.insert(1, ("election", "crash_process"))
            if e.can_resume:
                jobs.insert(2, ("election", "crash_restart"))
            res = interleave(jobs, ROUNDS, run_job, out["orders"].setdefault("crash", []))
            for (k, kind), v in res.items():
                d = out["sides"][k]
                d[f"{kind}_ms"] = summary([x["ms"] for x in v])
                d[f"{kind}_guardian_found"] = sum(1 for x in v if x["guardian"])
                if kind == "crash_restart":
                    d["restart_to_first_file_ms"] = summary([x["restart_ms"] for x in v])
        if "pause" in MEASURES and PAUSE_ROUNDS > 0:
            res = interleave([(k, "pause") for k in keys], PAUSE_ROUNDS, run_job, out["orders"].setdefault("pause", []))
            for (k, _), v in res.items():
                out["sides"][k]["pause"] = {
                    "seconds": pause_seconds(benches[k]), "takeover_ms": summary([x["takeover_ms"] for x in v]),
                    "zombie_writes": [x["zombie_writes"] for x in v],
                    "zombie_files": [x["zombie_files"] for x in v],
                    "violations_after_pause": [len(x["violations"]) for x in v]}
        for k in keys:
            out["sides"][k]["verify"] = benches[k].verify(rids[k])
        if cross:
            out["crosscheck"]["verify"] = benches[cross.key].verify(rids[cross.key])
    finally:
        for b in benches.values():
            b.stop_all()
    return out


def scale_pass(tick, zk, impls, work, cpu):
    """SCALE_N candidates of every side at once, graceful rounds interleaved."""
    benches, rids = {}, {}
    for impl in impls:
        benches[impl.key] = Bench(os.path.join(work, f"tick{tick}"), zk, tick, impl, FLAGS, SESSION_TIMEOUT, cpu,
                                  BINARY)
        rids[impl.key] = [f"{impl.prefix}-s{i}" for i in range(1, SCALE_N + 1)]
    out = {"n": SCALE_N, "tick_ms": tick, "orders": [], "sides": {}}
    try:
        for impl in impls:
            log(f"scale pass, tick {tick}: starting {SCALE_N} candidates of {impl.label}")
            for rid in rids[impl.key]:
                benches[impl.key].spawn(rid, path=f"/bench-{impl.key}-scale", cgroup=False)
                # JVMs one at a time-ish: fifty starting at once would starve the running
                # ones' pings past their session timeout on two cores.
                time.sleep(0.5 if impl.key == "curator" else 0.02)
            benches[impl.key].wait_steady(rids[impl.key], timeout=240)
        res = interleave([(i.key, "graceful") for i in impls], ROUNDS,
                         lambda job, r: benches[job[0]].failover_round(rids[job[0]], "term",
                                                                       label=f"scale graceful round {r + 1}"),
                         out["orders"])
        for (k, _), v in res.items():
            out["sides"][k] = {"graceful_ms": summary([x["ms"] for x in v]),
                               "watch_notifications_per_failover": [x["notifications"] for x in v],
                               "verify": benches[k].verify(rids[k])}
    finally:
        for b in benches.values():
            b.stop_all()
    return out


def save_partial(results, error):
    """The figures of a run that failed half-way, so that its minutes are not lost."""
    try:
        results["setup"]["failed"] = repr(error)
        os.makedirs(os.path.join(ROOT, "bench/results"), exist_ok=True)
        path = os.path.join(ROOT, "bench/results", time.strftime("bench-%Y%m%d-%H%M%S-partial.json"))
        with open(path, "w") as f:
            json.dump(results, f, indent=2, sort_keys=True)
        log(f"what was measured before the failure: {os.path.relpath(path, ROOT)}")
    except Exception as save_error:
        log(f"could not save the partial results: {save_error!r}")


def count_violations(results):
    """election's violations (the exit status): the peers' are reported, not failed on,
    since a recipe without fencing writes after a pause by design."""
    n = 0
    for per in results["ticks"].values():
        n += len(per["sides"]["election"].get("verify", {}).get("violations", []))
    n += len(results.get("scale", {}).get("sides", {}).get("election", {}).get("verify", {}).get("violations", []))
    n += sum(len(v["violations"]) for v in results.get("http", {}).get("verify", {}).values())
    sup = results.get("supervised")
    if sup:
        n += len(sup["verify"].get("violations", [])) + len(sup["overlaps"])
    return n


def main():
    if len(sys.argv) == 3 and sys.argv[1] == "--render":
        with open(sys.argv[2]) as f:
            results = json.load(f)
        print(report.render(results))
        docs.write(results, os.path.join(ROOT, "docs/benchmarks.md"))
        print(f"\nwrote docs/benchmarks.md from {sys.argv[2]}", file=sys.stderr)
        return
    if not os.access(BINARY, os.X_OK):
        sys.exit(f"bench: no binary at {BINARY} (make release builds it)")
    work = tempfile.mkdtemp(prefix="election-bench.")
    impls = sides.make(SIDES, BINARY, work)
    cross = sides.make(["kazoo-minimal"], BINARY, work)[0] if CROSSCHECK else None
    cpu = CpuMeter(f"election-bench.{os.getpid()}")
    setup = {"date": time.strftime("%Y-%m-%d %H:%M:%S %z"), "machine": machine(), "n": N, "scale_n": SCALE_N,
             "rounds": ROUNDS, "pause_rounds": PAUSE_ROUNDS, "rest_seconds": REST_SECONDS, "ticks_ms": TICKS,
             "settings": " ".join(FLAGS), "binary": BINARY, "binary_sha256": sha256(BINARY), "tree": git_head(),
             "cpu_method": cpu.method, "loadavg_start": loadavg(), "measures": sorted(MEASURES),
             "sides": [{"key": i.key, "label": i.label, "version": i.version} for i in impls],
             "crosscheck": {"key": cross.key, "label": cross.label} if cross else None,
             "http_tick_ms": HTTP_TICK if HTTP_TICK in TICKS else None, "only": ONLY or None}
    results = {"setup": setup, "ticks": {}}
    running = {"bench": None, "zk": None}

    def interrupted(*_):
        raise KeyboardInterrupt()
    signal.signal(signal.SIGTERM, interrupted)
    started = time.time()
    try:
        log(f"work dir {work}; sides {', '.join(i.key for i in impls)}; CPU: {cpu.method}")
        for ti, tick in enumerate(TICKS):
            log(f"starting ZooKeeper, tickTime {tick} ms")
            # A standalone server restarted once with no per-address connection cap
            # (maxClientCnxns=0): every client here comes from 127.0.0.1, and the
            # scale pass holds 3 x SCALE_N sessions at once, over the server's 60.
            zk = running["zk"] = Ensemble(os.path.join(work, f"zk-{tick}"), 1, tick)
            zk.start(extra_config=["maxClientCnxns=0"])
            setup.setdefault("zookeeper", mntr(zk.ports[0]).get("zk_version", "?").split("-")[0].split(",")[0])
            if not ONLY:
                t_tick = time.time()
                results["ticks"][str(tick)] = run_tick(tick, zk, impls, cross, work, cpu)
                results["ticks"][str(tick)]["seconds"] = round(time.time() - t_tick, 1)
            if ti == 0 and SCALE_N > 0 and not ONLY:
                t_scale = time.time()
                results["scale"] = scale_pass(tick, zk, impls, work, cpu)
                results["scale"]["seconds"] = round(time.time() - t_scale, 1)
            if tick == HTTP_TICK:
                bench = running["bench"] = Bench(os.path.join(work, f"tick{tick}"), zk, tick, impls[0], FLAGS,
                                                 SESSION_TIMEOUT, cpu, BINARY)
                log(f"HTTP pass at tick {tick}: {N} replicas with --http-addr beside {N} without")
                t_http = time.time()
                results["http"] = httppass.run(bench, N, HTTP_ROUNDS, HTTP_RATE, HTTP_SECONDS, FLOOD)
                results["http"]["seconds_in_all"] = round(time.time() - t_http, 1)
            if tick == SUPERVISED_TICK and SUPERVISED_ROUNDS > 0:
                bench = running["bench"] = Bench(os.path.join(work, f"tick{tick}"), zk, tick, impls[0], FLAGS,
                                                 SESSION_TIMEOUT, cpu, BINARY)
                log(f"supervised pass at tick {tick}: {N} replicas of election run -- CMD, {SUPERVISED_ROUNDS} rounds")
                results["supervised"] = supervised.run(bench, N, SUPERVISED_ROUNDS)
            running["bench"] = None
            zk.stop()
            running["zk"] = None
        setup["wall_seconds"] = round(time.time() - started, 1)
        setup["loadavg_end"] = loadavg()
    except BaseException as e:
        log("interrupted" if isinstance(e, KeyboardInterrupt) else f"failed: {e!r}")
        save_partial(results, e)
        if running["bench"]:
            running["bench"].stop_all()
        if running["zk"]:
            running["zk"].stop()
        cpu.cleanup()
        cleanup_dir(work)
        if isinstance(e, KeyboardInterrupt):
            sys.exit(130)
        raise
    cpu.cleanup()
    cleanup_dir(work)
    text = report.render(results)
    print("\n" + text)
    os.makedirs(os.path.join(ROOT, "bench/results"), exist_ok=True)
    path = os.path.join(ROOT, "bench/results", time.strftime("bench-%Y%m%d-%H%M%S.json"))
    with open(path, "w") as f:
        json.dump(results, f, indent=2, sort_keys=True)
    print(f"\nJSON: {os.path.relpath(path, ROOT)}")
    if DOCS:
        docs.write(results, os.path.join(ROOT, "docs/benchmarks.md"))
        print("docs/benchmarks.md written from it")
    if count_violations(results):
        sys.exit(1)


if __name__ == "__main__":
    main()
