"""The sides `make bench` runs: election and its peers, each a command line that
takes the same flags and writes the same files.

  election        the release binary (BINARY)
  kazoo           kazoo's Election recipe, bench/kazoo_election.py, Debian's python3-kazoo
  curator         Curator's LeaderLatch, bench/CuratorElection.java, Debian's
                  libcurator-recipes-java 5.4.0 on Debian's default JDK, compiled by
                  the bench into its work directory
  baseline        another election binary (BASELINE), to measure a change side by side
  kazoo-minimal   the cross-check of the kazoo driver: the recipe's run() and a write
                  (bench/kazoo_minimal.py); graceful rounds only

Missing packages are installed with apt-get (harness.proc.apt_install, as
root), as on a fresh Debian machine.
"""

import os
import subprocess
import sys

from harness import ROOT
from harness.proc import apt_install as install

from .measure import Implementation, log

SYSTEM_PYTHON = "/usr/bin/python3"  # Debian's, which sees python3-kazoo (a pyenv python does not)
KAZOO_DRIVER = os.path.join(ROOT, "bench/kazoo_election.py")
KAZOO_MINIMAL = os.path.join(ROOT, "bench/kazoo_minimal.py")
CURATOR_SOURCE = os.path.join(ROOT, "bench/CuratorElection.java")
JAVA_HOME_BIN = "/usr/bin"
CURATOR_JARS = ["curator-recipes", "curator-framework", "curator-client", "zookeeper", "zookeeper-jute", "guava",
                "slf4j-api"]
CURATOR_PACKAGES = ["libcurator-recipes-java", "libcurator-framework-java", "libcurator-client-java",
                    "default-jdk-headless"]
# What a competent operator gives a small JVM sidecar: a bounded heap and the serial
# collector (one core's worth of work, no G1 regions and threads to carry).
JVM_OPTIONS = ["-XX:+UseSerialGC", "-Xms16m", "-Xmx64m", "-XX:+ExitOnOutOfMemoryError"]
ALL = ("election", "kazoo", "curator")


def jar(name):
    return f"/usr/share/java/{name}.jar"


def apt_install(packages, what):
    """apt-get install (as root); False when that failed."""
    log(f"installing {' '.join(packages)} with apt-get")
    error = install(packages)
    if error:
        log(f"{what} is missing: {error}")
    return error is None


def kazoo_version():
    out = subprocess.run([SYSTEM_PYTHON, "-c", "import kazoo, sys; print(kazoo.__version__, sys.version.split()[0])"],
                         capture_output=True, text=True)
    return out.stdout.split() if out.returncode == 0 else None


def ensure_kazoo():
    if not kazoo_version():
        apt_install(["python3-kazoo"], "python3-kazoo")
    v = kazoo_version()
    if not v:
        sys.exit("bench: could not install python3-kazoo; SIDES=election,curator runs without it")
    return f"kazoo {v[0]} on Python {v[1]}"


def curator_present():
    return all(os.path.exists(jar(j)) for j in CURATOR_JARS) and os.access(os.path.join(JAVA_HOME_BIN, "javac"),
                                                                         os.X_OK)


def curator_version():
    """"Curator 5.4.0 (Debian 5.4.0-3) on OpenJDK 17.0.15", from the packages' own records."""
    def deb(pkg):
        out = subprocess.run(["dpkg-query", "-W", "-f=${Version}", pkg], capture_output=True, text=True)
        return out.stdout.strip() if out.returncode == 0 else "?"
    java = subprocess.run([os.path.join(JAVA_HOME_BIN, "java"), "-version"], capture_output=True, text=True).stderr
    first = java.splitlines()[0] if java else "java ?"
    jv = first.split('"')[1] if '"' in first else first
    return f"Curator {deb('libcurator-recipes-java').split('-')[0]} (Debian {deb('libcurator-recipes-java')}) on OpenJDK {jv}"


def ensure_curator(build_dir):
    """Installs Curator and a JDK when missing and compiles the driver into build_dir."""
    if not curator_present():
        apt_install(CURATOR_PACKAGES, "Curator or a JDK")
    if not curator_present():
        sys.exit("bench: could not install Curator and a JDK; SIDES=election,kazoo runs without it")
    os.makedirs(build_dir, exist_ok=True)
    cp = ":".join(jar(j) for j in CURATOR_JARS)
    out = subprocess.run([os.path.join(JAVA_HOME_BIN, "javac"), "-nowarn", "-XDignore.symbol.file", "-d", build_dir,
                          "-cp", cp, CURATOR_SOURCE], capture_output=True, text=True)
    if out.returncode != 0:
        sys.exit(f"bench: javac failed on {CURATOR_SOURCE}:\n{out.stderr}")
    return cp


def java_executable():
    return os.path.realpath(os.path.join(JAVA_HOME_BIN, "java"))


def make(names, binary, work):
    """[Implementation] for the side names, in order, installing and compiling what they need."""
    impls = []
    for name in names:
        if name == "election":
            impls.append(Implementation("election", "election", [binary, "run"], binary, can_resume=True,
                                        guardian=True, prefix="e"))
        elif name == "kazoo":
            impls.append(Implementation("kazoo", "kazoo Election", [SYSTEM_PYTHON, KAZOO_DRIVER, "run"], SYSTEM_PYTHON,
                                        can_resume=False, prefix="k", version=ensure_kazoo()))
        elif name == "kazoo-minimal":
            impls.append(Implementation("kazoo-minimal", "kazoo minimal driver",
                                        [SYSTEM_PYTHON, KAZOO_MINIMAL, "run"], SYSTEM_PYTHON, can_resume=False,
                                        prefix="m", version=ensure_kazoo()))
        elif name == "curator":
            build = os.path.join(work, "curator-build")
            cp = ensure_curator(build)
            java = java_executable()
            impls.append(Implementation("curator", "Curator LeaderLatch",
                                        [java, *JVM_OPTIONS, "-cp", f"{build}:{cp}:{jar('slf4j-nop')}",
                                         "CuratorElection", "run"], java, can_resume=False, prefix="c",
                                        version=curator_version() + " (" + " ".join(JVM_OPTIONS) + ")"))
        elif name == "baseline":
            # Another build of election (BASELINE=path), to measure what a change costs
            # with the rounds interleaved, e.g. SIDES=election,baseline.
            base = os.environ.get("BASELINE", "")
            if not os.access(base, os.X_OK):
                sys.exit("bench: SIDES names baseline but BASELINE is not an executable election binary")
            impls.append(Implementation("baseline", "baseline election", [base, "run"], base, can_resume=True,
                                        guardian=False, prefix="b"))
        else:
            sys.exit(f"bench: unknown side {name!r} (SIDES takes election, kazoo, curator, baseline)")
    return impls
