"""Processes. Every long-lived process a suite starts goes through PROCS: it
runs in a session of its own, its output goes to a log file, and it is
tracked, so that the suite can end exactly what it started (by pid or process
group) and nothing else. on_exit makes a suite's cleanup run however it ends.

Also: readings of /proc, the launch of a process unprivileged (as deployed:
setpriv to nobody, no capabilities), and apt-get for what a suite needs."""

import atexit
import ctypes
import os
import signal
import subprocess
import sys
import threading
import time

from . import Interrupted

SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
_libc = ctypes.CDLL(None, use_errno=True)
PR_SET_PDEATHSIG = 1

# How a daemon runs where a suite runs it as deployed: unprivileged.
UNPRIVILEGED = [
    "setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", "--inh-caps=-all",
    "--bounding-set=-all", "--ambient-caps=-all", "--no-new-privs", "--",
]
NOBODY = (65534, 65534)
# The interpreter of what runs as nobody (a stand-in command, a forwarder): the
# system's, which user nobody can reach (a root-only pyenv interpreter is not).
PYTHON = next((p for p in ("/usr/bin/python3", sys.executable) if p and os.access(p, os.X_OK)), "python3")


def chown_nobody(path):
    os.chown(path, *NOBODY)


# ---- /proc ------------------------------------------------------------------------


def stat(pid):
    """(state, ppid, pgid, start time in clock ticks since boot, comm) of a
    process, or None when it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            st = f.read()
        rest = st[st.rindex(")") + 2:].split()
        return rest[0], int(rest[1]), int(rest[2]), int(rest[19]), st[st.index("(") + 1:st.rindex(")")]
    except (OSError, ValueError, IndexError):
        return None


def pid_alive(pid):
    """Alive and not a zombie."""
    s = stat(pid)
    return s is not None and s[0] != "Z"


def cmdline(pid):
    """The process's arguments joined by spaces; "" when it is gone."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().replace(b"\0", b" ").decode(errors="replace").strip()
    except OSError:
        return ""


def children(pid):
    """Child pids of `pid` (every thread's children)."""
    out = []
    try:
        for tid in os.listdir(f"/proc/{pid}/task"):
            try:
                with open(f"/proc/{pid}/task/{tid}/children") as f:
                    out += [int(x) for x in f.read().split()]
            except OSError:
                pass
    except OSError:
        pass
    return out


def pids():
    return [int(d) for d in os.listdir("/proc") if d.isdigit()]


# ---- starting, tracking and ending ---------------------------------------------------


class Procs:
    """Every process a suite starts: {pid: (Popen, or None for one it did not
    start itself such as a ZooKeeper server of zk-ensemble.sh, description)}."""

    def __init__(self):
        self.lock = threading.Lock()
        self.procs = {}

    def add(self, pid, what, popen=None):
        with self.lock:
            self.procs[pid] = (popen, what)

    def spawn(self, cmd, what, log_path, env=None, cwd=None, death_signal=None, preexec=None):
        """Starts `cmd` in a session of its own, stdin closed, stdout and
        stderr appended to `log_path`; `death_signal`: the kernel sends it when
        this process dies; `preexec`: run in the child before exec."""
        def before_exec():
            if death_signal:
                _libc.prctl(PR_SET_PDEATHSIG, int(death_signal), 0, 0, 0)
            if preexec:
                preexec()

        with open(log_path, "ab") as log:
            p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=log, env=env, cwd=cwd,
                                 start_new_session=True,
                                 preexec_fn=before_exec if death_signal or preexec else None)
        self.add(p.pid, what, p)
        return p

    def run(self, cmd, timeout=60, **kw):
        """Runs a short command (tracked while it runs); its CompletedProcess,
        output as text."""
        p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True, start_new_session=True, **kw)
        self.add(p.pid, " ".join(cmd[:3]), p)
        try:
            out, err = p.communicate(timeout=timeout)
        except BaseException:
            p.kill()
            p.communicate()
            raise
        return subprocess.CompletedProcess(cmd, p.returncode, out, err)

    def live(self):
        """[(pid, description)] of the tracked processes still alive."""
        with self.lock:
            items = list(self.procs.items())
        return [(pid, what) for pid, (p, what) in items if (p.poll() is None if p else pid_alive(pid))]

    def end(self, p, steps=((signal.SIGTERM, 5.0),), group=False):
        """Ends Popen `p`: SIGCONT first (a stopped process would see nothing
        else), then each (signal, seconds) of `steps`, waiting that long after
        it, then SIGKILL; to its process group with `group`. The exit status;
        None when it took the SIGKILL."""
        kill = os.killpg if group else os.kill
        for sig, wait in ((signal.SIGCONT, 0), *steps):
            if p.poll() is not None:
                return p.returncode
            try:
                kill(p.pid, sig)
            except OSError:
                pass
            if wait:
                try:
                    return p.wait(wait)
                except subprocess.TimeoutExpired:
                    pass
        _kill_and_reap(kill, p)
        return None

    def end_all(self, term_wait=5.0, group=False):
        """Ends every tracked process this suite started itself (end_all)."""
        with self.lock:
            popens = [p for p, _ in self.procs.values() if p]
        end_all(reversed(popens), term_wait, group)


def end_all(popens, term_wait=5.0, group=False):
    """SIGCONT and SIGTERM to every live Popen of `popens` at once (to their
    process groups with `group`), SIGKILL to those left after `term_wait`."""
    kill = os.killpg if group else os.kill
    live = [p for p in popens if p.poll() is None]
    for p in live:
        for sig in (signal.SIGCONT, signal.SIGTERM):
            try:
                kill(p.pid, sig)
            except OSError:
                pass
    end = time.monotonic() + term_wait
    for p in live:
        try:
            p.wait(max(0.1, end - time.monotonic()))
        except subprocess.TimeoutExpired:
            pass
    for p in live:
        if p.poll() is None:
            _kill_and_reap(kill, p)


def _kill_and_reap(kill, p):
    """SIGKILL to Popen `p` (through `kill`: os.kill or os.killpg), then reap it."""
    try:
        kill(p.pid, signal.SIGKILL)
    except OSError:
        pass
    try:
        p.wait(5)
    except subprocess.TimeoutExpired:
        pass


PROCS = Procs()


def on_exit(cleanup):
    """Makes cleanup() run once however the program ends: it returns or
    raises, SIGINT/SIGTERM/SIGHUP arrives (raised as Interrupted in the main
    thread, so that the suite's finally blocks run first), or the interpreter
    exits. Those signals are ignored while it runs. Returns the function that
    runs it (at most once)."""
    done = []

    def once():
        if done:
            return
        done.append(True)
        for s in SIGNALS:
            signal.signal(s, signal.SIG_IGN)  # finish cleaning up, whatever comes
        cleanup()

    def on_signal(signum, frame):
        raise Interrupted(signal.Signals(signum).name)

    atexit.register(once)
    for s in SIGNALS:
        signal.signal(s, on_signal)
    return once


# ---- packages ---------------------------------------------------------------------

_apt_updated = []


def apt_install(packages):
    """apt-get installs the Debian `packages` (as root; the package lists are
    updated first, once). None when done, else why not."""
    if os.geteuid() != 0:
        return f"needs the Debian packages {' '.join(packages)}: run as root or install them"
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    if not _apt_updated:
        subprocess.run(["apt-get", "update", "-qq"], env=env, capture_output=True)
        _apt_updated.append(True)
    r = subprocess.run(["apt-get", "install", "-y", "-qq", "--no-install-recommends", "-o",
                        "DPkg::Lock::Timeout=600", *packages], env=env, stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, text=True)
    return None if r.returncode == 0 else f"apt-get install {' '.join(packages)} failed:\n{r.stdout[-2000:]}"
