import Election
import ElectionDaemon
import Logging
import ZooKeeper

#if canImport(Glibc)
    import Glibc
#endif

/// What the operator commands (`status`, `resign`) share: the same flag/env rules
/// as `run` for the servers and the election path, a connect deadline, exit 69
/// when ZooKeeper cannot be reached.
struct AdminSession {
    let config: ElectionConfig
    let session: ZKSession
    let command: String

    static func open(
        command: String, zkServers: String?, electionPath: String?, timeout: String?, zkAuthFile: String?
    ) async throws -> AdminSession {
        let environment = currentEnvironment()
        var flags: [ElectionConfig.Setting: String] = [:]
        flags[.zkServers] = zkServers
        flags[.electionPath] = electionPath
        flags[.zkAuthFile] = zkAuthFile
        let config = try ElectionConfig.resolve(flags: flags, environment: environment, hostName: command)
        let variable = "ELECTION_" + command.uppercased() + "_TIMEOUT"
        let timeoutText = timeout ?? environment[variable] ?? "5s"
        guard let deadline = DurationParser.parse(timeoutText), deadline > .zero else {
            throw ConfigError(
                flag: "--timeout", environmentVariable: variable, problem: "'\(timeoutText)' is not a positive duration"
            )
        }
        var logger = Logger(label: "election-\(command)")
        logger.logLevel = .critical
        ZKLogBridge.shared.bootstrap(logger)
        do {
            let session = try ZKSession(
                servers: config.zkServers, sessionTimeout: .seconds(10), logger: logger, auth: config.zkAuth)
            try await session.waitConnected(within: deadline)
            return AdminSession(config: config, session: session, command: command)
        } catch {
            fail(
                command, "cannot reach ZooKeeper at \(config.zkServers) within \(DurationParser.format(deadline))",
                error)
        }
    }

    /// ZooKeeper could not be reached or read: 69 (EX_UNAVAILABLE); it refused our
    /// credentials (NOAUTH, whatever the ACL): 64, the configuration to change.
    func fail(_ message: String, _ error: any Error) -> Never { Self.fail(command, message, error) }

    static func fail(_ command: String, _ message: String, _ error: any Error) -> Never {
        let refused = error as? ZKError == .noAuth
        Main.fail(
            refused
                ? "election \(command): \(message): not authorised (NOAUTH): check \(Setting.zkAuthFile.spelled)"
                : "election \(command): \(message): \(error)",
            status: refused ? 64 : 69)
    }
}
