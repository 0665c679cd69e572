import ZooKeeper

/// Writes a file at once and then every leader-timeout, confirming before each
/// write that it still leads.
public struct LeaderState: ElectionState {
    public static let name = StateName.leader
    public var session: any CoordinationSession
    /// Has `name` and `token` set.
    public var candidate: Candidate
    /// When the round trip that made this replica leader was sent (the Attempter's
    /// listing): it confirms the first write, so the file follows the handover
    /// without another round trip. Nil: confirm first.
    public var confirmedAt: ContinuousClock.Instant?
    public var held: Held { Held(session: session, candidate: candidate) }

    public init(session: any CoordinationSession, candidate: Candidate, confirmedAt: ContinuousClock.Instant? = nil) {
        self.session = session
        self.candidate = candidate
        self.confirmedAt = confirmedAt
    }

    public func run(_ env: ElectionEnvironment) async -> Step {
        guard let name = candidate.name, let token = candidate.token else {
            return .next(AttempterState(session: session, candidate: candidate), reason: "candidate not resolved")
        }
        let path = env.candidatePath(name)
        do {
            // A confirmation not yet spent on a write: the Attempter's listing, or
            // the round trip below; every later write confirms afresh.
            var unspent: ContinuousClock.Instant? = confirmedAt ?? .now
            var watch: ZKWatch?
            if confirmedAt == nil {
                let (stat, armed) = try await session.existsAndWatch(path)
                guard let stat, stat.ephemeralOwner == session.sessionID else {
                    return .next(
                        AttempterState(session: session, candidate: nil), reason: "own candidate znode vanished")
                }
                watch = armed
            }
            var counter = try env.store.nextCounter(for: token)
            env.logger.info(
                "leading", metadata: ["token": "\(token)", "znode": "\(path)", "next_counter": "\(counter)"])
            var nextWrite = ContinuousClock.now
            while !Task.isCancelled {
                if ContinuousClock.now >= nextWrite {
                    // Confirm with a round trip that starts after the timer fired: nothing
                    // learned before a pause is trusted.
                    let confirmedAt: ContinuousClock.Instant
                    if let earlier = unspent {
                        confirmedAt = earlier
                        unspent = nil
                    } else {
                        confirmedAt = .now
                        guard let stat = try await session.exists(path), stat.ephemeralOwner == session.sessionID else {
                            return .next(
                                AttempterState(session: session, candidate: nil), reason: "own candidate znode vanished"
                            )
                        }
                    }
                    let session = self.session
                    guard Decisions.mayWrite(session.health, confirmedAt: confirmedAt, now: .now) else {
                        return .next(
                            FailoverState(session: session, candidate: candidate),
                            reason: "leadership not confirmed within half the session timeout")
                    }
                    let file = ElectionFileName(token: token, counter: counter)
                    let content = FileContent(identity: env.identity, token: token, counter: counter).json
                    do {
                        try env.store.write(file, content: content) {
                            Decisions.mayWrite(session.health, confirmedAt: confirmedAt, now: .now)
                        }
                        env.logger.debug("wrote file", metadata: ["file": "\(file.name)"])
                        env.failures.reset()
                        counter += 1
                    } catch let error where error.kind == .notPermitted {
                        return .next(FailoverState(session: session, candidate: candidate), reason: "\(error)")
                    } catch {
                        return await release(env, path: path, reason: "\(error)")
                    }
                    nextWrite += env.config.leaderTimeout
                    if nextWrite <= .now { nextWrite = .now + env.config.leaderTimeout }
                }
                if watch == nil {
                    // Armed after the first write, off the handover's critical path.
                    let (stat, armed) = try await session.existsAndWatch(path)
                    guard stat != nil else {
                        return .next(
                            AttempterState(session: session, candidate: nil), reason: "own candidate znode deleted")
                    }
                    watch = armed
                }
                switch await waitForWake(until: nextWrite, watch: watch, session: session) {
                case .timer:
                    continue
                case .cancelled:
                    break
                case .session(let state):
                    return .next(
                        FailoverState(session: session, candidate: candidate),
                        reason: "ZooKeeper connection \(state.rawValue)")
                case .watch(.sessionLost):
                    return .next(
                        FailoverState(session: session, candidate: candidate), reason: "ZooKeeper session lost")
                case .watch(.deleted):
                    return .next(
                        AttempterState(session: session, candidate: nil), reason: "own candidate znode deleted")
                case .watch:
                    let (stat, armed) = try await session.existsAndWatch(path)
                    watch = armed
                    guard stat != nil else {
                        return .next(
                            AttempterState(session: session, candidate: nil), reason: "own candidate znode deleted")
                    }
                }
            }
        } catch let error as FileStoreError {
            return await release(env, path: path, reason: "\(error)")
        } catch {
            if !Task.isCancelled {
                return .next(
                    FailoverState(session: session, candidate: candidate), reason: "ZooKeeper request failed: \(error)")
            }
        }
        return .next(StoppingState(held: held), reason: "signal received")
    }

    /// Gives up leadership because this replica cannot do the work (file-dir broken,
    /// or a newer leader's file is present): its znode is deleted so a healthy
    /// replica takes over, and Failover re-runs Init before it competes again.
    private func release(_ env: ElectionEnvironment, path: String, reason: String) async -> Step {
        let session = self.session
        _ = await withDeadline(.seconds(2)) { try await session.delete(path, version: -1) }
        return .next(FailoverState(session: session, needsInit: true), reason: "\(reason); leadership released")
    }
}
