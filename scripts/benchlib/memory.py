"""Where a process's resident memory goes: /proc/PID/smaps grouped by what each
mapping is, and the threads with what each one waits in.

Groups: the executable's segments (text, read-only data incl. RELRO, data, and
the anonymous .bss right after it), the brk heap, glibc malloc arenas (64 MiB
aligned anonymous heaps, one per arena), thread stacks (the mapping that holds
each thread's stack pointer, read from /proc/PID/task/TID/syscall), the main
stack, each shared library, and the anonymous rest. Per group: RSS, PSS (shared
pages divided among the processes mapping them: replicas on one host share the
binary's and the libraries' pages) and private dirty (what this process alone
costs).
"""

import os
import re

ARENA = 64 << 20
SYSCALLS = {0: "read", 7: "poll", 23: "select", 34: "pause", 35: "nanosleep", 130: "rt_sigsuspend",
            202: "futex", 230: "clock_nanosleep", 232: "epoll_wait", 270: "pselect6", 271: "ppoll",
            281: "epoll_pwait", 441: "epoll_pwait2", 61: "wait4", 128: "rt_sigtimedwait"}


def mappings(pid):
    out, cur = [], None
    head = re.compile(r"^([0-9a-f]+)-([0-9a-f]+) (\S+) \S+ \S+ \S+\s*(.*)$")
    with open(f"/proc/{pid}/smaps") as f:
        for line in f:
            m = head.match(line)
            if m:
                cur = {"start": int(m.group(1), 16), "end": int(m.group(2), 16), "perms": m.group(3),
                       "path": m.group(4).strip(), "Rss": 0, "Pss": 0, "Private_Dirty": 0}
                out.append(cur)
                continue
            key, _, rest = line.partition(":")
            if cur is not None and key in ("Rss", "Pss", "Private_Dirty"):
                cur[key] = int(rest.split()[0])
    return out


def threads(pid):
    """[(tid, comm, syscall name, stack pointer or None)]"""
    found = []
    for tid in sorted(os.listdir(f"/proc/{pid}/task"), key=int):
        try:
            with open(f"/proc/{pid}/task/{tid}/comm") as f:
                comm = f.read().strip()
            with open(f"/proc/{pid}/task/{tid}/syscall") as f:
                fields = f.read().split()
        except OSError:
            continue
        if fields and fields[0].lstrip("-").isdigit():
            nr = int(fields[0])
            sp = int(fields[-2], 16) if len(fields) >= 3 else None
            found.append((int(tid), comm, SYSCALLS.get(nr, f"syscall {nr}"), sp))
        else:  # "running": no stack pointer to read
            found.append((int(tid), comm, fields[0] if fields else "?", None))
    return found


def library_group(path):
    base = os.path.basename(path)
    for prefix, name in (("libc.so", "libc"), ("libzookeeper", "libzookeeper_mt"), ("libstdc++", "libstdc++"),
                         ("libm.so", "libm"), ("libgcc_s", "libgcc_s"), ("ld-linux", "ld.so"),
                         ("libpython", "libpython"), ("libssl", "libssl/libcrypto"),
                         ("libcrypto", "libssl/libcrypto"), ("libjvm", "libjvm (HotSpot)")):
        if base.startswith(prefix):
            return name
    if path.endswith(".so") or ".so." in base or "/lib-dynload/" in path:
        return "other shared libraries" if "python" not in path else "Python extension modules"
    return "other files"


def breakdown(pid, executable):
    """{"groups": [{"group", "mappings", "rss_kib", "pss_kib", "private_dirty_kib", "vsz_kib"}], "threads": …}"""
    exe = os.path.realpath(executable)
    maps = mappings(pid)
    ts = threads(pid)
    stacks = {}
    for _, _, _, sp in ts:
        if sp is None:
            continue
        for i, m in enumerate(maps):
            if m["start"] <= sp < m["end"]:
                stacks[i] = stacks.get(i, 0) + 1
    exe_end = max((m["end"] for m in maps if m["path"] == exe), default=None)
    groups = {}
    for i, m in enumerate(maps):
        path, perms = m["path"], m["perms"]
        nxt = maps[i + 1] if i + 1 < len(maps) else None
        if path == exe:
            g = {"r-xp": "binary: text", "r--p": "binary: read-only data + RELRO",
                 "rw-p": "binary: data"}.get(perms, "binary: other")
        elif path == "[heap]":
            g = "malloc: brk heap (main arena)"
        elif path == "[stack]":
            g = "main thread stack"
        elif i in stacks and path != "[stack]":
            g = "thread stacks"
        elif path.startswith("[v") or path == "[vsyscall]":
            g = "kernel: vdso/vvar"
        elif path == "" and exe_end is not None and m["start"] == exe_end:
            g = "binary: .bss (anonymous)"
        elif path == "" and perms == "rw-p" and m["start"] % ARENA == 0 and nxt is not None \
                and nxt["start"] == m["end"] and nxt["perms"] == "---p" and nxt["end"] - m["start"] == ARENA:
            g = "malloc: thread arenas (64 MiB reserved each)"
        elif path == "" and perms == "---p":
            g = "guard pages / reserved (never resident)"
        elif path == "":
            g = "other anonymous"
        elif path.startswith("/"):
            g = library_group(path)
            if g == "other files" and os.path.basename(path).startswith("python3"):
                g = "python3 executable"
        else:
            g = path
        e = groups.setdefault(g, {"group": g, "mappings": 0, "rss_kib": 0, "pss_kib": 0, "private_dirty_kib": 0,
                                  "vsz_kib": 0})
        e["mappings"] += 1
        e["rss_kib"] += m["Rss"]
        e["pss_kib"] += m["Pss"]
        e["private_dirty_kib"] += m["Private_Dirty"]
        e["vsz_kib"] += (m["end"] - m["start"]) >> 10
    rows = sorted(groups.values(), key=lambda e: (-e["rss_kib"], e["group"]))
    waits = {}
    for _, comm, call, _ in ts:
        waits[(comm, call)] = waits.get((comm, call), 0) + 1
    return {
        "groups": rows,
        "total": {k: sum(e[k] for e in rows) for k in ("rss_kib", "pss_kib", "private_dirty_kib", "vsz_kib")},
        "threads": len(ts),
        "thread_waits": [{"comm": c, "waits_in": w, "count": n} for (c, w), n in sorted(waits.items())],
        "thread_stacks_found": sum(stacks.values()),
    }


def rollup(pid):
    """RSS, PSS, private dirty and clean, anonymous (KiB) of the whole process."""
    out = {}
    with open(f"/proc/{pid}/smaps_rollup") as f:
        for line in f:
            key, _, rest = line.partition(":")
            if key in ("Rss", "Pss", "Private_Dirty", "Private_Clean", "Anonymous"):
                out[key] = int(rest.split()[0])
    return out


def _module_of(symbol):
    """The Swift module a mangled symbol belongs to, or what kind of code it is."""
    m = re.match(r"^\$s(\d+)([A-Za-z_]\w*)", symbol)
    if m and len(m.group(2)) >= int(m.group(1)):
        return m.group(2)[:int(m.group(1))]
    if symbol.startswith("$s"):
        return "Swift stdlib"  # $ss…, $sS…: the standard library's own and its specialisations
    if symbol.startswith("_Z"):
        return "C++ (Swift runtime)"
    if symbol.startswith(("swift_", "_swift")):
        return "Swift runtime"
    return "C"


def binary_by_module(pid, executable):
    """Resident pages of the executable's read-only mappings (text and constants), by the
    module of the symbol that covers each page (nm + /proc/PID/pagemap). None when the
    symbols cannot be read."""
    import bisect
    import struct
    import subprocess
    exe = os.path.realpath(executable)
    try:
        out = subprocess.run(["nm", "-S", "--defined-only", exe], capture_output=True, text=True, timeout=30).stdout
    except (OSError, subprocess.TimeoutExpired):
        return None
    syms = []
    for line in out.splitlines():
        p = line.split(None, 3)
        if len(p) == 4:
            try:
                syms.append((int(p[0], 16), int(p[1], 16), p[3]))
            except ValueError:
                continue
    if not syms:
        return None
    syms.sort()
    starts = [s[0] for s in syms]
    maps = []
    with open(f"/proc/{pid}/maps") as f:
        for line in f:
            parts = line.split()
            if len(parts) >= 6 and parts[5] == exe:
                a, b = (int(x, 16) for x in parts[0].split("-"))
                maps.append((a, b, parts[1], int(parts[2], 16)))
    base = min((a for a, _, _, off in maps if off == 0), default=None)  # PIE: the first segment is at vaddr 0
    if base is None:
        return None
    resident = {}
    with open(f"/proc/{pid}/pagemap", "rb") as pm:
        for a, b, perms, _ in maps:
            if perms not in ("r-xp", "r--p"):
                continue
            pm.seek(a // 4096 * 8)
            entries = pm.read((b - a) // 4096 * 8)
            for i in range((b - a) // 4096):
                if not (struct.unpack_from("Q", entries, i * 8)[0] >> 63):
                    continue
                va = a + i * 4096 - base
                j = bisect.bisect_right(starts, va + 4095) - 1  # the last symbol starting in or before the page
                if j >= 0 and syms[j][0] + max(syms[j][1], 1) > va:
                    what = _module_of(syms[j][2]) if perms == "r-xp" else "constants, metadata, unwind tables"
                else:
                    what = "unnamed" if perms == "r-xp" else "constants, metadata, unwind tables"
                key = ("text: " if perms == "r-xp" else "") + what
                resident[key] = resident.get(key, 0) + 4
    return sorted(resident.items(), key=lambda kv: -kv[1])
