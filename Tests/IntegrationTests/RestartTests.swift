import Foundation
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// A crashed replica restarted on the same host resumes its ZooKeeper session from
/// its state file, unless the process that owns it is still alive, or its guardian
/// closed the session (a leader's process died alone: see ElectionProcessTests).
@Suite(.serialized, .timeLimit(.minutes(5))) struct RestartTests {
    /// The daemon and its guardian die together (a container killed as a whole and
    /// restarted): nobody closed the session, so the restart resumes it.
    @Test func crashedLeaderRestartedOnTheSameHostResumesItsSessionAndLeadership() async throws {
        let scratch = try Scratch()
        let zk = try ZooKeeperServer(in: scratch)
        try await zk.start()
        // A long session timeout: a takeover by expiry would take 10 s, a resume far less.
        let leader = try Replica(id: "a", scratch: scratch, servers: zk.connectString, sessionTimeout: "10s")
        defer { leader.signal(SIGKILL) }
        try await eventually(within: .seconds(10), "a leads") {
            leader.state == "Leader" && !electionFiles(in: leader.fileDir).isEmpty
        }
        let standby = try Replica(id: "b", scratch: scratch, servers: zk.connectString, sessionTimeout: "10s")
        defer { standby.signal(SIGKILL) }
        try await eventually(within: .seconds(10), "b waits") { standby.state == "Attempter" }
        let token = try #require(electionFiles(in: leader.fileDir).last?.token)
        let counter = try #require(electionFiles(in: leader.fileDir).last?.counter)
        try await eventually(within: .seconds(5), "a's guardian runs") { leader.guardian != nil }
        leader.killWithGuardian()
        _ = await leader.waitForExit(within: .seconds(5))
        let restarted = try Replica(
            id: "a", scratch: scratch, servers: zk.connectString, fileDir: leader.fileDir, sessionTimeout: "10s",
            instance: 2)
        defer { restarted.signal(SIGKILL) }
        try await eventually(within: .seconds(5), "the restarted replica writes again with its old token") {
            electionFiles(in: leader.fileDir).contains { $0.token == token && $0.counter > counter }
        }
        #expect(restarted.log.contains("resumed the previous process's ZooKeeper session"))
        #expect(electionFiles(in: standby.fileDir).isEmpty, "the standby never led")
        let verdict = try verify([leader.fileDir, standby.fileDir], capacity: 5)
        #expect(verdict.status == 0, "election verify: \(verdict.output)")
        restarted.signal(SIGTERM)
        standby.signal(SIGTERM)
        #expect(await restarted.waitForExit(within: .seconds(10)) == 0)
        #expect(await standby.waitForExit(within: .seconds(10)) == 0)
        #expect(!FileManager.default.fileExists(atPath: leader.fileDir + "/.election-session-a"), "forgotten on stop")
        await zk.stop()
    }

    @Test func aPausedHolderOfTheStateFileKeepsItsSession() async throws {
        let scratch = try Scratch()
        let zk = try ZooKeeperServer(in: scratch)
        try await zk.start()
        let paused = try Replica(id: "a", scratch: scratch, servers: zk.connectString, sessionTimeout: "2s")
        defer {
            paused.signal(SIGCONT)
            paused.signal(SIGKILL)
        }
        try await eventually(within: .seconds(10), "a leads") {
            paused.state == "Leader" && !electionFiles(in: paused.fileDir).isEmpty
        }
        let token = try #require(electionFiles(in: paused.fileDir).last?.token)
        paused.signal(SIGSTOP)
        let second = try Replica(
            id: "a", scratch: scratch, servers: zk.connectString, fileDir: paused.fileDir, sessionTimeout: "2s",
            instance: 2)
        defer { second.signal(SIGKILL) }
        try await eventually(within: .seconds(10), "the second process refuses the locked state file") {
            second.log.contains("state file is locked by another live process")
        }
        #expect(!second.log.contains("resumed the previous"))
        try await eventually(within: .seconds(10), "it leads on its own session once the paused one expires") {
            (electionFiles(in: paused.fileDir).last?.token ?? 0) > token
        }
        paused.signal(SIGKILL)
        second.signal(SIGTERM)
        #expect(await second.waitForExit(within: .seconds(10)) == 0)
        await zk.stop()
    }
}
