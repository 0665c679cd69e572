import Foundation
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// Where the package lives, found from this file.
let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent().path

/// The built daemon: ELECTION_BINARY, else the debug build `swift test` just made.
let electionBinary = ProcessInfo.processInfo.environment["ELECTION_BINARY"] ?? packageRoot + "/.build/debug/election"

/// Deployments run the daemon unprivileged: systemd's `DynamicUser=` with an empty
/// `CapabilityBoundingSet=`, the image's uid 10001, a pod's `drop: [ALL]`. So do these
/// tests. Run as root (as CI is), every daemon process is started through `setpriv` as
/// `nobody`, with no supplementary groups, no capabilities (effective, inheritable,
/// bounding) and no_new_privs; what it must write into is handed to that user. Run as
/// an ordinary user, the tests are that user already and nothing is wrapped. A test
/// that needs root for the daemon says why where it starts it otherwise.
enum Deployed {
    static let uid: uid_t = 65534
    static let gid: gid_t = 65534
    static let wrapping = getuid() == 0

    /// The executable and arguments that run `executable arguments` the deployed way.
    static func command(_ executable: String, _ arguments: [String]) -> (executable: String, arguments: [String]) {
        guard wrapping else { return (executable, arguments) }
        return (
            "/usr/bin/setpriv",
            [
                "--reuid=\(uid)", "--regid=\(gid)", "--clear-groups", "--inh-caps=-all", "--bounding-set=-all",
                "--no-new-privs", "--", executable,
            ] + arguments
        )
    }

    /// Makes `path` the daemon user's own (a directory it creates files in, a
    /// credentials file it must be able to read at mode 0600).
    static func handOver(_ path: String) {
        if wrapping { _ = chown(path, uid, gid) }
    }
}

/// A loopback port nobody listens on right now.
func freePort() -> Int {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    defer { close(fd) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    address.sin_port = 0
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    _ = withUnsafeMutablePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) }
    }
    _ = withUnsafeMutablePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
    }
    return Int(UInt16(bigEndian: address.sin_port))
}

/// Sends a four-letter word to a ZooKeeper server; nil when nothing answers.
func fourLetterWord(_ word: String, port: Int, timeout: Duration = .seconds(1)) -> String? {
    guard let connection = RawConnection(port: port, timeout: timeout) else { return nil }
    connection.send(Array(word.utf8))
    let reply = connection.readAll()
    return reply.isEmpty ? nil : String(decoding: reply, as: UTF8.self)
}

/// Polls `condition` every 20 ms until it holds; records an issue and throws after `limit`.
func eventually(
    within limit: Duration, _ what: String, sourceLocation: SourceLocation = #_sourceLocation,
    _ condition: () throws -> Bool
) async throws {
    let deadline = ContinuousClock.now + limit
    while try !condition() {
        guard ContinuousClock.now < deadline else {
            Issue.record("timed out after \(limit): \(what)", sourceLocation: sourceLocation)
            throw TimedOut(what: what)
        }
        try await Task.sleep(for: .milliseconds(20))
    }
}

struct TimedOut: Error, CustomStringConvertible {
    /// What was awaited, or the command that failed.

    var what: String
    var description: String { "timed out: \(what)" }
}

/// A scratch directory per test, removed at the end.
final class Scratch: @unchecked Sendable {
    let path: String
    init() throws {
        path = NSTemporaryDirectory() + "election-it-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        // The daemon under test (unprivileged, see `Deployed`) creates its file-dirs here.
        Deployed.handOver(path)
    }
    deinit { try? FileManager.default.removeItem(atPath: path) }
}

/// A real ZooKeeper server (Debian's package) on a free loopback port.
final class ZooKeeperServer: @unchecked Sendable {
    static let classpath =
        ProcessInfo.processInfo.environment["ELECTION_TEST_ZK_CLASSPATH"]
        ?? "/usr/share/java/zookeeper.jar:/usr/share/java/slf4j-simple.jar"

    let port: Int
    let directory: String
    private var process: Process?

    var connectString: String { "127.0.0.1:\(port)" }

    init(in scratch: Scratch, port: Int = freePort(), maxSessionTimeout: Int = 60000) throws {
        self.port = port
        directory = scratch.path + "/zk-\(port)"
        try FileManager.default.createDirectory(atPath: directory + "/data", withIntermediateDirectories: true)
        let config = """
            tickTime=500
            dataDir=\(directory)/data
            clientPort=\(port)
            clientPortAddress=127.0.0.1
            admin.enableServer=false
            4lw.commands.whitelist=*
            minSessionTimeout=1000
            maxSessionTimeout=\(maxSessionTimeout)
            """
        try config.write(toFile: directory + "/zoo.cfg", atomically: true, encoding: .utf8)
    }

    /// Starts the server and waits until it serves: `ruok` answers `imok` as soon as
    /// the port is open, while the server still drops sessions (a daemon started then
    /// logs the library's "failed while receiving a server response"); `srvr` names
    /// its mode only once it serves.
    func start() async throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = [
            "java", "-Xmx128m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1", "-cp", Self.classpath,
            "org.apache.zookeeper.server.ZooKeeperServerMain", directory + "/zoo.cfg",
        ]
        let log =
            FileHandle(forWritingAtPath: directory + "/zk.log")
            ?? {
                _ = FileManager.default.createFile(atPath: directory + "/zk.log", contents: nil)
                return FileHandle(forWritingAtPath: directory + "/zk.log")!
            }()
        log.seekToEndOfFile()
        process.standardOutput = log
        process.standardError = log
        try process.run()
        self.process = process
        let port = self.port
        try await eventually(within: .seconds(30), "ZooKeeper on port \(port) serves") {
            guard process.isRunning else { throw TimedOut(what: "ZooKeeper exited: see \(directory)/zk.log") }
            return fourLetterWord("srvr", port: port)?.contains("Mode: ") == true
        }
    }

    /// Freezes (SIGSTOP) or thaws (SIGCONT) the server process.
    func pause() { if let process { kill(process.processIdentifier, SIGSTOP) } }
    func resume() { if let process { kill(process.processIdentifier, SIGCONT) } }

    /// Stops the server (SIGTERM, then SIGKILL after 10 s) and waits for it to exit.
    func stop() async {
        guard let process, process.isRunning else { return }
        kill(process.processIdentifier, SIGCONT)
        kill(process.processIdentifier, SIGTERM)
        let deadline = ContinuousClock.now + .seconds(10)
        while process.isRunning && ContinuousClock.now < deadline { try? await Task.sleep(for: .milliseconds(20)) }
        if process.isRunning {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
        self.process = nil
    }

    deinit {
        if let process, process.isRunning {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
    }
}

/// One replica of the built daemon as a separate process, its stderr in a log file.
final class Replica: @unchecked Sendable {
    let id: String
    let fileDir: String
    let logPath: String
    let process = Process()

    init(
        id: String, scratch: Scratch, servers: String, fileDir: String? = nil, leaderTimeout: String = "200ms",
        sessionTimeout: String = "4s", capacity: Int = 5, extra: [String] = [], instance: Int = 1,
        environment: [String: String] = [:]
    ) throws {
        self.id = id
        self.fileDir = fileDir ?? scratch.path + "/files-\(id)"
        logPath = scratch.path + "/\(id)-\(instance).log"
        _ = FileManager.default.createFile(atPath: logPath, contents: nil)
        let command = Deployed.command(
            electionBinary,
            [
                "run", "--zk-servers", servers, "--replica-id", id, "--file-dir", self.fileDir,
                "--leader-timeout", leaderTimeout, "--attempter-timeout", "2s", "--session-timeout", sessionTimeout,
                "--storage-capacity", "\(capacity)", "--log-level", "debug",
            ] + extra)
        process.executableURL = URL(fileURLWithPath: command.executable)
        process.arguments = command.arguments
        // The harness's own ELECTION_BINARY and ELECTION_TEST_* are no settings of the daemon's.
        process.environment = ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("ELECTION_") }
            .merging(environment) { _, new in new }
        let log = FileHandle(forWritingAtPath: logPath)!
        process.standardError = log
        process.standardOutput = log
        try process.run()
    }

    var pid: Int32 { process.processIdentifier }
    var isRunning: Bool { process.isRunning }
    func signal(_ number: Int32) { kill(pid, number) }

    var log: String { (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "" }

    /// The `to=` of the last transition line, or nil before the first.
    var state: String? {
        log.split(separator: "\n").last { $0.contains("msg=transition") }
            .flatMap { line in line.split(separator: " ").first { $0.hasPrefix("to=") } }
            .map { String($0.dropFirst(3)) }
    }

    /// Waits for the process to exit; nil if it is still running after `limit`.
    func waitForExit(within limit: Duration) async -> Int32? {
        let deadline = ContinuousClock.now + limit
        while process.isRunning && ContinuousClock.now < deadline { try? await Task.sleep(for: .milliseconds(10)) }
        return process.isRunning ? nil : process.terminationStatus
    }

    deinit {
        if process.isRunning {
            kill(pid, SIGKILL)
            process.waitUntilExit()
        }
    }
}

/// An election file read back from disk.
struct WrittenFile: Equatable {
    var name: String
    var token: Int64
    var counter: Int64
    var replica: String
}

/// The election files in a directory, oldest first; a partial or unparsable one is an issue.
func electionFiles(in directory: String) -> [WrittenFile] {
    let names = ((try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? [])
        .filter { $0.hasPrefix("election-") && $0.hasSuffix(".json") }.sorted()
    return names.compactMap { name in
        guard let data = FileManager.default.contents(atPath: directory + "/" + name) else { return nil }
        guard let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
            let token = (object["token"] as? NSNumber)?.int64Value,
            let counter = (object["counter"] as? NSNumber)?.int64Value,
            let replica = object["replica"] as? String
        else {
            Issue.record("partial or unparsable election file \(name): \(String(decoding: data, as: UTF8.self))")
            return nil
        }
        return WrittenFile(name: name, token: token, counter: counter, replica: replica)
    }
}

/// Runs a command to its end; returns its exit status, stdout and stderr. For
/// commands with little output: stdout is read to its end before stderr. The
/// election binary runs the deployed way (`Deployed`).
func runProcess(_ executable: String, _ arguments: [String], environment: [String: String]? = nil) throws -> (
    status: Int32, stdout: String, stderr: String
) {
    let process = Process()
    let command = executable == electionBinary ? Deployed.command(executable, arguments) : (executable, arguments)
    process.executableURL = URL(fileURLWithPath: command.0)
    process.arguments = command.1
    if let environment { process.environment = environment }
    let output = Pipe()
    let errors = Pipe()
    process.standardOutput = output
    process.standardError = errors
    try process.run()
    let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
    let errorText = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
    process.waitUntilExit()
    return (process.terminationStatus, text, errorText)
}

/// Runs `election verify` on the directories; returns its exit status and output.
func verify(_ directories: [String], capacity: Int? = nil) throws -> (status: Int32, output: String) {
    let result = try runProcess(
        electionBinary, ["verify"] + directories + (capacity.map { ["--capacity", "\($0)"] } ?? []))
    return (result.status, result.stdout)
}

extension Replica {
    /// The replica's `election watchdog` child (its guardian while it leads), if one runs.
    var guardian: Int32? {
        let out = (try? runProcess("/usr/bin/pgrep", ["-P", "\(pid)", "-f", " watchdog "]))?.stdout ?? ""
        return out.split(separator: "\n").first.flatMap { Int32($0) }
    }

    /// The whole host's share of a crash: the daemon and its guardian die together
    /// (the daemon is stopped first, so that it cannot start another guardian).
    func killWithGuardian() {
        signal(SIGSTOP)
        if let guardian { kill(guardian, SIGKILL) }
        signal(SIGKILL)
    }
}
