import ArgumentParser
import Election
import ElectionDaemon

#if canImport(Glibc)
    import Glibc
#endif

/// `election probe URL`: exits 0 when an HTTP GET of URL answers 2xx, 1 otherwise.
/// For container health checks in an image without curl (as grpc_health_probe).
struct ProbeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "probe",
        abstract: "Exit 0 when an HTTP GET of URL answers 2xx within --timeout, 1 otherwise.",
        discussion: "Only plain http://host:port/path URLs; meant for health checks of the daemon's own endpoints.")

    @Argument(help: "For example http://127.0.0.1:8080/healthz")
    var url: String
    @Option(help: "Give up after this long. Default 2s.")
    var timeout: String = "2s"

    func validate() throws {
        guard HTTPProbe.parse(url) != nil else {
            throw ValidationError("'\(url)' is not an http://host:port/path URL")
        }
        guard let limit = DurationParser.parse(timeout), limit > .zero else {
            throw ValidationError("--timeout '\(timeout)' is not a positive duration")
        }
    }

    func run() throws {
        let target = HTTPProbe.parse(url)!
        let limit = DurationParser.parse(timeout)!
        switch HTTPProbe.get(host: target.host, port: target.port, path: target.path, timeout: limit) {
        case .success(let status) where (200..<300).contains(status):
            print("\(status)")
        case .success(let status):
            print("\(status)")
            throw ExitCode(1)
        case .failure(let reason):
            print("probe failed: \(reason)")
            throw ExitCode(1)
        }
    }
}

/// A minimal blocking HTTP/1.1 GET: enough to read a status line.
enum HTTPProbe {
    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    static func parse(_ url: String) -> (host: String, port: Int, path: String)? {
        guard url.hasPrefix("http://") else { return nil }
        let rest = url.dropFirst("http://".count)
        let slash = rest.firstIndex(of: "/") ?? rest.endIndex
        let path = rest[slash...].isEmpty ? "/" : String(rest[slash...])
        let authority = String(rest[..<slash])
        if let address = HostPort.parse(authority) { return (address.host, address.port, path) }
        guard !authority.isEmpty, !authority.contains(":") else { return nil }
        return (authority, 80, path)
    }

    static func get(host: String, port: Int, path: String, timeout: Duration) -> Result<Int, Failure> {
        var hints = addrinfo()
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var list: UnsafeMutablePointer<addrinfo>?
        guard getaddrinfo(host, "\(port)", &hints, &list) == 0, let first = list else {
            return .failure(Failure(description: "cannot resolve \(host)"))
        }
        defer { freeaddrinfo(list) }
        let fd = socket(first.pointee.ai_family, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return .failure(Failure(description: "no socket")) }
        defer { close(fd) }
        let (seconds, attoseconds) = timeout.components
        var tv = timeval(tv_sec: Int(seconds), tv_usec: Int(attoseconds / 1_000_000_000_000))
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        guard connect(fd, first.pointee.ai_addr, first.pointee.ai_addrlen) == 0 else {
            return .failure(
                Failure(description: "cannot connect to \(host):\(port): \(errnoText(errno))"))
        }
        let request = "GET \(path) HTTP/1.1\r\nHost: \(host):\(port)\r\nConnection: close\r\n\r\n"
        guard request.withCString({ send(fd, $0, strlen($0), Int32(MSG_NOSIGNAL)) }) > 0 else {
            return .failure(Failure(description: "cannot send the request"))
        }
        var reply: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 512)
        while reply.count < 64, !reply.contains(UInt8(ascii: "\n")) {
            let n = recv(fd, &buffer, buffer.count, 0)
            if n <= 0 { break }
            reply += buffer[0..<n]
        }
        let line = String(
            decoding: reply.prefix { $0 != UInt8(ascii: "\r") && $0 != UInt8(ascii: "\n") }, as: UTF8.self)
        let parts = line.split(separator: " ")
        guard parts.count >= 2, parts[0].hasPrefix("HTTP/"), let status = Int(parts[1]) else {
            return .failure(Failure(description: "no HTTP status line within \(timeout)"))
        }
        return .success(status)
    }
}
