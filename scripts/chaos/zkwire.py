"""The suite's own ZooKeeper client: just enough of the wire protocol to delete
a znode as an outsider would (an operator's zkCli, a script), without a JVM
that takes a second or two of the shared cores to start, and with the moment
the server acknowledged the delete known to the millisecond (CLOCK_MONOTONIC,
the clock of the command's stamps).

    with ZkWire("127.0.0.1", port) as zk:
        err, acked_ns = zk.delete("/election/_c_...-0000000003")

Frames are a 4-byte big-endian length and a payload (ZooKeeper's jute
encoding): a ConnectRequest, then requests of (xid, type, fields) answered by
replies of (xid, zxid, err, fields). A session of its own, with no watches and
no authentication (the suite's ensemble keeps the default open ACL)."""

import socket
import struct

from harness import SuiteError, mono_ns

OK = 0
NONODE = -101
NOTEMPTY = -111
NOAUTH = -102
_NAMES = {OK: "ok", NONODE: "no node", NOTEMPTY: "not empty", NOAUTH: "not authorized"}
_DELETE, _CLOSE = 2, -11
_PING_XID, _WATCH_XID = -2, -1


def error_name(err):
    return _NAMES.get(err, f"error {err}")


class ZkWire:
    def __init__(self, host, port, session_ms=10000, timeout=5.0):
        self.xid = 0
        self.sock = socket.create_connection((host, port), timeout=timeout)
        try:
            # protocolVersion, lastZxidSeen, timeOut, sessionId, passwd (16 zero bytes), readOnly
            connect = struct.pack(">iqiqi", 0, 0, session_ms, 0, 16) + b"\0" * 16 + b"\0"
            self._send(connect)
            reply = self._frame()
            if len(reply) < 16 or struct.unpack(">i", reply[4:8])[0] <= 0:
                raise SuiteError(f"ZooKeeper on port {port} refused a session")
        except BaseException:
            self.sock.close()
            raise

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _send(self, payload):
        self.sock.sendall(struct.pack(">i", len(payload)) + payload)

    def _exact(self, n):
        data = b""
        while len(data) < n:
            chunk = self.sock.recv(n - len(data))
            if not chunk:
                raise SuiteError("ZooKeeper closed the connection")
            data += chunk
        return data

    def _frame(self):
        return self._exact(struct.unpack(">i", self._exact(4))[0])

    def _call(self, kind, body=b""):
        self.xid += 1
        self._send(struct.pack(">ii", self.xid, kind) + body)
        while True:
            reply = self._frame()
            xid, _zxid, err = struct.unpack(">iqi", reply[:16])
            if xid == self.xid:
                return err
            if xid not in (_PING_XID, _WATCH_XID):
                raise SuiteError(f"ZooKeeper answered xid {xid}, expected {self.xid}")

    def delete(self, path, version=-1):
        """Deletes `path`; returns (err, CLOCK_MONOTONIC ns at the reply)."""
        p = path.encode()
        err = self._call(_DELETE, struct.pack(">i", len(p)) + p + struct.pack(">i", version))
        return err, mono_ns()

    def close(self):
        try:
            self._call(_CLOSE)
        except (OSError, SuiteError):
            pass
        finally:
            self.sock.close()


def delete(ensemble, path):
    """Deletes `path` through the first server of `ensemble` (harness.zk.Ensemble)
    that answers; returns (err, ns at the reply)."""
    last = None
    for port in ensemble.ports:
        try:
            with ZkWire("127.0.0.1", port) as zk:
                return zk.delete(path)
        except (OSError, SuiteError) as e:
            last = e
    raise SuiteError(f"no ZooKeeper server took the delete of {path}: {last}")
