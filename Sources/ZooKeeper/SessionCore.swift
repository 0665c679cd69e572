import CZooKeeper
import Synchronization

/// The part of a session the C threads update directly: connection state, the
/// time of last contact, and the subscribers to session events.
///
/// It is touched from the library's completion thread, so it is a lock, not an actor:
/// health must be current the moment a completion resumes its caller.
final class SessionCore: Sendable {
    private struct State {
        var connection: ZKConnectionState = .connecting
        var lastContact: ContinuousClock.Instant
        var disconnectedSince: ContinuousClock.Instant?
        var connectedSince: ContinuousClock.Instant?
        var negotiatedTimeout: Duration
        var sessionID: Int64 = 0
        var password: [UInt8] = []
        var nextSubscriber: UInt64 = 0
        var subscribers: [UInt64: AsyncStream<ZKSessionEvent>.Continuation] = [:]
    }
    private let state: Mutex<State>
    /// Told of every state change, on the thread that reports it: must not block.
    private let listener: (@Sendable (ZKConnectionState) -> Void)?

    init(requestedTimeout: Duration, listener: (@Sendable (ZKConnectionState) -> Void)? = nil) {
        let now = ContinuousClock.now
        state = Mutex(State(lastContact: now, disconnectedSince: now, negotiatedTimeout: requestedTimeout))
        self.listener = listener
    }

    var health: ZKHealth {
        state.withLock {
            ZKHealth(
                state: $0.connection, lastContact: $0.lastContact,
                disconnectedSince: $0.disconnectedSince, connectedSince: $0.connectedSince,
                negotiatedTimeout: $0.negotiatedTimeout)
        }
    }

    var sessionID: Int64 { state.withLock { $0.sessionID } }
    var password: [UInt8] { state.withLock { $0.password } }

    /// A server answered a request: the session was alive at this moment.
    func heardFromServer() {
        let now = ContinuousClock.now
        state.withLock { s in
            if s.connection == .connected { s.lastContact = now }
        }
    }

    /// Records a state change reported by the library and tells every subscriber.
    func transition(
        to connection: ZKConnectionState, sessionID: Int64? = nil, password: [UInt8]? = nil,
        negotiatedTimeout: Duration? = nil
    ) {
        let now = ContinuousClock.now
        let subscribers: [AsyncStream<ZKSessionEvent>.Continuation]? = state.withLock { s in
            if s.connection == .closed { return nil }
            switch connection {
            case .connected:
                s.lastContact = now
                s.disconnectedSince = nil
                s.connectedSince = now
            case .connecting:
                if s.disconnectedSince == nil { s.disconnectedSince = now }
            case .expired, .authFailed, .closed:
                if s.disconnectedSince == nil { s.disconnectedSince = now }
            }
            s.connection = connection
            if let sessionID { s.sessionID = sessionID }
            if let password { s.password = password }
            if let negotiatedTimeout { s.negotiatedTimeout = negotiatedTimeout }
            return Array(s.subscribers.values)
        }
        guard let subscribers else { return }
        listener?(connection)
        let event = ZKSessionEvent(state: connection)
        for subscriber in subscribers { subscriber.yield(event) }
        if connection == .closed {
            for subscriber in subscribers { subscriber.finish() }
        }
    }

    /// A fresh stream per subscriber: cancelling one consumer never finishes another's.
    /// The current state is delivered first, so nothing between a check and a
    /// subscription is missed.
    func subscribe() -> AsyncStream<ZKSessionEvent> {
        let (stream, continuation) = AsyncStream<ZKSessionEvent>.makeStream(bufferingPolicy: .bufferingNewest(16))
        let (id, current): (UInt64, ZKConnectionState) = state.withLock { s in
            s.nextSubscriber += 1
            s.subscribers[s.nextSubscriber] = continuation
            return (s.nextSubscriber, s.connection)
        }
        continuation.yield(ZKSessionEvent(state: current))
        if current == .closed { continuation.finish() }
        continuation.onTermination = { [weak self] _ in
            self?.state.withLock { _ = $0.subscribers.removeValue(forKey: id) }
        }
        return stream
    }
}
