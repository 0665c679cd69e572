import ZooKeeper

/// Keeps one candidate znode and waits, watching only its predecessor, until it is
/// the lowest.
public struct AttempterState: ElectionState {
    public static let name = StateName.attempter
    public var session: any CoordinationSession
    /// Nil: create a new candidate. Otherwise find it again by its prefix.
    public var candidate: Candidate?
    public var held: Held { Held(session: session, candidate: candidate) }

    public init(session: any CoordinationSession, candidate: Candidate?) {
        self.session = session
        self.candidate = candidate
    }

    public func run(_ env: ElectionEnvironment) async -> Step {
        var candidate =
            self.candidate ?? Candidate.forSession(replica: env.config.replicaID, sessionID: session.sessionID)
        let parent = env.config.electionPath
        var createdOnce = self.candidate?.name != nil
        var armed: (predecessor: String, watch: ZKWatch)?
        do {
            while !Task.isCancelled {
                let listed = ContinuousClock.now
                let children = try await session.children(parent)
                switch Decisions.position(ofPrefix: candidate.prefix, in: children) {
                case .absent:
                    if createdOnce {
                        env.logger.notice(
                            "own candidate znode is gone; creating a new one",
                            metadata: ["prefix": "\(candidate.prefix)"])
                        candidate.name = nil
                        candidate.token = nil
                    }
                    // A lost reply leaves the node behind: the prefix lets the next
                    // listing find it instead of creating a second one.
                    createdOnce = true
                    let created = try await session.create(
                        parent + "/" + candidate.prefix, data: env.identity.json, mode: .ephemeralSequential)
                    candidate.name = String(created.path.split(separator: "/").last ?? "")
                    candidate.token = created.stat.czxid
                    env.logger.debug("candidate created", metadata: ["znode": "\(created.path)"])

                case .leader(let own):
                    candidate.name = own
                    if candidate.token == nil {
                        // Found, not created, in this state (a resumed session or a lost
                        // reply): learn its token and check that it is ours.
                        guard let stat = try await session.exists(env.candidatePath(own)) else { continue }
                        guard stat.ephemeralOwner == session.sessionID else {
                            return .next(
                                FailoverState(session: session, candidate: nil, needsInit: true),
                                reason: "candidate \(own) carries our prefix but belongs to another session")
                        }
                        candidate.token = stat.czxid
                    }
                    env.failures.reset()
                    return .next(
                        LeaderState(session: session, candidate: candidate, confirmedAt: listed),
                        reason: "lowest candidate \(own) (fencing token \(candidate.token ?? 0))")

                case .follower(let own, let predecessor):
                    candidate.name = own
                    // One watch per predecessor: a periodic re-check that finds the same
                    // predecessor keeps waiting on the watch it already has.
                    if armed?.predecessor != predecessor {
                        let (stat, watch) = try await session.existsAndWatch(env.candidatePath(predecessor))
                        guard stat != nil else { continue }
                        armed = (predecessor, watch)
                        env.logger.debug(
                            "waiting behind predecessor", metadata: ["own": "\(own)", "predecessor": "\(predecessor)"])
                    }
                    env.failures.reset()
                    let wake = await waitForWake(
                        until: .now + env.config.attempterTimeout, watch: armed?.watch, session: session)
                    switch wake {
                    case .timer:
                        continue
                    case .watch(.deleted):
                        // One line per wake-up: `make bench` counts them (one per failover, no herd).
                        env.logger.info("predecessor gone; re-checking", metadata: ["predecessor": "\(predecessor)"])
                        armed = nil
                    case .watch(.created), .watch(.dataChanged), .watch(.childrenChanged):
                        armed = nil
                    case .watch(.sessionLost), .session:
                        return .next(
                            FailoverState(session: session, candidate: candidate), reason: "ZooKeeper connection lost")
                    case .cancelled:
                        break
                    }
                }
            }
        } catch ZKError.noNode where !Task.isCancelled {
            // The election path itself is gone (an operator deleted it): Init recreates it.
            return .next(
                FailoverState(session: session, candidate: nil, needsInit: true),
                reason: "election path \(parent) is missing")
        } catch {
            if Task.isCancelled {
                return .next(
                    StoppingState(held: Held(session: session, candidate: candidate)), reason: "signal received")
            }
            return .next(
                FailoverState(session: session, candidate: candidate), reason: "ZooKeeper request failed: \(error)")
        }
        return .next(StoppingState(held: Held(session: session, candidate: candidate)), reason: "signal received")
    }
}
