"""The chaos suite's settings (what it shares with the other suites is the
harness's, scripts/harness/)."""

ZK_SERVERS = 3
REPLICAS = 3
SESSION = 2.0  # --session-timeout, seconds
LEADER_TIMEOUT = 0.2  # --leader-timeout: fast, so a zombie write would show
ATTEMPTER_TIMEOUT = 2.0
CAPACITY = 5
TMPFS_SIZE = "2m"
DEADLINE = SESSION + 2.0  # a working leader within this long after the heal
HOLD = 2 * SESSION  # how long a fault lasts that must outlive the session
RECOVER_LIMIT = DEADLINE + 5.0  # a healed replica back to Attempter (+ 5 s backoff cap)
STEADY_WINDOW = 1.0  # "working": only one replica gained files for this long
STEADY_MIN_FILES = 3  # ... and at least this many
GIVE_UP = 30.0  # after this long without a working leader, restart the replicas
POLL = 0.025  # directory poll interval
FOREIGN = "operator-notes.txt"
FOREIGN_TEXT = b"not an election file; the daemon must leave this alone\n"
FILLER = "chaos-filler.bin"
# The supervised command (`election run ... -- CMD`, harness/workload.py, supervised.py):
STOP_TIMEOUT = 0.4  # --exec-stop-timeout; the daemon refuses more than SESSION/2 - 0.5 s
STOP_MARGIN = max(0.5, SESSION / 10)  # CommandTiming.margin: the group is gone by confirmedAt + SESSION - this
CHURN_WINDOW = 10.0  # how long a command that exits at once is left failing
COMMAND_BACKOFF = 1.0  # the daemon's first backoff after a quick exit; doubles per quick exit
