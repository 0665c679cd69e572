"""`python3 -m containers` (scripts/ on the path): sets podman up, runs the
check groups in order, removes everything the run created however it ends
(normal end, an exception, SIGINT/SIGTERM/SIGHUP), and prints the summary line."""

import os
import signal
import sys
import time

from . import check_compose, check_image, check_kube, check_systemd
from . import podman as pm
from .common import Context, Tally

GROUPS = [check_image, check_compose, check_systemd, check_kube]


def interrupted(signum, frame):
    raise KeyboardInterrupt(f"signal {signum}")


def main():
    for s in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(s, interrupted)
    wanted = os.environ.get("CHECKS", "").split() or [g.GROUP for g in GROUPS]
    unknown = set(wanted) - {g.GROUP for g in GROUPS}
    if unknown:
        sys.exit(f"containers: unknown CHECKS {sorted(unknown)}; known: {[g.GROUP for g in GROUPS]}")
    groups = [g for g in GROUPS if g.GROUP in wanted]
    binary = os.path.abspath(os.path.join(pm.ROOT, os.environ.get("BINARY", ".build/release/election")))
    tally = Tally()
    start = time.monotonic()
    if not os.access(binary, os.X_OK):
        return summary(tally, start, groups, "failed", f"no executable at {binary} (make release, or set BINARY)")
    try:
        pm.setup()
    except pm.Unavailable as e:
        print(f"containers: podman cannot run here, every container check is skipped: {e}", flush=True)
        return summary(tally, start, groups, "skipped", f"podman cannot run: {str(e).splitlines()[0]}")
    except pm.CommandFailed as e:
        return summary(tally, start, groups, "failed", f"not run: setting up failed: {e}")
    run = pm.Run()
    pm.say("run prefix", run.prefix)
    try:
        ctx = Context(run, binary)
        for g in groups:
            tally.run_group(g, ctx)
    except KeyboardInterrupt as e:
        print(f"containers: interrupted ({e}): cleaning up", flush=True)
        ran = {row[0] for row in tally.rows}
        mark_all(tally, [g for g in groups if g.GROUP not in ran], "failed", "not run: interrupted")
    finally:
        left = run.cleanup()
        if left:
            tally.add("cleanup", "nothing of the run is left", "failed", "left: " + ", ".join(left))
    return summary(tally, start)


def mark_all(tally, groups, result, detail):
    for g in groups:
        for name in g.CHECKS:
            tally.add(g.GROUP, name, result, detail)


def summary(tally, start, unrun=(), result=None, detail=None):
    """The closing lines; the checks of `unrun` groups counted as `result` first."""
    mark_all(tally, unrun, result, detail)
    p, f, s = (tally.count(r) for r in ("passed", "failed", "skipped"))
    print(f"containers: took {time.monotonic() - start:.0f}s")
    print(f"containers: {p} passed, {f} failed, {s} skipped", flush=True)
    return 1 if f else 0


if __name__ == "__main__":
    sys.exit(main())
