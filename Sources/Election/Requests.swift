import Synchronization
import ZooKeeper

/// Requests from outside the state loop: stop (a signal) and resign (step down).
/// Stop is a wake-up reason, not task cancellation: a waiting state returns
/// `.stop` with what it holds and the runner builds Stopping from it, so the
/// clean-up runs as ordinary code. Cancellation stays for the second signal.
public final class Requests: Sendable {
    /// Fired once with the reason (e.g. `SIGTERM`).
    public let stop = OneShot<String>()
    /// Fired once when a state met a problem that can never heal (see
    /// `ElectionEnvironment.giveUp`): the daemon stops and exits with its status.
    public let fatal = OneShot<Fatal>()
    private let resignBell = Mutex(OneShot<Void>())

    public init() {}

    public var stopRequested: Bool { stop.value != nil }

    /// Asks the current leader to step down; a replica that does not lead ignores it.
    public func resign() {
        let rung = resignBell.withLock { bell in
            defer { bell = OneShot() }
            return bell
        }
        rung.fire(())
    }

    /// The resign request that would arrive from now on.
    func nextResign() -> OneShot<Void> { resignBell.withLock { $0 } }
}

/// A problem no retry can heal: the exit status (64, bad configuration) and the
/// one line that says what to change.
public struct Fatal: Sendable, Equatable {
    public var status: Int32
    public var line: String
}
