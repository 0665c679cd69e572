import Foundation
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// Faults that only a real server and real processes show: a frozen ZooKeeper and
/// a frozen leader.
@Suite(.serialized, .timeLimit(.minutes(5))) struct FaultTests {
    @Test func sessionLostOnTheDaemonsOwnClockIsReplacedByANewOne() async throws {
        let scratch = try Scratch()
        let zk = try ZooKeeperServer(in: scratch)
        try await zk.start()
        let replica = try Replica(id: "solo", scratch: scratch, servers: zk.connectString, sessionTimeout: "2s")
        defer { replica.signal(SIGKILL) }
        try await eventually(within: .seconds(10), "leads") {
            replica.state == "Leader" && !electionFiles(in: replica.fileDir).isEmpty
        }
        let token = try #require(electionFiles(in: replica.fileDir).last?.token)
        zk.pause()
        // The C client stays CONNECTING and never says EXPIRED while the server is
        // frozen: the daemon must decide on its own clock.
        // Either way it gives the session up on its own clock: as lost (Failover's
        // transition; its warning is at debug once the lease trouble has counted a
        // failure), or by stepping down (the lease not kept for a session timeout).
        try await eventually(within: .seconds(10), "the daemon gives up the old session") {
            replica.log.contains("code=session_lost")
                || replica.log.contains("stepping down: the lease could not be kept")
        }
        let frozen = electionFiles(in: replica.fileDir).last
        zk.resume()
        try await eventually(within: .seconds(20), "it leads again on a new session with a higher token") {
            (electionFiles(in: replica.fileDir).last?.token ?? 0) > token
        }
        let files = electionFiles(in: replica.fileDir)
        #expect(files.filter { $0.token == token }.last == frozen, "no old-token write after the session was given up")
        replica.signal(SIGTERM)
        #expect(await replica.waitForExit(within: .seconds(10)) == 0)
        await zk.stop()
    }

    @Test func pausedLeaderWakesUpAndWritesNothing() async throws {
        let scratch = try Scratch()
        let zk = try ZooKeeperServer(in: scratch)
        try await zk.start()
        // Each replica has its own directory, so no fencing by a newer file can hide
        // a zombie write: only the leader's own liveness check stands in the way.
        let replicas = try (1...3).map {
            try Replica(
                id: "p\($0)", scratch: scratch, servers: zk.connectString, leaderTimeout: "100ms",
                sessionTimeout: "2s")
        }
        defer { for r in replicas { r.signal(SIGCONT); r.signal(SIGKILL) } }
        try await eventually(within: .seconds(15), "one leads") {
            replicas.filter { $0.state == "Leader" && !electionFiles(in: $0.fileDir).isEmpty }.count == 1
        }
        let old = try #require(replicas.first { $0.state == "Leader" })
        old.signal(SIGSTOP)
        let before = electionFiles(in: old.fileDir).last
        try await eventually(within: .seconds(10), "another replica leads while the old one is frozen") {
            replicas.contains { $0 !== old && $0.state == "Leader" && !electionFiles(in: $0.fileDir).isEmpty }
        }
        try await Task.sleep(for: .seconds(2))  // paused 2× the session timeout in all
        old.signal(SIGCONT)
        try await eventually(within: .seconds(10), "the resumed process notices it lost leadership") {
            old.log.components(separatedBy: "\n").last { $0.contains("msg=transition") && $0.contains("from=Leader") }
                != nil
        }
        try await Task.sleep(for: .seconds(1))
        #expect(electionFiles(in: old.fileDir).last == before, "zombie write after SIGCONT")
        let verdict = try verify(replicas.map(\.fileDir), capacity: 5)
        #expect(verdict.status == 0, "election verify: \(verdict.output)")
        try await eventually(within: .seconds(15), "it rejoins as a candidate") { old.state == "Attempter" }
        #expect(
            replicas.filter { $0.state == "Leader" }.count == 1, "exactly one leader after the pause")
        for r in replicas { r.signal(SIGTERM) }
        for r in replicas { #expect(await r.waitForExit(within: .seconds(10)) == 0) }
        await zk.stop()
    }

    @Test func stopsWithinSecondsAgainstAFrozenServerAndASecondSignalExitsAtOnce() async throws {
        let scratch = try Scratch()
        let zk = try ZooKeeperServer(in: scratch)
        try await zk.start()
        defer { zk.resume() }
        let patient = try Replica(id: "patient", scratch: scratch, servers: zk.connectString)
        let hasty = try Replica(id: "hasty", scratch: scratch, servers: zk.connectString)
        defer { for r in [patient, hasty] { r.signal(SIGKILL) } }
        try await eventually(within: .seconds(10), "both joined") {
            patient.state != nil && hasty.state != nil && [patient.state, hasty.state].contains("Leader")
        }
        zk.pause()
        let stopped = ContinuousClock.now
        patient.signal(SIGTERM)
        hasty.signal(SIGTERM)
        try await Task.sleep(for: .milliseconds(100))
        hasty.signal(SIGTERM)
        #expect(await hasty.waitForExit(within: .seconds(1)) == 128 + SIGTERM, "second signal exits at once")
        #expect(await patient.waitForExit(within: .seconds(8)) == 0, "one signal: a clean stop, even so")
        #expect(ContinuousClock.now - stopped < .seconds(8))
        zk.resume()
        await zk.stop()
    }

    @Test(.enabled(if: getuid() == 0, "bind-mounting the file-dir read-only needs root"))
    func readOnlyFileDirMakesTheLeaderStepDownAndRecoverWhenHealed() async throws {
        let scratch = try Scratch()
        let zk = try ZooKeeperServer(in: scratch)
        try await zk.start()
        let replicas = try ["ro1", "ro2"].map {
            try Replica(id: $0, scratch: scratch, servers: zk.connectString, sessionTimeout: "2s")
        }
        defer { for r in replicas { r.signal(SIGKILL) } }
        try await eventually(within: .seconds(10), "one leads") {
            replicas.contains { $0.state == "Leader" && !electionFiles(in: $0.fileDir).isEmpty }
        }
        let old = try #require(replicas.first { $0.state == "Leader" })
        let other = try #require(replicas.first { $0 !== old })
        try run("/bin/mount", "--bind", old.fileDir, old.fileDir)
        defer { try? run("/bin/umount", old.fileDir) }
        try run("/bin/mount", "-o", "remount,ro,bind", old.fileDir)
        let before = electionFiles(in: old.fileDir)
        try await eventually(within: .seconds(10), "the healthy replica takes over") {
            other.state == "Leader" && !electionFiles(in: other.fileDir).isEmpty
        }
        #expect(old.log.contains("leadership released"))
        #expect(old.log.contains("Read-only file system"))
        #expect(electionFiles(in: old.fileDir) == before)
        try run("/bin/umount", old.fileDir)
        try await eventually(within: .seconds(15), "the healed replica competes again") { old.state == "Attempter" }
        #expect(replicas.filter { $0.state == "Leader" }.count == 1)
        for r in replicas { r.signal(SIGTERM) }
        for r in replicas { #expect(await r.waitForExit(within: .seconds(10)) == 0) }
        await zk.stop()
    }
}

/// Runs a system command; throws when it fails.
func run(_ executable: String, _ arguments: String...) throws {
    let result = try runProcess(executable, arguments)
    guard result.status == 0 else {
        throw TimedOut(
            what: "\(executable) \(arguments.joined(separator: " ")) exited \(result.status): \(result.stderr)")
    }
}
