import CProcess
import Dispatch
import Election
import Logging
import Synchronization
import ZooKeeper

#if canImport(Glibc)
    import Glibc
#endif

/// `--on-transition CMD`: runs `/bin/sh -c CMD election-hook FROM TO TOKEN` after
/// every transition (keepalived's notify scripts have this shape), with
/// ELECTION_FROM, ELECTION_TO, ELECTION_TOKEN and ELECTION_REASON in its
/// environment. Hooks run one at a time on a queue of their own, never on the
/// election's tasks; each is killed after `limit`; their output is logged line by
/// line; past `backlog` waiting hooks, new ones are dropped (and that is logged).
final class TransitionHook: ElectionObserver {
    static let limit: Duration = .seconds(10)
    static let backlog = 16

    private let command: String
    private let logger: Logger
    private let queue = DispatchQueue(label: "election.transition-hook")
    private let waiting = Atomic<Int>(0)

    init(command: String, logger: Logger) {
        self.command = command
        self.logger = logger
    }

    func transitioned(from: StateName, to: StateName, reason: TransitionReason, token: Int64?) {
        guard waiting.add(1, ordering: .relaxed).newValue <= Self.backlog else {
            waiting.subtract(1, ordering: .relaxed)
            logger.warning("transition hook backlog full; dropping one", metadata: ["to": "\(to.rawValue)"])
            return
        }
        let arguments = [
            "/bin/sh", "-c", command, "election-hook", from.rawValue, to.rawValue, token.map { "\($0)" } ?? "",
        ]
        var variables = currentEnvironment()
        variables["ELECTION_FROM"] = from.rawValue
        variables["ELECTION_TO"] = to.rawValue
        variables["ELECTION_TOKEN"] = token.map { "\($0)" } ?? ""
        variables["ELECTION_REASON"] = reason.code.rawValue
        let environment = variables
        queue.async { [logger, self] in
            defer { self.waiting.subtract(1, ordering: .relaxed) }
            Self.run(arguments, environment: environment, logger: logger)
        }
    }

    private static func run(_ arguments: [String], environment: [String: String], logger: Logger) {
        var ends: [Int32] = [0, 0]
        guard cprocess_pipe_cloexec(&ends) == 0 else { return }
        guard let pid = Spawn.run(arguments, environment: environment, outputFD: ends[1], newGroup: true) else {
            logger.warning("cannot run the transition hook", metadata: ["errno": "\(errno)"])
            close(ends[0])
            close(ends[1])
            return
        }
        close(ends[1])
        let started = Spawn.monotonicNanoseconds()
        let killAt = started + limit.nanoseconds
        var pending: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        var open = true
        while open {
            let left = Int32(clamping: max(0, (killAt - Spawn.monotonicNanoseconds()) / 1_000_000))
            var poller = pollfd(fd: ends[0], events: Int16(POLLIN), revents: 0)
            let ready = poll(&poller, 1, left)
            if ready == 0 {
                logger.warning("transition hook timed out; killing it", metadata: ["limit": "\(limit)"])
                kill(-pid, SIGKILL)
                break
            }
            let n = read(ends[0], &buffer, buffer.count)
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { open = false } else { pending += buffer[0..<n] }
            while let newline = pending.firstIndex(of: UInt8(ascii: "\n")) ?? (open ? nil : pending.indices.last) {
                let line = String(decoding: pending[...newline], as: UTF8.self)
                pending.removeSubrange(...newline)
                let text = line.hasSuffix("\n") ? String(line.dropLast()) : line
                if !text.isEmpty { logger.info("transition hook output", metadata: ["line": "\(text)"]) }
            }
        }
        close(ends[0])
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        let code = Spawn.exitCode(status)
        let took = Duration.nanoseconds(Spawn.monotonicNanoseconds() - started)
        if code == 0 {
            logger.debug("transition hook done", metadata: ["took": "\(took)"])
        } else {
            logger.warning("transition hook failed", metadata: ["status": "\(code)", "took": "\(took)"])
        }
    }
}
