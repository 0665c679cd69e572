import Foundation
import Testing
import ZooKeeper

#if canImport(Glibc)
    import Glibc
#endif

/// Every signal a terminal or a service manager sends has a deliberate meaning,
/// checked against the real binary (the README's signal table).
@Suite(.serialized, .timeLimit(.minutes(5))) struct SignalTests {
    /// Two replicas on one shared directory; returns them with the leader first.
    func pair(_ scratch: Scratch, _ zk: ZooKeeperServer) async throws -> (leader: Replica, follower: Replica) {
        let dir = scratch.path + "/shared"
        let replicas = try (1...2).map {
            try Replica(id: "s\($0)", scratch: scratch, servers: zk.connectString, fileDir: dir)
        }
        try await eventually(within: .seconds(20), "one replica leads and writes") {
            replicas.filter { $0.state == "Leader" }.count == 1 && !electionFiles(in: dir).isEmpty
        }
        let leader = try #require(replicas.first { $0.state == "Leader" })
        return (leader, try #require(replicas.first { $0 !== leader }))
    }

    /// SIGHUP (terminal closed), SIGQUIT, SIGINT and SIGTERM all hand over gracefully:
    /// the znode is deleted at once, the process exits 0, the follower writes within a second.
    @Test(arguments: [("SIGHUP", SIGHUP), ("SIGQUIT", SIGQUIT), ("SIGINT", SIGINT), ("SIGTERM", SIGTERM)])
    func stopSignalsHandOverGracefully(name: String, number: Int32) async throws {
        let scratch = try Scratch()
        let zk = try ZooKeeperServer(in: scratch)
        try await zk.start()
        let (leader, follower) = try await pair(scratch, zk)
        let token = try #require(electionFiles(in: leader.fileDir).last?.token)
        let sent = ContinuousClock.now
        leader.signal(number)
        try await eventually(within: .seconds(5), "the follower writes after \(name)") {
            electionFiles(in: follower.fileDir).contains { $0.token > token }
        }
        #expect(ContinuousClock.now - sent < .seconds(1), "\(name) took the crash path, not the graceful one")
        #expect(await leader.waitForExit(within: .seconds(5)) == 0, "\(name) must exit 0 after a graceful stop")
        #expect(leader.log.contains("signal=\(name)"))
        #expect(leader.log.contains("candidate znode deleted"))
        follower.signal(SIGTERM)
        #expect(await follower.waitForExit(within: .seconds(5)) == 0)
        await zk.stop()
    }

    /// SIGUSR1 asks the leader to step down: it releases, the follower leads, and the
    /// old leader stays up as a candidate at the back of the queue.
    @Test func sigusr1MakesTheLeaderResignAndRejoin() async throws {
        let scratch = try Scratch()
        let zk = try ZooKeeperServer(in: scratch)
        try await zk.start()
        let (leader, follower) = try await pair(scratch, zk)
        let token = try #require(electionFiles(in: leader.fileDir).last?.token)
        leader.signal(SIGUSR1)
        try await eventually(within: .seconds(5), "the follower leads after the resign") {
            follower.state == "Leader" && electionFiles(in: follower.fileDir).contains { $0.token > token }
        }
        try await eventually(within: .seconds(10), "the old leader rejoins as a candidate") {
            leader.state == "Attempter"
        }
        #expect(leader.isRunning)
        #expect(leader.log.contains("code=resigned"))
        // A follower (the old leader now) ignores the request.
        leader.signal(SIGUSR1)
        try await Task.sleep(for: .milliseconds(500))
        #expect(leader.state == "Attempter", "a follower does not resign")
        #expect(follower.state == "Leader")
        for replica in [leader, follower] {
            replica.signal(SIGTERM)
            #expect(await replica.waitForExit(within: .seconds(5)) == 0)
        }
        await zk.stop()
    }

    /// SIGUSR2 logs one status line; SIGPIPE is ignored. Neither disturbs the leader.
    @Test func sigusr2LogsTheStatusAndSigpipeIsIgnored() async throws {
        let scratch = try Scratch()
        let zk = try ZooKeeperServer(in: scratch)
        try await zk.start()
        let (leader, follower) = try await pair(scratch, zk)
        leader.signal(SIGUSR2)
        try await eventually(within: .seconds(5), "a status line") {
            leader.log.split(separator: "\n").contains { $0.contains("msg=status") && $0.contains("state=Leader") }
        }
        let status = try #require(leader.log.split(separator: "\n").first { $0.contains("msg=status") })
        #expect(status.contains("is_leader=true"))
        leader.signal(SIGPIPE)
        try await Task.sleep(for: .milliseconds(300))
        #expect(leader.isRunning, "SIGPIPE must not kill the daemon")
        #expect(leader.state == "Leader")
        for replica in [leader, follower] {
            replica.signal(SIGTERM)
            #expect(await replica.waitForExit(within: .seconds(5)) == 0)
        }
        await zk.stop()
    }

    /// A second stop signal while the first is being handled exits at once.
    @Test func aSecondStopSignalExitsAtOnce() async throws {
        let scratch = try Scratch()
        let zk = try ZooKeeperServer(in: scratch)
        try await zk.start()
        let replica = try Replica(id: "twice", scratch: scratch, servers: zk.connectString, sessionTimeout: "4s")
        try await eventually(within: .seconds(20), "it leads") { replica.state == "Leader" }
        zk.pause()  // the graceful delete now hangs
        replica.signal(SIGHUP)
        try await Task.sleep(for: .milliseconds(200))
        replica.signal(SIGTERM)
        let status = await replica.waitForExit(within: .seconds(2))
        #expect(status == 128 + SIGTERM)
        zk.resume()
        await zk.stop()
    }
}

/// A chroot in the connect string that does not exist yet is created, as Curator's
/// namespaces and Kafka do, instead of looping between Init and Failover.
@Suite(.serialized, .timeLimit(.minutes(3))) struct ChrootTests {
    @Test func aMissingChrootIsCreatedAndTheReplicaLeads() async throws {
        let scratch = try Scratch()
        let zk = try ZooKeeperServer(in: scratch)
        try await zk.start()
        let replica = try Replica(
            id: "c1", scratch: scratch, servers: zk.connectString + "/app/team-a", sessionTimeout: "4s")
        try await eventually(within: .seconds(15), "the replica leads inside the new chroot") {
            replica.state == "Leader" && !electionFiles(in: replica.fileDir).isEmpty
        }
        #expect(replica.log.contains("created the connect string's chroot"))
        let admin = try await AdminClient.connect(zk.connectString)
        let candidates = try await admin.children("/app/team-a/election")
        #expect(candidates.count == 1 && candidates[0].hasPrefix("c1_"))
        await admin.close()
        replica.signal(SIGTERM)
        #expect(await replica.waitForExit(within: .seconds(5)) == 0)
        await zk.stop()
    }
}

/// `election verify` as a command: exit 1 and the violation on a bad history.
@Suite(.timeLimit(.minutes(1))) struct VerifyCommandTests {
    @Test func aLowerTokenWrittenAfterAHigherOneFailsWithExitOne() throws {
        let scratch = try Scratch()
        let dir = scratch.path + "/history"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        func file(_ token: Int64, _ counter: Int64, _ time: String, _ replica: String) throws {
            let name = String(format: "election-%019lld-%010lld.json", token, counter)
            let body =
                "{\"counter\":\(counter),\"host\":\"h\",\"pid\":1,\"replica\":\"\(replica)\",\"time\":\"\(time)\",\"token\":\(token)}\n"
            try body.write(toFile: dir + "/" + name, atomically: true, encoding: .utf8)
        }
        try file(10, 1, "2026-11-29T10:00:00.000Z", "old")
        try file(20, 1, "2026-11-29T10:00:01.000Z", "new")
        try file(10, 2, "2026-11-29T10:00:02.000Z", "old")  // a zombie write
        let result = try runProcess(electionBinary, ["verify", dir, "--capacity", "5"])
        #expect(result.status == 1)
        #expect(result.stdout.contains("VIOLATION"))
        #expect(result.stdout.contains("FAILED"))
        try FileManager.default.removeItem(atPath: dir + "/" + String(format: "election-%019lld-%010lld.json", 10, 2))
        #expect(try runProcess(electionBinary, ["verify", dir, "--capacity", "5"]).status == 0)
    }
}
