/// Why the election moved from one state to another: a short stable code (a
/// metric label, something to alert on) and a description for the log.
public struct TransitionReason: Sendable, Equatable, CustomStringConvertible {
    public enum Code: String, Sendable, CaseIterable {
        case resourcesReady = "resources_ready"
        case fileDirUnusable = "file_dir_unusable"
        case zooKeeperUnavailable = "zookeeper_unavailable"
        case electionPathUnavailable = "election_path_unavailable"
        case electionPathMissing = "election_path_missing"
        case lowestCandidate = "lowest_candidate"
        case foreignCandidate = "foreign_candidate"
        case connectionLost = "connection_lost"
        case requestFailed = "request_failed"
        case notAuthorized = "not_authorized"
        case candidateGone = "candidate_gone"
        case notConfirmed = "not_confirmed"
        case writeFailed = "write_failed"
        case newerLeader = "newer_leader"
        case resigned = "resigned"
        case commandExited = "command_exited"
        case reconnected = "reconnected"
        case sessionLost = "session_lost"
        case retry = "retry"
        case stopRequested = "stop_requested"
    }

    public var code: Code
    public var detail: String

    public init(_ code: Code, _ detail: String = "") {
        self.code = code
        self.detail = detail
    }

    public var description: String { detail.isEmpty ? code.rawValue.replacingAll("_", with: " ") : detail }
}
