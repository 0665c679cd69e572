import Foundation
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// The built binary as separate processes against a real ZooKeeper server.
@Suite(.serialized, .timeLimit(.minutes(5))) struct ElectionProcessTests {
    /// Replicas started, the one that leads, and its files.
    struct Cluster {
        let scratch: Scratch
        let zk: ZooKeeperServer
        var replicas: [Replica]

        func leaders() -> [Replica] { replicas.filter { $0.isRunning && $0.state == "Leader" } }

        func stopAll() async {
            for replica in replicas where replica.isRunning { replica.signal(SIGTERM) }
            for replica in replicas { _ = await replica.waitForExit(within: .seconds(10)) }
            await zk.stop()
        }
    }

    func startCluster(
        replicas count: Int, sharedDir: Bool = false, sessionTimeout: String = "4s", capacity: Int = 5
    ) async throws -> Cluster {
        let scratch = try Scratch()
        let zk = try ZooKeeperServer(in: scratch)
        try await zk.start()
        var replicas: [Replica] = []
        for i in 1...count {
            replicas.append(
                try Replica(
                    id: "r\(i)", scratch: scratch, servers: zk.connectString,
                    fileDir: sharedDir ? scratch.path + "/shared" : nil, sessionTimeout: sessionTimeout,
                    capacity: capacity))
        }
        let cluster = Cluster(scratch: scratch, zk: zk, replicas: replicas)
        try await eventually(within: .seconds(20), "one replica leads and has written") {
            let leaders = cluster.leaders()
            return leaders.count == 1 && !electionFiles(in: leaders[0].fileDir).isEmpty
        }
        return cluster
    }

    @Test func exactlyOneOfThreeReplicasWrites() async throws {
        let cluster = try await startCluster(replicas: 3)
        try await Task.sleep(for: .seconds(2))
        let writers = cluster.replicas.filter { !electionFiles(in: $0.fileDir).isEmpty }
        #expect(writers.count == 1)
        #expect(cluster.leaders().count == 1)
        let files = electionFiles(in: try #require(writers.first).fileDir)
        #expect(Set(files.map(\.token)).count == 1, "one leader, one fencing token")
        #expect(files.count >= 3, "the leader keeps writing every leader-timeout")
        for replica in cluster.replicas where replica !== writers.first {
            #expect(replica.state == "Attempter")
        }
        await cluster.stopAll()
        for replica in cluster.replicas { #expect(replica.process.terminationStatus == 0) }
        let verdict = try verify(cluster.replicas.map(\.fileDir), capacity: 5)
        #expect(verdict.status == 0, "election verify: \(verdict.output)")
    }

    @Test func sigtermOfTheLeaderHandsOverWithinASecond() async throws {
        let cluster = try await startCluster(replicas: 3, sharedDir: true)
        let old = try #require(cluster.leaders().first)
        let dir = old.fileDir
        let oldToken = try #require(electionFiles(in: dir).last?.token)
        let signalled = ContinuousClock.now
        old.signal(SIGTERM)
        try await eventually(within: .seconds(5), "a new leader writes") {
            electionFiles(in: dir).contains { $0.token > oldToken }
        }
        let handover = ContinuousClock.now - signalled
        #expect(handover < .seconds(1), "graceful handover took \(handover)")
        #expect(await old.waitForExit(within: .seconds(5)) == 0)
        #expect(old.log.contains("to=Stopping"))
        #expect(old.log.contains("candidate znode deleted"))
        await cluster.stopAll()
    }

    /// Only the daemon's process dies (SIGKILL, the OOM killer): its guardian closes
    /// the session, so the server deletes the znode at once and the next replica
    /// leads long before the session (4 s) could have expired.
    @Test func sigkillOfTheLeaderProcessHandsOverBeforeTheSessionCouldExpire() async throws {
        let cluster = try await startCluster(replicas: 3, sharedDir: true, sessionTimeout: "4s")
        let old = try #require(cluster.leaders().first)
        let dir = old.fileDir
        let oldToken = try #require(electionFiles(in: dir).last?.token)
        try await eventually(within: .seconds(5), "the leader's guardian runs") { old.guardian != nil }
        let killed = ContinuousClock.now
        old.signal(SIGKILL)
        try await eventually(within: .seconds(10), "a new leader writes") {
            electionFiles(in: dir).contains { $0.token > oldToken }
        }
        let takeover = ContinuousClock.now - killed
        #expect(takeover < .seconds(2), "took \(takeover): the session was left to expire")
        #expect(old.log.contains("closed the daemon's ZooKeeper session"))
        let files = electionFiles(in: dir)
        let firstNew = try #require(files.firstIndex { $0.token > oldToken })
        #expect(files[firstNew...].allSatisfy { $0.token > oldToken }, "no old-token file after the new leader's first")
        await cluster.stopAll()
    }

    /// A leader without a command runs its guardian for the session alone: it sleeps
    /// on its pipe (the lease's deadline, which decides nothing without a command,
    /// once made it spin at 40 % of a core).
    @Test func aLeadersGuardianSleepsAtRest() async throws {
        let scratch = try Scratch()
        let zk = try ZooKeeperServer(in: scratch)
        try await zk.start()
        // Writes (and so confirmations) far apart: the deadline passes between renewals.
        let leader = try Replica(
            id: "g1", scratch: scratch, servers: zk.connectString, leaderTimeout: "5s", sessionTimeout: "4s")
        try await eventually(within: .seconds(10), "g1 leads") { leader.state == "Leader" }
        var found: Int32?
        try await eventually(within: .seconds(5), "the leader's guardian runs") {
            found = leader.guardian
            return found != nil
        }
        let guardian = try #require(found)
        func cpuTicks() -> Int {
            guard let stat = try? String(contentsOfFile: "/proc/\(guardian)/stat", encoding: .utf8),
                let close = stat.lastIndex(of: ")")
            else { return 0 }
            let fields = stat[stat.index(after: close)...].split(separator: " ")
            // utime and stime: fields 14 and 15 of the line, 12 and 13 after the name.
            return (Int(fields[11]) ?? 0) + (Int(fields[12]) ?? 0)
        }
        let before = cpuTicks()
        try await Task.sleep(for: .seconds(3))
        let used = cpuTicks() - before
        #expect(used < 30, "the guardian used \(used) clock ticks of CPU in 3 s at rest")
        leader.signal(SIGTERM)
        _ = await leader.waitForExit(within: .seconds(10))
        await zk.stop()
    }

    /// The daemon and its guardian die together (the host, a cgroup kill): the
    /// server's expiry is the bound, as for every peer.
    @Test func sigkillOfTheLeaderAndItsGuardianHandsOverAfterSessionExpiry() async throws {
        let cluster = try await startCluster(replicas: 3, sharedDir: true, sessionTimeout: "2s")
        let old = try #require(cluster.leaders().first)
        let dir = old.fileDir
        let oldToken = try #require(electionFiles(in: dir).last?.token)
        try await eventually(within: .seconds(5), "the leader's guardian runs") { old.guardian != nil }
        let killed = ContinuousClock.now
        old.killWithGuardian()
        _ = await old.waitForExit(within: .seconds(5))
        try await eventually(within: .seconds(2 + 5), "a new leader writes after the session expires") {
            electionFiles(in: dir).contains { $0.token > oldToken }
        }
        #expect(ContinuousClock.now - killed > .seconds(1), "nobody closed the session: it had to expire")
        let files = electionFiles(in: dir)
        let firstNew = try #require(files.firstIndex { $0.token > oldToken })
        #expect(files[firstNew...].allSatisfy { $0.token > oldToken }, "no old-token file after the new leader's first")
        await cluster.stopAll()
    }

    @Test func capacityHoldsAcrossFiveLeaderChanges() async throws {
        var cluster = try await startCluster(replicas: 3, sharedDir: true, capacity: 3)
        let dir = cluster.scratch.path + "/shared"
        let watching = Task.detached {
            var most = 0
            while !Task.isCancelled {
                let count = ((try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? [])
                    .filter { $0.hasPrefix("election-") && $0.hasSuffix(".json") }.count
                most = max(most, count)
                try? await Task.sleep(for: .milliseconds(2))
            }
            return most
        }
        var tokens: [Int64] = []
        for change in 1...5 {
            let leader = try #require(cluster.leaders().first)
            let token = try #require(electionFiles(in: dir).last?.token)
            tokens.append(token)
            leader.signal(SIGTERM)
            #expect(await leader.waitForExit(within: .seconds(10)) == 0)
            cluster.replicas.append(
                try Replica(
                    id: "n\(change)", scratch: cluster.scratch, servers: cluster.zk.connectString, fileDir: dir,
                    capacity: 3))
            try await eventually(within: .seconds(10), "leader change \(change)") {
                (electionFiles(in: dir).last?.token ?? 0) > token && cluster.leaders().count == 1
            }
        }
        watching.cancel()
        let most = await watching.value
        #expect(most <= 3, "at most storage-capacity files at any time, saw \(most)")
        let verdict = try verify([dir], capacity: 3)
        #expect(verdict.status == 0, "election verify: \(verdict.output)")
        #expect(tokens == tokens.sorted() && Set(tokens).count == 5, "fencing tokens strictly increase: \(tokens)")
        await cluster.stopAll()
    }

    @Test func zooKeeperRestartInsideTheSessionTimeoutKeepsTheLeaderAndItsToken() async throws {
        let cluster = try await startCluster(replicas: 2, sharedDir: true, sessionTimeout: "8s")
        let leader = try #require(cluster.leaders().first)
        let dir = leader.fileDir
        let token = try #require(electionFiles(in: dir).last?.token)
        await cluster.zk.stop()
        try await eventually(within: .seconds(5), "the leader fails over when ZooKeeper goes") {
            leader.state == "Failover"
        }
        let frozen = electionFiles(in: dir)
        try await Task.sleep(for: .milliseconds(500))
        #expect(electionFiles(in: dir).last == frozen.last, "no write while ZooKeeper is away")
        try await cluster.zk.start()
        try await eventually(within: .seconds(10), "the same replica leads again") { leader.state == "Leader" }
        let counterBefore = frozen.last?.counter ?? 0
        try await eventually(within: .seconds(5), "it writes again") {
            (electionFiles(in: dir).last?.counter ?? 0) > counterBefore
        }
        #expect(Set(electionFiles(in: dir).map(\.token)) == [token], "same session, same fencing token")
        #expect(cluster.leaders().map(\.id) == [leader.id])
        await cluster.stopAll()
    }

    @Test func zooKeeperAbsentAtStartThenLeadershipOnceItStarts() async throws {
        let scratch = try Scratch()
        let zk = try ZooKeeperServer(in: scratch)
        let replica = try Replica(id: "early", scratch: scratch, servers: zk.connectString, sessionTimeout: "2s")
        try await eventually(within: .seconds(10), "the replica fails over without ZooKeeper") {
            replica.state == "Failover"
        }
        #expect(replica.isRunning, "a daemon does not exit when ZooKeeper is away")
        try await zk.start()
        try await eventually(within: .seconds(20), "leadership once ZooKeeper is up") {
            replica.state == "Leader" && !electionFiles(in: replica.fileDir).isEmpty
        }
        replica.signal(SIGTERM)
        #expect(await replica.waitForExit(within: .seconds(10)) == 0)
        await zk.stop()
    }

    @Test func operatorDeletingTheLeadersZnodeCausesReElectionWithoutRestart() async throws {
        let cluster = try await startCluster(replicas: 2, sharedDir: true)
        let leader = try #require(cluster.leaders().first)
        let dir = leader.fileDir
        let token = try #require(electionFiles(in: dir).last?.token)
        let znode = try #require(
            leader.log.split(separator: "\n").last { $0.contains("msg=leading") }?
                .split(separator: " ").first { $0.hasPrefix("znode=") }?.dropFirst("znode=".count))
        let admin = try await AdminClient.connect(cluster.zk.connectString)
        try await admin.delete(String(znode))
        await admin.close()
        try await eventually(within: .seconds(10), "a new term starts") {
            electionFiles(in: dir).contains { $0.token > token } && cluster.leaders().count == 1
        }
        #expect(leader.log.contains("own candidate znode deleted"))
        #expect(cluster.replicas.allSatisfy { $0.isRunning }, "no replica restarted")
        await cluster.stopAll()
    }
}
