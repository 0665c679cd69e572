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
        let session = self.session
        var candidate =
            self.candidate ?? Candidate.forSession(replica: env.config.replicaID, sessionID: session.sessionID)
        let parent = env.config.electionPath
        var createdOnce = self.candidate?.name != nil
        var armed: (predecessor: String, watch: ZKWatch)?
        var leaderWatch: (name: String, watch: ZKWatch)?
        // Children named like candidates that are not ephemeral: never candidates
        // (a candidate's znode always is), so ignored rather than waited behind.
        var ignored: Set<String> = []
        await env.command.prepare()
        do {
            while true {
                let listed = env.clock.now
                let all = try await env.untilStopped { try await session.syncedChildren(parent) }
                ignored.formIntersection(all)
                let children = all.filter { !ignored.contains($0) }
                let position = Decisions.position(ofPrefix: candidate.prefix, in: children)
                let first = Decisions.ordered(children).first
                if case .follower = position, env.tracksLeader, let first, leaderWatch?.name != first {
                    let path = env.candidatePath(first)
                    guard let found = try await env.untilStopped({ try await session.getDataAndWatch(path) }) else {
                        continue  // the leader just went: list again
                    }
                    if found.stat.ephemeralOwner == 0 {
                        ignore(first, in: env, &ignored)
                        continue
                    }
                    env.observer.leaderObserved(LeaderInfo(candidate: first, data: found.data, stat: found.stat))
                    leaderWatch = (first, found.watch)
                } else if !env.tracksLeader {
                    env.observer.leaderObserved(first.flatMap(LeaderInfo.init(candidate:)))
                }
                switch position {
                case .absent:
                    if createdOnce {
                        env.logger.notice(
                            "own candidate znode is gone; creating a new one",
                            metadata: ["prefix": "\(candidate.prefix)"])
                        // Not leading, so no command runs: its shadow must not make the
                        // next leader wait.
                        if candidate.shadowed, let old = candidate.name { await Shadows.delete(env, session, old) }
                        candidate.shadowed = false
                        candidate.name = nil
                        candidate.token = nil
                    }
                    // A lost reply leaves the node behind: the prefix lets the next
                    // listing find it instead of creating a second one.
                    createdOnce = true
                    let path = parent + "/" + candidate.prefix
                    let data = env.identity.json
                    let created = try await env.untilStopped {
                        try await session.create(path, data: data, mode: .ephemeralSequential)
                    }
                    candidate.name = String(created.path.split(separator: "/").last ?? "")
                    candidate.token = created.stat.czxid
                    env.logger.debug("candidate created", metadata: ["znode": "\(created.path)"])
                    if env.command.isConfigured, let name = candidate.name {
                        try await env.untilStopped { try await Shadows.create(env, session, name) }
                        candidate.shadowed = true
                    }

                case .leader(let own):
                    candidate.name = own
                    if candidate.token == nil {
                        // Found, not created, in this state (a resumed session or a lost
                        // reply): learn its token and check that it is ours.
                        let path = env.candidatePath(own)
                        guard let found = try await env.untilStopped({ try await session.getData(path) }) else {
                            continue
                        }
                        guard found.stat.ephemeralOwner == session.sessionID else {
                            return .next(
                                FailoverState(session: session, candidate: nil, needsInit: true),
                                TransitionReason(
                                    .foreignCandidate,
                                    "candidate \(own) carries our prefix but belongs to another session"))
                        }
                        candidate.token = found.stat.czxid
                    }
                    if env.command.isConfigured && !candidate.shadowed {
                        try await env.untilStopped { try await Shadows.create(env, session, own) }
                        candidate.shadowed = true
                        // The listing that grants the lease must come after the shadow:
                        // an outside delete in between would go unseen by the next leader.
                        continue
                    }
                    return .next(
                        LeaderState(session: session, candidate: candidate, confirmedAt: listed),
                        TransitionReason(
                            .lowestCandidate, "lowest candidate \(own) (fencing token \(candidate.token ?? 0))"))

                case .follower(let own, let predecessor):
                    candidate.name = own
                    // One watch per predecessor: a periodic re-check that finds the same
                    // predecessor keeps waiting on the watch it already has. A data watch
                    // is set only on a node that exists, so a predecessor that is already
                    // gone leaves nothing behind.
                    if armed?.predecessor != predecessor {
                        let path = env.candidatePath(predecessor)
                        guard let found = try await env.untilStopped({ try await session.getDataAndWatch(path) })
                        else { continue }
                        if found.stat.ephemeralOwner == 0 {
                            ignore(predecessor, in: env, &ignored)
                            continue
                        }
                        armed = (predecessor, found.watch)
                        env.logger.debug(
                            "waiting behind predecessor", metadata: ["own": "\(own)", "predecessor": "\(predecessor)"])
                    }
                    let wake = await env.waitForWake(
                        until: env.clock.now + env.config.attempterTimeout, watch: armed?.watch, session: session,
                        leader: leaderWatch?.watch)
                    switch wake {
                    case .timer:
                        // A whole attempter-timeout undisturbed: the election is healthy again.
                        let failed = env.failures.reset()
                        if failed >= 2 {
                            env.logger.notice(
                                "recovered from a repeating fault: waiting as a candidate",
                                metadata: ["failed_attempts": "\(failed)"])
                        }
                    case .watch(.deleted):
                        // One line per wake-up: `make bench` counts them (one per failover, no herd).
                        env.logger.info("predecessor gone; re-checking", metadata: ["predecessor": "\(predecessor)"])
                        env.observer.predecessorGone()
                        armed = nil
                    case .watch(.created), .watch(.dataChanged), .watch(.childrenChanged):
                        armed = nil
                    case .watch(.sessionLost), .session:
                        return .next(
                            FailoverState(session: session, candidate: candidate),
                            TransitionReason(.connectionLost, "ZooKeeper connection lost"))
                    case .stop:
                        return .stop(Held(session: session, candidate: candidate))
                    case .resign:
                        continue
                    case .leaderChanged:
                        leaderWatch = nil
                    case .commandExited:
                        continue  // only a leader runs the command
                    }
                }
            }
        } catch is StopRequested {
            return .stop(Held(session: session, candidate: candidate))
        } catch ZKError.noAuth {
            return .next(
                FailoverState(session: session, candidate: nil, needsInit: true),
                env.notAuthorized("compete under"))
        } catch ZKError.noNode {
            // The election path itself is gone (an operator deleted it): Init recreates it.
            return .next(
                FailoverState(session: session, candidate: nil, needsInit: true),
                TransitionReason(.electionPathMissing, "election path \(env.config.qualifiedElectionPath) is missing"))
        } catch {
            return .next(
                FailoverState(session: session, candidate: candidate),
                TransitionReason(.requestFailed, "ZooKeeper request failed: \(error)"))
        }
    }
}

extension AttempterState {
    /// A persistent znode named like a candidate sorted before ours: no session owns
    /// it, so it would never go away and everyone behind it would wait forever.
    fileprivate func ignore(_ name: String, in env: ElectionEnvironment, _ ignored: inout Set<String>) {
        ignored.insert(name)
        env.logger.warning(
            "ignoring a persistent znode named like a candidate (not ephemeral: no session owns it)",
            metadata: ["znode": "\(env.candidatePath(name))"])
    }
}

extension LeaderInfo {
    /// What a candidate's name tells of the leader (`<replica>_<session hex>_<seq>`);
    /// host and token need its data and stat.
    public init?(candidate name: String) {
        let parts = name.split(separator: "_", omittingEmptySubsequences: false)
        guard parts.count >= 3 else { return nil }
        self.init(replica: parts.dropLast(2).joined(separator: "_"), host: nil, znode: name, token: nil)
    }

    /// The leader as its candidate's data (our identity JSON) and stat tell it. Data
    /// that is not ours (a foreign or malformed znode) leaves only what the name says.
    public init(candidate name: String, data: [UInt8], stat: ZKStat) {
        let object = data.count <= 4096 ? JSONValue.parseObject(data) : nil
        var replica = LeaderInfo(candidate: name)?.replica ?? name
        var host: String?
        if case .string(let r)? = object?["replica"] { replica = r }
        if case .string(let h)? = object?["host"] { host = h }
        self.init(replica: replica, host: host, znode: name, token: stat.czxid)
    }
}
