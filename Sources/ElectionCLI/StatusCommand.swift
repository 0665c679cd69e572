import ArgumentParser
import Election
import Logging
import Synchronization
import ZooKeeper

#if canImport(Glibc)
    import Glibc
#endif

/// `election status`: the leader and the queue, read from ZooKeeper.
struct StatusCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status",
        abstract: "Show the current leader and the candidates in election order, read from ZooKeeper.",
        discussion: """
            Exit status: 0 when a leader exists, 2 when there is no candidate (or no election path), \
            69 when ZooKeeper cannot be reached within --timeout, 64 for invalid options. \
            --zk-servers and --election-path also come from ELECTION_ZK_SERVERS and ELECTION_ELECTION_PATH.
            """)

    @Option(help: "ZooKeeper servers: host:port[,host:port…][/chroot]. Required.")
    var zkServers: String?
    @Option(help: "Parent znode of the candidates. Default /election.")
    var electionPath: String?
    @Flag(help: "Print JSON instead of a table.")
    var json = false
    @Flag(help: "Redraw on every change (driven by ZooKeeper watches) until interrupted.")
    var watch = false
    @Option(help: "How long to wait for ZooKeeper before giving up (exit 69). Default 5s.")
    var timeout: String?
    @Option(help: "File with user:password for ZooKeeper digest auth, as for run (mode 0600 or refused).")
    var zkAuthFile: String?

    struct Entry {
        var znode: String
        var replica: String
        var host: String?
        var pid: Int64?
        var started: String?
        var token: Int64
        var session: Int64
    }

    func run() async throws {
        let admin = try await AdminSession.open(
            command: "status", zkServers: zkServers, electionPath: electionPath, timeout: timeout,
            zkAuthFile: zkAuthFile)
        let (config, session) = (admin.config, admin.session)
        var code: Int32 = 2
        repeat {
            let changed = ZKWatchGroup()
            let entries: [Entry]?
            do {
                entries = try await read(session, config.electionPath, watchInto: watch ? changed : nil)
            } catch {
                await session.close()
                admin.fail("cannot read \(config.qualifiedElectionPath)", error)
            }
            code = entries?.isEmpty == false ? 0 : 2
            if watch && isatty(1) != 0 { print("\u{1b}[H\u{1b}[2J", terminator: "") }
            print(render(entries, path: config.qualifiedElectionPath))
            if watch {
                fflush(nil)
                await changed.next()
            }
        } while watch
        await session.close()
        throw ExitCode(code)
    }

    /// The candidates in election order; nil when the election path does not exist.
    /// With `watchInto`, a children watch and a watch on the leader are added.
    func read(_ session: ZKSession, _ path: String, watchInto group: ZKWatchGroup?) async throws -> [Entry]? {
        let names: [String]
        do {
            if let group {
                let listed = try await session.childrenAndWatch(path)
                group.add(listed.watch)
                names = listed.names
            } else {
                names = try await session.children(path)
            }
        } catch ZKError.noNode {
            if let group { group.add(try await session.getDataAndWatch(path)?.watch) }
            return nil
        }
        var entries: [Entry] = []
        for name in Decisions.ordered(names) {
            let found: (data: [UInt8], stat: ZKStat)?
            if entries.isEmpty, let group, let watched = try await session.getDataAndWatch(path + "/" + name) {
                group.add(watched.watch)
                found = (watched.data, watched.stat)
            } else {
                found = try await session.getData(path + "/" + name)
            }
            guard let found, found.stat.ephemeralOwner != 0 else { continue }  // gone, or not a candidate
            let object = found.data.count <= 4096 ? JSONValue.parseObject(found.data) : nil
            var entry = Entry(
                znode: name, replica: LeaderInfo(candidate: name)?.replica ?? name, token: found.stat.czxid,
                session: found.stat.ephemeralOwner)
            if case .string(let r)? = object?["replica"] { entry.replica = r }
            if case .string(let h)? = object?["host"] { entry.host = h }
            if case .int(let p)? = object?["pid"] { entry.pid = p }
            if case .string(let s)? = object?["started"] { entry.started = s }
            entries.append(entry)
        }
        return entries
    }

    func render(_ entries: [Entry]?, path: String) -> String {
        if json {
            let list: [JSONValue] = (entries ?? []).enumerated().map { index, e in
                .object([
                    ("position", .int(Int64(index))), ("role", .string(index == 0 ? "leader" : "candidate")),
                    ("replica", .string(e.replica)), ("host", e.host.map(JSONValue.string) ?? .null),
                    ("pid", e.pid.map(JSONValue.int) ?? .null), ("started", e.started.map(JSONValue.string) ?? .null),
                    ("token", .int(e.token)), ("session", .string(e.session.sessionHex)),
                    ("znode", .string(e.znode)),
                ])
            }
            return JSONValue.object([
                ("election_path", .string(path)), ("exists", .bool(entries != nil)),
                ("leader", list.first ?? .null), ("candidates", .array(list)),
            ]).text
        }
        guard let entries else { return "no election at \(path): the path does not exist (yet)" }
        guard !entries.isEmpty else { return "no candidate under \(path): nobody leads" }
        let header = ["#", "ROLE", "REPLICA", "HOST", "PID", "STARTED", "TOKEN", "SESSION", "ZNODE"]
        let rows = entries.enumerated().map { index, e in
            [
                "\(index)", index == 0 ? "leader" : "candidate", e.replica, e.host ?? "-", e.pid.map { "\($0)" } ?? "-",
                e.started ?? "-", "\(e.token)", e.session.sessionHex, e.znode,
            ]
        }
        let widths = header.indices.map { column in ([header] + rows).map { $0[column].count }.max() ?? 0 }
        let lines = ([header] + rows).map { row in
            row.enumerated().map { $1.padding(toLength: widths[$0], withPad: " ", startingAt: 0) }
                .joined(separator: "  ").trimmingTrailingSpaces()
        }
        return "election \(path): \(entries[0].replica) leads (fencing token \(entries[0].token)), "
            + "\(entries.count - 1) waiting\n" + lines.joined(separator: "\n")
    }

}

/// Several one-shot watches; `next()` returns when the first fires.
final class ZKWatchGroup: Sendable {
    private let watches = Mutex<[ZKWatch]>([])
    func add(_ watch: ZKWatch?) {
        guard let watch else { return }
        watches.withLock { $0.append(watch) }
    }
    func next() async {
        let all = watches.withLock { $0 }
        guard !all.isEmpty else { return }
        await withTaskGroup(of: Void.self) { group in
            for watch in all { group.addTask { _ = await watch.next() } }
            await group.next()
            group.cancelAll()
        }
    }
}

extension String {
    func padding(toLength length: Int, withPad pad: String, startingAt: Int) -> String {
        count >= length ? self : self + String(repeating: pad, count: length - count)
    }
    func trimmingTrailingSpaces() -> String {
        var s = self
        while s.last == " " { s.removeLast() }
        return s
    }
}
