import CProcess
import Dispatch
import Election
import Logging
import Synchronization

/// Once the election is reached for the first time, start-up is over: the clean
/// file pages it touched (argument parsing, configuration, the first connection)
/// are dropped from this process's mappings (see `cprocess_release_clean_pages`).
/// RSS at rest then counts what the daemon uses at rest; the page cache keeps the
/// rest for whoever needs it. Written and anonymous memory is never touched.
final class StartupPages: ElectionObserver {
    private let done = Atomic(false)
    private let logger: Logger

    init(logger: Logger) { self.logger = logger }

    func transitioned(from: StateName, to: StateName, reason: TransitionReason, token: Int64?) {
        guard to == .attempter, !done.exchange(true, ordering: .relaxed) else { return }
        // Off the election's task: the walk over the mappings takes a millisecond or so.
        DispatchQueue.global().async { [logger] in
            let pages = cprocess_release_clean_pages()
            logger.debug("start-up pages released", metadata: ["pages": "\(pages)"])
        }
    }
}
