import Synchronization
import ZooKeeper

/// The one place the election reports what it does. Metrics, the HTTP status
/// endpoints, systemd notifications and the transition hooks listen here; no state
/// calls them directly. (The supervised command is not an observer: it is work the
/// states carry out through `ElectionEnvironment.command`.) Every method has a no-op default, and every
/// call is made on the election's own task or a client-library thread: an
/// observer must return at once (take a lock, bump a counter, yield to a stream).
public protocol ElectionObserver: Sendable {
    /// The state machine moved; `token` is the fencing token when entering Leader.
    func transitioned(from: StateName, to: StateName, reason: TransitionReason, token: Int64?)
    /// A file was published (renamed into place, directory fsynced).
    func fileWritten(_ file: ElectionFileName)
    /// Old files were removed to keep the directory within capacity.
    func filesDeleted(_ count: Int)
    /// A write failed; the leader gives up leadership or fails over next.
    func writeFailed(_ error: FileStoreError)
    /// The ZooKeeper session changed state (from a client-library thread).
    func sessionChanged(_ state: ZKConnectionState, sessionID: Int64)
    /// A confirming round trip came back: how long it took, and the lease it renewed.
    func confirmed(roundTrip: Duration, lease: Lease)
    /// This replica now leads (non-nil) or stopped leading (nil).
    func leadership(_ grant: LeaderGrant?)
    /// The leader as last seen by this replica (nil: none or unknown).
    func leaderObserved(_ leader: LeaderInfo?)
    /// This candidate's predecessor went away: its race to lead starts now.
    func predecessorGone()
    /// The supervised command ended by itself while leading.
    func commandExited(status: Int32, ranFor: Duration)
    /// The state loop starts waiting, at most until `until` (for liveness: a wait is
    /// not a wedge, a wait far past its deadline is).
    func waiting(until: ContinuousClock.Instant)
    /// The state loop made progress (a wake-up, a request answered): for liveness.
    func progressed()
}

extension ElectionObserver {
    public func transitioned(from: StateName, to: StateName, reason: TransitionReason, token: Int64?) {}
    public func fileWritten(_ file: ElectionFileName) {}
    public func filesDeleted(_ count: Int) {}
    public func writeFailed(_ error: FileStoreError) {}
    public func sessionChanged(_ state: ZKConnectionState, sessionID: Int64) {}
    public func confirmed(roundTrip: Duration, lease: Lease) {}
    public func leadership(_ grant: LeaderGrant?) {}
    public func leaderObserved(_ leader: LeaderInfo?) {}
    public func predecessorGone() {}
    public func commandExited(status: Int32, ranFor: Duration) {}
    public func waiting(until: ContinuousClock.Instant) {}
    public func progressed() {}
}

/// This replica's leadership: its token, when it began, and what proves it now.
public struct LeaderGrant: Sendable {
    public var token: Int64
    public var znode: String
    /// Wall-clock milliseconds when the leadership began.
    public var sinceMillis: Int64
    public var lease: Lease
    /// The session the lease is checked against.
    public var session: any CoordinationSession

    public init(token: Int64, znode: String, sinceMillis: Int64, lease: Lease, session: any CoordinationSession) {
        self.token = token
        self.znode = znode
        self.sinceMillis = sinceMillis
        self.lease = lease
        self.session = session
    }

    /// The write path's own rule, asked now: is the leadership proven at this moment?
    public func holds(now: ContinuousClock.Instant = .now) -> Bool { lease.holds(session.health, now: now) }
}

/// Who leads, as a candidate znode says.
public struct LeaderInfo: Sendable, Equatable {
    public var replica: String
    public var host: String?
    public var znode: String
    /// The fencing token (the znode's czxid), when known.
    public var token: Int64?

    public init(replica: String, host: String?, znode: String, token: Int64?) {
        self.replica = replica
        self.host = host
        self.znode = znode
        self.token = token
    }
}

/// Observers that ignore everything: the default.
public struct NoObserver: ElectionObserver {
    public init() {}
}

/// Several observers as one, called in order.
public struct Observers: ElectionObserver {
    public var all: [any ElectionObserver]
    public init(_ all: [any ElectionObserver]) { self.all = all }

    public func transitioned(from: StateName, to: StateName, reason: TransitionReason, token: Int64?) {
        for o in all { o.transitioned(from: from, to: to, reason: reason, token: token) }
    }
    public func fileWritten(_ file: ElectionFileName) { for o in all { o.fileWritten(file) } }
    public func filesDeleted(_ count: Int) { for o in all { o.filesDeleted(count) } }
    public func writeFailed(_ error: FileStoreError) { for o in all { o.writeFailed(error) } }
    public func sessionChanged(_ state: ZKConnectionState, sessionID: Int64) {
        for o in all { o.sessionChanged(state, sessionID: sessionID) }
    }
    public func confirmed(roundTrip: Duration, lease: Lease) {
        for o in all { o.confirmed(roundTrip: roundTrip, lease: lease) }
    }
    public func leadership(_ grant: LeaderGrant?) { for o in all { o.leadership(grant) } }
    public func leaderObserved(_ leader: LeaderInfo?) { for o in all { o.leaderObserved(leader) } }
    public func predecessorGone() { for o in all { o.predecessorGone() } }
    public func commandExited(status: Int32, ranFor: Duration) {
        for o in all { o.commandExited(status: status, ranFor: ranFor) }
    }
    public func waiting(until: ContinuousClock.Instant) { for o in all { o.waiting(until: until) } }
    public func progressed() { for o in all { o.progressed() } }
}
