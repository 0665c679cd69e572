import Election
import Synchronization
import ZooKeeper

/// An in-memory ZooKeeper tree shared by fake sessions: sequential and ephemeral
/// znodes, czxids, one-shot data and child watches. For unit tests of the states only;
/// integration tests use a real server, and `SessionContractTests` hold the fake
/// to what the real server does.
package final class FakeZooKeeper: Sendable {
    package init() {}
    package struct Node {
        package var data: [UInt8]
        package var stat: ZKStat
    }
    package struct Tree {
        package var nodes: [String: Node] = [:]
        package var zxid: Int64 = 100
        package var sequence: [String: Int] = [:]
        /// `children`: a child watch on `path`; otherwise a data watch (set only on a node that exists).
        package var watches: [(path: String, session: Int64, watch: ZKWatch, children: Bool)] = []
        package var nextSession: Int64 = 0x1000
    }
    package let tree = Mutex(Tree())

    package func paths() -> [String] { tree.withLock { $0.nodes.keys.sorted() } }
    package func children(of parent: String) -> [String] {
        tree.withLock { t in
            t.nodes.keys.filter { parentPath($0) == parent }.map { String($0.split(separator: "/").last!) }.sorted()
        }
    }
    package func stat(_ path: String) -> ZKStat? { tree.withLock { $0.nodes[path]?.stat } }

    /// The znode goes but no watch hears of it yet (the event is still in flight).
    package func deleteSilently(_ path: String) { _ = tree.withLock { $0.nodes.removeValue(forKey: path) } }

    /// The znode now belongs to another session; no watch fires.
    package func changeOwnerSilently(_ path: String, to owner: Int64) {
        tree.withLock { $0.nodes[path]?.stat.ephemeralOwner = owner }
    }

    /// An operator deletes a znode by hand.
    package func operatorDelete(_ path: String) { _ = mutate { $0.nodes.removeValue(forKey: path) != nil } }

    /// Changes the tree and fires the data watches of every node that went away and
    /// the child watches of every parent whose children changed.
    package func mutate<T>(_ change: (inout Tree) throws -> T) rethrows -> T {
        let (result, fired): (T, [(ZKWatch, ZKNodeEvent)]) = try tree.withLock { t in
            let before = Set(t.nodes.keys)
            let result = try change(&t)
            let after = Set(t.nodes.keys)
            let changedParents = Set(before.symmetricDifference(after).map(parentPath))
            var fired: [(ZKWatch, ZKNodeEvent)] = []
            t.watches.removeAll { entry in
                if entry.children {
                    guard changedParents.contains(entry.path) || !after.contains(entry.path) else { return false }
                    fired.append((entry.watch, after.contains(entry.path) ? .childrenChanged : .deleted))
                    return true
                }
                if before.contains(entry.path) && !after.contains(entry.path) {
                    fired.append((entry.watch, .deleted))
                    return true
                }
                return false
            }
            return (result, fired)
        }
        for (watch, event) in fired { watch.fire(event) }
        return result
    }

    package func newSessionID() -> Int64 {
        tree.withLock {
            $0.nextSession += 1; return $0.nextSession
        }
    }

    /// How many data watches are set on each path (herd-effect checks).
    package func watchCount(on path: String) -> Int {
        tree.withLock { $0.watches.filter { $0.path == path && !$0.children }.count }
    }
}

package func parentPath(_ path: String) -> String {
    let parts = path.split(separator: "/")
    return parts.count <= 1 ? "/" : "/" + parts.dropLast().joined(separator: "/")
}

/// One fake session: connection state under the test's control.
package final class FakeSession: CoordinationSession {
    package let zk: FakeZooKeeper
    package let sessionID: Int64
    private struct State {
        var health: ZKHealth
        var subscribers: [Int: AsyncStream<ZKSessionEvent>.Continuation] = [:]
        var nextSubscriber = 0
        var closeCount = 0
        var failNextCreateAfterApplying = false
        /// Replies to `exists` arrive this much later (a slow network or a pause).
        var existsDelay: Duration = .zero
    }
    private let state: Mutex<State>
    /// The instants of its health, and what a delayed reply waits on.
    package let clock: any ElectionClock
    /// Replies held back by `delayExistsReplies`, waiting now.
    private let delayed = Atomic(0)

    package init(zk: FakeZooKeeper, timeout: Duration = .seconds(4), clock: any ElectionClock = SystemClock()) {
        self.zk = zk
        self.clock = clock
        sessionID = zk.newSessionID()
        state = Mutex(
            State(
                health: ZKHealth(
                    state: .connected, lastContact: clock.now, disconnectedSince: nil, connectedSince: clock.now,
                    negotiatedTimeout: timeout)))
    }

    /// How many `exists` replies are held back now.
    package var delayedReplies: Int { delayed.load(ordering: .relaxed) }

    package var health: ZKHealth { state.withLock { $0.health } }
    package var password: [UInt8] { [] }
    package var closeCount: Int { state.withLock { $0.closeCount } }

    /// The next create reaches the server but its reply is lost.
    package func loseNextCreateReply() { state.withLock { $0.failNextCreateAfterApplying = true } }

    package func set(_ connection: ZKConnectionState, disconnectedAgo: Duration = .zero) {
        let subscribers = state.withLock { s in
            s.health.state = connection
            s.health.disconnectedSince = connection == .connected ? nil : clock.now - disconnectedAgo
            if connection == .connected {
                s.health.lastContact = clock.now
                s.health.connectedSince = clock.now
            }
            return Array(s.subscribers.values)
        }
        for subscriber in subscribers { subscriber.yield(ZKSessionEvent(state: connection)) }
        if connection == .expired { dropEphemerals() }
    }

    private func dropEphemerals() {
        zk.mutate { t in
            t.nodes = t.nodes.filter { $0.value.stat.ephemeralOwner != sessionID }
            let mine = t.watches.filter { $0.session == sessionID }
            t.watches.removeAll { $0.session == sessionID }
            return mine
        }.forEach { $0.watch.fire(.sessionLost) }
    }

    package func events() -> AsyncStream<ZKSessionEvent> {
        let (stream, continuation) = AsyncStream<ZKSessionEvent>.makeStream()
        let (id, current) = state.withLock { s in
            s.nextSubscriber += 1
            s.subscribers[s.nextSubscriber] = continuation
            return (s.nextSubscriber, s.health.state)
        }
        continuation.yield(ZKSessionEvent(state: current))
        continuation.onTermination = { [weak self] _ in
            self?.state.withLock { _ = $0.subscribers.removeValue(forKey: id) }
        }
        return stream
    }

    private func checkConnected() throws {
        switch health.state {
        case .connected: return
        case .connecting: throw ZKError.connectionLoss
        case .expired: throw ZKError.sessionExpired
        case .authFailed: throw ZKError.noAuth
        case .closed: throw ZKError.closed
        }
    }

    package func create(_ path: String, data: [UInt8], mode: ZKCreateMode) async throws -> (path: String, stat: ZKStat)
    {
        try checkConnected()
        let owner = sessionID
        let result: (String, ZKStat) = try zk.mutate { t in
            let parent = parentPath(path)
            guard parent == "/" || t.nodes[parent] != nil else { throw ZKError.noNode }
            var actual = path
            if mode == .ephemeralSequential || mode == .persistentSequential {
                let n = t.sequence[parent, default: 0]
                t.sequence[parent] = n + 1
                let digits = String(n)
                actual += String(repeating: "0", count: 10 - digits.count) + digits
            }
            guard t.nodes[actual] == nil else { throw ZKError.nodeExists }
            t.zxid += 1
            let ephemeral = mode == .ephemeral || mode == .ephemeralSequential
            let stat = ZKStat(czxid: t.zxid, ephemeralOwner: ephemeral ? owner : 0)
            t.nodes[actual] = FakeZooKeeper.Node(data: data, stat: stat)
            return (actual, stat)
        }
        let lose = state.withLock { s in
            defer { s.failNextCreateAfterApplying = false }
            return s.failNextCreateAfterApplying
        }
        if lose {
            set(.connecting)
            throw ZKError.connectionLoss
        }
        return result
    }

    /// From now on every `exists` reply comes `delay` after the request was sent.
    package func delayExistsReplies(by delay: Duration) { state.withLock { $0.existsDelay = delay } }

    package func exists(_ path: String) async throws -> ZKStat? {
        try checkConnected()
        let stat = zk.stat(path)
        let delay = state.withLock { $0.existsDelay }
        if delay > .zero {
            delayed.add(1, ordering: .relaxed)
            defer { delayed.subtract(1, ordering: .relaxed) }
            try await clock.sleep(until: clock.now + delay)
        }
        return stat
    }

    /// One fake server is always in its quorum: a sync changes nothing.
    package func syncedExists(_ path: String) async throws -> ZKStat? { try await exists(path) }
    package func syncedChildren(_ path: String) async throws -> [String] { try await children(path) }

    package func getData(_ path: String) async throws -> (data: [UInt8], stat: ZKStat)? {
        try checkConnected()
        return zk.tree.withLock { t in t.nodes[path].map { ($0.data, $0.stat) } }
    }

    package func getDataAndWatch(_ path: String) async throws -> (data: [UInt8], stat: ZKStat, watch: ZKWatch)? {
        try checkConnected()
        let watch = ZKWatch()
        let id = sessionID
        return zk.tree.withLock { t in
            guard let node = t.nodes[path] else { return nil }
            t.watches.append((path, id, watch, false))
            return (node.data, node.stat, watch)
        }
    }

    package func children(_ path: String) async throws -> [String] {
        try checkConnected()
        guard zk.stat(path) != nil else { throw ZKError.noNode }
        return zk.children(of: path)
    }

    package func childrenAndWatch(_ path: String) async throws -> (names: [String], watch: ZKWatch) {
        let names = try await children(path)
        let watch = ZKWatch()
        let id = sessionID
        zk.tree.withLock { $0.watches.append((path, id, watch, true)) }
        return (names, watch)
    }

    package func delete(_ path: String, version: Int32) async throws {
        try checkConnected()
        try zk.mutate { t in
            guard t.nodes.removeValue(forKey: path) != nil else { throw ZKError.noNode }
        }
    }

    /// Deletes and checks only (all the daemon sends), applied together or not at all.
    package func multi(_ ops: [ZKOp]) async throws {
        try checkConnected()
        try zk.mutate { t in
            var nodes = t.nodes
            for op in ops {
                switch op {
                case .delete(let path, _):
                    guard nodes.removeValue(forKey: path) != nil else { throw ZKError.noNode }
                case .check(let path, _):
                    guard nodes[path] != nil else { throw ZKError.noNode }
                }
            }
            t.nodes = nodes
        }
    }

    package func createParents(_ path: String) async throws {
        var prefix = ""
        for component in path.split(separator: "/") {
            prefix += "/" + component
            do { _ = try await create(prefix, data: [], mode: .persistent) } catch ZKError.nodeExists {}
        }
    }

    package func close() async {
        let wasOpen = state.withLock { s in
            s.closeCount += 1
            return s.health.state != .closed
        }
        guard wasOpen else { return }
        dropEphemerals()
        set(.closed)
    }
}

/// Hands out fake sessions; can be told to fail or to hang.
package final class FakeFactory: SessionFactory {
    package enum Behaviour { case succeed, fail, hang }
    package let zk: FakeZooKeeper
    package let clock: any ElectionClock
    private let state = Mutex<(behaviour: Behaviour, made: [FakeSession], hanging: Int)>((.succeed, [], 0))

    package init(zk: FakeZooKeeper, clock: any ElectionClock = SystemClock()) {
        self.zk = zk
        self.clock = clock
    }

    /// Connects that hang now (`.hang`).
    package var hanging: Int { state.withLock { $0.hanging } }

    package func set(_ behaviour: Behaviour) { state.withLock { $0.behaviour = behaviour } }
    package var made: [FakeSession] { state.withLock { $0.made } }

    package func connect() async throws -> any CoordinationSession {
        switch state.withLock({ $0.behaviour }) {
        case .fail: throw ZKError.connectTimeout
        case .hang:
            state.withLock { $0.hanging += 1 }
            defer { state.withLock { $0.hanging -= 1 } }
            try await clock.sleep(until: clock.now + .seconds(3600))
            throw ZKError.connectTimeout
        case .succeed:
            let session = FakeSession(zk: zk, clock: clock)
            state.withLock { $0.made.append(session) }
            return session
        }
    }
}
