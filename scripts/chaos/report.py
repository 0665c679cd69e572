"""What the suite reports: a Result per fault and round, the markdown table
(one row per fault kind), the JSON under chaos/results/, and the last line
`chaos: N passed, M failed` (one per fault kind)."""

import datetime
import json
import os
import statistics
import time

from harness import ROOT, START

from .common import (
    ATTEMPTER_TIMEOUT, CAPACITY, CHURN_WINDOW, DEADLINE, HOLD, LEADER_TIMEOUT, REPLICAS, SESSION, STOP_TIMEOUT,
    ZK_SERVERS,
)


class Result:
    def __init__(self, fault, rnd):
        self.fault = fault
        self.round = rnd
        self.leader_before = None
        self.leader_after = None
        self.after_heal = None  # seconds from the heal to a working leader
        self.takeover = None  # seconds from the fault to another replica working
        self.longest_gap = None  # longest time without any file written, around the fault
        self.missed = []
        self.violations = []
        self.late = []  # files of a lower token that appeared after one of a higher token
        self.zombies = []
        self.failures = []
        self.notes = {}
        self.evidence = {}
        # The supervised command (supervised.py), from the children's stamps:
        self.variant = None  # the command the replicas ran, None: none
        self.overlaps = []  # two children alive at once
        self.gaps = []  # seconds from a child's last sign of life to the next child's start
        self.child_stop = None  # seconds from the fault to the old child's last sign of life
        self.leftovers = []  # processes of old command groups (or watchdogs) after the heal
        self.churn = None  # cmd-exit-churn: starts and candidates created in the window
        self.next_start = None  # seconds from the fault to the next child's start (another than the old)
        self.lateness = None  # cpu-hog-pause: seconds from the watchdog's deadline to the child's SIGTERM

    def ok(self):
        return not (self.missed or self.violations or self.late or self.zombies or self.failures or self.overlaps
                    or self.leftovers)

    def longest_overlap(self):
        """Seconds two children overlapped at most (a negative handover gap), or 0."""
        return max([-g for g in self.gaps if g < 0], default=0.0)

    def as_dict(self):
        return {**self.__dict__, "longest_overlap": self.longest_overlap()}


def fmt_times(values):
    if not values:
        return "-"
    return f"{statistics.median(values):.2f} / {max(values):.2f} s"


def fmt_gaps(values):
    if not values:
        return "-"
    return f"{min(values) * 1000:.0f} / {statistics.median(values) * 1000:.0f} / {max(values) * 1000:.0f} ms"


def fmt_gaps_signed(values):
    if not values:
        return "-"
    return f"{statistics.median(values) * 1000:+.0f} / {max(values) * 1000:+.0f} ms"


def summarize(results, fault_list):
    rows = []
    for f in fault_list:
        key, label = f.key, f.label
        rs = [r for r in results if r.fault == key]
        if not rs:
            continue
        supervised = {}
        if f.variant:
            churn = [r.churn for r in rs if r.churn]
            supervised = {
                "variant": f.variant,
                "overlaps": sum(len(r.overlaps) for r in rs),
                "handover_gaps": [g for r in rs for g in r.gaps],
                "child_stop": [r.child_stop for r in rs if r.child_stop is not None],
                "longest_overlap": max(r.longest_overlap() for r in rs),
                "next_start": [r.next_start for r in rs if r.next_start is not None],
                "lateness": [r.lateness for r in rs if r.lateness is not None],
                "leftovers": sum(len(r.leftovers) for r in rs),
                "churn_starts": [c["starts"] for c in churn],
                "churn_candidates": [c["candidates_created"] for c in churn],
            }
        rows.append(
            {
                "fault": key,
                "label": label,
                "repetitions": len(rs),
                "violations": sum(len(r.violations) for r in rs),
                "late_appearances": sum(len(r.late) for r in rs),
                "zombie_writes": sum(len(r.zombies) for r in rs),
                "missed_deadlines": sum(1 for r in rs if r.missed),
                "other_failures": sum(len(r.failures) for r in rs),
                "after_heal": [r.after_heal for r in rs if r.after_heal is not None],
                "takeover": [r.takeover for r in rs if r.takeover is not None],
                "longest_gap": [r.longest_gap for r in rs if r.longest_gap is not None],
                "passed": all(r.ok() for r in rs),
                **supervised,
            }
        )
    return rows


def print_table(rows):
    print()
    print(f"| fault | reps | violations | late appearances | zombie writes | missed deadlines (> {DEADLINE:g} s) "
          "| working leader after heal (median / max) | takeover during fault (median / max) "
          "| longest write gap (median / max) | other failures |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        print(
            f"| {r['label']} | {r['repetitions']} | {r['violations']} | {r.get('late_appearances', 0)} "
            f"| {r['zombie_writes']} "
            f"| {r['missed_deadlines']} | {fmt_times(r['after_heal'])} | {fmt_times(r['takeover'])} "
            f"| {fmt_times(r['longest_gap'])} | {r['other_failures']} |"
        )
    print()
    print("after heal: from the heal (killed replicas: from the kill; operator deletes: from the old leader")
    print("logging it) to the first file of the leader that is then the only one writing. takeover: from the")
    print("fault to the first file of another replica while the fault lasts. longest write gap: the longest")
    print("time in which no replica wrote a file, from the fault to the end of its check. late appearances:")
    print("files of a lower token that appeared (their ctime at first sight) after a file of a higher token.")
    print()
    sup = [r for r in rows if r.get("variant")]
    if not sup:
        return
    print(f"| supervised command (`--exec-stop-timeout {STOP_TIMEOUT * 1000:g}ms -- CMD`) | reps | overlaps "
          "| longest overlap | handover gap (min / median / max) "
          "| old child's last sign of life after the fault (median / max) "
          "| next child's start after the fault (median / max) | watchdog late (median / max) "
          "| leftover processes | starts / candidates in the churn (max) |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in sup:
        churn = (f"{max(r['churn_starts'])} / {max(r['churn_candidates'])}" if r["churn_starts"] else "-")
        longest = r.get("longest_overlap", 0.0)
        late = r.get("lateness") or []
        print(
            f"| {r['label']} | {r['repetitions']} | {r['overlaps']} | {f'{longest * 1000:.0f} ms' if longest else '-'} "
            f"| {fmt_gaps(r['handover_gaps'])} | {fmt_times(r['child_stop'])} | {fmt_times(r.get('next_start') or [])} "
            f"| {fmt_gaps_signed(late)} | {r['leftovers']} | {churn} |"
        )
    print()
    print("From the children's own stamps (CLOCK_MONOTONIC): handover gap = the next child's start minus the")
    print("previous child's last sign of life (a beat every 25 ms, its stop stamp on SIGTERM); an overlap is a")
    print("negative gap or a process of another command group alive at a child's start; the longest overlap is")
    print("the most negative gap. Leftovers: live processes of old command groups, or extra watchdogs, after")
    print("the heal. Watchdog late: the stubborn child's first ignored SIGTERM (stamped under SCHED_FIFO) minus")
    print("the watchdog's deadline (the last confirmation, before the pause, + its span; cpu-hog-pause).")
    print()


def results_json(chaos, rows, final, error, rounds, binary, duration):
    """Everything about the run, for chaos/results/*.json."""
    return {
        "started": datetime.datetime.fromtimestamp(START, datetime.timezone.utc).isoformat(),
        "duration_s": round(duration, 1),
        "rounds": rounds,
        "binary": binary,
        "error": error,
        "settings": {
            "zk_servers": ZK_SERVERS, "replicas": REPLICAS, "session_timeout_s": SESSION,
            "leader_timeout_s": LEADER_TIMEOUT, "attempter_timeout_s": ATTEMPTER_TIMEOUT,
            "storage_capacity": CAPACITY, "deadline_s": DEADLINE, "hold_s": HOLD,
            "exec_stop_timeout_s": STOP_TIMEOUT, "churn_window_s": CHURN_WINDOW,
        },
        "summary": rows,
        "final_checks": final.as_dict() if final else None,
        "poller_missed_files": chaos.poller.missed,
        "results": [r.as_dict() for r in chaos.results],
    }


def write_json(out):
    """Writes chaos/results/chaos-<start time>.json; returns its path."""
    resdir = os.path.join(ROOT, "chaos", "results")
    os.makedirs(resdir, exist_ok=True)
    path = os.path.join(resdir, "chaos-" + time.strftime("%Y%m%d-%H%M%S", time.localtime(START)) + ".json")
    with open(path, "w") as f:
        json.dump(out, f, indent=1, default=str)
    return path


def tally(rows, final, error):
    """(passed, failed) fault kinds; failed foreign-file checks count as one
    more failure, and a suite that could not finish as at least one."""
    passed = sum(1 for r in rows if r["passed"])
    failed = len(rows) - passed
    if final and final.failures:
        failed += 1
    if error:
        failed = max(failed, 1)
    return passed, failed


def summary_line(passed, failed):
    return f"chaos: {passed} passed, {failed} failed"
