import Foundation
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// The daemon as it is deployed: no root, no capabilities (see `Deployed`). Two
/// defects hid here while every test ran as root: the HTTP endpoints closed every
/// connection (TCP_NODELAY was set at SOL_SOCKET, which is SO_DEBUG and needs
/// CAP_NET_ADMIN), and libdispatch logged a failed priority raise at start.
@Suite(.serialized, .timeLimit(.minutes(3))) struct UnprivilegedTests {
    /// The fields of a `/proc/PID/status` line such as `Uid:` or `CapEff:`.
    func statusField(_ pid: Int32, _ name: String) -> [String] {
        let text = (try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8)) ?? ""
        guard let line = text.split(separator: "\n").first(where: { $0.hasPrefix(name + ":") }) else { return [] }
        return line.dropFirst(name.count + 1).split(whereSeparator: \.isWhitespace).map(String.init)
    }

    @Test func withoutRootOrCapabilitiesEveryEndpointAnswersAndNothingAlarmingIsLogged() async throws {
        let scratch = try Scratch()
        let zk = try ZooKeeperServer(in: scratch)
        try await zk.start()
        let port = freePort()
        // libdispatch logs to syslog by default (the journal under the unit): to
        // stderr here, where the test reads it.
        let replica = try Replica(
            id: "u1", scratch: scratch, servers: zk.connectString, extra: ["--http-addr", "127.0.0.1:\(port)"],
            environment: ["LIBDISPATCH_LOG": "stderr"])
        try await eventually(within: .seconds(20), "it leads and has written") {
            replica.state == "Leader" && !electionFiles(in: replica.fileDir).isEmpty
        }

        // The process really is unprivileged: the tests run it the deployed way.
        let uids = statusField(replica.pid, "Uid")
        #expect(uids.count == 4 && !uids.contains("0"), "real, effective, saved and fs uid: \(uids)")
        for set in ["CapEff", "CapPrm", "CapInh", "CapBnd", "CapAmb"] {
            #expect(
                statusField(replica.pid, set).allSatisfy { UInt64($0, radix: 16) == 0 },
                "\(set) is empty: \(statusField(replica.pid, set))")
        }

        for path in ["/healthz", "/readyz", "/leader", "/status", "/metrics"] {
            let answer = httpGet(port, path)
            #expect(answer?.status == 200, "\(path) answers 200 unprivileged: \(String(describing: answer))")
        }
        let probe = try runProcess(electionBinary, ["probe", "http://127.0.0.1:\(port)/readyz", "--timeout", "2s"])
        #expect(probe.status == 0, "election probe, unprivileged: \(probe.stderr)")

        replica.signal(SIGTERM)
        #expect(await replica.waitForExit(within: .seconds(5)) == 0)
        let alarming = replica.log.split(separator: "\n").filter {
            $0.contains("Failed to set thread priority") || $0.contains("errno=") || $0.contains("level=error")
                || $0.contains("level=warning")
        }
        #expect(alarming.isEmpty, "a normal start and stop logs nothing alarming: \(alarming)")
        await zk.stop()
    }
}
