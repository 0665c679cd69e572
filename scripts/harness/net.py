"""Loopback networking: free ports, ZooKeeper's four-letter words, an HTTP GET.

Run as a script it prints COUNT free ports (scripts/zk-ensemble.sh does):

    python3 scripts/harness/net.py COUNT

(It imports nothing of the package, so that it runs that way.)"""

import http.client
import random
import socket
import sys


def free_ports(count, tries=5000):
    """`count` distinct loopback ports free right now. They are drawn below
    the kernel's ephemeral range (32768+), so that an outgoing connection made
    later (the servers talk to each other, a flood of clients) cannot take one
    of them first; each is held bound until all are picked."""
    ports, held = [], []
    try:
        for _ in range(tries):
            if len(ports) == count:
                break
            port = random.randrange(20000, 32000)
            if port in ports:
                continue
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
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
    if len(ports) < count:
        raise RuntimeError("no free ports found")
    return ports


def four_letter(port, word, host="127.0.0.1", timeout=3.0, context=None, quiet=False):
    """A ZooKeeper four-letter word and the server's whole answer (through TLS
    with an ssl `context`). Errors raise OSError; with `quiet` they answer ""."""
    try:
        with socket.create_connection((host, port), timeout=timeout) as raw:
            s = context.wrap_socket(raw, server_hostname="localhost") if context else raw
            s.settimeout(timeout)
            s.sendall(word.encode())
            data = b""
            while chunk := s.recv(65536):
                data += chunk
        return data.decode(errors="replace")
    except OSError:
        if quiet:
            return ""
        raise


def http_get(host, port, path, timeout=3.0):
    """(status, body text) of a plain GET on a connection of its own; errors
    raise OSError or http.client.HTTPException."""
    conn = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        conn.request("GET", path, headers={"Connection": "close"})
        r = conn.getresponse()
        return r.status, r.read().decode("utf-8", "replace")
    finally:
        conn.close()


if __name__ == "__main__":
    try:
        print(" ".join(map(str, free_ports(int(sys.argv[1])))))
    except RuntimeError as e:
        sys.exit(str(e))
