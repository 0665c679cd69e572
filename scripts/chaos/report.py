"""What the suite reports: a Result per fault and round, the markdown table
(one row per fault kind), the JSON under chaos/results/, and the last line
`chaos: N passed, M failed` (one per fault kind)."""

import datetime
import json
import os
import statistics
import time

from .common import (
    ATTEMPTER_TIMEOUT, CAPACITY, DEADLINE, HOLD, LEADER_TIMEOUT, REPLICAS, ROOT, SESSION,
    START, ZK_SERVERS,
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
        self.zombies = []
        self.failures = []
        self.notes = {}
        self.evidence = {}

    def ok(self):
        return not (self.missed or self.violations or self.zombies or self.failures)

    def as_dict(self):
        return dict(self.__dict__)


def fmt_times(values):
    if not values:
        return "-"
    return f"{statistics.median(values):.2f} / {max(values):.2f} s"


def summarize(results, fault_list):
    rows = []
    for key, label, _ in fault_list:
        rs = [r for r in results if r.fault == key]
        if not rs:
            continue
        rows.append(
            {
                "fault": key,
                "label": label,
                "repetitions": len(rs),
                "violations": sum(len(r.violations) for r in rs),
                "zombie_writes": sum(len(r.zombies) for r in rs),
                "missed_deadlines": sum(1 for r in rs if r.missed),
                "other_failures": sum(len(r.failures) for r in rs),
                "after_heal": [r.after_heal for r in rs if r.after_heal is not None],
                "takeover": [r.takeover for r in rs if r.takeover is not None],
                "longest_gap": [r.longest_gap for r in rs if r.longest_gap is not None],
                "passed": all(r.ok() for r in rs),
            }
        )
    return rows


def print_table(rows):
    print()
    print(f"| fault | reps | violations | zombie writes | missed deadlines (> {DEADLINE:g} s) "
          "| working leader after heal (median / max) | takeover during fault (median / max) "
          "| longest write gap (median / max) | other failures |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        print(
            f"| {r['label']} | {r['repetitions']} | {r['violations']} | {r['zombie_writes']} "
            f"| {r['missed_deadlines']} | {fmt_times(r['after_heal'])} | {fmt_times(r['takeover'])} "
            f"| {fmt_times(r['longest_gap'])} | {r['other_failures']} |"
        )
    print()
    print("after heal: from the heal (killed replicas: from the kill; operator deletes: from the old leader")
    print("logging it) to the first file of the leader that is then the only one writing. takeover: from the")
    print("fault to the first file of another replica while the fault lasts. longest write gap: the longest")
    print("time in which no replica wrote a file, from the fault to the end of its check.")
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
