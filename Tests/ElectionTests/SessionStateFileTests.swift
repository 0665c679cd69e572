import Foundation
import Testing

@testable import Election

@Suite(.timeLimit(.minutes(2))) struct SessionStateFileTests {
    @Test func savesAndLoadsTheSessionWithMode0600() throws {
        let dir = TempDir()
        try FileManager.default.createDirectory(atPath: dir.path, withIntermediateDirectories: true)
        let path = dir.path + "/.election-session-r1"
        guard case .locked(let file) = SessionStateFile.open(path) else {
            Issue.record("could not lock a fresh state file")
            return
        }
        #expect(file.load() == nil)
        let password: [UInt8] = [0, 1, 0xab, 0xff, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 0x80]
        try file.save(id: Int64(bitPattern: 0xffff_0000_1234_5678), password: password)
        let loaded = try #require(file.load())
        #expect(loaded.id == Int64(bitPattern: 0xffff_0000_1234_5678))
        #expect(loaded.password == password)
        var info = stat()
        #expect(stat(path, &info) == 0)
        #expect(info.st_mode & 0o777 == 0o600)
        file.clear()
        #expect(file.load() == nil)
    }

    @Test func aSecondHolderIsRefusedWhileTheFirstLives() throws {
        let dir = TempDir()
        try FileManager.default.createDirectory(atPath: dir.path, withIntermediateDirectories: true)
        let path = dir.path + "/state"
        var first: SessionStateFile?
        if case .locked(let file) = SessionStateFile.open(path) { first = file }
        #expect(first != nil)
        guard case .busy = SessionStateFile.open(path) else {
            Issue.record("a second open took the lock the first still holds")
            return
        }
        first = nil  // the holder goes away (as a dead process does)
        guard case .locked = SessionStateFile.open(path) else {
            Issue.record("the lock was not released with its holder")
            return
        }
    }
}
