import CZooKeeper
import Dispatch
import Logging
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// One ZooKeeper session over Debian's C client, adapted to async/await.
///
/// Requests are started on the actor and complete on the library's completion
/// thread; results are copied out of C memory before they cross back. Session
/// events are broadcast to per-subscriber streams (`events()`), and `health` is
/// readable synchronously so a caller can check the session on its own clock.
public actor ZKSession {
    private let registry = CallbackRegistry.shared
    private let token: UInt
    private let core: SessionCore
    private var handle: OpaquePointer?
    private let logger: Logger

    /// The ACL of the znodes this session creates (`create`, `createParents`).
    public nonisolated let acl: ZKACL

    /// Starts connecting; use `waitConnected(within:)` to wait for the server.
    /// `resuming` takes a previous session's id and password to resume it.
    /// `onStateChange` hears every connection state change on the thread that reports
    /// it (the library's): it must not block.
    public init(
        servers: String, sessionTimeout: Duration, resuming previous: (id: Int64, password: [UInt8])? = nil,
        logger: Logger = Logger(label: "zookeeper"), onStateChange: (@Sendable (ZKConnectionState) -> Void)? = nil,
        auth: ZKAuth? = nil, acl: ZKACL = .open
    ) throws(ZKError) {
        self.acl = acl
        self.logger = logger
        let core = SessionCore(requestedTimeout: sessionTimeout, listener: onStateChange)
        let token = CallbackRegistry.shared.makeToken()
        self.core = core
        self.token = token
        CallbackRegistry.shared.addSession(token, core)
        let timeoutMs = Int32(clamping: sessionTimeout.milliseconds)
        var clientID = clientid_t()
        if let previous {
            clientID.client_id = previous.id
            withUnsafeMutableBytes(of: &clientID.passwd) { buffer in
                for (i, byte) in previous.password.prefix(buffer.count).enumerated() { buffer[i] = byte }
            }
        }
        let created: OpaquePointer? = withUnsafePointer(to: &clientID) { idPointer in
            zookeeper_init2(
                servers, { zh, type, state, _, context in sessionWatcher(zh, type, state, context) },
                timeoutMs, previous == nil ? nil : idPointer, UnsafeMutableRawPointer(bitPattern: token), 0,
                { line in if let line { ZKLogBridge.shared.handle(String(cString: line)) } })
        }
        guard let created else {
            let code = errnoValue()
            CallbackRegistry.shared.removeSession(token)
            // The library's own line is "getaddrinfo: …" without the host: name it.
            let unresolved = Self.unresolvedHosts(servers)
            if !unresolved.isEmpty { throw .unresolvable(unresolved.joined(separator: ", ")) }
            throw .initFailed(errno: code)
        }
        // By default the client re-resolves every server name each time it polls its
        // socket (a netlink query and a DNS lookup several times a second): once a
        // minute still follows DNS changes (Kubernetes), at a fraction of the CPU.
        zoo_set_servers_resolution_delay(created, 60_000)
        if let auth {
            // Sent with the connect and again on every reconnect by the library;
            // a rejection arrives as the AUTH_FAILED session state.
            let rc = auth.credential.withUnsafeBufferPointer { buffer in
                buffer.withMemoryRebound(to: CChar.self) { chars in
                    zoo_add_auth(created, auth.scheme, chars.baseAddress, Int32(chars.count), nil, nil)
                }
            }
            if rc != ZOK.rawValue {
                zookeeper_close(created)
                CallbackRegistry.shared.removeSession(token)
                throw ZKError(code: rc) ?? .other(code: rc)
            }
        }
        handle = created
        logger.debug("zookeeper handle created", metadata: ["servers": "\(servers)"])
    }

    /// The hosts of a connect string (`host:port,…[/chroot]`) that no resolver knows,
    /// each as `host (the resolver's words)`. Asked only after the library failed.
    static func unresolvedHosts(_ servers: String) -> [String] {
        let hosts = servers.prefix { $0 != "/" }.split(separator: ",").map { entry in
            let host = entry.lastIndex(of: ":").map { entry[..<$0] } ?? entry[...]
            return String(host.trimmingPrefix("[").prefix { $0 != "]" })
        }
        return hosts.compactMap { host in
            var hints = addrinfo()
            hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
            var result: UnsafeMutablePointer<addrinfo>?
            let rc = getaddrinfo(host, nil, &hints, &result)
            if let result { freeaddrinfo(result) }
            return rc == 0 ? nil : "\(host) (\(String(cString: gai_strerror(rc))))"
        }
    }

    /// The session id granted by the server (0 until first connected).
    public nonisolated var sessionID: Int64 { core.sessionID }
    /// The session password granted by the server, for resuming the session later.
    public nonisolated var password: [UInt8] { core.password }
    /// Current connection state and timing, read without waiting on the actor.
    public nonisolated var health: ZKHealth { core.health }

    /// Session events from now on, the current state first.
    public nonisolated func events() -> AsyncStream<ZKSessionEvent> { core.subscribe() }

    /// Waits until the session is connected; throws `.connectTimeout` after `deadline`,
    /// `.sessionExpired` if the server refuses the session.
    public func waitConnected(within deadline: Duration) async throws {
        let stream = events()
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                for await event in stream {
                    switch event.state {
                    case .connected: return
                    case .expired: throw ZKError.sessionExpired
                    case .authFailed: throw ZKError.noAuth
                    case .closed: throw ZKError.closed
                    case .connecting: continue
                    }
                }
                throw CancellationError()
            }
            group.addTask {
                try await Task.sleep(for: deadline)
                throw ZKError.connectTimeout
            }
            defer { group.cancelAll() }
            try await group.next()
        }
    }

    // MARK: Requests

    /// Creates a znode; returns its actual path (with the sequence suffix) and stat.
    public func create(_ path: String, data: [UInt8] = [], mode: ZKCreateMode) async throws -> (
        path: String, stat: ZKStat
    ) {
        // A value, not `self.acl` inside the closure: the closure must not touch the actor.
        let acl = self.acl
        return try await call { zh, context in
            data.withUnsafeBufferPointer { buffer in
                buffer.withMemoryRebound(to: CChar.self) { chars in
                    zoo_acreate2(
                        zh, path, chars.baseAddress, Int32(chars.count), acl.cValue, mode.cValue,
                        { rc, value, stat, context in
                            complete(context, .string(rc: rc, value.map { String(cString: $0) }, stat.map(ZKStat.init)))
                        }, context)
                }
            }
        } decode: { payload in
            guard case .string(_, let created?, let stat?) = payload else { throw ZKError.marshallingError }
            return (created, stat)
        }
    }

    /// The stat of a znode, or nil when it does not exist. Sets no watch.
    public func exists(_ path: String) async throws -> ZKStat? {
        try await exists(path, synced: false)
    }

    /// Like `exists`, but answered only after the server has caught up with the
    /// quorum's leader: a `sync` goes out first on the same connection, and the
    /// server answers a session's requests in order. A server cut off from its
    /// quorum cannot answer the sync, so a reply proves that the quorum was reachable
    /// from our server after the request was sent (the lease rests on it; see
    /// docs/design.md, "The lease").
    public func syncedExists(_ path: String) async throws -> ZKStat? {
        try await exists(path, synced: true)
    }

    /// One `exists` request, behind a `sync` or not.
    private func exists(_ path: String, synced: Bool) async throws -> ZKStat? {
        let start: (OpaquePointer, UnsafeRawPointer) -> Int32 = { zh, context in
            zoo_awexists(
                zh, path, nil, nil, { rc, stat, context in complete(context, .stat(rc: rc, stat.map(ZKStat.init))) },
                context)
        }
        let decode: @Sendable (CompletionPayload) throws -> ZKStat? = { payload in
            guard case .stat(let rc, let stat) = payload else { throw ZKError.marshallingError }
            return rc == ZNONODE.rawValue ? nil : stat
        }
        let absent: @Sendable (Int32) -> Bool = { $0 == ZNONODE.rawValue }
        return synced
            ? try await afterSync(path, start, decode: decode, accepting: absent)
            : try await call(start, decode: decode, accepting: absent)
    }

    /// Like `children`, behind a `sync` (see `syncedExists`).
    public func syncedChildren(_ path: String) async throws -> [String] {
        try await children(path, watch: nil, synced: true)
    }

    /// Sends a `sync` of `path` and, in the same turn, the request `start` makes;
    /// returns the request's result once both succeeded. The library completes a
    /// session's requests in the order it sent them, so the sync's result is known
    /// when the request's arrives.
    private func afterSync<T: Sendable>(
        _ path: String, _ start: (OpaquePointer, UnsafeRawPointer) -> Int32,
        decode: @escaping @Sendable (CompletionPayload) throws -> T,
        accepting acceptable: @escaping @Sendable (Int32) -> Bool = { _ in false }
    ) async throws -> T {
        let registry = self.registry
        let syncToken = registry.makeToken()
        let synced = SyncOutcome()
        _ = registry.register(syncToken) { payload in synced.record(payload) }
        let result = try await call(
            { zh, context in
                let rc = zoo_async(
                    zh, path, { rc, _, context in complete(context, .void(rc: rc)) },
                    UnsafeRawPointer(bitPattern: syncToken)!)
                guard rc == ZOK.rawValue else {
                    registry.complete(syncToken, .void(rc: rc))
                    return rc
                }
                return start(zh, context)
            }, decode: decode, accepting: acceptable)
        let rc = synced.rc ?? ZCONNECTIONLOSS.rawValue
        guard rc == ZOK.rawValue else { throw ZKError(code: rc) ?? .other(code: rc) }
        return result
    }

    /// A znode's data and stat, or nil when it does not exist.
    public func getData(_ path: String) async throws -> (data: [UInt8], stat: ZKStat)? {
        try await getData(path, watch: nil).map { ($0.data, $0.stat) }
    }

    /// A znode's data and stat and a one-shot watch that reports its change or
    /// deletion; nil when the node does not exist. Unlike an exists watch, this
    /// leaves no watch behind for a node that is already gone (sequential names
    /// never come back, so such a watch would live until the session ends).
    public func getDataAndWatch(_ path: String) async throws -> (data: [UInt8], stat: ZKStat, watch: ZKWatch)? {
        let watch = ZKWatch()
        return try await getData(path, watch: watch).map { ($0.data, $0.stat, watch) }
    }

    private func getData(_ path: String, watch: ZKWatch?) async throws -> (data: [UInt8], stat: ZKStat)? {
        try await watching(watch) { watchToken in
            try await call { zh, context in
                zoo_awget(
                    zh, path,
                    watchToken == nil ? nil : { _, type, state, _, context in nodeWatcher(type, state, context) },
                    watchToken.flatMap { UnsafeMutableRawPointer(bitPattern: $0) },
                    { rc, value, length, stat, context in
                        let bytes: [UInt8] =
                            value.map { pointer in
                                Array(UnsafeRawBufferPointer(start: pointer, count: Int(max(length, 0))))
                            } ?? []
                        complete(context, .data(rc: rc, bytes, stat.map(ZKStat.init)))
                    }, context)
            } decode: { payload -> (data: [UInt8], stat: ZKStat)? in
                guard case .data(let rc, let bytes, let stat) = payload else { throw ZKError.marshallingError }
                guard rc != ZNONODE.rawValue, let stat else { return nil }
                return (bytes, stat)
            } accepting: {
                $0 == ZNONODE.rawValue
            }
        }
    }

    /// The names (not paths) of a znode's children.
    public func children(_ path: String) async throws -> [String] {
        try await children(path, watch: nil)
    }

    /// The names of a znode's children and a one-shot watch that reports the next
    /// change to the list (or the node's deletion).
    public func childrenAndWatch(_ path: String) async throws -> (names: [String], watch: ZKWatch) {
        let watch = ZKWatch()
        return (try await children(path, watch: watch), watch)
    }

    private func children(_ path: String, watch: ZKWatch?, synced: Bool = false) async throws -> [String] {
        try await watching(watch) { watchToken in
            let start: (OpaquePointer, UnsafeRawPointer) -> Int32 = { zh, context in
                zoo_awget_children2(
                    zh, path,
                    watchToken == nil ? nil : { _, type, state, _, context in nodeWatcher(type, state, context) },
                    watchToken.flatMap { UnsafeMutableRawPointer(bitPattern: $0) },
                    { rc, strings, stat, context in
                        var names: [String] = []
                        if let strings, let data = strings.pointee.data {
                            for i in 0..<Int(strings.pointee.count) {
                                if let name = data[i] { names.append(String(cString: name)) }
                            }
                        }
                        complete(context, .strings(rc: rc, names, stat.map(ZKStat.init)))
                    }, context)
            }
            let decode: @Sendable (CompletionPayload) throws -> [String] = { payload in
                guard case .strings(_, let names, _) = payload else { throw ZKError.marshallingError }
                return names
            }
            return synced
                ? try await afterSync(path, start, decode: decode) : try await call(start, decode: decode)
        }
    }

    /// Registers `watch` (if any) under a fresh token for the duration of a request
    /// that may set it; the registration is dropped again when the request fails or
    /// the server set no watch (`nil` result: the node does not exist).
    private func watching<T>(_ watch: ZKWatch?, _ request: (UInt?) async throws -> T?) async throws -> T? {
        guard let watch else { return try await request(nil) }
        let watchToken = registry.makeToken()
        registry.addWatch(watchToken, session: token, watch)
        do {
            let result = try await request(watchToken)
            if result == nil { _ = registry.removeWatch(watchToken) }
            return result
        } catch {
            _ = registry.removeWatch(watchToken)
            throw error
        }
    }

    private func watching<T>(_ watch: ZKWatch?, _ request: (UInt?) async throws -> T) async throws -> T {
        let result: T? = try await watching(watch) { token -> T? in try await request(token) }
        return result!
    }

    /// Replaces a znode's data when its version matches (`version` -1 matches any).
    public func setData(_ path: String, data: [UInt8], version: Int32 = -1) async throws -> ZKStat {
        try await call { zh, context in
            data.withUnsafeBufferPointer { buffer in
                buffer.withMemoryRebound(to: CChar.self) { chars in
                    zoo_aset(
                        zh, path, chars.baseAddress, Int32(chars.count), version,
                        { rc, stat, context in complete(context, .stat(rc: rc, stat.map(ZKStat.init))) }, context)
                }
            }
        } decode: { payload in
            guard case .stat(_, let stat?) = payload else { throw ZKError.marshallingError }
            return stat
        }
    }

    /// Deletes a znode; `version` -1 matches any version.
    public func delete(_ path: String, version: Int32 = -1) async throws {
        try await call { zh, context in
            zoo_adelete(zh, path, version, { rc, context in complete(context, .void(rc: rc)) }, context)
        } decode: { _ in
            ()
        }
    }

    /// Creates `path` and any missing parents as persistent znodes; existing ones are kept.
    public func createParents(_ path: String) async throws {
        var prefix = ""
        for component in path.split(separator: "/") {
            prefix += "/" + component
            do {
                _ = try await create(prefix, mode: .persistent)
            } catch ZKError.nodeExists {
                continue
            }
        }
    }

    /// Runs the operations as one transaction: all succeed or none does.
    public func multi(_ ops: [ZKOp]) async throws {
        let batch = MultiBatch(ops)
        try await call { zh, context in
            // The library writes into the batch until it completes, which may be after
            // this call is cancelled: the batch is freed by the completion itself.
            MultiBatch.pending.withLock { $0[UInt(bitPattern: context)] = batch }
            let rc = zoo_amulti(
                zh, Int32(batch.count), batch.ops, batch.results,
                { rc, context in
                    MultiBatch.pending.withLock { $0.removeValue(forKey: UInt(bitPattern: context)) }?.release()
                    complete(context, .void(rc: rc))
                }, context)
            if rc != ZOK.rawValue {
                MultiBatch.pending.withLock { $0.removeValue(forKey: UInt(bitPattern: context)) }?.release()
            }
            return rc
        } decode: { _ in
            ()
        }
    }

    /// Closes the session: the server deletes its ephemeral znodes at once.
    /// `zookeeper_close` blocks and joins the library's threads, so it runs off the
    /// cooperative pool.
    public func close() async {
        guard let handle else { return }
        self.handle = nil
        core.transition(to: .closed)
        for watch in registry.removeWatches(ofSession: token) { watch.fire(.sessionLost) }
        let closing = HandleBox(handle)
        await withCheckedContinuation { (cont: CheckedContinuation<Void, Never>) in
            DispatchQueue.global().async {
                ZKLogBridge.shared.closing { _ = zookeeper_close(closing.handle) }
                cont.resume()
            }
        }
        registry.removeSession(token)
        logger.debug("zookeeper session closed")
    }

    /// Starts a request with a registry token as its context and waits for its completion.
    /// A request the library refuses up front never completes, so it is finished here.
    private func call<T: Sendable>(
        _ start: (OpaquePointer, UnsafeRawPointer) -> Int32,
        decode: @escaping @Sendable (CompletionPayload) throws -> T,
        accepting acceptable: @escaping @Sendable (Int32) -> Bool = { _ in false }
    ) async throws -> T {
        guard let handle else { throw ZKError.closed }
        let requestToken = registry.makeToken()
        let core = self.core
        let registry = self.registry
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (cont: CheckedContinuation<T, Error>) in
                let registered = registry.register(requestToken) { payload in
                    let rc = payload.rc
                    if rc == ZOK.rawValue || ZKError(code: rc)?.isServerReply == true { core.heardFromServer() }
                    if case .cancelled = payload {
                        cont.resume(throwing: CancellationError())
                    } else if rc != ZOK.rawValue && !acceptable(rc) {
                        cont.resume(throwing: ZKError(code: rc) ?? .other(code: rc))
                    } else {
                        cont.resume(with: Result { try decode(payload) })
                    }
                }
                guard registered else {
                    cont.resume(throwing: CancellationError())
                    return
                }
                let rc = start(handle, UnsafeRawPointer(bitPattern: requestToken)!)
                if rc != ZOK.rawValue { registry.complete(requestToken, .void(rc: rc)) }
            }
        } onCancel: {
            registry.cancel(requestToken)
        }
    }
}

/// The result of a `sync` sent ahead of another request (see `afterSync`).
private final class SyncOutcome: Sendable {
    private let value = Mutex<Int32?>(nil)
    func record(_ payload: CompletionPayload) {
        let rc: Int32
        if case .cancelled = payload { rc = ZCONNECTIONLOSS.rawValue } else { rc = payload.rc }
        value.withLock { $0 = rc }
    }
    var rc: Int32? { value.withLock { $0 } }
}

/// Hands a handle to the closing thread. Safe: the actor has dropped its reference
/// before the box is made, so only that thread uses the handle.
private struct HandleBox: @unchecked Sendable {
    let handle: OpaquePointer
    init(_ handle: OpaquePointer) { self.handle = handle }
}

extension CompletionPayload {
    var rc: Int32 {
        switch self {
        case .void(let rc), .stat(let rc, _), .string(let rc, _, _), .strings(let rc, _, _), .data(let rc, _, _):
            return rc
        case .cancelled: return ZOK.rawValue
        }
    }
}

extension ZKACL {
    var cValue: UnsafePointer<ACL_vector> {
        switch self {
        case .open: return czk_open_acl_unsafe()
        case .private: return czk_creator_all_acl()
        case .worldRead: return czk_creator_all_world_read_acl()
        }
    }
}

extension ZKCreateMode {
    var cValue: Int32 {
        switch self {
        case .persistent: return ZOO_PERSISTENT
        case .ephemeral: return ZOO_EPHEMERAL
        case .persistentSequential: return ZOO_PERSISTENT_SEQUENTIAL
        case .ephemeralSequential: return ZOO_EPHEMERAL_SEQUENTIAL
        }
    }
}

extension ZKStat {
    init(_ stat: UnsafePointer<Stat>) {
        let s = stat.pointee
        self.init(
            czxid: s.czxid, mzxid: s.mzxid, ctime: s.ctime, mtime: s.mtime, version: s.version,
            cversion: s.cversion, ephemeralOwner: s.ephemeralOwner, dataLength: s.dataLength,
            numChildren: s.numChildren)
    }
}

extension Duration {
    /// Whole milliseconds, rounded down.
    public var milliseconds: Int64 {
        let (seconds, attoseconds) = components
        return seconds * 1000 + attoseconds / 1_000_000_000_000_000
    }
}

// MARK: C callbacks (non-capturing; context is a registry token)

private func complete(_ context: UnsafeRawPointer?, _ payload: CompletionPayload) {
    CallbackRegistry.shared.complete(UInt(bitPattern: context), payload)
}

private func connectionState(_ state: Int32) -> ZKConnectionState? {
    switch state {
    case ZOO_CONNECTED_STATE, ZOO_READONLY_STATE: return .connected
    case ZOO_CONNECTING_STATE, ZOO_ASSOCIATING_STATE, ZOO_NOTCONNECTED_STATE: return .connecting
    case ZOO_EXPIRED_SESSION_STATE: return .expired
    case ZOO_AUTH_FAILED_STATE: return .authFailed
    default: return nil
    }
}

private func sessionWatcher(_ zh: OpaquePointer?, _ type: Int32, _ state: Int32, _ context: UnsafeMutableRawPointer?) {
    guard type == ZOO_SESSION_EVENT, let connection = connectionState(state) else { return }
    let token = UInt(bitPattern: context)
    guard let core = CallbackRegistry.shared.session(token) else { return }
    if connection == .connected, let zh, let id = zoo_client_id(zh) {
        let password = withUnsafeBytes(of: id.pointee.passwd) { Array($0) }
        core.transition(
            to: .connected, sessionID: id.pointee.client_id, password: password,
            negotiatedTimeout: .milliseconds(Int(zoo_recv_timeout(zh))))
    } else {
        core.transition(to: connection)
    }
    if connection == .expired || connection == .authFailed {
        for watch in CallbackRegistry.shared.removeWatches(ofSession: token) { watch.fire(.sessionLost) }
    }
}

/// Node watchers also receive every session event without being consumed (see the
/// docs/design.md, "The C client"); only a node event or the session's end fires the watch.
private func nodeWatcher(_ type: Int32, _ state: Int32, _ context: UnsafeMutableRawPointer?) {
    let token = UInt(bitPattern: context)
    let event: ZKNodeEvent
    switch type {
    case ZOO_SESSION_EVENT:
        guard state == ZOO_EXPIRED_SESSION_STATE || state == ZOO_AUTH_FAILED_STATE else { return }
        event = .sessionLost
    case ZOO_CREATED_EVENT: event = .created
    case ZOO_DELETED_EVENT: event = .deleted
    case ZOO_CHANGED_EVENT: event = .dataChanged
    case ZOO_CHILD_EVENT: event = .childrenChanged
    default: return
    }
    CallbackRegistry.shared.removeWatch(token)?.fire(event)
}

private func errnoValue() -> Int32 {
    #if canImport(Glibc)
        return Glibc.errno
    #else
        return 0
    #endif
}
