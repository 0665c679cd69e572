import ZooKeeper

/// The pure decisions of the election, kept apart from I/O so they can be tested alone.
public enum Decisions {
    /// ZooKeeper's sequence suffix: the last 10 digits of a candidate's name, after
    /// the `_` that ends our prefix. Anything else (a foreign name, a sign from a
    /// counter that wrapped past 2^31) is not a candidate: it is ignored, so it can
    /// stall an election but never make a second leader.
    public static func sequence(of name: String) -> Int64? {
        let digits = name.suffix(10)
        guard digits.count == 10, name.utf8.count > 10, digits.allSatisfy({ $0.isASCII && $0.isNumber }),
            name.dropLast(10).last == "_"
        else { return nil }
        return Int64(digits)
    }

    /// Candidates in election order (lowest sequence first); names without a
    /// sequence suffix are not candidates and are ignored.
    public static func ordered(_ names: [String]) -> [String] {
        names.compactMap { name in sequence(of: name).map { (name, $0) } }
            .sorted { $0.1 < $1.1 }
            .map(\.0)
    }

    public enum Position: Equatable, Sendable {
        /// Our znode is not among the children.
        case absent
        /// Lowest sequence: we lead.
        case leader(own: String)
        /// Watch only this one: our immediate predecessor (no herd effect).
        case follower(own: String, predecessor: String)
    }

    /// Where the candidate with `prefix` stands among `children`.
    public static func position(ofPrefix prefix: String, in children: [String]) -> Position {
        let order = ordered(children)
        guard let index = order.firstIndex(where: { $0.hasPrefix(prefix) }) else { return .absent }
        if index == 0 { return .leader(own: order[0]) }
        return .follower(own: order[index], predecessor: order[index - 1])
    }

    public enum SessionVerdict: Equatable, Sendable {
        case connected
        /// Disconnected, but the session may still be alive on the server.
        case suspended(until: ContinuousClock.Instant)
        /// Expired, closed, or disconnected longer than the session timeout on our own
        /// clock (the C client will not report expiry while cut off).
        case lost
    }

    public static func verdict(_ health: ZKHealth, now: ContinuousClock.Instant) -> SessionVerdict {
        switch health.state {
        case .connected: return .connected
        case .expired, .authFailed, .closed: return .lost
        case .connecting:
            let since = health.disconnectedSince ?? health.lastContact
            let deadline = since + health.negotiatedTimeout
            return now >= deadline ? .lost : .suspended(until: deadline)
        }
    }

    /// The longest wait between two recovery attempts. Only a fault that persists
    /// gets there (the counter resets on real work), so it can be long.
    public static let backoffCap: Duration = .seconds(30)

    /// Capped exponential backoff with jitter in [delay/2, delay].
    public static func backoff(attempt: Int, base: Duration = .milliseconds(100), cap: Duration = backoffCap)
        -> Duration
    {
        let exponent = min(max(attempt, 0), 16)
        let raw = base * (1 << exponent)
        let delay = min(raw, cap)
        let ms = max(delay.milliseconds, 1)
        return .milliseconds(Int64.random(in: max(ms / 2, 1)...ms))
    }
}
