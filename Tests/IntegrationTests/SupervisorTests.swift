import Foundation
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// `election run -- CMD` with real child processes: the command runs only on the
/// leader, and is gone before any other replica may start its copy, also when the
/// daemon is killed or paused. Evidence comes from the children's own stamps.
@Suite(.serialized, .timeLimit(.minutes(5))) struct SupervisorTests {
    /// A command that stamps its start and its stop (on SIGTERM) into a shared log.
    struct Workload {
        let scratch: Scratch
        let stamps: String
        let script: String

        init(_ scratch: Scratch, ignoreTerm: Bool = false, body: String = "while :; do sleep 0.05; done") throws {
            self.scratch = scratch
            stamps = scratch.path + "/stamps"
            script = scratch.path + "/work-\(ignoreTerm ? "stubborn" : "polite").sh"
            let trap =
                ignoreTerm
                ? "trap '' TERM"
                : "trap 'echo \"stop $ELECTION_REPLICA_ID $ELECTION_FENCING_TOKEN $(date +%s%N)\" >> \(stamps); exit 0' TERM"
            let text = """
                #!/bin/sh
                echo "start $ELECTION_REPLICA_ID $ELECTION_FENCING_TOKEN $(date +%s%N) $ELECTION_FILE_DIR" >> \(stamps)
                \(trap)
                \(body)
                """
            try text.write(toFile: script, atomically: true, encoding: .utf8)
            chmod(script, 0o755)
        }

        /// `(kind, replica, token, ns)` for each stamp line.
        func lines() -> [(kind: String, replica: String, token: Int64, ns: Int64)] {
            ((try? String(contentsOfFile: stamps, encoding: .utf8)) ?? "").split(separator: "\n").compactMap {
                let p = $0.split(separator: " ")
                guard p.count >= 4, let token = Int64(p[2]), let ns = Int64(p[3]) else { return nil }
                return (String(p[0]), String(p[1]), token, ns)
            }
        }

        /// Shells running this workload's script, alive now (not the daemons, whose
        /// command lines name the script too).
        func alive() -> Int {
            let out = (try? runProcess("/usr/bin/pgrep", ["-f", "^/bin/sh " + script]))?.stdout ?? ""
            return out.split(separator: "\n").count
        }
    }

    func replica(
        _ id: String, _ scratch: Scratch, _ zk: ZooKeeperServer, _ work: Workload, session: String = "4s",
        extra: [String] = []
    ) throws -> Replica {
        try Replica(
            id: id, scratch: scratch, servers: zk.connectString, sessionTimeout: session,
            extra: ["--exec-stop-timeout", "1s"] + extra + ["--", work.script])
    }

    @Test func theCommandRunsOnlyOnTheLeaderAndStopsBeforeTheNextStarts() async throws {
        let scratch = try Scratch()
        let zk = try ZooKeeperServer(in: scratch)
        try await zk.start()
        let work = try Workload(scratch)
        let replicas = try (1...2).map { try replica("w\($0)", scratch, zk, work) }
        try await eventually(within: .seconds(20), "the leader's command started") {
            work.lines().filter { $0.kind == "start" }.count == 1
        }
        let first = try #require(work.lines().first)
        let leader = try #require(replicas.first { $0.id == first.replica })
        #expect(leader.state == "Leader")
        try await eventually(within: .seconds(10), "the leader's first file") {
            !electionFiles(in: leader.fileDir).isEmpty
        }
        #expect(try #require(electionFiles(in: leader.fileDir).last).token == first.token)
        try await Task.sleep(for: .milliseconds(500))
        #expect(work.alive() == 1, "one command on one replica")
        leader.signal(SIGTERM)
        try await eventually(within: .seconds(10), "the next leader's command started") {
            work.lines().filter { $0.kind == "start" }.count == 2
        }
        let lines = work.lines()
        let stop = try #require(lines.first { $0.kind == "stop" })
        let second = lines.filter { $0.kind == "start" }[1]
        #expect(stop.replica == first.replica && second.replica != first.replica)
        #expect(stop.ns < second.ns, "the old command stopped before the new one started")
        #expect(second.token > first.token)
        #expect(await leader.waitForExit(within: .seconds(5)) == 0)
        for r in replicas where r.isRunning { r.signal(SIGTERM) }
        for r in replicas { _ = await r.waitForExit(within: .seconds(5)) }
        #expect(work.alive() == 0, "no command outlives its daemon")
        await zk.stop()
    }

    /// A command that cannot be started is an exit (127), so `--on-exit resign` hands
    /// the work to a replica that can run it; it used to keep leadership with nothing
    /// running, for ever.
    @Test func aCommandThatCannotStartIsAnExitAndAnotherReplicaTakesOver() async throws {
        let scratch = try Scratch()
        let zk = try ZooKeeperServer(in: scratch)
        try await zk.start()
        let work = try Workload(scratch)
        // The broken replica's command exists at start-up (it passes the check) and is
        // gone when its turn comes.
        let doomed = scratch.path + "/doomed.sh"
        try "#!/bin/sh\nexec \(work.script)\n".write(toFile: doomed, atomically: true, encoding: .utf8)
        chmod(doomed, 0o755)
        let first = try replica("f1", scratch, zk, work)
        try await eventually(within: .seconds(20), "the first leader's command started") {
            work.lines().contains { $0.kind == "start" && $0.replica == "f1" }
        }
        let broken = try Replica(
            id: "b2", scratch: scratch, servers: zk.connectString, extra: ["--exec-stop-timeout", "1s", "--", doomed])
        try await eventually(within: .seconds(10), "the broken replica queues") { broken.state == "Attempter" }
        let good = try replica("g3", scratch, zk, work)
        try await eventually(within: .seconds(10), "the good replica queues") { good.state == "Attempter" }
        try FileManager.default.removeItem(atPath: doomed)
        first.signal(SIGTERM)
        try await eventually(within: .seconds(15), "the good replica runs the command") {
            work.lines().contains { $0.kind == "start" && $0.replica == "g3" }
        }
        let failure = broken.log.split(separator: "\n").first { $0.contains("cannot start the command") }
        #expect(
            failure?.contains("No such file or directory") == true, "errno in words: \(String(describing: failure))")
        #expect(failure?.contains("status=127") == true)
        #expect(broken.log.contains("code=command_exited"), "the failed start was handled as an exit")
        #expect(!work.lines().contains { $0.replica == "b2" })
        for replica in [first, broken, good] where replica.isRunning { replica.signal(SIGTERM) }
        for replica in [first, broken, good] { _ = await replica.waitForExit(within: .seconds(5)) }
        await zk.stop()
    }

    /// The pid of the watchdog process the daemon `daemon` started for its command.
    func watchdog(of daemon: Replica) throws -> Int32? {
        let found = try runProcess("/usr/bin/pgrep", ["-P", "\(daemon.pid)", "-f", "watchdog --stop-timeout"])
        return found.stdout.split(separator: "\n").first.flatMap { Int32($0) }
    }

    /// The command never runs without its watchdog: a watchdog that is killed or
    /// stopped (the OOM killer, an operator) gets the command killed at once, and
    /// the leader hands over (--on-exit resign). Before, the command ran on
    /// unguarded, and a stopped watchdog would in time block the daemon's writes.
    @Test(arguments: [SIGKILL, SIGSTOP])
    func aLostWatchdogGetsTheCommandKilledAndTheLeaderHandsOver(signal: Int32) async throws {
        let scratch = try Scratch()
        let zk = try ZooKeeperServer(in: scratch)
        try await zk.start()
        let work = try Workload(scratch)
        let replicas = try (1...2).map { try replica("g\($0)", scratch, zk, work) }
        try await eventually(within: .seconds(20), "the leader's command started") {
            work.lines().filter { $0.kind == "start" }.count == 1
        }
        let first = try #require(work.lines().first)
        let leader = try #require(replicas.first { $0.id == first.replica })
        let guardian = try #require(try watchdog(of: leader), "the watchdog process")
        kill(guardian, signal)
        try await eventually(within: .seconds(10), "the other replica runs the command") {
            work.lines().contains { $0.kind == "start" && $0.replica != leader.id }
        }
        #expect(work.alive() == 1, "one command, the new leader's")
        #expect(leader.log.contains("it never runs unguarded"))
        #expect(kill(guardian, 0) != 0 || errno == ESRCH, "the lost watchdog is gone too")
        for replica in replicas { replica.signal(SIGTERM) }
        for replica in replicas { _ = await replica.waitForExit(within: .seconds(10)) }
        await zk.stop()
    }

    /// A daemon killed and restarted at once (supervisord, a shell loop, `docker
    /// restart`) resumes its session only once its old command is gone: the watchdog
    /// holds the state file's lock until then. Before, an old command that ignores
    /// SIGTERM ran beside the new one for up to the stop timeout, with the same token.
    @Test func aDaemonRestartedAtOnceStartsItsCommandOnlyAfterTheOldOneIsGone() async throws {
        let scratch = try Scratch()
        let zk = try ZooKeeperServer(in: scratch)
        try await zk.start()
        let beats = scratch.path + "/beats"
        let script = scratch.path + "/stubborn-beats.sh"
        try """
        #!/bin/sh
        trap '' TERM
        while :; do echo "$$ $(date +%s%N)" >> \(beats); sleep 0.02; done
        """.write(toFile: script, atomically: true, encoding: .utf8)
        chmod(script, 0o755)
        let dir = scratch.path + "/files-r1"
        let arguments = ["--exec-stop-timeout", "1500ms", "--", script]
        func lines() -> [(pid: String, ns: Int64)] {
            ((try? String(contentsOfFile: beats, encoding: .utf8)) ?? "").split(separator: "\n").compactMap {
                let parts = $0.split(separator: " ")
                guard parts.count == 2, let ns = Int64(parts[1]) else { return nil }
                return (String(parts[0]), ns)
            }
        }
        let first = try Replica(id: "r1", scratch: scratch, servers: zk.connectString, fileDir: dir, extra: arguments)
        try await eventually(within: .seconds(20), "the first command beats") { lines().count >= 3 }
        first.signal(SIGKILL)
        let second = try Replica(
            id: "r1", scratch: scratch, servers: zk.connectString, fileDir: dir, extra: arguments, instance: 2)
        try await eventually(within: .seconds(15), "the restarted daemon's command beats") {
            Set(lines().map(\.pid)).count == 2
        }
        try await Task.sleep(for: .milliseconds(300))
        let all = lines()
        let old = try #require(all.first?.pid)
        let lastOld = try #require(all.filter { $0.pid == old }.map(\.ns).max())
        let firstNew = try #require(all.filter { $0.pid != old }.map(\.ns).min())
        #expect(lastOld < firstNew, "the old command beat \(Double(lastOld - firstNew) / 1e6) ms into the new one")
        // The guardian closed the old session before it let go of the lock: the
        // restarted daemon starts a new one instead of resuming.
        #expect(first.log.contains("closed the daemon's ZooKeeper session"))
        second.signal(SIGTERM)
        #expect(await second.waitForExit(within: .seconds(10)) == 0)
        await zk.stop()
    }

    /// The leader's candidate deleted from outside while its command ignores SIGTERM:
    /// the next replica leads at once (its files go on), but starts its command only
    /// when the old one is gone, which the old leader says by removing its shadow.
    /// Before, the two commands overlapped for up to the stop timeout (1.44 s measured).
    @Test func anOutsideDeleteOfTheLeadersZnodeNeverRunsTwoCommands() async throws {
        let scratch = try Scratch()
        let zk = try ZooKeeperServer(in: scratch)
        try await zk.start()
        let beats = scratch.path + "/beats"
        let script = scratch.path + "/stubborn-beats.sh"
        try """
        #!/bin/sh
        trap '' TERM
        while :; do echo "$ELECTION_REPLICA_ID $(date +%s%N)" >> \(beats); sleep 0.02; done
        """.write(toFile: script, atomically: true, encoding: .utf8)
        chmod(script, 0o755)
        func lines() -> [(replica: String, ns: Int64)] {
            ((try? String(contentsOfFile: beats, encoding: .utf8)) ?? "").split(separator: "\n").compactMap {
                let parts = $0.split(separator: " ")
                guard parts.count == 2, let ns = Int64(parts[1]) else { return nil }
                return (String(parts[0]), ns)
            }
        }
        let arguments = ["--exec-stop-timeout", "1500ms", "--", script]
        let first = try Replica(id: "d1", scratch: scratch, servers: zk.connectString, extra: arguments)
        try await eventually(within: .seconds(20), "d1's command beats") { lines().count >= 3 }
        let second = try Replica(id: "d2", scratch: scratch, servers: zk.connectString, extra: arguments)
        try await eventually(within: .seconds(10), "d2 waits") { second.state == "Attempter" }
        let znode = try #require(
            first.log.split(separator: "\n").last { $0.contains("msg=leading") }?
                .split(separator: " ").first { $0.hasPrefix("znode=") }?.dropFirst("znode=".count))
        let admin = try await AdminClient.connect(zk.connectString)
        try await admin.delete(String(znode))
        await admin.close()
        try await eventually(within: .seconds(15), "d2's command beats") { lines().contains { $0.replica == "d2" } }
        try await Task.sleep(for: .milliseconds(300))
        let all = lines()
        let lastOld = try #require(all.filter { $0.replica == "d1" }.map(\.ns).max())
        let firstNew = try #require(all.filter { $0.replica == "d2" }.map(\.ns).min())
        #expect(lastOld < firstNew, "d1's command beat \(Double(lastOld - firstNew) / 1e6) ms into d2's")
        #expect(second.log.contains("this term begins when it is gone"), "d2 waited for the orphan shadow")
        for r in [first, second] { r.signal(SIGTERM) }
        for r in [first, second] { _ = await r.waitForExit(within: .seconds(10)) }
        await zk.stop()
    }

    /// The daemon and its watchdog killed together (`pkill -9 election`, the OOM
    /// killer taking both): the watchdog started the command with a death signal, so
    /// the command dies with it instead of running beside the next leader's for ever.
    @Test func aCommandDiesWhenItsDaemonAndWatchdogAreKilledTogether() async throws {
        let scratch = try Scratch()
        let zk = try ZooKeeperServer(in: scratch)
        try await zk.start()
        let work = try Workload(scratch, ignoreTerm: true)
        let r = try replica("w1", scratch, zk, work)
        try await eventually(within: .seconds(20), "the command runs") { work.alive() >= 1 }
        try await eventually(within: .seconds(5), "the watchdog runs") { r.guardian != nil }
        r.killWithGuardian()
        try await eventually(within: .seconds(3), "the command died with its watchdog") { work.alive() == 0 }
        await zk.stop()
    }

    @Test func aKilledDaemonsCommandDiesWithIt() async throws {
        let scratch = try Scratch()
        let zk = try ZooKeeperServer(in: scratch)
        try await zk.start()
        let work = try Workload(scratch, body: "sleep 1000 | sleep 1000 & wait")  // grandchildren too
        let r = try replica("k1", scratch, zk, work)
        try await eventually(within: .seconds(20), "the command runs") { work.alive() >= 1 }
        r.signal(SIGKILL)
        let killed = ContinuousClock.now
        try await eventually(within: .seconds(5), "the watchdog stops the command's group") {
            (try? runProcess("/usr/bin/pgrep", ["-f", "sleep 1000"]))?.stdout.isEmpty ?? true
                && work.alive() == 0
        }
        #expect(ContinuousClock.now - killed < .seconds(3))
        await zk.stop()
    }

    /// The daemon alone is paused past the session timeout: the watchdog stops the
    /// command when the lease lapses, before the session expires and before the
    /// other replica's copy starts.
    @Test func aPausedDaemonsCommandIsStoppedBeforeAnotherStarts() async throws {
        let scratch = try Scratch()
        let zk = try ZooKeeperServer(in: scratch)
        try await zk.start()
        let work = try Workload(scratch)
        let first = try replica("p1", scratch, zk, work)
        try await eventually(within: .seconds(20), "p1 leads with its command") {
            work.lines().contains { $0.kind == "start" && $0.replica == "p1" }
        }
        let second = try replica("p2", scratch, zk, work)
        try await eventually(within: .seconds(10), "p2 waits") { second.state == "Attempter" }
        first.signal(SIGSTOP)
        defer { first.signal(SIGCONT) }
        try await eventually(within: .seconds(15), "p2 takes over and starts its command") {
            work.lines().contains { $0.kind == "start" && $0.replica == "p2" }
        }
        let lines = work.lines()
        let stop = try #require(lines.first { $0.kind == "stop" && $0.replica == "p1" }, "\(lines)")
        let start = try #require(lines.first { $0.kind == "start" && $0.replica == "p2" })
        #expect(stop.ns < start.ns, "p1's command was stopped before p2's started")
        first.signal(SIGCONT)
        try await eventually(within: .seconds(10), "p1 notices it lost the session") { first.state != "Leader" }
        #expect(work.alive() == 1)
        for r in [first, second] { r.signal(SIGTERM) }
        for r in [first, second] { _ = await r.waitForExit(within: .seconds(5)) }
        await zk.stop()
    }

    @Test func aCommandThatIgnoresSigtermIsKilledAfterTheStopTimeout() async throws {
        let scratch = try Scratch()
        let zk = try ZooKeeperServer(in: scratch)
        try await zk.start()
        let work = try Workload(scratch, ignoreTerm: true)
        let r = try replica("s1", scratch, zk, work)
        try await eventually(within: .seconds(20), "the command runs") { work.alive() == 1 }
        r.signal(SIGTERM)
        let sent = ContinuousClock.now
        #expect(await r.waitForExit(within: .seconds(6)) == 0)
        let took = ContinuousClock.now - sent
        #expect(work.alive() == 0)
        #expect(took >= .milliseconds(900) && took < .seconds(4), "SIGKILL after --exec-stop-timeout 1s: \(took)")
        #expect(r.log.contains("killing its process group"))
        await zk.stop()
    }

    /// A command that fails at once makes its replica resign with a backoff that
    /// grows: no churn of leaders.
    @Test func aCommandThatExitsAtOnceDoesNotChurn() async throws {
        let scratch = try Scratch()
        let zk = try ZooKeeperServer(in: scratch)
        try await zk.start()
        let work = try Workload(scratch, body: "exit 1")
        let replicas = try (1...2).map { try replica("e\($0)", scratch, zk, work) }
        try await Task.sleep(for: .seconds(12))
        let starts = work.lines().filter { $0.kind == "start" }.count
        #expect(starts >= 2, "the command was started")
        // Each replica backs off 0.5–1 s, 1–2 s, 2–4 s, 4–8 s after its quick exits in a row.
        #expect(starts <= 10, "two replicas in 12 s with growing backoff, saw \(starts) starts")
        #expect(replicas.allSatisfy { $0.isRunning })
        #expect(replicas.contains { $0.log.contains("code=command_exited") })
        for r in replicas { r.signal(SIGTERM) }
        for r in replicas { _ = await r.waitForExit(within: .seconds(5)) }
        await zk.stop()
    }

    @Test func onExitRestartAndExitAndTheTransitionHook() async throws {
        let scratch = try Scratch()
        let zk = try ZooKeeperServer(in: scratch)
        try await zk.start()
        let hookLog = scratch.path + "/hook"
        let work = try Workload(scratch, body: "sleep 0.2; exit 3")
        let restarting = try replica(
            "x1", scratch, zk, work,
            extra: ["--on-exit", "restart", "--on-transition", "echo \"$1>$2 $3\" >> \(hookLog)"])
        try await eventually(within: .seconds(20), "restarted while still leading") {
            work.lines().filter { $0.kind == "start" && $0.replica == "x1" }.count >= 3
        }
        #expect(restarting.state == "Leader")
        #expect(Set(work.lines().map(\.token)).count == 1, "the same term throughout")
        restarting.signal(SIGTERM)
        #expect(await restarting.waitForExit(within: .seconds(5)) == 0)
        let hooks = (try? String(contentsOfFile: hookLog, encoding: .utf8)) ?? ""
        #expect(hooks.contains("Init>Attempter"))
        #expect(hooks.contains("Attempter>Leader "), "\(hooks)")
        #expect(hooks.contains("Leader>Stopping"))

        let exiting = try replica("x2", scratch, zk, work, extra: ["--on-exit", "exit"])
        #expect(await exiting.waitForExit(within: .seconds(20)) == 3, "the daemon exits with the command's status")
        await zk.stop()
    }

    /// The command gets its documented variables and the user's environment, not
    /// the daemon's plumbing (systemd's notify socket and watchdog, ELECTION_* settings).
    @Test func theCommandInheritsNothingOfTheDaemonsPlumbing() async throws {
        let scratch = try Scratch()
        let zk = try ZooKeeperServer(in: scratch)
        try await zk.start()
        let seen = scratch.path + "/env.out"
        let replica = try Replica(
            id: "e1", scratch: scratch, servers: zk.connectString,
            extra: [
                "--exec-stop-timeout", "1s", "--", "/bin/sh", "-c",
                "env > \(seen).tmp; mv \(seen).tmp \(seen); exec sleep 100",
            ],
            environment: [
                "NOTIFY_SOCKET": scratch.path + "/none.sock", "WATCHDOG_PID": "1", "WATCHDOG_USEC": "10000000",
                "ELECTION_LOG_FORMAT": "text", "USER_SETTING": "kept",
            ])
        try await eventually(within: .seconds(20), "the command wrote its environment") {
            FileManager.default.fileExists(atPath: seen)
        }
        let names = Set(
            try String(contentsOfFile: seen, encoding: .utf8).split(separator: "\n").map {
                String($0.prefix { $0 != "=" })
            })
        for plumbing in ["NOTIFY_SOCKET", "WATCHDOG_PID", "WATCHDOG_USEC", "ELECTION_LOG_FORMAT"] {
            #expect(!names.contains(plumbing), "\(plumbing) is the daemon's, not the command's")
        }
        for documented in [
            "ELECTION_FENCING_TOKEN", "ELECTION_REPLICA_ID", "ELECTION_LEADER_SINCE", "ELECTION_FILE_DIR",
            "USER_SETTING",
        ] {
            #expect(names.contains(documented), "\(documented) reaches the command")
        }
        replica.signal(SIGTERM)
        #expect(await replica.waitForExit(within: .seconds(10)) == 0)
        await zk.stop()
    }

    /// `--file-dir ''`: a replica whose work is only its command writes no file,
    /// anywhere, and its command still runs only while it leads.
    @Test func withoutAFileDirTheCommandRunsAndNoFileIsWritten() async throws {
        let scratch = try Scratch()
        let zk = try ZooKeeperServer(in: scratch)
        try await zk.start()
        let work = try Workload(scratch)
        let replica = try Replica(
            id: "n1", scratch: scratch, servers: zk.connectString, fileDir: "",
            extra: ["--exec-stop-timeout", "1s", "--", work.script])
        try await eventually(within: .seconds(20), "the command started") {
            work.lines().contains { $0.kind == "start" }
        }
        try await Task.sleep(for: .seconds(1))
        #expect(replica.state == "Leader")
        let cwd = FileManager.default.currentDirectoryPath
        #expect(electionFiles(in: cwd).isEmpty, "nothing in the working directory")
        let written = try FileManager.default.subpathsOfDirectory(atPath: scratch.path).filter {
            $0.contains("election-") || $0.contains(".election-session")
        }
        #expect(written.isEmpty, "no file and no state file: \(written)")
        replica.signal(SIGTERM)
        #expect(await replica.waitForExit(within: .seconds(5)) == 0)
        #expect(work.alive() == 0)
        await zk.stop()
    }

    /// A slow hook delays no other edge's hook; at stop the Leader->Stopping hook
    /// runs, with the ending term's token, and no hook outlives the daemon.
    @Test func hooksDoNotWaitForEachOtherAndTheStopHookRuns() async throws {
        let scratch = try Scratch()
        let zk = try ZooKeeperServer(in: scratch)
        try await zk.start()
        let hookLog = scratch.path + "/hook"
        let script = scratch.path + "/hook.sh"
        try """
        #!/bin/sh
        echo "$1>$2 $3 $(date +%s%N)" >> \(hookLog)
        [ "$2" = Attempter ] && exec sleep 31.7
        exit 0
        """.write(toFile: script, atomically: true, encoding: .utf8)
        chmod(script, 0o755)
        let replica = try Replica(
            id: "k1", scratch: scratch, servers: zk.connectString, extra: ["--on-transition", script + " \"$@\""])
        func hooks() -> [String] {
            ((try? String(contentsOfFile: hookLog, encoding: .utf8)) ?? "").split(separator: "\n").map(String.init)
        }
        try await eventually(within: .seconds(10), "the Leader hook ran while the Init hook sleeps") {
            hooks().contains { $0.hasPrefix("Attempter>Leader ") }
        }
        let token = try #require(hooks().first { $0.hasPrefix("Attempter>Leader ") }?.split(separator: " ")[1])
        replica.signal(SIGTERM)
        #expect(await replica.waitForExit(within: .seconds(10)) == 0)
        let stop = hooks().first { $0.hasPrefix("Leader>Stopping ") }
        #expect(stop != nil, "the Leader->Stopping hook ran before the exit: \(hooks())")
        #expect(stop?.split(separator: " ")[1] == token, "the ending term's token: \(String(describing: stop))")
        let left = try runProcess("/usr/bin/pgrep", ["-f", "sleep 31.7"])
        #expect(left.stdout.isEmpty, "no hook outlives the daemon: \(left.stdout)")
        await zk.stop()
    }

    @Test func resignHandsOverAfterTheCommandStopped() async throws {
        let scratch = try Scratch()
        let zk = try ZooKeeperServer(in: scratch)
        try await zk.start()
        let work = try Workload(scratch)
        let replicas = try (1...2).map { try replica("r\($0)", scratch, zk, work) }
        try await eventually(within: .seconds(20), "a command runs") {
            work.lines().filter { $0.kind == "start" }.count == 1
        }
        let old = try #require(work.lines().first).replica
        let result = try runProcess(electionBinary, ["resign", "--zk-servers", zk.connectString, "--wait", "15s"])
        #expect(result.status == 0, "\(result.stdout) \(result.stderr)")
        #expect(result.stdout.contains("leads now"))
        try await eventually(within: .seconds(5), "the new leader's command started") {
            work.lines().filter { $0.kind == "start" }.count == 2
        }
        let lines = work.lines()
        let stop = try #require(lines.first { $0.kind == "stop" && $0.replica == old })
        let start = lines.filter { $0.kind == "start" }[1]
        #expect(start.replica != old && stop.ns < start.ns)
        #expect(replicas.allSatisfy { $0.isRunning }, "the old leader rejoins, it does not exit")
        for r in replicas { r.signal(SIGTERM) }
        for r in replicas { _ = await r.waitForExit(within: .seconds(5)) }
        let none = try runProcess(electionBinary, ["resign", "--zk-servers", zk.connectString])
        #expect(none.status == 2)
        await zk.stop()
    }

    /// A replica that does not lead keeps its command's watchdog started ahead
    /// (a spare), so that a handover waits only for the fork of the command. The
    /// spare goes with its daemon, and one that is lost is replaced at the start.
    @Test func aSpareWatchdogWaitsOnAFollowerGoesWithItAndIsReplacedWhenLost() async throws {
        let scratch = try Scratch()
        let zk = try ZooKeeperServer(in: scratch)
        try await zk.start()
        let work = try Workload(scratch)
        let replicas = try (1...2).map { try replica("s\($0)", scratch, zk, work) }
        try await eventually(within: .seconds(20), "a command runs") {
            work.lines().filter { $0.kind == "start" }.count == 1
        }
        let leader = try #require(replicas.first { $0.id == work.lines().first?.replica })
        let follower = try #require(replicas.first { $0.id != leader.id })
        var spare: Int32? = nil
        try await eventually(within: .seconds(5), "the follower's spare watchdog") {
            spare = try watchdog(of: follower)
            return spare != nil
        }
        let lost = try #require(spare)
        kill(lost, SIGKILL)
        try await eventually(within: .seconds(5), "the lost spare reaped") { try watchdog(of: follower) != lost }
        let result = try runProcess(electionBinary, ["resign", "--zk-servers", zk.connectString, "--wait", "15s"])
        #expect(result.status == 0, "\(result.stdout) \(result.stderr)")
        try await eventually(within: .seconds(5), "the follower's command started") {
            work.lines().contains { $0.kind == "start" && $0.replica == follower.id }
        }
        #expect(!follower.log.contains("level=error"), "a lost spare is no failure: \(follower.log)")
        // The old leader now waits with a spare of its own, which goes with it.
        var second: Int32? = nil
        try await eventually(within: .seconds(5), "the old leader's spare watchdog") {
            second = try watchdog(of: leader)
            return second != nil
        }
        let orphan = try #require(second)
        leader.signal(SIGKILL)
        _ = await leader.waitForExit(within: .seconds(5))
        try await eventually(within: .seconds(5), "the spare gone with its daemon") { !Self.isLive(orphan) }
        #expect(work.alive() == 1, "one command, the new leader's")
        follower.signal(SIGTERM)
        _ = await follower.waitForExit(within: .seconds(5))
        await zk.stop()
    }

    /// True while `pid` runs (a zombie does not).
    static func isLive(_ pid: Int32) -> Bool {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
            let close = stat.lastIndex(of: ")")
        else { return false }
        return !stat[close...].hasPrefix(") Z")
    }

    /// The rule is checked again against what the server granted: a stock server
    /// caps the session timeout (here at 4 s), and a stop timeout that fits the 7 s
    /// asked for but not the 4 s granted used to get every start SIGTERMed at once.
    @Test func aStopTimeoutThatDoesNotFitTheGrantedSessionEndsTheDaemon() async throws {
        let scratch = try Scratch()
        let zk = try ZooKeeperServer(in: scratch, maxSessionTimeout: 4000)
        try await zk.start()
        let work = try Workload(scratch)
        let capped = try Replica(
            id: "c1", scratch: scratch, servers: zk.connectString, sessionTimeout: "7s",
            extra: ["--exec-stop-timeout", "2s", "--", work.script])
        #expect(await capped.waitForExit(within: .seconds(15)) == 64)
        let lines = capped.log.split(separator: "\n")
        #expect(lines.contains { $0.contains("granted") && $0.contains("level=info") && $0.contains("granted=4s") })
        let fatal = lines.filter { $0.contains("level=critical") }
        #expect(fatal.count == 1, "one line: \(fatal)")
        #expect(fatal.first?.contains("granted a session timeout of 4s") == true)
        #expect(fatal.first?.contains("ELECTION_EXEC_STOP_TIMEOUT") == true)
        #expect(work.lines().isEmpty, "the command never started")
        await zk.stop()
    }

    /// A resign that gives up (75) takes its request back: a paused leader used to
    /// resign whenever it resumed, long after the operator was told it had not.
    @Test func aResignThatTimesOutIsWithdrawn() async throws {
        let scratch = try Scratch()
        let zk = try ZooKeeperServer(in: scratch)
        try await zk.start()
        let leader = try Replica(id: "l1", scratch: scratch, servers: zk.connectString, sessionTimeout: "10s")
        try await eventually(within: .seconds(20), "it leads") { leader.state == "Leader" }
        let follower = try Replica(id: "f2", scratch: scratch, servers: zk.connectString, sessionTimeout: "10s")
        try await eventually(within: .seconds(10), "the follower queues") { follower.state == "Attempter" }
        leader.signal(SIGSTOP)
        let resign = try runProcess(electionBinary, ["resign", "--zk-servers", zk.connectString, "--wait", "2s"])
        leader.signal(SIGCONT)
        #expect(resign.status == 75, "\(resign.stdout)\(resign.stderr)")
        #expect(resign.stdout.contains("the request is withdrawn"), "\(resign.stdout)")
        try await Task.sleep(for: .seconds(3))
        #expect(leader.state == "Leader", "the resumed leader does not resign on a withdrawn request")
        #expect(!leader.log.contains("resign requested through ZooKeeper"))
        for replica in [leader, follower] { replica.signal(SIGTERM) }
        for replica in [leader, follower] { _ = await replica.waitForExit(within: .seconds(5)) }
        await zk.stop()
    }

    @Test func aStopTimeoutThatDoesNotFitTheSessionIsRefused() throws {
        let result = try runProcess(
            electionBinary,
            [
                "run", "--zk-servers", "127.0.0.1:1", "--session-timeout", "4s", "--exec-stop-timeout", "3s", "--",
                "true",
            ])
        #expect(result.status == 64)
        #expect(result.stderr.contains("--exec-stop-timeout") && result.stderr.contains("ELECTION_SESSION_TIMEOUT"))
    }
}
