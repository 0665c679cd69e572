import ArgumentParser
import CoreMetrics
import Election
import ElectionDaemon
import Logging
import NIOCore
import Prometheus
import ZooKeeper

#if canImport(Glibc)
    import Glibc
#endif

/// `election run`: the daemon.
struct RunCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Run one replica: compete for leadership; while leader, write a file every leader-timeout.",
        discussion: """
            Every option may also be set through the environment: ELECTION_ + the option name upper-cased \
            with - as _ (e.g. ELECTION_ZK_SERVERS). An option on the command line beats the environment, \
            which beats the default. Invalid values exit with status 64.
            """)

    @Option(help: "ZooKeeper servers: host:port[,host:port…][/chroot]. Required.")
    var zkServers: String?
    @Option(help: "How often the leader writes a file (ms, s, m, h; e.g. 1m30s). Default 10s.")
    var leaderTimeout: String?
    @Option(help: "How often a waiting candidate re-checks its position at least. Default 10s.")
    var attempterTimeout: String?
    @Option(help: "Directory the leader writes into. Default /tmp/election.")
    var fileDir: String?
    @Option(help: "Most election files kept in file-dir (at least 1). Default 10.")
    var storageCapacity: String?
    @Option(help: "ZooKeeper session timeout asked for. Default 10s.")
    var sessionTimeout: String?
    @Option(help: "Parent znode of the candidates. Default /election.")
    var electionPath: String?
    @Option(help: "How this replica names itself in znodes, files and logs. Default: the host name.")
    var replicaId: String?
    @Option(
        help: """
            File that remembers the ZooKeeper session so a restarted replica resumes it; none disables. \
            Default: <file-dir>/.election-session-<replica-id>.
            """)
    var stateFile: String?
    @Option(
        help: "Serve /healthz /readyz /leader /status /metrics on this host:port (e.g. 127.0.0.1:8080). Default: off.")
    var httpAddr: String?
    @Option(help: "File with user:password for ZooKeeper digest auth (mode 0600 or refused). Default: none.")
    var zkAuthFile: String?
    @Option(help: "With --zk-auth-file: ACL of created znodes, private or world-read. Default private.")
    var zkAcl: String?
    @Option(
        help: "After SIGTERM to the command's process group, SIGKILL after this long. Default 3s (with -- CMD).")
    var execStopTimeout: String?
    @Option(help: "When the command exits by itself while leading: resign, restart or exit. Default resign.")
    var onExit: String?
    @Option(help: "Run this shell command on every transition, with FROM TO TOKEN as $1 $2 $3. Default: none.")
    var onTransition: String?
    @Argument(
        parsing: .postTerminator,
        help: "-- CMD [ARGS...]: run CMD only while this replica leads (stopped before anyone else may start it).")
    var command: [String] = []
    @Option(help: "Log format: text (logfmt) or json. Default text.")
    var logFormat: String?
    @Option(help: "Log level: trace, debug, info, notice, warning, error, critical. Default info.")
    var logLevel: String?

    func resolve(environment: [String: String]) throws(ConfigError) -> DaemonSettings {
        var flags: [ElectionConfig.Setting: String] = [:]
        flags[.zkServers] = zkServers
        flags[.leaderTimeout] = leaderTimeout
        flags[.attempterTimeout] = attempterTimeout
        flags[.fileDir] = fileDir
        flags[.storageCapacity] = storageCapacity
        flags[.sessionTimeout] = sessionTimeout
        flags[.electionPath] = electionPath
        flags[.replicaID] = replicaId
        flags[.stateFile] = stateFile
        flags[.httpAddr] = httpAddr
        flags[.zkAuthFile] = zkAuthFile
        flags[.zkAcl] = zkAcl
        let config = try ElectionConfig.resolve(flags: flags, environment: environment, hostName: Identity.hostName())

        func value(_ flag: String?, _ setting: ElectionConfig.Setting) -> String? {
            flag ?? environment[setting.environmentVariable] ?? setting.defaultValue
        }
        let formatText = value(logFormat, .logFormat) ?? ""
        guard let format = LogFormat(rawValue: formatText) else {
            throw ConfigError(.logFormat, "'\(formatText)' is not one of text, json")
        }
        let levelText = value(logLevel, .logLevel) ?? ""
        guard let level = Logger.Level(rawValue: levelText) else {
            throw ConfigError(
                .logLevel, "'\(levelText)' is not one of trace, debug, info, notice, warning, error, critical")
        }
        let stopText = value(execStopTimeout, .execStopTimeout) ?? ""
        guard let stopTimeout = DurationParser.parse(stopText), stopTimeout > .zero else {
            throw ConfigError(.execStopTimeout, "'\(stopText)' is not a positive duration")
        }
        if let name = command.first, let problem = CommandLookup.problem(name, path: environment["PATH"]) {
            throw ConfigError(flag: "command", environmentVariable: "after --", problem: "cannot run \(problem)")
        }
        if !command.isEmpty,
            let problem = CommandTiming.problem(sessionTimeout: config.sessionTimeout, stopTimeout: stopTimeout)
        {
            throw ConfigError(.execStopTimeout, problem)
        }
        let policyText = value(onExit, .onExit) ?? ""
        guard let policy = ExitPolicy(rawValue: policyText) else {
            throw ConfigError(.onExit, "'\(policyText)' is not one of resign, restart, exit")
        }
        let hook = value(onTransition, .onTransition)
        return DaemonSettings(
            config: config, format: format, level: level, stopTimeout: stopTimeout, exitPolicy: policy,
            onTransition: hook?.isEmpty == false ? hook : nil, command: command,
            version: ElectionCommand.configuration.version)
    }

    func run() async throws {
        let settings = try resolve(environment: currentEnvironment())
        if let status = try await Daemon(settings).run() { throw ExitCode(status) }
    }
}
