import Synchronization
import ZooKeeper

/// What this replica is doing, as one value any reader (HTTP, systemd notify, a
/// status dump) can take at once.
public struct StatusSnapshot: Sendable {
    public var replica: String
    public var state: StateName = .initializing
    /// Wall-clock milliseconds of the last transition.
    public var sinceMillis: Int64
    public var lastReason: TransitionReason?
    public var grant: LeaderGrant?
    public var sessionID: Int64 = 0
    public var sessionState: ZKConnectionState = .connecting
    public var lastFile: String?
    public var lastFileMillis: Int64?
    public var leader: LeaderInfo?
    /// The last time the state loop made progress (monotonic).
    public var lastProgress: ContinuousClock.Instant
    /// Set while the state loop waits: the deadline of that wait.
    public var waitingUntil: ContinuousClock.Instant?

    /// True only where a write is allowed right now (the write path's rule).
    public func isLeader(now: ContinuousClock.Instant = .now) -> Bool { grant?.holds(now: now) ?? false }

    /// Ready, as an operator needs it: a connected session, and taking part in the
    /// election (Attempter or Leader). Not in Init (also a re-run after Failover), not
    /// in Failover, not Stopping, and not while the session is connecting or gone.
    public var isReady: Bool { sessionState == .connected && (state == .attempter || state == .leader) }

    /// The leader as this replica sees it now, or nil when it cannot currently see
    /// one: without a connected session, or outside the election, what it last saw
    /// may be long gone (a follower's `/status` never names a stale leader).
    public var visibleLeader: LeaderInfo? { isReady ? leader : nil }

    /// The state loop is alive and not wedged: it is waiting and not far past the
    /// deadline of its wait, or it made progress within `bound`. Every request it
    /// makes is bounded by ZooKeeper's own timeouts, and every wait by a deadline,
    /// so a loop past `bound` is stuck.
    public func isAlive(now: ContinuousClock.Instant = .now, bound: Duration) -> Bool {
        if let waitingUntil { return now <= waitingUntil + bound }
        return now - lastProgress <= bound
    }
}

/// The lock-protected snapshot, kept current as an observer.
public final class StatusBoard: ElectionObserver {
    private let current: Mutex<StatusSnapshot>

    private let host: String

    public init(identity: Identity) {
        host = identity.host
        current = Mutex(
            StatusSnapshot(replica: identity.replica, sinceMillis: WallClock.nowMillis(), lastProgress: .now))
    }

    public var snapshot: StatusSnapshot { current.withLock { $0 } }

    public func transitioned(from: StateName, to: StateName, reason: TransitionReason, token: Int64?) {
        let now = WallClock.nowMillis()
        current.withLock { s in
            s.state = to
            s.sinceMillis = now
            s.lastReason = reason
            s.lastProgress = .now
            s.waitingUntil = nil
            if to != .leader { s.grant = nil }
        }
    }

    public func fileWritten(_ file: ElectionFileName) {
        let now = WallClock.nowMillis()
        current.withLock { s in
            s.lastFile = file.name
            s.lastFileMillis = now
        }
    }

    public func sessionChanged(_ state: ZKConnectionState, sessionID: Int64) {
        current.withLock { s in
            s.sessionState = state
            if sessionID != 0 { s.sessionID = sessionID }
        }
    }

    public func confirmed(roundTrip: Duration, lease: Lease) {
        current.withLock { s in s.grant?.lease = lease }
    }

    public func leadership(_ grant: LeaderGrant?) {
        current.withLock { s in
            s.grant = grant
            if let grant {
                s.leader = LeaderInfo(replica: s.replica, host: host, znode: grant.znode, token: grant.token)
            }
        }
    }

    public func leaderObserved(_ leader: LeaderInfo?) { current.withLock { $0.leader = leader } }

    public func waiting(until: ContinuousClock.Instant) { current.withLock { $0.waitingUntil = until } }

    public func progressed() {
        current.withLock { s in
            s.lastProgress = .now
            s.waitingUntil = nil
        }
    }
}
