import ArgumentParser
import Election
import ElectionDaemon

/// `election watchdog`: started by the daemon beside the supervised command (or, for
/// a leader without one, alone), not by people. See `Watchdog`.
struct WatchdogCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "watchdog", abstract: "Internal: stops the supervised command when the leadership lapses.",
        shouldDisplay: false)

    @Option var stopTimeout: String = "3s"
    @Option var zkServers: String = ""
    @Option var reportFD: Int32 = -1
    @Option var environmentFD: Int32 = -1
    @Argument(parsing: .postTerminator) var command: [String] = []

    func run() throws {
        let status = Watchdog(
            stopTimeout: DurationParser.parse(stopTimeout) ?? .seconds(3), zkServers: zkServers, reportFD: reportFD,
            environmentFD: environmentFD, command: command
        ).run()
        if status != 0 { throw ExitCode(status) }
    }
}
