"""`python3 -m chaos` (with scripts/ on the path): the entry point of `make chaos`.

    ROUNDS=1 BINARY=.build/release/election PYTHONPATH=scripts python3 -m chaos

Reads the environment (ROUNDS, BINARY, FAULTS, KEEP; see the package's
docstring), runs the suite, and makes sure that everything it started is
stopped and every mount undone on every way out: normal end, an exception,
SIGINT/SIGTERM/SIGHUP, interpreter exit."""

import os
import shutil
import signal
import sys
import tempfile
import time

from harness import START, Interrupted, SuiteError, die, resolve_binary, say, settings
from harness.proc import PROCS, cmdline, on_exit

from . import faults
from .common import (
    ATTEMPTER_TIMEOUT, CAPACITY, DEADLINE, LEADER_TIMEOUT, REPLICAS, SESSION, STOP_TIMEOUT, ZK_SERVERS,
)
from .report import print_table, results_json, summarize, summary_line, tally, write_json
from .suite import Chaos
from .topology import MOUNTS, mounted, unmount_all


def leftovers(work):
    # Every process we start names the work directory (replicas: their
    # --file-dir; servers: their zoo.cfg); a recycled pid is not ours.
    left = [f"process {pid} ({what}) still running: {cmdline(pid)[:120]}"
            for pid, what in sorted(PROCS.live()) if work in cmdline(pid)]
    return left + [f"mount {m} still mounted" for m in MOUNTS if mounted(m)]


def main():
    if os.geteuid() != 0:
        die("chaos: must run as root: every replica's --file-dir is a tmpfs mount "
            "(read-only and full file-dir faults); try sudo")
    rounds, selected, keep = settings("chaos", faults.names(), faults.default_names(), ("java", "mount", "umount"))
    binary = resolve_binary(os.environ.get("BINARY", ".build/release/election"), "chaos")

    work = tempfile.mkdtemp(prefix="election-chaos.", dir=os.environ.get("TMPDIR", "/tmp"))
    chaos = Chaos(binary, rounds, work)

    def cleanup():
        chaos.cleanup()
        unmount_all()
        left = leftovers(work)
        try:
            # Commands of our replicas (their environment carries this run's
            # mark) that outlived them: ours, so ended here, and reported.
            for p in chaos.workload.processes() if chaos.workload.ready else []:
                if p.live():
                    left.append(f"process {p}")
                    try:
                        os.kill(p.pid, signal.SIGKILL)
                    except OSError:
                        pass
        except Exception as e:
            say(f"warning: scanning for left-over commands: {e}")
        for w in left:
            say(f"warning: left behind: {w}")
        if keep or left:
            say(f"work directory kept: {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)

    cleanup = on_exit(cleanup)

    say(f"chaos: {len(selected)} fault(s) x {rounds} round(s); binary {binary}; work {work}")
    say(f"settings: {ZK_SERVERS} ZK servers (tickTime 500 ms), {REPLICAS} replicas, session {SESSION:g}s, "
        f"leader-timeout {LEADER_TIMEOUT * 1000:g}ms, attempter-timeout {ATTEMPTER_TIMEOUT:g}s, "
        f"capacity {CAPACITY}, deadline {DEADLINE:g}s; supervised command: --exec-stop-timeout "
        f"{STOP_TIMEOUT * 1000:g}ms --on-exit resign")
    status = 0
    error = None
    final = None
    try:
        chaos.setup()
        chaos.run(selected)
        final = chaos.final_checks()
    except Interrupted as e:
        error = f"interrupted by {e}"
        status = 130
        if chaos.results and chaos.results[-1].ok():
            chaos.results[-1].failures.append(error)
    except SuiteError as e:
        error = f"suite error: {e}"
        status = 2
    except Exception as e:
        import traceback

        traceback.print_exc()
        error = f"suite error: {e!r}"
        status = 2
    finally:
        if error:
            say(error)
        try:
            for r in chaos.results[-1:]:
                if not r.ok() or error:
                    for rep in chaos.replicas:
                        chaos.collect_log(r, rep, 0)
        except Exception:
            pass
        cleanup()

    rows = summarize(chaos.results, faults.FAULTS)
    print_table(rows)
    if final and final.failures:
        for f in final.failures:
            say(f"FAIL (final checks): {f}")
    duration = time.time() - START
    path = write_json(results_json(chaos, rows, final, error, rounds, binary, duration))
    say(f"results: {path} ({duration:.0f}s)")
    passed, failed = tally(rows, final, error)
    print(summary_line(passed, failed), flush=True)
    if status == 0 and failed:
        status = 1
    sys.exit(status)


if __name__ == "__main__":
    main()
