#if canImport(Glibc)
    import Glibc
#endif

/// Checks the history that election files record (docs/design.md, "Invariants"): no overlap of leaders,
/// no partial or unparsable file, capacity kept, counters without gaps or repeats.
///
/// Overlap is judged twice: by the times written inside the files, and by when each
/// file appeared, its change time (`rename` sets it). Only the second sees a file
/// that an old leader, paused between its last check and the rename, published
/// late with an old timestamp inside.
public struct HistoryVerifier: Sendable {
    /// One election file as read back.
    public struct Record: Sendable, Equatable {
        public var directory: String
        public var name: ElectionFileName
        public var content: FileContent
        /// The content's time, in milliseconds since 1970.
        public var writtenAt: Int64
        /// When the file appeared in its directory (its ctime), in nanoseconds since
        /// 1970; nil when not judged by it (copies).
        public var appearedAt: Int64?
    }

    /// What `verify` found.
    public struct Report: Sendable, Equatable {
        public var directories: [String: Int] = [:]
        public var files = 0
        public var tokens: [Int64] = []
        public var leaders: [String] = []
        public var violations: [String] = []
        public var ok: Bool { violations.isEmpty }

        /// The report as one JSON object.
        public var json: String {
            JSONValue.object([
                (
                    "directories",
                    .object(directories.sorted { $0.key < $1.key }.map { ($0.key, .int(Int64($0.value))) })
                ),
                ("files", .int(Int64(files))), ("leaders", .strings(leaders)), ("ok", .bool(ok)),
                ("tokens", .strings(tokens.map(String.init))), ("violations", .strings(violations)),
            ]).text
        }
    }

    public var capacity: Int?
    /// Judge by when files appeared, too. Off for copies of the files (an archive),
    /// whose change times are the copy's.
    public var byAppearance: Bool

    public init(capacity: Int?, byAppearance: Bool = true) {
        self.capacity = capacity
        self.byAppearance = byAppearance
    }

    public func verify(directories: [String]) -> Report {
        var report = Report()
        var records: [Record] = []
        for directory in directories {
            let store = FileStore(directory: directory, capacity: capacity ?? Int.max)
            let names: [ElectionFileName]
            do {
                names = try store.files()
            } catch {
                report.violations.append("\(error)")
                continue
            }
            report.directories[directory] = names.count
            if let capacity, names.count > capacity {
                report.violations.append("\(directory) holds \(names.count) election files, capacity is \(capacity)")
            }
            for name in names {
                switch read(directory, name) {
                case .success(let record): records.append(record)
                case .failure(let problem): report.violations.append(problem.text)
                }
            }
        }
        report.files = records.count
        report.violations += overlaps(records) + lateAppearances(records) + counterProblems(records)
        report.tokens = Array(Set(records.map(\.name.token))).sorted()
        report.leaders = report.tokens.compactMap { token in
            records.first { $0.name.token == token }.map { "\($0.content.replica)@\(token)" }
        }
        return report
    }

    struct Problem: Error {
        var text: String
    }

    func read(_ directory: String, _ name: ElectionFileName) -> Result<Record, Problem> {
        let path = directory + "/" + name.name
        guard let data = FileStore.contents(of: path) else {
            return .failure(Problem(text: "\(path): unreadable"))
        }
        guard let content = FileContent(json: data) else {
            return .failure(Problem(text: "\(path): partial or unparsable (\(data.count) bytes)"))
        }
        guard content.token == name.token, content.counter == name.counter else {
            return .failure(
                Problem(text: "\(path): content says token \(content.token) counter \(content.counter)"))
        }
        guard let millis = WallClock.parse(content.time) else {
            return .failure(Problem(text: "\(path): unparsable time \(content.time)"))
        }
        var appeared: Int64?
        if byAppearance {
            var info = stat()
            guard stat(path, &info) == 0 else { return .failure(Problem(text: "\(path): unreadable")) }
            appeared = Int64(info.st_ctim.tv_sec) * 1_000_000_000 + Int64(info.st_ctim.tv_nsec)
        }
        return .success(
            Record(directory: directory, name: name, content: content, writtenAt: millis, appearedAt: appeared))
    }

    /// A file of a lower token written after the first file of a higher token means
    /// two leaders worked at once.
    func overlaps(_ records: [Record]) -> [String] {
        var problems: [String] = []
        let byTime = records.sorted { ($0.writtenAt, $0.name) < ($1.writtenAt, $1.name) }
        var highest: Record?
        for record in byTime {
            if let top = highest, record.name.token < top.name.token, record.writtenAt > top.writtenAt {
                problems.append(
                    "overlap: \(record.directory)/\(record.name.name) (token \(record.name.token), \(record.content.time)) "
                        + "written after \(top.directory)/\(top.name.name) (token \(top.name.token), \(top.content.time))"
                )
            }
            if highest == nil || record.name.token > highest!.name.token { highest = record }
        }
        return problems
    }

    /// A file of a lower token that appeared after the first file of a higher token
    /// appeared was published by a leader that had lost its term, whatever time it
    /// wrote inside.
    func lateAppearances(_ records: [Record]) -> [String] {
        let seen = records.compactMap { record in record.appearedAt.map { (record, $0) } }
        var problems: [String] = []
        var highest: (record: Record, at: Int64)?
        for (record, at) in seen.sorted(by: { ($0.1, $0.0.name) < ($1.1, $1.0.name) }) {
            if let top = highest, record.name.token < top.record.name.token, at > top.at {
                let late = Double(at - top.at) / 1e6
                problems.append(
                    "late: \(record.directory)/\(record.name.name) (token \(record.name.token)) appeared "
                        + "\(late.formatted2) ms after \(top.record.directory)/\(top.record.name.name) "
                        + "(token \(top.record.name.token))")
            }
            if highest == nil || record.name.token > highest!.record.name.token { highest = (record, at) }
        }
        return problems
    }

    /// Within one leader's term the counters that remain must be consecutive and unique.
    func counterProblems(_ records: [Record]) -> [String] {
        var problems: [String] = []
        for (token, group) in Dictionary(grouping: records, by: \.name.token) {
            let counters = group.map(\.name.counter).sorted()
            var seen = Set<Int64>()
            for counter in counters where !seen.insert(counter).inserted {
                problems.append("token \(token): counter \(counter) written more than once")
            }
            let unique = Array(seen).sorted()
            for (a, b) in zip(unique, unique.dropFirst()) where b != a + 1 {
                problems.append("token \(token): counters jump from \(a) to \(b)")
            }
        }
        return problems.sorted()
    }
}

extension Double {
    /// Two decimals, without Foundation.
    fileprivate var formatted2: String {
        let hundredths = Int64((self * 100).rounded())
        let fraction = abs(hundredths % 100)
        return "\(hundredths / 100).\(fraction < 10 ? "0" : "")\(fraction)"
    }
}
