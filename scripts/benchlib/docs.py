"""docs/benchmarks.md, written from the JSON of one `make bench` run.

Every figure above the marker line comes from that JSON (also saved as
bench/benchmarks.json, so `scripts/bench.py --render bench/benchmarks.json`
writes the same page again); the set-up of the run heads it. Everything from the
marker line on is kept as it is: figures measured apart from the bench (`make
chaos`, measurements by hand), each with its own set-up.
"""

import json
import os

from . import report

MARKER = "<!-- make bench keeps everything below this line as it is: figures measured apart from it -->"

INTRO = """# Benchmarks

Written by `make bench` (`scripts/bench.py`) from the JSON of its run
(`bench/benchmarks.json`; `python3 scripts/bench.py --render bench/benchmarks.json`
writes this page again from it). Every figure above the [last
section](#measured-apart-from-make-bench) is from that run, with the set-up below;
that section keeps figures measured apart from the bench, each with its own
set-up. How to run the bench: [testing.md](testing.md#make-bench).

## Contents

- [Failover, start-up and footprint: election, kazoo and Curator](#failover-start-up-and-footprint-election-kazoo-and-curator)
- [Many candidates](#many-candidates)
- [Where the memory goes](#where-the-memory-goes)
- [HTTP endpoints](#http-endpoints)
- [The supervised command: handover](#the-supervised-command-handover)
- [Measured apart from `make bench`](#measured-apart-from-make-bench)

## Failover, start-up and footprint: election, kazoo and Curator

```bash
make bench            # every table on this page; bench/results/*.json and this page
```

The bench runs election and two peers side by side, at once, on the same
ZooKeeper, through the same harness: kazoo's `Election` recipe (Debian's
`python3-kazoo`, driven by `bench/kazoo_election.py`) and Curator's `LeaderLatch`
(Debian's `libcurator-recipes-java`, driven by `bench/CuratorElection.java`, which
the bench compiles with Debian's `javac`). Each driver takes election's flags and
writes the same files with the same fsyncs (temporary file, fsync, rename, fsync of
the directory), as a competent user of its recipe would write it: it writes only
while its recipe says it leads and its client is connected, and its fencing token
is its candidate znode's sequence number, known without a round trip. The bench
installs what is missing with `apt-get`.

Rounds are interleaved: each round measures every side once, in an order rotated
from round to round, so that a load that drifts during the run (this machine is
shared with builds and tests) falls on all sides alike. Each figure is the p50 over
the rounds with its spread (p10–p90); the ratio column gives peer ÷ election round
by round (above 1: election is faster or smaller), its p50 and its spread. A side is
called faster only when the two sides' p10–p90 spreads do not overlap; otherwise the
row says *within noise*.

- **Graceful failover**: SIGTERM to the leader → the next leader's first file (the
  time written inside it), the signal sent at a random phase of the server's tick
  and of the leader's write cycle.
- **Crash of the process, host alive**: SIGKILL of election's daemon alone. Its
  guardian (the `election watchdog` child that runs beside every leader) sees it die
  and closes the session, so the server deletes the leader's znode at once. The
  peers have no guardian: their process crash waits for the server to expire the
  session, as their host crash does (the same rounds are shown in both rows).
- **Crash of the host**: the daemon and its guardian die together (SIGSTOP the
  daemon, SIGKILL the guardian, SIGKILL the daemon), as when a machine, a container
  or a cgroup dies as a whole; the peers get SIGKILL. Nothing is left to close the
  session: the server's expiry is the bound for every side. The expiry counts from
  the last packet the server had from the session, on the server's tick: a client
  heard more often is expired later after its crash, by up to the interval between
  its packets (election's leader confirms its lease every leader-timeout; the peers'
  leaders only ping: the packets row below shows how often each is heard).
- **Crash of the host, restarted at once**: the same kill, and the same replica
  started again at once: election resumes the session from its state file and
  leads again with the same token; no peer can.
- **Zombie writes after a pause**: the leader's process SIGSTOPped past its
  session's expiry (the next leader writes meanwhile), then SIGCONTed: files of the
  old term that appear afterwards. A recipe without fencing writes on until its
  client notices that the session is gone.
- **At rest**: all groups at once; ZooKeeper packets per replica are the server's
  own counts for that replica's connections (`cons`); CPU is each replica's own
  cgroup, entered before exec (threads that exit and children count too); memory
  from `/proc/PID/smaps_rollup`: RSS, PSS (shared pages divided among the processes
  that map them: replicas on one host share the binary's and the libraries' pages)
  and private dirty (what this replica alone costs).
- **Watch notifications per failover**: the server's own count of watches fired
  (mntr), the same for every client library. election's leader keeps a data watch
  on its own znode (for `election resign`), which fires to the old leader itself
  when it deletes that znode: two notifications where the peers have one.
"""


def write(results, path):
    """Writes `path` from `results`, keeping its part from MARKER on; saves the JSON beside
    the bench's drivers as bench/benchmarks.json."""
    tail = ""
    try:
        with open(path) as f:
            old = f.read()
        if MARKER in old:
            tail = old[old.index(MARKER):]
    except FileNotFoundError:
        pass
    out = [INTRO]
    s = results["setup"]
    out.append("Set-up of this run: " + report.setup_text(s))
    for tick, per in results["ticks"].items():
        out.append("")
        title = "ZooKeeper's default" if int(tick) == 2000 else "this project's test ensembles" \
            if int(tick) == 500 else "tick"
        out.append(f"### tickTime = {tick} ms ({title}); session asked 4 s, granted "
                   f"{per['negotiated_session_ms'] / 1000:g} s")
        out.append("")
        out.append(report.tick_table(per, s))
        cc = report.crosscheck_text(per, s)
        if cc:
            out.append("")
            out.append(cc)
    out.append("")
    out.append(report.FOOTNOTES)
    out.append("")
    out.append("## Many candidates")
    out.append("")
    if "scale" in results:
        out.append(report.render_scale(results["scale"], s).replace("### ", "", 1))
    else:
        out.append("Not run (SCALE_N=0).")
    out.append("")
    out.append("## Where the memory goes")
    out.append("")
    mem = report.render_memory(results, s) if results["ticks"] else ""
    out.append(mem.split("\n", 2)[2] if mem else "Not run.")
    out.append("")
    out.append("## HTTP endpoints")
    out.append("")
    out.append(report.render_http(results["http"]).replace("### ", "", 1) if "http" in results else "Not run.")
    out.append("")
    out.append("## The supervised command: handover")
    out.append("")
    out.append(report.supervised.render(results["supervised"]).replace("### ", "", 1)
               if "supervised" in results else "Not run.")
    out.append("")
    text = "\n".join(out).rstrip("\n") + "\n\n" + (tail or MARKER + "\n")
    with open(path, "w") as f:
        f.write(text)
    root = os.path.dirname(os.path.dirname(path))
    with open(os.path.join(root, "bench", "benchmarks.json"), "w") as f:
        json.dump(results, f, indent=2, sort_keys=True)
        f.write("\n")
