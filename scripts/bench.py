#!/usr/bin/env python3
"""make bench: failover and footprint of election, side by side with a peer.

For each ZooKeeper tickTime in TICKS (default 2000, the server's default, then
500, this project's test ensembles), starts a real standalone ZooKeeper
(scripts/zk-ensemble.sh) and runs, one after the other on it and through the
same harness (scripts/benchlib/harness.py), N replicas of the release binary and
N replicas of the peer: kazoo's Election recipe (bench/kazoo_election.py, run by
Debian's /usr/bin/python3 with python3-kazoo, installed with apt-get when
missing). Both get the same settings (leader-timeout 1 s, session timeout 4 s,
capacity 10) and write the same files. Measured over ROUNDS rounds each:

  graceful failover   SIGTERM to the leader -> first file of the next leader
  crash failover      SIGKILL to the leader -> first file of the next leader
  crash-restart       SIGKILL, the same replica restarted at once -> its next file
                      (election only: the recipe cannot resume a session)
  start -> first file a lone replica on a fresh election path
  at rest             ZooKeeper packets/s per replica (mntr), RSS/PSS, CPU per
                      replica from a cgroup of its own (benchlib/cpu.py), and
                      where the memory goes (/proc/PID/smaps, benchlib/memory.py)
  scale pass          SCALE_N candidates of each at the first tick: watch
                      wake-ups per failover, graceful p50
  HTTP pass           at HTTP_TICK, election alone: N replicas with --http-addr
                      beside N without, at once (benchlib/httppass.py): RSS after
                      a few requests, /metrics, /status, /leader latency at
                      HTTP_RATE req/s, graceful failover off vs on under that
                      scrape load, and hostile clients (FLOOD idle connections, a
                      slow-loris, a 1 MiB header) with /healthz probed throughout
                      and graceful failover off vs on while the attack is kept up
  supervised pass     at SUPERVISED_TICK, election alone (kazoo has no supervised
                      command): N replicas of `election run --exec-stop-timeout 1s
                      -- CMD` with a stand-in that stamps its start and its stop
                      (benchlib/supervised.py): graceful handover, old child's stop
                      -> next child's start, and SIGTERM -> next child's start,
                      over SUPERVISED_ROUNDS rounds; overlaps

Times come from the files themselves: each file carries the wall-clock time (ms)
at which it was written, compared with the moment the signal was sent; each
signal goes at a random phase of the server's tick (sessions expire on tick
boundaries) and of the leader's write cycle. Prints
markdown tables and writes JSON under bench/results/. Environment: BINARY
(default .build/release/election), N (3), SCALE_N (50, 0 skips the pass), ROUNDS
(5), REST_SECONDS (30), TICKS (2000,500), PEER (kazoo; none runs election alone),
HTTP_TICK (the last of TICKS; 0 skips the HTTP pass), HTTP_ROUNDS (15 each side,
per condition), HTTP_RATE (50), HTTP_SECONDS (30), FLOOD (1000), SUPERVISED_TICK (500
when in TICKS, else the last), SUPERVISED_ROUNDS (10; 0 skips the pass),
ONLY=supervised (that pass alone, on its own ZooKeeper at SUPERVISED_TICK, ~1 min),
KEEP=1 keeps the work directory.
"""

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

from benchlib import httppass, report, supervised  # noqa: E402
from benchlib.cpu import CpuMeter  # noqa: E402
from benchlib.stats import summary  # noqa: E402
from benchlib.harness import ROOT, Bench, Implementation, cleanup_dir, log  # noqa: E402

BINARY = os.path.abspath(os.environ.get("BINARY", os.path.join(ROOT, ".build/release/election")))
N = int(os.environ.get("N", "3"))
SCALE_N = int(os.environ.get("SCALE_N", "50"))
ROUNDS = int(os.environ.get("ROUNDS", "5"))
REST_SECONDS = float(os.environ.get("REST_SECONDS", "30"))
TICKS = [int(t) for t in os.environ.get("TICKS", "2000,500").split(",") if t.strip()]
PEER = os.environ.get("PEER", "kazoo")
HTTP_TICK = int(os.environ.get("HTTP_TICK", str(TICKS[-1] if TICKS else 0)))
HTTP_ROUNDS = int(os.environ.get("HTTP_ROUNDS", "15"))
HTTP_RATE = float(os.environ.get("HTTP_RATE", "50"))
HTTP_SECONDS = float(os.environ.get("HTTP_SECONDS", "30"))
FLOOD = int(os.environ.get("FLOOD", "1000"))
ONLY = os.environ.get("ONLY", "")
SUPERVISED_TICK = int(os.environ.get("SUPERVISED_TICK",
                                     "500" if 500 in TICKS or ONLY else str(TICKS[-1] if TICKS else 0)))
SUPERVISED_ROUNDS = int(os.environ.get("SUPERVISED_ROUNDS", "10"))
if ONLY == "supervised":
    TICKS, SCALE_N, HTTP_TICK, PEER = [SUPERVISED_TICK], 0, 0, "none"
elif ONLY:
    sys.exit(f"bench: ONLY must be supervised or unset, not {ONLY!r}")
SESSION_TIMEOUT = 4.0
FLAGS = ["--leader-timeout", "1s", "--session-timeout", "4s", "--attempter-timeout", "10s",
         "--storage-capacity", "10"]
SYSTEM_PYTHON = "/usr/bin/python3"  # Debian's, which sees python3-kazoo (a pyenv python does not)
KAZOO_DRIVER = os.path.join(ROOT, "bench/kazoo_election.py")


def kazoo_version():
    out = subprocess.run([SYSTEM_PYTHON, "-c", "import kazoo, sys; print(kazoo.__version__, sys.version.split()[0])"],
                         capture_output=True, text=True)
    return out.stdout.split() if out.returncode == 0 else None


def ensure_kazoo():
    """python3-kazoo for Debian's python3, installed with apt-get when missing."""
    if kazoo_version():
        return
    if os.geteuid() != 0:
        sys.exit("bench: kazoo is missing for /usr/bin/python3; apt-get install python3-kazoo, or PEER=none")
    log("installing python3-kazoo with apt-get")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    cmd = ["apt-get", "install", "-y", "-qq", "--no-install-recommends", "python3-kazoo"]
    if subprocess.run(cmd, env=env, capture_output=True).returncode != 0:
        subprocess.run(["apt-get", "update", "-qq"], env=env, capture_output=True)
        subprocess.run(cmd, env=env, capture_output=True)
    if not kazoo_version():
        sys.exit("bench: could not install python3-kazoo; PEER=none runs election alone")


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


def run_impl(bench, rids):
    """Every figure of one implementation at one tick."""
    r = {}
    log(f"{bench.impl.key} tick {bench.tick_ms}: start -> first file, {ROUNDS} rounds")
    r["start_to_first_file_ms"] = summary(bench.start_rounds(ROUNDS))
    for rid in rids:
        bench.spawn(rid)
    bench.wait_steady(rids)
    log(f"{bench.impl.key} tick {bench.tick_ms}: at rest for {REST_SECONDS:.0f} s")
    r["at_rest"] = bench.at_rest(rids, REST_SECONDS)
    graceful, _, wakes = bench.failover_rounds(rids, signal.SIGTERM, ROUNDS, label="graceful")
    r["graceful_ms"] = summary(graceful)
    r["watch_wakeups_per_failover"] = wakes
    crash, _, _ = bench.failover_rounds(rids, signal.SIGKILL, ROUNDS, label="crash")
    r["crash_ms"] = summary(crash)
    if bench.impl.can_resume:
        kill_to_file, restart_to_file, _ = bench.failover_rounds(
            rids, signal.SIGKILL, ROUNDS, restart_same=True, label="crash-restart")
        r["crash_restart_ms"] = summary(kill_to_file)
        r["restart_to_first_file_ms"] = summary(restart_to_file)
    r["verify"] = bench.verify(rids)
    bench.stop_all()
    return r


def scale_pass(bench, n):
    rids = [f"{bench.impl.key}-s{i}" for i in range(1, n + 1)]
    log(f"{bench.impl.key} tick {bench.tick_ms}: scale pass, {n} candidates")
    for rid in rids:
        bench.spawn(rid, path=f"/bench-{bench.impl.key}-scale", cgroup=False)
    bench.wait_steady(rids, timeout=120)
    graceful, _, wakes = bench.failover_rounds(rids, signal.SIGTERM, ROUNDS, label="scale graceful")
    out = {"graceful_ms": summary(graceful), "watch_wakeups_per_failover": wakes, "verify": bench.verify(rids)}
    bench.stop_all()
    return out


def main():
    if not os.access(BINARY, os.X_OK):
        sys.exit(f"bench: no binary at {BINARY} (make release builds it)")
    impls = [Implementation("election", "election", [BINARY, "run"], BINARY, can_resume=True)]
    if PEER == "kazoo":
        ensure_kazoo()
        impls.append(Implementation("kazoo", "kazoo Election", [SYSTEM_PYTHON, KAZOO_DRIVER, "run"], SYSTEM_PYTHON,
                                    can_resume=False))
    elif PEER != "none":
        sys.exit(f"bench: PEER must be kazoo or none, not {PEER!r}")
    work = tempfile.mkdtemp(prefix="election-bench.")
    cpu = CpuMeter(f"election-bench.{os.getpid()}")
    kv = kazoo_version() if PEER == "kazoo" else None
    setup = {"date": time.strftime("%Y-%m-%d %H:%M:%S %z"), "machine": machine(), "n": N, "scale_n": SCALE_N,
             "rounds": ROUNDS, "rest_seconds": REST_SECONDS, "ticks_ms": TICKS, "settings": " ".join(FLAGS),
             "binary": BINARY, "cpu_method": cpu.method, "loadavg_start": loadavg(),
             "peer_label": impls[1].label if len(impls) > 1 else None,
             "peer_version": f"kazoo {kv[0]} on Python {kv[1]}" if kv else None,
             "http_tick_ms": HTTP_TICK if HTTP_TICK in TICKS else None}
    results = {"setup": setup, "ticks": {}}
    running = {"bench": None, "zk": None}

    def interrupted(*_):
        raise KeyboardInterrupt()
    signal.signal(signal.SIGTERM, interrupted)
    started = time.time()
    try:
        log(f"work dir {work}; CPU: {cpu.method}")
        for ti, tick in enumerate(TICKS):
            zkdir = os.path.join(work, f"zk-{tick}")
            log(f"starting ZooKeeper, tickTime {tick} ms")
            running["zk"] = zkdir
            Bench.zk("start", zkdir, "1", tick_ms=tick)
            per = {}
            # Every other tick the peer goes first, so that a load that drifts during the
            # run (a build next door) does not always favour the same side.
            order = [] if ONLY else impls if ti % 2 == 0 else impls[::-1]
            for impl in order:
                bench = Bench(os.path.join(work, f"tick{tick}"), zkdir, tick, impl, FLAGS, SESSION_TIMEOUT, cpu,
                              BINARY)
                running["bench"] = bench
                bench.attach()
                setup.setdefault("zookeeper", bench.mntr().get("zk_version", "?").split("-")[0].split(",")[0])
                per["negotiated_session_ms"] = bench.negotiated_session_timeout_ms()
                rids = [f"{impl.key[0]}{tick}-{i}" for i in range(1, N + 1)]
                per["election" if impl.key == "election" else "peer"] = run_impl(bench, rids)
            per["order"] = [impl.key for impl in order]
            if ti == 0 and SCALE_N > 0:
                scale = {"n": SCALE_N, "tick_ms": tick}
                for impl in impls:
                    bench = Bench(os.path.join(work, f"tick{tick}"), zkdir, tick, impl, FLAGS, SESSION_TIMEOUT, cpu,
                                  BINARY)
                    running["bench"] = bench
                    bench.attach()
                    scale["election" if impl.key == "election" else "peer"] = scale_pass(bench, SCALE_N)
                results["scale"] = scale
            if tick == HTTP_TICK:
                bench = Bench(os.path.join(work, f"tick{tick}"), zkdir, tick, impls[0], FLAGS, SESSION_TIMEOUT, cpu,
                              BINARY)
                running["bench"] = bench
                bench.attach()
                log(f"HTTP pass at tick {tick}: {N} replicas with --http-addr beside {N} without")
                results["http"] = httppass.run(bench, N, HTTP_ROUNDS, HTTP_RATE, HTTP_SECONDS, FLOOD)
            if tick == SUPERVISED_TICK and SUPERVISED_ROUNDS > 0:
                bench = Bench(os.path.join(work, f"tick{tick}"), zkdir, tick, impls[0], FLAGS, SESSION_TIMEOUT, cpu,
                              BINARY)
                running["bench"] = bench
                bench.attach()
                setup.setdefault("zookeeper", bench.mntr().get("zk_version", "?").split("-")[0].split(",")[0])
                log(f"supervised pass at tick {tick}: {N} replicas of election run -- CMD, {SUPERVISED_ROUNDS} rounds")
                results["supervised"] = supervised.run(bench, N, SUPERVISED_ROUNDS)
            if not ONLY:
                results["ticks"][str(tick)] = per
            running["bench"] = None
            Bench.zk("stop", zkdir)
            running["zk"] = None
        setup["wall_seconds"] = round(time.time() - started, 1)
        setup["loadavg_end"] = loadavg()
    except BaseException as e:
        log("interrupted" if isinstance(e, KeyboardInterrupt) else f"failed: {e!r}")
        if running["bench"]:
            running["bench"].stop_all()
        if running["zk"]:
            try:
                Bench.zk("stop", running["zk"])
            except Exception as stop_error:
                log(f"stopping ZooKeeper: {stop_error}")
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
    violations = sum(len(per[k]["verify"]["violations"]) for per in results["ticks"].values()
                     for k in ("election", "peer") if k in per)
    violations += sum(len(results["scale"][k]["verify"]["violations"])
                      for k in ("election", "peer") if k in results.get("scale", {}))
    violations += sum(len(v["violations"]) for v in results.get("http", {}).get("verify", {}).values())
    sup = results.get("supervised")
    if sup:
        violations += len(sup["verify"].get("violations", [])) + len(sup["overlaps"])
    if violations:
        sys.exit(1)


if __name__ == "__main__":
    main()
