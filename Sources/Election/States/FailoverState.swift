import ZooKeeper

/// Stops all useful work and recovers with capped, jittered backoff. It never
/// gives up: a daemon recovers.
public struct FailoverState: ElectionState {
    public static let name = StateName.failover
    public var session: (any CoordinationSession)?
    public var candidate: Candidate?
    /// A resource other than the session failed: run Init again before competing.
    public var needsInit: Bool
    public var held: Held { Held(session: session, candidate: candidate) }

    public init(session: (any CoordinationSession)?, candidate: Candidate? = nil, needsInit: Bool = false) {
        self.session = session
        self.candidate = candidate
        self.needsInit = needsInit
    }

    public func run(_ env: ElectionEnvironment) async -> Step {
        var session = self.session
        var candidate = self.candidate
        var lostReason: String?
        while !Task.isCancelled {
            guard let current = session else {
                let delay = Decisions.backoff(attempt: env.failures.next())
                if await waitForWake(until: .now + delay) == .cancelled { break }
                return .next(InitState(session: nil), reason: lostReason ?? "retrying initialisation")
            }
            switch Decisions.verdict(current.health, now: .now) {
            case .connected:
                if needsInit {
                    let delay = Decisions.backoff(attempt: env.failures.next())
                    if await waitForWake(until: .now + delay) == .cancelled { break }
                    return .next(InitState(session: current), reason: "retrying initialisation")
                }
                return .next(AttempterState(session: current, candidate: candidate), reason: "same session reconnected")
            case .lost:
                let since = current.health.disconnectedSince.map { ContinuousClock.now - $0 } ?? .zero
                env.logger.warning(
                    "ZooKeeper session lost; starting a new one",
                    metadata: [
                        "session": "0x\(current.sessionID.sessionHex)",
                        "state": "\(current.health.state.rawValue)", "disconnected_for": "\(since)",
                    ])
                await current.close()
                session = nil
                candidate = nil
                lostReason = "session lost (\(current.health.state.rawValue))"
            case .suspended(let until):
                // Wait for the library to reconnect, or for the session to count as lost.
                let wake = await waitForWake(until: until, session: current) { $0 != .connecting }
                if wake == .cancelled { break }
            }
        }
        return .next(StoppingState(held: Held(session: session, candidate: candidate)), reason: "signal received")
    }
}
