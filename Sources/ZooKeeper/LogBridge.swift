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
        /// Sessions being closed on purpose, and when the last such close returned.
        var closes = 0
        var lastCloseEnded: ContinuousClock.Instant?
    }
    private let state = Mutex(State())
    private let interval: Duration = .seconds(10)
    /// How long after a close on purpose the library's complaints stay demoted: the
    /// handle's last lines can trail the call that closed it.
    private let closeGrace: Duration = .seconds(1)

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

    /// Runs `body` (a `zookeeper_close`) with the library's complaints at debug: a
    /// close makes the server drop the connection, which the library reports as
    /// `errno=112(Host is down): failed while receiving a server response`, on every
    /// normal stop. Lines logged within `closeGrace` after it returns count too.
    func closing(_ body: () -> Void) {
        state.withLock { $0.closes += 1 }
        defer {
            state.withLock { s in
                s.closes -= 1
                s.lastCloseEnded = .now
            }
        }
        body()
    }

    func handle(_ line: String) {
        var parsed = Self.parse(line)
        let now = ContinuousClock.now
        let decision: (Logger, Int)? = state.withLock { s in
            if s.closes > 0 || s.lastCloseEnded.map({ now - $0 < closeGrace }) == true {
                parsed.level = min(parsed.level, .debug)
            }
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
            // The library ends some lines with a newline of its own.
            var text = String(message ?? rest)
            while text.last?.isNewline == true { text.removeLast() }
            return (level, marker + function, text)
        }
        return (.info, "", line)
    }
}
