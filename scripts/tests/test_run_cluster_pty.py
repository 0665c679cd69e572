#!/usr/bin/env python3
"""Ctrl-C on `make run-cluster`, as a person does it in a terminal.

Each case runs the run-cluster pipeline under a fresh pseudo-terminal whose
session leader is `bash -c '<pipeline>'`, the way a terminal runs a shell: the
pipeline is the terminal's foreground process group, so a Ctrl-C (\\x03 written
to the pty master) reaches every member of it at once (make, the script, tee,
whatever the script runs at that moment), in an order nobody controls. The case
waits until the cluster shows a leader, sends Ctrl-C (or closes the terminal,
or SIGKILLs the script itself), and then checks that within STOP_LIMIT seconds
no process of the run is left: no ZooKeeper JVM, no replica, nothing else that
carries the run's marker.

    BINARY=/tmp/elbin/election python3 scripts/tests/test_run_cluster_pty.py

It never builds: `make run-cluster` is the target `release` followed by
`REPLICAS=… DURATION=… BINARY=.build/release/election bash scripts/run-cluster.sh`;
the cases run that recipe line through make (a throw-away makefile with the same
line, so make's own signal handling is part of the pipeline) against BINARY.

Environment:
  BINARY          the election executable (default .build/release/election,
                  relative to the repository)
  RC_TEST_MAKE=0  run the script without make in front of it
  RC_TEST_KEEP=1  keep each case's temporary directory (logs, ZooKeeper data)
  RUN_CLUSTER_SCRIPT  the script under test (default scripts/run-cluster.sh;
                  another copy needs zk-ensemble.sh and harness/ beside it)

A run's processes are found by a marker variable in their environment (every
process the pipeline starts inherits it) and by the case's private TMPDIR in
their command lines (the script's work dir is created under it). Whatever is
found left over is reported, then killed, so a failing (or interrupted) case
leaves nothing.

The last line is `run-cluster pty: N passed, M failed, K skipped`.
"""

import os
import pty
import select
import shlex
import shutil
import signal
import sys
import tempfile
import time
import unittest
import uuid

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # scripts/, for the harness

from harness import ROOT  # noqa: E402
from harness.proc import cmdline, pid_alive, pids  # noqa: E402

SCRIPT = os.path.abspath(os.environ.get("RUN_CLUSTER_SCRIPT", os.path.join(ROOT, "scripts", "run-cluster.sh")))
ZK_JAR = "/usr/share/java/zookeeper.jar"
LEADER_LIMIT = 150.0  # seconds from start until the view shows a leader (a busy 2-core box)
STOP_LIMIT = 20.0  # seconds from Ctrl-C until nothing of the run is left
MARK_VAR = "RUN_CLUSTER_PTY_TEST"
ACTIVE = {}  # case id -> (marker, tmp) of runs that may still have processes


def binary():
    b = os.environ.get("BINARY", ".build/release/election")
    if not os.path.isabs(b):
        b = os.path.join(ROOT, b)
    return os.path.abspath(b)


def use_make():
    return os.environ.get("RC_TEST_MAKE", "1") != "0" and shutil.which("make") is not None


def run_processes(marker, tmp):
    """{pid: command line} of every live process of this run but ourselves."""
    found = {}
    for pid in pids():
        cmd = cmdline(pid)
        if pid == os.getpid() or not cmd or not pid_alive(pid):
            continue
        ours = tmp in cmd
        if not ours:
            try:
                with open(f"/proc/{pid}/environ", "rb") as f:
                    ours = marker.encode() in f.read()
            except OSError:
                pass
        if ours:
            found[pid] = cmd
    return found


def kill_run(marker, tmp, wait=10.0):
    """SIGKILL to every process of the run; waits until they are gone."""
    deadline = time.time() + wait
    while True:
        left = run_processes(marker, tmp)
        if not left or time.time() > deadline:
            return left
        for pid in left:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        time.sleep(0.2)


def describe(procs):
    out = []
    for pid, cmd in sorted(procs.items()):
        if "zookeeper" in cmd and "java" in cmd.split()[0]:
            kind = "ZooKeeper JVM"
        elif " run --zk-servers " in cmd:
            kind = "replica"
        else:
            kind = "process"
        out.append(f"{kind} pid {pid}: {cmd[:160]}")
    return out


class Terminal:
    """A pseudo-terminal running `bash -c COMMAND` as its session leader."""

    def __init__(self, command, env):
        self.output = bytearray()
        self.status = None
        pid, fd = pty.fork()
        if pid == 0:  # the child: session leader, the pty's slave is its terminal
            try:
                # Python ignores SIGPIPE (and SIGXFSZ), and a test started in the
                # background of a non-interactive shell ignores SIGINT and SIGQUIT;
                # an ignored signal stays ignored across exec (and a shell cannot
                # trap it), while a terminal's shell has them all default.
                for sig in (signal.SIGPIPE, signal.SIGXFSZ, signal.SIGINT, signal.SIGQUIT):
                    signal.signal(sig, signal.SIG_DFL)
                os.chdir(ROOT)
                os.execve("/bin/bash", ["bash", "-c", command], env)
            finally:
                os._exit(127)
        self.pid, self.fd = pid, fd

    def pump(self, timeout):
        """Reads what the terminal shows for up to `timeout` seconds."""
        if self.fd is None:
            time.sleep(timeout)
            return
        ready, _, _ = select.select([self.fd], [], [], timeout)
        if ready:
            try:
                data = os.read(self.fd, 65536)
            except OSError:  # EIO: every process of the session closed the slave
                data = b""
            if data:
                self.output += data
            else:
                time.sleep(min(timeout, 0.05))
        self.reap()

    def reap(self):
        if self.status is None:
            try:
                pid, status = os.waitpid(self.pid, os.WNOHANG)
            except ChildProcessError:
                pid, status = self.pid, 0
            if pid:
                self.status = status

    def text(self):
        return self.output.decode(errors="replace")

    def ctrl_c(self):
        os.write(self.fd, b"\x03")  # the line discipline turns it into SIGINT

    def hang_up(self):
        """Closes the terminal window: the session leader gets SIGHUP."""
        os.close(self.fd)
        self.fd = None

    def close(self):
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None
        if self.status is None:
            try:
                os.kill(self.pid, signal.SIGKILL)
            except OSError:
                pass
            try:
                os.waitpid(self.pid, 0)
            except ChildProcessError:
                pass


class RunClusterInterrupt(unittest.TestCase):
    def setUp(self):
        self.binary = binary()
        if not (os.path.isfile(self.binary) and os.access(self.binary, os.X_OK)):
            self.skipTest(f"no election binary at {self.binary} (set BINARY)")
        if not shutil.which("java") or not os.path.exists(ZK_JAR):
            self.skipTest("java or Debian's zookeeper package missing (scripts/install-deps.sh)")
        self.tmp = tempfile.mkdtemp(prefix="rc-pty-test.")
        self.marker = f"{MARK_VAR}={uuid.uuid4().hex}"
        self.term = None
        ACTIVE[self.id()] = (self.marker, self.tmp)

    def tearDown(self):
        kill_run(self.marker, self.tmp)  # never leave anything behind, whatever the verdict
        if self.term:
            self.term.close()
        kill_run(self.marker, self.tmp)
        ACTIVE.pop(self.id(), None)
        keep = os.environ.get("RC_TEST_KEEP", "") not in ("", "0")
        if keep or not self.passed():
            print(f"    kept: {self.tmp}", file=sys.stderr)
        else:
            shutil.rmtree(self.tmp, ignore_errors=True)

    def passed(self):
        outcome = getattr(self, "_outcome", None)
        result = getattr(outcome, "result", None)
        if result is None:
            return True
        return not any(t is self for t, _ in result.failures + result.errors)

    def pipeline(self, piped):
        """The command a person types, with the recipe of `make run-cluster`
        (without its `release` prerequisite) and this test's BINARY."""
        recipe = (f"REPLICAS=3 DURATION= BINARY={shlex.quote(self.binary)} "
                  f"bash {shlex.quote(SCRIPT)}")
        if use_make():
            makefile = os.path.join(self.tmp, "Makefile")
            with open(makefile, "w") as f:
                f.write(f".PHONY: run-cluster\nrun-cluster:\n\t{recipe}\n")
            cmd = f"make --no-print-directory -f {shlex.quote(makefile)} run-cluster"
        else:
            cmd = recipe
        if piped:
            cmd += f" 2>&1 | tee {shlex.quote(os.path.join(self.tmp, 'run.log'))}"
        return cmd

    def start(self, piped):
        env = {k: v for k, v in os.environ.items() if not k.startswith("ELECTION_")}
        env.pop("VIEW", None)  # the script picks its view as it would for a person
        env.update({"TMPDIR": self.tmp, "TERM": env.get("TERM", "xterm")})
        env[MARK_VAR] = self.marker.split("=", 1)[1]
        command = self.pipeline(piped)
        print(f"\n    $ {command}", file=sys.stderr)
        self.term = Terminal(command, env)
        deadline = time.time() + LEADER_LIMIT
        while time.time() < deadline:
            self.term.pump(0.2)
            if "leader: replica-" in self.term.text():
                self.assert_cluster_found()
                return
            if self.term.status is not None:
                self.fail("the pipeline ended before a leader was shown:\n" + self.term.text()[-3000:])
        self.fail(f"no leader shown within {LEADER_LIMIT:.0f}s:\n" + self.term.text()[-3000:])

    def assert_cluster_found(self):
        """The check that follows is only worth something if it can see the run."""
        procs = describe(run_processes(self.marker, self.tmp))
        zk = sum(1 for p in procs if p.startswith("ZooKeeper JVM"))
        replicas = sum(1 for p in procs if p.startswith("replica"))
        self.assertEqual((zk, replicas), (3, 3), "the run's processes not found:\n  " + "\n  ".join(procs))
        print(f"    running: {len(procs)} processes of the run, 3 ZooKeeper JVMs and 3 replicas among them",
              file=sys.stderr)

    def assert_nothing_left(self, how):
        t0 = time.time()
        deadline = t0 + STOP_LIMIT
        left = run_processes(self.marker, self.tmp)
        while left and time.time() < deadline:
            self.term.pump(0.25)
            left = run_processes(self.marker, self.tmp)
        took = time.time() - t0
        if left:
            tail = self.term.text()[-1500:]
            self.fail(f"{len(left)} process(es) of the run still running {STOP_LIMIT:.0f}s after {how}:\n  "
                      + "\n  ".join(describe(left)) + "\n--- terminal (tail) ---\n" + tail)
        print(f"    nothing left {took:.1f}s after {how}", file=sys.stderr)

    def test_ctrl_c_piped_through_tee(self):
        """`make run-cluster 2>&1 | tee run.log`, then Ctrl-C."""
        self.start(piped=True)
        self.term.ctrl_c()
        self.assert_nothing_left("Ctrl-C")

    def test_ctrl_c_plain(self):
        """`make run-cluster` (the live view on the terminal), then Ctrl-C."""
        self.start(piped=False)
        self.term.ctrl_c()
        self.assert_nothing_left("Ctrl-C")

    def test_terminal_closed_piped(self):
        """`make run-cluster 2>&1 | tee run.log`, then the terminal window is closed."""
        self.start(piped=True)
        self.term.hang_up()
        self.assert_nothing_left("the terminal closed")

    def test_script_killed(self):
        """`make run-cluster`, then the script itself is SIGKILLed (no trap can
        run): its guardian and the replicas' parent-death signal must clean up."""
        self.start(piped=False)
        scripts = [pid for pid, cmd in run_processes(self.marker, self.tmp).items()
                   if cmd.startswith("bash ") and cmd.split()[1:] == [SCRIPT]]
        self.assertEqual(len(scripts), 1, f"the script's process not found: {scripts}")
        os.kill(scripts[0], signal.SIGKILL)
        self.assert_nothing_left("SIGKILL to the script")


def main():
    suite = unittest.defaultTestLoader.loadTestsFromTestCase(RunClusterInterrupt)
    names = [a for a in sys.argv[1:] if not a.startswith("-")]
    if names:
        suite = unittest.TestSuite(t for t in suite if t._testMethodName in names)
    def on_term(signum, frame):
        raise KeyboardInterrupt(signal.Signals(signum).name)

    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGHUP, on_term)
    try:
        result = unittest.TextTestRunner(verbosity=2, stream=sys.stderr).run(suite)
    finally:  # interrupted half-way: the case's tearDown may not have run
        for marker, tmp in list(ACTIVE.values()):
            kill_run(marker, tmp)
    failed = len(result.failures) + len(result.errors)
    skipped = len(result.skipped)
    passed = result.testsRun - failed - skipped
    print(f"run-cluster pty: {passed} passed, {failed} failed, {skipped} skipped", flush=True)
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
