#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif
#if canImport(Glibc)
    import Glibc
#endif

/// Who a replica is: stored as its candidate znode's data and in every file it writes.
public struct Identity: Sendable, Codable, Equatable {
    public var replica: String
    public var host: String
    public var pid: Int32
    public var started: String

    public init(replica: String, host: String = Identity.hostName(), pid: Int32 = getpid(), started: Date = .now) {
        self.replica = replica
        self.host = host
        self.pid = pid
        self.started = Identity.timestamp(started)
    }

    public var json: [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return Array((try? encoder.encode(self)) ?? Data())
    }

    /// RFC 3339 with milliseconds, UTC.
    public static func timestamp(_ date: Date) -> String {
        date.formatted(Date.ISO8601FormatStyle(includingFractionalSeconds: true))
    }

    public static func hostName() -> String {
        var buffer = [CChar](repeating: 0, count: 256)
        guard gethostname(&buffer, buffer.count - 1) == 0 else { return "localhost" }
        let bytes = buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }
        return String(decoding: bytes, as: UTF8.self)
    }
}

/// What a leader writes into each file.
public struct FileContent: Sendable, Codable, Equatable {
    public var replica: String
    public var host: String
    public var pid: Int32
    public var token: Int64
    public var counter: Int64
    public var time: String

    public init(identity: Identity, token: Int64, counter: Int64, time: Date = .now) {
        replica = identity.replica
        host = identity.host
        pid = identity.pid
        self.token = token
        self.counter = counter
        self.time = Identity.timestamp(time)
    }

    public var json: [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return Array((try? encoder.encode(self)) ?? Data()) + [UInt8(ascii: "\n")]
    }
}
