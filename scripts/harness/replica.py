"""A replica of the daemon as the suites run it: `election run` (or a peer's
driver taking the same flags) with its output in a log file of its own, in a
session of its own (unprivileged or inside a network namespace when the
suite's `program` says so), tracked in PROCS. Read back: its logfmt lines, its
state (the last `msg=transition`), its /status over HTTP. (The files it
writes: files.py.)"""

import datetime
import json
import os
import re
import signal
import subprocess

from .net import http_get
from .proc import PROCS

LOGFMT_RE = re.compile(r'(\w+)=("(?:[^"\\]|\\.)*"|\S*)')


def parse_time(s):
    """RFC 3339 (as in the files and the logs' ts=) to epoch seconds, or None."""
    try:
        t = datetime.datetime.fromisoformat(s.replace("Z", "+00:00"))
    except (AttributeError, TypeError, ValueError):
        return None
    if t.tzinfo is None:
        t = t.replace(tzinfo=datetime.timezone.utc)
    return t.timestamp()


def parse_logfmt(line):
    out = {}
    for key, value in LOGFMT_RE.findall(line):
        if value.startswith('"'):
            value = value[1:-1].replace('\\"', '"').replace("\\\\", "\\")
        out[key] = value
    return out


def ms(seconds):
    """A duration flag's value: 0.2 -> "200ms"."""
    return f"{int(seconds * 1000)}ms"


class Replica:
    """`program` (e.g. [binary, "run"], behind a namespace's or setpriv's
    prefix) with the replica's flags: --zk-servers, --replica-id, --file-dir,
    then `flags`, then `-- command` when given. `group`: stopped through its
    process group; `death_signal`: sent by the kernel when the suite dies;
    `http_port`: where its --http-addr listens (the suite passes the flag)."""

    def __init__(self, name, program, zk_servers, file_dir, log_path, flags=(), command=None, env=None,
                 group=False, death_signal=None, preexec=None, http_port=None):
        self.name, self.program, self.zk_servers, self.dir = name, list(program), zk_servers, file_dir
        self.log_path, self.flags, self.command, self.env = log_path, list(flags), command, env
        self.group, self.death_signal, self.preexec, self.http_port = group, death_signal, preexec, http_port
        self.proc = None

    def argv(self):
        return [*self.program, "--zk-servers", self.zk_servers, "--replica-id", self.name, "--file-dir", self.dir,
                *self.flags, *(["--", *self.command] if self.command else [])]

    def start(self):
        self.proc = PROCS.spawn(self.argv(), f"replica {self.name}", self.log_path, env=self.env,
                                death_signal=self.death_signal, preexec=self.preexec)
        return self.proc

    @property
    def pid(self):
        return self.proc.pid if self.proc else None

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def kill(self, sig):
        if self.alive():
            os.kill(self.proc.pid, sig)

    def wait(self, timeout):
        """The exit status, or None if it still runs after `timeout`."""
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return None

    def stop(self, timeout=8.0, steps=None):
        """SIGTERM (after SIGCONT), SIGKILL after `timeout` (or the signals
        and waits of `steps`). The exit status; None if it took the SIGKILL."""
        if self.proc is None:
            return None
        return PROCS.end(self.proc, steps or ((signal.SIGTERM, timeout),), self.group)

    # -- its log --

    def text(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except (OSError, TypeError):
            return ""

    def log_size(self):
        try:
            return os.path.getsize(self.log_path)
        except (OSError, TypeError):
            return 0

    def lines(self, offset=0):
        """[(line, its logfmt fields)] from byte `offset` on."""
        try:
            with open(self.log_path, "rb") as f:
                f.seek(offset)
                text = f.read().decode("utf-8", "replace")
        except (OSError, TypeError):
            return []
        return [(ln, parse_logfmt(ln)) for ln in text.splitlines() if ln.strip()]

    def grep(self, *needles, level=None):
        """The lines that contain every needle (and `level=LEVEL `)."""
        return [ln for ln, _ in self.lines()
                if (not level or f"level={level} " in ln) and all(n in ln for n in needles)]

    def transitions(self, offset=0):
        return [(ln, d) for ln, d in self.lines(offset) if d.get("msg") == "transition"]

    def state(self):
        t = self.transitions()
        return t[-1][1].get("to", "?") if t else "Init"

    def tail(self, n=40, offset=0):
        return [ln for ln, _ in self.lines(offset)][-n:]

    def status(self):
        """Its /status (JSON), or {"error": ...}."""
        try:
            return json.loads(http_get("127.0.0.1", self.http_port, "/status", timeout=2)[1])
        except Exception as e:  # evidence only
            return {"error": str(e)}

