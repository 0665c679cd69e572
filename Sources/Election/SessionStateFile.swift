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
public final class SessionStateFile: Sendable {
    public let path: String
    private let lockDescriptor: Int32

    public enum Opening: Sendable {
        case locked(SessionStateFile)
        /// Another live process holds the lock.
        case busy
        case failed(String)
    }

    private init(path: String, lockDescriptor: Int32) {
        self.path = path
        self.lockDescriptor = lockDescriptor
    }

    deinit { close(lockDescriptor) }

    public static func open(_ path: String) -> Opening {
        let fd = Glibc.open(path + ".lock", O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard fd >= 0 else { return .failed("cannot open \(path).lock: \(errnoText(errno))") }
        guard flock(fd, LOCK_EX | LOCK_NB) == 0 else {
            let code = errno
            close(fd)
            if code == EWOULDBLOCK { return .busy }
            return .failed("cannot lock \(path).lock: \(errnoText(code))")
        }
        return .locked(SessionStateFile(path: path, lockDescriptor: fd))
    }

    /// The saved session, if any and well-formed.
    public func load() -> (id: Int64, password: [UInt8])? {
        FileStore.contents(of: path).flatMap(Self.parse)
    }

    /// A state file's bytes as the session they record; nil when malformed.
    public static func parse(_ bytes: [UInt8]) -> (id: Int64, password: [UInt8])? {
        guard let object = JSONValue.parseObject(bytes),
            case .string(let idText)? = object["session"], case .string(let passwordText)? = object["password"],
            let id = UInt64(idText, radix: 16), passwordText.count % 2 == 0
        else { return nil }
        var password: [UInt8] = []
        var index = passwordText.startIndex
        while index < passwordText.endIndex {
            let next = passwordText.index(index, offsetBy: 2)
            guard let byte = UInt8(passwordText[index..<next], radix: 16) else { return nil }
            password.append(byte)
            index = next
        }
        return (Int64(bitPattern: id), password)
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
                ("password", .string(hex)), ("session", .string(id.sessionHex)),
            ])
            .text + "\n"
        let temp = path + ".new"
        let fd = Glibc.open(temp, O_CREAT | O_TRUNC | O_WRONLY | O_CLOEXEC, 0o600)
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
