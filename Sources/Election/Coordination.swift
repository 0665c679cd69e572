import Logging
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

/// Connects `ZKSession`s to the configured servers.
public struct ZKSessionFactory: SessionFactory {
    public var servers: String
    public var sessionTimeout: Duration
    public var connectDeadline: Duration
    public var logger: Logger

    public init(servers: String, sessionTimeout: Duration, connectDeadline: Duration, logger: Logger) {
        self.servers = servers
        self.sessionTimeout = sessionTimeout
        self.connectDeadline = connectDeadline
        self.logger = logger
    }

    public func connect() async throws -> any CoordinationSession {
        let session = try ZKSession(servers: servers, sessionTimeout: sessionTimeout, logger: logger)
        do {
            try await session.waitConnected(within: connectDeadline)
            return session
        } catch {
            await session.close()
            throw error
        }
    }
}
