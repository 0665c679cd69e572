"""The TCP forwarder in each replica's namespace (run as its own process,
unprivileged): the replica's --zk-servers name 127.0.0.1:21811-21813 in its
own namespace, and this forwards each to a ZooKeeper server over the bridge.
It is always in the path, so a fault never changes the replica's connect
string; nft rules in the replica's namespace act on its upstream traffic.

What it can add, from its config file (JSON, re-read when it changes):
  delay_ms, jitter_ms   every chunk, each way, is held delay ± jitter ms
                        (uniform); a stream stays in order (a chunk never
                        overtakes the one before it), as a FIFO link would
  refuse                server numbers whose new connections are closed at
                        once (used only before a fault, to place the replicas'
                        sessions on a chosen server; never while a fault runs)

Usage: python3 -S forwarder.py CONFIG PORT=HOST:PORT[,...]
Logs one line per connection opened and closed (with CLOCK_MONOTONIC ns)."""

import asyncio
import json
import os
import random
import sys
import time

CONF, ROUTES = sys.argv[1], sys.argv[2]


class Config:
    def __init__(self, path):
        self.path = path
        self.mtime = None
        self.delay = 0.0
        self.jitter = 0.0
        self.refuse = set()

    def reload(self):
        try:
            st = os.stat(self.path)
        except OSError:
            return
        if st.st_mtime_ns == self.mtime:
            return
        try:
            with open(self.path) as f:
                c = json.load(f)
        except (OSError, ValueError):
            return  # half-written: the writer renames into place, so try again later
        self.mtime = st.st_mtime_ns
        self.delay = c.get("delay_ms", 0) / 1000.0
        self.jitter = c.get("jitter_ms", 0) / 1000.0
        self.refuse = set(c.get("refuse", []))
        log(f"config delay={self.delay * 1000:g}ms jitter={self.jitter * 1000:g}ms refuse={sorted(self.refuse)}")

    def hold(self):
        if self.delay <= 0 and self.jitter <= 0:
            return 0.0
        return max(0.0, random.uniform(self.delay - self.jitter, self.delay + self.jitter))


def log(msg):
    sys.stdout.write(f"{time.clock_gettime_ns(time.CLOCK_MONOTONIC)} {msg}\n")
    sys.stdout.flush()


CFG = Config(CONF)
COUNT = [0]


async def watch_config():
    while True:
        CFG.reload()
        await asyncio.sleep(0.05)


async def pipe(reader, queue):
    """Reads chunks into `queue` with the time each may be delivered; None
    marks the end of the stream (EOF or an error)."""
    loop = asyncio.get_running_loop()
    last = 0.0
    while True:
        try:
            data = await reader.read(65536)
        except (OSError, asyncio.IncompleteReadError):
            data = b""
        at = max(last, loop.time() + CFG.hold())
        last = at
        queue.put_nowait((at, data or None))
        if not data:
            return


async def deliver(queue, writer_future):
    loop = asyncio.get_running_loop()
    writer = None
    while True:
        at, data = await queue.get()
        wait = at - loop.time()
        if wait > 0:
            await asyncio.sleep(wait)
        if data is None:
            return
        if writer is None:
            writer = await writer_future
        writer.write(data)
        await writer.drain()


async def handle(server, host, port, creader, cwriter):
    COUNT[0] += 1
    n = COUNT[0]
    CFG.reload()  # a config written just before this connect applies to it
    if server in CFG.refuse:
        log(f"conn {n} zk{server} refused")
        cwriter.close()
        return
    log(f"conn {n} zk{server} open")
    loop = asyncio.get_running_loop()
    up_writer, client_writer = loop.create_future(), loop.create_future()
    client_writer.set_result(cwriter)
    to_up, to_client = asyncio.Queue(), asyncio.Queue()

    async def connect_and_read():
        ureader, uwriter = await asyncio.open_connection(host, port)
        up_writer.set_result(uwriter)
        log(f"conn {n} zk{server} upstream connected")
        await pipe(ureader, to_client)
        return "read to its end"

    reader = asyncio.ensure_future(pipe(creader, to_up))
    # What each task's end means: (normal end, end by an exception).
    ends = {
        asyncio.ensure_future(deliver(to_up, up_writer)): ("client closed", "writing to the server failed"),
        asyncio.ensure_future(deliver(to_client, client_writer)): ("server closed", "writing to the client failed"),
        asyncio.ensure_future(connect_and_read()): ("upstream", "upstream connect failed"),
    }
    why = "?"
    try:
        # The connection ends when either stream has been delivered to its end
        # (its EOF passed on in order, after the data before it), or when the
        # upstream connect fails; the client's own timeout ends a connect that
        # hangs (its EOF ends the first stream).
        pending = set(ends)
        while pending:
            done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
            stop = [t for t in done if ends[t][0] != "upstream" or t.exception() is not None]
            if stop:
                t = stop[0]
                e = t.exception()
                why = ends[t][0] if e is None else f"{ends[t][1]} ({e!r})"
                break
    finally:
        for t in [reader, *ends]:
            t.cancel()
        writers = [cwriter] + ([up_writer.result()] if up_writer.done() else [])
        for w in writers:
            try:
                w.close()
            except Exception:
                pass
        log(f"conn {n} zk{server} closed: {why}")


async def main():
    CFG.reload()
    servers = []
    for route in ROUTES.split(","):
        lport, target = route.split("=")
        host, port = target.rsplit(":", 1)
        server = int(host.rsplit(".", 1)[1]) - 10  # 10.213.0.1I -> I

        def handler(r, w, server=server, host=host, port=int(port)):
            return handle(server, host, port, r, w)

        servers.append(await asyncio.start_server(handler, "127.0.0.1", int(lport)))
    log("listening " + ROUTES)
    await watch_config()


asyncio.run(main())
