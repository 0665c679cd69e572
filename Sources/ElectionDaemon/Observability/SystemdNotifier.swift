import Election
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// The sd_notify protocol, spoken directly (no libsystemd): one datagram per
/// message to the unix socket named by NOTIFY_SOCKET. READY=1 when the first Init
/// ends, whether it reached the election or a fault (a ZooKeeper that is away is a
/// state the unit is in, shown by STATUS=, not a start that never ends:
/// `systemctl start` used to hang "activating" for as long as ZooKeeper was away;
/// what cannot heal exits 64 instead). STATUS= on every transition, STOPPING=1 when stopping, and
/// WATCHDOG=1 every half WATCHDOG_USEC while the state loop is alive (see
/// `StatusSnapshot.isAlive`), so a wedged loop gets restarted by systemd.
final class SystemdNotifier: ElectionObserver {
    private let fd: Int32
    private let address: sockaddr_un
    private let length: socklen_t
    private let readySent = Atomic(false)
    /// Half of WATCHDOG_USEC, when systemd asked this process for keep-alives.
    let keepAliveInterval: Duration?

    /// Nil when not started by systemd with Type=notify (no NOTIFY_SOCKET).
    init?(environment: [String: String]) {
        guard let path = environment["NOTIFY_SOCKET"], !path.isEmpty, path.utf8.count < 108 else { return nil }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        var bytes = Array(path.utf8)
        if bytes.first == UInt8(ascii: "@") { bytes[0] = 0 }  // the abstract namespace
        withUnsafeMutableBytes(of: &address.sun_path) { buffer in
            for (i, byte) in bytes.enumerated() { buffer[i] = byte }
        }
        let fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { return nil }
        self.fd = fd
        self.address = address
        self.length = socklen_t(MemoryLayout<sa_family_t>.size + bytes.count)
        var interval: Duration?
        if let text = environment["WATCHDOG_USEC"], let usec = Int64(text), usec > 0 {
            let forUs = environment["WATCHDOG_PID"].map { Int32($0) == getpid() } ?? true
            if forUs { interval = .microseconds(usec) / 2 }
        }
        keepAliveInterval = interval
    }

    deinit { close(fd) }

    /// Sends one message (several `KEY=value` lines); failures are ignored, as
    /// sd_notify's are.
    func send(_ message: String) {
        var address = self.address
        let bytes = Array(message.utf8)
        _ = withUnsafePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { socketAddress in
                bytes.withUnsafeBytes {
                    sendto(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL), socketAddress, length)
                }
            }
        }
    }

    func transitioned(from: StateName, to: StateName, reason: TransitionReason, token: Int64?) {
        var lines: [String] = []
        if to == .stopping { lines.append("STOPPING=1") }
        if from == .initializing && !readySent.exchange(true, ordering: .relaxed) {
            lines.append("READY=1")
        }
        var status = to.rawValue
        if let token { status += ", fencing token \(token)" }
        if to == .failover { status += " (\(reason.code.rawValue))" }
        lines.append("STATUS=" + status)
        send(lines.joined(separator: "\n"))
    }

    /// Sends WATCHDOG=1 every `keepAliveInterval` while `alive()` says so; returns
    /// when the task is cancelled.
    func keepAlive(_ alive: @escaping @Sendable () -> Bool) async {
        guard let interval = keepAliveInterval else { return }
        while !Task.isCancelled {
            if alive() { send("WATCHDOG=1") }
            try? await Task.sleep(for: interval)
        }
    }
}
