"""What the container checks share: recording a check's result, expectations,
HTTP GETs, and the images a check needs (built on first use in a run).

A group of checks (one module: check_image, check_compose, ...) declares its
check names up front in CHECKS and runs them with `with check(NAME):` blocks.
A failed expectation inside a block fails that check and the group goes on;
`with check(NAME, required=True):` ends the group when it fails, and every
check of it not yet run counts as failed ("not run: ..."). Nothing is ever
counted as passed without its block having run to the end."""

import http.client
import json
import os
import time
import traceback

from harness import copy_binary
from harness.net import http_get as get

from . import podman as pm


class CheckFailed(Exception):
    pass


class GroupAborted(Exception):
    pass


def expect(condition, message):
    if not condition:
        raise CheckFailed(message)


def http_get(host, port, path, timeout=3.0):
    """(status, body text) of a plain GET; CheckFailed when there is no answer."""
    try:
        return get(host, port, path, timeout)
    except (OSError, http.client.HTTPException) as e:
        raise CheckFailed(f"GET http://{host}:{port}{path}: no answer ({type(e).__name__}: {e})") from e


ENDPOINTS = ("/healthz", "/readyz", "/leader", "/status", "/metrics")


def check_endpoints(get, leader=True):
    """Every endpoint of the daemon through get(path) -> (status, body):
    2xx (/leader 200 only on a leader), /status JSON naming the state, /metrics
    Prometheus text. Returns the /status JSON."""
    answers = {p: get(p) for p in ENDPOINTS}
    bad = [f"{p} -> {s}" for p, (s, _) in answers.items()
           if not (200 <= s < 300 or (p == "/leader" and not leader and s == 503))]
    expect(not bad, "endpoints answering otherwise than 2xx: " + ", ".join(bad))
    try:
        status = json.loads(answers["/status"][1])
    except ValueError:
        raise CheckFailed(f"/status is not JSON: {answers['/status'][1][:200]!r}")
    expect(status.get("state"), f"/status names no state: {status}")
    expect("# TYPE" in answers["/metrics"][1], "/metrics has no '# TYPE' line (not Prometheus text)")
    return status


class Tally:
    """The results of one run: (group, check, 'passed'|'failed'|'skipped', detail, seconds)."""

    def __init__(self):
        self.rows = []

    def add(self, group, name, result, detail="", seconds=0.0):
        self.rows.append((group, name, result, detail, seconds))
        mark = {"passed": "ok     ", "failed": "FAILED ", "skipped": "skipped"}[result]
        line = f"containers: {mark} {group}: {name} ({seconds:.1f}s)"
        if detail:
            line += "\n" + "\n".join("    " + d for d in detail.rstrip().splitlines())
        print(line, flush=True)

    def count(self, result):
        return sum(1 for r in self.rows if r[2] == result)

    def run_group(self, module, ctx):
        """Runs module.run(ctx, check); declares every check of module.CHECKS."""
        group = module.GROUP
        done = set()
        tally = self

        class Check:
            def __init__(self, name, required=False):
                if name not in module.CHECKS or name in done:
                    raise RuntimeError(f"check {name!r} is not declared in {group}.CHECKS, or ran twice")
                self.name, self.required = name, required

            def __enter__(self):
                self.start = time.monotonic()
                return self

            def __exit__(self, kind, error, tb):
                done.add(self.name)
                secs = time.monotonic() - self.start
                if error is None:
                    tally.add(group, self.name, "passed", seconds=secs)
                    return False
                if isinstance(error, (KeyboardInterrupt, SystemExit)):
                    tally.add(group, self.name, "failed", "interrupted", secs)
                    return False
                if isinstance(error, (CheckFailed, pm.CommandFailed)):
                    detail = str(error)
                else:
                    detail = "".join(traceback.format_exception(kind, error, tb))
                tally.add(group, self.name, "failed", detail, secs)
                if self.required:
                    raise GroupAborted(f"{self.name} failed") from error
                return True

        start = time.monotonic()
        print(f"\ncontainers: == {group}: {module.TITLE} ==", flush=True)
        reason = None
        try:
            module.run(ctx, Check)
        except GroupAborted as e:
            reason = str(e)
        except (CheckFailed, pm.CommandFailed) as e:
            reason = f"setup failed: {e}"
        except Exception:
            reason = "setup failed:\n" + traceback.format_exc()
        finally:
            # Whatever the group left running goes before the next one starts
            # (two cores: no ZooKeeper of one group may slow down the next).
            ctx.run.remove_named(ctx.run.prefix)
            for name in module.CHECKS:
                if name not in done:
                    why = reason or "interrupted"
                    tally.add(group, name, "failed", f"not run: {why}")
        print(f"containers: {group} took {time.monotonic() - start:.0f}s", flush=True)


class Context:
    """One run: its names (pm.Run), the binary, and the images, each built once."""

    def __init__(self, run, binary):
        self.run = run
        # One copy for the whole run: the binary may be rebuilt meanwhile.
        self.binary = copy_binary(binary, run.tmpdir("binary"))
        self._images = {}

    def _image(self, key, make):
        if key not in self._images:
            self._images[key] = make()
        return self._images[key]

    def base_image(self):
        return self._image("base", pm.base_image)

    def election_image(self):
        """docker/Dockerfile with BINARY_STAGE=prebuilt around the run's copy of the
        binary (its directory is the build context), on the debootstrap base."""
        def make():
            return pm.cached_build("election", os.path.join(pm.ROOT, "docker", "Dockerfile"),
                                   os.path.dirname(self.binary),
                                   [f"RUNTIME_BASE={self.base_image()}", "BINARY_STAGE=prebuilt"])
        return self._image("election", make)

    def zookeeper_image(self):
        d = os.path.join(pm.ROOT, "docker", "zookeeper-standin")
        return self._image("zookeeper", lambda: pm.cached_build(
            "zookeeper-standin", os.path.join(d, "Dockerfile"), d, [f"BASE={self.base_image()}"]))

    def systemd_image(self):
        f = os.path.join(os.path.dirname(__file__), "systemd-host.Containerfile")
        return self._image("systemd", lambda: pm.cached_build(
            "systemd-host", f, self.run.tmpdir("systemd-context"), [f"BASE={self.base_image()}"]))
