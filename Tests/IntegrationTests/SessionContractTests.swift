import Election
import ElectionTestSupport
import Testing
import ZooKeeper

/// What the election relies on from a ZooKeeper session, held against both the
/// fake the state tests run on (`FakeZooKeeper`) and a real server, with the same
/// expectations: the fake cannot drift from the server without a test here failing.
@Suite(.serialized, .timeLimit(.minutes(5))) struct SessionContractTests {
    enum Server: String, CaseIterable, Sendable { case fake, real }

    /// Two connected sessions of one server (fake or real) for `body`.
    func withSessions(
        _ server: Server, _ body: (any CoordinationSession, any CoordinationSession) async throws -> Void
    ) async throws {
        switch server {
        case .fake:
            let zk = FakeZooKeeper()
            try await body(FakeSession(zk: zk), FakeSession(zk: zk))
        case .real:
            let scratch = try Scratch()
            let zk = try ZooKeeperServer(in: scratch)
            try await zk.start()
            do {
                let first = try ZKSession(servers: zk.connectString, sessionTimeout: .seconds(4))
                let second = try ZKSession(servers: zk.connectString, sessionTimeout: .seconds(4))
                try await first.waitConnected(within: .seconds(10))
                try await second.waitConnected(within: .seconds(10))
                try await body(first, second)
                await first.close()
                await second.close()
            } catch {
                await zk.stop()
                throw error
            }
            await zk.stop()
        }
    }

    /// Candidates: ephemeral, sequential (ten digits, increasing), owned by their
    /// session, with increasing czxids (the fencing tokens), listed by name.
    @Test(arguments: Server.allCases)
    func sequentialEphemeralsAreOwnedNumberedAndListed(_ server: Server) async throws {
        try await withSessions(server) { a, _ in
            try await a.createParents("/c/e")
            try await a.createParents("/c/e")
            let first = try await a.create("/c/e/r_", data: [1], mode: .ephemeralSequential)
            let second = try await a.create("/c/e/r_", data: [], mode: .ephemeralSequential)
            for created in [first, second] {
                let suffix = created.path.dropFirst("/c/e/r_".count)
                #expect(suffix.count == 10 && suffix.allSatisfy(\.isNumber), "\(created.path)")
                #expect(created.stat.ephemeralOwner == a.sessionID)
            }
            #expect(second.path > first.path)
            #expect(second.stat.czxid > first.stat.czxid)
            let names = [first, second].map { String($0.path.split(separator: "/").last!) }
            #expect(try await a.children("/c/e").sorted() == names)
            #expect(try await a.syncedChildren("/c/e").sorted() == names)
            #expect(try await a.exists(first.path)?.czxid == first.stat.czxid)
            #expect(try await a.syncedExists(first.path)?.ephemeralOwner == a.sessionID)
            #expect(try await a.exists("/c/e/none") == nil)
            #expect(try await a.syncedExists("/c/e/none") == nil)
            #expect(try await a.getData(first.path)?.data == [1])
            let persistent = try await a.create("/c/p", data: [], mode: .persistent)
            #expect(persistent.stat.ephemeralOwner == 0, "what the Attempter ignores as never a candidate")
        }
    }

    /// The errors the states handle, each where the server gives it.
    @Test(arguments: Server.allCases)
    func theServersRefusalsAreTheErrorsTheStatesHandle(_ server: Server) async throws {
        try await withSessions(server) { a, _ in
            try await a.createParents("/c")
            await #expect(throws: ZKError.noNode) { _ = try await a.create("/missing/x", data: [], mode: .ephemeral) }
            _ = try await a.create("/c/x", data: [], mode: .ephemeral)
            await #expect(throws: ZKError.nodeExists) { _ = try await a.create("/c/x", data: [], mode: .ephemeral) }
            await #expect(throws: ZKError.noNode) { try await a.delete("/c/none", version: -1) }
            await #expect(throws: ZKError.noNode) { _ = try await a.children("/missing") }
            #expect(try await a.getDataAndWatch("/c/none") == nil, "no watch on a node that is not there")
        }
    }

    /// The leader's watch hears another session's delete; a closed session's
    /// ephemerals go for everyone at once (what a graceful stop and the guardian rely on).
    @Test(arguments: Server.allCases)
    func aWatchHearsTheDeleteAndAClosedSessionsEphemeralsGo(_ server: Server) async throws {
        try await withSessions(server) { a, b in
            try await a.createParents("/c")
            let node = try await a.create("/c/leader_", data: [7], mode: .ephemeralSequential)
            let watched = try #require(try await b.getDataAndWatch(node.path))
            #expect(watched.data == [7] && watched.stat.ephemeralOwner == a.sessionID)
            let (_, children) = try await b.childrenAndWatch("/c")
            await a.close()
            #expect(a.health.state == .closed)
            #expect(await watched.watch.next() == .deleted)
            #expect(await children.next() == .childrenChanged)
            #expect(try await b.exists(node.path) == nil)
            await #expect(throws: ZKError.closed) { _ = try await a.exists("/c") }
        }
    }

    /// A release removes the candidate and its shadow together or not at all.
    @Test(arguments: Server.allCases)
    func aMultiIsAllOrNothing(_ server: Server) async throws {
        try await withSessions(server) { a, _ in
            try await a.createParents("/c/one")
            try await a.createParents("/c/two")
            await #expect(throws: ZKError.noNode) {
                try await a.multi([.delete(path: "/c/one", version: -1), .delete(path: "/c/none", version: -1)])
            }
            #expect(try await a.exists("/c/one") != nil, "nothing of a failed multi is applied")
            try await a.multi([.delete(path: "/c/one", version: -1), .delete(path: "/c/two", version: -1)])
            #expect(try await a.exists("/c/one") == nil)
            #expect(try await a.exists("/c/two") == nil)
        }
    }
}
