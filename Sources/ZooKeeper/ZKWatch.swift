import Synchronization

/// A one-shot watch: `next()` returns the first event the server (or the session) reports.
///
/// Safe to share: all state sits behind a `Mutex`.
public final class ZKWatch: Sendable {
    private typealias Waiter = CheckedContinuation<ZKNodeEvent?, Never>
    private enum State {
        case waiting([UInt64: Waiter])
        case fired(ZKNodeEvent)
    }
    private let state = Mutex<State>(.waiting([:]))
    private let waiterIDs = Atomic<UInt64>(0)

    public init() {}

    /// The event, once it arrives; `nil` if the waiting task is cancelled first.
    public func next() async -> ZKNodeEvent? {
        let id = waiterIDs.add(1, ordering: .relaxed).newValue
        return await withTaskCancellationHandler {
            await withCheckedContinuation { (cont: Waiter) in
                let ready: ZKNodeEvent?? = state.withLock { state in
                    switch state {
                    case .fired(let event): return .some(event)
                    case .waiting(var waiters):
                        if Task.isCancelled { return .some(nil) }
                        waiters[id] = cont
                        state = .waiting(waiters)
                        return nil
                    }
                }
                if let ready { cont.resume(returning: ready) }
            }
        } onCancel: {
            let cont: Waiter? = state.withLock { state in
                guard case .waiting(var waiters) = state else { return nil }
                let waiter = waiters.removeValue(forKey: id)
                state = .waiting(waiters)
                return waiter
            }
            cont?.resume(returning: nil)
        }
    }

    /// Delivers the event; later calls are ignored (the watch is one-shot).
    public func fire(_ event: ZKNodeEvent) {
        let waiters: [Waiter] = state.withLock { state in
            guard case .waiting(let waiters) = state else { return [] }
            state = .fired(event)
            return Array(waiters.values)
        }
        for waiter in waiters { waiter.resume(returning: event) }
    }
}
