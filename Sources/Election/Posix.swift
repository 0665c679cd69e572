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
    /// A session id as ZooKeeper prints it, without the `0x`.
    public var sessionHex: String { String(UInt64(bitPattern: self), radix: 16) }
}
