import CoreMetrics
import Election
import Logging
import NIOCore
import Prometheus
import ZooKeeper

#if canImport(Glibc)
    import Glibc
#endif

/// Everything `election run` needs, validated before anything is touched (the
/// CLI turns flags and variables into this).
package struct DaemonSettings: Sendable {
    package var config: ElectionConfig
    package var format: LogFormat
    package var level: Logger.Level
    package var stopTimeout: Duration
    package var exitPolicy: ExitPolicy
    package var onTransition: String?
    /// The supervised command; empty: none.
    package var command: [String]
    /// The version the metrics report.
    package var version: String

    package init(
        config: ElectionConfig, format: LogFormat, level: Logger.Level, stopTimeout: Duration,
        exitPolicy: ExitPolicy, onTransition: String?, command: [String], version: String
    ) {
        self.config = config
        self.format = format
        self.level = level
        self.stopTimeout = stopTimeout
        self.exitPolicy = exitPolicy
        self.onTransition = onTransition
        self.command = command
        self.version = version
    }
}

/// One replica: logging, the observers (status board, metrics and HTTP, systemd,
/// the transition hook), the session factory, the supervised command, signals,
/// and the state runner, wired together. What `election run` runs.
package struct Daemon {
    package let settings: DaemonSettings

    package init(_ settings: DaemonSettings) { self.settings = settings }

    /// Runs the replica until it stops; returns the exit status when it is not 0.
    /// Throws a `ConfigError` for a setting that turns out unusable (an HTTP
    /// address that cannot be listened on).
    package func run() async throws(ConfigError) -> Int32? {
        let resolved = settings
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
            observers.append(MetricsObserver(version: resolved.version))
            let endpoints = Endpoints(board: board, registry: factory.registry, aliveBound: aliveBound)
            do {
                let started = try await HTTPServer.start(host: address.host, port: address.port, endpoints: endpoints)
                logger.info("serving HTTP", metadata: ["address": "\(started.localAddress)"])
                server = started
            } catch {
                // The address is the configuration to change (in use, not local, not allowed).
                let reason = (error as? IOError).map { errnoText($0.errnoCode) } ?? "\(error)"
                throw ConfigError(.httpAddr, "cannot listen on \(address.host):\(address.port): \(reason)")
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
                command: resolved.command, stopTimeout: resolved.stopTimeout, servers: config.zkServers,
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
        env.command = supervisor
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
        if let fatal = env.requests.fatal.value { return fatal.status }
        // `--on-exit exit`: the daemon ends with the command's status.
        if resolved.exitPolicy == .exit, let status = supervisor.lastExit.withLock({ $0 }), status != 0 {
            return status
        }
        return nil
    }
}

extension Daemon {
    /// Every `ELECTION_*` variable something reads: `run`'s settings, the operator
    /// commands' timeouts, and what the daemon sets for its command and hooks (a
    /// daemon started from inside one inherits those).
    package static let knownVariables: Set<String> =
        Set(ElectionConfig.Setting.allCases.map(\.environmentVariable)).union(
            [
                "STATUS_TIMEOUT", "RESIGN_TIMEOUT", "FENCING_TOKEN", "LEADER_SINCE", "FROM", "TO", "TOKEN", "REASON",
            ].map { "ELECTION_" + $0 })

    /// `ELECTION_*` variables no setting reads (a typo such as ELECTION_ZK_SERVER),
    /// each with the known name it most likely meant.
    package static func unknownVariables(in environment: [String: String]) -> [(String, String?)] {
        environment.keys.filter { $0.hasPrefix("ELECTION_") && !knownVariables.contains($0) }.sorted().map { name in
            let closest = knownVariables.min { distance(name, $0) < distance(name, $1) }
            return (name, closest.flatMap { distance(name, $0) <= 3 ? $0 : nil })
        }
    }

    /// Levenshtein distance, for a "did you mean".
    package static func distance(_ a: String, _ b: String) -> Int {
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
package func currentEnvironment() -> [String: String] {
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
