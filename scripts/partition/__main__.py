"""`python3 -m partition` (with scripts/ on the path): the entry point.

    BINARY=.build/release/election PYTHONPATH=scripts python3 -m partition
    PARTITION_SHORT=1 BINARY=... PYTHONPATH=scripts python3 -m partition

Reads the environment (see the package's docstring), runs the suite, and makes
sure that everything it started is ended and every namespace deleted on every
way out: normal end, an exception, SIGINT/SIGTERM/SIGHUP, interpreter exit."""

import datetime
import hashlib
import os
import shutil
import signal
import sys
import tempfile
import time

from harness import START, Interrupted, SuiteError, copy_binary, resolve_binary, say, settings
from harness import die as harness_die
from harness.proc import PROCS, on_exit, pid_alive

from . import faults
from .report import explain, results_json, rows, summary_line, table, tally, write_json
from .suite import Suite


def die(msg):
    harness_die(msg, summary_line(0, 1))


def settings_from_env():
    short = os.environ.get("PARTITION_SHORT", "") not in ("", "0")
    rounds, chosen, keep = settings("partition", faults.names(), faults.SHORT if short else faults.names(),
                                    ("ip", "nft", "setpriv", "java"), summary_line(0, 1))
    try:
        syncs = [int(s) for s in os.environ.get("SYNC", "").split(",") if s.strip()] or [2, 5]
    except ValueError:
        syncs = [0]
    if any(s < 1 for s in syncs):
        die(f"partition: SYNC must be a comma list of syncLimit values (ticks of 500 ms), not '{os.environ.get('SYNC')}'")
    b = resolve_binary(os.environ.get("BINARY", ".build/release/election"), "partition", summary_line(0, 1))
    return short, rounds, faults.select(chosen), syncs, b, keep


def own_copy(src, work):
    """The suite runs its own copy: a build that lands mid-run (the file is
    replaced) does not change what runs."""
    dst = copy_binary(src, os.path.join(work, "bin"))
    h = hashlib.sha256()
    with open(dst, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    version = PROCS.run([dst, "--version"], timeout=20).stdout.strip()
    mtime = datetime.datetime.fromtimestamp(os.stat(src).st_mtime, datetime.timezone.utc).isoformat()
    return dst, {"path": src, "sha256": h.hexdigest(), "version": version, "mtime": mtime}


def main():
    if os.geteuid() != 0:
        die("partition: must run as root (network namespaces, nft)")
    short, rounds, selected, syncs, binary, keep = settings_from_env()
    work = tempfile.mkdtemp(prefix="election-partition.", dir=os.environ.get("TMPDIR", "/tmp"))
    os.chmod(work, 0o755)  # the daemons (user nobody) reach their directories through it
    json_path = os.path.join(work, "partition.json")
    binary, binfo = own_copy(binary, work)
    suite = Suite(binary, work, rounds, selected, syncs)
    left = []

    def cleanup():
        try:
            suite.cleanup()
        except Exception as e:
            say(f"warning: cleanup: {e!r}")
        PROCS.end_all(term_wait=5)
        for wl in suite.workloads:  # commands (and watchdogs) that outlived their daemons
            for p in wl.processes():
                if p.live():
                    left.append(f"process {p}")
                    try:
                        os.kill(p.pid, signal.SIGKILL)
                    except OSError:
                        pass
        left.extend(f"process {pid} ({w}) still running" for pid, w in PROCS.live())
        for h in suite.net.hosts:  # anything else in our namespaces is ours too
            for pid in suite.net.processes(h):
                if pid_alive(pid):
                    left.append(f"process {pid} in {h}'s namespace")
                    try:
                        os.kill(pid, signal.SIGKILL)
                    except OSError:
                        pass
        suite.net.delete()
        left.extend(f"namespace {n}" for n in suite.net.leftovers())
        for w in left:
            say(f"warning: left behind: {w}")

    cleanup = on_exit(cleanup)

    started = datetime.datetime.fromtimestamp(START, datetime.timezone.utc).isoformat()
    say(f"partition: {len(selected)} fault(s) x syncLimit {syncs} x {rounds} round(s)"
        f"{' (short pass)' if short else ''}; binary {binfo['path']} sha256 {binfo['sha256'][:16]}… "
        f"({binfo['version']}, {binfo['mtime']}); work {work}")
    status, error = 0, None
    try:
        suite.setup()
        suite.run()
    except Interrupted as e:
        error, status = f"interrupted by {e}", 130
    except SuiteError as e:
        error, status = f"suite error: {e}", 2
    except Exception as e:
        import traceback

        traceback.print_exc()
        error, status = f"suite error: {e!r}", 2
    finally:
        if error:
            say(error)
        cleanup()

    rs = rows(suite.results, selected, syncs)
    print()
    print(table(rs))
    print()
    print(explain())
    print()
    duration = time.time() - START
    settings = {"started": started, "short": short, "rounds": rounds, "faults": [f.key for f in selected],
                "sync_limits": syncs, "left_behind": left}
    write_json(json_path, results_json(suite, rs, error, settings, duration, binfo))
    if not keep and not left:
        for name in os.listdir(work):
            if name != os.path.basename(json_path):
                p = os.path.join(work, name)
                shutil.rmtree(p, ignore_errors=True) if os.path.isdir(p) else os.unlink(p)
    say(f"results: {json_path} ({duration:.0f}s){'; work directory kept' if keep or left else ''}")
    passed, failed = tally(rs, error, left)
    print(summary_line(passed, failed), flush=True)
    if status == 0 and failed:
        status = 1
    sys.exit(status)


if __name__ == "__main__":
    main()
