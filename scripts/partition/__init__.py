"""The partition suite: real network partitions between three ZooKeeper
servers and three replicas of `election run -- CMD`, each host in a network
namespace of its own (docs/partition.md).

    BINARY=.build/release/election PYTHONPATH=scripts python3 -m partition
    PARTITION_SHORT=1 BINARY=... PYTHONPATH=scripts python3 -m partition

The topology (netns.py): zk1-3 and r1-3 each in a namespace, a veth pair each
into a bridge in a namespace of its own, 10.213.0.0/24, no route out. Each
replica reaches the servers through a TCP forwarder in its own namespace
(forwarder.py), which can delay every chunk (this kernel has no sch_netem).
Faults are nft rules in the hosts' namespaces (table `inet partition`).

Every fault runs at each syncLimit of SYNC (default 2 and 5, with tickTime
500 ms: syncLimit x tick = 1 s, below the 2 s session timeout, and 2.5 s,
above it; both are legal server settings, and a ZooKeeper follower cut off
from its leader answers its clients for up to syncLimit x tick). Each round
starts three fresh replicas (fresh file directories and sessions), waits for a
steady leader, injects the fault, holds it (8 s; flapping 20 s), heals it and
checks (suite.py): overlaps of the commands from their own stamps (zero
tolerance), `election verify` over the live file directories, a working leader
(a new file and a running command) within session timeout + 2 s of the heal,
no stretch longer than 2 x session timeout + 2 s without any command while the
fault lasts, and nothing left behind (processes, nft tables; namespaces at the
end).

Environment:
  ROUNDS            repetitions of each fault at each syncLimit (default 1)
  FAULTS            comma-separated fault names (default: all; faults.py)
  SYNC              comma-separated syncLimit values (default 2,5)
  BINARY            the election executable (default .build/release/election);
                    the suite runs a copy of it, so a build landing mid-run
                    changes nothing
  PARTITION_SHORT=1 the short pass: faults.SHORT at both syncLimits, once
  KEEP=1            keep the work directory (logs, stamps, files, ZooKeeper data)

Needs root (namespaces, nft). The daemons and the forwarders run as user
nobody with no capabilities (setpriv), as deployed; the ZooKeeper servers run
as root (zk.py says why). Everything the suite starts is tracked and ended, and
every namespace it made deleted, on every way out: normal end, an exception,
SIGINT/SIGTERM/SIGHUP, interpreter exit. Namespaces are named pt<pid>-*, so a
concurrent run (or anything else on the machine) is never touched.

Output: progress lines, a markdown table (one row per fault x syncLimit), a
JSON at <work>/partition.json (the work directory is otherwise removed unless
KEEP=1 or something was left behind), and a last line
`partition: N passed, M failed`. Exit 1 if any row failed, 2 if the suite
could not run, 130 if interrupted.

The package (the process handling, the unprivileged launch, the replicas'
process and log handling, the ZooKeeper config, the stand-in command and the
overlap sweep are the harness's, scripts/harness/):
  common     settings, the hosts' addresses
  netns      namespaces, bridge, veths, nft rules, setns for probes
  forwarder  the TCP forwarder (its own process, in each replica's namespace)
  zk         the ensemble in its namespaces
  replicas   the replicas and their forwarders
  faults     the faults: a registry, one decorated function each
  suite      the rounds and their checks
  report     per-round Results, the table, the JSON, the summary line
  __main__   environment, signals, cleanup on every way out, exit status"""
