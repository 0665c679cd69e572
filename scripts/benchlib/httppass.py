"""`make bench`'s HTTP pass: election with --http-addr, side by side in one run
with the same binary without it, on the same ZooKeeper.

Two groups of N replicas run at once on two election paths, one with HTTP off
and one with HTTP on (a port each on loopback), so that both see the same
machine load. Measured:

  memory        RSS / PSS / private dirty of every replica after a few requests to
                every endpoint, again after the /metrics load, and at the end
  endpoints     /leader answers 200 on the leader only; /healthz and /readyz 200
  latency       /metrics on the leader, RATE requests/s for SECONDS, one connection
                per request (the server closes each); /status and /leader for
                SECONDS/6 each; the replicas' CPU over the /metrics window
  failover      graceful (SIGTERM) failover, rounds alternating between the HTTP-off
                and the HTTP-on group, while RATE requests/s of /metrics go round
                the HTTP-on replicas
  hostile       a 1 MiB header alone; then a burst of FLOOD idle connections and a
                slow-loris (a byte a second) against one replica, /healthz probed
                every 0.2 s on every replica; then the same attack kept up
                (FLOOD connections reopened as the server closes them, at most 250
                new ones/s, a slow-loris and a 1 MiB header every 2 s, from a child
                process at nice 19) while graceful failover rounds alternate
                between the groups again, the HTTP side's times also split by
                the attacked replica's part in each round (stopped, took over,
                neither)
"""

import multiprocessing
import os
import queue
import threading
import time

from harness.net import free_ports

from . import http, memory
from .measure import log
from .stats import summary as stats


def footprint(bench, rids):
    out = {}
    for r in rids:
        roll = memory.rollup(bench.procs[r].pid)
        out[r] = {"rss_kib": roll["Rss"], "pss_kib": roll["Pss"], "private_dirty_kib": roll["Private_Dirty"]}
    return out


def fds(pid):
    try:
        return len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return None


def wait_http(ports, timeout=15):
    deadline = time.time() + timeout
    for p in ports:
        while http.get(p, "/healthz", timeout=1)[:2] != ("ok", 200):
            if time.time() > deadline:
                raise RuntimeError(f"no HTTP on port {p}")
            time.sleep(0.05)


def alternate(bench, groups, rounds, label):
    """Graceful failover rounds alternating between the groups (order swapped every
    round, so that a drifting load favours neither); {group: [ms]}, {group: [(old, new)]}."""
    times = {k: [] for k in groups}
    pairs = {k: [] for k in groups}
    keys = list(groups)
    for i in range(rounds):
        for k in (keys if i % 2 == 0 else keys[::-1]):
            for g in groups.values():
                bench.wait_steady(g)
            r = bench.failover_round(groups[k], "term", label=f"{label}, {k} {i + 1}/{rounds} round 1/1")
            times[k].append(r["ms"])
            pairs[k].append((r["old"], r["new"]))
    return times, pairs


def keep_attacking(port, flood, stop, answers):
    """In a child process at nice 19 until `stop`: `flood` idle connections kept open
    (reopened at up to 250/s as the server closes them), slow-lorises one after
    another, a 1 MiB header every 2 s. Puts its summary on `answers`."""
    os.nice(19)
    quit_ = threading.Event()
    lorises, bigs = [], []

    def loris_loop():
        while not quit_.is_set():
            lorises.append(http.slow_loris(port, stop=quit_))
            quit_.wait(0.1)

    def big_loop():
        while not quit_.is_set():
            bigs.append(http.big_header(port, timeout=5))
            quit_.wait(2)
    flood_kept = http.IdleFlood(port, flood, sustain=True)
    threads = [threading.Thread(target=loris_loop, daemon=True), threading.Thread(target=big_loop, daemon=True)]
    for t in (flood_kept, *threads):
        t.start()
    stop.wait()
    quit_.set()
    flood_kept.stop()
    for t in threads:
        t.join(20)
    outcomes = {}
    for b in bigs:
        outcomes[b["outcome"]] = outcomes.get(b["outcome"], 0) + 1
    t = os.times()
    answers.put({
        "attacker_cpu_s": t.user + t.system, "flood": flood_kept.summary(),
        "loris": {"connections": len(lorises),
                  "outcomes": {o: sum(1 for x in lorises if x["outcome"] == o)
                               for o in sorted({x["outcome"] for x in lorises})},
                  "max_closed_s": max((x["seconds"] for x in lorises if x["outcome"] == "closed"), default=None),
                  "max_open_s": max((x["seconds"] for x in lorises if x["outcome"] != "refused"), default=None)},
        "big_header": outcomes})


def run(bench, n, rounds, rate, seconds, flood):
    http.raise_nofile(4 * flood + 1024)
    ports = free_ports(n)
    off = [f"hoff-{i}" for i in range(1, n + 1)]
    on = [f"hon-{i}" for i in range(1, n + 1)]
    port_of = dict(zip(on, ports))
    for rid in off:
        bench.spawn(rid, path="/bench-http-off")
    for rid in on:
        bench.spawn(rid, path="/bench-http-on", extra=["--http-addr", f"127.0.0.1:{port_of[rid]}"])
    bench.wait_steady(off)
    bench.wait_steady(on)
    wait_http(ports)
    time.sleep(2)
    r = {"tick_ms": bench.tick_ms, "n": n, "rounds": rounds, "rate": rate, "seconds": seconds, "flood": flood}

    # A few requests to every endpoint of every replica; /leader is 200 on the leader only.
    leader_on, _ = bench.leader(on)
    bad = []
    for _ in range(5):
        for rid, port in port_of.items():
            for path, want in (("/healthz", 200), ("/readyz", 200), ("/status", 200), ("/metrics", 200),
                               ("/leader", 200 if rid == leader_on else 503)):
                outcome, status, _, _ = http.get(port, path)
                if (outcome, status) != ("ok", want):
                    bad.append(f"{rid} {path}: {outcome} {status} (want {want})")
    r["endpoint_checks"] = {"requests": 5 * 5 * n, "unexpected": bad}
    r["memory_after_scrapes"] = {"off": footprint(bench, off), "on": footprint(bench, on)}
    leader_off, _ = bench.leader(off)
    b_off = memory.breakdown(bench.procs[leader_off].pid, bench.impl.executable)
    b_on = memory.breakdown(bench.procs[leader_on].pid, bench.impl.executable)
    groups = {g["group"]: g for g in b_off["groups"]}
    diff = []
    for g in b_on["groups"]:
        o = groups.pop(g["group"], {"rss_kib": 0, "private_dirty_kib": 0})
        diff.append((g["group"], o["rss_kib"], g["rss_kib"], o["private_dirty_kib"], g["private_dirty_kib"]))
    diff += [(g["group"], g["rss_kib"], 0, g["private_dirty_kib"], 0) for g in groups.values()]
    r["leader_memory_off_vs_on"] = {
        "groups": sorted(diff, key=lambda d: -abs(d[2] - d[1])),
        "threads": [b_off["threads"], b_on["threads"]],
        "thread_waits_on": b_on["thread_waits"]}

    # Latency on the leader, and what the load costs in CPU.
    log(f"http: /metrics on the leader, {rate} req/s for {seconds:.0f} s")
    pids = {x: bench.procs[x].pid for x in off + on}
    c0 = {x: bench.cpu.seconds(x, pids[x]) for x in off + on}
    t0 = time.time()
    sc = http.Scraper(lambda: [port_of[leader_on]], "/metrics", rate, seconds)
    sc.start()
    sc.join()
    elapsed = time.time() - t0
    c1 = {x: bench.cpu.seconds(x, pids[x]) for x in off + on}
    cpu = {x: (c1[x] - c0[x]) / elapsed * 60 for x in off + on}
    latency = {"/metrics": sc.summary()}
    for path in ("/status", "/leader"):
        s = http.Scraper(lambda: [port_of[leader_on]], path, rate, max(5.0, seconds / 6))
        s.start()
        s.join()
        latency[path] = s.summary()
    r["latency"] = latency
    r["metrics_bytes"] = len(http.get(port_of[leader_on], "/metrics")[3])
    r["cpu_s_per_min_during_load"] = {
        "off_leader": cpu[leader_off], "on_leader": cpu[leader_on],
        "off_followers": sum(cpu[x] for x in off if x != leader_off) / max(1, n - 1),
        "on_followers": sum(cpu[x] for x in on if x != leader_on) / max(1, n - 1), "seconds": elapsed}
    r["memory_after_load"] = {"off": footprint(bench, off), "on": footprint(bench, on)}

    # Graceful failover with and without HTTP, under the scrape load.
    log(f"http: graceful failover, {rounds} rounds each side, {rate} req/s of /metrics over the HTTP replicas")
    scraper = http.Scraper(lambda: ports, "/metrics", rate)
    scraper.start()
    try:
        times, pairs = alternate(bench, {"off": off, "on": on}, rounds, "http under scrape load")
    finally:
        scraper.stop()
    r["failover_scrape"] = {"off": stats(times["off"]), "on": stats(times["on"]), "scrape": scraper.summary()}

    # Hostile clients against one replica: the HTTP-on group's leader at this point.
    bench.wait_steady(on)
    target, _ = bench.leader(on)
    tport = port_of[target]
    others = [port_of[x] for x in on if x != target]
    h = {"target": target, "fds_before": fds(bench.procs[target].pid)}
    log(f"http: hostile clients against {target} (port {tport}): 1 MiB header, {flood} idle connections, "
        "a slow-loris")
    h["big_header_alone"] = http.big_header(tport)
    prober = http.Prober([tport, *others])
    prober.start()
    loris = {}
    lt = threading.Thread(target=lambda: loris.update(http.slow_loris(tport)), daemon=True)
    lt.start()
    time.sleep(0.3)  # the slow-loris holds a slot before the flood arrives
    burst = http.IdleFlood(tport, flood)
    burst.start()
    burst.join(30)
    lt.join(20)
    time.sleep(1)
    prober.stop()
    h["burst"] = burst.summary()
    h["loris"] = loris
    h["healthz_target"] = prober.summary(tport)
    h["healthz_others"] = [prober.summary(p) for p in others]
    h["fds_after"] = fds(bench.procs[target].pid)
    h["memory_after_burst"] = footprint(bench, [target])[target]

    log(f"http: graceful failover, {rounds} rounds each side, while the attack on port {tport} is kept up")
    # The attacking clients run in a child process at nice 19: in production an attacker's
    # CPU is not on the replicas' host, here they share its cores with the replicas.
    ctx = multiprocessing.get_context("fork")
    stop = ctx.Event()
    answers = ctx.Queue()
    child = ctx.Process(target=keep_attacking, args=(tport, flood, stop, answers), daemon=True)
    child.start()
    prober = http.Prober(ports)
    prober.start()
    time.sleep(2)
    c0 = {x: bench.cpu.seconds(x, None) for x in on} if bench.cpu.kind else None
    t0 = time.time()
    try:
        times, pairs = alternate(bench, {"off": off, "on": on}, rounds, "http under attack")
    finally:
        stop.set()
        try:
            attack = answers.get(timeout=60)
        except queue.Empty:
            attack = None
        child.join(10)
        if child.is_alive():
            child.kill()
        prober.stop()
    if attack is None:
        raise RuntimeError("the attacking child process reported nothing")
    elapsed = time.time() - t0
    if c0 is not None:  # cgroup counters: cumulative over the restarts of each replica
        c1 = {x: bench.cpu.seconds(x, None) for x in on}
        attack["cpu_s_per_min"] = {"target": (c1[target] - c0[target]) / elapsed * 60,
                                   "others": sum(c1[x] - c0[x] for x in on if x != target) / max(1, n - 1)
                                   / elapsed * 60}
    attack["seconds"] = elapsed
    by_role = {"old leader": [], "new leader": [], "neither": []}
    for (old, new), ms in zip(pairs["on"], times["on"]):
        by_role["old leader" if old == target else "new leader" if new == target else "neither"].append(ms)
    h["kept_up"] = {
        "failover_off": stats(times["off"]), "failover_on": stats(times["on"]),
        "failover_on_by_target_role": {k: stats(v) for k, v in by_role.items()},
        **attack, "healthz": {str(p): prober.summary(p) for p in ports}, "target_port": tport}
    bench.wait_steady(on)
    time.sleep(6)  # past the request deadline: every attack connection is gone
    h["fds_end"] = fds(bench.procs[target].pid)
    r["hostile"] = h
    r["memory_end"] = {"off": footprint(bench, off), "on": footprint(bench, on)}
    r["verify"] = {"off": bench.verify(off), "on": bench.verify(on)}
    bench.stop_all()
    return r
