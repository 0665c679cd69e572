import Foundation
import Testing

@testable import Election

/// Every seed and every input that once crashed a parser (Tests/fuzz/<target>/),
/// replayed through the same entry points the fuzzers use (`make fuzz`).
@Suite(.timeLimit(.minutes(1))) struct FuzzRegressionTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("fuzz").path

    @Test(arguments: FuzzTarget.allCases)
    func everyRecordedInputRunsCleanly(target: FuzzTarget) throws {
        let directory = Self.root + "/" + target.rawValue
        let names = try FileManager.default.contentsOfDirectory(atPath: directory).sorted()
        #expect(!names.isEmpty, "\(directory) holds at least a seed")
        for name in names {
            let bytes = try #require(FileManager.default.contents(atPath: directory + "/" + name))
            target.run(Array(bytes))
        }
    }
}
