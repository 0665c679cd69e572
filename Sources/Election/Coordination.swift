import Logging
import Synchronization
import ZooKeeper

/// What the states need of a coordination session. `ZKSession` conforms; unit
/// tests use a fake.
public protocol CoordinationSession: AnyObject, Sendable {
    var sessionID: Int64 { get }
    var health: ZKHealth { get }
    func events() -> AsyncStream<ZKSessionEvent>
    func create(_ path: String, data: [UInt8], mode: ZKCreateMode) async throws -> (path: String, stat: ZKStat)
    func exists(_ path: String) async throws -> ZKStat?
    func existsAndWatch(_ path: String) async throws -> (stat: ZKStat?, watch: ZKWatch)
    func children(_ path: String) async throws -> [String]
    func delete(_ path: String, version: Int32) async throws
    func createParents(_ path: String) async throws
    func close() async
}

extension ZKSession: CoordinationSession {}

/// Makes connected sessions.
public protocol SessionFactory: Sendable {
    /// A new, connected session; throws when none can be had before the deadline.
    func connect() async throws -> any CoordinationSession
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

    private enum StateFile {
        case notOpened
        case open(SessionStateFile)
        case unavailable
    }
    private let stateFile = Mutex(StateFile.notOpened)

    public init(
        servers: String, sessionTimeout: Duration, connectDeadline: Duration, stateFile: String?, logger: Logger
    ) {
        self.servers = servers
        self.sessionTimeout = sessionTimeout
        self.connectDeadline = connectDeadline
        self.stateFilePath = stateFile
        self.logger = logger
        if stateFile == nil { self.stateFile.withLock { $0 = .unavailable } }
    }

    public func connect() async throws -> any CoordinationSession {
        if let previous = openStateFileForResume() {
            let hex = previous.id.sessionHex
            do {
                let session = try ZKSession(
                    servers: servers, sessionTimeout: sessionTimeout, resuming: previous, logger: logger)
                do {
                    try await session.waitConnected(within: connectDeadline)
                    if session.sessionID == previous.id {
                        logger.notice(
                            "resumed the previous process's ZooKeeper session", metadata: ["session": "0x\(hex)"])
                        return session
                    }
                } catch {
                    logger.info(
                        "previous ZooKeeper session not resumed", metadata: ["session": "0x\(hex)", "why": "\(error)"])
                }
                await session.close()
            }
        }
        let session = try ZKSession(servers: servers, sessionTimeout: sessionTimeout, logger: logger)
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

    /// Takes the lock once per process and returns the session to resume, if any.
    private func openStateFileForResume() -> (id: Int64, password: [UInt8])? {
        guard let path = stateFilePath else { return nil }
        return stateFile.withLock { state -> (id: Int64, password: [UInt8])? in
            guard case .notOpened = state else { return nil }
            switch SessionStateFile.open(path) {
            case .locked(let file):
                state = .open(file)
                return file.load()
            case .busy:
                logger.warning(
                    "state file is locked by another live process (a paused predecessor?): not resuming its session",
                    metadata: ["state_file": "\(path)"])
                state = .unavailable
            case .failed(let why):
                logger.warning("state file unusable; sessions will not survive a restart", metadata: ["why": "\(why)"])
                state = .unavailable
            }
            return nil
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
