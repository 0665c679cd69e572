/// Time as the election sees it: the instant now, and a sleep until an instant.
/// The daemon runs on the system's monotonic clock (`SystemClock`); the state
/// tests give the states a clock that moves only when the test moves it, so that
/// no test of a state waits on real time (client-go injects its clock the same
/// way). The session's health is read on the same instants.
public protocol ElectionClock: Sendable {
    var now: ContinuousClock.Instant { get }
    /// Returns at `deadline` (at once if it has passed); throws when the task is cancelled.
    func sleep(until deadline: ContinuousClock.Instant) async throws
}

/// The system's monotonic clock (CLOCK_MONOTONIC).
public struct SystemClock: ElectionClock {
    public init() {}
    public var now: ContinuousClock.Instant { .now }
    public func sleep(until deadline: ContinuousClock.Instant) async throws {
        try await Task.sleep(until: deadline, clock: .continuous)
    }
}
