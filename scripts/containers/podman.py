"""Podman plumbing for the container tests: tools, the OCI runtime wrapper, the
containers.conf that selects it, the cached images, and the per-run cleanup.

Everything installs itself on first use (as root: apt-get for podman, runc,
debootstrap; a venv under .venv-containers/ for podman-compose) and is cached:
the base image (debootstrap minbase bookworm, standing in for
debian:bookworm-slim) and the images built from it are kept in podman's
storage under tags that carry a hash of what they were built from, so a
changed recipe builds anew and an unchanged one is reused.

Why a wrapper: this sandbox refuses setrlimit to the OCI runtime, so every
container start fails with `setrlimit RLIMIT_NOFILE: Operation not permitted`
whatever --ulimit says. The wrapper drops `process.rlimits` from the bundle's
config.json (create/run) and from the --process JSON (exec), then runs runc.
The containers get the limits they inherit from podman instead."""

import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import time

from harness import ROOT
from harness.proc import apt_install as install
STATE = os.path.join(ROOT, ".venv-containers")
RUNTIME_NAME = "runc-norlimits"
COMPOSE_REQUIREMENT = "podman-compose==1.6.0"
APT_PACKAGES = ["podman", "runc", "conmon", "catatonit", "netavark", "aardvark-dns", "iptables", "debootstrap"]
# Images are cached under this repository-less namespace (podman's "localhost/").
IMAGE_NS = "localhost/election-ct"

WRAPPER = r'''#!/usr/bin/python3
# Written by scripts/containers/podman.py: runc without process.rlimits (the
# sandbox refuses setrlimit to the runtime). --bundle DIR (create, run) names
# DIR/config.json; --process FILE (exec) names a process spec.
import json, os, sys
args = sys.argv[1:]
def value(flag):
    for i, a in enumerate(args):
        if a == flag and i + 1 < len(args):
            return args[i + 1]
        if a.startswith(flag + "="):
            return a[len(flag) + 1:]
    return None
def strip(path, key):
    if not path or not os.path.isfile(path):
        return
    with open(path) as f:
        spec = json.load(f)
    holder = spec.get("process", {}) if key == "bundle" else spec
    if holder.pop("rlimits", None) is not None:
        with open(path, "w") as f:
            json.dump(spec, f)
bundle = value("--bundle") or value("-b")
strip(bundle and os.path.join(bundle, "config.json"), "bundle")
strip(value("--process"), "process")
os.execv("/usr/bin/runc", ["runc"] + args)
'''


class Unavailable(Exception):
    """Podman cannot run here (the reason is the message): every check is skipped."""


def say(*parts):
    print("containers:", *parts, flush=True)


def sha(*texts):
    h = hashlib.sha256()
    for t in texts:
        h.update(t.encode() if isinstance(t, str) else t)
        h.update(b"\0")
    return h.hexdigest()[:12]


# ---- tools ----------------------------------------------------------------------

def apt_install(packages):
    error = install(packages)
    if error:
        raise Unavailable(error)


def ensure_tools():
    """podman and friends from Debian, podman-compose in .venv-containers/."""
    missing = [p for p in APT_PACKAGES
               if subprocess.run(["dpkg-query", "-W", "-f=${Status}", p], capture_output=True,
                                 text=True).stdout.strip() != "install ok installed"]
    if missing:
        say("installing", " ".join(missing))
        apt_install(missing)
    venv = os.path.join(STATE, "venv")
    marker = os.path.join(venv, ".requirements")
    if not (os.path.exists(marker) and open(marker).read() == COMPOSE_REQUIREMENT):
        say("installing", COMPOSE_REQUIREMENT, "into", os.path.relpath(venv, ROOT))
        shutil.rmtree(venv, ignore_errors=True)
        if subprocess.run([sys.executable, "-m", "venv", venv], capture_output=True).returncode != 0:
            apt_install(["python3-venv"])
            run([sys.executable, "-m", "venv", venv])
        run([os.path.join(venv, "bin", "pip"), "install", "-q", "--disable-pip-version-check",
             COMPOSE_REQUIREMENT], timeout=600)
        with open(marker, "w") as f:
            f.write(COMPOSE_REQUIREMENT)


def venv_bin(name):
    return os.path.join(STATE, "venv", "bin", name)


def configure():
    """The wrapper and a containers.conf selecting it; CONTAINERS_CONF for us and
    every child (podman-compose calls podman)."""
    d = os.path.join(STATE, "podman")
    os.makedirs(d, exist_ok=True)
    wrapper = os.path.join(d, RUNTIME_NAME)
    if not os.path.exists(wrapper) or open(wrapper).read() != WRAPPER:
        with open(wrapper + ".tmp", "w") as f:
            f.write(WRAPPER)
        os.chmod(wrapper + ".tmp", 0o755)
        os.replace(wrapper + ".tmp", wrapper)
    conf = os.path.join(d, "containers.conf")
    with open(conf, "w") as f:
        f.write(f'[engine]\nruntime = "{RUNTIME_NAME}"\n[engine.runtimes]\n{RUNTIME_NAME} = ["{wrapper}"]\n')
    os.environ["CONTAINERS_CONF"] = conf


def setup():
    """Tools, configuration, and proof that a container starts; Unavailable if not."""
    ensure_tools()
    configure()
    r = podman("info", "--format", "{{.Host.OCIRuntime.Name}} {{.Host.NetworkBackend}}", check=False)
    if r.returncode != 0:
        raise Unavailable(f"podman info fails: {r.stderr.strip()[-500:]}")
    say("podman", podman("version", "--format", "{{.Client.Version}}").stdout.strip(),
        "runtime/network:", r.stdout.strip())


# ---- running podman -------------------------------------------------------------

class CommandFailed(Exception):
    pass


def run(argv, check=True, timeout=180, input=None, env=None):
    try:
        r = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, input=input,
                           env=env, stdin=None if input is not None else subprocess.DEVNULL)
    except subprocess.TimeoutExpired as e:
        raise CommandFailed(f"{' '.join(argv)}: still running after {timeout}s") from e
    if check and r.returncode != 0:
        raise CommandFailed(f"{' '.join(argv)} exited {r.returncode}: {(r.stderr or r.stdout).strip()[-1500:]}")
    return r


def podman(*args, **kw):
    return run(["podman", *args], **kw)


def image_exists(tag):
    return podman("image", "exists", tag, check=False).returncode == 0


def image_id(tag):
    r = podman("image", "inspect", "--format", "{{.Id}}", tag, check=False)
    return r.stdout.strip() if r.returncode == 0 else None


def container_ip(name):
    return podman("inspect", "-f", "{{range .NetworkSettings.Networks}}{{.IPAddress}} {{end}}",
                  name).stdout.split()[0]


class GiveUp(CommandFailed):
    """Raised inside a wait_until condition: waiting longer cannot help."""


def wait_until(what, fn, timeout, interval=0.5):
    """fn() until it returns something true (errors count as not yet, except
    GiveUp); that value, or CommandFailed naming `what` and the last error."""
    deadline = time.monotonic() + timeout
    last = None
    while True:
        try:
            value = fn()
            if value:
                return value
        except GiveUp:
            raise
        except Exception as e:  # not yet: the last one is reported at the deadline
            last = e
        if time.monotonic() >= deadline:
            raise CommandFailed(f"{what}: not within {timeout:g}s" + (f" (last error: {last})" if last else ""))
        time.sleep(interval)


# ---- images ---------------------------------------------------------------------

def apt_sources():
    """The machine's Debian sources (bookworm, -updates, -security), as the images' own."""
    path = "/etc/apt/sources.list.d/debian.sources"
    return open(path).read() if os.path.exists(path) else ""


def mirror():
    for line in apt_sources().splitlines():
        if line.startswith("URIs:"):
            return line.split()[1]
    return "http://deb.debian.org/debian"


def base_image():
    """debootstrap --variant=minbase bookworm, imported: the stand-in for
    debian:bookworm-slim (same suite and sources, a few more packages)."""
    tag = f"{IMAGE_NS}/bookworm-minbase:{sha('minbase bookworm v1', apt_sources())}"
    if image_exists(tag):
        return tag
    start = time.monotonic()
    say("building the base image", tag, "(debootstrap, about a minute)")
    tmp = tempfile.mkdtemp(prefix="election-ct-rootfs-")
    try:
        rootfs = os.path.join(tmp, "rootfs")
        run(["debootstrap", "--variant=minbase", "bookworm", rootfs, mirror()], timeout=900)
        if apt_sources():
            os.remove(os.path.join(rootfs, "etc/apt/sources.list"))
            with open(os.path.join(rootfs, "etc/apt/sources.list.d/debian.sources"), "w") as f:
                f.write(apt_sources())
        for d in ("var/lib/apt/lists", "var/cache/apt/archives"):
            for entry in os.listdir(os.path.join(rootfs, d)):
                p = os.path.join(rootfs, d, entry)
                if os.path.isfile(p):
                    os.remove(p)
        tar = subprocess.Popen(["tar", "-C", rootfs, "-c", "."], stdout=subprocess.PIPE)
        imp = subprocess.run(["podman", "import", "--change", "CMD [\"/bin/bash\"]", "-", tag],
                             stdin=tar.stdout, capture_output=True, text=True)
        tar.wait()
        if imp.returncode != 0 or tar.returncode != 0:
            raise CommandFailed(f"podman import: {imp.stderr.strip()[-1000:]}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    say(f"base image built in {time.monotonic() - start:.0f}s")
    return tag


def build(tag, containerfile, context, build_args=(), target=None, timeout=900):
    """podman build in docker format (OCI images drop HEALTHCHECK). Layers are
    cached by podman; the image that `tag` named before is removed when the
    build replaced it and nothing else uses it."""
    before = image_id(tag)
    argv = ["build", "--format", "docker", "--layers", "-q", "-f", containerfile, "-t", tag]
    for a in build_args:
        argv += ["--build-arg", a]
    if target:
        argv += ["--target", target]
    podman(*argv, context, timeout=timeout)
    if before and before != image_id(tag):
        podman("rmi", before, check=False)
    return tag


def cached_build(name, containerfile, context, build_args=(), extra_key=""):
    """Build once per content: the tag carries a hash of the Containerfile, the
    files of the context and the build arguments."""
    parts = [open(containerfile).read(), extra_key, *build_args]
    for dirpath, dirs, files in os.walk(context):
        dirs.sort()
        for f in sorted(files):
            p = os.path.join(dirpath, f)
            parts += [os.path.relpath(p, context), open(p, "rb").read(), str(os.stat(p).st_mode & 0o777)]
    tag = f"{IMAGE_NS}/{name}:{sha(*parts)}"
    if not image_exists(tag):
        start = time.monotonic()
        say("building", tag)
        build(tag, containerfile, context, build_args)
        say(f"built {tag} in {time.monotonic() - start:.0f}s")
    # Older builds of the same image go (not those a container still uses),
    # and the untagged leftovers of builds (such as docker/Dockerfile's
    # `prebuilt` stage, one per binary); the layers cached for the next build
    # have children and stay.
    r = podman("images", "--format", "{{.Repository}}:{{.Tag}}", f"{IMAGE_NS}/{name}", check=False)
    for old in set(r.stdout.split()) - {tag}:
        podman("rmi", old, check=False)
    podman("image", "prune", "-f", check=False)
    return tag


# ---- one run: names and cleanup ------------------------------------------------

class Run:
    """A unique name prefix for everything one run creates, and the cleanup of
    everything named with it (containers, pods, volumes, networks, temp dirs),
    whatever way the run ends. A run killed outright leaves a note under
    .venv-containers/runs/; the next run cleans up after it."""

    def __init__(self):
        self.prefix = "ect" + os.urandom(4).hex()
        self.tmp_dirs = []
        self.notes = os.path.join(STATE, "runs")
        os.makedirs(self.notes, exist_ok=True)
        self.reap_dead_runs()
        with open(os.path.join(self.notes, self.prefix), "w") as f:
            f.write(str(os.getpid()))

    def name(self, suffix):
        return f"{self.prefix}-{suffix}"

    def tmpdir(self, what):
        d = tempfile.mkdtemp(prefix=f"{self.prefix}-{what}-")
        self.tmp_dirs.append(d)
        return d

    def reap_dead_runs(self):
        for prefix in os.listdir(self.notes):
            try:
                os.kill(int(open(os.path.join(self.notes, prefix)).read()), 0)
                continue  # still running
            except (ProcessLookupError, ValueError):
                pass
            say("cleaning up after an earlier run that did not finish:", prefix)
            self.remove_named(prefix)
            os.remove(os.path.join(self.notes, prefix))

    @staticmethod
    def _listed(prefix):
        """(kind, name) of podman's containers, pods, volumes and networks named
        with prefix (podman-compose names its pod pod_PROJECT)."""
        found = []
        for kind, args in (("container", ("ps", "-a", "--format", "{{.Names}}")),
                           ("pod", ("pod", "ls", "--format", "{{.Name}}")),
                           ("volume", ("volume", "ls", "--format", "{{.Name}}")),
                           ("network", ("network", "ls", "--format", "{{.Name}}"))):
            r = podman(*args, check=False)
            found += [(kind, n) for n in r.stdout.split() if n.startswith((prefix, "pod_" + prefix))]
        return found

    @classmethod
    def remove_named(cls, prefix):
        """Everything named with prefix: containers (-v: with the anonymous
        volumes of their images' VOLUMEs), pods, volumes, networks."""
        remove = {"container": ("rm", "-f", "-v", "-t", "0"), "pod": ("pod", "rm", "-f", "-t", "0"),
                  "volume": ("volume", "rm", "-f"), "network": ("network", "rm", "-f")}
        for kind, name in cls._listed(prefix):
            podman(*remove[kind], name, check=False, timeout=60)

    def leftovers(self):
        """This run's containers, pods, volumes and networks still present."""
        return [f"{kind} {name}" for kind, name in self._listed(self.prefix)]

    def cleanup(self):
        self.remove_named(self.prefix)
        for d in self.tmp_dirs:
            shutil.rmtree(d, ignore_errors=True)
        try:
            os.remove(os.path.join(self.notes, self.prefix))
        except FileNotFoundError:
            pass
        return self.leftovers()
