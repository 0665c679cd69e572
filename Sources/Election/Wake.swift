import Synchronization
import ZooKeeper

/// Why a waiting state woke up.
enum Wake: Sendable, Equatable {
    case timer
    case watch(ZKNodeEvent)
    case session(ZKConnectionState)
    case stop
    case resign
    /// The watch on the current leader's znode fired (status tracking only).
    case leaderChanged
    /// The supervised command ended by itself, with this status.
    case commandExited(Int32)
}

/// Thrown by `untilStopped` when a stop request arrives while a request is out.
struct StopRequested: Error {}

extension ElectionEnvironment {
    /// Waits for the first of: the deadline, the watch firing, a session event that
    /// `wakeOn` accepts, a resign request (when given), or a stop request.
    func waitForWake(
        until deadline: ContinuousClock.Instant, watch: ZKWatch? = nil, session: (any CoordinationSession)? = nil,
        resign: OneShot<Void>? = nil, leader: ZKWatch? = nil, command: OneShot<Int32>? = nil,
        wakeOn: @escaping @Sendable (ZKConnectionState) -> Bool = { $0 != .connected }
    ) async -> Wake {
        if requests.stopRequested { return .stop }
        let stop = requests.stop
        let clock = self.clock
        observer.waiting(until: deadline)
        let first = await withTaskGroup(of: Wake?.self) { group in
            group.addTask {
                do {
                    try await clock.sleep(until: deadline)
                    return .timer
                } catch {
                    return nil
                }
            }
            group.addTask { await stop.next().map { _ in .stop } }
            if let watch {
                group.addTask { await watch.next().map(Wake.watch) }
            }
            if let resign {
                group.addTask { await resign.next().map { .resign } }
            }
            if let leader {
                group.addTask { await leader.next().map { _ in .leaderChanged } }
            }
            if let command {
                group.addTask { await command.next().map(Wake.commandExited) }
            }
            if let session {
                group.addTask {
                    // A fresh subscription: it starts with the current state.
                    for await event in session.events() where wakeOn(event.state) {
                        return .session(event.state)
                    }
                    return Task.isCancelled ? nil : .session(.closed)
                }
            }
            defer { group.cancelAll() }
            while let next = await group.next() {
                if let next { return next }
                if Task.isCancelled { break }
            }
            return .stop
        }
        observer.progressed()
        return first
    }

    /// Runs a request, giving it up as soon as a stop is requested (`StopRequested`).
    func untilStopped<T: Sendable>(_ request: @escaping @Sendable () async throws -> T) async throws -> T {
        if requests.stopRequested { throw StopRequested() }
        let stop = requests.stop
        let result = try await withThrowingTaskGroup(of: T?.self) { group in
            group.addTask { try await request() }
            group.addTask {
                _ = await stop.next()
                return nil
            }
            defer { group.cancelAll() }
            return try await group.next() ?? nil
        }
        guard let result else { throw StopRequested() }
        observer.progressed()
        return result
    }
}

extension ElectionEnvironment {
    /// Runs `operation`, giving up with `nil` after `limit` (on the election's clock).
    func withDeadline<T: Sendable>(_ limit: Duration, _ operation: @escaping @Sendable () async throws -> T) async
        -> T?
    {
        let clock = self.clock
        let deadline = clock.now + limit
        return await withTaskGroup(of: T?.self) { group in
            group.addTask { try? await operation() }
            group.addTask {
                try? await clock.sleep(until: deadline)
                return nil
            }
            defer { group.cancelAll() }
            return await group.next() ?? nil
        }
    }
}
