import ArgumentParser
import Election
import ZooKeeper

/// `election resign`: asks the current leader to step down and waits for another
/// replica to lead.
struct ResignCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "resign",
        abstract: "Make the current leader stop its command and release leadership; wait until another leads.",
        discussion: """
            The request is written into the leader's candidate znode, which the leader watches: it stops \
            its command, then deletes its znode, and rejoins at the back of the queue. Nothing deletes the \
            leader's znode from outside (that would race with a write in flight). Exit status: 0 when \
            another replica leads, 2 when there is no leader, 3 when no other replica took over (the old \
            leader leads again), 75 when the leader did not step down within --wait, 69 when ZooKeeper \
            cannot be reached, 64 for invalid options.
            """)

    @Option(help: "ZooKeeper servers: host:port[,host:port…][/chroot]. Required.")
    var zkServers: String?
    @Option(help: "Parent znode of the candidates. Default /election.")
    var electionPath: String?
    @Option(help: "How long to wait for ZooKeeper before giving up (exit 69). Default 5s.")
    var timeout: String?
    @Option(help: "File with user:password for ZooKeeper digest auth, as for run (mode 0600 or refused).")
    var zkAuthFile: String?
    @Option(help: "How long to wait for the handover (exit 75 after). Default 30s.")
    var wait: String = "30s"

    func run() async throws {
        guard let limit = DurationParser.parse(wait), limit > .zero else {
            throw ConfigError(
                flag: "--wait", environmentVariable: "", problem: "'\(wait)' is not a positive duration")
        }
        let admin = try await AdminSession.open(
            command: "resign", zkServers: zkServers, electionPath: electionPath, timeout: timeout,
            zkAuthFile: zkAuthFile)
        let outcome: Result<Void, any Error>
        do {
            try await resign(admin, until: .now + limit)
            outcome = .success(())
        } catch {
            outcome = .failure(error)
        }
        await admin.session.close()
        if case .failure(let error) = outcome, !(error is ExitCode) {
            admin.fail("cannot ask the leader at \(admin.config.qualifiedElectionPath) to resign", error)
        }
        try outcome.get()
    }

    private func resign(_ admin: AdminSession, until deadline: ContinuousClock.Instant) async throws {
        let session = admin.session
        let path = admin.config.electionPath

        // Mark the leader's znode; retry when the leader or its data changed meanwhile.
        // What was marked, to withdraw the request if nobody takes over in time.
        var old: (name: String, replica: String, data: [UInt8], version: Int32)?
        while old == nil {
            guard ContinuousClock.now < deadline else { throw exit(75, "no stable leader to ask within \(wait)") }
            let names: [String]
            do {
                names = Decisions.ordered(try await session.children(path))
            } catch ZKError.noNode {
                throw exit(2, "no election at \(admin.config.qualifiedElectionPath)")
            } catch {
                admin.fail("cannot read \(admin.config.qualifiedElectionPath)", error)
            }
            guard let first = names.first else { throw exit(2, "no leader: nobody is a candidate") }
            guard let found = try await session.getData(path + "/" + first) else { continue }
            let marked = ResignRequest.mark(
                found.data, id: "\(Identity.hostName()):\(WallClock.format(millis: WallClock.nowMillis()))")
            do {
                _ = try await session.setData(path + "/" + first, data: marked, version: found.stat.version)
                let info = LeaderInfo(candidate: first, data: found.data, stat: found.stat)
                old = (first, info.replica, found.data, found.stat.version + 1)
                print("asked \(info.replica) (fencing token \(found.stat.czxid)) to resign")
            } catch ZKError.noNode, ZKError.badVersion {
                continue
            }
        }
        guard let old else { return }

        // Wait until a different candidate is first: the new leader.
        while true {
            let listed = try await session.childrenAndWatch(path)
            let names = Decisions.ordered(listed.names)
            if let first = names.first, first != old.name,
                let found = try await session.getData(path + "/" + first)
            {
                let info = LeaderInfo(candidate: first, data: found.data, stat: found.stat)
                if info.replica == old.replica {
                    throw exit(
                        3, "no other replica took over: \(info.replica) leads again (fencing token \(found.stat.czxid))"
                    )
                }
                print("\(info.replica) leads now (fencing token \(found.stat.czxid))")
                return
            }
            let remaining = deadline - .now
            guard remaining > .zero else {
                // A paused leader would otherwise resign whenever it resumes, long after
                // this command gave up: the request is taken back unless the znode changed.
                let withdrawn =
                    (try? await session.setData(path + "/" + old.name, data: old.data, version: old.version)) != nil
                throw exit(
                    75,
                    "\(old.replica) did not step down within \(wait); "
                        + (withdrawn ? "the request is withdrawn" : "the request could not be withdrawn"))
            }
            let watch = listed.watch
            _ = await withTaskGroup(of: Void.self) { group in
                group.addTask { _ = await watch.next() }
                group.addTask { try? await Task.sleep(for: remaining) }
                await group.next()
                group.cancelAll()
            }
        }
    }

    private func exit(_ code: Int32, _ message: String) -> ExitCode {
        print(message)
        return ExitCode(code)
    }
}
