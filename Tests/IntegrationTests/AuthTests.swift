import Election
import Foundation
import Testing
import ZooKeeper

#if canImport(Glibc)
    import Glibc
#endif

/// Digest authentication and ACLs against a real ZooKeeper server.
@Suite(.serialized, .timeLimit(.minutes(3))) struct AuthTests {
    func authFile(_ scratch: Scratch, _ name: String, _ text: String, mode: mode_t = 0o600) throws -> String {
        let path = scratch.path + "/" + name
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        chmod(path, mode)
        Deployed.handOver(path)
        return path
    }

    @Test func authenticatedReplicasElectAndNobodyElseMayTouchTheElection() async throws {
        let scratch = try Scratch()
        let zk = try ZooKeeperServer(in: scratch)
        try await zk.start()
        let good = try authFile(scratch, "auth", "elector:s3cret\n")
        let replicas = try (1...2).map {
            try Replica(
                id: "a\($0)", scratch: scratch, servers: zk.connectString, fileDir: scratch.path + "/shared",
                extra: ["--zk-auth-file", good])
        }
        // Waits for the leader's first file, not only its state: the file follows
        // the transition by one confirmation and two fsyncs.
        try await eventually(within: .seconds(20), "one leads and has written, one waits") {
            replicas.filter { $0.state == "Leader" }.count == 1
                && replicas.filter { $0.state == "Attempter" }.count == 1
                && !electionFiles(in: scratch.path + "/shared").isEmpty
        }
        let leader = try #require(replicas.first { $0.state == "Leader" })
        let token = try #require(electionFiles(in: leader.fileDir).last?.token)

        // An unauthenticated client: every change under the election path is refused.
        let stranger = try await AdminClient.connect(zk.connectString)
        await #expect(throws: ZKError.noAuth) {
            _ = try await stranger.create("/election/intruder_", mode: .ephemeralSequential)
        }
        await #expect(throws: ZKError.noAuth) { _ = try await stranger.children("/election") }
        let candidates = try await AdminClient.connect(zk.connectString, auth: "elector:s3cret").children("/election")
        let leaderZnode = try #require(Decisions.ordered(candidates).first)
        await #expect(throws: ZKError.noAuth) { try await stranger.delete("/election/" + leaderZnode) }
        await #expect(throws: ZKError.noAuth) {
            _ = try await stranger.setData("/election/" + leaderZnode, data: Array("x".utf8))
        }
        await stranger.close()

        // A replica with the wrong password never leads, and says so once.
        let bad = try authFile(scratch, "bad", "elector:wrong\n")
        let wrong = try Replica(
            id: "w1", scratch: scratch, servers: zk.connectString, fileDir: scratch.path + "/wrong",
            extra: ["--zk-auth-file", bad])
        leader.signal(SIGTERM)
        try await eventually(within: .seconds(10), "the other good replica takes over") {
            electionFiles(in: scratch.path + "/shared").contains { $0.token > token }
        }
        try await Task.sleep(for: .seconds(4))
        #expect(wrong.isRunning)
        #expect(electionFiles(in: scratch.path + "/wrong").isEmpty, "a replica with wrong credentials never writes")
        let reports = wrong.log.split(separator: "\n").filter { $0.contains("refused this replica's credentials") }
        #expect(reports.count == 1, "the refusal is reported once: \(reports.count)")
        let cycles = wrong.log.split(separator: "\n").filter { $0.contains("msg=transition") }.count
        #expect(cycles <= 20, "backoff, not a loop: \(cycles) transitions in about 5 s")
        let warnings = wrong.log.split(separator: "\n").filter {
            $0.contains("level=warning") || $0.contains("level=error")
        }
        #expect(warnings.count <= 4, "no log flood: \(warnings.count) warnings")

        // election status needs the credentials too.
        let status = try runProcess(
            electionBinary, ["status", "--zk-servers", zk.connectString, "--zk-auth-file", good])
        #expect(status.status == 0, "\(status.stdout)\(status.stderr)")
        for replica in replicas + [wrong] where replica.isRunning { replica.signal(SIGTERM) }
        for replica in replicas + [wrong] { _ = await replica.waitForExit(within: .seconds(5)) }
        await zk.stop()
    }

    /// Refused credentials are configuration (64) for every operator command and
    /// every ACL; 69 stays for a ZooKeeper that cannot be reached.
    @Test func statusAndResignWithoutTheCredentialsExit64UnderEitherACL() async throws {
        let scratch = try Scratch()
        let zk = try ZooKeeperServer(in: scratch)
        try await zk.start()
        let file = try authFile(scratch, "auth", "elector:s3cret")
        let replicas = try [("p1", "private", "/private"), ("w1", "world-read", "/open")].map { id, acl, path in
            try Replica(
                id: id, scratch: scratch, servers: zk.connectString,
                extra: ["--zk-auth-file", file, "--zk-acl", acl, "--election-path", path])
        }
        try await eventually(within: .seconds(20), "both lead") { replicas.allSatisfy { $0.state == "Leader" } }
        let status = try runProcess(
            electionBinary, ["status", "--zk-servers", zk.connectString, "--election-path", "/private"])
        #expect(status.status == 64, "status under a private ACL: \(status.stderr)")
        #expect(status.stderr.contains("NOAUTH") && status.stderr.contains("ELECTION_ZK_AUTH_FILE"))
        for path in ["/private", "/open"] {
            let resign = try runProcess(
                electionBinary, ["resign", "--zk-servers", zk.connectString, "--election-path", path, "--wait", "2s"])
            #expect(resign.status == 64, "resign under \(path): \(resign.stdout)\(resign.stderr)")
        }
        let away = try runProcess(electionBinary, ["status", "--zk-servers", "127.0.0.1:1", "--timeout", "1s"])
        #expect(away.status == 69)
        for replica in replicas { replica.signal(SIGTERM) }
        for replica in replicas { _ = await replica.waitForExit(within: .seconds(5)) }
        await zk.stop()
    }

    @Test func worldReadLetsOthersReadButNotWrite() async throws {
        let scratch = try Scratch()
        let zk = try ZooKeeperServer(in: scratch)
        try await zk.start()
        let file = try authFile(scratch, "auth", "elector:s3cret")
        let replica = try Replica(
            id: "r1", scratch: scratch, servers: zk.connectString,
            extra: ["--zk-auth-file", file, "--zk-acl", "world-read"])
        try await eventually(within: .seconds(20), "it leads") { replica.state == "Leader" }
        let reader = try await AdminClient.connect(zk.connectString)
        let names = try await reader.children("/election")
        #expect(names.count == 1)
        #expect(try await reader.getData("/election/" + names[0]) != nil)
        await #expect(throws: ZKError.noAuth) { try await reader.delete("/election/" + names[0]) }
        await reader.close()
        let status = try runProcess(electionBinary, ["status", "--zk-servers", zk.connectString])
        #expect(status.status == 0, "status reads a world-read election without credentials")
        replica.signal(SIGTERM)
        #expect(await replica.waitForExit(within: .seconds(5)) == 0)
        await zk.stop()
    }

    @Test(arguments: [
        ("readable", "elector:pw", mode_t(0o644), "chmod 600"),
        ("nocolon", "elector", mode_t(0o600), "user:password"),
        ("missing", "", mode_t(0o600), "cannot read"),
    ])
    func aBadAuthFileIsRefusedBeforeAnythingStarts(name: String, text: String, mode: mode_t, says: String) throws {
        let scratch = try Scratch()
        var path = scratch.path + "/absent"
        if name != "missing" { path = try authFile(scratch, name, text, mode: mode) }
        let result = try runProcess(
            electionBinary, ["run", "--zk-servers", "127.0.0.1:1", "--zk-auth-file", path])
        #expect(result.status == 64)
        #expect(result.stderr.contains("--zk-auth-file") && result.stderr.contains("ELECTION_ZK_AUTH_FILE"))
        #expect(result.stderr.contains(says), "\(result.stderr)")
    }
}
