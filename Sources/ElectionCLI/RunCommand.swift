import ArgumentParser
import CoreMetrics
import Election
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

    /// Everything the run needs, validated before anything is touched.
    struct Resolved {
        var config: ElectionConfig
        var format: LogFormat
        var level: Logger.Level
        var stopTimeout: Duration
        var exitPolicy: ExitPolicy
        var onTransition: String?
    }

    func resolve(environment: [String: String]) throws(ConfigError) -> Resolved {
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
            let problem = WorkloadTiming.problem(sessionTimeout: config.sessionTimeout, stopTimeout: stopTimeout)
        {
            throw ConfigError(.execStopTimeout, problem)
        }
        let policyText = value(onExit, .onExit) ?? ""
        guard let policy = ExitPolicy(rawValue: policyText) else {
            throw ConfigError(.onExit, "'\(policyText)' is not one of resign, restart, exit")
        }
        let hook = value(onTransition, .onTransition)
        return Resolved(
            config: config, format: format, level: level, stopTimeout: stopTimeout, exitPolicy: policy,
            onTransition: hook?.isEmpty == false ? hook : nil)
    }

    func run() async throws {
        let resolved = try resolve(environment: currentEnvironment())
        LoggingSystem.bootstrap { label in
            LineLogHandler(label: label, format: resolved.format, level: resolved.level)
        }
        var logger = Logger(label: "election")
        logger[metadataKey: "replica"] = "\(resolved.config.replicaID)"
        ZKLogBridge.shared.bootstrap(logger)
        let config = resolved.config
        logger.info(
            "configuration",
            metadata: [
                "zk_servers": "\(config.zkServers)", "election_path": "\(config.electionPath)",
                "file_dir": "\(config.fileDir)", "storage_capacity": "\(config.storageCapacity)",
                "leader_timeout": "\(DurationParser.format(config.leaderTimeout))",
                "attempter_timeout": "\(DurationParser.format(config.attempterTimeout))",
                "session_timeout": "\(DurationParser.format(config.sessionTimeout))",
            ])

        let environment = currentEnvironment()
        for (name, guess) in Self.unknownVariables(in: environment) {
            logger.warning(
                "\(name) is set but no setting reads it\(guess.map { "; did you mean \($0)?" } ?? "")",
                metadata: ["variable": "\(name)"])
        }
        let identity = Identity(replica: config.replicaID)
        let board = StatusBoard(identity: identity)
        // A loop with no progress for this long, outside a wait within its deadline,
        // is wedged: /healthz fails and systemd's watchdog is no longer fed.
        let aliveBound = config.sessionTimeout * 2 + .seconds(5)
        var observers: [any ElectionObserver] = [board, StartupPages(logger: logger)]
        var server: HTTPServer?
        if let address = config.httpAddress {
            var factory = PrometheusMetricsFactory(registry: PrometheusCollectorRegistry())
            factory.durationHistogramBuckets = MetricsObserver.buckets
            MetricsSystem.bootstrap(factory)
            observers.append(MetricsObserver(version: ElectionCommand.configuration.version))
            let endpoints = Endpoints(board: board, registry: factory.registry, aliveBound: aliveBound)
            do {
                let started = try await HTTPServer.start(host: address.host, port: address.port, endpoints: endpoints)
                logger.info("serving HTTP", metadata: ["address": "\(started.localAddress)"])
                server = started
            } catch {
                // The address is the configuration to change (in use, not local, not allowed).
                let reason = (error as? IOError).map { errnoText($0.errnoCode) } ?? "\(error)"
                Main.fail(
                    "election: invalid --http-addr (ELECTION_HTTP_ADDR): cannot listen on "
                        + "\(address.host):\(address.port): \(reason)")
            }
        }
        let notifier = SystemdNotifier(environment: environment)
        if let notifier { observers.append(notifier) }
        let hook = resolved.onTransition.map { TransitionHook(command: $0, logger: logger) }
        if let hook { observers.append(hook) }
        let observer = Observers(observers)
        let sessions = ZKSessionFactory(
            servers: config.zkServers, sessionTimeout: config.sessionTimeout, connectDeadline: config.sessionTimeout,
            stateFile: config.stateFile, replica: config.replicaID, logger: logger,
            onStateChange: { state, id in observer.sessionChanged(state, sessionID: id) }, auth: config.zkAuth,
            acl: config.zkACL)
        // With no command, the supervisor's watchdog only guards the session.
        let supervisor = Supervisor(
            Supervisor.Settings(
                command: command, stopTimeout: resolved.stopTimeout, servers: config.zkServers,
                fileDir: config.fileDir, replica: config.replicaID,
                stateFileLock: { sessions.stateFileLock }), logger: logger)
        if supervisor.isConfigured && config.zkAuth == nil {
            // Once, at notice: a deliberate choice of many deployments, not a fault.
            logger.notice(
                """
                the election's znodes have the open ACL (no --zk-auth-file, ELECTION_ZK_AUTH_FILE): anyone who \
                can reach ZooKeeper can delete the leader's znode and so move the command to another replica
                """)
        }
        var env = ElectionEnvironment(
            config: config, sessions: sessions, identity: identity, logger: logger, observer: observer)
        env.tracksLeader = server != nil
        env.workload = supervisor
        env.exitPolicy = resolved.exitPolicy
        let requests = env.requests
        let log = logger
        let signals = SignalTable.install { action, name in
            switch action {
            case .stop: break  // delivered through `stops` below
            case .resign:
                log.notice("resign requested", metadata: ["signal": "\(name)"])
                requests.resign()
            case .dumpStatus:
                log.notice("status", metadata: board.snapshot.logMetadata)
            }
        }
        let keepAlive = Task { await notifier?.keepAlive { board.snapshot.isAlive(bound: aliveBound) } }
        await Runner(env: env) { name in _exit(128 + (SignalTable.number(of: name) ?? 15)) }.run(stops: signals.stops)
        keepAlive.cancel()
        // The Leader->Stopping hook (a "remove the VIP" script) runs before the exit;
        // nothing of a hook outlives the daemon.
        await hook?.finish(within: .seconds(5))
        await server?.stop()
        sessions.forgetSession()
        withExtendedLifetime(signals) {}
        // A problem that cannot heal was said once, at critical level: exit with its status.
        if let fatal = env.requests.fatal.value { throw ExitCode(fatal.status) }
        // `--on-exit exit`: the daemon ends with the command's status.
        if resolved.exitPolicy == .exit, let status = supervisor.lastExit.withLock({ $0 }), status != 0 {
            throw ExitCode(status)
        }
    }
}

extension RunCommand {
    /// Every `ELECTION_*` variable something reads: `run`'s settings, the operator
    /// commands' timeouts, and what the daemon sets for its command and hooks (a
    /// daemon started from inside one inherits those).
    static let knownVariables: Set<String> =
        Set(ElectionConfig.Setting.allCases.map(\.environmentVariable)).union(
            [
                "STATUS_TIMEOUT", "RESIGN_TIMEOUT", "FENCING_TOKEN", "LEADER_SINCE", "FROM", "TO", "TOKEN", "REASON",
            ].map { "ELECTION_" + $0 })

    /// `ELECTION_*` variables no setting reads (a typo such as ELECTION_ZK_SERVER),
    /// each with the known name it most likely meant.
    static func unknownVariables(in environment: [String: String]) -> [(String, String?)] {
        environment.keys.filter { $0.hasPrefix("ELECTION_") && !knownVariables.contains($0) }.sorted().map { name in
            let closest = knownVariables.min { distance(name, $0) < distance(name, $1) }
            return (name, closest.flatMap { distance(name, $0) <= 3 ? $0 : nil })
        }
    }

    /// Levenshtein distance, for a "did you mean".
    static func distance(_ a: String, _ b: String) -> Int {
        let (a, b) = (Array(a), Array(b))
        var row = Array(0...b.count)
        for (i, x) in a.enumerated() {
            var previous = row[0]
            row[0] = i + 1
            for (j, y) in b.enumerated() {
                let current = row[j + 1]
                row[j + 1] = min(current + 1, row[j] + 1, previous + (x == y ? 0 : 1))
                previous = current
            }
        }
        return row[b.count]
    }
}

/// The process environment as a dictionary.
func currentEnvironment() -> [String: String] {
    var result: [String: String] = [:]
    var pointer = environ
    while let entry = pointer.pointee {
        let text = String(cString: entry)
        if let eq = text.firstIndex(of: "=") {
            result[String(text[..<eq])] = String(text[text.index(after: eq)...])
        }
        pointer += 1
    }
    return result
}
