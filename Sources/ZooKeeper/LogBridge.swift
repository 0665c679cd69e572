import CZooKeeper
import Logging
import Synchronization

/// Routes the C library's log lines into swift-log.
///
/// The library hands over only a formatted line, so the level is parsed from the
/// text. While a server is down it logs an ERROR+WARN pair about every 100 ms:
/// each call site is let through at most once per `interval`, with a count of
/// what was held back.
public final class ZKLogBridge: Sendable {
    private struct State {
        var logger = Logger(label: "zookeeper.client")
        var lastByKey: [String: (at: ContinuousClock.Instant, suppressed: Int)] = [:]
    }
    private let state = Mutex(State())
    private let interval: Duration = .seconds(10)

    public static let shared = ZKLogBridge()

    /// Uses this logger from now on; the library's own level follows it.
    public func bootstrap(_ logger: Logger) {
        state.withLock { $0.logger = logger }
        let level: ZooLogLevel =
            switch logger.logLevel {
            case .trace: ZOO_LOG_LEVEL_DEBUG
            case .debug: ZOO_LOG_LEVEL_INFO
            case .info, .notice, .warning: ZOO_LOG_LEVEL_WARN
            case .error, .critical: ZOO_LOG_LEVEL_ERROR
            }
        zoo_set_debug_level(level)
    }

    func handle(_ line: String) {
        let parsed = Self.parse(line)
        let now = ContinuousClock.now
        let decision: (Logger, Int)? = state.withLock { s in
            if let last = s.lastByKey[parsed.key], now - last.at < interval {
                s.lastByKey[parsed.key] = (last.at, last.suppressed + 1)
                return nil
            }
            let suppressed = s.lastByKey[parsed.key]?.suppressed ?? 0
            s.lastByKey[parsed.key] = (now, 0)
            return (s.logger, suppressed)
        }
        guard let (logger, suppressed) = decision else { return }
        var metadata: Logger.Metadata = ["source": "libzookeeper"]
        if suppressed > 0 { metadata["suppressed"] = "\(suppressed)" }
        logger.log(level: parsed.level, "\(parsed.message)", metadata: metadata)
    }

    /// Splits "…:ZOO_ERROR@function@line: message" into level, call-site key and message.
    /// The library's errors describe retries it handles itself, so they are demoted
    /// one step: the daemon reports what matters as its own transitions.
    static func parse(_ line: String) -> (level: Logger.Level, key: String, message: String) {
        let levels: [(String, Logger.Level)] = [
            ("ZOO_ERROR@", .warning), ("ZOO_WARN@", .notice), ("ZOO_INFO@", .debug), ("ZOO_DEBUG@", .trace),
        ]
        for (marker, level) in levels {
            guard let range = line.firstRange(of: marker) else { continue }
            let rest = line[range.upperBound...]
            let function = rest.prefix { $0 != "@" }
            let message = rest.split(separator: ":", maxSplits: 1).dropFirst().first.map {
                $0.trimmingPrefix(" ")
            }
            return (level, marker + function, String(message ?? rest))
        }
        return (.info, "", line)
    }
}
