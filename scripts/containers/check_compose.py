"""Check 2, compose: docker/compose.yaml up for real with podman-compose (3
ZooKeeper servers of the stand-in image, 3 replicas of the prebuilt election
image: ZOOKEEPER_IMAGE, ELECTION_IMAGE, `up --no-build`), under a project name
of this run. podman-compose with podman 4.3 cannot wait on `condition:
service_healthy` (it starts the replicas at once; they retry by themselves)
and runs no healthcheck timers: each `podman healthcheck run` is run here.
The replicas' /leader is asked on the ports the file publishes on loopback."""

import json
import os
import time

from . import podman as pm
from .common import expect, http_get

GROUP = "compose"
TITLE = "docker/compose.yaml: 3 ZooKeeper + 3 replicas"
CHECKS = [
    "up: six containers running",
    "all six healthy by their own healthchecks",
    "exactly one replica's /leader answers 200",
    "leader SIGKILLed: another leads within session timeout + 2 s",
    "down -v leaves no container, pod, volume or network of the project",
]
COMPOSE_FILE = os.path.join(pm.ROOT, "docker", "compose.yaml")
REPLICAS = {"election-1": 8081, "election-2": 8082, "election-3": 8083}  # the file's published ports
SERVICES = ["zk-1", "zk-2", "zk-3", *REPLICAS]
SESSION_TIMEOUT = 4.0  # ELECTION_SESSION_TIMEOUT in the file


def containers(project):
    """service -> container name, of the project's containers (any state)."""
    out = pm.podman("ps", "-a", "--filter", f"label=io.podman.compose.project={project}", "--format", "json").stdout
    return {c["Labels"].get("com.docker.compose.service"): c["Names"][0] for c in json.loads(out or "[]")}


def leaders(ports):
    """The replicas (of those with these ports) whose /leader answers 200 now."""
    found = []
    for name, port in ports.items():
        try:
            if http_get("127.0.0.1", port, "/leader", timeout=1)[0] == 200:
                found.append(name)
        except Exception:
            pass  # killed, or not serving yet: not a leader
    return found


def run(ctx, check):
    project = ctx.run.prefix
    env = dict(os.environ, ZOOKEEPER_IMAGE=ctx.zookeeper_image(), ELECTION_IMAGE=ctx.election_image())
    compose = [pm.venv_bin("podman-compose"), "-p", project, "-f", COMPOSE_FILE]
    try:
        with check(CHECKS[0], required=True):
            pm.run([*compose, "up", "-d", "--no-build"], env=env, timeout=300)
            names = pm.wait_until("six containers running", lambda: all_running(project), timeout=30)
            expect(sorted(names) == sorted(SERVICES), f"services {sorted(names)}")

        with check(CHECKS[1], required=True):
            start = time.monotonic()
            pending = dict(containers(project))

            def healthy():
                for service, name in list(pending.items()):
                    if pm.podman("healthcheck", "run", name, check=False, timeout=30).returncode == 0:
                        del pending[service]
                if pending:
                    raise pm.CommandFailed(f"not healthy yet: {sorted(pending)}")
                return True
            pm.wait_until("all six healthy", healthy, timeout=120, interval=1)
            pm.say(f"compose: all six healthy {time.monotonic() - start:.0f}s after up")

        with check(CHECKS[2], required=True):
            # Settled: the same single leader twice, a second apart.
            def one_leader():
                first = leaders(REPLICAS)
                time.sleep(1)
                return first if len(first) == 1 and leaders(REPLICAS) == first else None
            try:
                leader = pm.wait_until("exactly one leader", one_leader, timeout=20)[0]
            except pm.CommandFailed:
                expect(False, f"replicas whose /leader answers 200: {leaders(REPLICAS)}")

        with check(CHECKS[3]):
            others = {n: p for n, p in REPLICAS.items() if n != leader}
            killed = time.monotonic()
            pm.podman("kill", "-s", "KILL", containers(project)[leader])
            limit = SESSION_TIMEOUT + 2
            new = pm.wait_until(f"another replica leads after {leader} was SIGKILLed",
                                lambda: leaders(others), timeout=limit + 10, interval=0.1)
            took = time.monotonic() - killed
            pm.say(f"compose: {new[0]} leads {took:.1f}s after {leader} was SIGKILLed")
            expect(len(new) == 1, f"two leaders: {new}")
            expect(took <= limit, f"{new[0]} led only {took:.1f}s after the SIGKILL (limit {limit:g}s)")
    finally:
        start = time.monotonic()
        down = pm.run([*compose, "down", "-v"], env=env, check=False, timeout=180)
        pm.say(f"compose: down -v took {time.monotonic() - start:.1f}s")
    with check(CHECKS[4]):
        expect(down.returncode == 0, f"down -v exited {down.returncode}: {down.stderr[-1000:]}")
        left = ctx.run.leftovers()
        expect(not left, f"left after down -v: {left}")


def all_running(project):
    names = containers(project)
    states = pm.podman("ps", "--filter", f"label=io.podman.compose.project={project}",
                       "--format", "{{.Names}}").stdout.split()
    return names if len(names) == len(SERVICES) and len(states) == len(SERVICES) else None
