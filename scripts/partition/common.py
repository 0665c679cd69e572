"""The partition suite's settings and the hosts' addresses (what it shares with
the other suites is the harness's, scripts/harness/: processes, the
unprivileged launch, ZooKeeper's config, replicas, the stand-in command)."""

SUBNET = "10.213.0"  # /24, private; the bridge namespace has no link anywhere else
ZK_HOSTS = ("zk1", "zk2", "zk3")
REPLICA_HOSTS = ("r1", "r2", "r3")
ZK_PORT = 2181
FWD_BASE = 21810  # replica namespace: 127.0.0.1:FWD_BASE+i forwards to zk<i>
TICK_MS = 500
SYNC_DEFAULT = (2, 5)  # syncLimit: x tick = 1 s (< session) and 2.5 s (>= session)
SESSION = 2.0  # --session-timeout, seconds
LEADER_TIMEOUT = 0.2  # --leader-timeout: a file every 200 ms, so a stale writer shows
ATTEMPTER_TIMEOUT = 2.0
STOP_TIMEOUT = 0.4  # --exec-stop-timeout (at most SESSION/2 - 0.5 s)
CAPACITY = 1000  # --storage-capacity: a round never reaches it, so verify sees its whole history
DEADLINE = SESSION + 2.0  # a working leader within this long after the heal
GAP_LIMIT = 2 * SESSION + 2.0  # while a fault lasts: the longest stretch with no command running
# Under the delay fault the leader's step-down itself crosses the slow link: its last
# confirmation is given up only after half a session timeout, and its closeSession
# reaches the server one delayed trip later. One round trip of that delay
# (2 x 800 ms at most) is added to the limit for that fault alone.
DELAY_GAP_EXTRA = 1.6
HOLD = 8.0  # how long a fault lasts (flapping: FLAP_HOLD)
FLAP_HOLD = 20.0
SETTLE = 2.0  # after the working leader is found: keep running, so a late overlap shows
GIVE_UP = 20.0  # wait this long for a working leader after the heal before calling it missing
STEADY_TIMEOUT = 45.0
JAVA_OPTS = ["-Xmx128m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1", "-Xshare:auto"]


def addr(host):
    """The host's address on the private subnet: zk<i> .1<i>, r<i> .2<i>."""
    kind, i = host[:-1], int(host[-1])
    return f"{SUBNET}.{10 + i}" if kind == "zk" else f"{SUBNET}.{20 + i}"
