import Logging
import Synchronization

/// The five states of SPEC §2.
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

/// The result of running a state: its successor and why, or the end.
public enum Step: Sendable {
    case next(any ElectionState, reason: String)
    case finished
}

/// One state of the election: it runs until something happens, then returns its
/// successor. Cancellation of the running task means a stop signal arrived.
public protocol ElectionState: Sendable {
    static var name: StateName { get }
    var held: Held { get }
    func run(_ env: ElectionEnvironment) async -> Step
}

extension ElectionState {
    public var name: StateName { Self.name }
}

/// The registry of states: which type implements each name, and every edge of the
/// diagram. The runner checks each transition against it; the README's diagram is
/// written from it.
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
/// the replica's identity, logging, and the failure counter for backoff.
public struct ElectionEnvironment: Sendable {
    public var config: ElectionConfig
    public var sessions: any SessionFactory
    public var store: FileStore
    public var identity: Identity
    public var logger: Logger
    public let failures = FailureCounter()
    /// Called after every transition (status output, tests).
    public var onTransition: @Sendable (_ from: StateName, _ to: StateName, _ reason: String) -> Void

    public init(
        config: ElectionConfig, sessions: any SessionFactory, identity: Identity, logger: Logger,
        onTransition: @escaping @Sendable (StateName, StateName, String) -> Void = { _, _, _ in }
    ) {
        self.config = config
        self.sessions = sessions
        self.store = FileStore(directory: config.fileDir, capacity: config.storageCapacity, replica: config.replicaID)
        self.identity = identity
        self.logger = logger
        self.onTransition = onTransition
    }

    func candidatePath(_ name: String) -> String { config.electionPath + "/" + name }
}

/// Consecutive failures since the election last made progress; drives backoff.
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
    func reset() { count.withLock { $0 = 0 } }
}
