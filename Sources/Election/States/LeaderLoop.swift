import ZooKeeper

/// The leader's loop as a value, after SwiftNIO's state machines: it is told what
/// happened (`Event`) and answers what to do next (`Action`). `LeaderState`
/// carries the actions out (the round trips, the file, the command, the waits) and
/// reports each outcome back. Every rule of the loop lives here, and it is pure:
/// the time and the session's health come in with each event, the command's
/// backoff is a function it is given, so every rule is tested on the value alone
/// (`LeaderLoopTests`), without I/O and without sleeping.
///
/// The rules, in the order `next` applies them after each wake-up:
/// - a write falls due every leader-timeout, the first one at once; nothing learned
///   before it fell due covers it (`Lease.writeFellDue`), so it needs a
///   confirmation sent after that, unless the lease already has one;
/// - the write is published only while the lease allows it, checked again by the
///   file store just before the rename (the `covering` lease);
/// - between writes the lease is renewed every quarter of the session timeout;
/// - a leader without a command has its session guarded on every pass (the guard
///   is started again if it was lost);
/// - the command starts while the lease holds for at least a quarter of the session
///   timeout more (half the lease ahead), and not before its restart backoff;
/// - the watch on our znode is armed after the first write, off the handover's path;
///   a resign request in its data releases the leadership;
/// - then the loop waits until the next write, renewal or restart.
struct LeaderLoop: Sendable {
    enum Action: Sendable, Equatable {
        /// Send a confirming round trip now; answer `.confirmed(sentAt:)` or `.confirmationFailed`.
        case confirm
        /// Publish this file, no later than the `covering` lease allows; answer `.wrote` or `.writeFailed`.
        case write(ElectionFileName, covering: Lease)
        /// Start the command on the lease confirmed at `confirmedAt`; answer `.commandStarted(at:)`.
        case startCommand(confirmedAt: ContinuousClock.Instant)
        /// No command: make sure the session is guarded; answer `.sessionGuarded`.
        case guardSession
        /// The command exited with `status`: stop what is left of it, and say that it
        /// starts again after `after`; answer `.done`.
        case restartCommand(status: Int32, after: Duration)
        /// Read our znode and watch it; answer `.watchArmed(resignRequested:)` or `.watchGone`.
        case armWatch
        /// Wait for a wake-up, at the latest until `until`; answer `.woke`.
        case wait(until: ContinuousClock.Instant)
        /// The term ends.
        case end(Ending)
    }

    enum Ending: Sendable, Equatable {
        /// Our candidate znode is gone or not ours.
        case candidateGone
        /// The lease could not be kept (see `LeaderState.leaseTrouble`).
        case leaseTrouble(TransitionReason.Code, String)
        /// Give the leadership up: the command stopped, the znode deleted, after at least `atLeast`.
        case release(TransitionReason, atLeast: Duration)
        /// A stop was requested.
        case stop
        /// The server ended the session.
        case sessionLost
        /// `--on-exit exit`: the daemon stops, with the command's status.
        case exitDaemon(status: Int32)
    }

    enum Event: Sendable {
        /// The previous action was carried out (also: the loop begins).
        case done
        /// A confirming round trip sent at `sentAt` came back with our znode in place.
        case confirmed(sentAt: ContinuousClock.Instant)
        /// The round trip found our znode gone or another session's (`gone`), or came
        /// back too late to use.
        case confirmationFailed(gone: Bool)
        /// The file was published.
        case wrote
        /// The file was not published.
        case writeFailed(FileStoreError)
        /// The command was started (or its start failed, which is an exit it reports).
        case commandStarted(at: ContinuousClock.Instant)
        case sessionGuarded
        /// The watch is armed; the znode's data asks this leader to resign, or not.
        case watchArmed(resignRequested: Bool)
        /// Arming the watch found no znode (or a stop came first).
        case watchGone
        /// The wait ended (a command's exit comes as `commandExited`).
        case woke(Wake)
        /// The command ended by itself; `imposed`: its end was imposed on it (its
        /// watchdog lost, the lease lapsed), which is no failure of its own.
        case commandExited(status: Int32, imposed: Bool)
    }

    /// What was asked of the session, so that its answer is read right.
    private enum Pending: Sendable, Equatable {
        case none, confirmForWrite, renew
        /// The exited command is being stopped; it may start again this long after.
        case restart(after: Duration)
    }

    let token: Int64
    let leaderTimeout: Duration
    let sessionTimeout: Duration
    let commandConfigured: Bool
    let exitPolicy: ExitPolicy
    /// The delay before the next start of a command after `attempt` quick exits in a row.
    let backoff: @Sendable (_ attempt: Int) -> Duration

    private(set) var lease: Lease
    /// The counter of the next file.
    private(set) var counter: Int64
    private(set) var nextWrite: ContinuousClock.Instant
    private var first = true
    private var pending = Pending.none
    private var watchArmed = false
    /// When the running command started; nil: none runs.
    private(set) var commandStarted: ContinuousClock.Instant?
    private(set) var restartAt: ContinuousClock.Instant?
    /// Quick exits of the command in a row (kept across terms by the caller).
    private(set) var commandFailures: Int

    /// A command that ran at least this long had a healthy term.
    static let healthyRun: Duration = .seconds(10)
    static let late = "no confirmation within half the session timeout"

    init(
        token: Int64, counter: Int64, lease: Lease, now: ContinuousClock.Instant, leaderTimeout: Duration,
        sessionTimeout: Duration, commandConfigured: Bool, exitPolicy: ExitPolicy, commandFailures: Int,
        backoff: @escaping @Sendable (Int) -> Duration
    ) {
        self.token = token
        self.counter = counter
        self.lease = lease
        self.nextWrite = now
        self.leaderTimeout = leaderTimeout
        self.sessionTimeout = sessionTimeout
        self.commandConfigured = commandConfigured
        self.exitPolicy = exitPolicy
        self.commandFailures = commandFailures
        self.backoff = backoff
    }

    private var renewEvery: Duration { sessionTimeout / 4 }

    /// What to do after `event`, at `now`, with the session's `health`.
    mutating func next(now: ContinuousClock.Instant, health: ZKHealth, event: Event) -> Action {
        switch event {
        case .done:
            if case .restart(let delay) = pending {
                // The backoff runs from when what was left of the command is gone.
                restartAt = now + delay
                pending = .none
            }
            return top(now, health)
        case .confirmed(let sentAt):
            lease.confirmed(sentAt: sentAt)
            let wasFor = pending
            pending = .none
            return wasFor == .confirmForWrite ? publish(now, health) : afterWrite(now, health, guarded: false)
        case .confirmationFailed(let gone):
            pending = .none
            return .end(gone ? .candidateGone : .leaseTrouble(.notConfirmed, Self.late))
        case .wrote:
            counter += 1
            nextWrite += leaderTimeout
            // A write that took longer than a leader-timeout: the next one is a
            // timeout from now, not a burst to catch up.
            if nextWrite <= now { nextWrite = now + leaderTimeout }
            return afterWrite(now, health, guarded: false)
        case .writeFailed(let error):
            switch error.kind {
            case .notPermitted: return .end(.leaseTrouble(.notConfirmed, "\(error)"))
            case .higherToken: return .end(.release(TransitionReason(.newerLeader, "\(error)"), atLeast: .zero))
            case .io, .notADirectory:
                return .end(.release(TransitionReason(.writeFailed, "\(error)"), atLeast: .zero))
            }
        case .commandStarted(let at):
            commandStarted = at
            restartAt = nil
            return afterStart(now)
        case .sessionGuarded:
            return afterWrite(now, health, guarded: true)
        case .watchArmed(let resignRequested):
            watchArmed = true
            if resignRequested {
                return .end(.release(TransitionReason(.resigned, "resign requested"), atLeast: .zero))
            }
            return wait(now)
        case .watchGone:
            return .end(.candidateGone)
        case .woke(let wake):
            switch wake {
            case .timer, .leaderChanged: return top(now, health)
            case .stop: return .end(.stop)
            case .resign: return .end(.release(TransitionReason(.resigned, "resigned on request"), atLeast: .zero))
            case .session(let state):
                return .end(.leaseTrouble(.connectionLost, "ZooKeeper connection \(state.rawValue)"))
            case .watch(.sessionLost): return .end(.sessionLost)
            case .watch(.deleted): return .end(.candidateGone)
            case .watch:
                // Any other event on our znode: look again (and re-arm) on this pass.
                watchArmed = false
                return top(now, health)
            case .commandExited(let status):
                return next(now: now, health: health, event: .commandExited(status: status, imposed: false))
            }
        case .commandExited(let status, let imposed):
            // A command that ran a while had a healthy term: its exit starts no streak.
            if let started = commandStarted, now - started >= Self.healthyRun { commandFailures = 0 }
            commandStarted = nil
            // An exit imposed on the command is not its failure: no backoff, and its
            // streak does not grow.
            let delay: Duration
            if imposed {
                delay = .zero
            } else {
                delay = backoff(commandFailures)
                commandFailures += 1
            }
            switch exitPolicy {
            case .resign:
                return .end(
                    .release(
                        TransitionReason(.commandExited, "command exited with status \(status)"), atLeast: delay))
            case .restart:
                pending = .restart(after: delay)
                return .restartCommand(status: status, after: delay)
            case .exit:
                return .end(.exitDaemon(status: status))
            }
        }
    }

    /// After a wake-up: a write that fell due, else a renewal that did, else the rest.
    private mutating func top(_ now: ContinuousClock.Instant, _ health: ZKHealth) -> Action {
        if now >= nextWrite {
            // Nothing learned before the timer fired is trusted for this write.
            if !first { lease.writeFellDue(at: now) }
            first = false
            if !lease.mayWrite(health, now: now) {
                pending = .confirmForWrite
                return .confirm
            }
            return publish(now, health)
        }
        if now >= (lease.confirmedAt ?? now) + renewEvery {
            pending = .renew
            return .confirm
        }
        return afterWrite(now, health, guarded: false)
    }

    private func publish(_ now: ContinuousClock.Instant, _ health: ZKHealth) -> Action {
        guard lease.mayWrite(health, now: now) else {
            return .end(.leaseTrouble(.notConfirmed, "leadership not confirmed within half the session timeout"))
        }
        return .write(ElectionFileName(token: token, counter: counter), covering: lease)
    }

    /// The command (or the session's guard), then the watch, then the wait.
    private func afterWrite(_ now: ContinuousClock.Instant, _ health: ZKHealth, guarded: Bool) -> Action {
        if !commandConfigured && !guarded { return .guardSession }
        // Only with at least half the lease ahead: a command started on a lease about
        // to lapse would be stopped by its watchdog moments later.
        let mayStart =
            commandConfigured && commandStarted == nil && (restartAt.map { $0 <= now } ?? true)
            && lease.holds(health, now: now + sessionTimeout / 4)
        if mayStart, let confirmedAt = lease.confirmedAt { return .startCommand(confirmedAt: confirmedAt) }
        return afterStart(now)
    }

    private func afterStart(_ now: ContinuousClock.Instant) -> Action {
        watchArmed ? wait(now) : .armWatch
    }

    private func wait(_ now: ContinuousClock.Instant) -> Action {
        let renewAt = (lease.confirmedAt ?? now) + renewEvery
        return .wait(until: min(nextWrite, renewAt, restartAt ?? nextWrite))
    }
}
