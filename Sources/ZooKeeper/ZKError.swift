import CZooKeeper

#if canImport(Glibc)
    import Glibc
#endif

/// A ZooKeeper return code or a client-side failure, typed so callers can switch on it.
public enum ZKError: Error, Equatable, Sendable, CustomStringConvertible {
    case connectionLoss
    case operationTimeout
    case sessionExpired
    case sessionMoved
    case noNode
    case nodeExists
    case notEmpty
    case badVersion
    case noAuth
    case noChildrenForEphemerals
    case badArguments
    case invalidState
    case marshallingError
    /// No CONNECTED event arrived before the connect deadline.
    case connectTimeout
    /// The session was closed by this process.
    case closed
    /// `zookeeper_init` failed (bad server string, out of resources); errno attached.
    case initFailed(errno: Int32)
    /// No resolver knows these hosts of the connect string (each with the resolver's words).
    case unresolvable(String)
    case other(code: Int32)

    /// Maps a C return code; nil for ZOK.
    init?(code: Int32) {
        switch code {
        case ZOK.rawValue: return nil
        case ZCONNECTIONLOSS.rawValue: self = .connectionLoss
        case ZOPERATIONTIMEOUT.rawValue: self = .operationTimeout
        case ZSESSIONEXPIRED.rawValue: self = .sessionExpired
        case ZSESSIONMOVED.rawValue: self = .sessionMoved
        case ZNONODE.rawValue: self = .noNode
        case ZNODEEXISTS.rawValue: self = .nodeExists
        case ZNOTEMPTY.rawValue: self = .notEmpty
        case ZBADVERSION.rawValue: self = .badVersion
        case ZNOAUTH.rawValue: self = .noAuth
        case ZNOCHILDRENFOREPHEMERALS.rawValue: self = .noChildrenForEphemerals
        case ZBADARGUMENTS.rawValue: self = .badArguments
        case ZINVALIDSTATE.rawValue: self = .invalidState
        case ZMARSHALLINGERROR.rawValue: self = .marshallingError
        default: self = .other(code: code)
        }
    }

    /// True when the reply came from a server (the session was alive at that moment).
    var isServerReply: Bool {
        switch self {
        case .noNode, .nodeExists, .notEmpty, .badVersion, .noChildrenForEphemerals: return true
        default: return false
        }
    }

    public var description: String {
        switch self {
        case .connectionLoss: return "connection to ZooKeeper lost"
        case .operationTimeout: return "ZooKeeper operation timed out"
        case .sessionExpired: return "ZooKeeper session expired"
        case .sessionMoved: return "ZooKeeper session moved to another server"
        case .noNode: return "znode does not exist"
        case .nodeExists: return "znode already exists"
        case .notEmpty: return "znode has children"
        case .badVersion: return "znode version conflict"
        case .noAuth: return "not authorised"
        case .noChildrenForEphemerals: return "ephemeral znodes cannot have children"
        case .badArguments: return "bad arguments to ZooKeeper call"
        case .invalidState: return "ZooKeeper handle in invalid state (expired or auth failed)"
        case .marshallingError: return "ZooKeeper marshalling error"
        case .connectTimeout: return "no ZooKeeper server answered before the connect deadline"
        case .closed: return "ZooKeeper session closed"
        case .initFailed(let e): return "cannot start the ZooKeeper client: \(String(cString: strerror(e)))"
        case .unresolvable(let hosts): return "cannot resolve \(hosts)"
        case .other(let code): return "ZooKeeper error \(code)"
        }
    }
}
