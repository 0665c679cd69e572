import ZooKeeper

/// Writes a file at once and then every leader-timeout. Every write is covered by
/// the lease (`Lease`): a confirming round trip sent after the write fell due,
/// checked again just before the file is published. Between writes the lease is
/// renewed every quarter of the session timeout, so that what reads it (`/leader`,
/// a supervised command) sees the leadership proven continuously.
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
        let step = await lead(env)
        // Whatever ends the leadership, the command is stopped (and its group gone)
        // before the successor state runs; `release` stops it before the delete.
        await env.command.stop(reason: "leadership ends")
        return step
    }

    private func lead(_ env: ElectionEnvironment) async -> Step {
        guard let name = candidate.name, let token = candidate.token else {
            return .next(
                AttempterState(session: session, candidate: candidate),
                TransitionReason(.candidateGone, "candidate not resolved"))
        }
        let session = self.session
        let path = env.candidatePath(name)
        let resign = env.requests.nextResign()
        // The first write falls due when the confirming listing was sent.
        var lease = Lease(due: confirmedAt ?? env.clock.now, confirmedAt: confirmedAt)
        var grant: LeaderGrant?
        defer { if grant != nil { env.observer.leadership(nil) } }
        do {
            // The listing that made this replica leader is a round trip too: back within
            // a quarter of the session timeout, it shows the link can keep the lease;
            // slower, after a session timeout of trouble already, it is time to step down
            // rather than go round Failover and Attempter once more.
            if let listed = confirmedAt {
                let timeout = session.health.negotiatedTimeout
                if env.clock.now - listed <= timeout / 4 {
                    env.unconfirmed.clear()
                } else if let lasting = env.unconfirmed.current(now: env.clock.now), lasting >= timeout {
                    return await leaseTrouble(env, .notConfirmed, Self.late, lease)
                }
            }
            // An orphan shadow: a predecessor whose candidate was deleted from outside
            // may still be running its command, or be about to publish a file its
            // lease still covers. Nothing of this term until it is gone (`Shadows`).
            if env.command.isConfigured {
                var waiting = OrphanWait()
                while try await !waiting.check(env, session) {
                    switch await env.waitForWake(
                        until: min(env.clock.now + OrphanWait.pollEvery, waiting.until ?? env.clock.now),
                        session: session)
                    {
                    case .stop: return .stop(held)
                    case .session(let state):
                        return await leaseTrouble(env, .connectionLost, "ZooKeeper connection \(state.rawValue)", lease)
                    default: continue
                    }
                }
            }
            if lease.confirmedAt == nil {
                switch try await confirm(env, path, &lease) {
                case .confirmed: break
                case .gone: return await candidateGone(env)
                case .late: return await leaseTrouble(env, .notConfirmed, Self.late, lease)
                }
            }
            grant = LeaderGrant(
                token: token, znode: name, sinceMillis: WallClock.nowMillis(), lease: lease, session: session)
            env.observer.leadership(grant)
            let counter = env.config.writesFiles ? try env.store.nextCounter(for: token) : 1
            // At debug while a fault repeats: the transition lines already say it once.
            env.logger.log(
                level: env.failures.current == 0 ? .info : .debug, "leading",
                metadata: ["token": "\(token)", "znode": "\(path)", "next_counter": "\(counter)"])
            var loop = LeaderLoop(
                token: token, counter: counter, lease: lease, now: env.clock.now,
                leaderTimeout: env.config.leaderTimeout,
                sessionTimeout: session.health.negotiatedTimeout, commandConfigured: env.command.isConfigured,
                exitPolicy: env.exitPolicy, commandFailures: env.commandFailures.current,
                backoff: { Decisions.backoff(attempt: $0, base: Self.commandBackoffBase) })
            // What `loop` asks for is carried out here; its answer is the next event.
            var event = LeaderLoop.Event.done
            var watch: ZKWatch?
            var commandExit: OneShot<Int32>?
            while true {
                let action = loop.next(now: env.clock.now, health: session.health, event: event)
                lease = loop.lease
                switch action {
                case .confirm:
                    switch try await confirm(env, path, &lease) {
                    case .confirmed(let sentAt): event = .confirmed(sentAt: sentAt)
                    case .gone: event = .confirmationFailed(gone: true)
                    case .late: event = .confirmationFailed(gone: false)
                    }
                case .write(let file, let covering):
                    event = write(env, file, covering: covering)
                case .startCommand(let confirmedAt):
                    if let grant {
                        commandExit = await env.command.start(
                            grant, confirmedAt: confirmedAt, sessionTimeout: session.health.negotiatedTimeout)
                    }
                    event = .commandStarted(at: env.clock.now)
                case .guardSession:
                    if let grant { await env.command.guardSession(grant) }
                    event = .sessionGuarded
                case .restartCommand(let status, let delay):
                    env.commandFailures.set(loop.commandFailures)
                    await env.command.stop(reason: "exited with status \(status)")
                    commandExit = nil
                    env.logger.notice(
                        "restarting the command after backoff", metadata: ["status": "\(status)", "delay": "\(delay)"])
                    event = .done
                case .armWatch:
                    // Armed after the first write, off the handover's critical path, and
                    // again after the watch fired (the loop asks before any wait).
                    if let found = try await env.untilStopped({ try await session.getDataAndWatch(path) }) {
                        watch = found.watch
                        let requested = ResignRequest.isRequested(in: found.data)
                        if requested {
                            env.logger.notice("resign requested through ZooKeeper", metadata: ["token": "\(token)"])
                        }
                        event = .watchArmed(resignRequested: requested)
                    } else {
                        event = .watchGone
                    }
                case .wait(let until):
                    let wake = await env.waitForWake(
                        until: until, watch: watch, session: session, resign: resign, command: commandExit)
                    switch wake {
                    case .resign:
                        env.logger.notice("resigning on request", metadata: ["token": "\(token)"])
                        event = .woke(wake)
                    case .commandExited(let status):
                        let ranFor = env.clock.now - (loop.commandStarted ?? env.clock.now)
                        env.observer.commandExited(status: status, ranFor: ranFor)
                        commandExit = nil
                        event = .commandExited(status: status, imposed: env.command.exitWasImposed())
                    default:
                        event = .woke(wake)
                    }
                case .end(let ending):
                    env.commandFailures.set(loop.commandFailures)
                    switch ending {
                    case .candidateGone: return await candidateGone(env)
                    case .leaseTrouble(let code, let detail): return await leaseTrouble(env, code, detail, loop.lease)
                    case .release(let reason, let atLeast): return await release(env, path, reason, atLeast: atLeast)
                    case .stop: return .stop(held)
                    case .sessionLost:
                        return .next(
                            FailoverState(session: session, candidate: candidate),
                            TransitionReason(.sessionLost, "ZooKeeper session lost"))
                    case .exitDaemon(let status):
                        env.requests.stop.fire("command exited with status \(status)")
                        return .stop(held)
                    }
                }
            }
        } catch is StopRequested {
            return .stop(held)
        } catch let error as FileStoreError {
            return await release(env, path, TransitionReason(.writeFailed, "\(error)"))
        } catch {
            return await leaseTrouble(env, .requestFailed, "ZooKeeper request failed: \(error)", lease)
        }
    }

    /// A round trip, sent now, that checks our znode exists and belongs to our
    /// session, behind a sync (a server cut off from its quorum cannot answer it);
    /// on success the lease is renewed from the moment it was sent.
    private func confirm(_ env: ElectionEnvironment, _ path: String, _ lease: inout Lease) async throws
        -> Confirmation
    {
        let session = self.session
        let clock = env.clock
        let sent = clock.now
        // A reply later than half the session timeout proves nothing the lease could
        // use (it would lapse on arrival): stop waiting for it then, so that a slow
        // link counts toward the step-down instead of holding the loop.
        let limit = session.health.negotiatedTimeout / 2
        let answer = try await env.untilStopped {
            try await withThrowingTaskGroup(of: ZKStat??.self) { group in
                group.addTask { .some(try await session.syncedExists(path)) }
                group.addTask {
                    try await clock.sleep(until: sent + limit)
                    return .none
                }
                defer { group.cancelAll() }
                return try await group.next() ?? .none
            }
        }
        guard let reply = answer else { return .late }
        guard let stat = reply, stat.ephemeralOwner == session.sessionID else { return .gone }
        lease.confirmed(sentAt: sent)
        // A renewal back within a quarter of the session timeout leaves at least half
        // the lease: the link can keep it. Only that ends a streak of uncovered writes
        // (a write does not: the Attempter's listing covers the first one of every
        // return to Leader, also over a link far too slow to keep the lease).
        if clock.now - sent <= session.health.negotiatedTimeout / 4 { env.unconfirmed.clear() }
        env.command.extend(confirmedAt: sent, sessionTimeout: session.health.negotiatedTimeout)
        env.observer.confirmed(roundTrip: clock.now - sent, lease: lease)
        return .confirmed(sentAt: sent)
    }

    enum Confirmation { case confirmed(sentAt: ContinuousClock.Instant), gone, late }
    static let late = LeaderLoop.late

    /// Publishes `file`, no later than the `covering` lease allows (checked again
    /// just before the rename); without a file-dir the confirmed lease is the whole write.
    private func write(_ env: ElectionEnvironment, _ file: ElectionFileName, covering: Lease) -> LeaderLoop.Event {
        let session = self.session
        let clock = env.clock
        let content = FileContent(identity: env.identity, token: file.token, counter: file.counter).json
        do {
            if env.config.writesFiles {
                let removed = try env.store.write(
                    file, content: content, onForeign: { env.reportForeignEntry($0) },
                    stillPermitted: { covering.mayWrite(session.health, now: clock.now) })
                env.observer.fileWritten(file)
                if removed > 0 { env.observer.filesDeleted(removed) }
                env.logger.debug("wrote file", metadata: ["file": "\(file.name)"])
            }
        } catch {
            env.observer.writeFailed(error)
            return .writeFailed(error)
        }
        let failed = env.failures.reset()
        if failed >= 2 {
            // The repeats were logged at debug: say at once that they ended.
            env.logger.notice(
                "recovered from a repeating fault: writing again",
                metadata: ["failed_attempts": "\(failed)", "token": "\(file.token)"])
        }
        return .wrote
    }

    /// The lease could not be kept: a write it could not cover, a request that
    /// failed or timed out, the connection lost. Once that has lasted a session
    /// timeout (across Failover and back, with no renewal back in time between), the
    /// leader steps down: it stops the command and closes its session, so that its
    /// znode goes at once and a replica with a healthy link leads, instead of one
    /// that cannot work holding everyone back. Until then it keeps its place and
    /// tries again after Failover's backoff.
    private func leaseTrouble(
        _ env: ElectionEnvironment, _ code: TransitionReason.Code, _ detail: String, _ lease: Lease
    ) async -> Step {
        // The streak runs from when the lease ran out (or now, if it has not yet).
        let timeout = session.health.negotiatedTimeout
        let now = env.clock.now
        let ranOut = lease.confirmedAt.map { min($0 + timeout / 2, now) } ?? now
        let lasting = env.unconfirmed.lasting(now: now, since: ranOut)
        guard lasting >= session.health.negotiatedTimeout else {
            return .next(
                FailoverState(session: session, candidate: candidate, retryWithin: timeout / 4),
                TransitionReason(code, detail))
        }
        env.unconfirmed.clear()
        await env.command.stop(reason: "stepping down: the lease could not be kept")
        await session.close()
        env.logger.warning(
            "stepping down: the lease could not be kept for a session timeout; session closed",
            metadata: [
                "lasting": "\(lasting)", "session": "\(session.sessionID.sessionHex)",
                "token": "\(candidate.token.map { "\($0)" } ?? "-")",
            ])
        return .next(
            FailoverState(session: nil),
            TransitionReason(
                code, "\(detail); the lease could not be kept for \(lasting): stepped down, session closed"))
    }

    /// Our candidate is gone (deleted from outside, or now another session's): the
    /// next replica may already lead. The command is stopped at once, and then its
    /// shadow removed, which is what that replica waits for before it starts its own.
    private func candidateGone(_ env: ElectionEnvironment) async -> Step {
        await env.command.stop(reason: "own candidate znode deleted")
        if candidate.shadowed, let name = candidate.name { await Shadows.delete(env, session, name) }
        return .next(
            AttempterState(session: session, candidate: nil),
            TransitionReason(.candidateGone, "own candidate znode deleted"))
    }

    /// Gives up leadership because this replica cannot or should not do the work
    /// (file-dir broken, a newer leader's file present, a resign request): its znode
    /// is deleted so another replica takes over, and Failover backs off and re-runs
    /// Init before it competes again (at the back of the queue).
    private func release(
        _ env: ElectionEnvironment, _ path: String, _ reason: TransitionReason, atLeast: Duration = .zero
    ) async -> Step {
        // The command first, then the znode: the next leader starts its copy only
        // after ours is gone.
        await env.command.stop(reason: reason.description)
        let session = self.session
        if candidate.shadowed, let name = candidate.name {
            let ops = Shadows.releaseOps(env, name)
            let released = await env.withDeadline(.seconds(2)) { try await session.multi(ops) } != nil
            // The candidate was already gone (deleted from outside): the shadow alone,
            // or the next leader would wait for it in vain.
            if !released { await Shadows.delete(env, session, name) }
        } else {
            _ = await env.withDeadline(.seconds(2)) { try await session.delete(path, version: -1) }
        }
        return .next(
            FailoverState(session: session, needsInit: true, atLeast: atLeast),
            TransitionReason(reason.code, "\(reason.description); leadership released"))
    }

    /// The first backoff after a quick exit of the command; it doubles per quick exit in a row.
    static let commandBackoffBase: Duration = .seconds(1)
}

/// A new leader's wait for orphan shadows (see `Shadows`) before its command starts.
struct OrphanWait {
    /// When the wait ends even if an orphan is left: its holder's watchdog has
    /// stopped its command by then. Nil until an orphan was seen.
    var until: ContinuousClock.Instant?
    var logged = false
    static let pollEvery: Duration = .milliseconds(100)

    /// True when the term may begin: no orphan left, or the longest of their
    /// session timeouts has passed since they were first seen.
    mutating func check(_ env: ElectionEnvironment, _ session: any CoordinationSession) async throws -> Bool {
        let found = try await env.untilStopped { try await Shadows.orphans(env, session) }
        if found.isEmpty { return true }
        let now = env.clock.now
        let until = self.until ?? now + (found.map(\.timeout).max() ?? .zero)
        self.until = until
        if !logged {
            logged = true
            env.logger.warning(
                """
                a previous leader's candidate was deleted while it may still run its command or publish \
                a file; this term begins when it is gone, at most one session timeout from now
                """,
                metadata: ["orphans": "\(found.map(\.name))", "wait_ms": "\((until - now).milliseconds)"])
        }
        return now >= until
    }
}
