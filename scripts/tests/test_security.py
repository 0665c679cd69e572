#!/usr/bin/env python3
"""Security and hostile-environment tests, against real ZooKeeper
servers and the real binary; nothing is built.

    BINARY=.build/release/election /usr/bin/python3 scripts/tests/test_security.py

1. TLS to ZooKeeper through stunnel: a standalone server with only a
   secureClientPort (Netty, client certificates required, no plaintext port), a
   local stunnel4 in client mode in front of it, a replica whose --zk-servers is
   stunnel's accept port elects itself and writes; plaintext and certificate-less
   clients are refused by the server.
2. Hostile znodes under the election path while 3 replicas run (leader-timeout
   100 ms, session 4 s): names outside the scheme, foreign candidates with binary
   and 1 MiB data, persistent candidate-shaped children (a sequential one,
   `x_0000000001`, `intruder_deadbeef_0000000000`). No replica may crash, no
   second writer, and SIGTERM of the leader must elect a new one within
   STALL_LIMIT seconds with each child present. A stall is reported with the
   child, the replica waiting behind it and its log line, then the child is
   deleted to show the election resumes.
3. Someone else deletes the leader's candidate znode 200 times in a row while
   3 replicas write every 50 ms; every file ever seen is archived; overlaps,
   late writes of an old token and delete → first file of the next leader.
4. Persistent faults without churn: a planted file of a higher token (candidates
   created in 30 s, "the same fault repeats" warnings, transition lines, then
   time to write again after it is removed); a planted token beyond Int64;
   a directory named like an election file.

Needs root for apt-get when something is missing (python3-kazoo, stunnel4,
openssl, default-jre-headless, zookeeper). Every process it starts is stopped
however it ends (also on SIGINT/SIGTERM/SIGHUP; replicas and servers also get a
parent-death signal). SECURITY_KEEP=1 keeps the work directory (it is kept
anyway when a test fails). Last line: `security: N passed, M failed`.

The process handling, the replicas, the ZooKeeper config and the rest they
share with the other suites are the harness's (scripts/harness/).
"""

import importlib.util
import json
import os
import re
import shutil
import signal
import ssl
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # scripts/, for the harness

from harness import ROOT, Interrupted, files, replica, wait_until  # noqa: E402
from harness.net import four_letter, free_ports  # noqa: E402
from harness.proc import PROCS, apt_install, on_exit  # noqa: E402
from harness.zk import CLASSPATH, server_argv, zoo_cfg  # noqa: E402

STALL_LIMIT = 5.0  # seconds a SIGTERM handover may take with hostile children present
CHURN_DELETES = 200
FAULT_WINDOW = 30.0
FAULT_MAX_CANDIDATES = 10  # backoff 100 ms doubling, jitter [half, all]: 9-10 cycles fit in 30 s
RECOVERY_LIMIT = 35.0
PASSWORD = "election-test"
BINARY = os.path.join(ROOT, os.environ.get("BINARY", ".build/release/election"))  # an absolute one stays
JAVA_DIR = "/usr/share/java"
# Debian's zookeeper.jar names netty-handler and -transport in its manifest but not
# netty-codec, which the TLS handler (SslHandler extends ByteToMessageDecoder)
# needs: without it every TLS connection is closed with NoClassDefFoundError.
ZK_CLASSPATH = ":".join([CLASSPATH, *(os.path.join(JAVA_DIR, j) for j in ("netty-codec.jar", "netty-resolver.jar"))])

RESULTS = []


def report(name, ok, summary, details=()):
    RESULTS.append(ok)
    print(f"{'ok  ' if ok else 'FAIL'} {name}: {summary}", flush=True)
    for d in details:
        print(f"     {d}", flush=True)


def ask(port, word, context=None):
    """A four-letter word's answer; "" when there is none."""
    return four_letter(port, word, timeout=2.0, context=context, quiet=True)


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
        print(f"installing {' '.join(missing)} with apt-get", flush=True)
        error = apt_install(missing)
        if error:
            sys.exit(f"security: {error}")
    if importlib.util.find_spec("kazoo") is None:
        debian = "/usr/bin/python3"
        if os.path.realpath(sys.executable) != os.path.realpath(debian) and os.path.exists(debian):
            os.execv(debian, [debian, *sys.argv])
        sys.exit("security: python3-kazoo is installed but not importable")


# ---- ZooKeeper, replicas, a raw client ----------------------------------------

class ZooKeeper:
    """One standalone server on a free port. `tls`: a dict with keystore/truststore
    paths and password; then the server has only a secureClientPort (Netty, client
    certificates required) and no plaintext port at all. The kernel SIGKILLs it
    should the tests die."""

    def __init__(self, work, name, tls=None, java_opts=(), tick_ms=500):
        self.dir = os.path.join(work, name)
        os.makedirs(os.path.join(self.dir, "data"), exist_ok=True)
        self.tls = tls
        self.port = free_ports(1)[0]
        self.java_opts = list(java_opts)
        self.tick_ms = tick_ms
        self.proc = None
        self.log = os.path.join(self.dir, "zk.log")

    @property
    def connect(self):
        return f"127.0.0.1:{self.port}"

    def start(self):
        t = self.tls
        secure = [
            f"secureClientPort={self.port}", "secureClientPortAddress=127.0.0.1",
            "serverCnxnFactory=org.apache.zookeeper.server.NettyServerCnxnFactory",
            f"ssl.keyStore.location={t['keystore']}", f"ssl.keyStore.password={t['password']}",
            "ssl.keyStore.type=PKCS12",
            f"ssl.trustStore.location={t['truststore']}", f"ssl.trustStore.password={t['password']}",
            "ssl.trustStore.type=PKCS12", "ssl.clientAuth=need",
        ] if t else []
        cfg = os.path.join(self.dir, "zoo.cfg")
        with open(cfg, "w") as f:
            f.write(zoo_cfg(f"{self.dir}/data", None if t else self.port, tick_ms=self.tick_ms, extra=secure))
        self.proc = PROCS.spawn(server_argv(cfg, ["-Xmx256m", "-XX:+UseSerialGC", *self.java_opts], ZK_CLASSPATH),
                                f"zookeeper {self.dir}", self.log, death_signal=signal.SIGKILL)

    def wait_ready(self, timeout=90, context=None):
        def ready():
            if self.proc.poll() is not None:
                raise RuntimeError(f"ZooKeeper {self.dir} exited ({self.proc.returncode}); see {self.log}")
            return ask(self.port, "ruok", context=context) == "imok"

        if not wait_until(ready, timeout, 0.3):
            raise RuntimeError(f"ZooKeeper {self.dir} not ready after {timeout}s; see {self.log}")

    def stop(self):
        if self.proc:
            PROCS.end(self.proc, ((signal.SIGTERM, 10),), group=True)


class Replica(replica.Replica):
    """A replica of BINARY on its own log (<work>/<name>.log, a line before each
    start), stopped through its process group; the kernel SIGTERMs it should
    the tests die. `http`: with --http-addr on a free port."""

    def __init__(self, work, name, zk_servers, path, file_dir, *extra, http=False):
        port = free_ports(1)[0] if http else None
        flags = ["--election-path", path, *extra] + (["--http-addr", f"127.0.0.1:{port}"] if http else [])
        super().__init__(name, [BINARY, "run"], zk_servers, file_dir, os.path.join(work, f"{name}.log"), flags,
                         group=True, death_signal=signal.SIGTERM, http_port=port)
        self.stopped_on_purpose = False
        self.exits = []  # statuses of purposeful stops

    def start(self):
        with open(self.log_path, "a") as f:
            f.write(f"# --- start {time.strftime('%H:%M:%S')}: {' '.join(self.argv())}\n")
        self.stopped_on_purpose = False
        super().start()

    def crashed(self):
        return self.proc is not None and self.proc.poll() is not None and not self.stopped_on_purpose

    def stop(self, sig=signal.SIGTERM, grace=10):
        """The exit status; None when it took a SIGKILL."""
        self.stopped_on_purpose = True
        status = PROCS.end(self.proc, ((sig, grace),), group=True)
        self.exits.append(status)
        return status

    def signal(self, sig=signal.SIGTERM):
        self.stopped_on_purpose = True
        os.kill(self.proc.pid, sig)


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


def verify(dirs, capacity=None):
    p, report_ = files.verify(BINARY, dirs, capacity)
    return p.returncode, report_ if report_ is not None else {"violations": [p.stdout.strip() + p.stderr.strip()],
                                                               "files": 0}


# ---- election files ------------------------------------------------------------

def archiving(dirs, into):
    """Every election file that appears in `dirs`, read (a FileEvent each) and
    copied into `into` every 10 ms, so that files rotated away still count."""
    os.makedirs(into, exist_ok=True)
    poller = files.Poller([(d, d, into) for d in dirs], 0.01)
    poller.into = into
    return poller


def late_writes(records):
    """Files of a token written after the first file of a higher token (of
    those read: a file gone before it was read has no time of its own)."""
    records = [r for r in records if r.writer is not None]
    first = {}
    for r in records:
        first[r.token] = min(first.get(r.token, r.time), r.time)
    tokens = sorted(first)
    late = 0
    for r in records:
        if any(first[t] < r.time for t in tokens if t > r.token):
            late += 1
    return late


def ms(seconds):
    return f"{seconds * 1000:.0f} ms"


def election_status(connect, path):
    r = subprocess.run([BINARY, "status", "--zk-servers", connect, "--election-path", path, "--json"],
                       capture_output=True, text=True, timeout=30)
    try:
        entries = json.loads(r.stdout)
    except ValueError:
        entries = r.stdout.strip()
    return r.returncode, entries


def status_leader(entries):
    if isinstance(entries, dict):
        entries = entries.get("candidates", [])
    if isinstance(entries, list) and entries:
        return entries[0].get("replica"), entries[0].get("znode")
    return None, None


# ---- 1. TLS through stunnel ------------------------------------------------------

def make_certs(d):
    """A test CA, a server certificate (keystore + truststore for ZooKeeper) and
    a client certificate (PEM, for stunnel), all for 127.0.0.1 / localhost."""
    os.makedirs(d, exist_ok=True)

    def run(*cmd):
        subprocess.run(cmd, cwd=d, check=True, capture_output=True)

    with open(os.path.join(d, "san.cnf"), "w") as f:
        f.write("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    run("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.pem",
        "-days", "2", "-subj", "/CN=election-test-ca")
    for n in ("server", "client"):
        run("openssl", "req", "-newkey", "rsa:2048", "-nodes", "-keyout", f"{n}.key", "-out", f"{n}.csr",
            "-subj", f"/CN=election-{n}")
        run("openssl", "x509", "-req", "-in", f"{n}.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
            "-out", f"{n}.pem", "-days", "2", "-extfile", "san.cnf")
    run("openssl", "pkcs12", "-export", "-in", "server.pem", "-inkey", "server.key", "-certfile", "ca.pem",
        "-name", "zookeeper", "-out", "server.p12", "-passout", f"pass:{PASSWORD}")
    run("keytool", "-importcert", "-noprompt", "-alias", "ca", "-file", "ca.pem", "-keystore", "trust.p12",
        "-storetype", "PKCS12", "-storepass", PASSWORD)
    p = lambda n: os.path.join(d, n)  # noqa: E731
    return {"dir": d, "keystore": p("server.p12"), "truststore": p("trust.p12"), "password": PASSWORD,
            "ca": p("ca.pem"), "client_cert": p("client.pem"), "client_key": p("client.key")}


def tls_context(certs, with_client_cert):
    ctx = ssl.create_default_context(cafile=certs["ca"])
    if with_client_cert:
        ctx.load_cert_chain(certs["client_cert"], certs["client_key"])
    return ctx


def listening_ports(pid):
    r = subprocess.run(["ss", "-Hltnp"], capture_output=True, text=True)
    ports = set()
    for line in r.stdout.splitlines():
        if f"pid={pid}," in line:
            ports.add(int(line.split()[3].rsplit(":", 1)[1]))
    return ports


def test_tls(work, zk, certs):
    accept = free_ports(1)[0]
    conf = os.path.join(work, "stunnel.conf")
    stlog = os.path.join(work, "stunnel.log")
    with open(conf, "w") as f:
        f.write(f"""foreground = yes
pid =
debug = notice
output = {stlog}

[zookeeper]
client = yes
accept = 127.0.0.1:{accept}
connect = 127.0.0.1:{zk.port}
cert = {certs['client_cert']}
key = {certs['client_key']}
CAfile = {certs['ca']}
verifyChain = yes
checkHost = localhost
""")
    PROCS.spawn(["stunnel4", conf], "stunnel", os.path.join(work, "stunnel.out"), death_signal=signal.SIGKILL)
    through = wait_until(lambda: ask(accept, "ruok") == "imok", 20, 0.2)

    # The server: only the secure port listens, and it answers nothing in plaintext.
    ports = listening_ports(zk.proc.pid)
    plain = ask(zk.port, "ruok")
    report("tls: ZooKeeper listens only on its TLS port", ports == {zk.port} and plain != "imok",
           f"JVM listening on {sorted(ports)} (secureClientPort {zk.port}, no clientPort); "
           f"plaintext ruok answered {plain!r}")

    nocert = ask(zk.port, "ruok", context=tls_context(certs, False))
    withcert = ask(zk.port, "ruok", context=tls_context(certs, True))
    report("tls: client certificate required", nocert != "imok" and withcert == "imok",
           f"TLS without client certificate answered {nocert!r}, with the CA-signed one {withcert!r}")

    fdir = os.path.join(work, "tls-files")
    rep = Replica(work, "t1", f"127.0.0.1:{accept}", "/tls", fdir,
                  "--leader-timeout", "200ms", "--session-timeout", "4s")
    t0 = time.time()
    rep.start()
    archive = archiving([fdir], os.path.join(work, "tls-archive")).start()
    first = archive.wait(lambda r: True, 30)
    third = archive.wait(lambda r: r.counter >= 3, 10) if first else None
    st_rc, entries = election_status(f"127.0.0.1:{accept}", "/tls")
    leader, _ = status_leader(entries)
    rc = rep.stop()
    archive.stop()
    vrc, vrep = verify([fdir], 10)
    try:
        with open(stlog) as f:
            tls_bytes = sum(int(x.split(" byte(s) sent to TLS")[0].rsplit(" ", 1)[1])
                            for x in f if "byte(s) sent to TLS" in x)
    except (OSError, ValueError, IndexError):
        tls_bytes = -1
    ok = bool(through and first and third and st_rc == 0 and leader == "t1" and rc == 0 and vrc == 0
              and tls_bytes > 0)
    report("tls: replica through stunnel elects itself and writes", ok,
           f"stunnel up {bool(through)}; first file {ms(first.time - t0) if first else 'never'} after start, "
           f"{len(archive.all())} files; status exit {st_rc} leader {leader}; SIGTERM exit {rc}; "
           f"verify exit {vrc}; {tls_bytes} bytes sent to TLS by stunnel",
           [] if ok else [f"log {rep.log_path}", *rep.text().splitlines()[-8:]])


# ---- 2. hostile znodes ---------------------------------------------------------

def test_hostile(work, zk):
    from kazoo.exceptions import NoNodeError

    path = "/hostile"
    names = ["h1", "h2", "h3"]
    base = os.path.join(work, "hostile")
    dirs = {n: os.path.join(base, n) for n in names}
    archive = archiving(dirs.values(), os.path.join(base, "archive")).start()
    reps = {n: Replica(work, n, zk.connect, path, dirs[n], "--leader-timeout", "100ms",
                       "--session-timeout", "4s", "--attempter-timeout", "2s", "--log-level", "debug",
                       http=True) for n in names}
    kz = kazoo_client(zk.connect)

    def real(cands):
        return [c for c in cands if c.split("_")[0] in reps]

    def node_of(replica):
        return next((c for c in ordered_candidates(kz, path) if c.startswith(replica + "_")), None)

    def leader_record():
        r = archive.newest()
        return r if r and time.time() - r.time < 1.0 else None

    reps["h1"].start()
    if not archive.wait(lambda r: r.writer == "h1", 30):
        report("hostile: set-up", False, "h1 wrote no file within 30 s", reps["h1"].text().splitlines()[-5:])
        return
    reps["h2"].start()
    reps["h3"].start()
    if not wait_until(lambda: len(real(ordered_candidates(kz, path))) == 3, 20):
        report("hostile: set-up", False, "3 candidates did not appear")
        return

    def handover(limit=STALL_LIMIT):
        cur = leader_record()
        rep = reps[cur.writer]
        t0 = time.time()
        rep.signal(signal.SIGTERM)
        new = archive.wait(lambda r: r.token > cur.token, limit)
        try:
            rc = rep.proc.wait(10)
        except subprocess.TimeoutExpired:
            rc = rep.stop()
        rep.exits.append(rc)
        return cur, rep, new, t0, rc

    def restart(rep):
        rep.start()
        return wait_until(lambda: node_of(rep.name) is not None, 10)

    # Phase 1: names the scheme ignores, and foreign candidates with hostile data.
    t_created = time.time()
    kz.create(path + "/garbage", b"garbage")
    kz.create(path + "/evil_-2147483648", b'{"replica":"evil"}')
    binary_data = bytes(range(256)) * 4 + b'\x00{"replica":'
    bin_node = kz.create(path + "/bin_ffffffffffffffff_", binary_data, ephemeral=True, sequence=True)
    head = b'{"replica":"big","host":"'
    big_data = head + b"x" * ((1 << 20) - len(head) - 2) + b'"}'
    big_node = kz.create(path + "/big_ffffffffffffffff_", big_data, ephemeral=True, sequence=True)
    big_name = big_node.rsplit("/", 1)[1]
    writing = archive.wait(lambda r: r.seen > t_created + 0.5, 5)
    st_rc, entries = election_status(zk.connect, path)
    st_leader, _ = status_leader(entries)
    cur, old, new, t0, rc = handover()
    waited = restart(old)  # it queues behind the 1 MiB candidate and reads it
    behind_big = wait_until(lambda: old.grep("waiting behind predecessor", big_name), 5)
    time.sleep(0.5)
    alive = all(r.alive() for r in reps.values())
    kz.delete(bin_node)
    kz.delete(big_node)
    ok = bool(writing and new and rc == 0 and alive and st_rc == 0 and st_leader in reps and waited and behind_big)
    report("hostile: names outside the scheme, binary and 1 MiB candidates", ok,
           f"garbage, evil_-2147483648, {bin_node.rsplit('/', 1)[1]} (binary), {big_name} (1 MiB): "
           f"writes went on {bool(writing)}; status exit {st_rc} leader {st_leader}; SIGTERM {cur.writer} -> "
           f"{new.writer + ' wrote after ' + ms(new.time - t0) if new else 'NO new leader'}; "
           f"restarted {old.name} waited behind the 1 MiB node {bool(behind_big)}; all alive {alive}")

    # Phase 2: persistent children named like candidates, one at a time (kept when harmless).
    hostile = [
        ("persistent sequential child",
         lambda: kz.create(path + "/seqp_ffffffffffffffff_", b'{"replica":"seqp"}', sequence=True)),
        ("persistent x_0000000001 (shorter than the scheme)",
         lambda: kz.create(path + "/x_0000000001", b"x")),
        ("persistent intruder_deadbeef_0000000000",
         lambda: kz.create(path + "/intruder_deadbeef_0000000000",
                           b'{"replica":"intruder","host":"evil","pid":1,"started":"2026-01-01T00:00:00.000Z"}')),
    ]
    for label, make in hostile:
        full = make()
        child = full.rsplit("/", 1)[1]
        outcome, details, summary = None, [], ""
        for _ in range(4):
            cands = ordered_candidates(kz, path)
            if not leader_record():
                outcome, summary = "stall", "no leader was writing before the handover"
                break
            leader_node = node_of(leader_record().writer)
            rest = [c for c in cands if c != leader_node]
            child_next = bool(rest) and rest[0] == child
            cur, old, new, t0, rc = handover()
            if new is None:
                outcome = "stall"
                waiting = {r.name: r.grep("waiting behind predecessor", f"predecessor={child}")
                           for r in reps.values() if r.alive()}
                waiter = next((n for n, ls in waiting.items() if ls), None)
                st_rc, entries = election_status(zk.connect, path)
                st_leader, st_node = status_leader(entries)
                stat = reps[waiter].status() if waiter else None
                info = [line for line in (reps[waiter].grep() if waiter else [])
                        if "level=debug" not in line][-2:]
                t1 = time.time()
                kz.delete(full)
                resumed = archive.wait(lambda r: r.token > cur.token, 10)
                summary = (f"STALL: after SIGTERM of leader {cur.writer} nobody wrote for {STALL_LIMIT:.0f} s "
                           f"(attempter-timeout 2 s: its re-checks keep waiting); "
                           f"deleting {child} -> {resumed.writer + ' wrote after ' + ms(resumed.time - t1) if resumed else 'still no leader'}")
                details = [
                    f"ordered candidates before the handover: {cands}",
                    f"{waiter} waits behind {child}: {waiting[waiter][-1] if waiter else '(no log line)'}",
                    f"{waiter} /status: state={stat.get('state') if stat else None} "
                    f"leader={json.dumps(stat.get('leader')) if stat else None}",
                    f"its last lines above debug: {info}",
                    f"election status (skips non-ephemeral nodes): exit {st_rc}, shows {st_leader} ({st_node}) leading",
                ]
                restart(old)
                break
            restart(old)
            if child_next:
                outcome = "skipped"
                summary = f"it was next in line; SIGTERM {cur.writer} -> {new.writer} wrote after {ms(new.time - t0)}"
                break
        if outcome is None:
            outcome, summary = "unreached", f"{child} never came next in line in 4 handovers"
        report(f"hostile: {label}", outcome == "skipped", f"{child}: {summary}", details)

    time.sleep(0.5)
    archive.stop()
    crashed = [r.name for r in reps.values() if r.crashed()]
    bad_exits = [(r.name, s) for r in reps.values() for s in r.exits if s != 0]
    for r in reps.values():
        r.stop()
    archive.scan_all()
    vrc, vrep = verify(list(dirs.values()))
    arc, arep = verify([archive.into])
    late = late_writes(archive.all())
    try:
        kz.stop()
        kz.close()
    except NoNodeError:
        pass
    ok = not crashed and not bad_exits and vrc == 0 and arc == 0 and late == 0
    report("hostile: no crash, no second writer", ok,
           f"crashed {crashed or 'none'}; non-zero exits on SIGTERM {bad_exits or 'none'}; verify dirs exit {vrc}, "
           f"archive of {arep.get('files')} files from {len(arep.get('tokens', []))} terms exit {arc}; late writes {late}",
           (vrep.get("violations", []) + arep.get("violations", []))[:5])


# ---- 3. the leader's znode deleted by someone else, 200 times -------------------

def test_churn(work, zk):
    from kazoo.exceptions import NoNodeError

    path = "/churn"
    names = ["d1", "d2", "d3"]
    base = os.path.join(work, "churn")
    dirs = [os.path.join(base, n) for n in names]
    archive = archiving(dirs, os.path.join(base, "archive")).start()
    reps = [Replica(work, n, zk.connect, path, d, "--leader-timeout", "50ms", "--session-timeout", "4s",
                    "--storage-capacity", "1000") for n, d in zip(names, dirs)]
    kz = kazoo_client(zk.connect)
    reps[0].start()
    archive.wait(lambda r: True, 30)
    for r in reps[1:]:
        r.start()
    wait_until(lambda: len(ordered_candidates(kz, path)) == 3, 20)

    latencies, noticed, failures = [], [], []
    t_begin = time.time()
    for i in range(CHURN_DELETES):
        for _ in range(50):
            cands = ordered_candidates(kz, path)
            if not cands:
                time.sleep(0.01)
                continue
            stat = kz.exists(f"{path}/{cands[0]}")
            if stat is None:
                continue
            t0 = time.time()
            try:
                kz.delete(f"{path}/{cands[0]}")
            except NoNodeError:
                continue
            break
        else:
            failures.append(f"delete #{i + 1}: no candidate to delete")
            break
        rec = archive.wait(lambda r: r.token > stat.czxid, 10)
        if rec is None:
            failures.append(f"delete #{i + 1} of {cands[0]}: no new leader within 10 s")
            break
        latencies.append(rec.time - t0)
        noticed.append(rec.seen - t0)
    elapsed = time.time() - t_begin
    time.sleep(0.3)
    crashed = [r.name for r in reps if r.crashed()]
    exits = [r.stop() for r in reps]
    archive.stop()
    vrc, vrep = verify(dirs, 1000)
    arc, arep = verify([archive.into])
    records = archive.all()
    late = late_writes(records)
    overlaps = [v for v in arep.get("violations", []) if v.startswith("overlap")]
    kz.stop()
    kz.close()
    lat = sorted(latencies)
    summary = (f"{len(latencies)} deletes in {elapsed:.1f} s; delete -> next leader's first file (its own time) "
               f"median {ms(statistics.median(lat)) if lat else '-'} max {ms(lat[-1]) if lat else '-'} "
               f"(seen by the poller: median {ms(statistics.median(noticed)) if noticed else '-'}); "
               f"{len(records)} files, {len(arep.get('tokens', []))} terms; verify dirs exit {vrc}, archive exit {arc}, "
               f"{len(arep.get('violations', []))} violations ({len(overlaps)} overlaps); late writes of an old token {late}")
    ok = (not failures and len(latencies) == CHURN_DELETES and vrc == 0 and arc == 0 and late == 0
          and not crashed and exits == [0, 0, 0])
    report("delete the leader's znode 200 times", ok, summary,
           failures + [f"crashed {crashed}", f"exits {exits}"] * (not ok) + arep.get("violations", [])[:5])


# ---- 4. persistent faults, no churn --------------------------------------------

FILE_CONTENT = ('{"counter":1,"host":"x","pid":1,"replica":"x","time":"2026-01-01T00:00:00.000Z",'
                '"token":%d}\n')


def plant(directory, token):
    os.makedirs(directory, exist_ok=True)
    name = f"election-{token:019d}-0000000001.json"
    with open(os.path.join(directory, name), "w") as f:
        f.write(FILE_CONTENT % token)
    return os.path.join(directory, name)


def candidates_created(kz, path):
    """Creates under path since it was made empty: each create and each delete
    of a child bumps cversion once."""
    stat = kz.exists(path)
    return (stat.cversion + stat.numChildren) // 2, stat


def test_faults(work, zk):
    kz = kazoo_client(zk.connect)
    base = os.path.join(work, "fault")

    # A higher token planted: the leader refuses and releases every time it leads.
    path = "/fault"
    kz.create(path)
    fdir = os.path.join(base, "p1")
    token = 9000000000000000000  # 9999999999999999999 is beyond Int64: see the last check
    planted = plant(fdir, token)
    archive = archiving([fdir], os.path.join(base, "archive")).start()
    rep = Replica(work, "p1", zk.connect, path, fdir, "--leader-timeout", "200ms", "--session-timeout", "4s")
    t0 = time.time()
    rep.start()

    # Meanwhile (own replicas, paths and dirs): a directory named like an election file.
    test_directory_entry(work, zk, kz)
    # and a planted file whose token does not fit a fencing token (Int64).
    test_token_beyond_int64(work, zk, kz)

    time.sleep(max(0.0, t0 + FAULT_WINDOW - time.time()))
    created, stat = candidates_created(kz, path)
    repeats = rep.grep("the same fault repeats", level="warning")
    transitions = rep.grep("msg=transition", level="info")
    to_leader = [line for line in transitions if "to=Leader" in line]
    written = [r for r in archive.all() if r.token != token]
    ok = (rep.alive() and created <= FAULT_MAX_CANDIDATES and len(repeats) == 1 and not written
          and len(transitions) <= 12)
    report("fault: a higher-token file planted, 30 s", ok,
           f"{created} candidate znodes created (cversion {stat.cversion}), {len(to_leader)} of them led at info level; "
           f"'the same fault repeats' warnings {len(repeats)}; info transition lines {len(transitions)}; "
           f"files written {len(written)}",
           [] if ok else rep.grep("level=warning")[:4] + transitions[-4:])

    os.unlink(planted)
    t_rm = time.time()
    first = archive.wait(lambda r: r.token != token, RECOVERY_LIMIT + 5)
    time.sleep(1.0)
    after, _ = candidates_created(kz, path)
    recovered = rep.grep("recovered from a repeating fault")
    leading = rep.grep("msg=leading", level="info")
    ok = bool(first and first.time - t_rm <= RECOVERY_LIMIT and after - created <= 1 and rep.alive())
    # Not asserted: the runner logs "recovered from a repeating fault" with the next
    # transition, so a replica that simply goes on writing says nothing of it yet.
    report("fault: writes again within one backoff step once the file is removed", ok,
           f"first file {ms(first.time - t_rm) if first else 'NEVER'} after the removal (limit {RECOVERY_LIMIT:.0f} s); "
           f"candidates since: {after - created}; 'leading' info lines over the whole run {len(leading)}; "
           f"'recovered from a repeating fault' logged 1 s after the first file: {len(recovered)} times")
    archive.stop()
    rep.stop()
    kz.stop()
    kz.close()


def test_directory_entry(work, zk, kz):
    path = "/dirent"
    kz.create(path)
    fdir = os.path.join(work, "fault", "g1")
    entry = "election-0000000000000000001-0000000002.json"
    os.makedirs(os.path.join(fdir, entry))
    archive = archiving([fdir], os.path.join(work, "fault", "g1-archive")).start()
    rep = Replica(work, "g1", zk.connect, path, fdir, "--leader-timeout", "200ms", "--session-timeout", "4s",
                  "--storage-capacity", "3")
    t0 = time.time()
    rep.start()
    time.sleep(4.0)
    seen = archive.all()
    created, _ = candidates_created(kz, path)
    warnings = rep.grep(entry, level="warning")
    still = os.path.isdir(os.path.join(fdir, entry))
    present = sorted(n for n in os.listdir(fdir) if files.FILE_RE.match(n) and n != entry)
    rc = rep.stop()
    archive.stop()
    span = (max(r.time for r in seen) - t0) if seen else 0
    ok = len(seen) >= 10 and created == 1 and len(warnings) == 1 and still and len(present) == 3 and rc == 0
    report("fault: a directory named like an election file is ignored", ok,
           f"{len(seen)} files written in {span:.1f} s (capacity 3 kept: {len(present)} present), candidates {created}, "
           f"warnings naming it {len(warnings)}, directory left alone {still}, SIGTERM exit {rc}",
           [] if ok else rep.grep("level=warning")[:3])


def test_token_beyond_int64(work, zk, kz):
    path = "/int64"
    kz.create(path)
    fdir = os.path.join(work, "fault", "o1")
    planted = plant(fdir, 9999999999999999999)
    rep = Replica(work, "o1", zk.connect, path, fdir, "--leader-timeout", "200ms", "--session-timeout", "4s")
    rep.start()
    time.sleep(3.0)
    written = sorted(n for n in os.listdir(fdir) if files.FILE_RE.match(n) and n != os.path.basename(planted))
    rc = rep.stop()
    vrc, vrep = verify([fdir])
    kept = os.path.exists(planted)
    ok = bool(written) and kept and rc == 0
    report("fault: a name with a token beyond Int64 (no leader can hold it) is foreign: left alone, not counted", ok,
           f"the leader wrote {len(written)} files in 3 s beside it; planted file kept {kept}; "
           f"verify counts {vrep.get('files')} files (exit {vrc}); SIGTERM exit {rc}",
           [] if ok else rep.grep("level=warning")[:3])


# ---- main --------------------------------------------------------------------------

def main():
    try:
        ensure_dependencies()
    except SystemExit as e:
        print(e.code)
        print("security: 0 passed, 1 failed")
        return 1
    if not os.access(BINARY, os.X_OK):
        print(f"security: no executable at {BINARY} (set BINARY)")
        print("security: 0 passed, 1 failed")
        return 1

    cleanup = on_exit(lambda: PROCS.end_all(8, group=True))
    import logging

    logging.basicConfig(level=logging.CRITICAL)

    work = tempfile.mkdtemp(prefix="election-security.")
    started = time.time()
    interrupted = None
    try:
        certs = make_certs(os.path.join(work, "certs"))
        tls_zk = ZooKeeper(work, "zk-tls", tls=certs)
        # jute.maxbuffer above 1 MiB so that a 1 MiB znode can be created at all.
        zk = ZooKeeper(work, "zk", java_opts=["-Djute.maxbuffer=4194304"])
        tls_zk.start()
        zk.start()
        tls_zk.wait_ready(context=tls_context(certs, True))
        zk.wait_ready()
        for test, args in ((test_tls, (work, tls_zk, certs)), (test_faults, (work, zk)),
                           (test_hostile, (work, zk)), (test_churn, (work, zk))):
            try:
                test(*args)
            except Interrupted:
                raise
            except Exception as e:  # noqa: BLE001 - one broken test must not hide the others
                import traceback

                report(test.__name__, False, f"raised {type(e).__name__}: {e}",
                       traceback.format_exc().splitlines()[-6:])
            if test is test_tls:
                tls_zk.stop()
    except Interrupted as e:
        interrupted = str(e)
        report("run", False, f"interrupted by {interrupted}; stopping everything")
    except Exception as e:  # noqa: BLE001
        report("set-up", False, f"{type(e).__name__}: {e}")
    finally:
        cleanup()
    passed = sum(RESULTS)
    failed = len(RESULTS) - passed
    keep = failed or os.environ.get("SECURITY_KEEP") == "1"
    if keep:
        print(f"logs and files kept in {work}")
    else:
        shutil.rmtree(work, ignore_errors=True)
    print(f"({time.time() - started:.0f} s)")
    print(f"security: {passed} passed, {failed} failed")
    return 1 if failed or interrupted else 0


if __name__ == "__main__":
    sys.exit(main())
