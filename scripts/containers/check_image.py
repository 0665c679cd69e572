"""Check 1, the image: docker/Dockerfile's runtime image (BINARY_STAGE=prebuilt
around the release binary) run as compose and the pod spec run it (read-only
root, all capabilities dropped, no-new-privileges, /tmp a tmpfs, a fresh named
volume at /data) against a ZooKeeper in a container of the stand-in image on a
network of its own. The endpoints are asked from the host at the container's
address; the znode is read with `election status` from a second container."""

import json
import time

from . import podman as pm
from .common import check_endpoints, expect, http_get

GROUP = "image"
TITLE = "docker/Dockerfile's runtime image against a ZooKeeper container"
CHECKS = [
    "metadata: USER 10001:10001, HEALTHCHECK, STOPSIGNAL SIGTERM, VOLUME /data",
    "starts and leads against a ZooKeeper container",
    "runs as uid/gid 10001",
    "read-only root file system",
    "no capabilities (CapEff = CapBnd = 0), no_new_privs",
    "every endpoint answers (/healthz /readyz /leader /status /metrics)",
    "its HEALTHCHECK reports healthy (podman healthcheck run)",
    "a fresh named volume at /data is writable (the leader's files appear)",
    "podman stop: exit 0 within the grace period, znode deleted",
]
SESSION = "4s"
GRACE = 15  # compose's stop_grace_period, the pod spec's terminationGracePeriodSeconds


def proc_status(container):
    """/proc/1/status of the container's main process, as a dict."""
    text = pm.podman("exec", container, "cat", "/proc/1/status").stdout
    return dict(line.split(":", 1) for line in text.splitlines() if ":" in line)


def candidates(image, network, zk):
    """The candidates in ZooKeeper, read by `election status` in a container of its own."""
    r = pm.podman("run", "--rm", "--network", network, image, "status", "--zk-servers", f"{zk}:2181",
                  "--json", "--timeout", "5s", check=False, timeout=60)
    if r.returncode not in (0, 2):
        raise pm.CommandFailed(f"election status exited {r.returncode}: {r.stderr.strip()[-500:]}")
    return json.loads(r.stdout).get("candidates") or []


def run(ctx, check):
    image, zk_image = ctx.election_image(), ctx.zookeeper_image()
    net, zk, el, vol = (ctx.run.name(s) for s in ("net", "zk", "election", "data"))

    with check(CHECKS[0]):
        inspected = json.loads(pm.podman("image", "inspect", image).stdout)[0]
        cfg = inspected["Config"]
        expect(cfg.get("User") == "10001:10001", f"User is {cfg.get('User')!r}")
        # podman shows a docker-format image's HEALTHCHECK beside Config.
        test = (inspected.get("Healthcheck") or cfg.get("Healthcheck") or {}).get("Test") or []
        expect("election probe" in " ".join(test), f"HEALTHCHECK is {test} (an OCI-format build drops it)")
        expect(cfg.get("StopSignal") in ("SIGTERM", "15"), f"StopSignal is {cfg.get('StopSignal')!r}")
        expect("/data" in (cfg.get("Volumes") or {}), f"Volumes: {cfg.get('Volumes')}")

    pm.podman("network", "create", net)
    pm.podman("run", "-d", "--name", zk, "--network", net, "-e", "ZOO_4LW_COMMANDS_WHITELIST=srvr,ruok,mntr",
              "-e", "ZOO_ADMINSERVER_ENABLED=false", zk_image)
    pm.podman("volume", "create", vol)
    with check(CHECKS[1], required=True):
        pm.podman("run", "-d", "--name", el, "--network", net, "--read-only", "--cap-drop=ALL",
                  "--security-opt", "no-new-privileges", "--tmpfs", "/tmp:size=8m", "-v", f"{vol}:/data",
                  "-e", f"ELECTION_ZK_SERVERS={zk}:2181", "-e", f"ELECTION_SESSION_TIMEOUT={SESSION}",
                  "-e", "ELECTION_LEADER_TIMEOUT=1s", "-e", "ELECTION_REPLICA_ID=image-1", image)
        ip = pm.container_ip(el)
        pm.wait_until("the replica leads (/leader 200)",
                      lambda: http_get(ip, 8080, "/leader", timeout=1)[0] == 200 if running(el) else fail(el),
                      timeout=60)

    with check(CHECKS[2]):
        st = proc_status(el)
        expect(st["Uid"].split() == ["10001"] * 4, f"Uid: {st['Uid'].strip()}")
        expect(st["Gid"].split() == ["10001"] * 4, f"Gid: {st['Gid'].strip()}")

    with check(CHECKS[3]):
        expect(pm.podman("inspect", "-f", "{{.HostConfig.ReadonlyRootfs}}", el).stdout.strip() == "true",
               "ReadonlyRootfs is not set")
        r = pm.podman("exec", el, "touch", "/probe-write", check=False)
        expect(r.returncode != 0 and "Read-only file system" in r.stderr,
               f"writing / did not fail as read-only: rc={r.returncode} {r.stderr.strip()}")

    with check(CHECKS[4]):
        st = proc_status(el)
        caps = {k: int(st[k], 16) for k in ("CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb")}
        expect(not any(caps.values()), f"capabilities left: {caps}")
        expect(st["NoNewPrivs"].strip() == "1", f"NoNewPrivs: {st['NoNewPrivs'].strip()}")

    with check(CHECKS[5]):
        ip = pm.container_ip(el)
        status = check_endpoints(lambda p: http_get(ip, 8080, p))
        expect(status["state"] == "Leader", f"/status state {status['state']!r}, the only replica should lead")

    with check(CHECKS[6]):
        r = pm.podman("healthcheck", "run", el, check=False, timeout=30)
        expect(r.returncode == 0, f"podman healthcheck run: exit {r.returncode}: {r.stdout.strip()}")

    with check(CHECKS[7]):
        listing = pm.podman("exec", el, "ls", "-ln", "/data").stdout
        files = [line.split() for line in listing.splitlines() if line.split()[-1].startswith("election-")]
        expect(files, f"no election-*.json in /data:\n{listing}")
        expect(all(f[2] == "10001" for f in files), f"files not owned by 10001:\n{listing}")
        mount = json.loads(pm.podman("inspect", el).stdout)[0]["Mounts"]
        expect(any(m.get("Name") == vol and m["Destination"] == "/data" for m in mount),
               f"/data is not the named volume {vol}: {mount}")

    with check(CHECKS[8]):
        before = [c["replica"] for c in candidates(image, net, zk)]
        expect(before == ["image-1"], f"before the stop, the candidates are {before}, not [image-1]")
        start = time.monotonic()
        pm.podman("stop", "-t", str(GRACE), el, timeout=GRACE + 30)
        took = time.monotonic() - start
        code = pm.podman("inspect", "-f", "{{.State.ExitCode}}", el).stdout.strip()
        expect(code == "0", f"exit status {code} after podman stop (took {took:.1f}s)")
        expect(took < GRACE, f"podman stop took {took:.1f}s, the grace period is {GRACE}s (SIGKILL)")
        after = candidates(image, net, zk)
        expect(after == [], f"znodes left after the stop: {after}")
        pm.say(f"image: stopped in {took:.1f}s")


def running(name):
    return pm.podman("inspect", "-f", "{{.State.Running}}", name).stdout.strip() == "true"


def fail(name):
    logs = pm.podman("logs", "--tail", "20", name, check=False)
    raise pm.GiveUp(f"{name} exited:\n{logs.stdout}{logs.stderr}")
