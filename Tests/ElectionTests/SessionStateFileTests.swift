import Foundation
import Testing

@testable import Election

@Suite(.timeLimit(.minutes(2))) struct SessionStateFileTests {
    @Test func savesAndLoadsTheSessionWithMode0600() throws {
        let dir = TempDir()
        try FileManager.default.createDirectory(atPath: dir.path, withIntermediateDirectories: true)
        let path = dir.path + "/.election-session-r1"
        guard case .locked(let file) = SessionStateFile.open(path, replica: "r1") else {
            Issue.record("could not lock a fresh state file")
            return
        }
        #expect(file.load() == .none)
        let password: [UInt8] = [0, 1, 0xab, 0xff, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 0x80]
        try file.save(id: Int64(bitPattern: 0xffff_0000_1234_5678), password: password)
        #expect(file.load() == .session(id: Int64(bitPattern: 0xffff_0000_1234_5678), password: password))
        var info = stat()
        #expect(stat(path, &info) == 0)
        #expect(info.st_mode & 0o777 == 0o600)
        file.clear()
        #expect(file.load() == .none)
    }

    @Test func aSecondHolderIsRefusedWhileTheFirstLives() throws {
        let dir = TempDir()
        try FileManager.default.createDirectory(atPath: dir.path, withIntermediateDirectories: true)
        let path = dir.path + "/state"
        var first: SessionStateFile?
        if case .locked(let file) = SessionStateFile.open(path, replica: "r1") { first = file }
        #expect(first != nil)
        guard case .busy = SessionStateFile.open(path, replica: "r1") else {
            Issue.record("a second open took the lock the first still holds")
            return
        }
        first = nil  // the holder goes away (as a dead process does)
        guard case .locked = SessionStateFile.open(path, replica: "r1") else {
            Issue.record("the lock was not released with its holder")
            return
        }
    }

    func locked(_ path: String, replica: String = "r1") throws -> SessionStateFile {
        guard case .locked(let file) = SessionStateFile.open(path, replica: replica) else {
            throw CancellationError()
        }
        return file
    }

    /// A `.new` symlink planted in a shared directory: the password goes into a new
    /// file of our own, never through the link into somebody else's.
    @Test func aPlantedLinkIsNeverWrittenThrough() throws {
        let dir = TempDir()
        try FileManager.default.createDirectory(atPath: dir.path, withIntermediateDirectories: true)
        let path = dir.path + "/state"
        let victim = dir.path + "/victim"
        try "theirs".write(toFile: victim, atomically: true, encoding: .utf8)
        try FileManager.default.createSymbolicLink(atPath: path + ".new", withDestinationPath: victim)
        let file = try locked(path)
        try file.save(id: 42, password: [1, 2])
        #expect(try String(contentsOfFile: victim, encoding: .utf8) == "theirs")
        #expect(file.load() == .session(id: 42, password: [1, 2]))
        // A link in place of the lock is refused too.
        try FileManager.default.createSymbolicLink(atPath: dir.path + "/other.lock", withDestinationPath: victim)
        guard case .failed = SessionStateFile.open(dir.path + "/other", replica: "r1") else {
            Issue.record("a lock opened through a link")
            return
        }
    }

    /// Only a file that is this user's own, closed to others, and records this
    /// replica is believed; anything else is refused with the reason.
    @Test func aForeignOrOpenOrOtherReplicasFileIsRefused() throws {
        let dir = TempDir()
        try FileManager.default.createDirectory(atPath: dir.path, withIntermediateDirectories: true)
        let path = dir.path + "/state"
        let file = try locked(path)
        try file.save(id: 7, password: [9])
        chmod(path, 0o644)
        guard case .refused(let open) = file.load() else { throw CancellationError() }
        #expect(open.contains("mode 644"))
        chmod(path, 0o600)
        if geteuid() == 0 {
            chown(path, 65534, 65534)
            guard case .refused(let owner) = file.load() else { throw CancellationError() }
            #expect(owner.contains("belongs to uid 65534"))
            chown(path, 0, 0)
        }
        let other = try locked(dir.path + "/state2", replica: "r2")
        try other.save(id: 8, password: [1])
        try FileManager.default.removeItem(atPath: path)
        try FileManager.default.moveItem(atPath: dir.path + "/state2", toPath: path)
        guard case .refused(let replica) = file.load() else { throw CancellationError() }
        #expect(replica.contains("records replica 'r2', not 'r1'"))
    }

    @Test func theStateFileDefaultsToSystemdsStateDirectory() throws {
        let config = try ElectionConfig.resolve(
            flags: [.zkServers: "a:1", .fileDir: "/shared", .replicaID: "r7"],
            environment: ["STATE_DIRECTORY": "/var/lib/election:/var/lib/other"], hostName: "h")
        #expect(config.stateFile == "/var/lib/election/.election-session-r7")
    }
}
