import CoreMetrics
import Election
import Synchronization
import ZooKeeper

/// The election's metrics through swift-metrics (the backend, Prometheus, is
/// bootstrapped by `RunCommand` alone). The README's "Observing it" lists them.
final class MetricsObserver: ElectionObserver {
    static let confirmLabel = "election_confirm_round_trip_seconds"
    static let leadershipLabel = "election_time_to_leadership_seconds"

    private let isLeader = Gauge(label: "election_is_leader")
    private let token = Gauge(label: "election_fencing_token")
    private let states: [StateName: Gauge]
    private let sessionStates: [ZKConnectionState: Gauge]
    private let filesWritten = Counter(label: "election_files_written_total")
    private let filesDeleted = Counter(label: "election_files_deleted_total")
    private let writeErrors = Counter(label: "election_write_errors_total")
    private let reconnects = Counter(label: "election_zk_reconnects_total")
    private let confirmations = Timer(label: confirmLabel)
    private let timeToLeadership = Timer(label: leadershipLabel)

    private struct Race {
        /// When the current race to lead began (process start, or the predecessor's
        /// disappearance); nil once a first file ended it.
        var startedAt: ContinuousClock.Instant? = .now
        var lastSession: ZKConnectionState?
    }
    private let race = Mutex(Race())

    init(version: String) {
        states = Dictionary(
            uniqueKeysWithValues: StateName.allCases.map {
                ($0, Gauge(label: "election_state", dimensions: [("state", $0.rawValue)]))
            })
        sessionStates = Dictionary(
            uniqueKeysWithValues: [ZKConnectionState.connecting, .connected, .expired, .authFailed, .closed].map {
                ($0, Gauge(label: "election_zk_session_state", dimensions: [("state", $0.rawValue)]))
            })
        Gauge(label: "election_build_info", dimensions: [("version", version)]).record(1)
        show(.initializing)
        isLeader.record(0)
    }

    /// Histogram buckets for the two timers, in the Prometheus factory's terms.
    static var buckets: [String: [Duration]] {
        [
            confirmLabel: [1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2500].map { .milliseconds($0) },
            leadershipLabel: [5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000].map { .milliseconds($0) },
        ]
    }

    private func show(_ state: StateName) {
        for (name, gauge) in states { gauge.record(name == state ? 1 : 0) }
    }

    func transitioned(from: StateName, to: StateName, reason: TransitionReason, token: Int64?) {
        Counter(
            label: "election_transitions_total",
            dimensions: [("from", from.rawValue), ("to", to.rawValue), ("reason", reason.code.rawValue)]
        ).increment()
        show(to)
    }

    func fileWritten(_ file: ElectionFileName) {
        filesWritten.increment()
        let started: ContinuousClock.Instant? = race.withLock { r in
            defer { r.startedAt = nil }
            return r.startedAt
        }
        if let started { timeToLeadership.recordNanoseconds((ContinuousClock.now - started).nanoseconds) }
    }

    func filesDeleted(_ count: Int) { filesDeleted.increment(by: count) }
    func writeFailed(_ error: FileStoreError) { writeErrors.increment() }

    func sessionChanged(_ state: ZKConnectionState, sessionID: Int64) {
        let reconnected = race.withLock { r in
            defer { r.lastSession = state }
            return state == .connected && r.lastSession == .connecting
        }
        if reconnected { reconnects.increment() }
        for (name, gauge) in sessionStates { gauge.record(name == state ? 1 : 0) }
    }

    func confirmed(roundTrip: Duration, lease: Lease) {
        confirmations.recordNanoseconds(roundTrip.nanoseconds)
    }

    func leadership(_ grant: LeaderGrant?) {
        isLeader.record(grant == nil ? 0 : 1)
        if let grant { token.record(grant.token) }
    }

    func predecessorGone() { race.withLock { $0.startedAt = .now } }

    func commandExited(status: Int32, ranFor: Duration) {
        Counter(label: "election_command_exits_total", dimensions: [("status", "\(status)")]).increment()
    }
}

extension Duration {
    var nanoseconds: Int64 {
        let (seconds, attoseconds) = components
        return seconds * 1_000_000_000 + attoseconds / 1_000_000_000
    }
}
