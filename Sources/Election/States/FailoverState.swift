import Logging
import ZooKeeper

/// Stops all useful work and recovers with capped, jittered backoff. It never
/// gives up: a daemon recovers.
public struct FailoverState: ElectionState {
    public static let name = StateName.failover
    public var session: (any CoordinationSession)?
    public var candidate: Candidate?
    /// A resource other than the session failed (or the leader resigned): back off,
    /// then run Init again before competing.
    public var needsInit: Bool
    /// Wait at least this long before Init (a resign after the command failed).
    public var atLeast: Duration
    /// At most this long before trying again on a connected session: a leader that
    /// could not keep its lease comes back quickly, since its step-down (after a
    /// session timeout of trouble) bounds the loop. Nil: the usual backoff.
    public var retryWithin: Duration?
    public var held: Held { Held(session: session, candidate: candidate) }

    public init(
        session: (any CoordinationSession)?, candidate: Candidate? = nil, needsInit: Bool = false,
        atLeast: Duration = .zero, retryWithin: Duration? = nil
    ) {
        self.session = session
        self.candidate = candidate
        self.needsInit = needsInit
        self.atLeast = atLeast
        self.retryWithin = retryWithin
    }

    public func run(_ env: ElectionEnvironment) async -> Step {
        var session = self.session
        var candidate = self.candidate
        var lost: TransitionReason?
        // A session that was connected all along means a request failed, not the
        // connection: back off before trying again, or a fault that persists (a
        // refused ACL, say) would loop Attempter ⇄ Failover at full speed.
        let connectedAtEntry = session.map { Decisions.verdict($0.health, now: env.clock.now) == .connected } ?? false
        recovering: while true {
            guard let current = session else {
                let delay = Decisions.backoff(attempt: env.failures.next())
                if await env.waitForWake(until: env.clock.now + delay) == .stop { break recovering }
                return .next(InitState(session: nil), lost ?? TransitionReason(.retry, "retrying initialisation"))
            }
            switch Decisions.verdict(current.health, now: env.clock.now) {
            case .connected:
                if needsInit {
                    let delay = max(Decisions.backoff(attempt: env.failures.next()), atLeast)
                    if await env.waitForWake(until: env.clock.now + delay) == .stop { break recovering }
                    return .next(InitState(session: current), TransitionReason(.retry, "retrying initialisation"))
                }
                if connectedAtEntry {
                    let delay = min(Decisions.backoff(attempt: env.failures.next()), retryWithin ?? .seconds(3600))
                    if await env.waitForWake(until: env.clock.now + delay, session: current) == .stop {
                        break recovering
                    }
                }
                return .next(
                    AttempterState(session: current, candidate: candidate),
                    TransitionReason(.reconnected, "same session reconnected"))
            case .lost:
                let since = current.health.disconnectedSince.map { env.clock.now - $0 } ?? .zero
                let metadata: Logger.Metadata = [
                    "session": "\(current.sessionID.sessionHex)",
                    "state": "\(current.health.state.rawValue)", "disconnected_for": "\(since)",
                ]
                if current.health.state == .authFailed {
                    // Said once per process: every retry meets the same credentials.
                    if env.reportAuthFailureOnce() {
                        env.logger.error(
                            """
                            ZooKeeper rejected the credentials of \(Setting.zkAuthFile.spelled): \
                            AUTH_FAILED; retrying with a growing backoff, repeats logged at debug
                            """,
                            metadata: metadata)
                    } else {
                        env.logger.debug("authentication failed again", metadata: metadata)
                    }
                } else if env.failures.current == 0 {
                    env.logger.warning("ZooKeeper session lost; starting a new one", metadata: metadata)
                } else {
                    env.logger.debug("ZooKeeper session lost again; starting a new one", metadata: metadata)
                }
                await current.close()
                session = nil
                candidate = nil
                lost = TransitionReason(.sessionLost, "session lost (\(current.health.state.rawValue))")
            case .suspended(let until):
                // Wait for the library to reconnect, or for the session to count as lost.
                let wake = await env.waitForWake(until: until, session: current) { $0 != .connecting }
                if wake == .stop { break recovering }
            }
            if env.requests.stopRequested { break recovering }
        }
        return .stop(Held(session: session, candidate: candidate))
    }
}
