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
/// environment; on an edge out of Leader, TOKEN is the ending term's. Hooks run off
/// the election's tasks, each killed after `limit`, their output logged line by line.
///
/// Hooks of different edges do not wait for each other: a slow hook cannot delay the
/// Leader hook. An edge runs one hook at a time; while it runs, only the newest
/// request for that edge waits (an older one is dropped: a stale hook never runs
/// minutes late). At stop, `finish` waits for the hooks already started (the
/// Leader->Stopping one among them) up to a bound, then kills what is left and
/// drops what waits: nothing of a hook outlives the daemon.
final class TransitionHook: ElectionObserver {
    static let limit: Duration = .seconds(10)

    private struct Job: Sendable {
        var arguments: [String]
        var environment: [String: String]
    }
    private struct Edge: Hashable {
        var from: StateName
        var to: StateName
    }
    private struct State {
        var running: Set<Edge> = []
        var waiting: [Edge: Job] = [:]
        /// Process groups of the hooks running now, killed by `finish`.
        var groups: Set<pid_t> = []
        /// The token of the term being led, for the edge that ends it.
        var leaderToken: Int64?
        var finishing = false
    }

    private let command: String
    private let logger: Logger
    private let state = Mutex(State())

    init(command: String, logger: Logger) {
        self.command = command
        self.logger = logger
    }

    func transitioned(from: StateName, to: StateName, reason: TransitionReason, token: Int64?) {
        let edge = Edge(from: from, to: to)
        let start: Job? = state.withLock { s in
            guard !s.finishing else { return nil }
            let term = from == .leader ? s.leaderToken : token
            if to == .leader { s.leaderToken = token }
            let tokenText = term.map { "\($0)" } ?? ""
            var variables = Spawn.userEnvironment()
            variables["ELECTION_FROM"] = from.rawValue
            variables["ELECTION_TO"] = to.rawValue
            variables["ELECTION_TOKEN"] = tokenText
            variables["ELECTION_REASON"] = reason.code.rawValue
            let job = Job(
                arguments: ["/bin/sh", "-c", command, "election-hook", from.rawValue, to.rawValue, tokenText],
                environment: variables)
            guard !s.running.contains(edge) else {
                if s.waiting.updateValue(job, forKey: edge) != nil {
                    logger.debug("a newer transition hook replaces a waiting one", metadata: ["to": "\(to.rawValue)"])
                }
                return nil
            }
            s.running.insert(edge)
            return job
        }
        if let start { launch(start, edge) }
    }

    private func launch(_ job: Job, _ edge: Edge) {
        Spawn.onOwnThread { [logger, self] in
            var next: Job? = job
            while let current = next {
                Self.run(current.arguments, environment: current.environment, logger: logger) { group, started in
                    self.state.withLock { s in
                        if started { s.groups.insert(group) } else { s.groups.remove(group) }
                    }
                }
                next = self.state.withLock { s in
                    guard !s.finishing, let waiting = s.waiting.removeValue(forKey: edge) else {
                        s.running.remove(edge)
                        return nil
                    }
                    return waiting
                }
            }
        }
    }

    /// At stop: waits up to `bound` for the hooks already running, then kills their
    /// process groups; hooks still waiting are dropped.
    func finish(within bound: Duration) async {
        let dropped = state.withLock { s in
            s.finishing = true
            defer { s.waiting.removeAll() }
            return s.waiting.count
        }
        if dropped > 0 { logger.info("transition hooks dropped at stop", metadata: ["count": "\(dropped)"]) }
        let deadline = ContinuousClock.now + bound
        while state.withLock({ !$0.running.isEmpty }) && ContinuousClock.now < deadline {
            try? await Task.sleep(for: .milliseconds(10))
        }
        let left = state.withLock { $0.groups }
        for group in left {
            logger.warning("transition hook still running at stop; killing it", metadata: ["pid": "\(group)"])
            kill(-group, SIGKILL)
        }
        while state.withLock({ !$0.running.isEmpty }) && ContinuousClock.now < deadline + .seconds(1) {
            try? await Task.sleep(for: .milliseconds(10))
        }
    }

    /// Runs one hook to its end (or its kill after `limit`); `track` hears its
    /// process group when it starts (true) and when it is gone (false).
    private static func run(
        _ arguments: [String], environment: [String: String], logger: Logger,
        track: (pid_t, Bool) -> Void
    ) {
        var ends: [Int32] = [0, 0]
        guard cprocess_pipe_cloexec(&ends) == 0 else { return }
        guard let pid = Spawn.run(arguments, environment: environment, outputFD: ends[1], newGroup: true) else {
            logger.warning("cannot run the transition hook: \(errnoText(errno))")
            close(ends[0])
            close(ends[1])
            return
        }
        track(pid, true)
        defer { track(pid, false) }
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
