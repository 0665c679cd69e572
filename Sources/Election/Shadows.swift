import ZooKeeper

/// A candidate's shadow: an ephemeral znode `<election path>-shadows/<candidate>`
/// that says "the holder of this candidate may still be running its command".
///
/// Only replicas with a command (`run -- CMD`) make shadows. A shadow is made right
/// after its candidate, and before such a candidate leads. It goes:
/// - with its candidate in one transaction, on a clean release (the command was
///   stopped first);
/// - with the session, at a graceful stop, at expiry, or when a session is closed;
/// - alone, after the command is stopped, when the candidate was deleted by
///   someone else (an operator, a script): that holder learns of the delete only
///   after the next replica already leads.
///
/// A shadow whose candidate is gone is an *orphan*: a command may still run
/// without its leadership, and a file its lease still covers may still be on its
/// way (confirmed before the delete, renamed after). A new leader begins its term,
/// files and command, only once no orphan is left, or after the orphan's session
/// timeout, by which time its holder's watchdog has stopped the command (no
/// confirmation sent after the delete succeeds, so the deadline it was fed ends
/// within a session timeout of the delete) and its lease has long lapsed. The
/// model (scripts/model/, docs/model.md) found the file case.
enum Shadows {
    /// Makes the shadow of `name`; one that already exists (a resumed session, a
    /// lost reply) is ours, and kept.
    static func create(_ env: ElectionEnvironment, _ session: any CoordinationSession, _ name: String) async throws {
        let timeout = session.health.negotiatedTimeout.milliseconds
        let data = Array(#"{"session_timeout_ms":\#(timeout)}"#.utf8)
        do {
            _ = try await session.create(env.config.shadowsPath + "/" + name, data: data, mode: .ephemeral)
        } catch ZKError.nodeExists {}
    }

    /// Removes the shadow of `name` alone (best effort: it goes with the session anyway).
    static func delete(_ env: ElectionEnvironment, _ session: any CoordinationSession, _ name: String) async {
        let path = env.config.shadowsPath + "/" + name
        _ = await env.withDeadline(.seconds(2)) { try await session.delete(path, version: -1) }
    }

    /// The candidate and its shadow in one transaction: a successor never sees the
    /// candidate gone and its shadow left.
    static func releaseOps(_ env: ElectionEnvironment, _ name: String) -> [ZKOp] {
        [
            .delete(path: env.candidatePath(name), version: -1),
            .delete(path: env.config.shadowsPath + "/" + name, version: -1),
        ]
    }

    /// The orphans now: shadows whose candidate is gone, with how long each may
    /// still hide a running command (its holder's session timeout).
    static func orphans(_ env: ElectionEnvironment, _ session: any CoordinationSession) async throws -> [(
        name: String, timeout: Duration
    )] {
        // Shadows first: a candidate released after this listing takes its shadow
        // along, and then reads as gone below rather than as an orphan.
        let shadows = try await session.syncedChildren(env.config.shadowsPath)
        guard !shadows.isEmpty else { return [] }
        let candidates = Set(try await session.children(env.config.electionPath))
        var found: [(name: String, timeout: Duration)] = []
        for name in shadows where !candidates.contains(name) {
            guard let shadow = try await session.getData(env.config.shadowsPath + "/" + name) else { continue }
            found.append((name, timeout(in: shadow.data) ?? session.health.negotiatedTimeout))
        }
        return found
    }

    /// The session timeout a shadow records.
    static func timeout(in data: [UInt8]) -> Duration? {
        guard data.count <= 4096, case .int(let ms)? = JSONValue.parseObject(data)?["session_timeout_ms"],
            ms > 0, ms < 3_600_000
        else { return nil }
        return .milliseconds(ms)
    }
}
