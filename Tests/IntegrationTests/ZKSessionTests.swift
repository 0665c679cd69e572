import Foundation
import Testing
import ZooKeeper

@testable import Election

/// The Swift adapter over the C client, against a real server.
@Suite(.serialized, .timeLimit(.minutes(5))) struct ZKSessionTests {
    func withServer(_ body: (ZooKeeperServer) async throws -> Void) async throws {
        let scratch = try Scratch()
        let zk = try ZooKeeperServer(in: scratch)
        try await zk.start()
        do {
            try await body(zk)
        } catch {
            await zk.stop()
            throw error
        }
        await zk.stop()
    }

    func connect(_ zk: ZooKeeperServer, timeout: Duration = .seconds(4)) async throws -> ZKSession {
        let session = try ZKSession(servers: zk.connectString, sessionTimeout: timeout)
        try await session.waitConnected(within: .seconds(10))
        return session
    }

    @Test func createExistsChildrenDeleteRoundTrip() async throws {
        try await withServer { zk in
            let session = try await connect(zk)
            try await session.createParents("/it/a/b")
            try await session.createParents("/it/a/b")  // idempotent
            let first = try await session.create("/it/a/b/n-", data: Array("hello".utf8), mode: .ephemeralSequential)
            let second = try await session.create("/it/a/b/n-", mode: .ephemeralSequential)
            #expect(first.path == "/it/a/b/n-0000000000")
            #expect(second.path == "/it/a/b/n-0000000001")
            #expect(second.stat.czxid > first.stat.czxid)
            #expect(first.stat.ephemeralOwner == session.sessionID)
            #expect(first.stat.dataLength == 5)
            #expect(try await session.children("/it/a/b").sorted() == ["n-0000000000", "n-0000000001"])
            #expect(try await session.exists(first.path)?.czxid == first.stat.czxid)
            try await session.delete(first.path)
            #expect(try await session.exists(first.path) == nil)
            await #expect(throws: ZKError.noNode) { try await session.delete(first.path) }
            await #expect(throws: ZKError.nodeExists) { _ = try await session.create("/it", mode: .persistent) }
            await session.close()
            await #expect(throws: ZKError.closed) { _ = try await session.exists("/it") }
        }
    }

    @Test func dataWatchReportsDeletionByAnotherSessionAndChildWatchReportsTheChange() async throws {
        try await withServer { zk in
            let owner = try await connect(zk)
            let watcher = try await connect(zk)
            let node = try await owner.create("/w", data: Array("hi".utf8), mode: .ephemeral)
            let found = try #require(try await watcher.getDataAndWatch(node.path))
            #expect(found.data == Array("hi".utf8))
            #expect(try await watcher.getDataAndWatch("/absent") == nil)
            let (names, children) = try await watcher.childrenAndWatch("/")
            #expect(names.contains("w"))
            await owner.close()  // its ephemeral goes at once
            #expect(await withTimeout { await found.watch.next() } == .deleted)
            #expect(await withTimeout { await children.next() } == .childrenChanged)
            await watcher.close()
        }
    }

    /// Sequential names never come back: a watch armed on one that is already gone
    /// would stay on the server (and in the client) until the session ends. A data
    /// watch is set only on a node that exists.
    @Test func watchingNodesThatAreAlreadyGoneLeavesNoWatchOnTheServer() async throws {
        try await withServer { zk in
            let session = try await connect(zk)
            _ = try await session.create("/q", mode: .persistent)
            for _ in 0..<50 {
                let node = try await session.create("/q/c-", mode: .persistentSequential)
                try await session.delete(node.path)
                #expect(try await session.getDataAndWatch(node.path) == nil)
            }
            let live = try await session.create("/q/live", mode: .persistent)
            _ = try #require(try await session.getDataAndWatch(live.path))
            let report = try #require(fourLetterWord("wchc", port: zk.port))
            #expect(report.contains("/q/live"))
            #expect(!report.contains("/q/c-"), "no watch may remain on a gone node: \(report)")
            await session.close()
        }
    }

    @Test func sessionSurvivesAServerRestartInsideTheTimeout() async throws {
        try await withServer { zk in
            let session = try await connect(zk, timeout: .seconds(8))
            let id = session.sessionID
            let node = try await session.create("/survivor", mode: .ephemeral)
            await zk.stop()
            #expect(await reaches(session, .connecting), "the client reports the lost connection")
            #expect(session.health.disconnectedSince != nil)
            await #expect(throws: ZKError.self) { _ = try await session.exists("/") }
            try await zk.start()
            #expect(await reaches(session, .connected))
            #expect(session.sessionID == id)
            #expect(try await session.exists(node.path)?.ephemeralOwner == id)
            await session.close()
        }
    }

    @Test func connectWithoutAServerGivesUpAtTheDeadline() async throws {
        let session = try ZKSession(servers: "127.0.0.1:\(freePort())", sessionTimeout: .seconds(2))
        let started = ContinuousClock.now
        await #expect(throws: ZKError.connectTimeout) { try await session.waitConnected(within: .milliseconds(500)) }
        #expect(ContinuousClock.now - started < .seconds(5))
        await session.close()
    }

    @Test func cancellingAWaitingWatchReturnsNil() async throws {
        try await withServer { zk in
            let session = try await connect(zk)
            let (_, watch) = try await session.childrenAndWatch("/")
            let task = Task { await watch.next() }
            try await Task.sleep(for: .milliseconds(50))
            task.cancel()
            #expect(await task.value == nil)
            await session.close()
        }
    }
}

/// True once the session reports `state` (within 10 s).
func reaches(_ session: ZKSession, _ state: ZKConnectionState) async -> Bool {
    await withTimeout {
        for await event in session.events() where event.state == state { return true }
        return false
    } ?? false
}

/// The value, or nil after 10 s: no test waits forever on a server.
func withTimeout<T: Sendable>(_ body: @escaping @Sendable () async -> T?) async -> T? {
    await withTaskGroup(of: T??.self) { group in
        group.addTask { .some(await body()) }
        group.addTask {
            try? await Task.sleep(for: .seconds(10))
            return .none
        }
        defer { group.cancelAll() }
        return (await group.next() ?? nil) ?? nil
    }
}
