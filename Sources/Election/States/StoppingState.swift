/// Releases everything: deletes the own candidate znode and closes the session so
/// the next replica takes over at once.
public struct StoppingState: ElectionState {
    public static let name = StateName.stopping
    public var held: Held

    public init(held: Held) { self.held = held }

    public func run(_ env: ElectionEnvironment) async -> Step {
        // The command first, then the znode: the next leader starts its copy only
        // after ours is gone.
        await env.command.stop(reason: "stopping")
        guard let session = held.session else { return .finished }
        if let name = held.candidate?.name {
            let path = env.candidatePath(name)
            let deleted = await env.withDeadline(.seconds(2)) { try await session.delete(path, version: -1) } != nil
            env.logger.info(
                deleted ? "candidate znode deleted" : "candidate znode not deleted; closing the session removes it",
                metadata: ["znode": "\(path)"])
        }
        // Closing also removes an ephemeral whose create reply was never seen.
        await session.close()
        return .finished
    }
}
