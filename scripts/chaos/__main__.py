"""`python3 -m chaos` (with scripts/ on the path): the entry point of `make chaos`.

    ROUNDS=1 BINARY=.build/release/election PYTHONPATH=scripts python3 -m chaos

Reads the environment (ROUNDS, BINARY, FAULTS, KEEP; see the package's
docstring), runs the suite, and makes sure that everything it started is
stopped and every mount undone on every way out: normal end, an exception,
SIGINT/SIGTERM/SIGHUP, interpreter exit."""

import atexit
import os
import shutil
import signal
import sys
import tempfile
import time

from . import faults
from .common import (
    ATTEMPTER_TIMEOUT, CAPACITY, DEADLINE, LEADER_TIMEOUT, REPLICAS, ROOT, SESSION, START, STOP_TIMEOUT, TRACK,
    ZK_SERVERS, Interrupted, SuiteError, mounted, pid_alive, say,
)
from .report import print_table, results_json, summarize, summary_line, tally, write_json
from .suite import Chaos
from .topology import unmount_all


def die(msg):
    """The suite cannot run at all: exit 2, as for any suite error."""
    print(msg, file=sys.stderr, flush=True)
    sys.exit(2)


def resolve_binary(b):
    if not os.path.isabs(b) and not os.path.exists(b) and os.path.exists(os.path.join(ROOT, b)):
        b = os.path.join(ROOT, b)
    b = os.path.abspath(b)
    if not (os.path.isfile(b) and os.access(b, os.X_OK)):
        die(f"chaos: no executable at '{b}'; build it with 'swift build -c release' or set BINARY")
    return b


def leftovers(chaos, work):
    left = []
    for pid, what in sorted(TRACK.pids.items()):
        if pid_alive(pid):
            try:
                with open(f"/proc/{pid}/cmdline", "rb") as f:
                    cmd = f.read().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                continue
            # Every process we start names the work directory (replicas: their
            # --file-dir; servers: their zoo.cfg); a recycled pid is not ours.
            if work in cmd:
                left.append(f"process {pid} ({what}) still running: {cmd[:120]}")
    for m in TRACK.mounts:
        if mounted(m):
            left.append(f"mount {m} still mounted")
    return left


def main():
    if os.geteuid() != 0:
        die("chaos: must run as root: every replica's --file-dir is a tmpfs mount "
                 "(read-only and full file-dir faults); try sudo")
    try:
        rounds = int(os.environ.get("ROUNDS", "") or 1)
    except ValueError:
        rounds = 0
    if rounds < 1:
        die(f"chaos: ROUNDS must be a whole number of at least 1, not '{os.environ.get('ROUNDS')}'")
    binary = resolve_binary(os.environ.get("BINARY", ".build/release/election"))
    names = faults.names()
    selected = [s.strip() for s in os.environ.get("FAULTS", "").split(",") if s.strip()] or faults.default_names()
    unknown = [s for s in selected if s not in names]
    if unknown:
        die(f"chaos: unknown fault(s) {', '.join(unknown)}; known: {', '.join(names)}")
    for tool in ("java", "mount", "umount"):
        if not shutil.which(tool):
            die(f"chaos: {tool} not found; run scripts/install-deps.sh")
    keep = os.environ.get("KEEP", "") not in ("", "0")

    work = tempfile.mkdtemp(prefix="election-chaos.", dir=os.environ.get("TMPDIR", "/tmp"))
    chaos = Chaos(binary, rounds, work)
    cleaned = []

    def cleanup():
        if cleaned:
            return
        cleaned.append(True)
        for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(s, signal.SIG_IGN)  # finish cleaning up, whatever comes
        chaos.cleanup()
        unmount_all()
        left = leftovers(chaos, work)
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

    def on_signal(signum, frame):
        raise Interrupted(signal.Signals(signum).name)

    atexit.register(cleanup)
    for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(s, on_signal)

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
