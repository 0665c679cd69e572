import Synchronization

/// What a C completion hands back, copied out of the library's buffers.
enum CompletionPayload: Sendable {
    case void(rc: Int32)
    case stat(rc: Int32, ZKStat?)
    case string(rc: Int32, String?, ZKStat?)
    case strings(rc: Int32, [String], ZKStat?)
    case data(rc: Int32, [UInt8], ZKStat?)
    case cancelled
}

/// Maps integer tokens (passed to C as `void*` contexts) to Swift handlers.
///
/// C callbacks cannot capture, and the library may call a watcher many times
/// (every session event) or never (close): an integer token into a locked table
/// avoids retained contexts that would leak or be freed twice.
final class CallbackRegistry: Sendable {
    typealias Handler = @Sendable (CompletionPayload) -> Void

    private struct Table {
        var next: UInt = 1
        var completions: [UInt: Handler] = [:]
        var cancelledEarly: Set<UInt> = []
        /// Watch token → (session token, watch).
        var watches: [UInt: (session: UInt, watch: ZKWatch)] = [:]
        var sessions: [UInt: SessionCore] = [:]
    }
    private let table = Mutex(Table())

    static let shared = CallbackRegistry()

    func makeToken() -> UInt {
        table.withLock { t in
            defer { t.next += 1 }
            return t.next
        }
    }

    /// Registers a completion; false when the token was cancelled before it got here.
    func register(_ token: UInt, _ handler: @escaping Handler) -> Bool {
        table.withLock { t in
            if t.cancelledEarly.remove(token) != nil { return false }
            t.completions[token] = handler
            return true
        }
    }

    /// Runs and forgets the handler of `token`, if it is still registered.
    func complete(_ token: UInt, _ payload: CompletionPayload) {
        let handler = table.withLock { $0.completions.removeValue(forKey: token) }
        handler?(payload)
    }

    /// Resumes a pending call with `.cancelled`, or remembers the cancellation
    /// if the call has not registered yet.
    func cancel(_ token: UInt) {
        let handler: Handler? = table.withLock { t in
            if let h = t.completions.removeValue(forKey: token) { return h }
            t.cancelledEarly.insert(token)
            return nil
        }
        handler?(.cancelled)
    }

    func addWatch(_ token: UInt, session: UInt, _ watch: ZKWatch) {
        table.withLock { $0.watches[token] = (session, watch) }
    }

    func removeWatch(_ token: UInt) -> ZKWatch? {
        table.withLock { $0.watches.removeValue(forKey: token)?.watch }
    }

    /// Removes and returns every watch of a session (it expired or was closed).
    func removeWatches(ofSession session: UInt) -> [ZKWatch] {
        table.withLock { t in
            let mine = t.watches.filter { $0.value.session == session }
            for key in mine.keys { t.watches.removeValue(forKey: key) }
            return mine.values.map(\.watch)
        }
    }

    func addSession(_ token: UInt, _ core: SessionCore) {
        table.withLock { $0.sessions[token] = core }
    }

    func session(_ token: UInt) -> SessionCore? {
        table.withLock { $0.sessions[token] }
    }

    func removeSession(_ token: UInt) {
        table.withLock { _ = $0.sessions.removeValue(forKey: token) }
    }
}
