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
            let removed = env.config.writesFiles ? try env.store.prepare() : 0
            if removed > 0 {
                env.logger.notice(
                    "removed stale temporary files", metadata: ["count": "\(removed)", "dir": "\(env.store.directory)"])
            }
        } catch {
            if case .notADirectory = error.kind {
                env.giveUp(ConfigError(.fileDir, "\(error.path) is not a directory"))
                return .stop(held)
            }
            return .next(
                FailoverState(session: session, needsInit: true), TransitionReason(.fileDirUnusable, "\(error)"))
        }

        var session = self.session
        if let current = session, Decisions.verdict(current.health, now: env.clock.now) != .connected {
            await current.close()
            session = nil
        }
        let fresh = session == nil
        if fresh {
            do {
                session = try await env.untilStopped { [env] in try await env.sessions.connect() }
            } catch is StopRequested {
                return .stop(held)
            } catch {
                if case ZKError.unresolvable = error {
                    let lasting = env.unresolved.lasting(now: env.clock.now)
                    if lasting >= Self.unresolvableBound(env.config) {
                        env.giveUp(
                            ConfigError(
                                .zkServers,
                                "\(error), for \(DurationParser.format(lasting)): no resolver knows the servers"))
                        return .stop(held)
                    }
                }
                return .next(
                    FailoverState(session: nil, needsInit: true),
                    TransitionReason(.zooKeeperUnavailable, "cannot connect to ZooKeeper: \(error)"))
            }
            env.unresolved.clear()
        }
        guard let session else { return .finished }
        if fresh, let problem = grantedTimeoutProblem(env, session) {
            env.giveUp(problem)
            return .stop(Held(session: session, candidate: nil))
        }
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
            TransitionReason(.resourcesReady, "resources ready (session \(session.sessionID.sessionHex))"))
    }

    /// How long no host of `--zk-servers` may fail to resolve before the daemon
    /// gives up (64): ten session timeouts (100 s by default), long enough for a name
    /// that appears with its server (a Kubernetes headless service) to appear.
    static func unresolvableBound(_ config: ElectionConfig) -> Duration { config.sessionTimeout * 10 }

    /// The server may grant another session timeout than asked (its min/max session
    /// timeout): said at info, and the command's stop timeout is checked again
    /// against what was granted, since that is what the other replicas wait out.
    private func grantedTimeoutProblem(_ env: ElectionEnvironment, _ session: any CoordinationSession) -> ConfigError? {
        let granted = session.health.negotiatedTimeout
        let asked = env.config.sessionTimeout
        guard granted != asked else { return nil }
        env.logger.info(
            "ZooKeeper granted another session timeout than asked",
            metadata: ["asked": "\(DurationParser.format(asked))", "granted": "\(DurationParser.format(granted))"])
        guard let stop = env.command.stopTimeout,
            let problem = CommandTiming.problem(sessionTimeout: granted, stopTimeout: stop)
        else { return nil }
        return ConfigError(
            .execStopTimeout,
            "ZooKeeper granted a session timeout of \(DurationParser.format(granted)), not the "
                + "\(DurationParser.format(asked)) asked (the server's min/maxSessionTimeout): \(problem)")
    }

    /// Creates the election path with its parents when missing. Inside a chroot that
    /// does not exist yet, nothing can be created: the chroot is made first through a
    /// short session without it (as Curator's namespaces and Kafka do).
    private func ensureElectionPath(_ env: ElectionEnvironment, _ session: any CoordinationSession) async throws {
        let path = env.config.electionPath
        if try await session.exists(path) == nil {
            do {
                try await session.createParents(path)
            } catch ZKError.noNode {
                guard let chroot = try await env.sessions.ensureChroot() else { throw ZKError.noNode }
                env.logger.notice("created the connect string's chroot", metadata: ["chroot": "\(chroot)"])
                try await session.createParents(path)
            }
        }
        if env.command.isConfigured, try await session.exists(env.config.shadowsPath) == nil {
            try await session.createParents(env.config.shadowsPath)
        }
    }
}

extension ElectionConfig {
    /// Where the candidates' shadows live (see `Shadows`): beside the election path,
    /// so that listing the candidates never shows them.
    public var shadowsPath: String { electionPath + "-shadows" }

    /// The election path as the server sees it: with the connect string's chroot.
    public var qualifiedElectionPath: String {
        (ServerList.split(zkServers).chroot ?? "") + electionPath
    }
}
