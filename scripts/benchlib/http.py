"""HTTP clients for `make bench`'s HTTP pass: a paced scraper (one connection
per request, as the server closes each one), and the hostile clients (idle
connections, a slow-loris, a 1 MiB header) with a /healthz prober beside them.

Everything is on loopback, bounded in count and in time, and only ever talks to
ports the bench chose for its own replicas.
"""

import resource
import selectors
import socket
import threading
import time

from .stats import percentile


def raise_nofile(want=8192):
    """Raises this process's soft RLIMIT_NOFILE towards `want` (never above the hard
    limit): the idle-connection flood holds up to 1,000 sockets at once."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = want if hard == resource.RLIM_INFINITY else min(want, hard)
    if soft != resource.RLIM_INFINITY and soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def get(port, path, timeout=2.0):
    """GET `path` on a connection of its own. (outcome, status, ms, body): outcome is
    "ok" (a whole response: status line, headers, Content-Length bytes), "short" (a
    status line but a truncated body), "refused", "closed" (EOF or reset before any
    status line: the server closed at accept), "timeout" or "error"; ms from before
    connect to the server's close."""
    t0 = time.perf_counter()
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(timeout)
    data = b""
    outcome = None
    try:
        s.connect(("127.0.0.1", port))
        s.sendall(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n".encode())
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    except ConnectionRefusedError:
        outcome = "refused"
    except socket.timeout:
        outcome = "timeout"
    except (ConnectionResetError, BrokenPipeError):
        outcome = None if data else "closed"
    except OSError:
        outcome = "error"
    finally:
        s.close()
    ms = (time.perf_counter() - t0) * 1000.0
    if outcome:
        return outcome, None, ms, b""
    head, sep, body = data.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    parts = lines[0].split(b" ", 2) if lines and lines[0] else []
    if not sep or len(parts) < 2 or not parts[1].isdigit():
        return "closed", None, ms, b""
    status = int(parts[1])
    length = next((int(v.strip()) for k, _, v in (line.partition(b":") for line in lines[1:])
                   if k.strip().lower() == b"content-length" and v.strip().isdigit()), None)
    ok = length is None or len(body) == length
    return ("ok" if ok else "short"), status, ms, body


class Scraper(threading.Thread):
    """GET `path` at `rate` requests/s (open loop, one connection each), cycling over
    `ports()`, until stop() or `seconds`. results: [(port, outcome, status, ms)]."""

    def __init__(self, ports, path, rate, seconds=None):
        super().__init__(daemon=True)
        self.ports, self.path, self.rate, self.seconds = ports, path, rate, seconds
        self.results = []
        self.late = 0  # requests sent more than one period after their slot
        self.stopping = threading.Event()

    def run(self):
        period = 1.0 / self.rate
        t0 = time.perf_counter()
        slot = t0
        i = 0
        while not self.stopping.is_set():
            now = time.perf_counter()
            if self.seconds is not None and now - t0 >= self.seconds:
                break
            if slot > now:
                self.stopping.wait(slot - now)
                continue
            if now - slot > period:
                self.late += 1
            ports = self.ports()
            port = ports[i % len(ports)]
            outcome, status, ms, _ = get(port, self.path)
            self.results.append((port, outcome, status, ms))
            i += 1
            slot += period
            if time.perf_counter() - slot > 1.0:  # far behind (a stall): do not burst to catch up
                slot = time.perf_counter()

    def stop(self):
        self.stopping.set()
        self.join(10)

    def summary(self):
        ok = [ms for _, outcome, status, ms in self.results if outcome == "ok" and status == 200]
        outcomes = {}
        for _, outcome, status, _ in self.results:
            key = f"{outcome} {status}" if status is not None else outcome
            outcomes[key] = outcomes.get(key, 0) + 1
        return {"requests": len(self.results), "ok_200": len(ok), "outcomes": outcomes, "late": self.late,
                "p50_ms": percentile(ok, 50), "p90_ms": percentile(ok, 90), "p99_ms": percentile(ok, 99),
                "max_ms": max(ok) if ok else None}


class IdleFlood(threading.Thread):
    """Opens `count` TCP connections to `port` that never send a byte, and records
    when the server closes each. sustain=True keeps `count` open (or connecting)
    until stop(), reopening at up to `reopen_rate` connections/s; otherwise the
    burst ends when every connection is closed or after `limit` seconds."""

    def __init__(self, port, count=1000, sustain=False, reopen_rate=250.0, limit=15.0, connect_timeout=8.0):
        super().__init__(daemon=True)
        self.port, self.count, self.sustain, self.reopen_rate = port, count, sustain, reopen_rate
        self.limit, self.connect_timeout = limit, connect_timeout
        self.stopping = threading.Event()
        self.attempts = self.established = self.refused = self.not_established = self.errors = 0
        self.data_received = 0  # connections on which the server sent bytes (it should not: no request)
        self.lifetimes = []  # established -> closed by the server, s
        self.left_open = []  # ages (s) of connections still open when the flood ended
        self.peak_open = 0

    def _open(self, sel, now):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setblocking(False)
        self.attempts += 1
        err = s.connect_ex(("127.0.0.1", self.port))
        if err not in (0, 115):  # 115: EINPROGRESS
            s.close()
            if err == 111:
                self.refused += 1
            else:
                self.errors += 1
            return
        sel.register(s, selectors.EVENT_WRITE, {"t": now, "state": "connecting"})

    def run(self):
        sel = selectors.DefaultSelector()
        t0 = time.perf_counter()
        budget = 0.0
        last = t0
        opened_burst = 0
        try:
            while True:
                now = time.perf_counter()
                if self.stopping.is_set() or (not self.sustain and now - t0 > self.limit):
                    break
                live = len(sel.get_map())
                if self.sustain:
                    budget = min(self.reopen_rate, budget + (now - last) * self.reopen_rate)
                    last = now
                    while live < self.count and budget >= 1:
                        self._open(sel, now)
                        budget -= 1
                        live = len(sel.get_map())
                else:
                    while opened_burst < self.count:
                        self._open(sel, now)
                        opened_burst += 1
                    if not sel.get_map():
                        break
                for key, _ in sel.select(timeout=0.02):
                    s, info = key.fileobj, key.data
                    t = time.perf_counter()
                    if info["state"] == "connecting":
                        err = s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                        sel.unregister(s)
                        if err:
                            self.refused += err == 111
                            self.errors += err != 111
                            s.close()
                            continue
                        self.established += 1
                        sel.register(s, selectors.EVENT_READ, {"t": t, "state": "open"})
                        continue
                    try:
                        chunk = s.recv(4096)
                    except (ConnectionResetError, OSError):
                        chunk = b""
                    if chunk:
                        if not info.get("data"):
                            info["data"] = True
                            self.data_received += 1
                        continue
                    sel.unregister(s)
                    s.close()
                    self.lifetimes.append(t - info["t"])
                t = time.perf_counter()
                self.peak_open = max(self.peak_open, sum(1 for k in sel.get_map().values()
                                                         if k.data["state"] == "open"))
                for key in list(sel.get_map().values()):
                    if key.data["state"] == "connecting" and t - key.data["t"] > self.connect_timeout:
                        sel.unregister(key.fileobj)
                        key.fileobj.close()
                        self.not_established += 1
        finally:
            t = time.perf_counter()
            for key in list(sel.get_map().values()):
                if key.data["state"] == "open":
                    self.left_open.append(t - key.data["t"])
                key.fileobj.close()
            sel.close()

    def stop(self):
        self.stopping.set()
        self.join(20)

    def summary(self, at_accept=0.5, deadline=(4.5, 6.5)):
        lt = self.lifetimes
        return {
            "attempts": self.attempts, "established": self.established, "refused": self.refused,
            "not_established": self.not_established, "errors": self.errors, "peak_open": self.peak_open,
            "closed_by_server": len(lt),
            "closed_at_accept": sum(1 for v in lt if v < at_accept),
            "closed_at_deadline": sum(1 for v in lt if deadline[0] <= v <= deadline[1]),
            "closed_other": sum(1 for v in lt if at_accept <= v < deadline[0] or v > deadline[1]),
            "held_p50_s": percentile([v for v in lt if v >= at_accept], 50),
            "max_lifetime_s": max(lt) if lt else None,
            "left_open": len(self.left_open),
            "left_open_max_age_s": max(self.left_open) if self.left_open else None,
            "data_received": self.data_received,
        }


def slow_loris(port, limit=15.0, stop=None):
    """Sends a request head one byte a second; returns {outcome, seconds, bytes}: outcome
    "closed" when the server closed it (seconds from connect), "open" when it was still
    open after `limit`, "stopped" when `stop` was set first, "refused"."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(2)
    t0 = time.perf_counter()
    try:
        s.connect(("127.0.0.1", port))
    except OSError:
        s.close()
        return {"outcome": "refused", "seconds": 0.0, "bytes": 0}
    payload = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: " + b"a" * 100
    sent = 0
    sel = selectors.DefaultSelector()
    sel.register(s, selectors.EVENT_READ)
    try:
        while time.perf_counter() - t0 < limit and not (stop and stop.is_set()):
            try:
                s.send(payload[sent % len(payload):sent % len(payload) + 1])
                sent += 1
            except OSError:
                return {"outcome": "closed", "seconds": time.perf_counter() - t0, "bytes": sent}
            if sel.select(timeout=1.0):
                try:
                    chunk = s.recv(4096)
                except OSError:
                    chunk = b""
                # EOF, a reset or an error response: the server gave up on it either way
                return {"outcome": "closed", "seconds": time.perf_counter() - t0, "bytes": sent,
                        "response": chunk.split(b"\r\n", 1)[0].decode(errors="replace")}
        return {"outcome": "stopped" if stop and stop.is_set() else "open", "seconds": time.perf_counter() - t0,
                "bytes": sent}
    finally:
        sel.close()
        s.close()


def big_header(port, size=1 << 20, timeout=10.0):
    """One request whose single header is `size` bytes. {outcome, ms, sent_kib}: outcome
    "HTTP nnn" when a status line came back, "closed" / "reset" when the server cut the
    connection without one, "timeout", "refused"."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(timeout)
    t0 = time.perf_counter()
    sent = 0
    try:
        s.connect(("127.0.0.1", port))
    except OSError:
        s.close()
        return {"outcome": "refused", "ms": 0.0, "sent_kib": 0}
    request = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: " + b"a" * size + b"\r\n\r\n"
    view = memoryview(request)
    outcome = None
    try:
        while sent < len(request):
            sent += s.send(view[sent:sent + 65536])
    except socket.timeout:
        outcome = "timeout"
    except (BrokenPipeError, ConnectionResetError):
        pass  # the server closed while we were still sending: read what it said first
    except OSError:
        outcome = "error"
    if outcome is None:
        data = b""
        try:
            while True:
                chunk = s.recv(4096)
                if not chunk:
                    break
                data += chunk
        except socket.timeout:
            outcome = "timeout"
        except (ConnectionResetError, OSError):
            pass
        if outcome is None:
            line = data.split(b"\r\n", 1)[0].split(b" ")
            outcome = f"HTTP {line[1].decode()}" if len(line) > 1 and line[1].isdigit() else "closed"
    s.close()
    return {"outcome": outcome, "ms": (time.perf_counter() - t0) * 1000.0, "sent_kib": sent // 1024}


class Prober(threading.Thread):
    """GET `path` on each port every `interval` s until stop(); results: {port: [(t, outcome, status)]}."""

    def __init__(self, ports, path="/healthz", interval=0.2, timeout=2.0):
        super().__init__(daemon=True)
        self.ports, self.path, self.interval, self.timeout = ports, path, interval, timeout
        self.results = {p: [] for p in ports}
        self.stopping = threading.Event()
        self.started_at = None

    def run(self):
        self.started_at = time.perf_counter()
        while not self.stopping.is_set():
            t = time.perf_counter()
            for p in self.ports:
                outcome, status, _, _ = get(p, self.path, timeout=self.timeout)
                self.results[p].append((time.perf_counter() - self.started_at, outcome, status))
            self.stopping.wait(max(0.0, self.interval - (time.perf_counter() - t)))

    def stop(self):
        self.stopping.set()
        self.join(10)
        self.ended_at = time.perf_counter() - self.started_at

    def summary(self, port):
        rs = self.results[port]
        ok_times = [t for t, outcome, status in rs if outcome == "ok" and status == 200]
        outcomes = {}
        for _, outcome, status in rs:
            key = f"{outcome} {status}" if status is not None else outcome
            outcomes[key] = outcomes.get(key, 0) + 1
        edges = [0.0, *ok_times, self.ended_at]
        return {"probes": len(rs), "ok_200": len(ok_times), "outcomes": outcomes,
                "longest_without_200_s": max(b - a for a, b in zip(edges, edges[1:])) if rs else None}
