#if canImport(Glibc)
    import Glibc
#endif

/// Remembers the current ZooKeeper session (id and password) so that a replica
/// restarted after a crash (systemd `Restart=`, a container restart) resumes it
/// instead of waiting for it to expire: its candidate znode, and its leadership,
/// survive the restart.
///
/// Guarded by an exclusive `flock` on `<path>.lock`, held for the life of the
/// process. A process that cannot take it must not resume: the holder is alive (only
/// paused, perhaps) and still owns the session. The lock sits on a file of its own
/// because the state itself is replaced by rename, which would orphan a lock on it.
///
/// It holds a password, so nothing of it is opened through a link, its temporary
/// file is created exclusively, and a state file is believed only when it is this
/// process's user's own, not readable by others, and records this replica: a file
/// planted in a shared directory never hands its session to the daemon, and the
/// daemon never writes its password into somebody else's file.
public final class SessionStateFile: Sendable {
    public let path: String
    /// The replica it belongs to, recorded in the file and checked when loading.
    public let replica: String
    /// The locked descriptor. The command's watchdog inherits it, so that the lock
    /// outlives a crashed daemon until its command is gone: a daemon restarted at
    /// once resumes the session only then, and never runs its command beside the
    /// old one.
    public let lockDescriptor: Int32

    public enum Opening: Sendable {
        case locked(SessionStateFile)
        /// Another live process holds the lock.
        case busy
        case failed(String)
    }

    private init(path: String, replica: String, lockDescriptor: Int32) {
        self.path = path
        self.replica = replica
        self.lockDescriptor = lockDescriptor
    }

    deinit { close(lockDescriptor) }

    public static func open(_ path: String, replica: String) -> Opening {
        let fd = Glibc.open(path + ".lock", O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0o600)
        guard fd >= 0 else { return .failed("cannot open \(path).lock: \(errnoText(errno))") }
        if let problem = foreign(fd) {
            close(fd)
            return .failed("\(path).lock \(problem)")
        }
        guard flock(fd, LOCK_EX | LOCK_NB) == 0 else {
            let code = errno
            close(fd)
            if code == EWOULDBLOCK { return .busy }
            return .failed("cannot lock \(path).lock: \(errnoText(code))")
        }
        return .locked(SessionStateFile(path: path, replica: replica, lockDescriptor: fd))
    }

    /// Why the file open at `fd` is not to be trusted: not a regular file, not this
    /// process's user's, or open to group or others. Nil when it is ours alone.
    static func foreign(_ fd: Int32) -> String? {
        var info = stat()
        guard fstat(fd, &info) == 0 else { return "cannot be examined: \(errnoText(errno))" }
        guard (info.st_mode & S_IFMT) == S_IFREG else { return "is not a regular file" }
        guard info.st_uid == geteuid() else {
            return "belongs to uid \(info.st_uid), not to this process's \(geteuid())"
        }
        guard info.st_mode & 0o077 == 0 else {
            return "is open to group or others (mode \(String(info.st_mode & 0o777, radix: 8)))"
        }
        return nil
    }

    /// What the state file holds.
    public enum Loaded: Equatable, Sendable {
        /// Nothing to resume.
        case none
        case session(id: Int64, password: [UInt8])
        /// A file that must not be believed, and why (said once, at error level).
        case refused(String)
    }

    /// The saved session, if any, well-formed, ours and this replica's.
    public func load() -> Loaded {
        let fd = Glibc.open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)
        guard fd >= 0 else {
            return errno == ENOENT ? .none : .refused("\(path): cannot be opened: \(errnoText(errno))")
        }
        defer { close(fd) }
        if let problem = Self.foreign(fd) { return .refused("\(path) \(problem)") }
        guard let bytes = FileStore.contents(reading: fd), let saved = Self.parse(bytes) else {
            return .none
        }
        guard saved.replica == replica else {
            return .refused("\(path) records replica '\(saved.replica ?? "")', not '\(replica)'")
        }
        return .session(id: saved.id, password: saved.password)
    }

    /// A state file's bytes as the session they record (and the replica, when
    /// recorded); nil when malformed.
    public static func parse(_ bytes: [UInt8]) -> (id: Int64, password: [UInt8], replica: String?)? {
        guard let object = JSONValue.parseObject(bytes),
            case .string(let idText)? = object["session"], case .string(let passwordText)? = object["password"],
            let id = UInt64(idText, radix: 16), passwordText.count % 2 == 0
        else { return nil }
        var replica: String?
        if case .string(let name)? = object["replica"] { replica = name }
        var password: [UInt8] = []
        var index = passwordText.startIndex
        while index < passwordText.endIndex {
            let next = passwordText.index(index, offsetBy: 2)
            guard let byte = UInt8(passwordText[index..<next], radix: 16) else { return nil }
            password.append(byte)
            index = next
        }
        return (Int64(bitPattern: id), password, replica)
    }

    /// Saves atomically (temporary file, fsync, rename, directory fsync), mode 0600:
    /// the password lets anyone who reads it act as this replica.
    public func save(id: Int64, password: [UInt8]) throws(FileStoreError) {
        let hex = password.map { byte in
            let digits = String(byte, radix: 16)
            return digits.count == 1 ? "0" + digits : digits
        }.joined()
        let text =
            JSONValue.object([
                ("password", .string(hex)), ("replica", .string(replica)), ("session", .string(id.sessionHexDigits)),
            ])
            .text + "\n"
        let temp = path + ".new"
        // Our own name: whatever is there (a crash's leftover, or something planted)
        // goes, and the file is created anew, never opened through a link.
        unlink(temp)
        let fd = Glibc.open(temp, O_CREAT | O_EXCL | O_NOFOLLOW | O_WRONLY | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw failure("create", temp) }
        guard Posix.writeAll(fd, Array(text.utf8)), fchmod(fd, 0o600) == 0, fsync(fd) == 0 else {
            let error = failure("write", temp)
            close(fd)
            unlink(temp)
            throw error
        }
        close(fd)
        guard rename(temp, path) == 0 else {
            let error = failure("rename", path)
            unlink(temp)
            throw error
        }
        let directory = path.split(separator: "/", omittingEmptySubsequences: false).dropLast().joined(separator: "/")
        _ = Posix.syncDirectory(path.hasPrefix("/") && directory.isEmpty ? "/" : directory)
    }

    /// Forgets the session (after a graceful stop closed it).
    public func clear() { unlink(path) }

    private func failure(_ operation: String, _ file: String) -> FileStoreError {
        FileStoreError(kind: .io(errno: errno), operation: operation, path: file)
    }
}
