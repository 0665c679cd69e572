import ZooKeeper

/// The leader's right to act, as a value: when the current write fell due, when
/// the newest confirming round trip was sent, and from those whether a write (or
/// anything else only the leader may do) is allowed now and until when.
///
/// The rule (docs/design.md, "The lease"): a round trip that confirmed our
/// candidate znode and was *sent* at `confirmedAt` proves the server heard from our
/// session no earlier than that, so the session, and with it our leadership, lives
/// for at least a session timeout after it. We act only within half of that, only
/// while the same connection is up, and for a write only on a confirmation sent
/// after the write fell due (nothing learned before a pause is trusted).
/// Pure: the clock and the session's health are passed in.
public struct Lease: Sendable, Equatable {
    /// When the pending write fell due.
    public private(set) var due: ContinuousClock.Instant
    /// When the newest confirming round trip was sent; nil: none yet.
    public private(set) var confirmedAt: ContinuousClock.Instant?

    public init(due: ContinuousClock.Instant, confirmedAt: ContinuousClock.Instant? = nil) {
        self.due = due
        self.confirmedAt = confirmedAt
    }

    /// The write timer fired: a confirmation sent before `instant` no longer counts for the write.
    public mutating func writeFellDue(at instant: ContinuousClock.Instant) { due = instant }

    /// A confirming round trip sent at `sentAt` came back with our znode in place.
    public mutating func confirmed(sentAt: ContinuousClock.Instant) {
        if let current = confirmedAt, current > sentAt { return }
        confirmedAt = sentAt
    }

    /// Until when the leadership is proven, or nil when it is not proven at all: not
    /// connected, reconnected since the confirmation, or never confirmed.
    public func validUntil(_ health: ZKHealth) -> ContinuousClock.Instant? {
        guard let confirmedAt, health.isConnected else { return nil }
        if let connectedSince = health.connectedSince, connectedSince > confirmedAt { return nil }
        return confirmedAt + health.negotiatedTimeout / 2
    }

    /// True while the leadership is proven: what `/leader` and the supervised child use.
    public func holds(_ health: ZKHealth, now: ContinuousClock.Instant) -> Bool {
        guard let until = validUntil(health), let confirmedAt else { return false }
        return now >= confirmedAt && now < until
    }

    /// True when the pending write may be published now.
    public func mayWrite(_ health: ZKHealth, now: ContinuousClock.Instant) -> Bool {
        guard let confirmedAt, confirmedAt >= due else { return false }
        return holds(health, now: now)
    }
}

extension ZKHealth {
    /// Connected now, as the client library last reported it.
    public var isConnected: Bool { state == .connected && disconnectedSince == nil }
}
