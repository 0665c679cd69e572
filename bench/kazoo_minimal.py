#!/usr/bin/python3
"""The cross-check of bench/kazoo_election.py: the least a kazoo user can write
for the same work, the recipe's `run()` and a write.

    election = client.Election(path, identity)
    election.run(lead)        # lead(): write a file every leader-timeout

Same flags, same files and fsyncs (the write is kazoo_election.FileStore.write),
and the transition lines the harness reads. Nothing else: no state listener, no
wrapped watch, no directory scan before the first write (the counter starts at 1,
each term being new), the fencing token the candidate's sequence number. `make
bench` runs it in the graceful rounds beside the full driver: if the full driver
were slower than this by more than the noise, the bench would say so.

Run with Debian's python3 (python3-kazoo): /usr/bin/python3 bench/kazoo_minimal.py
"""

import os
import signal
import socket
import sys
import threading
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from kazoo.client import KazooClient, KazooState  # noqa: E402

from kazoo_election import FileStore, iso, log, now_millis, parse_args  # noqa: E402


def main():
    args = parse_args()
    stop = threading.Event()
    store = FileStore(args.file_dir, args.storage_capacity, args.replica_id)
    os.makedirs(args.file_dir, exist_ok=True)
    client = KazooClient(hosts=args.zk_servers, timeout=args.session_timeout)
    client.start()
    election = client.Election(args.election_path, args.replica_id)
    state = {"now": "Init"}

    def transition(to, reason):
        log("info", "transition", replica=args.replica_id, **{"from": state["now"]}, to=to, reason=reason)
        state["now"] = to

    def lead():
        token = int(election.lock.node[-10:])
        transition("Leader", f"lowest candidate (fencing token {token})")
        counter = 1
        while not stop.is_set() and client.state == KazooState.CONNECTED:
            store.write(token, counter, (f'{{"counter":{counter},"host":"{socket.gethostname()}","pid":{os.getpid()},'
                                         f'"replica":"{args.replica_id}","time":"{iso(now_millis())}",'
                                         f'"token":{token}}}\n').encode())
            counter += 1
            stop.wait(args.leader_timeout)

    def on_term(*_):
        stop.set()
        election.cancel()

    signal.signal(signal.SIGTERM, on_term)
    transition("Attempter", "resources ready")
    worker = threading.Thread(target=lambda: election.run(lead), daemon=True)
    worker.start()
    while not stop.is_set():
        stop.wait(0.5)
    transition("Stopping", "signal SIGTERM")
    worker.join(timeout=10)
    client.stop()
    client.close()
    time.sleep(0)
    return 0


if __name__ == "__main__":
    sys.exit(main())
