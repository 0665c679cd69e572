import Foundation
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// Invalid settings exit 64 with one line naming the flag and its env var, before
/// anything is touched.
@Suite(.timeLimit(.minutes(2))) struct BadInputTests {
    struct Outcome {
        var status: Int32
        var stderr: String
    }

    func run(_ arguments: [String], environment: [String: String] = [:]) throws -> Outcome {
        let result = try runProcess(
            electionBinary, arguments, environment: environment.merging(["PATH": "/usr/bin:/bin"]) { a, _ in a })
        return Outcome(status: result.status, stderr: result.stderr)
    }

    static let cases: [([String], [String: String], String, String)] = [
        ([], [:], "--zk-servers", "ELECTION_ZK_SERVERS"),
        (["--zk-servers", "nohost"], [:], "--zk-servers", "ELECTION_ZK_SERVERS"),
        (["--zk-servers", "a:1", "--leader-timeout", "0s"], [:], "--leader-timeout", "ELECTION_LEADER_TIMEOUT"),
        (
            [], ["ELECTION_ZK_SERVERS": "a:1", "ELECTION_ATTEMPTER_TIMEOUT": "soon"], "--attempter-timeout",
            "ELECTION_ATTEMPTER_TIMEOUT"
        ),
        (["--zk-servers", "a:1", "--storage-capacity", "0"], [:], "--storage-capacity", "ELECTION_STORAGE_CAPACITY"),
        (["--zk-servers", "a:1", "--election-path", "rel"], [:], "--election-path", "ELECTION_ELECTION_PATH"),
        (["--zk-servers", "a:1", "--session-timeout", "-5s"], [:], "--session-timeout", "ELECTION_SESSION_TIMEOUT"),
        (["--zk-servers", "a:1", "--log-format", "xml"], [:], "--log-format", "ELECTION_LOG_FORMAT"),
        (["--zk-servers", "a:1", "--replica-id", "a/b"], [:], "--replica-id", "ELECTION_REPLICA_ID"),
        (["--zk-servers"], [:], "--zk-servers", "ELECTION_ZK_SERVERS"),
        (["--zk-servers", "a:1", "--http-addr", "8080"], [:], "--http-addr", "ELECTION_HTTP_ADDR"),
        ([], ["ELECTION_ZK_SERVERS": "a:1", "ELECTION_HTTP_ADDR": "h:0"], "--http-addr", "ELECTION_HTTP_ADDR"),
    ]

    @Test(arguments: cases)
    func invalidInputExits64WithOneLineNamingFlagAndEnvVar(
        arguments: [String], environment: [String: String], flag: String, variable: String
    ) throws {
        let scratch = try Scratch()
        let dir = scratch.path + "/must-not-exist"
        let outcome = try run(["run", "--file-dir", dir] + arguments, environment: environment)
        #expect(outcome.status == 64)
        let lines = outcome.stderr.split(separator: "\n")
        #expect(lines.count == 1, "one line, got: \(outcome.stderr)")
        #expect(outcome.stderr.contains(flag))
        #expect(outcome.stderr.contains(variable))
        #expect(!FileManager.default.fileExists(atPath: dir), "nothing is created on bad input")
    }

    /// Each line says what is wrong in the user's terms (found by trying it as a new user would).
    static let messages: [([String], String, String?)] = [
        (["run", "--zk-servers", "a:1", "--leader-timeout", "-1s"], "'-1s' must be greater than zero", nil),
        (["run", "--zk-servers", "a:1", "--storage-capacity", "99999999999999999999"], "too large", "at least 1"),
        (["run", "--zk-servers", "a:1", "--zk-acl", "public"], "is not one of private, world-read", "needs"),
        (
            ["run", "--zk-servers", "a:1", "--session-timeout", "1s", "--", "sleep", "1"], "raise --session-timeout",
            "0s"
        ),
        (["run", "--zk-servers", "a:1", "--", "/nonexistent/cmd"], "No such file or directory", "errno"),
        (["run", "--zk-servers", "a:1", "--", "no-such-cmd"], "not found in PATH", nil),
        (["run", "--zk-servers", "a:1", "--", "--help"], "not found in PATH", nil),
        (["run", "--zk-servers", "a:1", "sh", "-c", "echo hi"], "put it after --", nil),
        (["--zk-servers", "a:1", "sh", "-c", "echo hi"], "put it after --", nil),
        (["resign", "--zk-servers", "a:1", "--wait", "0s"], "invalid --wait: '0s'", "(none)"),
        (["verify", "/nonexistent"], "/nonexistent: No such file or directory", "VIOLATION"),
    ]

    @Test(arguments: messages)
    func theOneLineSaysWhatIsWrong(arguments: [String], says: String, never: String?) throws {
        let outcome = try run(arguments)
        #expect(outcome.status == 64)
        #expect(outcome.stderr.split(separator: "\n").count == 1, "one line, got: \(outcome.stderr)")
        #expect(outcome.stderr.contains(says), "\(outcome.stderr)")
        if let never { #expect(!outcome.stderr.contains(never), "\(outcome.stderr)") }
    }

    /// What no retry can heal ends the daemon with one line and 64, instead of
    /// retrying for ever and going quiet.
    @Test func aFileDirThatIsARegularFileEndsTheDaemon() throws {
        let scratch = try Scratch()
        let file = scratch.path + "/plain"
        _ = FileManager.default.createFile(atPath: file, contents: Data("x".utf8))
        let outcome = try run(["run", "--zk-servers", "127.0.0.1:1", "--file-dir", file])
        #expect(outcome.status == 64)
        let fatal = outcome.stderr.split(separator: "\n").filter { $0.contains("level=critical") }
        #expect(fatal.count == 1, "\(outcome.stderr)")
        #expect(fatal.first?.contains("--file-dir") == true && fatal.first?.contains("ELECTION_FILE_DIR") == true)
        #expect(fatal.first?.contains("not a directory") == true)
    }

    @Test func aMistypedVariableIsNamedWithWhatItMeant() async throws {
        let scratch = try Scratch()
        let replica = try Replica(
            id: "v1", scratch: scratch, servers: "127.0.0.1:1", environment: ["ELECTION_ZK_SERVER": "zk1:2181"])
        try await eventually(within: .seconds(10), "the warning") { replica.log.contains("ELECTION_ZK_SERVER ") }
        let line = replica.log.split(separator: "\n").first { $0.contains("ELECTION_ZK_SERVER ") }
        #expect(line?.contains("level=warning") == true && line?.contains("did you mean ELECTION_ZK_SERVERS?") == true)
        replica.signal(SIGTERM)
        _ = await replica.waitForExit(within: .seconds(5))
    }

    /// A server name no resolver knows is named, retried for ten session timeouts
    /// (a name may appear with its server), then ends the daemon with 64.
    @Test func aServerNameNoResolverKnowsEndsTheDaemonAfterABoundedTime() async throws {
        let scratch = try Scratch()
        let replica = try Replica(
            id: "d1", scratch: scratch, servers: "no-such-host.invalid:2181", sessionTimeout: "1s")
        #expect(await replica.waitForExit(within: .seconds(40)) == 64)
        let lines = replica.log.split(separator: "\n")
        #expect(
            lines.contains { $0.contains("msg=transition") && $0.contains("cannot resolve no-such-host.invalid") },
            "each attempt names the host")
        let fatal = lines.filter { $0.contains("level=critical") }
        #expect(fatal.count == 1, "\(fatal)")
        #expect(
            fatal.first?.contains("ELECTION_ZK_SERVERS") == true
                && fatal.first?.contains("no-such-host.invalid") == true)
        #expect(!replica.log.contains("errno 2"), "no bare errno")
    }

    @Test func unknownFlagExits64NamingIt() throws {
        let outcome = try run(["run", "--zk-servers", "a:1", "--frobnicate", "yes"])
        #expect(outcome.status == 64)
        #expect(outcome.stderr.contains("--frobnicate"))
        #expect(outcome.stderr.split(separator: "\n").count == 1)
    }

    @Test func helpListsEveryFlagAndExitsZero() throws {
        let (status, text, _) = try runProcess(electionBinary, ["run", "--help"])
        #expect(status == 0)
        for flag in [
            "--zk-servers", "--leader-timeout", "--attempter-timeout", "--file-dir", "--storage-capacity",
            "--session-timeout", "--election-path", "--replica-id", "--state-file", "--log-format", "--log-level",
        ] {
            #expect(text.contains(flag), "help mentions \(flag)")
        }
    }
}
