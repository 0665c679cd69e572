import ZooKeeper

#if canImport(Glibc)
    import Glibc
#endif

/// The daemon's settings, validated; see the README's flags table and docs/design.md.
public struct ElectionConfig: Sendable, Equatable {
    public var zkServers: String
    public var leaderTimeout: Duration
    public var attempterTimeout: Duration
    /// Where the leader writes its files; empty: it writes none (`--file-dir ''`,
    /// for a replica whose work is only its command).
    public var fileDir: String
    public var storageCapacity: Int
    public var sessionTimeout: Duration
    public var electionPath: String
    public var replicaID: String
    /// Where the session is remembered for a resume after a crash; nil: never.
    public var stateFile: String?
    /// Where the HTTP status endpoints listen (`host:port`); nil: off.
    public var httpAddress: HostPort?
    /// Digest credentials from `--zk-auth-file`; nil: no authentication.
    public var zkAuth: ZKAuth?
    /// The ACL of created znodes: `.open` without credentials.
    public var zkACL: ZKACL = .open

    public init(
        zkServers: String, leaderTimeout: Duration, attempterTimeout: Duration, fileDir: String,
        storageCapacity: Int, sessionTimeout: Duration, electionPath: String, replicaID: String,
        stateFile: String? = nil, httpAddress: HostPort? = nil
    ) {
        self.zkServers = zkServers
        self.leaderTimeout = leaderTimeout
        self.attempterTimeout = attempterTimeout
        self.fileDir = fileDir
        self.storageCapacity = storageCapacity
        self.sessionTimeout = sessionTimeout
        self.electionPath = electionPath
        self.replicaID = replicaID
        self.stateFile = stateFile
        self.httpAddress = httpAddress
    }

    /// False with `--file-dir ''`: the leader keeps its lease and runs its command,
    /// and writes no file.
    public var writesFiles: Bool { !fileDir.isEmpty }

    /// The settings, in the order of the README's table.
    public enum Setting: String, CaseIterable, Sendable {
        case zkServers = "zk-servers"
        case leaderTimeout = "leader-timeout"
        case attempterTimeout = "attempter-timeout"
        case fileDir = "file-dir"
        case storageCapacity = "storage-capacity"
        case sessionTimeout = "session-timeout"
        case electionPath = "election-path"
        case replicaID = "replica-id"
        case stateFile = "state-file"
        case httpAddr = "http-addr"
        case zkAuthFile = "zk-auth-file"
        case zkAcl = "zk-acl"
        // `run`'s own settings, resolved by the CLI (not part of `ElectionConfig`).
        case logFormat = "log-format"
        case logLevel = "log-level"
        case execStopTimeout = "exec-stop-timeout"
        case onExit = "on-exit"
        case onTransition = "on-transition"

        public var flag: String { "--" + rawValue }
        /// How a message names it: the flag and its variable, `--file-dir (ELECTION_FILE_DIR)`.
        public var spelled: String { "\(flag) (\(environmentVariable))" }
        /// `ELECTION_` + the flag name upper-cased, `-` → `_`.
        public var environmentVariable: String { Self.environmentVariable(for: rawValue) }

        public static func environmentVariable(for name: String) -> String {
            "ELECTION_" + name.uppercased().replacingAll("-", with: "_")
        }

        /// The default, or nil when the setting is required.
        public var defaultValue: String? {
            switch self {
            case .zkServers: return nil
            case .leaderTimeout, .attempterTimeout, .sessionTimeout: return "10s"
            case .fileDir: return "/tmp/election"
            case .storageCapacity: return "10"
            case .electionPath: return "/election"
            case .replicaID: return nil  // the host name, filled in by the caller
            case .stateFile: return nil  // <$STATE_DIRECTORY or file-dir>/.election-session-<replica-id>
            case .httpAddr: return nil  // off
            case .zkAuthFile: return nil  // no authentication
            case .zkAcl: return "private"
            case .logFormat: return "text"
            case .logLevel: return "info"
            case .execStopTimeout: return "3s"
            case .onExit: return "resign"
            case .onTransition: return nil  // no hook
            }
        }
    }

    /// Resolves each setting from the flag, else the environment, else the default,
    /// and validates them all. Throws on the first invalid value.
    public static func resolve(
        flags: [Setting: String], environment: [String: String], hostName: String
    ) throws(ConfigError) -> ElectionConfig {
        func raw(_ setting: Setting) -> String? {
            flags[setting] ?? environment[setting.environmentVariable] ?? setting.defaultValue
        }
        func required(_ setting: Setting) throws(ConfigError) -> String {
            guard let value = raw(setting) else { throw ConfigError(setting, "is required") }
            return value
        }
        func duration(_ setting: Setting) throws(ConfigError) -> Duration {
            let text = try required(setting)
            guard let value = DurationParser.parse(text) else {
                if text.hasPrefix("-") { throw ConfigError(setting, "'\(text)' must be greater than zero") }
                throw ConfigError(setting, "'\(text)' is not a duration (use ms, s, m, h, e.g. 1m30s)")
            }
            guard value > .zero else { throw ConfigError(setting, "'\(text)' must be greater than zero") }
            return value
        }

        let servers = try required(.zkServers)
        if let problem = ServerList.problem(in: servers) { throw ConfigError(.zkServers, problem) }

        let capacityText = try required(.storageCapacity)
        guard let capacity = Int(capacityText), capacity >= 1 else {
            let digits = !capacityText.isEmpty && capacityText.allSatisfy { $0.isASCII && $0.isNumber }
            throw ConfigError(
                .storageCapacity,
                digits
                    ? "'\(capacityText)' is too large (at most \(Int.max))"
                    : "'\(capacityText)' must be a whole number of at least 1")
        }

        let fileDir = try required(.fileDir)
        guard !fileDir.contains("\0") else { throw ConfigError(.fileDir, "must not contain NUL") }

        let electionPath = try required(.electionPath)
        if let problem = ZNodePath.problem(in: electionPath) { throw ConfigError(.electionPath, problem) }

        let replicaID = raw(.replicaID) ?? hostName
        if let problem = ReplicaName.problem(in: replicaID) { throw ConfigError(.replicaID, problem) }

        // The default place: systemd's state directory (StateDirectory=, the process's
        // own), else the file-dir; none without either. `--state-file` names another.
        let stateDirectory = environment["STATE_DIRECTORY"].flatMap {
            $0.split(separator: ":").first.map(String.init)
        }
        let home = stateDirectory ?? (fileDir.isEmpty ? nil : fileDir)
        var stateFile: String? = home.map { $0 + ($0.hasSuffix("/") ? "" : "/") + ".election-session-" + replicaID }
        if let text = raw(.stateFile) {
            guard !text.isEmpty else { throw ConfigError(.stateFile, "must not be empty (use none to disable)") }
            stateFile = text == "none" ? nil : text
        }

        var httpAddress: HostPort?
        if let text = raw(.httpAddr), !text.isEmpty {
            guard let address = HostPort.parse(text) else {
                throw ConfigError(
                    .httpAddr, "'\(text)' is not host:port (e.g. 127.0.0.1:8080, 0.0.0.0:8080, [::]:8080)")
            }
            httpAddress = address
        }

        var auth: ZKAuth?
        var acl = ZKACL.open
        // The choice first, so that a typo is named as one, with or without credentials.
        let aclText = try required(.zkAcl)
        guard let chosen = ZKACL(rawValue: aclText), chosen != .open else {
            throw ConfigError(.zkAcl, "'\(aclText)' is not one of private, world-read")
        }
        if let path = raw(.zkAuthFile), !path.isEmpty {
            auth = try AuthFile.read(path)
            acl = chosen
        } else if let aclText = flags[.zkAcl] ?? environment[Setting.zkAcl.environmentVariable] {
            throw ConfigError(
                .zkAcl, "'\(aclText)' needs --zk-auth-file (ELECTION_ZK_AUTH_FILE): an ACL names an identity")
        }

        var config = ElectionConfig(
            zkServers: servers,
            leaderTimeout: try duration(.leaderTimeout),
            attempterTimeout: try duration(.attempterTimeout),
            fileDir: fileDir,
            storageCapacity: capacity,
            sessionTimeout: try duration(.sessionTimeout),
            electionPath: electionPath,
            replicaID: replicaID,
            stateFile: stateFile,
            httpAddress: httpAddress)
        config.zkAuth = auth
        config.zkACL = acl
        return config
    }
}

/// An invalid setting, reported as one line naming the flag and its env var.
public struct ConfigError: Error, Equatable, CustomStringConvertible, Sendable {
    public var flag: String
    public var environmentVariable: String
    public var problem: String

    public init(_ setting: ElectionConfig.Setting, _ problem: String) {
        self.init(flag: setting.flag, environmentVariable: setting.environmentVariable, problem: problem)
    }

    public init(flag: String, environmentVariable: String, problem: String) {
        self.flag = flag
        self.environmentVariable = environmentVariable
        self.problem = problem
    }

    /// A setting with no variable (a subcommand's own option) has an empty `environmentVariable`.
    public var description: String {
        environmentVariable.isEmpty
            ? "invalid \(flag): \(problem)" : "invalid \(flag) (\(environmentVariable)): \(problem)"
    }
}

/// `host:port[,host:port…][/chroot]`.
public enum ServerList {
    /// The host list and the chroot (nil when there is none).
    public static func split(_ text: String) -> (hosts: String, chroot: String?) {
        guard let slash = text.firstIndex(of: "/") else { return (text, nil) }
        return (String(text[..<slash]), String(text[slash...]))
    }

    static func problem(in text: String) -> String? {
        guard !text.isEmpty else { return "the server list is empty (expected host:port[,host:port…][/chroot])" }
        var hosts = Substring(text)
        if let slash = text.firstIndex(of: "/") {
            hosts = text[..<slash]
            let chroot = String(text[slash...])
            if let problem = ZNodePath.problem(in: chroot) { return "chroot \(problem)" }
        }
        let entries = hosts.split(separator: ",", omittingEmptySubsequences: false)
        for entry in entries {
            guard !entry.isEmpty else { return "'\(text)' has an empty server entry" }
            guard let colon = entry.lastIndex(of: ":") else { return "'\(entry)' is not host:port" }
            var host = entry[..<colon]
            if host.hasPrefix("[") && host.hasSuffix("]") { host = host.dropFirst().dropLast() }
            let port = entry[entry.index(after: colon)...]
            guard !host.isEmpty, !host.contains(where: { $0 == " " || $0 == "\t" }) else {
                return "'\(entry)' has no valid host"
            }
            guard let number = Int(port), (1...65535).contains(number) else {
                return "'\(entry)' has no valid port (1-65535)"
            }
        }
        return nil
    }
}

/// The `--zk-auth-file`: one line `user:password` for ZooKeeper's digest scheme,
/// refused when group or others may access it.
enum AuthFile {
    static func read(_ path: String) throws(ConfigError) -> ZKAuth {
        func problem(_ text: String) -> ConfigError { ConfigError(.zkAuthFile, text) }
        var info = stat()
        guard stat(path, &info) == 0 else {
            throw problem("cannot read \(path): \(errnoText(errno))")
        }
        guard (info.st_mode & S_IFMT) == S_IFREG else { throw problem("\(path) is not a regular file") }
        guard info.st_mode & 0o077 == 0 else {
            throw problem(
                "\(path) is accessible by group or others (mode \(String(info.st_mode & 0o777, radix: 8))): chmod 600 it"
            )
        }
        guard let bytes = FileStore.contents(of: path) else {
            throw problem("cannot read \(path): \(errnoText(errno))")
        }
        var line = bytes.prefix { $0 != UInt8(ascii: "\n") && $0 != UInt8(ascii: "\r") }
        while line.last == UInt8(ascii: " ") { line.removeLast() }
        guard let colon = line.firstIndex(of: UInt8(ascii: ":")), colon > line.startIndex,
            colon < line.index(before: line.endIndex)
        else { throw problem("\(path) must hold one line user:password") }
        return ZKAuth(scheme: "digest", credential: Array(line))
    }
}

/// `host:port` with a port from 1 to 65535; `[v6]:port` for IPv6.
public struct HostPort: Sendable, Equatable {
    public var host: String
    public var port: Int

    public static func parse(_ text: String) -> HostPort? {
        guard let colon = text.lastIndex(of: ":") else { return nil }
        var host = text[..<colon]
        if host.hasPrefix("[") && host.hasSuffix("]") { host = host.dropFirst().dropLast() }
        guard !host.isEmpty, !host.contains(where: { $0 == " " || $0 == "\t" || $0 == "/" }),
            let port = Int(text[text.index(after: colon)...]), (1...65535).contains(port)
        else { return nil }
        return HostPort(host: String(host), port: port)
    }
}

/// An absolute ZooKeeper path.
enum ZNodePath {
    static func problem(in path: String) -> String? {
        guard path.hasPrefix("/") else { return "'\(path)' must be an absolute path starting with /" }
        guard path != "/" else { return "'/' cannot hold candidates: name a znode below the root" }
        guard !path.hasSuffix("/") else { return "'\(path)' must not end with /" }
        for component in path.dropFirst().split(separator: "/", omittingEmptySubsequences: false) {
            if component.isEmpty { return "'\(path)' has an empty path component" }
            if component == "." || component == ".." { return "'\(path)' must not contain . or .." }
        }
        if path == "/zookeeper" || path.hasPrefix("/zookeeper/") { return "'\(path)' is reserved by ZooKeeper" }
        if path.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7f }) {
            return "'\(path)' contains control characters"
        }
        return nil
    }
}

/// A replica id must fit in a znode name, a file's content and a log line.
enum ReplicaName {
    static func problem(in name: String) -> String? {
        guard !name.isEmpty else { return "must not be empty" }
        guard name.utf8.count <= 128 else { return "is longer than 128 bytes" }
        let allowed = name.unicodeScalars.allSatisfy {
            ("a"..."z").contains($0) || ("A"..."Z").contains($0) || ("0"..."9").contains($0)
                || $0 == "-" || $0 == "_" || $0 == "."
        }
        guard allowed else { return "'\(name)' may contain only letters, digits, '-', '_' and '.'" }
        return nil
    }
}

extension String {
    func replacingAll(_ target: Character, with replacement: Character) -> String {
        String(map { $0 == target ? replacement : $0 })
    }
}

/// A setting of `election run`, as messages and errors name it.
public typealias Setting = ElectionConfig.Setting
