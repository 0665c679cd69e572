import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// One election file's name: `election-<token>-<counter>.json`, both numbers
/// zero-padded so that names sort in write order across leaders.
public struct ElectionFileName: Sendable, Equatable, Comparable {
    public var token: Int64
    public var counter: Int64

    public init(token: Int64, counter: Int64) {
        self.token = token
        self.counter = counter
    }

    static let prefix = "election-"
    static let suffix = ".json"
    static let tempPrefix = ".election-tmp+"
    static let tempSuffix = ".tmp"

    public var name: String { Self.prefix + Self.pad(token, 19) + "-" + Self.pad(counter, 10) + Self.suffix }

    /// Parses a name this store wrote; nil for any other file.
    public init?(parsing name: String) {
        guard name.hasPrefix(Self.prefix), name.hasSuffix(Self.suffix) else { return nil }
        let middle = name.dropFirst(Self.prefix.count).dropLast(Self.suffix.count)
        let parts = middle.split(separator: "-", omittingEmptySubsequences: false)
        guard parts.count == 2, parts[0].count == 19, parts[1].count == 10,
            parts.allSatisfy({ $0.allSatisfy { $0.isASCII && $0.isNumber } }),
            let token = Int64(parts[0]), let counter = Int64(parts[1])
        else { return nil }
        self.init(token: token, counter: counter)
    }

    public static func < (a: Self, b: Self) -> Bool { (a.token, a.counter) < (b.token, b.counter) }

    static func pad(_ value: Int64, _ width: Int) -> String {
        let digits = String(value)
        return String(repeating: "0", count: max(0, width - digits.count)) + digits
    }

    /// True for this store's temporary files (left behind only by a crash).
    static func isTemporary(_ name: String) -> Bool {
        name.hasPrefix(tempPrefix) && name.hasSuffix(tempSuffix)
    }
}

/// A file-dir problem, with the path and the system's reason.
public struct FileStoreError: Error, Equatable, CustomStringConvertible, Sendable {
    public enum Kind: Sendable, Equatable {
        case io(errno: Int32)
        case notADirectory
        /// A file of a higher fencing token is already in the directory: this leader is stale.
        case higherToken(Int64)
        /// The leader lost its right to write between preparing and committing the file.
        case notPermitted
    }
    public var kind: Kind
    public var operation: String
    public var path: String

    public var description: String {
        switch kind {
        case .io(let code):
            return "cannot \(operation) \(path): \(errnoText(code)) (\(Setting.fileDir.environmentVariable))"
        case .notADirectory:
            return "\(path) is not a directory (\(Setting.fileDir.environmentVariable))"
        case .higherToken(let token):
            return "\(path) holds a file of fencing token \(token), newer than ours: refusing to write"
        case .notPermitted:
            return "leadership could not be confirmed before committing the file in \(path)"
        }
    }
}

/// The leader's output directory: atomic, durable writes, bounded count, foreign
/// files untouched.
public final class FileStore: Sendable {
    public let directory: String
    public let capacity: Int
    /// Names this replica's temporary files, so that in a shared directory it never
    /// removes another replica's file in flight.
    public let replica: String
    /// Another replica's temporary file older than this was left by a crash.
    static let abandonedAfter: Int = 600

    /// Permissions of published election files.
    public let fileMode: mode_t
    /// Names of non-regular entries already reported (each is reported once).
    let foreignReported = Mutex<Set<String>>([])

    /// True the first time `name` is seen as a foreign entry.
    func firstSighting(ofForeign name: String) -> Bool {
        foreignReported.withLock { $0.insert(name).inserted }
    }

    public init(directory: String, capacity: Int, replica: String = "", fileMode: mode_t = 0o640) {
        self.directory = directory
        self.capacity = capacity
        self.replica = replica
        self.fileMode = fileMode
    }

    /// `.election-tmp+<replica>+<what>.tmp`: `+` cannot occur in a replica id.
    func temporaryName(_ what: String) -> String {
        ElectionFileName.tempPrefix + replica + "+" + what + ElectionFileName.tempSuffix
    }

    /// Creates the directory if needed, proves it writable with a probe file, and
    /// removes temporary files a crash left behind: this replica's, and any other's
    /// older than ten minutes. Returns how many were removed.
    @discardableResult
    public func prepare() throws(FileStoreError) -> Int {
        try makeDirectories(directory)
        var info = stat()
        guard stat(directory, &info) == 0 else { throw error("inspect", directory) }
        guard (info.st_mode & S_IFMT) == S_IFDIR else {
            throw FileStoreError(kind: .notADirectory, operation: "use", path: directory)
        }
        let probe = path(temporaryName("probe"))
        unlink(probe)
        let fd = open(probe, O_CREAT | O_EXCL | O_NOFOLLOW | O_WRONLY | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw error("write to", directory) }
        let wrote = Posix.writeAll(fd, Array("probe\n".utf8)) && fsync(fd) == 0
        let savedErrno = errno
        close(fd)
        unlink(probe)
        guard wrote else { throw FileStoreError(kind: .io(errno: savedErrno), operation: "write to", path: directory) }
        var removed = 0
        let mine = ElectionFileName.tempPrefix + replica + "+"
        let now = time(nil)
        for name in try names() where ElectionFileName.isTemporary(name) {
            var info = stat()
            let abandoned = stat(path(name), &info) == 0 && now - info.st_mtim.tv_sec > Self.abandonedAfter
            if name.hasPrefix(mine) || abandoned, unlink(path(name)) == 0 { removed += 1 }
        }
        return removed
    }

    /// The election files present, oldest first: regular files with an election
    /// file's name. A directory, symlink, FIFO or socket with such a name is never
    /// opened, followed, counted or removed; `onForeign` hears of each one.
    public func files(onForeign: (String) -> Void = { _ in }) throws(FileStoreError) -> [ElectionFileName] {
        var result: [ElectionFileName] = []
        for name in try names() {
            guard let file = ElectionFileName(parsing: name) else { continue }
            var info = stat()
            guard lstat(path(name), &info) == 0 else { continue }  // removed meanwhile
            if (info.st_mode & S_IFMT) == S_IFREG {
                result.append(file)
            } else {
                onForeign(name)
            }
        }
        return result.sorted()
    }

    /// The next counter for a leader of `token`: one past the highest already written.
    public func nextCounter(for token: Int64) throws(FileStoreError) -> Int64 {
        (try files().filter { $0.token == token }.map(\.counter).max() ?? 0) + 1
    }

    /// Writes one file atomically and durably, removing the oldest files first so
    /// the count never exceeds capacity. `stillPermitted` is asked just before the
    /// rename that publishes the file; if it says no, nothing is published.
    /// Returns how many old files were removed.
    @discardableResult
    public func write(
        _ file: ElectionFileName, content: [UInt8], onForeign: (String) -> Void = { _ in },
        stillPermitted: () -> Bool = { true }
    ) throws(FileStoreError) -> Int {
        var existing = try files(onForeign: onForeign)
        if let newest = existing.last, newest.token > file.token {
            throw FileStoreError(kind: .higherToken(newest.token), operation: "write", path: directory)
        }
        let temp = path(temporaryName("\(file.token)-\(file.counter)"))
        // Our own name: whatever is there (a crash's leftover, or something planted)
        // goes, and the new file is created, never opened through a link.
        unlink(temp)
        let fd = open(temp, O_CREAT | O_EXCL | O_NOFOLLOW | O_WRONLY | O_CLOEXEC, fileMode)
        guard fd >= 0 else { throw error("create", temp) }
        var failure: FileStoreError?
        // The mode is exact, whatever the umask.
        if fchmod(fd, fileMode) != 0 { failure = error("set the mode of", temp) }
        if failure == nil && !Posix.writeAll(fd, content) { failure = error("write", temp) }
        if failure == nil && fsync(fd) != 0 { failure = error("fsync", temp) }
        close(fd)
        if let failure {
            unlink(temp)
            throw failure
        }
        // A replica that has lost its lease deletes nothing either: checked before
        // room is made, and again just before the rename.
        guard stillPermitted() else {
            unlink(temp)
            throw FileStoreError(kind: .notPermitted, operation: "write", path: directory)
        }
        // Make room first: a reader never counts more than capacity files.
        existing.removeAll { $0 == file }
        var removed = 0
        while existing.count >= capacity {
            let oldest = existing.removeFirst()
            if unlink(path(oldest.name)) != 0 && errno != ENOENT {
                let failed = error("remove", path(oldest.name))
                unlink(temp)
                throw failed
            }
            removed += 1
        }
        guard stillPermitted() else {
            unlink(temp)
            throw FileStoreError(kind: .notPermitted, operation: "write", path: directory)
        }
        guard rename(temp, path(file.name)) == 0 else {
            let failed = error("rename into", directory)
            unlink(temp)
            throw failed
        }
        try syncDirectory()
        return removed
    }

    /// A whole file's bytes; nil when it cannot be read.
    public static func contents(of path: String) -> [UInt8]? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        return contents(reading: fd)
    }

    /// The rest of an open file's bytes; nil on a read error.
    static func contents(reading fd: Int32) -> [UInt8]? {
        var result: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = read(fd, &buffer, buffer.count)
            if n < 0 && errno == EINTR { continue }
            if n < 0 { return nil }
            if n == 0 { return result }
            result += buffer[0..<n]
        }
    }

    private func syncDirectory() throws(FileStoreError) {
        guard Posix.syncDirectory(directory) else { throw error("fsync", directory) }
    }

    private func names() throws(FileStoreError) -> [String] {
        guard let dir = opendir(directory) else { throw error("read", directory) }
        defer { closedir(dir) }
        var result: [String] = []
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(cString: raw.bindMemory(to: CChar.self).baseAddress!)
            }
            if name != "." && name != ".." { result.append(name) }
        }
        return result
    }

    private func makeDirectories(_ path: String) throws(FileStoreError) {
        var prefix = path.hasPrefix("/") ? "" : "."
        for component in path.split(separator: "/") {
            prefix += "/" + component
            if mkdir(prefix, 0o750) != 0 && errno != EEXIST { throw error("create directory", prefix) }
        }
    }

    private func path(_ name: String) -> String { directory.hasSuffix("/") ? directory + name : directory + "/" + name }

    private func error(_ operation: String, _ path: String) -> FileStoreError {
        FileStoreError(kind: .io(errno: errno), operation: operation, path: path)
    }
}
