import Synchronization
import ZooKeeper

@testable import Election

/// Records what the election reports, for assertions.
final class RecordingObserver: ElectionObserver {
    struct Log {
        var transitions: [String] = []
        var codes: [TransitionReason.Code] = []
        var filesWritten = 0
        var writeFailures = 0
        var confirmations = 0
        var leadershipChanges: [Bool] = []
    }
    let log = Mutex(Log())

    var transitions: [String] { log.withLock { $0.transitions } }
    var codes: [TransitionReason.Code] { log.withLock { $0.codes } }
    var filesWritten: Int { log.withLock { $0.filesWritten } }
    var writeFailures: Int { log.withLock { $0.writeFailures } }
    var confirmations: Int { log.withLock { $0.confirmations } }
    var leadershipChanges: [Bool] { log.withLock { $0.leadershipChanges } }

    func transitioned(from: StateName, to: StateName, reason: TransitionReason, token: Int64?) {
        log.withLock {
            $0.transitions.append("\(from.rawValue)>\(to.rawValue)")
            $0.codes.append(reason.code)
        }
    }
    func fileWritten(_ file: ElectionFileName) { log.withLock { $0.filesWritten += 1 } }
    func writeFailed(_ error: FileStoreError) { log.withLock { $0.writeFailures += 1 } }
    func confirmed(roundTrip: Duration, lease: Lease) { log.withLock { $0.confirmations += 1 } }
    func leadership(_ grant: LeaderGrant?) { log.withLock { $0.leadershipChanges.append(grant != nil) } }
}

/// The task's value, or nil when it is not done within `limit`: then the task is
/// cancelled (the states answer cancellation by returning), so a test fails
/// instead of hanging. (Awaiting `task.value` inside a task group would not do:
/// that await is not cancellable, and a group waits for all its children.)
func finish<T: Sendable>(_ task: Task<T, Never>, within limit: Duration) async -> T? {
    let deadline = ContinuousClock.now + limit
    let timer = Task {
        try await Task.sleep(until: deadline, clock: .continuous)
        task.cancel()
    }
    let value = await task.value
    timer.cancel()
    return ContinuousClock.now < deadline ? value : nil
}
