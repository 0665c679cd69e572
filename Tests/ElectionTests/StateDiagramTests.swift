import Foundation
import Testing

@testable import Election

/// The README's state diagram is what a newcomer reads first: its edges must be
/// exactly the transitions `StateRegistry` allows, no more and no fewer.
@Suite struct StateDiagramTests {
    static let readme = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("README.md")

    /// `A --> B` lines of the first mermaid block, without the start and end markers.
    static func diagramEdges(_ text: String) -> Set<String> {
        guard let start = text.range(of: "```mermaid"),
            let end = text.range(of: "```", range: start.upperBound..<text.endIndex)
        else { return [] }
        var edges = Set<String>()
        for line in text[start.upperBound..<end.lowerBound].split(separator: "\n") {
            let parts = line.split(separator: ":", maxSplits: 1)[0].components(separatedBy: "-->")
            guard parts.count == 2 else { continue }
            let from = parts[0].trimmingCharacters(in: .whitespaces)
            let to = parts[1].trimmingCharacters(in: .whitespaces)
            if from == "[*]" || to == "[*]" { continue }
            edges.insert("\(from) --> \(to)")
        }
        return edges
    }

    @Test func theReadmeDiagramHasExactlyTheRegistrysEdges() throws {
        let text = try String(contentsOf: Self.readme, encoding: .utf8)
        let drawn = Self.diagramEdges(text)
        let allowed = Set(
            StateRegistry.edges.flatMap { from, targets in targets.map { "\(from.rawValue) --> \($0.rawValue)" } })
        #expect(!drawn.isEmpty, "no mermaid diagram found in README.md")
        #expect(drawn.subtracting(allowed).isEmpty, "drawn but not allowed: \(drawn.subtracting(allowed).sorted())")
        #expect(allowed.subtracting(drawn).isEmpty, "allowed but not drawn: \(allowed.subtracting(drawn).sorted())")
    }

    @Test func theParserSeesAMissingEdge() {
        let text = "```mermaid\nstateDiagram-v2\n[*] --> Init\nInit --> Attempter : ready\n```\n"
        #expect(Self.diagramEdges(text) == ["Init --> Attempter"])
    }
}
