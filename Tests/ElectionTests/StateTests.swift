import ElectionTestSupport
import Foundation
import Logging
import Synchronization
import Testing
import ZooKeeper

@testable import Election

/// Drives every edge of the state diagram through fake sessions, on a clock that
/// moves only when a test moves it (`ManualClock`): no test here sleeps, and none
/// depends on how fast the machine runs. A test moves the clock only while the
/// state waits (`WaitTracker`), to the end of that wait.
@Suite(.timeLimit(.minutes(2))) struct StateTests {
    let zk = FakeZooKeeper()
    let clock = ManualClock()
    let waits = WaitTracker()
    let factory: FakeFactory
    let dir = TempDir()
    let env: ElectionEnvironment

    init() {
        factory = FakeFactory(zk: zk, clock: clock)
        let config = ElectionConfig(
            zkServers: "fake:1", leaderTimeout: .milliseconds(40), attempterTimeout: .milliseconds(200),
            fileDir: dir.path, storageCapacity: 3, sessionTimeout: .seconds(4), electionPath: "/election",
            replicaID: "r1")
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        var env = ElectionEnvironment(
            config: config, sessions: factory, identity: Identity(replica: "r1", host: "h", pid: 1), logger: logger,
            observer: waits)
        env.clock = clock
        self.env = env
    }

    /// Runs a state to its next step, failing the test after 10 s instead of hanging.
    /// Once `stopWhen` holds, a stop is requested; a `.stop` result comes back as the
    /// Stopping state the runner would build from it.
    func step(_ state: any ElectionState, stopWhen: (() -> Bool)? = nil) async throws -> (
        any ElectionState, TransitionReason
    ) {
        let env = self.env
        let task = Task { await state.run(env) }
        let result = try await drive(task, stopWhen: stopWhen)
        switch result {
        case .next(let next, let reason)?:
            #expect(StateRegistry.allows(state.name, next.name), "\(state.name) → \(next.name) is not in the diagram")
            return (next, reason)
        case .stop(let held)?:
            return (StoppingState(held: held), TransitionReason(.stopRequested))
        default:
            task.cancel()
            Issue.record("state \(state.name) did not return a successor in time")
            throw CancellationError()
        }
    }

    /// The step a state returns once it has been asked to stop.
    func stopped(_ task: Task<Step, Never>) async throws -> Held {
        env.requests.stop.fire("test")
        guard case .stop(let held)? = await finish(task, within: .seconds(10)) else {
            Issue.record("the state did not return .stop after a stop request")
            throw CancellationError()
        }
        return held
    }

    func connected() async throws -> FakeSession {
        let session = try await factory.connect() as! FakeSession
        try await session.createParents("/election")
        return session
    }

    /// Lets the states run until `condition` holds: it yields, it never sleeps. Ten
    /// seconds of real time only stop a test that hangs.
    func waitUntil(_ condition: () -> Bool) async throws {
        let deadline = ContinuousClock.now + .seconds(10)
        while !condition() {
            guard ContinuousClock.now < deadline else {
                Issue.record("condition not met within 10 s")
                throw CancellationError()
            }
            await Task.yield()
        }
    }

    /// The deadline of the wait the state is in now, once its timer is on the clock.
    var waitingUntil: ContinuousClock.Instant? {
        guard let until = waits.waitingUntil, clock.deadlines.contains(until) else { return nil }
        return until
    }

    /// Lets the state reach its next wait, then moves the clock to that wait's end.
    func elapseWait() async throws {
        try await waitUntil { waitingUntil != nil }
        if let until = waitingUntil { clock.advance(to: until) }
    }

    /// Runs `task` to its end, moving the clock to the end of every wait it enters
    /// (once `stopWhen` holds, a stop is requested instead), and, while a reply of
    /// `session` is held back (`delayExistsReplies`), to the next timer due.
    func drive(_ task: Task<Step, Never>, _ session: FakeSession? = nil, stopWhen: (() -> Bool)? = nil)
        async throws -> Step?
    {
        let done = Mutex<Step?>(nil)
        let watcher = Task {
            let step = await task.value
            done.withLock { $0 = step }
        }
        let env = self.env
        try await waitUntil {
            if done.withLock({ $0 }) != nil { return true }
            if let stopWhen, !env.requests.stopRequested {
                if stopWhen() { env.requests.stop.fire("test") }
            } else if let until = waitingUntil {
                clock.advance(to: until)
            } else if let session, session.delayedReplies > 0, waits.waitingUntil == nil,
                let next = clock.deadlines.first, clock.deadlines.count >= 2
            {
                // The round trip's own time limit and the held-back reply are both on
                // the clock: move to whichever falls first.
                clock.advance(to: next)
            }
            return false
        }
        _ = await watcher.value
        return done.withLock { $0 }
    }

    // MARK: Init

    @Test func initConnectsCreatesTheElectionPathAndMovesToAttempter() async throws {
        let (next, _) = try await step(InitState())
        #expect(next is AttempterState)
        #expect(zk.stat("/election") != nil)
        #expect(FileManager.default.fileExists(atPath: dir.path))
    }

    @Test func initFailsOverWhenZooKeeperIsUnavailable() async throws {
        factory.set(.fail)
        let (next, reason) = try await step(InitState())
        let failover = try #require(next as? FailoverState)
        #expect(failover.session == nil)
        #expect(failover.needsInit)
        #expect(reason.description.contains("connect"))
    }

    /// A file-dir that is a regular file cannot heal by retrying: the daemon stops
    /// with 64 and one line naming the setting.
    @Test func initGivesUpWhenTheFileDirIsARegularFile() async throws {
        try FileManager.default.createDirectory(atPath: dir.path, withIntermediateDirectories: true)
        dir.touch("blocker")
        var env = self.env
        env.store = FileStore(directory: dir.path + "/blocker", capacity: 3)
        let result = await InitState().run(env)
        guard case .stop = result else { throw CancellationError() }
        let fatal = try #require(env.requests.fatal.value)
        #expect(fatal.status == 64)
        #expect(fatal.line.contains("--file-dir") && fatal.line.contains("ELECTION_FILE_DIR"))
        #expect(env.requests.stopRequested)
        #expect(factory.made.isEmpty, "no session is opened before the file-dir is usable")
    }

    /// A file-dir that may heal (here, a directory inside a regular file: ENOTDIR on
    /// create) is retried through Failover.
    @Test func initFailsOverWhenTheFileDirIsUnusable() async throws {
        try FileManager.default.createDirectory(atPath: dir.path, withIntermediateDirectories: true)
        dir.touch("blocker")
        var env = self.env
        env.store = FileStore(directory: dir.path + "/blocker/sub", capacity: 3)
        let result = await InitState().run(env)
        guard case .next(let next, let reason) = result else { throw CancellationError() }
        #expect(next is FailoverState)
        #expect(reason.code == .fileDirUnusable)
        #expect(factory.made.isEmpty, "no session is opened before the file-dir is usable")
    }

    @Test func initStopsWhenSignalledWhileConnecting() async throws {
        factory.set(.hang)
        let (next, _) = try await step(InitState(), stopWhen: { factory.hanging > 0 })
        #expect(next is StoppingState)
    }

    // MARK: Attempter

    @Test func loneCandidateBecomesLeaderWithItsCzxidAsToken() async throws {
        let session = try await connected()
        let (next, _) = try await step(AttempterState(session: session, candidate: nil))
        let leader = try #require(next as? LeaderState)
        let name = try #require(leader.candidate.name)
        #expect(leader.candidate.token == zk.stat("/election/" + name)?.czxid)
        #expect(zk.stat("/election/" + name)?.ephemeralOwner == session.sessionID)
    }

    @Test func followerWatchesOnlyItsPredecessorAndLeadsWhenItGoes() async throws {
        let first = try await connected()
        let second = try await connected()
        let third = try await connected()
        let (l1, _) = try await step(AttempterState(session: first, candidate: nil))
        let leader = try #require(l1 as? LeaderState)
        let env = self.env
        let secondTask = Task { await AttempterState(session: second, candidate: nil).run(env) }
        try await waitUntil { zk.children(of: "/election").count == 2 }
        let thirdTask = Task { await AttempterState(session: third, candidate: nil).run(env) }
        try await waitUntil { zk.children(of: "/election").count == 3 }
        let order = Decisions.ordered(zk.children(of: "/election"))
        try await waitUntil { zk.watchCount(on: "/election/" + order[1]) >= 1 }
        #expect(zk.watchCount(on: "/election/" + order[0]) == 1, "only the second candidate watches the leader")

        zk.operatorDelete("/election/" + leader.candidate.name!)
        let result = await finish(secondTask, within: .seconds(10))
        guard case .next(let next, _)? = result else { throw CancellationError() }
        #expect(next is LeaderState)
        let held = try await stopped(thirdTask)
        #expect(held.candidate?.name == order[2], "the third candidate was not woken into leadership")
    }

    @Test func createWhoseReplyWasLostIsFoundAgainNotDuplicated() async throws {
        let session = try await connected()
        session.loseNextCreateReply()
        let (next, _) = try await step(AttempterState(session: session, candidate: nil))
        let failover = try #require(next as? FailoverState)
        #expect(zk.children(of: "/election").count == 1)
        session.set(.connected)
        let (back, _) = try await step(failover)
        let attempter = try #require(back as? AttempterState)
        let (leader, _) = try await step(attempter)
        #expect(leader is LeaderState)
        #expect(zk.children(of: "/election").count == 1, "the lost create was found by its prefix")
    }

    @Test func attempterFailsOverWhenTheConnectionDrops() async throws {
        let first = try await connected()
        let second = try await connected()
        _ = try await step(AttempterState(session: first, candidate: nil))
        let env = self.env
        let task = Task { await AttempterState(session: second, candidate: nil).run(env) }
        try await waitUntil { zk.children(of: "/election").count == 2 && waitingUntil != nil }
        second.set(.connecting)
        guard case .next(let next, _)? = await finish(task, within: .seconds(10)) else {
            throw CancellationError()
        }
        let failover = try #require(next as? FailoverState)
        #expect(failover.candidate?.name != nil, "the candidate is kept for the same session")
    }

    @Test func attempterStopsOnSignal() async throws {
        let first = try await connected()
        let second = try await connected()
        _ = try await step(AttempterState(session: first, candidate: nil))
        let (next, _) = try await step(
            AttempterState(session: second, candidate: nil), stopWhen: { waitingUntil != nil })
        let stopping = try #require(next as? StoppingState)
        #expect(stopping.held.candidate?.name != nil)
    }

    // MARK: Leader

    func leader() async throws -> (LeaderState, FakeSession) {
        try env.store.prepare()
        let session = try await connected()
        let (next, _) = try await step(AttempterState(session: session, candidate: nil))
        return (try #require(next as? LeaderState), session)
    }

    @Test func leaderWritesAtOnceThenEveryTimeoutWithinCapacity() async throws {
        let (leader, _) = try await leader()
        let env = self.env
        let task = Task { await leader.run(env) }
        // Every leader-timeout (40 ms on the clock) a file.
        while (try? env.store.nextCounter(for: leader.candidate.token!)) ?? 0 <= 6 { try await elapseWait() }
        let held = try await stopped(task)
        #expect(held.candidate == leader.candidate)
        let files = try env.store.files()
        #expect(files.count == 3)
        #expect(files.allSatisfy { $0.token == leader.candidate.token })
    }

    @Test func leaderReturnsToAttempterWhenAnOperatorDeletesItsZnode() async throws {
        let (leader, _) = try await leader()
        let env = self.env
        let task = Task { await leader.run(env) }
        try await waitUntil { !((try? env.store.files()) ?? []).isEmpty }
        zk.operatorDelete("/election/" + leader.candidate.name!)
        guard case .next(let next, let reason)? = await finish(task, within: .seconds(10)) else {
            throw CancellationError()
        }
        #expect(next is AttempterState)
        #expect(reason.code == .candidateGone)
    }

    @Test func leaderStopsWritingAtOnceOnConnectionLoss() async throws {
        let (leader, session) = try await leader()
        let env = self.env
        let task = Task { await leader.run(env) }
        try await waitUntil { !((try? env.store.files()) ?? []).isEmpty }
        session.set(.connecting)
        guard case .next(let next, _)? = await finish(task, within: .seconds(10)) else {
            throw CancellationError()
        }
        let failover = try #require(next as? FailoverState)
        #expect(failover.candidate == leader.candidate, "same session may come back to the same token")
        #expect(try env.store.files().count == 1, "nothing written after the connection dropped")
    }

    @Test func leaderReleasesLeadershipWhenTheFileDirBreaks() async throws {
        let (leader, _) = try await leader()
        var env = self.env
        try FileManager.default.createDirectory(atPath: dir.path, withIntermediateDirectories: true)
        dir.touch("not-a-dir")
        env.store = FileStore(directory: dir.path + "/not-a-dir", capacity: 3)
        let task = Task { [env] in await leader.run(env) }
        guard case .next(let next, let reason)? = try await drive(task) else { throw CancellationError() }
        let failover = try #require(next as? FailoverState)
        #expect(failover.needsInit)
        #expect(failover.candidate == nil)
        #expect(reason.description.contains("released"))
        #expect(zk.children(of: "/election").isEmpty, "the znode is deleted so a healthy replica can lead")
    }

    @Test func staleLeaderRefusesToWriteOverAHigherToken() async throws {
        let (leader, _) = try await leader()
        try env.store.prepare()
        let newer = ElectionFileName(token: leader.candidate.token! + 50, counter: 1)
        try env.store.write(newer, content: Array("{}\n".utf8))
        let env = self.env
        let task = Task { await leader.run(env) }
        guard case .next(let next, let reason)? = try await drive(task) else { throw CancellationError() }
        #expect(next is FailoverState)
        #expect(reason.code == .newerLeader)
        #expect(reason.description.contains("fencing token"))
        #expect(try env.store.files() == [newer])
    }

    // MARK: Failover

    @Test func failoverReturnsToAttempterWhenTheSameSessionReconnects() async throws {
        let session = try await connected()
        session.set(.connecting)
        let candidate = Candidate(prefix: "r1_x_", name: "r1_x_0000000001", token: 5)
        let env = self.env
        let task = Task { await FailoverState(session: session, candidate: candidate).run(env) }
        try await waitUntil { waitingUntil != nil }
        session.set(.connected)
        guard case .next(let next, _)? = await finish(task, within: .seconds(10)) else {
            throw CancellationError()
        }
        let attempter = try #require(next as? AttempterState)
        #expect(attempter.candidate == candidate)
    }

    @Test func failoverStartsOverWithANewSessionAfterExpiry() async throws {
        let session = try await connected()
        session.set(.expired)
        let (next, _) = try await step(FailoverState(session: session, candidate: nil))
        let initState = try #require(next as? InitState)
        #expect(initState.session == nil)
        #expect(session.closeCount == 1, "the dead handle is closed")
    }

    @Test func failoverTreatsALongDisconnectAsLostOnItsOwnClock() async throws {
        let session = try await connected()
        session.set(.connecting, disconnectedAgo: .seconds(5))
        let (next, _) = try await step(FailoverState(session: session, candidate: nil))
        #expect(next is InitState)
    }

    @Test func failoverStopsOnSignal() async throws {
        let (next, _) = try await step(FailoverState(session: nil, needsInit: true), stopWhen: { waitingUntil != nil })
        #expect(next is StoppingState)
    }

    // MARK: Stopping

    @Test func stoppingDeletesTheCandidateAndClosesTheSession() async throws {
        let (leader, session) = try await leader()
        let result = await StoppingState(held: leader.held).run(env)
        guard case .finished = result else {
            Issue.record("Stopping must finish")
            return
        }
        #expect(zk.children(of: "/election").isEmpty)
        #expect(session.closeCount == 1)
        #expect(session.health.state == .closed)
    }

    // MARK: Runner

    @Test func runnerGoesFromInitToLeaderAndStopsCleanlyOnASignal() async throws {
        let recorder = RecordingObserver()
        var env = self.env
        env.observer = recorder
        let (stops, send) = AsyncStream<String>.makeStream()
        let secondSignals = Mutex(0)
        let runner = Runner(env: env) { _ in secondSignals.withLock { $0 += 1 } }
        let task = Task { await runner.run(stops: stops) }
        try await waitUntil { !((try? env.store.files()) ?? []).isEmpty }
        send.yield("SIGTERM")
        _ = await finish(task, within: .seconds(10))
        #expect(recorder.transitions == ["Init>Attempter", "Attempter>Leader", "Leader>Stopping"])
        #expect(recorder.codes.last == .stopRequested)
        #expect(recorder.filesWritten >= 1)
        #expect(recorder.leadershipChanges.first == true && recorder.leadershipChanges.last == false)
        #expect(zk.children(of: "/election").isEmpty)
        #expect(factory.made.allSatisfy { $0.health.state == .closed })
        #expect(secondSignals.withLock { $0 } == 0)
    }
}

extension StateTests {
    @Test func deletedElectionPathIsRecreatedThroughInit() async throws {
        let session = try await connected()
        zk.operatorDelete("/election")
        let (next, reason) = try await step(AttempterState(session: session, candidate: nil))
        let failover = try #require(next as? FailoverState)
        #expect(failover.needsInit)
        #expect(reason.description.contains("missing"))
        let (again, _) = try await step(failover)
        let initState = try #require(again as? InitState)
        let (attempter, _) = try await step(initState)
        #expect(attempter is AttempterState)
        #expect(zk.stat("/election") != nil)
    }
}

extension StateTests {
    @Test func periodicRecheckKeepsOneWatchOnAnUnchangedPredecessor() async throws {
        let first = try await connected()
        let second = try await connected()
        let (l1, _) = try await step(AttempterState(session: first, candidate: nil))
        let leader = try #require(l1 as? LeaderState)
        let env = self.env
        let task = Task { await AttempterState(session: second, candidate: nil).run(env) }
        let watched = "/election/" + leader.candidate.name!
        try await waitUntil { zk.watchCount(on: watched) == 1 }
        // Three attempter-timeouts pass: three re-checks.
        for _ in 0..<3 { try await elapseWait() }
        try await waitUntil { waitingUntil != nil }
        #expect(zk.watchCount(on: watched) == 1, "re-checks must not pile up watches")
        _ = try await stopped(task)
    }
}

/// The safety rules of the leader's write path, each pinned by a test that fails
/// when the rule is removed (`make mutants` checks that it does).
extension StateTests {
    /// Runs a leader until its first file, then applies `fault` and returns its next step.
    func leaderAfterFirstFile(
        _ fault: (LeaderState, FakeSession) -> Void
    ) async throws -> (step: Step?, filesBefore: [ElectionFileName], leader: LeaderState) {
        let (leader, session) = try await leader()
        let env = self.env
        let task = Task { await leader.run(env) }
        // Waiting after the first file: the fault lands before the next write.
        try await waitUntil { !((try? env.store.files()) ?? []).isEmpty && waitingUntil != nil }
        fault(leader, session)
        let before = try env.store.files()
        let step = try await drive(task, session)
        return (step, before, leader)
    }

    @Test func aConfirmationThatComesBackTooLateForbidsTheWrite() async throws {
        // Every round trip now takes longer than half the session timeout (4 s): a
        // leader that waited that long for its proof must not write on it.
        let (step, before, _) = try await leaderAfterFirstFile { _, session in
            session.delayExistsReplies(by: .milliseconds(2100))
        }
        guard case .next(let next, let reason)? = step else {
            Issue.record("the leader kept running on late confirmations")
            return
        }
        #expect(next is FailoverState)
        #expect(reason.code == .notConfirmed)
        let after = try env.store.files()
        #expect(after.last == before.last, "no file on a confirmation older than half the session timeout")
    }

    @Test func aLeaderWhoseConfirmationsStayLateForASessionTimeoutStepsDown() async throws {
        // The same late round trips, but they have already kept every write from
        // being covered for longer than the session timeout (4 s): the leader stops
        // holding everyone back and closes its session, so its znode goes at once.
        var faulty: FakeSession?
        let (step, before, leader) = try await leaderAfterFirstFile { [env] _, session in
            faulty = session
            session.delayExistsReplies(by: .milliseconds(2100))
            _ = env.unconfirmed.lasting(now: clock.now - .seconds(5))
        }
        guard case .next(let next as FailoverState, let reason)? = step else {
            Issue.record("the leader did not step down: \(String(describing: step))")
            return
        }
        #expect(next.session == nil, "a new session, at the back of the queue")
        #expect(reason.code == .notConfirmed)
        #expect(faulty?.closeCount == 1, "the session is closed")
        #expect(zk.stat("/election/" + leader.candidate.name!) == nil, "its znode is gone at once")
        #expect(try env.store.files().last == before.last)
    }

    @Test func aLeaderWhoseConfirmationsAreLateOnlyBrieflyKeepsItsSession() async throws {
        var faulty: FakeSession?
        let (step, _, leader) = try await leaderAfterFirstFile { _, session in
            faulty = session
            session.delayExistsReplies(by: .milliseconds(2100))
        }
        guard case .next(let next as FailoverState, _)? = step else {
            Issue.record("expected Failover, got \(String(describing: step))")
            return
        }
        #expect(next.session != nil)
        #expect(faulty?.closeCount == 0)
        #expect(zk.stat("/election/" + leader.candidate.name!) != nil)
    }

    @Test func aZnodeGoneBeforeItsWatchFiresIsCaughtByTheConfirmingRoundTrip() async throws {
        let (step, before, _) = try await leaderAfterFirstFile { leader, _ in
            zk.deleteSilently("/election/" + leader.candidate.name!)
        }
        guard case .next(let next, let reason)? = step else {
            Issue.record("the leader kept writing without its znode")
            return
        }
        #expect(next is AttempterState)
        #expect(reason.code == .candidateGone)
        #expect(try env.store.files().last == before.last, "no file once the znode is gone")
    }

    @Test func aZnodeOwnedByAnotherSessionIsNotOurLeadership() async throws {
        let (step, before, _) = try await leaderAfterFirstFile { leader, session in
            zk.changeOwnerSilently("/election/" + leader.candidate.name!, to: session.sessionID + 99)
        }
        guard case .next(let next, _)? = step else {
            Issue.record("the leader kept writing on a znode of another session")
            return
        }
        #expect(next is AttempterState)
        #expect(try env.store.files().last == before.last, "no file on another session's znode")
    }
}

extension StateTests {
    /// A candidate found by our prefix (a resumed session, a lost create reply) is
    /// ours only if our session owns it.
    @Test func aCandidateWithOurPrefixOwnedByAnotherSessionIsNeverLed() async throws {
        let session = try await connected()
        let other = try await connected()
        let prefix = Candidate.forSession(replica: "r1", sessionID: session.sessionID).prefix
        let planted = try await other.create("/election/" + prefix, data: [], mode: .ephemeralSequential)
        let (next, reason) = try await step(AttempterState(session: session, candidate: Candidate(prefix: prefix)))
        #expect(next is FailoverState)
        #expect(reason.code == .foreignCandidate)
        #expect(zk.stat(planted.path)?.ephemeralOwner == other.sessionID, "the other session's znode is left alone")
    }
}

extension StateTests {
    /// A persistent child named like a candidate, sorted first: no session owns it
    /// and it never goes away. It is ignored, not waited behind.
    @Test func aPersistentZnodeNamedLikeACandidateDoesNotStallTheElection() async throws {
        let session = try await connected()
        let other = try await connected()
        _ = try await other.create("/election/intruder_dead_0000000000", data: [], mode: .persistent)
        let bump = try await other.create("/election/x_", data: [], mode: .ephemeralSequential)
        try await other.delete(bump.path, version: -1)
        let (next, _) = try await step(AttempterState(session: session, candidate: nil))
        let leader = try #require(next as? LeaderState, "the intruder was waited behind")
        #expect(leader.candidate.name?.hasPrefix("r1_") == true)
        #expect(zk.stat("/election/intruder_dead_0000000000") != nil, "the intruder is left alone")
    }
}

/// Where the states wait: `waiting(until:)` as a wait begins, `progressed()` when
/// it (or a request) ends.
final class WaitTracker: ElectionObserver {
    private let current = Mutex<ContinuousClock.Instant?>(nil)
    var waitingUntil: ContinuousClock.Instant? { current.withLock { $0 } }
    func waiting(until: ContinuousClock.Instant) { current.withLock { $0 = until } }
    func progressed() { current.withLock { $0 = nil } }
}
