import ZooKeeper

/// Why a waiting state woke up.
enum Wake: Sendable, Equatable {
    case timer
    case watch(ZKNodeEvent)
    case session(ZKConnectionState)
    case cancelled
}

/// Waits for the first of: the deadline, the watch firing, or a session event that
/// `wakeOn` accepts. Returns `.cancelled` when the calling task is cancelled.
func waitForWake(
    until deadline: ContinuousClock.Instant, watch: ZKWatch? = nil, session: (any CoordinationSession)? = nil,
    wakeOn: @escaping @Sendable (ZKConnectionState) -> Bool = { $0 != .connected }
) async -> Wake {
    let first = await withTaskGroup(of: Wake.self) { group in
        group.addTask {
            do {
                try await Task.sleep(until: deadline, clock: .continuous)
                return .timer
            } catch {
                return .cancelled
            }
        }
        if let watch {
            group.addTask { await watch.next().map(Wake.watch) ?? .cancelled }
        }
        if let session {
            group.addTask {
                // A fresh subscription: it starts with the current state.
                for await event in session.events() where wakeOn(event.state) {
                    return .session(event.state)
                }
                return Task.isCancelled ? .cancelled : .session(.closed)
            }
        }
        defer { group.cancelAll() }
        return await group.next() ?? .cancelled
    }
    return Task.isCancelled ? .cancelled : first
}

/// Runs `operation`, giving up with `nil` after `limit`.
func withDeadline<T: Sendable>(_ limit: Duration, _ operation: @escaping @Sendable () async throws -> T) async -> T? {
    await withTaskGroup(of: T?.self) { group in
        group.addTask { try? await operation() }
        group.addTask {
            try? await Task.sleep(for: limit)
            return nil
        }
        defer { group.cancelAll() }
        return await group.next() ?? nil
    }
}
