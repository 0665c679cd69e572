#if canImport(Glibc)
    import Glibc
#endif

/// Who a replica is: stored as its candidate znode's data and in every file it writes.
public struct Identity: Sendable, Equatable {
    public var replica: String
    public var host: String
    public var pid: Int32
    public var started: String

    public init(
        replica: String, host: String = Identity.hostName(), pid: Int32 = getpid(),
        startedMillis: Int64 = WallClock.nowMillis()
    ) {
        self.replica = replica
        self.host = host
        self.pid = pid
        self.started = WallClock.format(millis: startedMillis)
    }

    public var json: [UInt8] {
        Array(
            JSONValue.object([
                ("host", .string(host)), ("pid", .int(Int64(pid))), ("replica", .string(replica)),
                ("started", .string(started)),
            ]).text.utf8)
    }

    public static func hostName() -> String {
        var buffer = [CChar](repeating: 0, count: 256)
        guard gethostname(&buffer, buffer.count - 1) == 0 else { return "localhost" }
        let bytes = buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }
        return String(decoding: bytes, as: UTF8.self)
    }
}

/// What a leader writes into each file: one JSON object and a newline.
public struct FileContent: Sendable, Equatable {
    public var replica: String
    public var host: String
    public var pid: Int32
    public var token: Int64
    public var counter: Int64
    public var time: String

    public init(identity: Identity, token: Int64, counter: Int64, timeMillis: Int64 = WallClock.nowMillis()) {
        replica = identity.replica
        host = identity.host
        pid = identity.pid
        self.token = token
        self.counter = counter
        self.time = WallClock.format(millis: timeMillis)
    }

    /// Reads a file's bytes back; nil when partial or not this shape.
    public init?(json bytes: [UInt8]) {
        guard bytes.last == UInt8(ascii: "\n"), let object = JSONValue.parseObject(bytes),
            case .string(let replica)? = object["replica"], case .string(let host)? = object["host"],
            case .int(let pid)? = object["pid"], case .int(let token)? = object["token"],
            case .int(let counter)? = object["counter"], case .string(let time)? = object["time"],
            let pid32 = Int32(exactly: pid)
        else { return nil }
        self.replica = replica
        self.host = host
        self.pid = pid32
        self.token = token
        self.counter = counter
        self.time = time
    }

    public var json: [UInt8] {
        Array(
            JSONValue.object([
                ("counter", .int(counter)), ("host", .string(host)), ("pid", .int(Int64(pid))),
                ("replica", .string(replica)), ("time", .string(time)), ("token", .int(token)),
            ]).text.utf8) + [UInt8(ascii: "\n")]
    }
}
