/// Checks every resource: the file-dir, a ZooKeeper session, the election path.
public struct InitState: ElectionState {
    public static let name = StateName.initializing
    /// A session that survived a Failover, reused when still connected.
    public var session: (any CoordinationSession)?
    public var held: Held { Held(session: session, candidate: nil) }

    public init(session: (any CoordinationSession)? = nil) { self.session = session }

    public func run(_ env: ElectionEnvironment) async -> Step {
        do {
            let removed = try env.store.prepare()
            if removed > 0 {
                env.logger.notice(
                    "removed stale temporary files", metadata: ["count": "\(removed)", "dir": "\(env.store.directory)"])
            }
        } catch {
            return .next(FailoverState(session: session, needsInit: true), reason: "file-dir unusable: \(error)")
        }

        var session = self.session
        if let current = session, Decisions.verdict(current.health, now: .now) != .connected {
            await current.close()
            session = nil
        }
        if session == nil {
            do {
                session = try await env.sessions.connect()
            } catch {
                if Task.isCancelled { return .next(StoppingState(held: held), reason: "signal received") }
                return .next(
                    FailoverState(session: nil, needsInit: true), reason: "cannot connect to ZooKeeper: \(error)")
            }
        }
        guard let session else { return .finished }
        do {
            if try await session.exists(env.config.electionPath) == nil {
                try await session.createParents(env.config.electionPath)
            }
        } catch {
            return .next(
                FailoverState(session: session, needsInit: true),
                reason: "cannot ensure election path \(env.config.electionPath): \(error)")
        }
        return .next(
            AttempterState(session: session, candidate: nil),
            reason: "resources ready (session 0x\(session.sessionID.sessionHex))")
    }
}
