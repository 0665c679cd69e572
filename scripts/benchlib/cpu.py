"""CPU time of a process, counted so that nothing escapes.

Each replica runs in a cgroup of its own, entered between fork and exec (so
from its first instruction), and its CPU time is the cgroup's counter: cgroup v1
`cpuacct.usage` or cgroup v2 `cpu.stat` usage_usec. Time of threads that exited
inside the window is in it, and so is that of any child process. Where no cgroup
can be made (not root, no writable hierarchy) it falls back to utime + stime of
/proc/PID/stat, which also keeps exited threads' time but counts in clock ticks
(10 ms). `method` says which is used.
"""

import os


def _mounts():
    with open("/proc/self/mounts") as f:
        for line in f:
            dev, mnt, fstype, opts = line.split()[:4]
            yield mnt, fstype, opts.split(",")


def _own_cgroup(match):
    with open("/proc/self/cgroup") as f:
        for line in f:
            _, controllers, path = line.rstrip("\n").split(":", 2)
            if match(controllers.split(",")):
                return path
    return None


class CpuMeter:
    def __init__(self, tag):
        self.tag = tag
        self.base = None
        self.kind = None
        self.made = []
        for setup in (self._v1, self._v2):
            try:
                if setup() and self._works():
                    break
            except OSError:
                pass
            self._remove_all()
            self.base = self.kind = None
        self.method = {
            "v1": "cgroup v1 cpuacct.usage, one cgroup per replica",
            "v2": "cgroup v2 cpu.stat usage_usec, one cgroup per replica",
            None: "/proc/PID/stat utime+stime (no cgroup could be made; 10 ms ticks)",
        }[self.kind]

    def _v1(self):
        for mnt, fstype, opts in _mounts():
            if fstype == "cgroup" and "cpuacct" in opts:
                own = _own_cgroup(lambda c: "cpuacct" in c) or "/"
                self.base = os.path.join(mnt + own, self.tag)
                self.kind = "v1"
                os.makedirs(self.base)
                self.made.append(self.base)
                return True
        return False

    def _v2(self):
        for mnt, fstype, _ in _mounts():
            if fstype == "cgroup2":
                own = _own_cgroup(lambda c: c == [""]) or "/"
                self.base = os.path.join(mnt + own, self.tag)
                self.kind = "v2"
                os.makedirs(self.base)
                self.made.append(self.base)
                return True
        return False

    def _works(self):
        """A child can enter a cgroup and its counter can be read."""
        import subprocess
        probe = self.group("probe")
        subprocess.run(["/bin/true"], preexec_fn=self.preexec("probe"), check=True)
        self._read(probe)
        return True

    def group(self, name):
        path = os.path.join(self.base, name)
        if not os.path.isdir(path):
            os.mkdir(path)
            self.made.append(path)
        return path

    def preexec(self, name):
        """For Popen(preexec_fn=…): the child moves itself into its cgroup before exec."""
        if self.kind is None:
            return None
        procs = os.path.join(self.group(name), "cgroup.procs")

        def enter():
            with open(procs, "w") as f:
                f.write(str(os.getpid()))
        return enter

    def _read(self, path):
        if self.kind == "v1":
            with open(os.path.join(path, "cpuacct.usage")) as f:
                return int(f.read()) / 1e9
        with open(os.path.join(path, "cpu.stat")) as f:
            for line in f:
                key, value = line.split()
                if key == "usage_usec":
                    return int(value) / 1e6
        raise OSError("no usage_usec in cpu.stat")

    def seconds(self, name, pid):
        """CPU seconds used so far by the process started with preexec(name)."""
        if self.kind is not None:
            return self._read(os.path.join(self.base, name))
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def members(self, name):
        """The pids in the cgroup of the process started with preexec(name) (its children
        too); [] without cgroups."""
        if self.kind is None:
            return []
        try:
            with open(os.path.join(self.base, name, "cgroup.procs")) as f:
                return [int(x) for x in f.read().split()]
        except OSError:
            return []

    def _remove_all(self):
        for path in reversed(self.made):
            try:
                os.rmdir(path)
            except OSError:
                pass
        self.made = []

    def cleanup(self):
        """Removes the cgroups (their processes must have exited)."""
        self._remove_all()
