"""`make chaos`: fault injection against a real 3-server ZooKeeper ensemble on
loopback and three replicas of the release binary.

Every fault is repeated ROUNDS times. After each one the suite checks that
exactly one leader is working again within session timeout + 2 s of the heal
(for killed leaders: of the kill), counts zombie writes, runs
`election verify` over every replica's directory (with --capacity) and over an
archive of every file the suite has seen (no capacity: the whole history; with
--copies where verify has it, since the copies' change times are the poller's),
and judges the files by when they appeared (below).

    ROUNDS=1 BINARY=.build/release/election PYTHONPATH=scripts python3 -m chaos

Environment:
  ROUNDS   repetitions of each fault (default 1)
  BINARY   the election executable (default .build/release/election)
  FAULTS   comma-separated fault names to run (default: all but the optional
           ones, which run only when named; see faults.py)
  KEEP=1   keep the work directory (logs, ZooKeeper data, archived files)

The topology: each replica reaches ZooKeeper only through its own TCP proxy
(one listener per server, per replica, inside this process), so one replica's
connection can be blackholed alone. Each replica's --file-dir is its own small
tmpfs (2 MiB), so "read-only" is a read-only bind mount stacked on it and
"full" is a filler file written until ENOSPC. A foreign file
(operator-notes.txt) lies in every directory and must survive, as must the filler.

Zombie writes: a SIGSTOPped leader's files of its old term that appear after
SIGCONT; a blackholed leader's files of its term written more than the session
timeout into the blackhole; any file written more than the session timeout into
a quorum loss. Besides `election verify`, the poller (every 25 ms) checks that
each file in a replica's directory names that replica as its writer.

Late appearances: a leader paused just before its rename publishes an old term's
file late, with an old time inside; verify sees it by the change times only in
the live directories, which keep the last few files, and the archive's copies
lose when a file appeared. So the poller
records for every file the moment it appeared, its st_ctime_ns at first sight
(the rename sets it, on tmpfs too; fstat on the open file, so an unlink under the
poller does not count), or, for a file gone or unlinked by then, the poller's
listings (absent at the start of the previous one, present at the end of this
one). A file of a lower fencing token that surely appeared after a file of a
higher token had appeared, in any replica's directory, is a late appearance
(verify's "never a lower token after a higher", by appearance): a column of the
table, and a failed round (observation.late_appearances).

The supervised command (supervised.py, run last): the replicas are restarted
with `--exec-stop-timeout 400ms --on-exit resign -- CMD`, CMD a stand-in
(harness/workload.py) that stamps its start, a beat every 25 ms and its stop on SIGTERM
into one log shared by all replicas (CLOCK_MONOTONIC). Faults: the leader's
daemon SIGKILLed (the watchdog stops the child), SIGSTOPped past the session
timeout, its ZooKeeper connection blackholed; a child that ignores SIGTERM and a
shell pipeline with grandchildren under a leader SIGTERM; a child that exits 1
at once for 10 s. And the holes around the supervisor, each with a child that
ignores SIGTERM (so that only the SIGKILL a stop timeout later ends it):
  restart-after-kill         the leader's daemon SIGKILLed and started again at
                             once (same arguments and state file; within a few
                             ms): no next command before the old one is gone (the
                             restarted daemon waits for the state file's lock,
                             which the old watchdog holds until then)
  restart-after-double-term  the same after two SIGTERMs 50 ms apart (the second
                             makes the daemon _exit(143))
  outside-delete-stubborn    the leader's candidate znode deleted from outside
                             (the suite's own ZooKeeper session, zkwire.py): the
                             successor must not start its command before the old
                             one is gone
  watchdog-kill              the leader's `election watchdog` SIGKILLed: the daemon
                             must kill its command at once and give up leading;
                             then the daemon SIGKILLed: nothing of it may run on
  watchdog-daemon-kill       the daemon and its watchdog SIGKILLed together,
                             microseconds apart, as `pkill -9 election` does: the
                             command (the watchdog's child, with a death signal)
                             must not outlive both
  watchdog-stop              the watchdog SIGSTOPped (SIGCONT at the end) while its
                             daemon renews: the daemon must kill its command at its
                             next renewal and go on (back to Attempter)
  cpu-hog-pause              the child keeps every CPU busy (a busy loop per CPU in
                             its group), then its daemon is SIGSTOPped past the
                             session timeout: the watchdog alone must stop the
                             group in time; its lateness is measured (the child's
                             ignored SIGTERM, stamped under SCHED_FIFO, against
                             the deadline of the last confirmation, taken from
                             the proxy's view of that request)
Checked from the stamps: no two children alive at once (no tolerance; the
longest overlap is reported), the handover gap, when the next child started, no
process of an old command group left, no churn; and after the suite, no command
process left at all.

Needs root (mounts). Everything the suite starts (replicas, ZooKeeper servers,
zkCli runs, mounts) is tracked and undone on every way out: normal end, an
exception, SIGINT/SIGTERM/SIGHUP, interpreter exit. Processes and mounts that
it did not make are never touched.

Output: progress lines, a markdown table, chaos/results/chaos-<timestamp>.json,
and a last line `chaos: N passed, M failed` (one per fault kind). The exit
status is 1 if any fault kind failed, 2 if the suite could not run.

The package (the ZooKeeper ensemble, the TCP proxies, the replicas' process
handling and log reading, the supervised command's stand-in and the cleanup
are the harness's, scripts/harness/):
  common       settings
  topology     the replicas as this suite runs them, tmpfs and bind mounts
  observation  directory poller and file events, waits, checks, `election verify`
  faults       the fault kinds: a registry, one decorated function per kind
  supervised   the fault kinds of the supervised command (registered last)
  zkwire       the suite's own ZooKeeper client (a delete as an outsider's)
  report       per-round Results, the table, the JSON, the summary line
  suite        the run: setup, every fault x ROUNDS, restore/verify, teardown
  __main__     environment, signals, cleanup on every way out, exit status
"""
