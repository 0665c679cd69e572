"""Helpers for scripts/tests/test_security.py: dependencies, processes that are
always cleaned up, throw-away ZooKeeper servers (plain or TLS-only), replicas of
the real binary, an archive of every election file seen, and a raw kazoo client.

Every process is started from the main thread in a session of its own, with a
parent-death signal (the replicas get SIGTERM, the JVMs and stunnel SIGKILL), and
is registered in PROCS; cleanup() stops exactly those, by process group id."""

import ctypes
import datetime
import importlib.util
import json
import os
import random
import re
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
JAVA_DIR = "/usr/share/java"
# Debian's zookeeper.jar names netty-handler and -transport in its manifest but not
# netty-codec, which the TLS handler (SslHandler extends ByteToMessageDecoder)
# needs: without it every TLS connection is closed with NoClassDefFoundError.
ZK_CLASSPATH = ":".join(
    os.path.join(JAVA_DIR, jar)
    for jar in ("zookeeper.jar", "slf4j-simple.jar", "netty-codec.jar", "netty-resolver.jar")
)
ELECTION_FILE = re.compile(r"^election-(\d{19})-(\d{10})\.json$")

_libc = ctypes.CDLL(None, use_errno=True)
PR_SET_PDEATHSIG = 1


def binary():
    b = os.environ.get("BINARY", ".build/release/election")
    return b if os.path.isabs(b) else os.path.join(ROOT, b)


# ---- dependencies --------------------------------------------------------------

def _installed(package):
    r = subprocess.run(["dpkg-query", "-W", "-f=${Status}", package], capture_output=True, text=True)
    return r.returncode == 0 and "install ok installed" in r.stdout


def ensure_dependencies():
    """apt-get installs what is missing (as root); then makes sure this interpreter
    sees Debian's kazoo, re-executing under /usr/bin/python3 when it does not."""
    wanted = {
        "python3-kazoo": lambda: _installed("python3-kazoo"),
        "stunnel4": lambda: shutil.which("stunnel4") is not None,
        "openssl": lambda: shutil.which("openssl") is not None,
        "default-jre-headless": lambda: shutil.which("java") is not None and shutil.which("keytool") is not None,
        "zookeeper": lambda: os.path.exists(os.path.join(JAVA_DIR, "zookeeper.jar")),
        "libnetty-java": lambda: os.path.exists(os.path.join(JAVA_DIR, "netty-codec.jar")),
        "libslf4j-java": lambda: os.path.exists(os.path.join(JAVA_DIR, "slf4j-simple.jar")),
        "iproute2": lambda: shutil.which("ss") is not None,
    }
    missing = [p for p, present in wanted.items() if not present()]
    if missing:
        if os.geteuid() != 0:
            sys.exit(f"security: missing {' '.join(missing)}; run as root or apt-get install them")
        print(f"installing {' '.join(missing)} with apt-get", flush=True)
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        subprocess.run(["apt-get", "update", "-qq"], env=env, check=False)
        r = subprocess.run(["apt-get", "install", "-y", "-qq", *missing], env=env)
        if r.returncode != 0:
            sys.exit("security: apt-get install failed")
    if importlib.util.find_spec("kazoo") is None:
        debian = "/usr/bin/python3"
        if os.path.realpath(sys.executable) != os.path.realpath(debian) and os.path.exists(debian):
            os.execv(debian, [debian, *sys.argv])
        sys.exit("security: python3-kazoo is installed but not importable")


# ---- processes -----------------------------------------------------------------

PROCS = []  # every Popen started, in order


def _pdeathsig(sig):
    def pre():
        _libc.prctl(PR_SET_PDEATHSIG, int(sig), 0, 0, 0)

    return pre


def spawn(cmd, log_path, death_signal=signal.SIGTERM, env=None, cwd=None):
    log = open(log_path, "ab")
    p = subprocess.Popen(
        cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=cwd,
        start_new_session=True, preexec_fn=_pdeathsig(death_signal))
    log.close()
    PROCS.append(p)
    return p


def stop_process(p, sig=signal.SIGTERM, grace=8.0):
    """Signals p's process group (it is a group leader: start_new_session), waits,
    SIGKILLs after `grace`. Returns the exit status."""
    if p.poll() is None:
        try:
            os.killpg(p.pid, sig)
        except ProcessLookupError:
            pass
        try:
            return p.wait(grace)
        except subprocess.TimeoutExpired:
            try:
                os.killpg(p.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            return p.wait(5)
    return p.returncode


def cleanup():
    for p in reversed(PROCS):
        if p.poll() is None:
            try:
                os.killpg(p.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
    deadline = time.monotonic() + 8
    for p in reversed(PROCS):
        try:
            p.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            try:
                os.killpg(p.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            try:
                p.wait(3)
            except subprocess.TimeoutExpired:
                pass


def free_ports(count):
    """Distinct loopback ports free right now, below the ephemeral range."""
    held, ports = [], []
    try:
        while len(ports) < count:
            port = random.randrange(20000, 32000)
            if port in ports:
                continue
            s = socket.socket()
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                s.close()
                continue
            held.append(s)
            ports.append(port)
    finally:
        for s in held:
            s.close()
    return ports


def four_letter(port, word, timeout=2.0, context=None):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as raw:
            s = context.wrap_socket(raw, server_hostname="localhost") if context else raw
            s.settimeout(timeout)
            s.sendall(word.encode())
            out = b""
            while True:
                chunk = s.recv(4096)
                if not chunk:
                    break
                out += chunk
            return out.decode(errors="replace")
    except (OSError, ssl.SSLError):
        return ""


# ---- ZooKeeper -------------------------------------------------------------------

class ZooKeeper:
    """One standalone server. `tls`: a dict with keystore/truststore paths and
    password; then the server has only a secureClientPort (Netty, client
    certificates required) and no plaintext port at all."""

    def __init__(self, work, name, tls=None, java_opts="", tick_ms=500):
        self.dir = os.path.join(work, name)
        os.makedirs(os.path.join(self.dir, "data"), exist_ok=True)
        self.tls = tls
        self.port = free_ports(1)[0]
        self.java_opts = java_opts
        self.tick_ms = tick_ms
        self.proc = None
        self.log = os.path.join(self.dir, "zk.log")

    @property
    def connect(self):
        return f"127.0.0.1:{self.port}"

    def config(self):
        lines = [
            f"tickTime={self.tick_ms}", "initLimit=10", "syncLimit=5", f"dataDir={self.dir}/data",
            "admin.enableServer=false", "4lw.commands.whitelist=*",
        ]
        if self.tls:
            t = self.tls
            lines += [
                f"secureClientPort={self.port}", "secureClientPortAddress=127.0.0.1",
                "serverCnxnFactory=org.apache.zookeeper.server.NettyServerCnxnFactory",
                f"ssl.keyStore.location={t['keystore']}", f"ssl.keyStore.password={t['password']}",
                "ssl.keyStore.type=PKCS12",
                f"ssl.trustStore.location={t['truststore']}", f"ssl.trustStore.password={t['password']}",
                "ssl.trustStore.type=PKCS12", "ssl.clientAuth=need",
            ]
        else:
            lines += [f"clientPort={self.port}", "clientPortAddress=127.0.0.1"]
        return "\n".join(lines) + "\n"

    def start(self):
        cfg = os.path.join(self.dir, "zoo.cfg")
        with open(cfg, "w") as f:
            f.write(self.config())
        opts = ["-Xmx256m", "-XX:+UseSerialGC", *self.java_opts.split()]
        self.proc = spawn(
            ["java", *opts, "-cp", ZK_CLASSPATH, f"-Dzookeeper.log.dir={self.dir}",
             "org.apache.zookeeper.server.ZooKeeperServerMain", cfg],
            self.log, death_signal=signal.SIGKILL)

    def wait_ready(self, timeout=90, context=None):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"ZooKeeper {self.dir} exited ({self.proc.returncode}); see {self.log}")
            if four_letter(self.port, "ruok", context=context) == "imok":
                return
            time.sleep(0.3)
        raise RuntimeError(f"ZooKeeper {self.dir} not ready after {timeout}s; see {self.log}")

    def stop(self):
        if self.proc:
            stop_process(self.proc, grace=10)


def kazoo_client(hosts, timeout=20):
    from kazoo.client import KazooClient

    kz = KazooClient(hosts=hosts, timeout=10)
    kz.start(timeout=timeout)
    return kz


def sequence(name):
    """The daemon's rule (Decisions.sequence): 10 ASCII digits after a '_'."""
    digits = name[-10:]
    if len(name) > 10 and len(digits) == 10 and re.fullmatch(r"[0-9]{10}", digits) and name[-11] == "_":
        return int(digits)
    return None


def ordered_candidates(kz, path):
    names = [n for n in kz.get_children(path) if sequence(n) is not None]
    return sorted(names, key=sequence)


# ---- replicas --------------------------------------------------------------------

class Replica:
    def __init__(self, work, name, zk_servers, path, file_dir, *extra, http=False):
        self.name = name
        self.zk_servers = zk_servers
        self.path = path
        self.file_dir = file_dir
        self.extra = list(extra)
        self.log = os.path.join(work, f"{name}.log")
        self.http_port = free_ports(1)[0] if http else None
        self.proc = None
        self.stopped_on_purpose = False
        self.exits = []  # statuses of purposeful stops

    def start(self):
        cmd = [binary(), "run", "--zk-servers", self.zk_servers, "--replica-id", self.name,
               "--election-path", self.path, "--file-dir", self.file_dir, *self.extra]
        if self.http_port:
            cmd += ["--http-addr", f"127.0.0.1:{self.http_port}"]
        with open(self.log, "a") as f:
            f.write(f"# --- start {time.strftime('%H:%M:%S')}: {' '.join(cmd)}\n")
        self.stopped_on_purpose = False
        self.proc = spawn(cmd, self.log, death_signal=signal.SIGTERM)

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def crashed(self):
        return self.proc is not None and self.proc.poll() is not None and not self.stopped_on_purpose

    def stop(self, sig=signal.SIGTERM, grace=10):
        self.stopped_on_purpose = True
        status = stop_process(self.proc, sig, grace)
        self.exits.append(status)
        return status

    def signal(self, sig=signal.SIGTERM):
        self.stopped_on_purpose = True
        os.kill(self.proc.pid, sig)

    def text(self):
        try:
            with open(self.log, errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def lines(self, *needles, level=None):
        out = []
        for line in self.text().splitlines():
            if level and f"level={level} " not in line:
                continue
            if all(n in line for n in needles):
                out.append(line)
        return out

    def status(self):
        if not self.http_port:
            return None
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.http_port}/status", timeout=2) as r:
                return json.loads(r.read())
        except Exception as e:  # noqa: BLE001 - evidence only
            return {"error": str(e)}


# ---- election files ------------------------------------------------------------

def parse_time(text):
    dt = datetime.datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ")
    return dt.replace(tzinfo=datetime.timezone.utc).timestamp()


class Record:
    def __init__(self, name, directory, content, seen):
        self.name = name
        self.directory = directory
        self.token = content["token"]
        self.counter = content["counter"]
        self.replica = content.get("replica")
        self.time = parse_time(content["time"])  # written at, by the file's own clock
        self.seen = seen  # time.time() when the poller found it


class Archive:
    """Copies every election file that appears in `dirs` into `into`, polling every
    `interval` s, so that files rotated away still count."""

    def __init__(self, dirs, into, interval=0.01):
        self.dirs = list(dirs)
        self.into = into
        os.makedirs(into, exist_ok=True)
        self.interval = interval
        self.records = {}
        self.cond = threading.Condition()
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def start(self):
        self.thread.start()
        return self

    def stop(self):
        self.stopping.set()
        self.thread.join(5)
        self.scan()

    def _run(self):
        while not self.stopping.is_set():
            self.scan()
            time.sleep(self.interval)

    def scan(self):
        found = []
        for d in self.dirs:
            try:
                names = os.listdir(d)
            except OSError:
                continue
            for n in names:
                if n in self.records or not ELECTION_FILE.match(n):
                    continue
                p = os.path.join(d, n)
                try:
                    if not os.path.isfile(p) or os.path.islink(p):
                        continue
                    with open(p, "rb") as f:
                        data = f.read()
                    content = json.loads(data)
                    rec = Record(n, d, content, time.time())
                except (OSError, ValueError, KeyError):
                    continue
                with open(os.path.join(self.into, n), "wb") as f:
                    f.write(data)
                found.append(rec)
        if found:
            with self.cond:
                for r in found:
                    self.records[r.name] = r
                self.cond.notify_all()

    def all(self):
        with self.cond:
            return list(self.records.values())

    def newest(self):
        recs = self.all()
        return max(recs, key=lambda r: (r.token, r.counter)) if recs else None

    def wait(self, predicate, timeout):
        """The earliest-written record satisfying predicate, waiting up to timeout."""
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                hits = [r for r in self.records.values() if predicate(r)]
                if hits:
                    return min(hits, key=lambda r: r.time)
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                self.cond.wait(min(left, 0.05))


def late_writes(records):
    """Files of a token written after the first file of a higher token."""
    first = {}
    for r in records:
        first[r.token] = min(first.get(r.token, r.time), r.time)
    tokens = sorted(first)
    late = 0
    for r in records:
        if any(first[t] < r.time for t in tokens if t > r.token):
            late += 1
    return late


def verify(dirs, capacity=None):
    cmd = [binary(), "verify", *dirs, "--json"]
    if capacity:
        cmd += ["--capacity", str(capacity)]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    try:
        report = json.loads(r.stdout)
    except ValueError:
        report = {"violations": [r.stdout.strip() + r.stderr.strip()], "files": 0}
    return r.returncode, report
