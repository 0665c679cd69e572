import Foundation
import Testing

@testable import Election

@Suite(.timeLimit(.minutes(2))) struct HistoryVerifierTests {
    let start: Int64 = 1_800_000_000_000

    func put(_ dir: TempDir, token: Int64, counter: Int64, replica: String = "r", at seconds: Double) throws {
        try FileManager.default.createDirectory(atPath: dir.path, withIntermediateDirectories: true)
        let content = FileContent(
            identity: Identity(replica: replica, host: "h", pid: 1), token: token, counter: counter,
            timeMillis: start + Int64(seconds * 1000))
        let name = ElectionFileName(token: token, counter: counter).name
        try Data(content.json).write(to: URL(fileURLWithPath: dir.path + "/" + name))
    }

    @Test func cleanHandoverAcrossDirectoriesPasses() throws {
        let a = TempDir()
        let b = TempDir()
        try put(a, token: 10, counter: 1, replica: "a", at: 0)
        try put(a, token: 10, counter: 2, replica: "a", at: 1)
        try put(b, token: 12, counter: 1, replica: "b", at: 2)
        try put(b, token: 12, counter: 2, replica: "b", at: 3)
        let report = HistoryVerifier(capacity: 2).verify(directories: [a.path, b.path])
        #expect(report.ok, "\(report.violations)")
        #expect(report.files == 4)
        #expect(report.tokens == [10, 12])
        #expect(report.leaders == ["a@10", "b@12"])
    }

    @Test func lowerTokenWrittenAfterAHigherOneIsAnOverlap() throws {
        let a = TempDir()
        let b = TempDir()
        try put(a, token: 10, counter: 1, at: 0)
        try put(b, token: 12, counter: 1, at: 1)
        try put(a, token: 10, counter: 2, at: 2)  // the zombie
        // Judged by the times inside only: the files here also appeared in that order.
        let report = HistoryVerifier(capacity: nil, byAppearance: false).verify(directories: [a.path, b.path])
        #expect(report.violations.count == 1)
        #expect(report.violations.first?.hasPrefix("overlap:") == true)
    }

    /// A leader paused before its rename publishes a file of its old term late, with
    /// an old time inside: only the order in which files appeared shows it.
    @Test func aLowerTokenThatAppearsAfterAHigherOneIsLateWhateverItsTimeSays() throws {
        let a = TempDir()
        let b = TempDir()
        try put(a, token: 10, counter: 1, at: 0)
        try appearLater()
        try put(b, token: 12, counter: 1, at: 2)
        try appearLater()
        try put(a, token: 10, counter: 2, at: 1)  // written at 1, published after 12's first file
        let byContent = HistoryVerifier(capacity: nil, byAppearance: false).verify(directories: [a.path, b.path])
        #expect(byContent.ok, "the times inside say nothing wrong")
        let report = HistoryVerifier(capacity: nil).verify(directories: [a.path, b.path])
        #expect(report.violations.count == 1, "\(report.violations)")
        #expect(report.violations.first?.hasPrefix("late:") == true)
    }

    @Test func filesThatAppearedInTokenOrderAreNotLate() throws {
        let a = TempDir()
        try put(a, token: 10, counter: 1, at: 0)
        try appearLater()
        try put(a, token: 12, counter: 1, at: 1)
        try appearLater()
        try put(a, token: 12, counter: 2, at: 2)
        #expect(HistoryVerifier(capacity: nil).verify(directories: [a.path]).ok)
    }

    /// Change times come from the kernel's coarse clock (a tick, up to 10 ms): files
    /// made within one tick appear at the same instant, which is never "late".
    func appearLater() throws { try Task.checkCancellation(); usleep(25_000) }

    @Test func partialFileCapacityAndCounterGapsAreViolations() throws {
        let dir = TempDir()
        try put(dir, token: 5, counter: 1, at: 0)
        try put(dir, token: 5, counter: 3, at: 1)
        try Data("{\"token\":5,".utf8).write(
            to: URL(fileURLWithPath: dir.path + "/" + ElectionFileName(token: 5, counter: 4).name))
        dir.touch("foreign.txt")
        let report = HistoryVerifier(capacity: 2).verify(directories: [dir.path])
        #expect(report.violations.contains { $0.contains("capacity is 2") })
        #expect(report.violations.contains { $0.contains("partial or unparsable") })
        #expect(report.violations.contains { $0.contains("jump from 1 to 3") })
        #expect(report.violations.count == 3)
    }

    @Test func sameCounterInTwoDirectoriesIsARepeat() throws {
        let a = TempDir()
        let b = TempDir()
        try put(a, token: 7, counter: 1, at: 0)
        try put(b, token: 7, counter: 1, at: 0.5)
        let report = HistoryVerifier(capacity: nil).verify(directories: [a.path, b.path])
        #expect(report.violations == ["token 7: counter 1 written more than once"])
    }

    @Test func missingDirectoryIsReported() {
        let report = HistoryVerifier(capacity: nil).verify(directories: ["/nonexistent-election-dir"])
        #expect(!report.ok)
    }
}
