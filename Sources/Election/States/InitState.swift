import ZooKeeper

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
            return .next(
                FailoverState(session: session, needsInit: true), TransitionReason(.fileDirUnusable, "\(error)"))
        }

        var session = self.session
        if let current = session, Decisions.verdict(current.health, now: .now) != .connected {
            await current.close()
            session = nil
        }
        if session == nil {
            do {
                session = try await env.untilStopped { [env] in try await env.sessions.connect() }
            } catch is StopRequested {
                return .stop(held)
            } catch {
                return .next(
                    FailoverState(session: nil, needsInit: true),
                    TransitionReason(.zooKeeperUnavailable, "cannot connect to ZooKeeper: \(error)"))
            }
        }
        guard let session else { return .finished }
        do {
            try await env.untilStopped { try await ensureElectionPath(env, session) }
        } catch is StopRequested {
            return .stop(Held(session: session, candidate: nil))
        } catch ZKError.noAuth {
            return .next(FailoverState(session: session, needsInit: true), env.notAuthorized("create"))
        } catch {
            return .next(
                FailoverState(session: session, needsInit: true),
                TransitionReason(
                    .electionPathUnavailable,
                    "cannot ensure election path \(env.config.qualifiedElectionPath): \(error)"
                ))
        }
        return .next(
            AttempterState(session: session, candidate: nil),
            TransitionReason(.resourcesReady, "resources ready (session 0x\(session.sessionID.sessionHex))"))
    }

    /// Creates the election path with its parents when missing. Inside a chroot that
    /// does not exist yet, nothing can be created: the chroot is made first through a
    /// short session without it (as Curator's namespaces and Kafka do).
    private func ensureElectionPath(_ env: ElectionEnvironment, _ session: any CoordinationSession) async throws {
        let path = env.config.electionPath
        if try await session.exists(path) != nil { return }
        do {
            try await session.createParents(path)
        } catch ZKError.noNode {
            guard let chroot = try await env.sessions.ensureChroot() else { throw ZKError.noNode }
            env.logger.notice("created the connect string's chroot", metadata: ["chroot": "\(chroot)"])
            try await session.createParents(path)
        }
    }
}

extension ElectionConfig {
    /// The election path as the server sees it: with the connect string's chroot.
    public var qualifiedElectionPath: String {
        (ServerList.split(zkServers).chroot ?? "") + electionPath
    }
}
