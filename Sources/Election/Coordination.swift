import Logging
import Synchronization
import ZooKeeper

/// What the states need of a coordination session. `ZKSession` conforms; unit
/// tests use a fake.
public protocol CoordinationSession: AnyObject, Sendable {
    var sessionID: Int64 { get }
    /// The session's password (with the id, what resumes or closes it from elsewhere).
    var password: [UInt8] { get }
    var health: ZKHealth { get }
    func events() -> AsyncStream<ZKSessionEvent>
    func create(_ path: String, data: [UInt8], mode: ZKCreateMode) async throws -> (path: String, stat: ZKStat)
    func exists(_ path: String) async throws -> ZKStat?
    /// `exists` answered only after the server caught up with the quorum's leader
    /// (a `sync` first): what the lease rests on.
    func syncedExists(_ path: String) async throws -> ZKStat?
    /// `children` behind a `sync`, like `syncedExists`.
    func syncedChildren(_ path: String) async throws -> [String]
    func getData(_ path: String) async throws -> (data: [UInt8], stat: ZKStat)?
    /// Nil when the node does not exist (and then no watch is left behind).
    func getDataAndWatch(_ path: String) async throws -> (data: [UInt8], stat: ZKStat, watch: ZKWatch)?
    func children(_ path: String) async throws -> [String]
    func childrenAndWatch(_ path: String) async throws -> (names: [String], watch: ZKWatch)
    func delete(_ path: String, version: Int32) async throws
    /// The operations as one transaction: all or none.
    func multi(_ ops: [ZKOp]) async throws
    func createParents(_ path: String) async throws
    func close() async
}

extension ZKSession: CoordinationSession {}

/// Makes connected sessions.
public protocol SessionFactory: Sendable {
    /// A new, connected session; throws when none can be had before the deadline.
    func connect() async throws -> any CoordinationSession
    /// Creates the connect string's chroot when it is missing (sessions inside a
    /// chroot cannot see or create it). Returns the chroot it created, if any.
    func ensureChroot() async throws -> String?
}

extension SessionFactory {
    public func ensureChroot() async throws -> String? { nil }
}

/// Connects `ZKSession`s to the configured servers. With a state file it remembers
/// each session, and at the first connect of the process resumes the one a crashed
/// predecessor left (see `SessionStateFile`).
public final class ZKSessionFactory: SessionFactory {
    public let servers: String
    public let sessionTimeout: Duration
    public let connectDeadline: Duration
    public let logger: Logger
    private let stateFilePath: String?
    /// This replica's id, recorded in the state file and checked before a resume.
    private let replica: String
    private let onStateChange: (@Sendable (ZKConnectionState, Int64) -> Void)?
    private let auth: ZKAuth?
    private let acl: ZKACL

    private enum StateFile {
        case notOpened
        case open(SessionStateFile)
        case unavailable
    }
    private let stateFile = Mutex(StateFile.notOpened)

    /// `onStateChange` hears every session's state changes (with its session id) on
    /// the client library's thread.
    public init(
        servers: String, sessionTimeout: Duration, connectDeadline: Duration, stateFile: String?, replica: String,
        logger: Logger, onStateChange: (@Sendable (ZKConnectionState, Int64) -> Void)? = nil, auth: ZKAuth? = nil,
        acl: ZKACL = .open
    ) {
        self.replica = replica
        self.auth = auth
        self.acl = acl
        self.servers = servers
        self.sessionTimeout = sessionTimeout
        self.connectDeadline = connectDeadline
        self.stateFilePath = stateFile
        self.logger = logger
        self.onStateChange = onStateChange
        if stateFile == nil { self.stateFile.withLock { $0 = .unavailable } }
    }

    private func makeSession(resuming previous: (id: Int64, password: [UInt8])? = nil) throws -> ZKSession {
        // The session id is known only once connected: the listener reads it from a
        // box the session fills in as soon as it exists.
        let box = SessionBox()
        let listener = onStateChange.map { notify in
            { @Sendable (state: ZKConnectionState) in notify(state, box.session?.sessionID ?? 0) }
        }
        let session = try ZKSession(
            servers: servers, sessionTimeout: sessionTimeout, resuming: previous, logger: logger,
            onStateChange: listener, auth: auth, acl: acl)
        box.session = session
        return session
    }

    /// The connect string's chroot (`/app` of `host:2181/app`), or nil.
    public var chroot: String? { ServerList.split(servers).chroot }

    public func ensureChroot() async throws -> String? {
        guard let chroot else { return nil }
        let hosts = ServerList.split(servers).hosts
        let session = try ZKSession(
            servers: hosts, sessionTimeout: sessionTimeout, logger: logger, auth: auth, acl: acl)
        do {
            try await session.waitConnected(within: connectDeadline)
            let existed = try await session.exists(chroot) != nil
            if !existed { try await session.createParents(chroot) }
            await session.close()
            return existed ? nil : chroot
        } catch {
            await session.close()
            throw error
        }
    }

    public func connect() async throws -> any CoordinationSession {
        if let previous = await openStateFileForResume() {
            let hex = previous.id.sessionHex
            do {
                let session = try makeSession(resuming: previous)
                do {
                    try await session.waitConnected(within: connectDeadline)
                    if session.sessionID == previous.id {
                        logger.notice(
                            "resumed the previous process's ZooKeeper session", metadata: ["session": "\(hex)"])
                        return session
                    }
                } catch {
                    logger.info(
                        "previous ZooKeeper session not resumed", metadata: ["session": "\(hex)", "why": "\(error)"])
                }
                await session.close()
            }
        }
        let session = try makeSession()
        do {
            try await session.waitConnected(within: connectDeadline)
        } catch {
            await session.close()
            throw error
        }
        remember(session)
        return session
    }

    /// Forgets the session after a graceful stop closed it.
    public func forgetSession() {
        if case .open(let file) = stateFile.withLock({ $0 }) { file.clear() }
    }

    /// The state file's locked descriptor, once taken (for the command's watchdog).
    public var stateFileLock: Int32? {
        if case .open(let file) = stateFile.withLock({ $0 }) { return file.lockDescriptor }
        return nil
    }

    /// Takes the lock once per process and returns the session to resume, if any.
    /// A lock held by the watchdog of a crashed predecessor is waited for (it is let
    /// go once that predecessor's command is gone), up to one session timeout; one
    /// held longer is a live predecessor's (paused, perhaps): no resume then.
    private func openStateFileForResume() async -> (id: Int64, password: [UInt8])? {
        guard let path = stateFilePath, case .notOpened = stateFile.withLock({ $0 }) else { return nil }
        let waitUntil = ContinuousClock.now + sessionTimeout
        var said = false
        while true {
            switch SessionStateFile.open(path, replica: replica) {
            case .locked(let file):
                if said { logger.info("state file free again: the predecessor's command is gone") }
                switch file.load() {
                case .none:
                    stateFile.withLock { $0 = .open(file) }
                case .session(let id, let password):
                    stateFile.withLock { $0 = .open(file) }
                    return (id, password)
                case .refused(let why):
                    // Neither believed nor written: the file is not this replica's own.
                    logger.error(
                        "state file refused: not resuming from it, and not writing to it", metadata: ["why": "\(why)"])
                    stateFile.withLock { $0 = .unavailable }
                }
                return nil
            case .busy where ContinuousClock.now < waitUntil:
                if !said {
                    logger.info(
                        "state file locked: waiting for the predecessor's command to be stopped",
                        metadata: ["state_file": "\(path)", "up_to": "\(DurationParser.format(sessionTimeout))"])
                    said = true
                }
                try? await Task.sleep(for: .milliseconds(5))
            case .busy:
                logger.warning(
                    "state file is locked by another live process (a paused predecessor?): not resuming its session",
                    metadata: ["state_file": "\(path)"])
                stateFile.withLock { $0 = .unavailable }
                return nil
            case .failed(let why):
                logger.warning("state file unusable; sessions will not survive a restart", metadata: ["why": "\(why)"])
                stateFile.withLock { $0 = .unavailable }
                return nil
            }
        }
    }

    private func remember(_ session: ZKSession) {
        guard case .open(let file) = stateFile.withLock({ $0 }) else { return }
        do {
            try file.save(id: session.sessionID, password: session.password)
        } catch {
            logger.warning("cannot save the session for a restart", metadata: ["why": "\(error)"])
        }
    }
}

/// Lets a session's state listener find the session it belongs to.
private final class SessionBox: Sendable {
    private let stored = Mutex<ZKSession?>(nil)
    var session: ZKSession? {
        get { stored.withLock { $0 } }
        set { stored.withLock { $0 = newValue } }
    }
}
