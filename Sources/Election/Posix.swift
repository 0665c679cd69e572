#if canImport(Glibc)
    import Glibc
#endif

/// The few POSIX file steps the durable writes share.
enum Posix {
    /// Writes all of `bytes`, retrying short writes and EINTR; false on an error (errno set).
    static func writeAll(_ fd: Int32, _ bytes: [UInt8]) -> Bool {
        bytes.withUnsafeBytes { buffer in
            var offset = 0
            while offset < buffer.count {
                let n = write(fd, buffer.baseAddress! + offset, buffer.count - offset)
                if n < 0 {
                    if errno == EINTR { continue }
                    return false
                }
                offset += n
            }
            return true
        }
    }

    /// fsyncs a directory so that renames and unlinks in it survive a crash.
    static func syncDirectory(_ path: String) -> Bool {
        let fd = open(path.isEmpty ? "." : path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        return fsync(fd) == 0
    }
}

extension Int64 {
    /// A session id as ZooKeeper prints it: `0x1000020d6de0001`.
    public var sessionHex: String { "0x" + sessionHexDigits }
    /// The same digits without the `0x`, as candidate names and the state file hold them.
    public var sessionHexDigits: String { String(UInt64(bitPattern: self), radix: 16) }
}

/// An errno value in words, as a person reads it ("No such file or directory").
public func errnoText(_ code: Int32) -> String { String(cString: strerror(code)) }

/// Finds what `election run -- CMD` will start, as posix_spawnp searches, so that a
/// command that cannot run is refused at start-up instead of on every term.
public enum CommandLookup {
    /// The search path posix_spawnp uses when PATH is unset (glibc's default).
    static let defaultPath = "/bin:/usr/bin"

    /// Nil when `name` names an executable regular file (directly, with a `/`, or
    /// through `path`); otherwise why it cannot run.
    public static func problem(_ name: String, path: String?) -> String? {
        guard !name.isEmpty else { return "the command is empty" }
        if name.contains("/") { return fileProblem(name) }
        let directories = (path ?? defaultPath).split(separator: ":", omittingEmptySubsequences: false)
        var denied: String?
        for directory in directories {
            let candidate = (directory.isEmpty ? "." : String(directory)) + "/" + name
            switch fileProblem(candidate) {
            case nil: return nil
            case let reason? where access(candidate, F_OK) == 0: denied = denied ?? "\(candidate): \(reason)"
            default: continue
            }
        }
        return denied ?? "\(name): not found in PATH (\(path ?? defaultPath))"
    }

    private static func fileProblem(_ path: String) -> String? {
        var info = stat()
        guard stat(path, &info) == 0 else { return "\(path): \(errnoText(errno))" }
        guard (info.st_mode & S_IFMT) == S_IFREG else { return "\(path): not a regular file" }
        guard access(path, X_OK) == 0 else { return "\(path): \(errnoText(errno))" }
        return nil
    }
}
