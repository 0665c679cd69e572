import CProcess
import Dispatch
import Election
import Logging
import Synchronization
import ZooKeeper

#if canImport(Glibc)
    import Glibc
#endif

/// `election watchdog`: started by the daemon beside the supervised command (or, for
/// a leader without one, alone), not by people. It reads lines from stdin:
/// `deadline NS` (an absolute instant on CLOCK_MONOTONIC, the system-wide clock),
/// `session ID PASSWORD-HEX TIMEOUT-MS`, `start KEY=VALUE…` (start the command,
/// with these added to its environment) and `done`. It stops the
/// group (SIGTERM, SIGKILL after --stop-timeout) when the deadline passes without
/// being extended, or when stdin closes without `done` (the daemon died). It needs
/// nothing from the daemon to do so: a paused or killed daemon cannot keep the
/// command running past its leadership. When the daemon died, it then closes the
/// daemon's session, once the group is gone: the server deletes the leader's znode
/// at once, and the next replica leads without waiting for the session to expire.
package struct Watchdog {
    /// The exit status after stopping the group at the deadline: the daemon then
    /// knows its lease lapsed, rather than its watchdog failing.
    package static let leaseLapsed: Int32 = 3

    var stopTimeout: Duration
    var zkServers: String
    /// Where to report the command's start and exit (`started PID`, `failed ERRNO`,
    /// `exited STATUS`); -1: no command.
    var reportFD: Int32
    /// The command's environment (`KEY=VALUE` entries, each ended by a NUL byte).
    var environmentFD: Int32
    /// The supervised command, started by this process at `start`.
    var command: [String]

    package init(stopTimeout: Duration, zkServers: String, reportFD: Int32, environmentFD: Int32, command: [String]) {
        self.stopTimeout = stopTimeout
        self.zkServers = zkServers
        self.reportFD = reportFD
        self.environmentFD = environmentFD
        self.command = command
    }

    /// Watches until the daemon is done with it; returns the exit status.
    package func run() -> Int32 {
        let stopAfter = stopTimeout
        // Only the pipe and the deadline decide; terminal and service signals do not.
        for sig in [SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGPIPE, SIGUSR1, SIGUSR2] { signal(sig, SIG_IGN) }
        // Ahead of the command it guards where the host allows it (CAP_SYS_NICE, or an
        // RLIMIT_NICE such as systemd's LimitNICE=): a kill that falls due must not
        // queue behind a command that keeps every core busy. Without either it keeps
        // the daemon's priority; a sleeper that wakes is still scheduled promptly,
        // and `make chaos` measures how late it is under such a command.
        _ = cprocess_raise_priority(5)
        // It waits for the rest of its life: what parsing its arguments touched
        // need not stay resident (see `StartupPages`).
        _ = cprocess_release_clean_pages()
        var group: pid_t = 0
        // The command is our child, so that it dies with us (PR_SET_PDEATHSIG): a
        // daemon and watchdog killed together (`pkill -9 election`) leave no command
        // running beside the next leader's. It starts at `start`, which adds what
        // only the term knows to the environment; until then this process waits
        // ready, so that a handover does not wait for it to start up.
        var childExit: Int32 = -1
        var environment = Self.environment(from: environmentFD)
        var deadline = Int64.max
        var session: (id: Int64, password: [UInt8], timeout: Duration)?
        var pending: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 512)
        while true {
            let now = Spawn.monotonicNanoseconds()
            if group != 0 && now >= deadline {
                say("leadership deadline passed without renewal; stopping process group \(group)")
                report("lapsed 0")  // before the command's exit: the daemon must know why
                stopGroup(group, after: stopAfter)
                return Self.leaseLapsed
            }
            // Without a group (guarding the session only) the deadline decides nothing:
            // wait for the pipe alone, or this loop would spin once the deadline passed.
            let waitMs: Int32 =
                deadline == .max || group == 0
                ? -1 : Int32(clamping: max(0, (deadline - now + 999_999) / 1_000_000))
            var pollers = [
                pollfd(fd: 0, events: Int16(POLLIN), revents: 0),
                pollfd(fd: childExit, events: Int16(POLLIN), revents: 0),
            ]
            let ready = poll(&pollers, childExit >= 0 ? 2 : 1, waitMs)
            if ready < 0 && errno == EINTR { continue }
            if ready == 0 { continue }  // the deadline check above acts
            if childExit >= 0 && pollers[1].revents != 0 {
                // The command ended; what is left of its group is still guarded.
                reapCommand(group)
                Glibc.close(childExit)
                childExit = -1
            }
            guard pollers[0].revents != 0 else { continue }
            let n = read(0, &buffer, buffer.count)
            if n < 0 && errno == EINTR { continue }
            if n <= 0 {
                if group != 0 {
                    say("the daemon is gone; stopping process group \(group)")
                    stopGroup(group, after: stopAfter)
                }
                if let session, !zkServers.isEmpty { close(session) }
                return 0
            }
            pending += buffer[0..<n]
            while let newline = pending.firstIndex(of: UInt8(ascii: "\n")) {
                let line = String(decoding: pending[..<newline], as: UTF8.self)
                pending.removeSubrange(...newline)
                let parts = line.split(separator: " ")
                switch (parts.first, parts.count) {
                case ("deadline", 2): deadline = Int64(parts[1]) ?? deadline
                case ("session", 4):
                    if let id = Int64(parts[1]), let ms = Int64(parts[3]) {
                        session = (id, Self.bytes(hex: parts[2]), .milliseconds(ms))
                    }
                case ("start", _) where !command.isEmpty && group == 0 && childExit < 0:
                    for entry in parts.dropFirst() {
                        let key = entry.prefix { $0 != "=" }
                        environment.removeAll { $0.hasPrefix(key + "=") }
                        environment.append(String(entry))
                    }
                    switch Self.spawn(command, environment: environment) {
                    case .success(let pid):
                        group = pid
                        childExit = cprocess_pidfd_open(pid)
                        report("started \(pid)")
                    case .failure(let code):
                        report("failed \(code.value)")
                        return 0
                    }
                case ("done", _): return 0
                default: continue
                }
            }
        }
    }

    /// Starts the command as our child (see `cprocess_spawn_guarded`).
    static func spawn(_ command: [String], environment: [String]) -> Result<pid_t, Errno> {
        let argv = command.map { strdup($0) } + [nil]
        defer { for pointer in argv { free(pointer) } }
        let envp = environment.map { strdup($0) } + [nil]
        defer { for pointer in envp { free(pointer) } }
        var code: Int32 = 0
        let pid = cprocess_spawn_guarded(command[0], argv, envp, &code)
        return pid > 0 ? .success(pid) : .failure(Errno(code))
    }

    /// The entries the daemon wrote to `fd` (closed after), or none.
    static func environment(from fd: Int32) -> [String] {
        guard fd >= 0 else { return [] }
        defer { Glibc.close(fd) }
        var bytes: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = read(fd, &buffer, buffer.count)
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { break }
            bytes += buffer[0..<n]
        }
        return bytes.split(separator: 0).map { String(decoding: $0, as: UTF8.self) }
    }

    /// Collects the command's status, if it has ended, and reports it once.
    private func reapCommand(_ pid: pid_t) {
        var status: Int32 = 0
        guard pid != 0, waitpid(pid, &status, WNOHANG) == pid else { return }
        report("exited \(status)")
    }

    /// A line to the daemon; nothing when there is no report pipe or nobody reads it.
    private func report(_ line: String) {
        guard reportFD >= 0 else { return }
        _ = (line + "\n").withCString { write(reportFD, $0, strlen($0)) }
    }

    private func stopGroup(_ group: pid_t, after stopTimeout: Duration) {
        kill(-group, SIGTERM)
        let killAt = Spawn.monotonicNanoseconds() + stopTimeout.nanoseconds
        var killed = false
        while Spawn.groupRunning(group) {
            if !killed && Spawn.monotonicNanoseconds() >= killAt {
                kill(-group, SIGKILL)
                killed = true
            }
            // A zombie member that is our child would never go: reap any (the
            // command's own status is reported first).
            reapCommand(group)
            var status: Int32 = 0
            while waitpid(-1, &status, WNOHANG) > 0 {}
            usleep(2_000)
            if killed && Spawn.monotonicNanoseconds() >= killAt + 5_000_000_000 { break }
        }
    }

    /// Closes the dead daemon's session: connects with its id and password and
    /// closes, so that the server deletes its ephemeral znodes now. A session that
    /// already expired, or a server out of reach, leaves it to the expiry.
    private func close(_ session: (id: Int64, password: [UInt8], timeout: Duration)) {
        var quiet = Logger(label: "zookeeper.client")
        quiet.logLevel = .critical
        ZKLogBridge.shared.bootstrap(quiet)
        let servers = zkServers
        let hex = session.id.sessionHex
        let done = DispatchSemaphore(value: 0)
        let outcome = Mutex<String>("not reached")
        Task {
            defer { done.signal() }
            do {
                let zk = try ZKSession(
                    servers: servers, sessionTimeout: session.timeout,
                    resuming: (session.id, session.password), logger: quiet)
                do {
                    try await zk.waitConnected(within: session.timeout / 2)
                    await zk.close()
                    outcome.withLock { $0 = "closed" }
                } catch {
                    await zk.close()
                    outcome.withLock { $0 = "\(error)" }
                }
            } catch {
                outcome.withLock { $0 = "\(error)" }
            }
        }
        done.wait()
        let result = outcome.withLock { $0 }
        if result == "closed" {
            say("closed the daemon's ZooKeeper session \(hex): the next replica leads at once")
        } else {
            say("could not close the daemon's ZooKeeper session \(hex) (\(result)); it ends at its expiry")
        }
    }

    /// The bytes of a hex string; "-" is none.
    package static func bytes<S: StringProtocol>(hex: S) -> [UInt8] {
        let digits = Array(hex.utf8)
        guard digits.count % 2 == 0 else { return [] }
        return stride(from: 0, to: digits.count, by: 2).compactMap {
            UInt8(String(decoding: digits[$0..<$0 + 2], as: UTF8.self), radix: 16)
        }
    }

    private func say(_ text: String) {
        let line = "election watchdog: \(text)\n"
        _ = line.withCString { write(2, $0, strlen($0)) }
    }
}
