import Synchronization
import ZooKeeper

/// The user's program that runs only while this replica leads (`election run --
/// CMD`). The Leader state starts it after its first confirmed write, feeds it the
/// lease's deadline after every confirmation, and stops it before it gives up the
/// leadership; Stopping stops it before deleting the znode. Without one
/// (`NoCommand`) the files are all the work.
public protocol SupervisedCommand: Sendable {
    /// True when a command is configured at all.
    var isConfigured: Bool { get }
    /// How long stopping the command may take (nil: no command).
    var stopTimeout: Duration? { get }
    /// Starts the command for the term of `grant` unless it already runs; returns a
    /// one-shot that fires with its exit status when it ends by itself.
    func start(_ grant: LeaderGrant, confirmedAt: ContinuousClock.Instant, sessionTimeout: Duration) async
        -> OneShot<Int32>?
    /// A confirmation sent at `confirmedAt` proved the leadership: the command may run
    /// until `CommandTiming.deadline` of it; past that, its process group is stopped
    /// even if this process is paused or gone.
    func extend(confirmedAt: ContinuousClock.Instant, sessionTimeout: Duration)
    /// Stops the command's whole process group and returns once it is gone
    /// (SIGTERM, then SIGKILL after the stop timeout). Idempotent.
    func stop(reason: String) async
    /// A leader without a command: have the session closed if this process dies
    /// (see `Supervisor`). Idempotent while the guard lives; `stop` ends it.
    func guardSession(_ grant: LeaderGrant) async
    /// True when the command's last exit was imposed on it (its watchdog lost, or
    /// the lease lapsed and the watchdog stopped it), not a failure of its own.
    func exitWasImposed() -> Bool
    /// Gets ready to start the command fast, ahead of any term (the Attempter calls
    /// it on entry): what can be done before leading is kept off the handover's path.
    func prepare() async
}

extension SupervisedCommand {
    public func prepare() async {}
    public func guardSession(_ grant: LeaderGrant) async {}
    public func exitWasImposed() -> Bool { false }
}

/// No command: nothing to start or stop.
public struct NoCommand: SupervisedCommand {
    public init() {}
    public var isConfigured: Bool { false }
    public var stopTimeout: Duration? { nil }
    public func start(_ grant: LeaderGrant, confirmedAt: ContinuousClock.Instant, sessionTimeout: Duration) async
        -> OneShot<Int32>?
    { nil }
    public func extend(confirmedAt: ContinuousClock.Instant, sessionTimeout: Duration) {}
    public func stop(reason: String) async {}
}

/// What the leader does when the command exits by itself (`--on-exit`).
public enum ExitPolicy: String, Sendable, CaseIterable {
    /// Release leadership so a healthy replica takes over; rejoin at the back after backoff.
    case resign
    /// Start it again, with backoff, while still leading.
    case restart
    /// Stop the daemon (gracefully), exiting with the command's status.
    case exit
}

/// The timing rule between the session timeout and the stop timeout: the command's
/// process group must be gone before this replica's session could expire on the
/// server, so before any other replica may start its copy.
public enum CommandTiming {
    /// Kept free between the watchdog's kill and the earliest possible expiry: a
    /// tenth of the session timeout, at least 0.5 s. It absorbs the watchdog's own
    /// lateness (scheduling under a command that keeps every core busy, measured by
    /// `make chaos`) and clock-rate differences, which both grow with the timeout.
    public static func margin(sessionTimeout: Duration) -> Duration {
        max(.milliseconds(500), sessionTimeout / 10)
    }

    /// The latest moment the command may still run for a confirmation sent at
    /// `confirmedAt`: the session lives at least until `confirmedAt + timeout`, the
    /// group is stopped within `stopTimeout` of the deadline, and `margin` is kept.
    /// It is never later than the lease's own end (half the timeout).
    public static func deadline(
        confirmedAt: ContinuousClock.Instant, sessionTimeout: Duration, stopTimeout: Duration
    ) -> ContinuousClock.Instant {
        confirmedAt + min(sessionTimeout / 2, sessionTimeout - stopTimeout - margin(sessionTimeout: sessionTimeout))
    }

    /// Nil when `stopTimeout` fits `sessionTimeout`; otherwise what to change.
    public static func problem(sessionTimeout: Duration, stopTimeout: Duration) -> String? {
        let margin = margin(sessionTimeout: sessionTimeout)
        let room = sessionTimeout / 2 - margin
        guard stopTimeout > room else { return nil }
        // The smallest timeout T with T/2 − margin(T) ≥ stopTimeout.
        let needed = max((stopTimeout + .milliseconds(500)) * 2, stopTimeout * 5 / 2)
        // A session too short for any stop timeout gets no "lower it to at most 0s".
        let lower =
            room > .zero
            ? "lower \(Setting.execStopTimeout.spelled) to at most \(DurationParser.format(room)) or "
            : ""
        return "\(DurationParser.format(stopTimeout)) does not fit the session timeout "
            + "\(DurationParser.format(sessionTimeout)): the command must be stopped within half the session "
            + "timeout minus \(DurationParser.format(margin)); \(lower)raise \(Setting.sessionTimeout.spelled) "
            + "to at least \(DurationParser.format(needed))"
    }
}
