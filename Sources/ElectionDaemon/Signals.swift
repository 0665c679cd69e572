import Dispatch
import Election
import Logging

#if canImport(Glibc)
    import Glibc
#endif

/// What each signal a terminal or a service manager may send means to the daemon
/// (the README's signal table). None kills it like a crash.
enum SignalAction: Sendable {
    /// Graceful stop: release leadership, close the session, exit 0. A second one exits at once.
    case stop
    /// Step down if leading: release the znode, rejoin at the back after backoff.
    case resign
    /// Log one line with the current status.
    case dumpStatus
}

/// Installs `DispatchSource` handlers for every signal we give a meaning to.
final class SignalTable {
    static let table: [(number: Int32, name: String, action: SignalAction)] = [
        (SIGTERM, "SIGTERM", .stop),
        (SIGINT, "SIGINT", .stop),
        // A closed terminal or a lost SSH session: hand over cleanly rather than
        // die like a crash (which would leave the znode until the session expires).
        (SIGHUP, "SIGHUP", .stop),
        // Quit from the keyboard: the same graceful stop, never a core dump with a
        // znode left behind.
        (SIGQUIT, "SIGQUIT", .stop),
        (SIGUSR1, "SIGUSR1", .resign),
        (SIGUSR2, "SIGUSR2", .dumpStatus),
    ]

    let stops: AsyncStream<String>
    private let sources: [any DispatchSourceSignal]

    private init(stops: AsyncStream<String>, sources: [any DispatchSourceSignal]) {
        self.stops = stops
        self.sources = sources
    }

    static func number(of name: String) -> Int32? { table.first { $0.name == name }?.number }

    /// The default actions are switched off (the process is not killed outright) and
    /// each signal is delivered on a Dispatch queue: stops into `stops`, the rest to
    /// `handle`. SIGPIPE is ignored: a write to a closed pipe (stderr of a dead `tee`)
    /// fails with EPIPE instead of killing the daemon.
    static func install(_ handle: @escaping @Sendable (SignalAction, String) -> Void) -> SignalTable {
        signal(SIGPIPE, SIG_IGN)
        let (stream, continuation) = AsyncStream<String>.makeStream()
        let sources = table.map { entry -> any DispatchSourceSignal in
            signal(entry.number, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: entry.number, queue: .global())
            source.setEventHandler {
                if case .stop = entry.action {
                    continuation.yield(entry.name)
                } else {
                    handle(entry.action, entry.name)
                }
            }
            source.resume()
            return source
        }
        return SignalTable(stops: stream, sources: sources)
    }
}

extension StatusSnapshot {
    /// The status as log metadata (SIGUSR2).
    var logMetadata: Logger.Metadata {
        var metadata: Logger.Metadata = [
            "state": "\(state.rawValue)", "since": "\(WallClock.format(millis: sinceMillis))",
            "session": "\(sessionID.sessionHex)",
            "session_state": "\(sessionState.rawValue)", "is_leader": "\(isLeader())",
        ]
        if let token = grant?.token { metadata["token"] = "\(token)" }
        if let lastFile { metadata["last_file"] = "\(lastFile)" }
        if let leader = visibleLeader { metadata["leader"] = "\(leader.replica)" }
        return metadata
    }
}
