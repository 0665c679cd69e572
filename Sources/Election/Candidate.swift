import ZooKeeper

/// A candidate znode: the per-session unique prefix, and once known its name and
/// creation zxid (the fencing token).
public struct Candidate: Sendable, Equatable {
    /// `<replica>_<session id in hex>_`: lets a create whose reply was lost, or the
    /// candidate of a resumed session, be found again instead of duplicated.
    public var prefix: String
    public var name: String?
    public var token: Int64?
    /// Its shadow exists (see `Shadows`): made with the candidate when a command is
    /// configured, and before such a candidate leads.
    public var shadowed: Bool

    public init(prefix: String, name: String? = nil, token: Int64? = nil, shadowed: Bool = false) {
        self.prefix = prefix
        self.name = name
        self.token = token
        self.shadowed = shadowed
    }

    public static func forSession(replica: String, sessionID: Int64) -> Candidate {
        Candidate(prefix: "\(replica)_\(sessionID.sessionHexDigits)_")
    }
}
