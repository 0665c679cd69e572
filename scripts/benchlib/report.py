"""The markdown tables `make bench` prints, from the results dictionary."""

from . import supervised
from . import stats as st
from .stats import ratio_summary


def ratio(peer, ours):
    if peer is None or ours is None:
        return "–"
    if ours == 0:
        return "∞" if peer > 0 else "1.0×"
    r = peer / ours
    return f"{r:.2f}×" if r < 10 else f"{r:.0f}×"


def wake_text(wakes):
    if not wakes:
        return "–"
    distinct = sorted(set(wakes))
    return " ".join(map(str, distinct)) if len(distinct) > 1 else f"{distinct[0]} each"


def table(header, rows):
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def memory_table(b, label):
    rows = []
    for grp in b["groups"]:
        if grp["rss_kib"] == 0 and grp["vsz_kib"] < 1024:
            continue
        rows.append((grp["group"], str(grp["mappings"]), f"{grp['rss_kib']}", f"{grp['pss_kib']}",
                     f"{grp['private_dirty_kib']}", f"{grp['vsz_kib']}"))
    t = b["total"]
    rows.append(("**total**", "", f"**{t['rss_kib']}**", f"**{t['pss_kib']}**", f"**{t['private_dirty_kib']}**",
                 f"{t['vsz_kib']}"))
    waits = ", ".join(f"{w['count']}× {w['comm']} in {w['waits_in']}" for w in b["thread_waits"])
    return (f"{label}: {b['threads']} threads ({waits})\n\n"
            + table(("mapping group", "maps", "RSS KiB", "PSS KiB", "private dirty KiB", "reserved KiB"), rows))


def fmt_ms(v, unit="ms"):
    if v is None:
        return "–"
    if unit == "s":
        return f"{v / 1000:.2f}"
    return f"{v:.1f}" if v < 100 else f"{v:.0f}"


def spread(sm, unit="ms"):
    """"p50 (p10–p90) unit" of a summary."""
    if not sm or sm.get("p50") is None:
        return "–"
    u = " s" if unit == "s" else " ms"
    return f"{fmt_ms(sm['p50'], unit)} ({fmt_ms(sm['p10'], unit)}–{fmt_ms(sm['p90'], unit)}){u}"


def compare(ours, peer, label, lower_is_better=True):
    """The ratio cell: "peer ÷ ours p50 (p10–p90 of the round-by-round ratios): verdict"."""
    rs = ratio_summary(peer, ours)
    if rs is None:
        return "–"
    v = st.verdict(ours, peer, lower_is_better)
    word = {"ours": "**election faster**", "peer": f"**{label} faster**", "noise": "within noise",
            "few": "too few rounds to call"}.get(v, "")
    return f"{rfmt(rs['p50'])}× ({rfmt(rs['p10'])}–{rfmt(rs['p90'])}): {word}"


def rfmt(x):
    return f"{x:.2f}" if x < 10 else f"{x:.0f}"


def value_ratio(peer, ours):
    if peer is None or ours is None or ours == 0:
        return "–"
    return f"{rfmt(peer / ours)}×"


def mean(values):
    values = list(values)
    return sum(values) / len(values) if values else None


def cpu_parts(rest):
    cpu = rest["cpu_s_per_min"]
    followers = [v for k, v in cpu.items() if k != rest["leader"]]
    return mean(cpu.values()), cpu[rest["leader"]], mean(followers) if followers else 0.0


def zombie_text(p):
    if not p:
        return "–"
    z = p["zombie_writes"]
    return f"{sum(z)} in {len(z)} pauses ({' '.join(map(str, z))})"


def side_order(setup, d):
    """The keys of `d` in the order of the run's sides (election first): a JSON written
    with sorted keys does not keep it."""
    order = [x["key"] for x in setup["sides"]]
    return [k for k in order if k in d] + sorted(k for k in d if k not in order)


def tick_rows(per, setup):
    """(measure, value per side..., ratio per peer...) rows of one tick."""
    sd = per["sides"]
    keys = side_order(setup, sd)
    peers = keys[1:]
    labels = {x["key"]: x["label"] for x in setup["sides"]}
    e = sd["election"]
    rows = []

    def g(k, *path):
        r = sd.get(k)
        for p in path:
            if r is None:
                return None
            r = r.get(p)
        return r

    def timed(title, key, unit="ms", peer_key=None, note=None):
        cells = [spread(g(k, key if k == "election" else (peer_key or key)), unit) for k in keys]
        if note:
            cells = [cells[0]] + [f"{c} {note}" if c != "–" else c for c in cells[1:]]
        ratios = [compare(g("election", key), g(k, peer_key or key), labels[k].split()[0]) for k in peers]
        rows.append((title, *cells, *ratios))

    if e.get("graceful_ms"):
        timed("graceful failover (SIGTERM to the leader → next leader's first file)", "graceful_ms")
    if e.get("crash_process_ms"):
        timed("crash of the process, host alive (SIGKILL of the daemon; its guardian closes the session)",
              "crash_process_ms", "s", peer_key="crash_host_ms", note="¹")
    if e.get("crash_host_ms"):
        timed("crash of the host (daemon and guardian SIGKILLed together; the peers: SIGKILL)", "crash_host_ms", "s")
    if e.get("crash_restart_ms"):
        rows.append(("crash of the host, the replica restarted at once → its first file (kill → file; restart → file)",
                     f"{spread(e['crash_restart_ms'])}; {spread(e['restart_to_first_file_ms'])}",
                     *["no: a new candidate cannot resume the crashed session ²" for _ in peers], *["–" for _ in peers]))
    if e.get("start_to_first_file_ms"):
        timed("process start → first file (a lone replica)", "start_to_first_file_ms")
    if e.get("pause"):
        secs = e["pause"]["seconds"]
        rows.append((f"writes of the old term after a {secs:g} s SIGSTOP of the leader (zombie writes), "
                     "per pause", *[zombie_text(g(k, "pause")) for k in keys], *["–" for _ in peers]))
        rows.append(("  the next leader's first file during that pause (SIGSTOP → file)",
                     *[spread(g(k, "pause", "takeover_ms"), "s") for k in keys],
                     *[compare(e["pause"]["takeover_ms"], g(k, "pause", "takeover_ms"), labels[k].split()[0])
                       for k in peers]))
    er = e.get("at_rest")
    if er:
        def packets(r):
            if not r:
                return "–"
            rec, snt = r["packets_received_per_s"], r["packets_sent_per_s"]
            fol = [x for x in rec if x != r["leader"]]
            return (f"{r['packets_received_per_s_per_replica']:.2f} / {r['packets_sent_per_s_per_replica']:.2f} "
                    f"(leader {rec[r['leader']]:.2f} / {snt[r['leader']]:.2f}, follower "
                    f"{mean(rec[x] for x in fol):.2f} / {mean(snt[x] for x in fol):.2f})")
        rows.append(("ZooKeeper packets/s per replica at rest, received / sent: mean (leader, follower); "
                     "the server's count for the replica's own connections",
                     *[packets(g(k, "at_rest")) for k in keys],
                     *[value_ratio(g(k, "at_rest", "packets_received_per_s_per_replica"),
                                   er["packets_received_per_s_per_replica"]) for k in peers]))

        def mem(r):
            if not r:
                return "–"
            return (f"{max(r['rss_mib'].values()):.1f} / {mean(r['pss_mib'].values()):.1f} / "
                    f"{mean(r['private_dirty_mib'].values()):.1f} MiB")

        def mem_ratio(k):
            r = g(k, "at_rest")
            if not r:
                return "–"
            return " / ".join(value_ratio(f(r), f(er)) for f in (
                lambda x: max(x["rss_mib"].values()), lambda x: mean(x["pss_mib"].values()),
                lambda x: mean(x["private_dirty_mib"].values())))
        rows.append(("memory per replica at rest: RSS (max) / PSS (mean) / private dirty (mean)",
                     *[mem(g(k, "at_rest")) for k in keys], *[mem_ratio(k) for k in peers]))
        gm = er.get("guardian_mib")
        if gm:
            rows.append(("  election's guardian process (the leader only): RSS / PSS / private dirty",
                         f"{gm['rss']:.1f} / {gm['pss']:.1f} / {gm['private_dirty']:.1f} MiB",
                         *["none" for _ in peers], *["–" for _ in peers]))

        def cpu(r):
            if not r:
                return "–"
            c = cpu_parts(r)
            return f"{c[0]:.3f} ({c[1]:.3f} / {c[2]:.3f})"
        rows.append(("CPU s/min per replica at rest: mean (leader / follower)", *[cpu(g(k, "at_rest")) for k in keys],
                     *[value_ratio(cpu_parts(g(k, "at_rest"))[0], cpu_parts(er)[0]) if g(k, "at_rest") else "–"
                       for k in peers]))
    if e.get("watch_notifications_per_failover"):
        rows.append(("watch notifications the server sent per graceful failover",
                     *[wake_text(g(k, "watch_notifications_per_failover")) for k in keys], *["–" for _ in peers]))
    def violations(k):
        if not g(k, "verify"):
            return "–"
        text = str(len(g(k, "verify", "violations") or []))
        after = g(k, "pause", "violations_after_pause")
        return text + (f"; right after each pause: {' '.join(map(str, after))}" if after is not None else "")
    rows.append(("invariant violations, `election verify` over the files left at the end (each directory keeps "
                 "its last 10: a zombie write is mostly pruned by then)",
                 *[violations(k) for k in keys], *["–" for _ in peers]))
    return rows


def tick_table(per, setup):
    keys = side_order(setup, per["sides"])
    labels = {x["key"]: x["label"] for x in setup["sides"]}
    header = ("measure, p50 (p10–p90)", *[labels[k] for k in keys],
              *[f"{labels[k]} ÷ election" for k in keys[1:]])
    return table(header, tick_rows(per, setup))


def crosscheck_text(per, setup):
    c = per.get("crosscheck")
    if not c or not c.get("graceful_ms"):
        return None
    full, mini = c["kazoo_graceful_ms"], c["graceful_ms"]
    rs = ratio_summary(full, mini)
    if rs is None:
        return None
    v = st.verdict(mini, full)
    word = {"ours": "the full driver is slower", "peer": "the full driver is faster", "noise": "within noise",
            "few": "too few rounds to call"}[v]
    return (f"Cross-check of the kazoo driver (graceful failover, the same interleaved rounds): "
            f"`bench/kazoo_election.py` {spread(full)}, the minimal driver (`bench/kazoo_minimal.py`: the recipe's "
            f"`run()` and a write) {spread(mini)}; full ÷ minimal {rs['p50']:.2f}× ({rs['p10']:.2f}–{rs['p90']:.2f}×): "
            f"{word}.")


def setup_text(s):
    sides_text = "; ".join(f"{x['label']}" + (f" ({x['version']})" if x.get("version") else "") for x in s["sides"])
    return (f"{s['machine']}; ZooKeeper {s.get('zookeeper', '?')} standalone on loopback; {s['n']} replicas of each "
            f"side, all groups at once on the one server; {s['settings']}; {s['rounds']} rounds per measure "
            f"({s.get('pause_rounds', 0)} for the pause), interleaved, the order rotated each round; at rest "
            f"{s['rest_seconds']:.0f} s; CPU: {s['cpu_method']}; load average {s['loadavg_start']} at the start, "
            f"{s.get('loadavg_end', '?')} at the end; {s.get('wall_seconds', '?')} s in all. Binary "
            f"{s['binary']} (sha256 {s['binary_sha256'][:12]}), tree {s.get('tree')}. Sides: {sides_text}.")


def render(r):
    out = []
    s = r["setup"]
    out.append(f"## election bench — {s['date']}")
    out.append("")
    if not r["ticks"] and s.get("only"):  # ONLY=supervised
        out.append(f"{s['machine']}; ZooKeeper {s.get('zookeeper', '?')} standalone on loopback; {s['settings']}; "
                   f"load average {s['loadavg_start']} at the start, {s.get('loadavg_end')} at the end; "
                   f"{s.get('wall_seconds')} s in all. The supervised pass alone (ONLY=supervised).")
    else:
        out.append(setup_text(s))
    for tick, per in r["ticks"].items():
        out.append("")
        title = "ZooKeeper's default" if int(tick) == 2000 else "this project's test ensembles" \
            if int(tick) == 500 else "tick"
        out.append(f"### tickTime = {tick} ms ({title}); session asked 4 s, granted "
                   f"{per['negotiated_session_ms'] / 1000:g} s; {per.get('seconds', '?')} s")
        out.append("")
        out.append(tick_table(per, s))
        cc = crosscheck_text(per, s)
        if cc:
            out.append("")
            out.append(cc)
    out.append("")
    out.append(FOOTNOTES)
    if "scale" in r:
        out.append("")
        out.append(render_scale(r["scale"], s))
    if "http" in r:
        out.append("")
        out.append(render_http(r["http"]))
    if "supervised" in r:
        out.append("")
        out.append(supervised.render(r["supervised"]))
    if r["ticks"]:
        out.append("")
        out.append(render_memory(r, s))
    return "\n".join(out)


FOOTNOTES = ("Ratio = peer ÷ election, round by round (the rounds are interleaved, so round i of each side ran under "
             "the same load): its p50 and its p10–p90 spread. A side is called faster only when the two p10–p90 "
             "spreads do not overlap; otherwise the row says within noise.\n\n"
             "¹ The peers have no guardian: their process crash is their host crash (the same rounds), and the next "
             "leader waits for the server to expire the session.\n"
             "² kazoo's Lock and Curator's LeaderLatch give every new candidate a fresh znode: a restarted process "
             "neither finds nor resumes its crashed candidate.")


def render_scale(sc, s):
    labels = {x["key"]: x["label"] for x in s["sides"]}
    keys = side_order(s, sc["sides"])
    e = sc["sides"]["election"]
    rows = [("graceful failover", *[spread(sc["sides"][k]["graceful_ms"]) for k in keys],
             *[compare(e["graceful_ms"], sc["sides"][k]["graceful_ms"], labels[k].split()[0]) for k in keys[1:]]),
            ("watch notifications the server sent per failover",
             *[wake_text(sc["sides"][k]["watch_notifications_per_failover"]) for k in keys], *["–" for _ in keys[1:]]),
            ("invariant violations", *[str(len(sc["sides"][k]["verify"]["violations"])) for k in keys],
             *["–" for _ in keys[1:]])]
    return (f"### {sc['n']} candidates of each side at once, tickTime = {sc['tick_ms']} ms\n\n"
            + table(("measure, p50 (p10–p90)", *[labels[k] for k in keys],
                     *[f"{labels[k]} ÷ election" for k in keys[1:]]), rows))


def render_memory(r, s):
    out = []
    last_tick = list(r["ticks"])[-1]
    last = r["ticks"][last_tick]["sides"]
    if not last["election"].get("at_rest"):
        return ""
    out.append(f"### Where the resident memory goes (at rest, tickTime = {last_tick} ms)")
    out.append("")
    out.append("PSS divides each shared page among every process mapping it (the replicas, and anything "
               "else running the same binary or libraries); private dirty is what this process alone costs.")
    out.append("")
    out.append(memory_table(last["election"]["at_rest"]["memory_leader"], "election leader"))
    out.append("")
    fol = last["election"]["at_rest"]["memory_follower"]["total"]
    out.append(f"election follower: RSS {fol['rss_kib']} KiB, PSS {fol['pss_kib']} KiB, private dirty "
               f"{fol['private_dirty_kib']} KiB")
    mods = last["election"]["at_rest"].get("binary_by_module_kib")
    if mods:
        shown = [f"{name} {kib}" for name, kib in mods if kib >= 64]
        rest = sum(kib for _, kib in mods if kib < 64)
        out.append("")
        out.append("binary's read-only pages resident in the leader, by module (KiB): " + ", ".join(shown)
                   + (f", the rest {rest}" if rest else ""))
    labels = {x["key"]: x["label"] for x in s["sides"]}
    for k in side_order(s, last):
        d = last[k]
        if k == "election" or not d.get("at_rest"):
            continue
        pm = d["at_rest"]["memory_leader"]
        top = ", ".join(f"{grp['group']} {grp['rss_kib']} ({grp['private_dirty_kib']})" for grp in pm["groups"][:5])
        out.append("")
        out.append(f"{labels[k]} leader: RSS {pm['total']['rss_kib']} KiB, PSS {pm['total']['pss_kib']} KiB, private "
                   f"dirty {pm['total']['private_dirty_kib']} KiB, {pm['threads']} threads; largest groups, RSS "
                   f"(private dirty) KiB: {top}")
    return "\n".join(out)


def render_http(h):
    """The HTTP pass: HTTP off beside HTTP on, then the hostile clients."""
    import statistics

    def mem(fp):
        rss = max(v["rss_kib"] for v in fp.values()) / 1024
        own = statistics.mean(v["private_dirty_kib"] for v in fp.values()) / 1024
        return rss, own

    def ms(v):
        return "–" if v is None else f"{v:.2f} ms" if v < 10 else f"{v:.1f} ms"

    def verdict(ok):
        return "within" if ok else "**over**"

    rows = []
    for label, key in (("after 5 requests to every endpoint", "memory_after_scrapes"),
                       (f"after {h['seconds']:.0f} s of /metrics at {h['rate']:g} req/s", "memory_after_load"),
                       ("at the end of the pass (failovers, attack)", "memory_end")):
        (ro, po), (rn, pn) = mem(h[key]["off"]), mem(h[key]["on"])
        rows.append((f"RSS per replica, max / private dirty, mean: {label}", f"{ro:.1f} / {po:.2f} MiB",
                     f"{rn:.1f} / {pn:.2f} MiB", f"{rn / ro:.2f} / {pn / po:.2f}",
                     f"off ≤ 12 MiB: {verdict(ro <= 12)}; on ≤ 20 MiB: {verdict(rn <= 20)}"))
    lm = h["leader_memory_off_vs_on"]
    rows.append(("threads (leader)", str(lm["threads"][0]), str(lm["threads"][1]), "", ""))
    c = h["cpu_s_per_min_during_load"]
    rows.append(("CPU s/min during the /metrics load: leader / followers, mean",
                 f"{c['off_leader']:.3f} / {c['off_followers']:.3f}", f"{c['on_leader']:.3f} / {c['on_followers']:.3f}",
                 f"{ratio(c['on_leader'], c['off_leader'])} / {ratio(c['on_followers'], c['off_followers'])}", ""))
    for path, lat in h["latency"].items():
        secs = h["seconds"] if path == "/metrics" else max(5.0, h["seconds"] / 6)
        bad = lat["requests"] - lat["ok_200"]
        rows.append((f"{path} on the leader, {h['rate']:g} req/s for {secs:.0f} s, a connection each: "
                     f"p50 / p99 / max", "–",
                     f"{ms(lat['p50_ms'])} / {ms(lat['p99_ms'])} / {ms(lat['max_ms'])} "
                     f"({lat['ok_200']} × 200" + (f", {bad} other: {lat['outcomes']}" if bad else "") + ")", "",
                     f"p99 ≤ 5 ms: {verdict(lat['p99_ms'] is not None and lat['p99_ms'] <= 5)}"
                     if path == "/metrics" else ""))
    rows.append(("/metrics body", "–", f"{h['metrics_bytes']} bytes", "", ""))
    fs = h["failover_scrape"]
    rows.append((f"graceful failover p50 / p90, {h['rounds']} rounds each, alternated, "
                 f"{h['rate']:g} req/s of /metrics round the HTTP replicas",
                 f"{ms(fs['off']['p50'])} / {ms(fs['off']['p90'])}", f"{ms(fs['on']['p50'])} / {ms(fs['on']['p90'])}",
                 f"{fs['on']['p50'] / fs['off']['p50']:.2f} / {fs['on']['p90'] / fs['off']['p90']:.2f}",
                 {"noise": "unchanged: within noise", "ours": "**HTTP on slower** (spreads apart)",
                  "peer": "**HTTP on faster** (spreads apart)", "few": "too few rounds to call"}.get(
                     st.verdict(fs["off"], fs["on"]), "–")))
    sc = fs["scrape"]
    rows.append(("scrapes during those rounds", "–",
                 ", ".join(f"{v} {k}" for k, v in sorted(sc["outcomes"].items(), key=lambda kv: -kv[1])),
                 "", "refused: a replica between SIGTERM and restart"))
    checks = h["endpoint_checks"]
    rows.append(("/healthz /readyz /status /metrics 200, /leader 200 on the leader only, 503 elsewhere", "–",
                 f"{checks['requests'] - len(checks['unexpected'])} of {checks['requests']} as expected"
                 + (f": {'; '.join(checks['unexpected'][:3])}" if checks["unexpected"] else ""), "", ""))
    rows.append(("overlap / invariant violations (`election verify`)", str(len(h["verify"]["off"]["violations"])),
                 str(len(h["verify"]["on"]["violations"])), "", "0"))
    out = [f"### HTTP: {h['n']} replicas with `--http-addr` beside {h['n']} without, at once "
           f"(tickTime = {h['tick_ms']} ms)", "",
           table(("measure", "HTTP off", "HTTP on", "on ÷ off", "budget"), rows), ""]
    big = [(g, o, n, po, pn) for g, o, n, po, pn in lm["groups"] if abs(n - o) >= 64 or abs(pn - po) >= 32]
    out.append("leader, HTTP on − HTTP off by mapping group (RSS KiB; private dirty KiB): "
               + ", ".join(f"{g} {n - o:+d} ({pn - po:+d})" for g, o, n, po, pn in big))
    out.append("")

    x = h["hostile"]
    b, k = x["burst"], x["kept_up"]

    def health(s):
        return (f"{s['ok_200']} of {s['probes']} × 200, longest without a 200 {s['longest_without_200_s']:.1f} s"
                + (f" ({', '.join(f'{v} {n}' for n, v in s['outcomes'].items() if not n.startswith('ok 200'))})"
                   if s["ok_200"] < s["probes"] else ""))

    def flood_text(f):
        return (f"{f['attempts']} opened, {f['established']} established, {f['refused']} refused, "
                f"{f['not_established']} never established; closed by the server: {f['closed_at_accept']} at accept "
                f"(< 0.5 s), {f['closed_at_deadline']} at the deadline (4.5–6.5 s; held p50 "
                f"{(f['held_p50_s'] or 0):.2f} s), {f['closed_other']} otherwise; longest "
                f"{(f['max_lifetime_s'] or 0):.2f} s; {f['left_open']} open when it ended"
                + (f" (oldest {f['left_open_max_age_s']:.1f} s)" if f["left_open"] else "")
                + (f"; {f['data_received']} got bytes" if f["data_received"] else ""))
    lo = x["loris"]
    fo_p50 = h["failover_scrape"]["off"]["p50"]
    ko = k["failover_off"]
    kn = k["failover_on"]
    others = x["healthz_others"]
    kh = k["healthz"]
    tport = str(k["target_port"])
    rows = [
        ("1 MiB header, alone", f"{x['big_header_alone']['outcome']} after {x['big_header_alone']['ms']:.1f} ms",
         "4xx or a close"),
        (f"burst: {h['flood']} idle connections", flood_text(b), "all closed within ~5–6 s"),
        ("burst: slow-loris (a byte a second)",
         f"{lo.get('outcome')} after {lo.get('seconds', 0):.1f} s ({lo.get('bytes')} bytes sent)", "closed at ~5 s"),
        ("burst: /healthz every 0.2 s on the attacked replica", health(x["healthz_target"]), "200"),
        ("burst: /healthz on the other replicas", "; ".join(health(s) for s in others), "200"),
        ("open fds of the attacked replica: before / after the burst / at the end",
         f"{x['fds_before']} / {x['fds_after']} / {x['fds_end']}", "back to the start"),
        (f"kept up: graceful failover p50 / p90, {h['rounds']} rounds each side, alternated",
         f"off {ms(ko['p50'])} / {ms(ko['p90'])}; on, one replica attacked {ms(kn['p50'])} / {ms(kn['p90'])}; "
         f"ratio {kn['p50'] / ko['p50']:.2f} / {kn['p90'] / ko['p90']:.2f}; on-side p50 when the attacked replica "
         "was " + ", ".join(f"{'' if role == 'neither' else 'the '}{role} {ms(v['p50'])} ({len(v['samples'])}×)"
                            for role, v in k["failover_on_by_target_role"].items() if v["samples"]),
         f"unchanged (within noise; HTTP off's own p50 moved {ko['p50'] / fo_p50:.2f}× between the two passes)"),
        (f"kept up: idle connections (≤ {h['flood']} at once, ≤ 250 new/s)", flood_text(k["flood"]),
         "closed at accept or at the deadline (or when the attacked replica stops); none open past ~6 s"),
        ("kept up: slow-lorises (one after another), 1 MiB headers (every 2 s)",
         f"slow-lorises: {k['loris']['connections']}: "
         + ", ".join(f"{v} {n}" for n, v in k["loris"]["outcomes"].items())
         + f" (longest open {(k['loris']['max_open_s'] or 0):.1f} s); 1 MiB headers: "
         + ", ".join(f"{v} {n}" for n, v in k["big_header"].items()),
         "none open past ~6 s; 4xx or a close"),
        ("kept up: CPU s/min of the attacked replica / of the other HTTP replicas, mean; the attacking client",
         (f"{k['cpu_s_per_min']['target']:.2f} / {k['cpu_s_per_min']['others']:.2f}; " if "cpu_s_per_min" in k else "")
         + f"{k['attacker_cpu_s']:.1f} CPU-s over {k['seconds']:.0f} s", ""),
        ("kept up: /healthz on the attacked replica", health(kh[tport]), "200"),
        ("kept up: /healthz on the other replicas",
         "; ".join(health(s) for p, s in kh.items() if p != tport), "200"),
    ]
    out.append(f"Hostile clients against {x['target']} (the HTTP group's leader when the attack began); the "
               "kept-up attack runs in a child process at nice 19:")
    out.append("")
    out.append(table(("check", "measured", "expected"), rows))
    return "\n".join(out)
