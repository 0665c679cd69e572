"""The markdown tables `make bench` prints, from the results dictionary."""

import statistics

from . import supervised


def ratio(peer, ours):
    if peer is None or ours is None:
        return "–"
    if ours == 0:
        return "∞" if peer > 0 else "1.0×"
    r = peer / ours
    return f"{r:.2f}×" if r < 10 else f"{r:.0f}×"


def cpu_parts(rest):
    cpu = rest["cpu_s_per_min"]
    followers = [v for k, v in cpu.items() if k != rest["leader"]]
    return statistics.mean(cpu.values()), cpu[rest["leader"]], statistics.mean(followers) if followers else 0.0


def impl_rows(e, k, negotiated_s):
    """(measure, election, peer, ratio) rows for one tick; k may be None (no peer run)."""
    def g(r, *path):
        for p in path:
            if r is None:
                return None
            r = r.get(p)
        return r

    def ms(v):
        return "–" if v is None else f"{v:.1f} ms"

    rows = []
    eg, kg = e["graceful_ms"], g(k, "graceful_ms")
    rows.append(("graceful (SIGTERM) failover p50 / p90",
                 f"{ms(eg['p50'])} / {ms(eg['p90'])}",
                 f"{ms(kg['p50'])} / {ms(kg['p90'])}" if kg else "–",
                 f"{ratio(g(kg, 'p50'), eg['p50'])} / {ratio(g(kg, 'p90'), eg['p90'])}"))
    ec, kc = e["crash_ms"]["p50"], g(k, "crash_ms", "p50")
    rows.append((f"crash (SIGKILL) failover p50 (session {negotiated_s:g} s)", f"{ec / 1000:.2f} s",
                 f"{kc / 1000:.2f} s" if kc is not None else "–", ratio(kc, ec)))
    if "crash_restart_ms" in e:
        rows.append(("crash → restart on the same host → first file p50 (kill → file; restart → file)",
                     f"{e['crash_restart_ms']['p50']:.0f} ms; {e['restart_to_first_file_ms']['p50']:.0f} ms",
                     "no peer: a new kazoo Lock cannot resume the crashed session" if k else "–", "–"))
    es, ks = e["start_to_first_file_ms"]["p50"], g(k, "start_to_first_file_ms", "p50")
    rows.append(("process start → first file p50", f"{es:.0f} ms", f"{ks:.0f} ms" if ks is not None else "–",
                 ratio(ks, es)))
    er, kr = e["at_rest"], g(k, "at_rest")

    def packets(r):
        return f"{r['packets_received_per_s_per_replica']:.2f} / {r['packets_sent_per_s_per_replica']:.2f}"
    rows.append(("ZooKeeper packets/s per replica at rest (received / sent)", packets(er),
                 packets(kr) if kr else "–",
                 ratio(g(kr, "packets_received_per_s_per_replica"), er["packets_received_per_s_per_replica"])))

    def rss(r):
        return max(r["rss_mib"].values())

    def own(r):  # private dirty: what the replica alone costs, whatever else maps the same files
        return statistics.mean(m["total"]["private_dirty_kib"] / 1024
                               for m in (r["memory_leader"], r["memory_follower"]))

    rows.append(("RSS per replica, max / private dirty, mean", f"{rss(er):.1f} MiB / {own(er):.1f} MiB",
                 f"{rss(kr):.1f} MiB / {own(kr):.1f} MiB" if kr else "–",
                 f"{ratio(rss(kr), rss(er))} / {ratio(own(kr), own(er))}" if kr else "–"))
    em = cpu_parts(er)
    km = cpu_parts(kr) if kr else None

    def cpu(c):
        return f"{c[0]:.3f} ({c[1]:.3f} / {c[2]:.3f})"
    rows.append(("CPU s/min per replica at rest: mean (leader / follower)", cpu(em), cpu(km) if km else "–",
                 f"{ratio(km[0], em[0])} ({ratio(km[1], em[1])} / {ratio(km[2], em[2])})" if km else "–"))
    rows.append(("watch wake-ups per graceful failover", wake_text(e["watch_wakeups_per_failover"]),
                 wake_text(g(k, "watch_wakeups_per_failover")) if k else "–", "–"))
    rows.append(("overlap / invariant violations (`election verify` over every directory)",
                 str(len(e["verify"]["violations"])), str(len(k["verify"]["violations"])) if k else "–", "–"))
    return rows


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


def render(r):
    out = []
    s = r["setup"]
    peer = s.get("peer_label")
    out.append(f"## election bench — {s['date']}")
    out.append("")
    if not r["ticks"]:  # ONLY=supervised
        out.append(f"{s['machine']}; ZooKeeper {s['zookeeper']} standalone on loopback; {s['settings']}; "
                   f"load average {s['loadavg_start']} at the start, {s['loadavg_end']} at the end; "
                   f"{s['wall_seconds']} s in all. The supervised pass alone (ONLY=supervised).")
    else:
        out.append(f"{s['machine']}; ZooKeeper {s['zookeeper']} standalone on loopback; {s['n']} replicas of each; "
                   f"{s['settings']}; medians over {s['rounds']} rounds; at rest {s['rest_seconds']:.0f} s; "
                   f"CPU: {s['cpu_method']}; load average {s['loadavg_start']} at the start, "
                   f"{s['loadavg_end']} at the end; {s['wall_seconds']} s in all. "
                   + (f"Peer: {peer} ({s.get('peer_version')}), same ZooKeeper, same harness, same files."
                      if peer else "No peer (PEER=none)."))
    for tick, per in r["ticks"].items():
        e, k = per["election"], per.get("peer")
        out.append("")
        title = "ZooKeeper's default" if int(tick) == 2000 else "this project's test ensembles"
        order = " then ".join(per.get("order", []))
        out.append(f"### tickTime = {tick} ms ({title}); session asked 4 s, granted "
                   f"{per['negotiated_session_ms'] / 1000:g} s; run {order}")
        out.append("")
        out.append(table(("measure", "election", peer or "peer", f"{peer or 'peer'} ÷ election"),
                         impl_rows(e, k, per["negotiated_session_ms"] / 1000)))
    if "scale" in r:
        sc = r["scale"]
        out.append("")
        out.append(f"### {sc['n']} candidates, tickTime = {sc['tick_ms']} ms")
        out.append("")
        e, k = sc["election"], sc.get("peer")
        rows = [("graceful failover p50 / p90",
                 f"{e['graceful_ms']['p50']:.1f} ms / {e['graceful_ms']['p90']:.1f} ms",
                 f"{k['graceful_ms']['p50']:.1f} ms / {k['graceful_ms']['p90']:.1f} ms" if k else "–",
                 f"{ratio(k['graceful_ms']['p50'], e['graceful_ms']['p50'])} / "
                 f"{ratio(k['graceful_ms']['p90'], e['graceful_ms']['p90'])}" if k else "–"),
                ("watch wake-ups per failover", wake_text(e["watch_wakeups_per_failover"]),
                 wake_text(k["watch_wakeups_per_failover"]) if k else "–", "–"),
                ("overlap / invariant violations", str(len(e["verify"]["violations"])),
                 str(len(k["verify"]["violations"])) if k else "–", "–")]
        out.append(table(("measure", "election", peer or "peer", f"{peer or 'peer'} ÷ election"), rows))
    if "http" in r:
        out.append("")
        out.append(render_http(r["http"]))
    if "supervised" in r:
        out.append("")
        out.append(supervised.render(r["supervised"]))
    if not r["ticks"]:  # ONLY=supervised
        return "\n".join(out)
    last = list(r["ticks"].values())[-1]
    out.append("")
    out.append("### Where election's resident memory goes (at rest, tickTime = "
               f"{list(r['ticks'])[-1]} ms)")
    out.append("")
    out.append("PSS divides each shared page among every process mapping it (the replicas, and anything "
               "else running the same binary or libraries); private dirty is what this process alone costs.")
    out.append("")
    out.append(memory_table(last["election"]["at_rest"]["memory_leader"], "leader"))
    out.append("")
    fol = last["election"]["at_rest"]["memory_follower"]["total"]
    out.append(f"follower: RSS {fol['rss_kib']} KiB, PSS {fol['pss_kib']} KiB, private dirty "
               f"{fol['private_dirty_kib']} KiB")
    mods = last["election"]["at_rest"].get("binary_by_module_kib")
    if mods:
        shown = [f"{name} {kib}" for name, kib in mods if kib >= 64]
        rest = sum(kib for _, kib in mods if kib < 64)
        out.append("binary's read-only pages resident in the leader, by module (KiB): " + ", ".join(shown)
                   + (f", the rest {rest}" if rest else ""))
    if last.get("peer"):
        pm = last["peer"]["at_rest"]["memory_leader"]
        top = ", ".join(f"{grp['group']} {grp['rss_kib']}" for grp in pm["groups"][:4])
        out.append(f"{peer} leader: RSS {pm['total']['rss_kib']} KiB, PSS {pm['total']['pss_kib']} KiB, private dirty "
                   f"{pm['total']['private_dirty_kib']} KiB, {pm['threads']} threads; largest: {top} KiB")
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
    rows.append((f"CPU s/min during the /metrics load: leader / followers, mean",
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
                 "unchanged (within noise)"))
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
