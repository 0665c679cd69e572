import ElectionDaemon
import Testing

/// The daemon's own logic, reached as a library (`ElectionDaemon`), without a process.
@Suite struct DaemonTests {
    @Test func aMistypedVariableGetsTheKnownNameItMostLikelyMeant() {
        let found = Daemon.unknownVariables(in: [
            "ELECTION_ZK_SERVER": "x", "ELECTION_ZK_SERVERS": "y", "ELECTION_NOTHING_LIKE_IT_AT_ALL": "z", "PATH": "/",
        ])
        #expect(found.map(\.0) == ["ELECTION_NOTHING_LIKE_IT_AT_ALL", "ELECTION_ZK_SERVER"])
        #expect(found.first { $0.0 == "ELECTION_ZK_SERVER" }?.1 == "ELECTION_ZK_SERVERS")
        #expect(found.first { $0.0 == "ELECTION_NOTHING_LIKE_IT_AT_ALL" }?.1 == nil)
    }

    @Test func theWatchdogReadsTheSessionPasswordInHex() {
        #expect(Watchdog.bytes(hex: "00ff10") == [0, 255, 16])
        #expect(Watchdog.bytes(hex: "-").isEmpty)
        #expect(Watchdog.bytes(hex: "abc").isEmpty, "an odd number of digits is no password")
    }
}
