import Foundation
import Synchronization
import Testing

@testable import Election

/// A fresh directory per test, removed afterwards.
final class TempDir {
    let path: String
    init() {
        path = FileManager.default.temporaryDirectory.appendingPathComponent("election-test-\(UUID().uuidString)").path
    }
    deinit {
        chmod(path, 0o755)
        try? FileManager.default.removeItem(atPath: path)
    }
    func names() -> [String] { ((try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []).sorted() }
    func touch(_ name: String, _ text: String = "foreign\n") {
        _ = FileManager.default.createFile(atPath: path + "/" + name, contents: Data(text.utf8))
    }
    func read(_ name: String) -> String? { try? String(contentsOfFile: path + "/" + name, encoding: .utf8) }
}

@Suite(.timeLimit(.minutes(2))) struct FileStoreTests {
    let identity = Identity(replica: "r1", host: "h", pid: 42)

    func write(_ store: FileStore, token: Int64, counter: Int64) throws {
        let content = FileContent(identity: identity, token: token, counter: counter).json
        try store.write(ElectionFileName(token: token, counter: counter), content: content)
    }

    @Test func namesSortInWriteOrderAcrossLeaders() {
        let names = [
            ElectionFileName(token: 7, counter: 12), ElectionFileName(token: 9, counter: 1),
            ElectionFileName(token: 7, counter: 2), ElectionFileName(token: 4_294_967_400, counter: 1),
        ].map(\.name)
        #expect(
            names.sorted() == [
                "election-0000000000000000007-0000000002.json", "election-0000000000000000007-0000000012.json",
                "election-0000000000000000009-0000000001.json", "election-0000000004294967400-0000000001.json",
            ])
        for name in names { #expect(ElectionFileName(parsing: name)?.name == name) }
        #expect(ElectionFileName(parsing: "election-7-2.json") == nil)
        #expect(ElectionFileName(parsing: "notes.txt") == nil)
    }

    @Test func prepareCreatesTheDirectoryAndRemovesOnlyStaleTempFiles() throws {
        let dir = TempDir()
        let store = FileStore(directory: dir.path + "/nested/files", capacity: 3)
        #expect(try store.prepare() == 0)
        let inner = FileStore(directory: dir.path, capacity: 3, replica: "r1")
        dir.touch(".election-tmp+r1+7-3.tmp", "partial")
        dir.touch(".election-tmp+r2+7-4.tmp", "another replica's write in flight")
        dir.touch(".election-tmp+r3+5-1.tmp", "abandoned long ago")
        var old = utimbuf(actime: time(nil) - 3600, modtime: time(nil) - 3600)
        utime(dir.path + "/.election-tmp+r3+5-1.tmp", &old)
        dir.touch("keep.tmp")
        dir.touch(".election-notes")
        #expect(try inner.prepare() == 2)
        #expect(dir.names() == [".election-notes", ".election-tmp+r2+7-4.tmp", "keep.tmp", "nested"])
    }

    @Test func prepareFailsOnAFileInsteadOfADirectory() throws {
        let dir = TempDir()
        try FileManager.default.createDirectory(atPath: dir.path, withIntermediateDirectories: true)
        dir.touch("plain")
        let store = FileStore(directory: dir.path + "/plain", capacity: 1)
        #expect(throws: FileStoreError.self) { try store.prepare() }
    }

    @Test(
        .enabled(
            if: getuid() != 0,
            "root writes through mode bits; FaultTests covers a read-only bind mount instead"))
    func prepareFailsOnAReadOnlyDirectoryNamingThePath() throws {
        let dir = TempDir()
        let store = FileStore(directory: dir.path, capacity: 1)
        try store.prepare()
        chmod(dir.path, 0o555)
        #expect { try store.prepare() } throws: { "\($0)".contains(dir.path) }
    }

    @Test func capacityIsNeverExceededAndTheOldestGoFirst() throws {
        let dir = TempDir()
        let store = FileStore(directory: dir.path, capacity: 3)
        try store.prepare()
        dir.touch("README.txt")
        for counter in 1...5 { try write(store, token: 7, counter: Int64(counter)) }
        try write(store, token: 9, counter: 1)
        #expect(
            try store.files().map(\.name) == [
                "election-0000000000000000007-0000000004.json", "election-0000000000000000007-0000000005.json",
                "election-0000000000000000009-0000000001.json",
            ])
        #expect(dir.names().contains("README.txt"), "foreign files are never touched")
        #expect(!dir.names().contains { $0.hasSuffix(".tmp") }, "no temporary file stays behind")
    }

    @Test func writesCompleteContentThatIdentifiesTheWriter() throws {
        let dir = TempDir()
        let store = FileStore(directory: dir.path, capacity: 2)
        try store.prepare()
        try write(store, token: 12, counter: 3)
        let text = try #require(dir.read("election-0000000000000000012-0000000003.json"))
        let content = try #require(FileContent(json: Array(text.utf8)))
        #expect(content.replica == "r1")
        #expect(content.token == 12)
        #expect(content.counter == 3)
        #expect(content.pid == 42)
        #expect(text.hasSuffix("}\n"))
    }

    @Test func refusesToWriteWhenAHigherTokenIsPresent() throws {
        let dir = TempDir()
        let store = FileStore(directory: dir.path, capacity: 5)
        try store.prepare()
        try write(store, token: 20, counter: 1)
        #expect(throws: FileStoreError(kind: .higherToken(20), operation: "write", path: dir.path)) {
            try write(store, token: 19, counter: 8)
        }
        #expect(try store.files().map(\.token) == [20])
    }

    @Test func nothingIsPublishedWhenPermissionIsWithdrawnBeforeTheRename() throws {
        let dir = TempDir()
        let store = FileStore(directory: dir.path, capacity: 5)
        try store.prepare()
        // Permitted when room is made, withdrawn by the time of the rename.
        let asked = Mutex(0)
        #expect(throws: FileStoreError.self) {
            try store.write(
                ElectionFileName(token: 3, counter: 1), content: Array("x".utf8),
                stillPermitted: {
                    asked.withLock {
                        $0 += 1; return $0 < 2
                    }
                })
        }
        #expect(asked.withLock { $0 } == 2, "asked before room is made and before the rename")
        #expect(dir.names().isEmpty)
    }

    @Test func noOldFileIsRemovedWhenPermissionIsWithdrawnBeforeRoomIsMade() throws {
        let dir = TempDir()
        let store = FileStore(directory: dir.path, capacity: 2)
        try store.prepare()
        try write(store, token: 3, counter: 1)
        try write(store, token: 3, counter: 2)
        let before = dir.names()
        #expect(throws: FileStoreError.self) {
            try store.write(ElectionFileName(token: 3, counter: 3), content: Array("x".utf8), stillPermitted: { false })
        }
        #expect(dir.names() == before, "a replica without its lease deletes nothing")
    }

    @Test func counterContinuesAfterTheHighestOfTheSameToken() throws {
        let dir = TempDir()
        let store = FileStore(directory: dir.path, capacity: 10)
        try store.prepare()
        #expect(try store.nextCounter(for: 5) == 1)
        try write(store, token: 5, counter: 1)
        try write(store, token: 5, counter: 2)
        #expect(try store.nextCounter(for: 5) == 3)
        #expect(try store.nextCounter(for: 6) == 1)
    }

    @Test func aReaderNeverSeesAPartialFileOrMoreThanCapacity() async throws {
        let dir = TempDir()
        let store = FileStore(directory: dir.path, capacity: 4)
        try store.prepare()
        let path = dir.path
        let writer = Task.detached {
            for counter in 1...300 {
                let big = Array(repeating: UInt8(ascii: "a"), count: 64 * 1024)
                try store.write(ElectionFileName(token: 1, counter: Int64(counter)), content: big)
            }
        }
        var observations = 0
        while observations < 100_000 {
            let names = try FileManager.default.contentsOfDirectory(atPath: path).filter {
                ElectionFileName(parsing: $0) != nil
            }
            #expect(names.count <= 4)
            for name in names {
                if let data = FileManager.default.contents(atPath: path + "/" + name) {
                    #expect(data.count == 64 * 1024, "partial file \(name)")
                }
            }
            observations += 1
            if observations > 20, (try? store.files().last?.counter) == 300 { break }
            await Task.yield()
        }
        try await writer.value
        #expect(try store.files().count == 4)
    }

    /// Capacity is made before the rename: a reader never counts more than capacity
    /// files, even for the instant between publishing and pruning.
    @Test func roomIsMadeBeforeTheNewFileIsPublished() throws {
        let dir = TempDir()
        let store = FileStore(directory: dir.path, capacity: 3)
        try store.prepare()
        for counter in 1...3 { try write(store, token: 7, counter: Int64(counter)) }
        var seenAtPublish: Int?
        try store.write(
            ElectionFileName(token: 7, counter: 4), content: Array("x\n".utf8),
            stillPermitted: {
                seenAtPublish = (try? store.files().count) ?? -1
                return true
            })
        #expect(seenAtPublish == 2, "two old files plus the one being published make three")
        #expect(try store.files().count == 3)
    }

    @Test func nonRegularEntriesNamedLikeElectionFilesAreNeverCountedOpenedOrRemoved() throws {
        let dir = TempDir()
        let store = FileStore(directory: dir.path, capacity: 2)
        try store.prepare()
        let trapDir = ElectionFileName(token: 1, counter: 1).name
        let link = ElectionFileName(token: 1, counter: 2).name
        let fifo = ElectionFileName(token: 1, counter: 3).name
        let victim = dir.path + "/victim"
        dir.touch("victim", "keep me\n")
        #expect(mkdir(dir.path + "/" + trapDir, 0o755) == 0)
        #expect(symlink(victim, dir.path + "/" + link) == 0)
        #expect(mkfifo(dir.path + "/" + fifo, 0o644) == 0)
        var foreign: [String] = []
        for counter in 1...4 {
            try store.write(
                ElectionFileName(token: 5, counter: Int64(counter)), content: Array("x\n".utf8),
                onForeign: { foreign.append($0) })
        }
        #expect(try store.files().map(\.counter) == [3, 4])
        #expect(Set(foreign) == [trapDir, link, fifo])
        #expect(dir.read("victim") == "keep me\n")
        for name in [trapDir, link, fifo] {
            var info = stat()
            #expect(lstat(dir.path + "/" + name, &info) == 0, "\(name) is left alone")
        }
    }

    @Test func filesAreCreatedWithTheConfiguredModeWhateverTheUmask() throws {
        let dir = TempDir()
        let old = umask(0)
        defer { umask(old) }
        let store = FileStore(directory: dir.path, capacity: 2)
        try store.prepare()
        try write(store, token: 1, counter: 1)
        var info = stat()
        #expect(stat(dir.path + "/" + ElectionFileName(token: 1, counter: 1).name, &info) == 0)
        #expect(info.st_mode & 0o777 == 0o640)
        #expect(stat(dir.path, &info) == 0)
        #expect(info.st_mode & 0o777 == 0o750)
    }

    @Test func aLinkPlantedAtTheTemporaryNameIsNotFollowed() throws {
        let dir = TempDir()
        let store = FileStore(directory: dir.path, capacity: 2, replica: "r1")
        try store.prepare()
        dir.touch("victim", "keep me\n")
        let file = ElectionFileName(token: 9, counter: 1)
        let temp = dir.path + "/" + store.temporaryName("\(file.token)-\(file.counter)")
        #expect(symlink(dir.path + "/victim", temp) == 0)
        try store.write(file, content: Array("new\n".utf8))
        #expect(dir.read("victim") == "keep me\n")
        #expect(dir.read(file.name) == "new\n")
    }
}
