import ZooKeeper

/// What an operator would do with zkCli, done through the project's own client.
enum AdminClient {
    static func connect(_ servers: String) async throws -> ZKSession {
        let session = try ZKSession(servers: servers, sessionTimeout: .seconds(4))
        try await session.waitConnected(within: .seconds(10))
        return session
    }
}
