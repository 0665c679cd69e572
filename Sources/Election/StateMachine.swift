import Logging
import Synchronization

/// The five states (docs/design.md, "States"; the README's diagram).
public enum StateName: String, Sendable, CaseIterable {
    case initializing = "Init"
    case attempter = "Attempter"
    case leader = "Leader"
    case failover = "Failover"
    case stopping = "Stopping"
}

/// What a state holds that must be released when the daemon stops.
public struct Held: Sendable {
    public var session: (any CoordinationSession)?
    public var candidate: Candidate?

    public init(session: (any CoordinationSession)?, candidate: Candidate?) {
        self.session = session
        self.candidate = candidate
    }
}

/// The result of running a state: its successor and why, a stop request with what
/// the state holds (the runner builds Stopping from it), or the end.
public enum Step: Sendable {
    case next(any ElectionState, TransitionReason)
    case stop(Held)
    case finished
}

/// One state of the election: it runs until something happens, then returns its
/// successor. A stop request wakes it (`Step.stop`); task cancellation is only
/// for the second signal, which ends the process anyway.
public protocol ElectionState: Sendable {
    static var name: StateName { get }
    var held: Held { get }
    func run(_ env: ElectionEnvironment) async -> Step
}

extension ElectionState {
    public var name: StateName { Self.name }
}

/// The registry of states: which type implements each name, and every edge of the
/// diagram. The runner checks each transition against it; the README's diagram
/// draws exactly these edges (`StateDiagramTests` compares them).
public enum StateRegistry {
    public static let types: [StateName: any ElectionState.Type] = [
        .initializing: InitState.self,
        .attempter: AttempterState.self,
        .leader: LeaderState.self,
        .failover: FailoverState.self,
        .stopping: StoppingState.self,
    ]

    public static let edges: [StateName: Set<StateName>] = [
        .initializing: [.attempter, .failover, .stopping],
        .attempter: [.leader, .failover, .stopping],
        .leader: [.attempter, .failover, .stopping],
        .failover: [.initializing, .attempter, .stopping],
        .stopping: [],
    ]

    public static func allows(_ from: StateName, _ to: StateName) -> Bool {
        edges[from]?.contains(to) ?? false
    }
}

/// Everything the states share: settings, the session factory, the file store,
/// the replica's identity, logging, the observer, outside requests, and the
/// failure counter for backoff.
public struct ElectionEnvironment: Sendable {
    public var config: ElectionConfig
    public var sessions: any SessionFactory
    public var store: FileStore
    public var identity: Identity
    public var logger: Logger
    /// Hears every transition, file, failure, confirmation and leadership change.
    public var observer: any ElectionObserver
    public let requests: Requests
    public let failures = FailureCounter()
    /// Keep a watch on the current leader so that status readers learn of a
    /// handover at once (costs each follower one read per leader change; on when
    /// the HTTP endpoints are).
    public var tracksLeader = false
    /// The user's command, run only while leading (`election run -- CMD`).
    public var command: any SupervisedCommand = NoCommand()
    /// What the leader does when the command exits by itself.
    public var exitPolicy: ExitPolicy = .resign
    /// Quick exits of the command in a row: drives the backoff of resign and restart,
    /// apart from `failures`, which a written file resets.
    public let commandFailures = FailureCounter()
    /// Since when no host of `--zk-servers` resolves (see `InitState`).
    let unresolved = FaultSince()
    /// Since when the leader's confirmations have come back too late to cover a
    /// write (cleared by a renewal back within a quarter of the session timeout);
    /// past the session timeout the leader steps down (see `LeaderState`).
    let unconfirmed = FaultSince()
    /// Authentication failures in this process (only the first is logged loudly).
    let authFailures = FailureCounter()
    /// What every state reads the time from and sleeps on (see `ElectionClock`).
    public var clock: any ElectionClock = SystemClock()

    public init(
        config: ElectionConfig, sessions: any SessionFactory, identity: Identity, logger: Logger,
        observer: any ElectionObserver = NoObserver(), requests: Requests = Requests()
    ) {
        self.config = config
        self.sessions = sessions
        self.store = FileStore(directory: config.fileDir, capacity: config.storageCapacity, replica: config.replicaID)
        self.identity = identity
        self.logger = logger
        self.observer = observer
        self.requests = requests
    }

    func candidatePath(_ name: String) -> String { config.electionPath + "/" + name }

    /// Stops the daemon for a problem no retry can heal, with one line at critical
    /// level; the process then exits with `status` (a fault that can heal is retried
    /// with backoff instead, and reminded of while it lasts).
    func giveUp(_ error: ConfigError, status: Int32 = 64) {
        let line = "\(error); this cannot heal by retrying: stopping"
        logger.critical("\(line)")
        requests.fatal.fire(Fatal(status: status, line: line))
        requests.stop.fire("\(error.flag) cannot work")
    }

    /// True the first time an authentication failure is reported in this process.
    func reportAuthFailureOnce() -> Bool {
        authFailures.next() == 0
    }

    /// ZooKeeper refused an operation on the election (NOAUTH): with digest auth,
    /// wrong credentials are not rejected at connect, they just match no ACL. Said
    /// once per process at error level; the retries back off like any fault.
    func notAuthorized(_ operation: String) -> TransitionReason {
        let detail = "not authorised to \(operation) \(config.qualifiedElectionPath) (NOAUTH)"
        if reportAuthFailureOnce() {
            logger.error(
                """
                ZooKeeper refused this replica's credentials: \(detail); check \(Setting.zkAuthFile.spelled) \
                and the ACL of the election path; retrying with a growing backoff, \
                repeats logged at debug
                """)
        }
        return TransitionReason(.notAuthorized, detail)
    }

    /// Logs, once per name, an entry of file-dir that is named like an election file
    /// but is not a regular file: it is left alone.
    func reportForeignEntry(_ name: String) {
        guard store.firstSighting(ofForeign: name) else { return }
        logger.warning(
            "file-dir holds a non-regular entry named like an election file; ignoring it",
            metadata: ["entry": "\(name)", "dir": "\(store.directory)"])
    }
}

/// Since when a fault has lasted without a break (nil: it is not happening).
public final class FaultSince: Sendable {
    private let since = Mutex<ContinuousClock.Instant?>(nil)
    public init() {}
    /// Records the fault as begun at `start` (default `now`) unless it already runs;
    /// returns how long it has lasted.
    func lasting(now: ContinuousClock.Instant, since start: ContinuousClock.Instant? = nil) -> Duration {
        since.withLock { value in
            if value == nil { value = start ?? now }
            return now - value!
        }
    }
    /// How long the fault has lasted, without recording it; nil when it is not happening.
    func current(now: ContinuousClock.Instant) -> Duration? { since.withLock { $0.map { now - $0 } } }
    func clear() { since.withLock { $0 = nil } }
}

/// Consecutive failures since the election last did real work; drives backoff.
/// Only real work resets it (a file published, or a follower that waited a whole
/// attempter-timeout undisturbed): reaching Attempter or Leader again does not,
/// so a fault that persists across whole Leader → Failover → Init → Leader cycles
/// backs off further each time instead of churning.
public final class FailureCounter: Sendable {
    private let count = Mutex(0)
    public init() {}
    /// Records a failure and returns how many came before it.
    func next() -> Int {
        count.withLock { value in
            defer { value += 1 }
            return value
        }
    }
    /// Failures since the last reset.
    public var current: Int { count.withLock { $0 } }
    /// Sets the count (a streak kept by a value, such as `LeaderLoop`'s).
    func set(_ value: Int) { count.withLock { $0 = value } }
    /// Resets; returns how many failures there were.
    @discardableResult
    func reset() -> Int {
        count.withLock { value in
            defer { value = 0 }
            return value
        }
    }
}
