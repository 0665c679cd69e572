"""What the suite reports: a Result per fault x syncLimit x round, the
markdown table (one row per fault x syncLimit), the JSON, and the last line
`partition: N passed, M failed` (one per row)."""

import datetime
import json

from harness import say

from .common import CAPACITY, DEADLINE, FLAP_HOLD, GAP_LIMIT, HOLD, LEADER_TIMEOUT, SESSION, STOP_TIMEOUT, TICK_MS


class Result:
    def __init__(self, fault, label, sync, rnd):
        self.fault, self.label, self.sync, self.round = fault, label, sync, rnd
        self.leader = self.server = self.zk_leader = self.leader_after = None
        self.setup_retries = 0
        self.fault_s = None
        self.takeover_s = None  # heal -> a working leader (new file + command running)
        self.gap_s = None  # longest stretch without a command while the fault lasted
        self.overlaps = []  # harness.workload.sweep's messages
        self.overlap_pairs = []  # every two commands alive together, with how long
        self.longest_overlap_ms = None
        self.violations = []  # election verify
        self.files = None
        self.children = None
        self.handovers = []
        self.leftovers = []
        self.failures = []
        self.notes = {}
        self.evidence = {}

    def ok(self):
        return not (self.overlaps or self.violations or self.leftovers or self.failures)

    def as_dict(self):
        return dict(self.__dict__)

    def log(self):
        say(f"  -> {'ok' if self.ok() else 'FAILED'}: overlaps {len(self.overlap_pairs) or len(self.overlaps)}"
            + (f" (longest {self.longest_overlap_ms:.0f} ms)" if self.longest_overlap_ms else "")
            + f", verify violations {len(self.violations)} ({self.files} files)"
            + (f", working leader {self.leader_after} {self.takeover_s:.2f}s after the heal"
               if self.takeover_s is not None else ", no working leader after the heal")
            + f", longest without a command during the fault {self.gap_s}s"
            + (f", left behind {len(self.leftovers)}" if self.leftovers else "")
            + "".join(f"; FAIL {x}" for x in self.failures))
        for x in self.overlap_pairs[:6] + self.violations[:6] + self.leftovers:
            say(f"     {x}")


def rows(results, faults, syncs):
    out = []
    for sync in syncs:
        for f in faults:
            rs = [r for r in results if r.fault == f.key and r.sync == sync]
            if not rs:
                continue
            overl = [r.longest_overlap_ms for r in rs if r.longest_overlap_ms is not None]
            take = [r.takeover_s for r in rs if r.takeover_s is not None]
            gaps = [r.gap_s for r in rs if r.gap_s is not None]
            out.append({
                "fault": f.key, "label": f.label, "sync_limit": sync, "sync_s": sync * TICK_MS / 1000,
                "rounds": len(rs),
                "rounds_with_overlaps": sum(1 for r in rs if r.overlaps),
                # pairs of commands alive together (a scan that saw another
                # command alive without overlapping stamps counts as one)
                "overlaps": sum(len(r.overlap_pairs) or (1 if r.overlaps else 0) for r in rs),
                "longest_overlap_ms": max(overl) if overl else None,
                "violations": sum(len(r.violations) for r in rs),
                "takeover_max_s": max(take) if take else None,
                "takeover_missing": sum(1 for r in rs if r.takeover_s is None),
                "gap_max_s": max(gaps) if gaps else None,
                "leftovers": sum(len(r.leftovers) for r in rs),
                "other_failures": sum(len(r.failures) for r in rs),
                "leader_servers": [r.server for r in rs],
                "passed": all(r.ok() for r in rs),
            })
    return out


def _s(v, unit="s", nd=2):
    return "–" if v is None else f"{v:.{nd}f} {unit}"


def table(rs):
    lines = [
        "| fault | syncLimit × tick | rounds | rounds with overlaps (overlaps) | longest overlap "
        "| verify violations | working leader after heal (max) | longest without a command during the fault (max) "
        "| left behind | result |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for r in rs:
        take = _s(r["takeover_max_s"]) + (f" ({r['takeover_missing']} none)" if r["takeover_missing"] else "")
        lines.append(
            f"| {r['label']} | {r['sync_limit']} × 500 ms = {r['sync_s']:g} s | {r['rounds']} "
            f"| {r['rounds_with_overlaps']} ({r['overlaps']}) | {_s(r['longest_overlap_ms'], 'ms', 0)} "
            f"| {r['violations']} | {take} | {_s(r['gap_max_s'])} | {r['leftovers']} "
            f"| {'passed' if r['passed'] else 'FAILED'} |"
        )
    return "\n".join(lines)


def explain():
    return (
        f"Session timeout {SESSION:g} s, leader-timeout {LEADER_TIMEOUT * 1000:g} ms, exec-stop-timeout "
        f"{STOP_TIMEOUT * 1000:g} ms, tickTime {TICK_MS} ms; faults held {HOLD:g} s (flapping {FLAP_HOLD:g} s).\n"
        "Overlaps: from the commands' own stamps (CLOCK_MONOTONIC), zero tolerance; longest overlap: the longest\n"
        "time two commands were alive together. Working leader after heal: a file that appeared after the heal\n"
        f"and its replica's command running with that token (limit {DEADLINE:g} s). Longest without a command: while\n"
        f"the fault lasted (limit {GAP_LIMIT:g} s; the other two replicas' links are healthy in every fault)."
    )


def results_json(suite, rs, error, settings, duration, binary_info):
    return {
        "started": settings["started"],
        "finished": datetime.datetime.now(datetime.timezone.utc).isoformat(),
        "duration_s": round(duration, 1),
        "binary": binary_info,
        "error": error,
        "settings": {
            **settings, "session_timeout_s": SESSION, "leader_timeout_s": LEADER_TIMEOUT,
            "exec_stop_timeout_s": STOP_TIMEOUT, "tick_ms": TICK_MS, "storage_capacity": CAPACITY,
            "hold_s": HOLD, "flap_hold_s": FLAP_HOLD, "deadline_s": DEADLINE, "gap_limit_s": GAP_LIMIT,
        },
        "rows": rs,
        "results": [r.as_dict() for r in suite.results],
    }


def write_json(path, data):
    with open(path, "w") as f:
        json.dump(data, f, indent=1, default=str)


def tally(rs, error, final_left):
    passed = sum(1 for r in rs if r["passed"])
    failed = len(rs) - passed
    if final_left:
        failed += 1  # something was left behind after the suite: one more failure
    if error:
        failed = max(failed, 1)  # a suite that could not finish never passes
    return passed, failed


def summary_line(passed, failed):
    return f"partition: {passed} passed, {failed} failed"
