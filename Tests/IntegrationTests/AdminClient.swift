import ZooKeeper

/// What an operator would do with zkCli, done through the project's own client.
enum AdminClient {
    static func connect(_ servers: String, auth: String? = nil) async throws -> ZKSession {
        let session = try ZKSession(
            servers: servers, sessionTimeout: .seconds(4),
            auth: auth.map { ZKAuth(scheme: "digest", credential: Array($0.utf8)) })
        try await session.waitConnected(within: .seconds(10))
        return session
    }
}
