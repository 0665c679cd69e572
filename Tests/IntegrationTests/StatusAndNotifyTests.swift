import Foundation
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// `election status` against a real ZooKeeper: every exit code, the table, JSON,
/// and `--watch` redrawing on a change.
@Suite(.serialized, .timeLimit(.minutes(3))) struct StatusCommandTests {
    @Test func statusShowsTheLeaderAndTheQueueWithEveryExitCode() async throws {
        let scratch = try Scratch()
        let zk = try ZooKeeperServer(in: scratch)
        try await zk.start()
        // No election path yet: exit 2.
        let none = try runProcess(electionBinary, ["status", "--zk-servers", zk.connectString])
        #expect(none.status == 2, "no election: \(none.stdout) \(none.stderr)")
        let replicas = try (1...2).map {
            try Replica(id: "q\($0)", scratch: scratch, servers: zk.connectString, fileDir: scratch.path + "/shared")
        }
        try await eventually(within: .seconds(20), "one leads, one waits") {
            replicas.filter { $0.state == "Leader" }.count == 1
                && replicas.filter { $0.state == "Attempter" }.count == 1
        }
        let leader = try #require(replicas.first { $0.state == "Leader" })
        let table = try runProcess(electionBinary, ["status", "--zk-servers", zk.connectString])
        #expect(table.status == 0)
        let lines = table.stdout.split(separator: "\n")
        #expect(lines.first?.contains("\(leader.id) leads") == true, "\(table.stdout)")
        #expect(lines.count == 4, "summary, header and two candidates: \(table.stdout)")
        #expect(lines[2].contains("leader") && lines[2].contains(leader.id) && lines[2].contains("\(leader.pid)"))
        let json = try runProcess(
            electionBinary, ["status", "--json"], environment: ["ELECTION_ZK_SERVERS": zk.connectString])
        #expect(json.status == 0)
        let object = try #require(jsonObject(json.stdout))
        let candidates = try #require(object["candidates"] as? [[String: Any]])
        #expect(candidates.count == 2)
        #expect((object["leader"] as? [String: Any])?["replica"] as? String == leader.id)
        #expect((candidates[0]["token"] as? Int ?? 0) < (candidates[1]["token"] as? Int ?? 0))

        // --watch redraws when the queue changes, driven by watches.
        let watched = Process()
        let watch = Deployed.command(electionBinary, ["status", "--watch", "--zk-servers", zk.connectString])
        watched.executableURL = URL(fileURLWithPath: watch.executable)
        watched.arguments = watch.arguments
        let output = scratch.path + "/watch.out"
        _ = FileManager.default.createFile(atPath: output, contents: nil)
        watched.standardOutput = FileHandle(forWritingAtPath: output)
        try watched.run()
        defer { if watched.isRunning { kill(watched.processIdentifier, SIGKILL) } }
        func summaries() -> [String] {
            ((try? String(contentsOfFile: output, encoding: .utf8)) ?? "").split(separator: "\n")
                .filter { $0.hasPrefix("election ") || $0.hasPrefix("no candidate") }.map(String.init)
        }
        try await eventually(within: .seconds(5), "the first drawing") { summaries().count == 1 }
        leader.signal(SIGTERM)
        try await eventually(within: .seconds(5), "a redraw after the handover") {
            summaries().contains { !$0.contains("\(leader.id) leads") && $0.contains("leads") }
        }
        kill(watched.processIdentifier, SIGTERM)

        for replica in replicas where replica.isRunning { replica.signal(SIGTERM) }
        for replica in replicas { _ = await replica.waitForExit(within: .seconds(5)) }
        // Path exists, nobody in it: exit 2.
        let empty = try runProcess(electionBinary, ["status", "--zk-servers", zk.connectString])
        #expect(empty.status == 2)
        #expect(empty.stdout.contains("no candidate"))
        await zk.stop()
        // Unreachable: exit 69 within the deadline, and it says so on stderr.
        let started = ContinuousClock.now
        let down = try runProcess(
            electionBinary, ["status", "--zk-servers", zk.connectString, "--timeout", "1s"])
        #expect(down.status == 69)
        #expect(down.stderr.contains("cannot reach ZooKeeper"))
        #expect(ContinuousClock.now - started < .seconds(5))
        // Bad input: exit 64 naming the flag and its variable.
        let bad = try runProcess(electionBinary, ["status", "--zk-servers", "nope"])
        #expect(bad.status == 64)
        #expect(bad.stderr.contains("--zk-servers") && bad.stderr.contains("ELECTION_ZK_SERVERS"))
    }
}

/// The sd_notify protocol from the real binary, read from a unix datagram socket
/// given as NOTIFY_SOCKET, as systemd would.
@Suite(.serialized, .timeLimit(.minutes(2))) struct NotifyTests {
    /// A notify socket as systemd's, and the daemon started with it.
    final class Notified {
        let fd: Int32
        let process = Process()
        var messages: [String] = []

        init(_ scratch: Scratch, _ arguments: [String]) throws {
            let path = scratch.path + "/notify.sock"
            fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue), 0)
            var address = sockaddr_un()
            address.sun_family = sa_family_t(AF_UNIX)
            withUnsafeMutableBytes(of: &address.sun_path) { buffer in
                for (i, byte) in path.utf8.enumerated() { buffer[i] = byte }
            }
            let bound = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
                }
            }
            try #require(bound == 0)
            // systemd's notify socket accepts any sender the unit may run as; so does this one.
            Deployed.handOver(path)
            var tv = timeval(tv_sec: 0, tv_usec: 200_000)
            setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
            let command = Deployed.command(electionBinary, arguments)
            process.executableURL = URL(fileURLWithPath: command.executable)
            process.arguments = command.arguments
            process.environment = ["NOTIFY_SOCKET": path, "WATCHDOG_USEC": "400000", "PATH": "/usr/bin:/bin"]
            process.standardError = FileHandle.nullDevice
            try process.run()
        }

        deinit {
            if process.isRunning { kill(process.processIdentifier, SIGKILL) }
            close(fd)
        }

        func receive(until deadline: ContinuousClock.Instant, _ done: ([String]) -> Bool) {
            var buffer = [UInt8](repeating: 0, count: 4096)
            while ContinuousClock.now < deadline && !done(messages) {
                let n = recv(fd, &buffer, buffer.count, 0)
                if n > 0 { messages.append(String(decoding: buffer[0..<n], as: UTF8.self)) }
            }
        }

        func stop() async -> Int32? {
            kill(process.processIdentifier, SIGTERM)
            receive(until: .now + .seconds(5)) { m in m.contains { $0.contains("STOPPING=1") } }
            let deadline = ContinuousClock.now + .seconds(5)
            while process.isRunning && ContinuousClock.now < deadline { try? await Task.sleep(for: .milliseconds(20)) }
            return process.isRunning ? nil : process.terminationStatus
        }
    }

    @Test func readyStatusWatchdogAndStoppingArriveInOrder() async throws {
        let scratch = try Scratch()
        let zk = try ZooKeeperServer(in: scratch)
        try await zk.start()
        let daemon = try Notified(
            scratch,
            [
                "run", "--zk-servers", zk.connectString, "--replica-id", "n1", "--file-dir", scratch.path + "/files",
                "--leader-timeout", "200ms", "--session-timeout", "4s",
            ])
        daemon.receive(until: .now + .seconds(15)) { m in
            m.contains { $0.contains("STATUS=Leader, fencing token") } && m.filter { $0 == "WATCHDOG=1" }.count >= 3
        }
        #expect(await daemon.stop() == 0)
        await zk.stop()

        let messages = daemon.messages
        let ready = try #require(messages.firstIndex { $0.split(separator: "\n").contains("READY=1") }, "\(messages)")
        #expect(messages[ready].contains("STATUS=Attempter"))
        let leading = try #require(messages.firstIndex { $0.contains("STATUS=Leader, fencing token") })
        let stopping = try #require(messages.firstIndex { $0.contains("STOPPING=1") })
        #expect(ready < leading && leading < stopping, "\(messages)")
        #expect(messages[stopping].contains("STATUS=Stopping"))
        #expect(messages.filter { $0 == "WATCHDOG=1" }.count >= 3, "WATCHDOG=1 every half WATCHDOG_USEC")
        #expect(messages.filter { $0.contains("READY=1") }.count == 1)
    }

    /// A ZooKeeper that is away is a state the unit is in, not a start that never
    /// ends: READY=1 comes with the first Init's end, STATUS= says Failover.
    @Test func readyArrivesWhileZooKeeperIsAway() async throws {
        let scratch = try Scratch()
        let daemon = try Notified(
            scratch,
            [
                "run", "--zk-servers", "127.0.0.1:1", "--replica-id", "n2", "--file-dir", scratch.path + "/files",
                "--session-timeout", "2s",
            ])
        daemon.receive(until: .now + .seconds(15)) { m in m.contains { $0.contains("READY=1") } }
        let ready = daemon.messages.first { $0.split(separator: "\n").contains("READY=1") }
        #expect(ready?.contains("STATUS=Failover (zookeeper_unavailable)") == true, "\(daemon.messages)")
        #expect(await daemon.stop() == 0)
    }
}
