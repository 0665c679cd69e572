import Logging

/// Drives the states from Init to the end. The first stop request (a signal) wakes
/// the running state, which returns what it holds; the runner builds Stopping from
/// that. A second request ends the process at once through `onSecondStop`.
public struct Runner: Sendable {
    public var env: ElectionEnvironment
    public var onSecondStop: @Sendable (String) -> Void

    public init(env: ElectionEnvironment, onSecondStop: @escaping @Sendable (String) -> Void) {
        self.env = env
        self.onSecondStop = onSecondStop
    }

    /// Runs until stopped; `stops` delivers the name of each stop signal.
    public func run(stops: AsyncStream<String>, initial: any ElectionState = InitState()) async {
        await withTaskGroup(of: Void.self) { group in
            group.addTask { [env, onSecondStop] in
                var received = 0
                for await name in stops {
                    received += 1
                    if received == 1 {
                        env.logger.notice("stop requested; stopping", metadata: ["signal": "\(name)"])
                        env.requests.stop.fire(name)
                    } else {
                        env.logger.warning("second stop request; exiting at once", metadata: ["signal": "\(name)"])
                        onSecondStop(name)
                    }
                }
            }
            await drive(from: initial)
            group.cancelAll()
        }
    }

    /// The state loop.
    func drive(from initial: any ElectionState) async {
        var state = initial
        var streak = FaultStreak()
        env.logger.info(
            "starting", metadata: ["state": "\(state.name.rawValue)", "replica": "\(env.config.replicaID)"])
        while true {
            let current = state
            var next: any ElectionState
            var reason: TransitionReason
            switch await current.run(env) {
            case .finished:
                env.logger.info("stopped")
                return
            case .stop(let held):
                next = StoppingState(held: held)
                reason = stopReason
            case .next(let successor, let why):
                (next, reason) = (successor, why)
                if env.requests.stopRequested && !(next is StoppingState) && !(current is StoppingState) {
                    next = StoppingState(held: next.held)
                    reason = stopReason
                }
            }
            if !StateRegistry.allows(current.name, next.name) {
                env.logger.error(
                    "transition not in the state diagram",
                    metadata: ["from": "\(current.name.rawValue)", "to": "\(next.name.rawValue)"])
            }
            let token = (next as? LeaderState)?.candidate.token
            log(from: current.name, to: next.name, reason: reason, token: token, streak: &streak)
            env.observer.transitioned(from: current.name, to: next.name, reason: reason, token: token)
            state = next
        }
    }

    private var stopReason: TransitionReason {
        TransitionReason(.stopRequested, "stop requested (\(env.requests.stop.value ?? "stop"))")
    }

    /// One line per transition, except while the same fault repeats: the second time
    /// in a row says so once (warning), and its further cycles go to debug until the
    /// election does real work again.
    private func log(
        from: StateName, to: StateName, reason: TransitionReason, token: Int64?, streak: inout FaultStreak
    ) {
        var metadata: Logger.Metadata = [
            "from": "\(from.rawValue)", "to": "\(to.rawValue)", "reason": "\(reason)",
            "code": "\(reason.code.rawValue)",
        ]
        if let token { metadata["token"] = "\(token)" }
        switch streak.record(to: to, reason: reason, failures: env.failures.current, now: env.clock.now) {
        case .normal:
            // After a streak, the state that did the real work already said "recovered".
            env.logger.info("transition", metadata: metadata)
        case .reminder(let repeats, let lasting):
            env.logger.info("transition", metadata: metadata)
            env.logger.warning(
                "the same fault still repeats",
                metadata: [
                    "code": "\(reason.code.rawValue)", "reason": "\(reason)", "repeats": "\(repeats)",
                    "for": "\(DurationParser.format(lasting))",
                ])
        case .persists:
            env.logger.info("transition", metadata: metadata)
            env.logger.warning(
                "the same fault repeats; backing off further each time (up to \(Decisions.backoffCap)), repeats logged at debug",
                metadata: ["code": "\(reason.code.rawValue)", "reason": "\(reason)"])
        case .quiet:
            env.logger.debug("transition", metadata: metadata)
        }
    }
}

/// Tracks a fault that repeats across whole recovery cycles (pure; see `Runner.log`):
/// said when it starts, said once more when it repeats, then quiet but for a
/// reminder every `reminderInterval` while it lasts, so that a fault that persists
/// is never silence at the default level.
struct FaultStreak: Equatable {
    static let reminderInterval: Duration = .seconds(60)

    private(set) var code: TransitionReason.Code?
    private(set) var repeats = 0
    private var started: ContinuousClock.Instant?
    private var lastSaid: ContinuousClock.Instant?

    enum Verdict: Equatable {
        case normal
        /// The second occurrence in a row: say so once.
        case persists
        /// Still repeating, a reminder interval after it was last said.
        case reminder(repeats: Int, lasting: Duration)
        case quiet
    }

    mutating func record(
        to: StateName, reason: TransitionReason, failures: Int, now: ContinuousClock.Instant
    ) -> Verdict {
        if to == .failover {
            if reason.code == code && failures > 0 {
                repeats += 1
                if repeats == 1 {
                    lastSaid = now
                    return .persists
                }
                if let lastSaid, now - lastSaid >= Self.reminderInterval {
                    self.lastSaid = now
                    return .reminder(repeats: repeats, lasting: now - (started ?? now))
                }
                return .quiet
            }
            (code, repeats, started, lastSaid) = (reason.code, 0, now, now)
            return .normal
        }
        if repeats > 0 && failures == 0 {
            (code, repeats, started, lastSaid) = (nil, 0, nil, nil)
            return .normal
        }
        return repeats > 0 ? .quiet : .normal
    }
}
