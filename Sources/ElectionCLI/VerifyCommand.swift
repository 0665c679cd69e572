import ArgumentParser
import Election
import ElectionDaemon

#if canImport(Glibc)
    import Glibc
#endif

/// `election verify DIR…`: checks the history the files record.
struct VerifyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "verify",
        abstract: "Check election files: no overlap of leaders, no partial file, capacity kept, counters in order.",
        discussion: """
            Reads every election file in the directories (one per replica, or one shared volume) and checks: \
            no file of a lower fencing token was written after the first file of a higher token; every file \
            is complete and parses; no directory holds more than --capacity files; within each leader's term \
            the counters have no gaps or repeats. The overlap check is made twice: by the times written \
            inside the files, and by when each file appeared (its change time, which the rename that \
            publishes it sets): only the second sees a file that a paused leader published late. Replicas \
            on different hosts need synchronised clocks for both. On copies of the files (an archive), pass \
            --copies: their change times are the copy's. Exits 0 when all holds, 1 on a violation, 64 \
            when a directory cannot be read (a typo is not split brain).
            """)

    @Argument(help: "Directories to read.")
    var directories: [String]

    @Option(help: "Most election files a directory may hold (the replicas' --storage-capacity).")
    var capacity: Int?

    @Flag(help: "The directories hold copies: judge overlap by the times inside the files only.")
    var copies = false
    @Flag(help: "Print the report as JSON.")
    var json = false

    func validate() throws {
        if let capacity, capacity < 1 { throw ValidationError("--capacity must be at least 1") }
        if directories.isEmpty { throw ValidationError("name at least one directory") }
    }

    func run() throws {
        // A directory that cannot be read is bad input, not a violation of the history.
        for directory in directories {
            var info = stat()
            guard stat(directory, &info) == 0 else {
                throw ConfigError(
                    flag: "verify DIR", environmentVariable: "", problem: "\(directory): \(errnoText(errno))")
            }
            guard (info.st_mode & S_IFMT) == S_IFDIR else {
                throw ConfigError(flag: "verify DIR", environmentVariable: "", problem: "\(directory): not a directory")
            }
        }
        let report = HistoryVerifier(capacity: capacity, byAppearance: !copies).verify(directories: directories)
        if json {
            print(report.json)
        } else {
            for directory in directories {
                print("\(directory): \(report.directories[directory].map(String.init) ?? "unreadable") election files")
            }
            print(
                "\(report.files) files from \(report.tokens.count) leader terms: \(report.leaders.joined(separator: ", "))"
            )
            for violation in report.violations { print("VIOLATION \(violation)") }
            print(report.ok ? "OK: no violation" : "FAILED: \(report.violations.count) violations")
        }
        if !report.ok { throw ExitCode(1) }
    }
}
