"""Pieces of scripts/bench.py: the harness that drives election and its peer
alike (harness), CPU accounting per process (cpu), where a process's resident
memory goes (memory), the HTTP pass (httppass) and its clients, polite and
hostile (http), the supervised command's handover (supervised), and the
markdown report (report)."""
