import Logging

/// Drives the states from Init to the end and turns the first stop signal into
/// Stopping. A second signal ends the process at once through `onSecondSignal`.
public struct Runner: Sendable {
    public var env: ElectionEnvironment
    public var onSecondSignal: @Sendable (Int32) -> Void

    public init(env: ElectionEnvironment, onSecondSignal: @escaping @Sendable (Int32) -> Void) {
        self.env = env
        self.onSecondSignal = onSecondSignal
    }

    /// Runs until stopped; `signals` delivers SIGTERM/SIGINT numbers.
    public func run(signals: AsyncStream<Int32>, initial: any ElectionState = InitState()) async {
        let machine = Task { await drive(from: initial) }
        await withTaskGroup(of: Void.self) { group in
            group.addTask { [env, onSecondSignal] in
                var received = 0
                for await signal in signals {
                    received += 1
                    if received == 1 {
                        env.logger.notice("stop signal received; stopping", metadata: ["signal": "\(signal)"])
                        machine.cancel()
                    } else {
                        env.logger.warning("second stop signal; exiting at once", metadata: ["signal": "\(signal)"])
                        onSecondSignal(signal)
                    }
                }
            }
            await machine.value
            group.cancelAll()
        }
    }

    /// The state loop. Stopping runs in a task of its own so the cancellation that
    /// asked for it does not cut short its clean-up.
    func drive(from initial: any ElectionState) async {
        var state = initial
        env.logger.info(
            "starting", metadata: ["state": "\(state.name.rawValue)", "replica": "\(env.config.replicaID)"])
        while true {
            let current = state
            let step: Step
            if current is StoppingState {
                step = await Task { [env] in await current.run(env) }.value
            } else {
                step = await current.run(env)
            }
            guard case .next(var next, var reason) = step else { break }
            if Task.isCancelled && !(next is StoppingState) && !(current is StoppingState) {
                next = StoppingState(held: next.held)
                reason = "signal received"
            }
            if !StateRegistry.allows(current.name, next.name) {
                env.logger.error(
                    "transition not in the state diagram",
                    metadata: ["from": "\(current.name.rawValue)", "to": "\(next.name.rawValue)"])
            }
            var metadata: Logger.Metadata = [
                "from": "\(current.name.rawValue)", "to": "\(next.name.rawValue)", "reason": "\(reason)",
            ]
            if let leader = next as? LeaderState, let token = leader.candidate.token { metadata["token"] = "\(token)" }
            env.logger.info("transition", metadata: metadata)
            env.onTransition(current.name, next.name, reason)
            state = next
        }
        env.logger.info("stopped")
    }
}
