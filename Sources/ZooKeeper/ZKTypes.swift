/// The metadata ZooKeeper keeps for a znode (copied out of the C `Stat`).
public struct ZKStat: Sendable, Equatable {
    public var czxid: Int64
    public var mzxid: Int64
    public var ctime: Int64
    public var mtime: Int64
    public var version: Int32
    public var cversion: Int32
    public var ephemeralOwner: Int64
    public var dataLength: Int32
    public var numChildren: Int32

    public init(
        czxid: Int64, mzxid: Int64 = 0, ctime: Int64 = 0, mtime: Int64 = 0, version: Int32 = 0,
        cversion: Int32 = 0, ephemeralOwner: Int64 = 0, dataLength: Int32 = 0, numChildren: Int32 = 0
    ) {
        self.czxid = czxid
        self.mzxid = mzxid
        self.ctime = ctime
        self.mtime = mtime
        self.version = version
        self.cversion = cversion
        self.ephemeralOwner = ephemeralOwner
        self.dataLength = dataLength
        self.numChildren = numChildren
    }
}

/// How a znode is created.
public enum ZKCreateMode: Sendable {
    case persistent
    case ephemeral
    case persistentSequential
    case ephemeralSequential
}

/// The connection state of a session as the client library last reported it.
public enum ZKConnectionState: String, Sendable {
    case connecting
    case connected
    case expired
    case authFailed
    case closed
}

/// A session-level event, broadcast to every subscriber of `ZKSession.events()`.
public struct ZKSessionEvent: Sendable, Equatable {
    public var state: ZKConnectionState
    public init(state: ZKConnectionState) { self.state = state }
}

/// What a one-shot node watch reports.
public enum ZKNodeEvent: String, Sendable {
    case created
    case deleted
    case dataChanged
    case childrenChanged
    /// The session expired or was closed: the watch will never fire.
    case sessionLost
}

/// What a client knows about its session's health, read on the monotonic clock.
public struct ZKHealth: Sendable, Equatable {
    public var state: ZKConnectionState
    /// Last moment a server was heard from (connect event or any reply).
    public var lastContact: ContinuousClock.Instant
    /// When the connection was last lost; nil while connected.
    public var disconnectedSince: ContinuousClock.Instant?
    /// When the current connection was made (the last CONNECTED event); nil before
    /// the first. A confirmation sent before it belongs to an earlier connection.
    public var connectedSince: ContinuousClock.Instant?
    /// The session timeout the server granted (the asked one until connected).
    public var negotiatedTimeout: Duration

    public init(
        state: ZKConnectionState, lastContact: ContinuousClock.Instant,
        disconnectedSince: ContinuousClock.Instant?, connectedSince: ContinuousClock.Instant? = nil,
        negotiatedTimeout: Duration
    ) {
        self.state = state
        self.lastContact = lastContact
        self.disconnectedSince = disconnectedSince
        self.connectedSince = connectedSince
        self.negotiatedTimeout = negotiatedTimeout
    }
}

/// One operation of a `multi` transaction: deletes and checks, all the election
/// sends (a create there would need the session's ACL, which `multi` does not take).
public enum ZKOp: Sendable {
    case delete(path: String, version: Int32)
    case check(path: String, version: Int32)
}

/// Credentials added to a session (`zoo_add_auth`): the digest scheme takes
/// `user:password`.
public struct ZKAuth: Sendable, Equatable {
    public var scheme: String
    public var credential: [UInt8]
    public init(scheme: String = "digest", credential: [UInt8]) {
        self.scheme = scheme
        self.credential = credential
    }
}

/// The ACL given to the znodes a session creates.
public enum ZKACL: String, Sendable, CaseIterable {
    /// world:anyone:cdrwa (no authentication configured).
    case open
    /// All rights to the authenticated creator, nothing for anyone else.
    case `private` = "private"
    /// All rights to the authenticated creator, read for everyone.
    case worldRead = "world-read"
}
