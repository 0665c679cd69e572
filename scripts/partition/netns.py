"""The network: one namespace per host (zk1-3, r1-3), each with a veth pair
into a bridge that lives in a namespace of its own, addresses on a private /24,
no default route, no link to the root namespace (so no route out at all).
Faults are nft rules in one table, `inet partition`, inside the hosts'
namespaces; the table is replaced atomically on every change and deleted at
the heal.

        ns <tag>-br:   br0 ── v-zk1 v-zk2 v-zk3 v-r1 v-r2 v-r3
                               │     │     │     │    │    │      (veth pairs)
        ns <tag>-zkI:  eth0 10.213.0.1I        ns <tag>-rI: eth0 10.213.0.2I

Namespace names carry the suite's pid (pt<pid>-...), so two runs never meet
and the cleanup deletes only its own."""

import ctypes
import os
import subprocess
import threading

from harness import SuiteError, say
from harness.proc import PROCS

from .common import REPLICA_HOSTS, SUBNET, ZK_HOSTS, addr

CLONE_NEWNET = 0x40000000
_libc = ctypes.CDLL(None, use_errno=True)
TABLE = "partition"


class Network:
    def __init__(self, work):
        self.tag = f"pt{os.getpid()}"
        self.work = work
        self.hosts = list(ZK_HOSTS) + list(REPLICA_HOSTS)
        self.created = []  # namespaces made, in order (cleanup deletes exactly these)
        self.rules = {h: ([], []) for h in self.hosts}  # host -> (inbound, outbound) rule lines

    def ns(self, host):
        return f"{self.tag}-{host}"

    @property
    def bridge(self):
        return f"{self.tag}-br"

    def _ip(self, *args):
        p = PROCS.run(["ip", *args], timeout=20)
        if p.returncode != 0:
            raise SuiteError(f"ip {' '.join(args)}: {p.stderr.strip()}")
        return p.stdout

    def create(self):
        for name in [self.bridge] + [self.ns(h) for h in self.hosts]:
            self._ip("netns", "add", name)
            self.created.append(name)
        br = self.bridge
        self._ip("-n", br, "link", "add", "br0", "type", "bridge")
        self._ip("-n", br, "link", "set", "br0", "up")
        for h in self.hosts:
            ns = self.ns(h)
            # Made inside the bridge namespace with its peer straight in the
            # host's: no interface ever appears in the root namespace.
            self._ip("-n", br, "link", "add", f"v-{h}", "type", "veth", "peer", "name", "eth0", "netns", ns)
            self._ip("-n", br, "link", "set", f"v-{h}", "master", "br0", "up")
            self._ip("-n", ns, "link", "set", "lo", "up")
            self._ip("-n", ns, "addr", "add", f"{addr(h)}/24", "dev", "eth0")
            self._ip("-n", ns, "link", "set", "eth0", "up")
        for h in self.hosts:
            routes = self._ip("-n", self.ns(h), "route", "show")
            if "default" in routes or any(not ln.startswith(f"{SUBNET}.0/24") for ln in routes.splitlines() if ln):
                raise SuiteError(f"{h}: unexpected routes: {routes.strip()}")

    def delete(self):
        """Deletes every namespace this run made (their veths and nft tables go
        with them). The processes inside must be gone first."""
        for name in reversed(self.created):
            p = PROCS.run(["ip", "netns", "del", name], timeout=20)
            if p.returncode != 0 and "No such file" not in p.stderr:
                say(f"warning: ip netns del {name}: {p.stderr.strip()}")
        self.created = []

    def leftovers(self):
        """Namespaces of this run still present."""
        p = PROCS.run(["ip", "netns", "list"], timeout=10)
        return [ln.split()[0] for ln in p.stdout.splitlines() if ln.startswith(self.tag + "-")]

    def processes(self, host):
        """Pids of every process in `host`'s network namespace (whoever
        started it: a daemon's watchdog or a command's grandchild too)."""
        try:
            st = os.stat(f"/run/netns/{self.ns(host)}")
        except OSError:
            return []
        out = []
        for d in os.listdir("/proc"):
            if not d.isdigit():
                continue
            try:
                s = os.stat(f"/proc/{d}/ns/net")
            except OSError:
                continue
            if (s.st_ino, s.st_dev) == (st.st_ino, st.st_dev):
                out.append(int(d))
        return out

    def exec_prefix(self, host):
        return ["ip", "netns", "exec", self.ns(host)]

    # -- faults: nft rules inside the hosts' namespaces --

    @staticmethod
    def _set(hosts):
        return "{ " + ", ".join(addr(h) for h in hosts) + " }"

    def block(self, host, peers, inbound=True, outbound=True, loss=None):
        """Rules for `host`: drop what comes from / goes to `peers` (hosts),
        every packet or (loss=P) P % of them at random."""
        match = f" numgen random mod 100 < {loss}" if loss else ""
        ins, outs = self.rules[host]
        if inbound:
            ins.append(f"ip saddr {self._set(peers)}{match} drop")
        if outbound:
            outs.append(f"ip daddr {self._set(peers)}{match} drop")

    def commit(self, hosts=None):
        """Writes the rules of `hosts` (default: every host) into their
        namespaces, all at once (one nft run per namespace, in parallel); a
        host without rules gets no table."""
        procs = []
        for h in hosts or self.hosts:
            ins, outs = self.rules[h]
            script = f"table inet {TABLE}\ndelete table inet {TABLE}\n"
            if ins or outs:
                script += f"table inet {TABLE} {{\n{_chain('inbound', 'input', ins)}{_chain('outbound', 'output', outs)}}}\n"
            p = subprocess.Popen(self.exec_prefix(h) + ["nft", "-f", "-"], stdin=subprocess.PIPE,
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
            procs.append((h, p, script))
        errors = []
        for h, p, script in procs:
            try:
                _, err = p.communicate(script, timeout=20)
            except BaseException:
                p.kill()
                p.communicate()
                raise
            if p.returncode != 0:
                errors.append(f"{h}: {err.strip()}")
        if errors:
            raise SuiteError("nft: " + "; ".join(errors))

    def heal(self):
        """Removes every rule from every host."""
        dirty = [h for h in self.hosts if self.rules[h] != ([], [])]
        for h in self.hosts:
            self.rules[h] = ([], [])
        if dirty:
            self.commit(dirty)

    def tables(self):
        """Every nft table left in any of the hosts' namespaces (should be none
        between faults): ['host: table inet partition', ...]."""
        out = []
        for h in self.hosts + ["br"]:
            ns = self.bridge if h == "br" else self.ns(h)
            p = PROCS.run(["ip", "netns", "exec", ns, "nft", "list", "tables"], timeout=20)
            out += [f"{h}: {ln.strip()}" for ln in p.stdout.splitlines() if ln.strip()]
        return out

    # -- looking inside --

    def call_in(self, host, fn, timeout=10):
        """Runs fn() on a thread of its own that has joined `host`'s network
        namespace (setns is per thread); returns its result."""
        box = {}

        def body():
            try:
                fd = os.open(f"/run/netns/{self.ns(host)}", os.O_RDONLY)
                try:
                    if _libc.setns(fd, CLONE_NEWNET) != 0:
                        raise OSError(ctypes.get_errno(), "setns")
                finally:
                    os.close(fd)
                box["value"] = fn()
            except BaseException as e:  # handed to the caller
                box["error"] = e

        t = threading.Thread(target=body, name=f"in-{host}", daemon=True)
        t.start()
        t.join(timeout)
        if t.is_alive():
            raise TimeoutError(f"call in {host} did not return within {timeout}s")
        if "error" in box:
            raise box["error"]
        return box.get("value")


def _chain(name, hook, rules):
    body = "".join(f"    {r}\n" for r in rules)
    return f"  chain {name} {{\n    type filter hook {hook} priority 0; policy accept;\n{body}  }}\n"


def established(pid, port):
    """Remote addresses of the ESTABLISHED TCP connections to `port` in the
    network namespace of process `pid` (from /proc/PID/net/tcp, which shows
    that process's namespace)."""
    out = []
    try:
        with open(f"/proc/{pid}/net/tcp") as f:
            lines = f.read().splitlines()[1:]
    except OSError:
        return out
    for ln in lines:
        f = ln.split()
        if len(f) < 4 or f[3] != "01":
            continue
        rip, rport = f[2].split(":")
        if int(rport, 16) != port:
            continue
        b = bytes.fromhex(rip)[::-1]  # little-endian on x86 and arm64
        out.append(".".join(str(x) for x in b))
    return out
