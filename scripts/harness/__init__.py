"""The one harness of scripts/: what every suite that runs the daemon against
a real ZooKeeper shares. bench.py and benchlib/, chaos/, partition/,
clockrate/, containers/ and tests/test_security.py all use it.

  proc      every process a suite starts, tracked and ended (Procs); cleanup on
            every way out (on_exit); /proc readings; the unprivileged launch;
            apt-get for what a suite needs
  net       free loopback ports, ZooKeeper's four-letter words, an HTTP GET
  zk        a ZooKeeper server's zoo.cfg, command line and mode; an ensemble
            on loopback through scripts/zk-ensemble.sh
  replica   a replica of the daemon (`election run`): its command line, its
            logfmt log and state, its /status
  files     the election files: a poller that reads and archives each as it
            appears; `election verify`
  proxy     TCP proxies in front of the servers that can blackhole one replica
  workload  the supervised command's stand-in and what its stamps prove

And here: the log line (say), the monotonic clock, waiting with a deadline,
the suites' two exceptions, a fault suite's settings from the environment, and
the binary a suite runs (resolved against the repository; copied before use
where a build landing mid-run must change nothing)."""

import os
import shutil
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
START = time.time()


def say(msg):
    print(f"[{time.time() - START:7.1f}s] {msg}", flush=True)


def mono_ns():
    """CLOCK_MONOTONIC in ns: the clock of the stand-in command's stamps and of
    the daemon's watchdog (system-wide: every process here reads the same one)."""
    return time.clock_gettime_ns(time.CLOCK_MONOTONIC)


def wait_until(predicate, timeout, interval=0.05):
    """predicate() every `interval` s until it returns something true, checked
    once more at the deadline: that value, else None."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() >= deadline:
            return value or None
        time.sleep(interval)


class SuiteError(Exception):
    """The suite itself cannot go on (not a finding about the daemon)."""


class Interrupted(KeyboardInterrupt):
    """SIGINT, SIGTERM or SIGHUP arrived (proc.on_exit raises it)."""


def die(msg, summary=None, status=2):
    """The suite cannot run at all: `msg` on stderr, then its summary line (so
    that scripts/test.sh counts a failure), exit `status`."""
    print(msg, file=sys.stderr, flush=True)
    if summary:
        print(summary, flush=True)
    sys.exit(status)


def settings(suite, known, default, tools=(), summary=None):
    """A fault suite's environment, or die: ROUNDS (a whole number, at least
    1; default 1), FAULTS (comma-separated names of `known`; `default` when
    unset), KEEP (1: keep the work directory); and `tools` on the PATH.
    Returns (rounds, fault names, keep)."""
    try:
        rounds = int(os.environ.get("ROUNDS", "") or 1)
    except ValueError:
        rounds = 0
    if rounds < 1:
        die(f"{suite}: ROUNDS must be a whole number of at least 1, not '{os.environ.get('ROUNDS')}'", summary)
    chosen = [f.strip() for f in os.environ.get("FAULTS", "").split(",") if f.strip()] or list(default)
    unknown = [f for f in chosen if f not in known]
    if unknown:
        die(f"{suite}: unknown fault(s) {', '.join(unknown)}; known: {', '.join(known)}", summary)
    for tool in tools:
        if not shutil.which(tool):
            die(f"{suite}: {tool} not found; run scripts/install-deps.sh", summary)
    return rounds, chosen, os.environ.get("KEEP", "") not in ("", "0")


def resolve_binary(path, suite, summary=None, var="BINARY"):
    """The election executable `path` (from the environment variable `var`)
    names (a relative path that does not exist here is taken from the
    repository), or die."""
    if not os.path.isabs(path) and not os.path.exists(path) and os.path.exists(os.path.join(ROOT, path)):
        path = os.path.join(ROOT, path)
    path = os.path.abspath(path)
    if not (os.path.isfile(path) and os.access(path, os.X_OK)):
        die(f"{suite}: no executable at '{path}'; build it with 'swift build -c release' or set {var}", summary)
    return path


def copy_binary(src, directory):
    """A copy of `src` in `directory` (made readable and executable for all):
    the one the suite runs."""
    os.makedirs(directory, mode=0o755, exist_ok=True)
    dst = os.path.join(directory, "election")
    shutil.copy2(src, dst)
    os.chmod(dst, 0o755)
    return dst
