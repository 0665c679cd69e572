"""What the suite sees: the harness's poller (harness/files.py), which reads
(and archives) every file any replica writes and records when it appeared, the
replicas' logged transitions,
and the checks built on them: a working leader within the deadline, an old
leader that left Leader and rejoined, `election verify` over the directories
and over the archive of every file seen, and the order in which files appeared.

When a file appeared: the poller stats it at first sight (fstat on the open
file, before reading it) and takes its st_ctime_ns, which the rename that
publishes it sets (tmpfs too; from the kernel's coarse clock, up to a tick
behind); a file gone before it could be opened, or unlinked by then (its ctime
is then the unlink's), gets the poller's listings instead: absent at the start
of the previous listing of its directory, present at the end of this one.
`late_appearances` counts a file of a lower fencing token that surely appeared
after a file of a higher token had appeared, in any replica's directory: verify's
rule "never a lower token after a higher", judged by when the files appeared
rather than by the times written in them (a leader paused before its rename can
publish an old term's file late, with an old time inside; verify cannot see it
in the archive's copies, which lose the ctime).

`Observations` is a mixin of the suite (suite.Chaos): it expects `replicas`,
`poller`, `zk`, `binary`, `work` and `seen_violations` on the instance."""

import bisect
import os
import time

from harness import files
from harness.files import verify
from harness.proc import PROCS
from harness.replica import parse_time

from .common import (
    CAPACITY, DEADLINE, FOREIGN, FOREIGN_TEXT, GIVE_UP, POLL, RECOVER_LIMIT, STEADY_MIN_FILES, STEADY_WINDOW,
)

# ---- the directory poller: sees (and archives) every file any replica writes ------


# A ctime is read from the kernel's coarse clock: up to one tick (at most 10 ms at
# HZ=100) behind the moment of the rename. Only a comparison of a ctime with one of
# the poller's own times needs this slack; two ctimes come from the same clock.
COARSE_TICK = 0.010


class Poller(files.Poller):
    """Every file any replica writes (its archive under <work>/archive), every
    POLL s; anomalies; the working leader by the files (steady)."""

    def __init__(self, replicas):
        super().__init__([(r.name, r.dir, r.archive) for r in replicas], POLL)

    @property
    def anomalies(self):
        """The poller's errors, and files in one replica's directory that another wrote."""
        return self.errors + [f"{e.replica}/{e.name} was written by {e.writer}" for e in self.all()
                              if e.writer is not None and e.writer != e.replica]

    def late_appearances(self):
        """late_appearances() over every file seen so far."""
        return late_appearances(self.snapshot()[0])

    def steady(self, since, exclude=None):
        """A working leader: for at least STEADY_WINDOW only one replica gained
        files (files written at or after `since`), all of one token, the
        highest token seen, at least STEADY_MIN_FILES of them in the window. Returns
        (replica, token, start) where start is the time of the first file of
        that term after the last file anybody else wrote since `since`."""
        events, max_token = self.snapshot()
        now = time.time()
        evs = [e for e in events if e.time >= since]
        recent = [e for e in evs if e.seen > now - STEADY_WINDOW]
        if len(recent) < STEADY_MIN_FILES:
            return None
        keys = {(e.replica, e.token) for e in recent}
        if len(keys) != 1:
            return None
        rep, tok = keys.pop()
        if tok < max_token or rep == exclude:
            return None
        last_other = max((e.time for e in evs if (e.replica, e.token) != (rep, tok)), default=-1)
        first = min(e.time for e in evs if (e.replica, e.token) == (rep, tok) and e.time > last_other)
        if now - first < STEADY_WINDOW:
            return None  # the only writer, but not for long enough yet
        return rep, tok, first


def late_appearances(events):
    """Files of a lower token that surely appeared after a file of a higher token
    had appeared (any directories): [((replica, name), message)], one per late
    file, naming the highest token that had appeared before it. "Surely": the
    late file's earliest possible appearance (`appeared_lo`) is after the other's
    latest (`appeared`; plus COARSE_TICK when a ctime is compared with a
    listing's time); two ctimes are compared as they are."""
    evs = sorted(events, key=lambda e: e.appeared)
    found = []
    # Two orders of the earlier files: as a ctime file sees them, and as a file
    # known by the listings alone sees them (a ctime then gets its tick).
    tables = {}
    for by in ("ctime", "poll"):
        keyed = sorted(((e.appeared + (COARSE_TICK if by == "poll" and e.appeared_by == "ctime" else 0.0), e)
                        for e in evs), key=lambda p: p[0])
        keys, best, top = [], [], None
        for k, e in keyed:
            if top is None or e.token > top.token:
                top = e
            keys.append(k)
            best.append(top)
        tables[by] = (keys, best)
    for e in evs:
        keys, best = tables["ctime" if e.appeared_by == "ctime" else "poll"]
        i = bisect.bisect_left(keys, e.appeared_lo)  # every file surely there before e
        if i and best[i - 1].token > e.token:
            h = best[i - 1]
            found.append(((e.replica, e.name),
                          f"{e.replica}/{e.name} (token {e.token}) appeared {(e.appeared_lo - h.appeared) * 1000:.1f} ms "
                          f"after {h.replica}/{h.name} of the higher token {h.token} "
                          f"(by {e.appeared_by} / {h.appeared_by})"))
    return found


# ---- checks on what was seen ---------------------------------------------------------


class Observations:
    """The suite's waits and checks (mixed into suite.Chaos)."""

    def wait_steady(self, timeout=GIVE_UP):
        """Waits until the cluster is quiet: three replicas alive, every
        ZooKeeper server serving, exactly one working leader (files), which is
        the one replica whose log says Leader, the others Attempter."""
        end = time.time() + timeout
        while time.time() < end:
            s = self.poller.steady(max(time.time() - STEADY_WINDOW - 0.5, getattr(self, "steady_after", 0)))
            if s and all(r.alive() for r in self.replicas) and self.zk.serving():
                states = {r.name: r.state() for r in self.replicas}
                if states[s[0]] == "Leader" and all(
                    st == "Attempter" for n, st in states.items() if n != s[0]
                ):
                    return s
            time.sleep(0.1)
        return None

    def wait_working(self, res, since, ref, exclude=None, what="working leader", deadline=DEADLINE):
        """Waits for a working leader whose files start at or after `since`;
        the time from `ref` to its first file must be within `deadline`
        (DEADLINE; None: the caller checks)."""
        end = ref + GIVE_UP
        while time.time() < end:
            s = self.poller.steady(since, exclude)
            if s:
                rep, tok, first = s
                took = max(0.0, first - ref)
                if deadline is not None and took > deadline:
                    res.missed.append(f"{what} after {took:.2f}s > {deadline:.1f}s")
                return rep, tok, took
            time.sleep(0.05)
        res.missed.append(f"no {what} after {GIVE_UP:.0f}s")
        return None

    def collect_log(self, res, r, offset, key=None):
        res.evidence[key or f"{r.name}.{r.incarnation} log"] = r.tail(60, offset)

    def wait_state(self, r, offset, predicate, timeout):
        end = time.time() + timeout
        while time.time() < end:
            tr = r.transitions(offset)
            if predicate(tr):
                return tr
            time.sleep(0.05)
        return None

    def check_left_leader(self, res, r, offset, want_to=None, want_reason=None, timeout=DEADLINE):
        def pred(tr):
            for _, d in tr:
                if d.get("from") == "Leader" and (want_to is None or d.get("to") == want_to):
                    if want_reason is None or want_reason in d.get("reason", ""):
                        return True
            return False

        tr = self.wait_state(r, offset, pred, timeout)
        if tr is None:
            res.failures.append(
                f"{r.name} logged no transition from Leader"
                + (f" to {want_to}" if want_to else "")
                + (f" with '{want_reason}'" if want_reason else "")
            )
            self.collect_log(res, r, offset)
        else:
            left = [d for _, d in tr if d.get("from") == "Leader"][0]
            res.notes[f"{r.name} left Leader"] = f"to={left.get('to')} reason={left.get('reason')}"

    def check_rejoined(self, res, r, offset, since, timeout=RECOVER_LIMIT):
        """After the heal the replica must end up a candidate again (Attempter,
        or Leader if it legitimately won again)."""
        end = since + timeout
        while time.time() < end:
            tr = r.transitions(offset)
            if r.alive() and tr and tr[-1][1].get("to") in ("Attempter", "Leader"):
                res.notes[f"{r.name} back to {tr[-1][1].get('to')} after heal"] = round(time.time() - since, 2)
                return
            time.sleep(0.05)
        res.failures.append(f"{r.name} not back to Attempter within {timeout:.0f}s of the heal (state {r.state()})")
        self.collect_log(res, r, offset)

    def verify(self, res):
        """`election verify` over the live directories (capacity checked) and
        over the archive of every file seen (the whole history). Violations not
        reported before count for this fault."""
        found = []
        names = [r.name for r in self.replicas]
        for base, cap in ((os.path.join(self.work, "files"), True), (os.path.join(self.work, "archive"), False)):
            # The archive holds copies, whose change times are the poller's: a verify
            # that judges by appearance is told so (one that does not, has no --copies).
            p, report = verify(self.binary, names, CAPACITY if cap else None,
                               copies=not cap and self.verify_knows_copies(), cwd=base)
            if report is not None:
                found += report.get("violations", [])
            else:
                found.append(f"verify ({'live' if cap else 'archive'}) exit {p.returncode}: "
                             f"{p.stdout.strip()[-300:]} {p.stderr.strip()[-300:]}")
        found += self.poller.anomalies
        for r in self.replicas:  # a file that is not an election file is never touched
            path = os.path.join(r.dir, FOREIGN)
            try:
                with open(path, "rb") as f:
                    intact = f.read() == FOREIGN_TEXT
            except OSError:
                intact = False
            if not intact:
                res.failures.append(f"foreign file {r.name}/{FOREIGN} changed or removed")
                with open(path, "wb") as f:
                    f.write(FOREIGN_TEXT)
        for v in found:
            if v not in self.seen_violations:
                self.seen_violations.add(v)
                res.violations.append(v)
        self.check_appearances(res)
        if res.violations or res.late:
            for r in self.replicas:
                res.evidence[f"{r.name} files"] = sorted(os.listdir(r.dir))

    def verify_knows_copies(self):
        """Whether this binary's `verify` has --copies (it judges by appearance)."""
        known = self.__dict__.get("verify_copies")
        if known is None:
            p = PROCS.run([self.binary, "verify", "--help"], timeout=30)
            known = self.__dict__["verify_copies"] = "--copies" in p.stdout + p.stderr
        return known

    def check_appearances(self, res):
        """Files that appeared after a file of a higher token (late_appearances)
        not reported before: into res.late, with the events as evidence."""
        reported = self.__dict__.setdefault("late_reported", set())
        events = None
        for key, msg in self.poller.late_appearances():
            if key in reported:
                continue
            reported.add(key)
            res.late.append(msg)
            events = events or {(e.replica, e.name): e for e in self.poller.snapshot()[0]}
            res.evidence.setdefault("late files", []).append(events[key].as_dict())

    def file_events(self, pred):
        events, _ = self.poller.snapshot()
        return [e for e in events if pred(e)]

    def noticed(self, r, offset, t_end):
        """When the old leader logged leaving Leader (the operator's delete
        happened just before; zkCli's JVM takes a while to exit), else t_end."""
        for _, d in r.transitions(offset):
            if d.get("from") == "Leader":
                t = parse_time(d.get("ts"))
                if t is not None:
                    return min(t, t_end)
        return t_end
