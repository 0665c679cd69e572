import CProcess
import Dispatch
import Election
import ZooKeeper

#if canImport(Glibc)
    import Glibc
#endif

/// An errno value, as an error.
struct Errno: Error {
    let value: Int32
    init(_ value: Int32) { self.value = value }
}

/// posix_spawn and the little process arithmetic the supervisor and watchdog share.
enum Spawn {
    /// Starts `arguments`; nil on failure (errno set). `newGroup`: in a process group
    /// of its own (its pid). stdin is `stdinFD` or /dev/null; stdout and stderr are
    /// inherited; every other descriptor is closed in the child.
    static func run(
        _ arguments: [String], environment: [String: String]? = nil, stdinFD: Int32? = nil, outputFD: Int32? = nil,
        inheritedFDs: [Int32] = [],
        newGroup: Bool, searchPath: Bool = false
    ) -> pid_t? {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        if let stdinFD {
            posix_spawn_file_actions_adddup2(&actions, stdinFD, 0)
        } else {
            posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        }
        if let outputFD {
            posix_spawn_file_actions_adddup2(&actions, outputFD, 1)
            posix_spawn_file_actions_adddup2(&actions, outputFD, 2)
        }
        // `inheritedFDs` become descriptors 3, 4, … of the child (dup2 clears
        // close-on-exec). Copied above 63 first, so that no source is overwritten by
        // an earlier target.
        let sources = inheritedFDs.map { fcntl($0, F_DUPFD_CLOEXEC, 64) }
        defer { for source in sources where source >= 0 { close(source) } }
        for (index, source) in sources.enumerated() {
            posix_spawn_file_actions_adddup2(&actions, source, Int32(3 + index))
        }
        cprocess_addclosefrom(&actions, Int32(3 + sources.count))
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var flags = Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF)
        if newGroup {
            flags |= Int16(POSIX_SPAWN_SETPGROUP)
            posix_spawnattr_setpgroup(&attributes, 0)
        }
        posix_spawnattr_setflags(&attributes, flags)
        // The daemon ignores several signals through Dispatch; the child starts with defaults.
        var none = sigset_t()
        sigemptyset(&none)
        posix_spawnattr_setsigmask(&attributes, &none)
        var defaults = sigset_t()
        sigfillset(&defaults)
        sigdelset(&defaults, SIGKILL)
        sigdelset(&defaults, SIGSTOP)
        posix_spawnattr_setsigdefault(&attributes, &defaults)

        let argv = arguments.map { strdup($0) } + [nil]
        defer { for pointer in argv { free(pointer) } }
        let envStrings = (environment ?? currentEnvironment()).map { "\($0.key)=\($0.value)" }
        let envp = envStrings.map { strdup($0) } + [nil]
        defer { for pointer in envp { free(pointer) } }
        var pid: pid_t = 0
        let rc =
            searchPath
            ? posix_spawnp(&pid, arguments[0], &actions, &attributes, argv, envp)
            : posix_spawn(&pid, arguments[0], &actions, &attributes, argv, envp)
        guard rc == 0 else {
            errno = rc
            return nil
        }
        return pid
    }

    /// What the user's command and hooks inherit: the daemon's environment without
    /// its plumbing. systemd's NOTIFY_SOCKET and WATCHDOG_* would let the command speak
    /// for the daemon, and the daemon's own ELECTION_* settings are not the command's;
    /// the caller adds the documented ELECTION_* variables.
    static func userEnvironment() -> [String: String] {
        currentEnvironment().filter { key, _ in
            !key.hasPrefix("ELECTION_") && !["NOTIFY_SOCKET", "WATCHDOG_PID", "WATCHDOG_USEC"].contains(key)
        }
    }

    /// True when `pid` is stopped (SIGSTOP) or traced: `T` or `t` in /proc/PID/stat.
    static func isStopped(_ pid: pid_t) -> Bool {
        guard let stat = FileStore.contents(of: "/proc/\(pid)/stat"), let close = stat.lastIndex(of: UInt8(ascii: ")")),
            let state = stat[(close + 1)...].first(where: { $0 != UInt8(ascii: " ") })
        else { return false }
        return state == UInt8(ascii: "T") || state == UInt8(ascii: "t")
    }

    /// The shell's convention: the exit status, or 128 + the signal that ended it.
    static func exitCode(_ status: Int32) -> Int32 {
        let signal = status & 0x7f
        return signal == 0 ? (status >> 8) & 0xff : 128 + signal
    }

    /// True once no process of `group` is left running. Members that are our own
    /// children are reaped here (as PID 1 in a container, orphans are ours too), but
    /// only after the command's own status was collected by its waiter.
    static func groupGone(_ group: pid_t, reapingAfter exit: OneShot<Int32>) -> Bool {
        if exit.value != nil {
            var status: Int32 = 0
            while waitpid(-group, &status, WNOHANG) > 0 {}
        }
        return !groupRunning(group)
    }

    /// True while a process of `group` is alive and not a zombie. An orphaned member
    /// that has exited stays a zombie until its new parent (init) reaps it, which
    /// can take seconds; it runs nothing, so it does not count.
    static func groupRunning(_ group: pid_t) -> Bool {
        guard kill(-group, 0) == 0 || errno != ESRCH else { return false }
        guard let proc = opendir("/proc") else { return true }
        defer { closedir(proc) }
        while let entry = readdir(proc) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(cString: raw.bindMemory(to: CChar.self).baseAddress!)
            }
            guard let pid = Int32(name), let stat = FileStore.contents(of: "/proc/\(pid)/stat"),
                let close = stat.lastIndex(of: UInt8(ascii: ")"))
            else { continue }
            // After "pid (comm) ": state, ppid, pgrp.
            let fields = stat[(close + 1)...].split(separator: UInt8(ascii: " "))
            guard fields.count >= 3, let pgrp = Int32(String(decoding: fields[2], as: UTF8.self)) else { continue }
            let state = fields[0].first ?? 0
            if pgrp == group && state != UInt8(ascii: "Z") && state != UInt8(ascii: "X") { return true }
        }
        return false
    }

    /// Runs `body` on a thread of its own, for a wait that blocks (waitpid, a pipe's
    /// read). Not on Dispatch's workers: they also run the election's tasks, and on
    /// two cores two blocked workers stalled a new leader for up to a second, until
    /// libdispatch added a thread (measured by the clock-rate test).
    static func onOwnThread(_ body: @escaping @Sendable () -> Void) {
        final class Work: Sendable {
            let body: @Sendable () -> Void
            init(_ body: @escaping @Sendable () -> Void) { self.body = body }
        }
        let context = Unmanaged.passRetained(Work(body)).toOpaque()
        var attributes = pthread_attr_t()
        pthread_attr_init(&attributes)
        defer { pthread_attr_destroy(&attributes) }
        pthread_attr_setdetachstate(&attributes, Int32(PTHREAD_CREATE_DETACHED))
        pthread_attr_setstacksize(&attributes, 256 * 1024)
        var thread = pthread_t()
        let rc = pthread_create(
            &thread, &attributes,
            { context in
                // Named, so that a thread dump tells it from Dispatch's workers (a new
                // thread inherits its creator's name).
                cprocess_name_thread("election-wait")
                Unmanaged<Work>.fromOpaque(context!).takeRetainedValue().body()
                return nil
            }, context)
        if rc != 0 {
            // No thread to be had: a worker then, rather than never.
            let run = Unmanaged<Work>.fromOpaque(context).takeRetainedValue().body
            DispatchQueue.global().async { run() }
        }
    }

    /// The system-wide monotonic clock, which the watchdog reads too.
    static func monotonicNanoseconds() -> Int64 {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Int64(ts.tv_sec) * 1_000_000_000 + Int64(ts.tv_nsec)
    }
}
