/// The parsers that read outside input, as entry points for the fuzzers
/// (`make fuzz`, `Sources/ElectionFuzz`) and for the regression corpus the unit
/// tests replay (`Tests/fuzz/`). Each runs one input and checks the parser's own
/// promises (a name it accepts formats back to itself, content round-trips); a
/// crash or a failed precondition is a finding.
public enum FuzzTarget: String, CaseIterable, Sendable {
    case duration
    case serverList = "server-list"
    case candidateName = "candidate-name"
    case fileName = "file-name"
    case fileContent = "file-content"
    case stateFile = "state-file"

    public func run(_ bytes: [UInt8]) {
        let text = String(decoding: bytes, as: UTF8.self)
        switch self {
        case .duration:
            if let duration = DurationParser.parse(text), duration > .zero {
                precondition(DurationParser.parse(DurationParser.format(duration)) != nil, "format parses back")
            }
        case .serverList:
            if ServerList.problem(in: text) == nil {
                let (hosts, chroot) = ServerList.split(text)
                precondition(!hosts.isEmpty, "an accepted server list has hosts")
                if let chroot { precondition(ZNodePath.problem(in: chroot) == nil, "an accepted chroot is valid") }
            }
            _ = HostPort.parse(text)
        case .candidateName:
            let names = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
            let ordered = Decisions.ordered(names)
            precondition(ordered.count <= names.count)
            for name in names { _ = LeaderInfo(candidate: name) }
            if let first = names.first { _ = Decisions.position(ofPrefix: first, in: names) }
        case .fileName:
            if let file = ElectionFileName(parsing: text) {
                precondition(ElectionFileName(parsing: file.name) == file, "an accepted name formats back")
            }
        case .fileContent:
            if let content = FileContent(json: bytes) {
                precondition(FileContent(json: content.json) == content, "accepted content round-trips")
            }
            _ = JSONValue.parseObject(bytes)
        case .stateFile:
            _ = SessionStateFile.parse(bytes)
        }
    }
}
