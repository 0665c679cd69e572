import Foundation
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// The HTTP endpoints, `election status` and the systemd notify protocol, against
/// the real binary and a real ZooKeeper.
@Suite(.serialized, .timeLimit(.minutes(5))) struct ObservabilityTests {
    struct Served {
        let replica: Replica
        let port: Int
    }

    func start(_ count: Int, _ scratch: Scratch, _ zk: ZooKeeperServer) async throws -> [Served] {
        let served = try (1...count).map { i -> Served in
            let port = freePort()
            let replica = try Replica(
                id: "h\(i)", scratch: scratch, servers: zk.connectString, fileDir: scratch.path + "/shared",
                extra: ["--http-addr", "127.0.0.1:\(port)"])
            return Served(replica: replica, port: port)
        }
        try await eventually(within: .seconds(20), "one replica leads and every endpoint answers") {
            served.filter { httpGet($0.port, "/leader")?.status == 200 }.count == 1
                && served.allSatisfy { httpGet($0.port, "/readyz")?.status == 200 }
        }
        return served
    }

    @Test func endpointsTellWhoLeadsAndFollowersSeeAHandoverWithinASecond() async throws {
        let scratch = try Scratch()
        let zk = try ZooKeeperServer(in: scratch)
        try await zk.start()
        let served = try await start(3, scratch, zk)
        for s in served {
            #expect(httpGet(s.port, "/healthz")?.status == 200)
            #expect(httpGet(s.port, "/nope")?.status == 404)
        }
        let leader = try #require(served.first { httpGet($0.port, "/leader")?.status == 200 })
        let leaderBody = try #require(jsonObject(httpGet(leader.port, "/leader")!.body))
        let token = try #require(leaderBody["fencing_token"] as? Int)
        for follower in served where follower.port != leader.port {
            let status = try #require(jsonObject(httpGet(follower.port, "/status")?.body ?? ""))
            #expect(status["state"] as? String == "Attempter")
            #expect(status["is_leader"] as? Bool == false)
            let seen = try #require(status["leader"] as? [String: Any])
            #expect(seen["replica"] as? String == leader.replica.id)
            #expect(seen["token"] as? Int == token)
        }
        let status = try #require(jsonObject(httpGet(leader.port, "/status")?.body ?? ""))
        #expect(status["state"] as? String == "Leader")
        #expect(status["fencing_token"] as? Int == token)
        #expect((status["last_file"] as? String)?.hasPrefix("election-") == true)
        #expect(status["session_state"] as? String == "connected")
        let metrics = try #require(httpGet(leader.port, "/metrics"))
        for name in [
            "election_is_leader 1", "election_fencing_token", "election_state{state=\"Leader\"} 1",
            "election_files_written_total", "election_transitions_total", "election_confirm_round_trip_seconds_bucket",
            "election_time_to_leadership_seconds_count", "election_zk_session_state", "election_build_info",
        ] {
            #expect(metrics.body.contains(name), "/metrics has \(name)")
        }

        // Handover: a follower's /status names the new leader within a second.
        leader.replica.signal(SIGTERM)
        let stopped = ContinuousClock.now
        let followers = served.filter { $0.port != leader.port }
        try await eventually(within: .seconds(5), "a new leader answers /leader") {
            followers.contains { httpGet($0.port, "/leader")?.status == 200 }
        }
        let newLeader = try #require(followers.first { httpGet($0.port, "/leader")?.status == 200 })
        let other = try #require(followers.first { $0.port != newLeader.port })
        try await eventually(within: .seconds(1), "the other follower's /status names the new leader") {
            let seen = jsonObject(httpGet(other.port, "/status")?.body ?? "")?["leader"] as? [String: Any]
            return seen?["replica"] as? String == newLeader.replica.id
        }
        #expect(ContinuousClock.now - stopped < .seconds(2))
        for s in served where s.replica.isRunning { s.replica.signal(SIGTERM) }
        for s in served { _ = await s.replica.waitForExit(within: .seconds(5)) }
        await zk.stop()
    }

    @Test func readyzFailsInFailoverWhileHealthzStaysUp() async throws {
        let scratch = try Scratch()
        let zk = try ZooKeeperServer(in: scratch)
        try await zk.start()
        let served = try await start(1, scratch, zk)
        let port = served[0].port
        await zk.stop()
        try await eventually(within: .seconds(10), "Failover shows on /readyz") {
            httpGet(port, "/readyz")?.status == 503
        }
        #expect(httpGet(port, "/healthz")?.status == 200, "a daemon waiting for ZooKeeper is alive")
        #expect(httpGet(port, "/leader")?.status == 503)
        try await zk.start()
        try await eventually(within: .seconds(20), "ready and leading again") {
            httpGet(port, "/readyz")?.status == 200 && httpGet(port, "/leader")?.status == 200
        }
        served[0].replica.signal(SIGTERM)
        #expect(await served[0].replica.waitForExit(within: .seconds(5)) == 0)
        await zk.stop()
    }

    /// Slow, huge and idle clients get a timeout or a 4xx, and the endpoints keep answering.
    @Test func hostileClientsAreCutOffAndProbesStillAnswer() async throws {
        let scratch = try Scratch()
        let zk = try ZooKeeperServer(in: scratch)
        try await zk.start()
        let served = try await start(1, scratch, zk)
        let port = served[0].port
        // One byte a second: cut off by the per-connection deadline (5 s).
        let slow = try #require(RawConnection(port: port))
        let opened = ContinuousClock.now
        var closedAfter: Duration?
        for byte in Array("GET /status HTTP/1.1\r\n".utf8) {
            if slow.isClosedByPeer() || !slow.send([byte]) {
                closedAfter = ContinuousClock.now - opened
                break
            }
            try await Task.sleep(for: .seconds(1))
        }
        let cutOff = try #require(closedAfter, "a one-byte-a-second client was never cut off")
        #expect(cutOff < .seconds(8))
        // A 1 MiB header: a 4xx, or the connection closed.
        let huge = try #require(RawConnection(port: port))
        huge.send(Array("GET /status HTTP/1.1\r\nX-Big: ".utf8) + [UInt8](repeating: UInt8(ascii: "a"), count: 1 << 20))
        let reply = String(decoding: huge.readAll(), as: UTF8.self)
        #expect(reply.isEmpty || reply.hasPrefix("HTTP/1.1 4"), "1 MiB header: \(reply.prefix(40))")
        // 300 idle connections: past the limit (256) the oldest are closed to make
        // room, so a probe arriving in the middle of the flood still gets its answer.
        let idle = (0..<300).compactMap { _ in RawConnection(port: port) }
        try await Task.sleep(for: .milliseconds(300))
        #expect(idle.prefix(300 - 256).allSatisfy { $0.isClosedByPeer() }, "the oldest made room")
        let probe = httpGet(port, "/healthz")
        #expect(probe?.status == 200, "a probe during the flood is answered at once")
        try await eventually(within: .seconds(8), "idle connections are closed by the deadline") {
            idle.allSatisfy { $0.isClosedByPeer() }
        }
        #expect(served[0].replica.state == "Leader")
        served[0].replica.signal(SIGTERM)
        #expect(await served[0].replica.waitForExit(within: .seconds(5)) == 0)
        await zk.stop()
    }

    /// Without ZooKeeper, nobody is ready and nobody names a leader: replicas cycle
    /// through Failover and Init, where `/readyz` used to answer 200 on most samples
    /// and `/status` kept the last leader it had seen.
    @Test func withoutZooKeeperNoReplicaIsReadyAndNoneNamesALeader() async throws {
        let scratch = try Scratch()
        let zk = try ZooKeeperServer(in: scratch)
        try await zk.start()
        let served = try await start(2, scratch, zk)
        await zk.stop()
        try await eventually(within: .seconds(10), "every replica notices") {
            served.allSatisfy { httpGet($0.port, "/readyz")?.status == 503 }
        }
        var ready = 0
        var named = 0
        for _ in 0..<30 {
            for s in served {
                if httpGet(s.port, "/readyz")?.status == 200 { ready += 1 }
                let status = jsonObject(httpGet(s.port, "/status")?.body ?? "") ?? [:]
                if !(status["leader"] is NSNull) { named += 1 }
                if status["ready"] as? Bool != false { ready += 1 }
            }
            try await Task.sleep(for: .milliseconds(200))
        }
        #expect(ready == 0, "ready without a session, \(ready) of 120 answers")
        #expect(named == 0, "a leader named without a session, \(named) of 60 answers")
        for s in served { s.replica.signal(SIGTERM) }
        for s in served { _ = await s.replica.waitForExit(within: .seconds(10)) }
    }

    @Test func aBusyPortIsRefusedWithTheFlagNamed() async throws {
        let scratch = try Scratch()
        let zk = try ZooKeeperServer(in: scratch)
        try await zk.start()
        let served = try await start(1, scratch, zk)
        let result = try runProcess(
            electionBinary,
            [
                "run", "--zk-servers", zk.connectString, "--replica-id", "busy", "--http-addr",
                "127.0.0.1:\(served[0].port)",
            ])
        #expect(result.status == 64)
        #expect(result.stderr.contains("--http-addr") && result.stderr.contains("ELECTION_HTTP_ADDR"))
        #expect(result.stderr.contains("Address already in use"), "errno in words: \(result.stderr)")
        served[0].replica.signal(SIGTERM)
        _ = await served[0].replica.waitForExit(within: .seconds(5))
        await zk.stop()
    }
}
