import Synchronization

/// A value that arrives once and can be awaited by any number of tasks: a node
/// watch, a stop request.
///
/// Safe to share: all state sits behind a `Mutex`.
public final class OneShot<Value: Sendable>: Sendable {
    private typealias Waiter = CheckedContinuation<Value?, Never>
    private enum State {
        case waiting([UInt64: Waiter])
        case fired(Value)
    }
    private let state = Mutex<State>(.waiting([:]))
    private let waiterIDs = Atomic<UInt64>(0)

    public init() {}

    /// The value once it has arrived, without waiting.
    public var value: Value? {
        state.withLock { state in
            if case .fired(let value) = state { return value }
            return nil
        }
    }

    /// The value, once it arrives; `nil` if the waiting task is cancelled first.
    public func next() async -> Value? {
        let id = waiterIDs.add(1, ordering: .relaxed).newValue
        return await withTaskCancellationHandler {
            await withCheckedContinuation { (cont: Waiter) in
                let ready: Value?? = state.withLock { state in
                    switch state {
                    case .fired(let value): return .some(value)
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

    /// Delivers the value; returns false (and changes nothing) if one was delivered before.
    @discardableResult
    public func fire(_ value: Value) -> Bool {
        let waiters: [Waiter]? = state.withLock { state in
            guard case .waiting(let waiters) = state else { return nil }
            state = .fired(value)
            return Array(waiters.values)
        }
        guard let waiters else { return false }
        for waiter in waiters { waiter.resume(returning: value) }
        return true
    }
}

/// A one-shot node watch: the first event the server (or the session) reports.
public typealias ZKWatch = OneShot<ZKNodeEvent>
