import CProcess
import Dispatch
import Election
import Logging
import Synchronization
import ZooKeeper

#if canImport(Glibc)
    import Glibc
#endif

/// Runs the user's command while this replica leads (`election run -- CMD`).
///
/// The command gets a process group of its own, so that stopping it reaches its
/// children too. A small watchdog process (`election watchdog`, this binary again)
/// is fed, through a pipe, the absolute deadline on the system-wide monotonic
/// clock until which the leadership is proven; when the deadline passes unextended
/// (this process is paused or wedged) or the pipe closes (this process died), the
/// watchdog stops the group by itself: it needs nothing from this process. See
/// docs/design.md, "The supervised command".
///
/// The watchdog also guards the session: it is told the session's id and password,
/// and when this process dies it closes the session (after the command's group is
/// gone), so that the server deletes our znode at once and the next replica leads
/// within milliseconds instead of after the session timeout. A leader without a
/// command runs the watchdog for that alone (`guardSession`).
final class Supervisor: SupervisedCommand {
    struct Settings: Sendable {
        /// Empty: no command; the watchdog then only guards the session.
        var command: [String]
        var stopTimeout: Duration
        /// The connect string the watchdog closes the session through.
        var servers: String
        var fileDir: String
        var replica: String
        /// The state file's lock, handed to the watchdog (see `SessionStateFile.lockDescriptor`).
        var stateFileLock: @Sendable () -> Int32? = { nil }
    }

    private struct Running {
        /// The command's pid (its process group); nil: the watchdog guards the session only.
        var pid: pid_t?
        var watchdog: pid_t
        /// The write end of the watchdog's pipe (close-on-exec: no child inherits it;
        /// non-blocking: a watchdog that does not read can never hang the election).
        var feed: Int32
        var exit: OneShot<Int32>
        /// Fires with the watchdog's wait status when it has exited (reaped here).
        var watchdogExit: OneShot<Int32>
        /// The watchdog ended because the lease lapsed: said once already.
        var lapsed = false
    }

    let settings: Settings
    private let logger: Logger
    private let running = Mutex<Running?>(nil)
    /// The status of the last command that ended by itself, for `--on-exit exit`.
    let lastExit = Mutex<Int32?>(nil)
    /// The running command's end was imposed on it (see `exitWasImposed`).
    private let imposed = Mutex(false)

    func exitWasImposed() -> Bool { imposed.withLock { $0 } }

    init(_ settings: Settings, logger: Logger) {
        self.settings = settings
        self.logger = logger
    }

    var isConfigured: Bool { !settings.command.isEmpty }
    var stopTimeout: Duration? { isConfigured ? settings.stopTimeout : nil }

    /// The watchdog, started with its pipe: (pid, write end, exit), or the errno.
    /// With a command, the watchdog starts it (in `environment`) and reports on
    /// `reportFD` (see `Watchdog`).
    private func spawnWatchdog(environmentFD: Int32? = nil, reportFD: Int32? = nil) -> Result<
        (pid: pid_t, feed: Int32, exit: OneShot<Int32>), Errno
    > {
        var pipeEnds: [Int32] = [0, 0]
        guard cprocess_pipe_cloexec(&pipeEnds) == 0 else { return .failure(Errno(errno)) }
        // The state file's lock becomes descriptor 3, then the report pipe and the
        // command's environment.
        let lock = settings.stateFileLock()
        let inherited = [lock, reportFD, environmentFD].compactMap { $0 }
        var watchdogArguments = [
            "/proc/self/exe", "watchdog", "--stop-timeout", DurationParser.format(settings.stopTimeout),
            "--zk-servers", settings.servers,
        ]
        if reportFD != nil, environmentFD != nil {
            let first: Int32 = lock == nil ? 3 : 4
            watchdogArguments +=
                ["--report-fd", "\(first)", "--environment-fd", "\(first + 1)", "--"] + settings.command
        }
        guard
            let watchdog = Spawn.run(
                watchdogArguments, stdinFD: pipeEnds[0], inheritedFDs: inherited, newGroup: true)
        else {
            let code = errno
            close(pipeEnds[0])
            close(pipeEnds[1])
            return .failure(Errno(code))
        }
        close(pipeEnds[0])
        _ = fcntl(pipeEnds[1], F_SETFL, fcntl(pipeEnds[1], F_GETFL) | O_NONBLOCK)
        let watchdogExit = OneShot<Int32>()
        Spawn.onOwnThread {
            var status: Int32 = 0
            while waitpid(watchdog, &status, 0) < 0 && errno == EINTR {}
            watchdogExit.fire(status)
        }
        return .success((watchdog, pipeEnds[1], watchdogExit))
    }

    /// The line that tells the watchdog which session to close if this process dies.
    private static func sessionLine(_ grant: LeaderGrant) -> String {
        let password = grant.session.password.map { byte in
            let digits = String(byte, radix: 16)
            return digits.count == 1 ? "0" + digits : digits
        }.joined()
        return "session \(grant.session.sessionID) \(password.isEmpty ? "-" : password) "
            + "\(grant.session.health.negotiatedTimeout.milliseconds)\n"
    }

    func guardSession(_ grant: LeaderGrant) async {
        guard !isConfigured, running.withLock({ $0 }) == nil else { return }
        switch spawnWatchdog() {
        case .failure(let code):
            logger.warning(
                "cannot start the session's guardian: if this process dies, the next replica leads only after the session timeout",
                metadata: ["error": "\(errnoText(code.value))"])
        case .success(let (watchdog, feed, watchdogExit)):
            running.withLock {
                $0 = Running(pid: nil, watchdog: watchdog, feed: feed, exit: OneShot(), watchdogExit: watchdogExit)
            }
            Task { [self] in
                _ = await watchdogExit.next()
                unguarded(watchdog, "the session's guardian exited")
            }
            self.feed(Self.sessionLine(grant))
        }
    }

    /// A command's watchdog started ahead of the term (see `prepare`), waiting for
    /// `start`.
    private struct Spare {
        var watchdog: pid_t
        var feed: Int32
        var watchdogExit: OneShot<Int32>
        var reports: WatchdogReports
    }
    private let spare = Mutex<Spare?>(nil)

    /// Starts the command's watchdog before this replica leads, so that a handover
    /// waits only for its fork of the command, not for a process of this binary to
    /// start up. A spare that dies is forgotten; `start` then starts one itself.
    func prepare() async {
        guard isConfigured, running.withLock({ $0 }) == nil, spare.withLock({ $0 }) == nil else { return }
        guard case .success(let ready) = spawnCommandWatchdog() else { return }
        spare.withLock { $0 = ready }
        Task { [self] in
            _ = await ready.watchdogExit.next()
            let forgotten = spare.withLock { current -> Bool in
                guard current?.watchdog == ready.watchdog else { return false }
                current = nil
                return true
            }
            if forgotten { close(ready.feed) }
        }
    }

    /// A watchdog for the command, waiting for `start`: it holds the command's
    /// environment but for what only a term knows (the fencing token, the start).
    private func spawnCommandWatchdog() -> Result<Spare, StartFailure> {
        var environment = Spawn.userEnvironment()
        environment["ELECTION_REPLICA_ID"] = settings.replica
        environment["ELECTION_FILE_DIR"] = settings.fileDir
        var reportEnds: [Int32] = [0, 0]
        guard cprocess_pipe_cloexec(&reportEnds) == 0 else {
            return .failure(StartFailure("no pipe for the command's watchdog", errno))
        }
        // The command's environment, for the watchdog to start it with (not the
        // watchdog's own: only the command carries the fencing token).
        let environmentFD = cprocess_memfd("election-command-environment")
        defer { if environmentFD >= 0 { close(environmentFD) } }
        var block: [UInt8] = []
        for (key, value) in environment {
            block += Array("\(key)=\(value)".utf8)
            block.append(0)
        }
        guard environmentFD >= 0,
            block.withUnsafeBytes({ write(environmentFD, $0.baseAddress, $0.count) }) == block.count,
            lseek(environmentFD, 0, SEEK_SET) == 0
        else {
            let code = errno
            close(reportEnds[0])
            close(reportEnds[1])
            return .failure(StartFailure("cannot pass the command's environment to its watchdog", code))
        }
        switch spawnWatchdog(environmentFD: environmentFD, reportFD: reportEnds[1]) {
        case .failure(let code):
            close(reportEnds[0])
            close(reportEnds[1])
            return .failure(StartFailure("cannot start the command's watchdog", code.value))
        case .success(let (watchdog, feed, watchdogExit)):
            close(reportEnds[1])
            let reports = WatchdogReports(reading: reportEnds[0]) { [self] in imposed.withLock { $0 = true } }
            return .success(Spare(watchdog: watchdog, feed: feed, watchdogExit: watchdogExit, reports: reports))
        }
    }

    private struct StartFailure: Error {
        let what: String
        let code: Int32
        init(_ what: String, _ code: Int32) {
            self.what = what
            self.code = code
        }
    }

    func start(_ grant: LeaderGrant, confirmedAt: ContinuousClock.Instant, sessionTimeout: Duration) async
        -> OneShot<Int32>?
    {
        if let current = running.withLock({ $0 }) { return current.exit }
        imposed.withLock { $0 = false }
        // The watchdog starts the command as its own child, so that the command dies
        // with it (PR_SET_PDEATHSIG): not even a daemon and watchdog killed together
        // leave it running beside the next leader's.
        let ready: Spare
        let taken = spare.withLock { current -> Spare? in
            defer { current = nil }
            return current
        }
        if let taken, taken.watchdogExit.value == nil {
            ready = taken
        } else {
            if let taken { close(taken.feed) }
            switch spawnCommandWatchdog() {
            case .failure(let failure): return failedStart(failure.what, failure.code)
            case .success(let spawned): ready = spawned
            }
        }
        // What the watchdog must know before anything else: the lease's deadline and
        // the session to close if this process dies.
        running.withLock {
            $0 = Running(
                pid: nil, watchdog: ready.watchdog, feed: ready.feed, exit: OneShot(),
                watchdogExit: ready.watchdogExit)
        }
        feed(Self.sessionLine(grant))
        extend(confirmedAt: confirmedAt, sessionTimeout: sessionTimeout)
        // Values with no space in them: a number and a timestamp.
        feed(
            "start ELECTION_FENCING_TOKEN=\(grant.token) "
                + "ELECTION_LEADER_SINCE=\(WallClock.format(millis: grant.sinceMillis))\n")
        let (watchdog, feedFD, watchdogExit) = (ready.watchdog, ready.feed, ready.watchdogExit)
        let reports = ready.reports
        let started = await reports.started.next() ?? 0
        guard started > 0 else {
            // Closed here unless a failed feed gave the watchdog up already.
            let ours = running.withLock { current -> Bool in
                guard current?.watchdog == watchdog else { return false }
                current = nil
                return true
            }
            if ours { close(feedFD) }
            _ = await watchdogExit.next()
            return started < 0
                ? failedStart("cannot start the command", -started)
                : failedStart("the command's watchdog ended before starting the command", EIO)
        }
        let pid = pid_t(started)
        let exit = OneShot<Int32>()
        running.withLock {
            $0 = Running(pid: pid, watchdog: watchdog, feed: feedFD, exit: exit, watchdogExit: watchdogExit)
        }
        // A watchdog that dies while its command runs leaves the command unguarded.
        Task { [self] in
            let status = await watchdogExit.next() ?? 0
            if (status & 0x7f) == 0 && (status >> 8) & 0xff == Watchdog.leaseLapsed {
                // Not a failure: the lease lapsed (a renewal came back too late, or
                // this process was paused) and the watchdog did its job.
                logger.warning(
                    "the lease lapsed before a renewal came back: the watchdog stopped the command",
                    metadata: ["pid": "\(pid)", "watchdog": "\(watchdog)"])
                running.withLock { if $0?.watchdog == watchdog { $0?.lapsed = true } }
                imposed.withLock { $0 = true }
            }
            unguarded(watchdog, "the command's watchdog exited")
        }
        logger.notice(
            "command started", metadata: ["pid": "\(pid)", "token": "\(grant.token)", "command": "\(settings.command)"])
        Task { [logger, self] in
            // The watchdog reaps the command and reports its status; a watchdog that
            // ended first took the command with it (SIGKILL).
            let status = await reports.exited.next() ?? -1
            let code = status < 0 ? 128 + SIGKILL : Spawn.exitCode(status)
            self.lastExit.withLock { $0 = code }
            logger.notice("command exited", metadata: ["pid": "\(pid)", "status": "\(code)"])
            exit.fire(code)
        }
        return exit
    }

    /// A start that failed is an exit of the command, so that `--on-exit` applies
    /// with its backoff: the shell's 127 when nothing was found to run, 126 when it
    /// was found but could not be run. Never a leadership held with nothing running.
    private func failedStart(_ what: String, _ code: Int32) -> OneShot<Int32> {
        let status: Int32 = code == ENOENT ? 127 : 126
        logger.error(
            "\(what): \(errnoText(code))",
            metadata: ["command": "\(settings.command)", "status": "\(status)"])
        lastExit.withLock { $0 = status }
        let exit = OneShot<Int32>()
        exit.fire(status)
        return exit
    }

    func extend(confirmedAt: ContinuousClock.Instant, sessionTimeout: Duration) {
        let deadline = CommandTiming.deadline(
            confirmedAt: confirmedAt, sessionTimeout: sessionTimeout, stopTimeout: settings.stopTimeout)
        let remaining = deadline - .now
        feed("deadline \(Spawn.monotonicNanoseconds() + max(remaining, .zero).nanoseconds)\n")
    }

    func stop(reason: String) async {
        guard let current = running.withLock({ $0 }) else { return }
        guard let group = current.pid else {
            // Guarding the session only: the leadership ends, so does the guard.
            running.withLock { $0 = nil }
            await retire(current)
            return
        }
        logger.notice("stopping the command", metadata: ["pid": "\(group)", "reason": "\(reason)"])
        kill(-group, SIGTERM)
        let started = ContinuousClock.now
        // The command's own exit arrives as an event (its waiter); what else is left
        // of its group is polled after that, briefly.
        let stopTimeout = settings.stopTimeout
        await withTaskGroup(of: Void.self) { waiting in
            waiting.addTask { _ = await current.exit.next() }
            waiting.addTask { try? await Task.sleep(for: stopTimeout) }
            await waiting.next()
            waiting.cancelAll()
        }
        var killed = false
        while !Spawn.groupGone(group, reapingAfter: current.exit) {
            if !killed && ContinuousClock.now - started >= settings.stopTimeout {
                logger.warning(
                    "command still running after the stop timeout; killing its process group",
                    metadata: ["pid": "\(group)", "stop_timeout": "\(DurationParser.format(settings.stopTimeout))"])
                kill(-group, SIGKILL)
                killed = true
            }
            try? await Task.sleep(for: .milliseconds(1))
        }
        _ = await current.exit.next()
        // Retired first, so that the watchdog's exit after `done` is not taken for its death.
        running.withLock { $0 = nil }
        await retire(current)
        logger.info(
            "command stopped", metadata: ["pid": "\(group)", "after": "\(ContinuousClock.now - started)"])
    }

    /// Tells a retired watchdog `done` and waits for it to exit.
    private func retire(_ current: Running) async {
        _ = "done\n".withCString { write(current.feed, $0, strlen($0)) }
        close(current.feed)
        // A watchdog that does not end at `done` (stopped, wedged) is killed: stop never
        // waits on it for ever.
        let ended = await withTaskGroup(of: Bool.self) { waiting in
            waiting.addTask {
                _ = await current.watchdogExit.next(); return true
            }
            waiting.addTask {
                try? await Task.sleep(for: .seconds(1)); return false
            }
            defer { waiting.cancelAll() }
            return await waiting.next() ?? false
        }
        if !ended {
            kill(current.watchdog, SIGKILL)
            _ = await current.watchdogExit.next()
        }
    }

    /// Sends the watchdog a line. A watchdog that is stopped, or whose pipe is full
    /// or broken, can no longer stop the command: the command is killed at once.
    private func feed(_ line: String) {
        guard let current = running.withLock({ $0 }) else { return }
        if Spawn.isStopped(current.watchdog) {
            unguarded(current.watchdog, "the command's watchdog is stopped")
            return
        }
        let bytes = Array(line.utf8)
        let written = write(current.feed, bytes, bytes.count)
        if written != bytes.count {
            let reason = written < 0 ? errnoText(errno) : "a short write"
            unguarded(current.watchdog, "the command's watchdog does not read its pipe (\(reason))")
        }
    }

    /// The command must never run without its watchdog: if the watchdog `watchdog`
    /// of the running command is lost, the command's group is killed at once (its exit
    /// then applies --on-exit) and the watchdog too. Nothing when that command has
    /// already been retired.
    private func unguarded(_ watchdog: pid_t, _ reason: String) {
        guard let current = running.withLock({ $0 }), current.watchdog == watchdog else { return }
        guard let pid = current.pid else {
            // Only the session was guarded: the next renewal starts another guardian.
            running.withLock { $0 = nil }
            kill(watchdog, SIGKILL)
            close(current.feed)
            logger.warning("\(reason); starting another", metadata: ["watchdog": "\(watchdog)"])
            return
        }
        imposed.withLock { $0 = true }
        if !current.lapsed {
            logger.error(
                "\(reason); killing the command's process group: it never runs unguarded",
                metadata: ["pid": "\(pid)", "watchdog": "\(watchdog)"])
        }
        kill(watchdog, SIGKILL)
        kill(-pid, SIGKILL)
    }
}

/// The watchdog's reports on the command it started: `started PID` (or `failed
/// ERRNO`), then `exited STATUS`. Read on a thread of its own until the pipe closes.
final class WatchdogReports: Sendable {
    /// The command's pid; minus the errno when it could not start; 0 when the
    /// watchdog ended first.
    let started = OneShot<Int32>()
    /// The command's wait status; nil-free: -1 when the watchdog ended first.
    let exited = OneShot<Int32>()

    /// `onLapsed`: the watchdog stopped the command at the lease's deadline (said
    /// before the command's exit is reported).
    init(reading fd: Int32, onLapsed: @escaping @Sendable () -> Void) {
        Spawn.onOwnThread { [started, exited] in
            var pending: [UInt8] = []
            var buffer = [UInt8](repeating: 0, count: 256)
            while true {
                let n = read(fd, &buffer, buffer.count)
                if n < 0 && errno == EINTR { continue }
                if n <= 0 { break }
                pending += buffer[0..<n]
                while let newline = pending.firstIndex(of: UInt8(ascii: "\n")) {
                    let parts = String(decoding: pending[..<newline], as: UTF8.self).split(separator: " ")
                    pending.removeSubrange(...newline)
                    guard parts.count == 2, let value = Int32(parts[1]) else { continue }
                    switch parts[0] {
                    case "started": started.fire(value)
                    case "failed": started.fire(-value)
                    case "exited": exited.fire(value)
                    case "lapsed": onLapsed()
                    default: continue
                    }
                }
            }
            close(fd)
            started.fire(0)
            exited.fire(-1)
        }
    }
}
