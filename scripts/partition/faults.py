"""The faults, in the order they run. Each is a function registered with
@fault(key, label, placement=...) and called as fn(suite, ctx) where ctx
names the hosts of the moment before the fault:

    ctx.leader   the replica that leads (its command runs)        e.g. "r2"
    ctx.server   the ZooKeeper server its session is connected to  e.g. "zk3"
    ctx.zk_leader the ZooKeeper leader                              e.g. "zk1"

It injects the fault, holds it, heals it (every rule removed, every delay
off) and returns (t_fault, t_heal) on CLOCK_MONOTONIC (ns); the suite does the
checks. `placement` places every replica's session before the fault (through
the forwarders, which refuse the other servers until the cluster is steady):
"follower" (on a ZooKeeper follower), "zk-leader" (on the ZooKeeper leader),
or None (wherever the client library picks).

The network faults are nft rules in the hosts' namespaces (netns.Network);
delay is the leader's forwarder holding each chunk (the kernel here has no
sch_netem)."""

import random
import time
from typing import Callable, NamedTuple

from harness import mono_ns, say

from .common import FLAP_HOLD, HOLD, REPLICA_HOSTS, ZK_HOSTS


class Fault(NamedTuple):
    key: str
    label: str
    run: Callable
    placement: str = None


FAULTS = []
SHORT = ("minority", "zk-leader-isolated", "cut-both", "flap", "delay")  # PARTITION_SHORT=1


def fault(key, label, placement=None):
    def register(fn):
        FAULTS.append(Fault(key, label, fn, placement))
        return fn

    return register


def names():
    return [f.key for f in FAULTS]


def select(keys):
    return [f for f in FAULTS if f.key in keys]


def everyone_but(hosts):
    return [h for h in list(ZK_HOSTS) + list(REPLICA_HOSTS) if h not in hosts]


def isolate(net, group):
    """`group` cut off from every other host, both ways (rules on both sides
    of the cut would be redundant: each host in the group drops everything
    from and to the rest)."""
    for h in group:
        net.block(h, everyone_but(group))
    net.commit(group)


def hold(seconds):
    time.sleep(seconds)


@fault("minority", "leader + its ZK follower isolated (minority)", placement="follower")
def minority(s, ctx):
    isolate(s.net, [ctx.leader, ctx.server])
    t0 = mono_ns()
    hold(HOLD)
    s.net.heal()
    return t0, mono_ns()


@fault("minority-zk-leader", "leader + the ZK leader its session is on, isolated together (minority)",
       placement="zk-leader")
def minority_zk_leader(s, ctx):
    isolate(s.net, [ctx.leader, ctx.server])
    t0 = mono_ns()
    hold(HOLD)
    s.net.heal()
    return t0, mono_ns()


@fault("zk-leader-isolated", "ZK leader isolated from its followers (sessions on it)", placement="zk-leader")
def zk_leader_isolated(s, ctx):
    z = ctx.zk_leader
    s.net.block(z, [h for h in ZK_HOSTS if h != z])
    s.net.commit([z])
    t0 = mono_ns()
    hold(HOLD)
    s.net.heal()
    return t0, mono_ns()


def _cut(s, ctx, inbound, outbound):
    s.net.block(ctx.leader, list(ZK_HOSTS), inbound=inbound, outbound=outbound)
    s.net.commit([ctx.leader])
    t0 = mono_ns()
    hold(HOLD)
    s.net.heal()
    return t0, mono_ns()


@fault("cut-both", "leader cut from every server, both ways")
def cut_both(s, ctx):
    return _cut(s, ctx, True, True)


@fault("cut-out", "leader cut from every server, its packets out dropped")
def cut_out(s, ctx):
    return _cut(s, ctx, False, True)


@fault("cut-in", "leader cut from every server, packets in dropped")
def cut_in(s, ctx):
    return _cut(s, ctx, True, False)


@fault("flap", f"leader + its ZK follower isolated and healed every 0.5-1.5 s for {FLAP_HOLD:g} s",
       placement="follower")
def flap(s, ctx):
    group = [ctx.leader, ctx.server]
    t0 = mono_ns()
    end = time.monotonic() + FLAP_HOLD
    cuts = 0
    while True:
        isolate(s.net, group)
        cuts += 1
        time.sleep(min(random.uniform(0.5, 1.5), max(0.0, end - time.monotonic())))
        s.net.heal()
        left = end - time.monotonic()
        if left <= 0.5:
            break
        time.sleep(min(random.uniform(0.5, 1.5), left - 0.5))
    ctx.notes["cuts"] = cuts
    return t0, mono_ns()


@fault("loss30", "30 % loss between the leader and every server, each way")
def loss30(s, ctx):
    s.net.block(ctx.leader, list(ZK_HOSTS), loss=30)
    s.net.commit([ctx.leader])
    t0 = mono_ns()
    hold(HOLD)
    s.net.heal()
    return t0, mono_ns()


@fault("delay", "500 ± 300 ms delay each way between the leader and every server")
def delay(s, ctx):
    fwd = s.forwarders[ctx.leader]
    fwd.set(delay_ms=500, jitter_ms=300)
    t0 = mono_ns()
    hold(HOLD)
    fwd.set()
    return t0, mono_ns()


@fault("minority-zk-restart", "minority (leader + its ZK follower); that server SIGKILLed and restarted inside it",
       placement="follower")
def minority_zk_restart(s, ctx):
    isolate(s.net, [ctx.leader, ctx.server])
    t0 = mono_ns()
    hold(3.0)
    s.zk.kill(ctx.server)
    s.zk.startone(ctx.server)
    say(f"  {ctx.server} killed and started again inside the partition")
    time.sleep(max(0.0, HOLD - (mono_ns() - t0) / 1e9))
    s.net.heal()
    return t0, mono_ns()


@fault("minority-zk-kill", "minority (leader + its ZK follower); that server SIGKILLed inside it, started after the heal",
       placement="follower")
def minority_zk_kill(s, ctx):
    isolate(s.net, [ctx.leader, ctx.server])
    t0 = mono_ns()
    hold(3.0)
    s.zk.kill(ctx.server)
    say(f"  {ctx.server} killed inside the partition")
    time.sleep(max(0.0, HOLD - (mono_ns() - t0) / 1e9))
    s.net.heal()
    return t0, mono_ns()  # the suite restarts it after the round's checks
