import Foundation
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// The durable write, read from the system calls the real binary makes (strace):
/// every published file was fsynced before its rename, and the directory was
/// fsynced after it, before the next file.
@Suite(.serialized, .timeLimit(.minutes(3))) struct DurabilityTests {
    struct Call {
        var text: String
        var fd: Int32? {
            guard let eq = text.range(of: ") = ", options: .backwards) else { return nil }
            return Int32(text[eq.upperBound...].prefix { $0.isNumber })
        }

        /// The calls of an `strace -f` log. A call another thread's call interrupts is
        /// split into `PID name(… <unfinished ...>` and `PID <... name resumed>…) = fd`
        /// (often on a loaded machine); it is joined here, where it began.
        static func parse(_ log: String) -> [Call] {
            let unfinished = "<unfinished ...>"
            var calls: [Call] = []
            var started: [Substring: Int] = [:]
            for line in log.split(separator: "\n") {
                let pid = line.prefix { $0 != " " }
                if line.hasSuffix(unfinished) {
                    started[pid] = calls.count
                    calls.append(Call(text: String(line.dropLast(unfinished.count))))
                } else if let resumed = line.range(of: " resumed>"), let index = started.removeValue(forKey: pid) {
                    calls[index].text += line[resumed.upperBound...]
                } else {
                    calls.append(Call(text: String(line)))
                }
            }
            return calls
        }
    }

    @Test func everyFileIsFsyncedBeforeItsRenameAndTheDirectoryAfter() async throws {
        let strace = "/usr/bin/strace"
        try #require(FileManager.default.isExecutableFile(atPath: strace), "strace is installed by make deps")
        let scratch = try Scratch()
        let zk = try ZooKeeperServer(in: scratch)
        try await zk.start()
        let dir = scratch.path + "/files"
        let trace = scratch.path + "/trace"
        let process = Process()
        process.executableURL = URL(fileURLWithPath: strace)
        // strace runs as root (it traces); the daemon under it runs the deployed way.
        let daemon = Deployed.command(
            electionBinary,
            [
                "run", "--zk-servers", zk.connectString, "--replica-id", "d1", "--file-dir", dir,
                "--leader-timeout", "100ms", "--session-timeout", "4s", "--storage-capacity", "3",
            ])
        process.arguments =
            [
                "-f", "-qq", "-e", "trace=openat,fsync,fdatasync,rename,renameat,renameat2", "-o", trace,
                daemon.executable,
            ]
            + daemon.arguments
        process.standardError = FileHandle.nullDevice
        try process.run()
        defer {
            if process.isRunning {
                kill(process.processIdentifier, SIGKILL)
                _ = try? runProcess("/usr/bin/pkill", ["-KILL", "-f", dir])
            }
        }
        try await eventually(within: .seconds(20), "five files written") {
            (electionFiles(in: dir).last?.counter ?? 0) >= 5
        }
        // Stop the daemon itself (strace's child); strace exits with it.
        let children =
            (try? String(
                contentsOfFile: "/proc/\(process.processIdentifier)/task/\(process.processIdentifier)/children",
                encoding: .utf8)) ?? ""
        for child in children.split(separator: " ").compactMap({ Int32($0) }) { kill(child, SIGTERM) }
        let deadline = ContinuousClock.now + .seconds(10)
        while process.isRunning && ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(20)) }
        #expect(!process.isRunning, "the daemon under strace stops on SIGTERM")
        await zk.stop()

        let calls = Call.parse(try String(contentsOfFile: trace, encoding: .utf8))
        var checked = 0
        for (index, call) in calls.enumerated()
        where call.text.contains("rename") && call.text.contains(".election-tmp+") && call.text.contains("/election-") {
            // The temporary file named in the rename: its open, then an fsync of that fd before the rename.
            let tempName = try #require(
                call.text.split(separator: "\"").first { $0.contains(".election-tmp+") }.map(String.init))
            let open = try #require(
                calls[..<index].lastIndex { $0.text.contains("openat(") && $0.text.contains("\"\(tempName)\"") },
                "the temporary file's open is traced")
            let fd = try #require(calls[open].fd)
            #expect(
                calls[open..<index].contains {
                    $0.text.contains("fsync(\(fd))") || $0.text.contains("fdatasync(\(fd))")
                },
                "the file was fsynced before its rename: \(call.text)")
            // After the rename and before the next rename: an fsync of the directory.
            let next =
                calls[(index + 1)...].firstIndex { $0.text.contains("rename") && $0.text.contains(".election-tmp+") }
                ?? calls.endIndex
            let dirOpens = calls[(index + 1)..<next].filter { $0.text.contains("O_DIRECTORY") }.compactMap(\.fd)
            #expect(
                dirOpens.contains { d in calls[(index + 1)..<next].contains { $0.text.contains("fsync(\(d))") } },
                "the directory was fsynced after the rename: \(call.text)")
            checked += 1
        }
        #expect(checked >= 5, "renames seen in the trace: \(checked)")
    }
}
