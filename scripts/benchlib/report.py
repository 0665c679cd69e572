"""The markdown tables `make bench` prints, from the results dictionary."""

import statistics


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
