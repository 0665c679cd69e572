"""TCP proxies in front of ZooKeeper servers, one listener per (replica,
server), all on one asyncio loop in a thread of the suite's process: one
replica's connections can be blackholed alone, and when its requests reached
the proxy is recorded."""

import asyncio
import collections
import threading

from . import mono_ns


class Conn:
    def __init__(self, replica, server):
        self.replica = replica
        self.server = server
        self.held = False  # blackholed: bytes are read and dropped
        self.upstream = False
        self.writers = []

    def close(self):
        for w in self.writers:
            try:
                w.close()
            except Exception:
                pass


class ProxyHub:
    """Forwards bytes between each replica and the ZooKeeper servers. A
    blackholed replica's bytes are dropped in both directions and its new
    connections are accepted but never forwarded; at the heal, the connections
    that were held are closed (their streams lost bytes) and forwarding resumes
    for new ones: the C client reconnects, as after a partition."""

    def __init__(self):
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self._run, name="proxy", daemon=True)
        self.blackholed = set()
        self.conns = set()
        self.servers = []
        # replica -> CLOCK_MONOTONIC ns at which its bytes (requests) reached the
        # proxy and were forwarded, the latest few thousand (see sent_between).
        self.sent = {}
        self.thread.start()

    def _run(self):
        asyncio.set_event_loop(self.loop)
        self.loop.run_forever()

    def _call(self, coro, timeout=10):
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def listen(self, replica, server, upstream_port):
        return self._call(self._listen(replica, server, upstream_port))

    async def _listen(self, replica, server, upstream_port):
        async def handle(reader, writer):
            await self._handle(replica, server, upstream_port, reader, writer)

        srv = await asyncio.start_server(handle, "127.0.0.1", 0)
        self.servers.append(srv)
        return srv.sockets[0].getsockname()[1]

    async def _handle(self, replica, server, upstream_port, creader, cwriter):
        conn = Conn(replica, server)
        conn.writers.append(cwriter)
        self.conns.add(conn)
        try:
            if replica in self.blackholed:
                conn.held = True
                while await creader.read(65536):
                    pass
                return
            try:
                ureader, uwriter = await asyncio.wait_for(
                    asyncio.open_connection("127.0.0.1", upstream_port), 3
                )
            except (OSError, asyncio.TimeoutError):
                return
            conn.writers.append(uwriter)
            conn.upstream = True
            await asyncio.gather(
                self._pump(conn, creader, uwriter, upstream=True), self._pump(conn, ureader, cwriter)
            )
        except Exception:
            pass
        finally:
            conn.close()
            self.conns.discard(conn)

    async def _pump(self, conn, reader, writer, upstream=False):
        try:
            while True:
                data = await reader.read(65536)
                if not data:
                    break
                if conn.held or conn.replica in self.blackholed:
                    conn.held = True
                    continue
                if upstream:
                    self.sent.setdefault(conn.replica, collections.deque(maxlen=4000)).append(mono_ns())
                writer.write(data)
                await writer.drain()
        except Exception:
            pass
        finally:
            conn.close()

    def blackhole(self, replica):
        async def go():
            self.blackholed.add(replica)
            for c in list(self.conns):
                if c.replica == replica:
                    c.held = True

        self._call(go())

    def heal(self, replica):
        async def go():
            self.blackholed.discard(replica)
            for c in list(self.conns):
                if c.replica == replica and c.held:
                    c.close()

        self._call(go())

    def sent_between(self, replica, lo_ns, hi_ns):
        """When the replica's requests reached the proxy (CLOCK_MONOTONIC ns, in
        order) within [lo_ns, hi_ns]: each no earlier than the replica sent it."""

        async def go():
            return sorted(t for t in self.sent.get(replica, ()) if lo_ns <= t <= hi_ns)

        return self._call(go())

    def last_sent(self, replica):
        """When the replica's bytes last reached the proxy and were forwarded
        (CLOCK_MONOTONIC ns; 0: never)."""

        async def go():
            return max(self.sent.get(replica, ()), default=0)

        return self._call(go())

    def connected_servers(self, replica):
        async def go():
            return sorted(
                {c.server for c in self.conns if c.replica == replica and c.upstream and not c.held}
            )

        return self._call(go())

    def stop(self):
        async def go():
            for s in self.servers:
                s.close()
            for c in list(self.conns):
                c.close()

        try:
            self._call(go(), timeout=5)
        except Exception:
            pass
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=5)
