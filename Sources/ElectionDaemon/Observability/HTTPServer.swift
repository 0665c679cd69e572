import NIOCore
import NIOHTTP1
import NIOPosix
import Synchronization

/// The status endpoints over HTTP/1.1 (SwiftNIO), on one event-loop thread of its
/// own: nothing it does runs on the election's tasks, so no client can delay the
/// election. Hostile clients are bounded: each connection has `requestDeadline`
/// from accept to a complete request (a client sending a byte a second is cut
/// off), request heads over NIO's parser limit (80 KiB) get 400, bodies are
/// refused past 64 KiB, every response closes the connection, and at most
/// `maxConnections` are open at once: a new connection closes the oldest open one
/// (which has waited longest without completing a request), so a flood of idle
/// connections cannot lock a health probe out.
final class HTTPServer: Sendable {
    static let requestDeadline: TimeAmount = .seconds(5)
    static let maxConnections = 256
    static let maxBody = 64 * 1024

    private let group: MultiThreadedEventLoopGroup
    private let channel: any Channel

    private init(group: MultiThreadedEventLoopGroup, channel: any Channel) {
        self.group = group
        self.channel = channel
    }

    /// The address it listens on (the port is known after binding port 0).
    var localAddress: String { channel.localAddress.map { "\($0)" } ?? "?" }

    static func start(host: String, port: Int, endpoints: Endpoints) async throws -> HTTPServer {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let open = OpenConnections()
        let bootstrap = ServerBootstrap(group: group)
            .serverChannelOption(ChannelOptions.backlog, value: 128)
            .serverChannelOption(ChannelOptions.socketOption(.so_reuseaddr), value: 1)
            // TCP_NODELAY at IPPROTO_TCP: `socketOption(.tcp_nodelay)` would set option 1 at
            // SOL_SOCKET, which is SO_DEBUG and needs CAP_NET_ADMIN: without it, as deployed,
            // every accepted connection was closed at once.
            .childChannelOption(ChannelOptions.tcpOption(.tcp_nodelay), value: 1)
            .childChannelInitializer { channel in
                let (id, oldest) = open.admit(channel, cap: maxConnections)
                oldest?.close(promise: nil)
                channel.closeFuture.whenComplete { _ in open.remove(id) }
                let deadline = channel.eventLoop.scheduleTask(in: requestDeadline) { channel.close(promise: nil) }
                channel.closeFuture.whenComplete { _ in deadline.cancel() }
                return channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline(withErrorHandling: true)
                    try channel.pipeline.syncOperations.addHandler(RequestHandler(endpoints: endpoints))
                }
            }
        do {
            let channel = try await bootstrap.bind(host: host, port: port).get()
            return HTTPServer(group: group, channel: channel)
        } catch {
            try? await group.shutdownGracefully()
            throw error
        }
    }

    func stop() async {
        try? await channel.close()
        try? await group.shutdownGracefully()
    }
}

/// Answers one request per connection, then closes it.
private final class RequestHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private let endpoints: Endpoints
    private var head: HTTPRequestHead?
    private var bodyBytes = 0

    init(endpoints: Endpoints) { self.endpoints = endpoints }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            self.head = head
        case .body(let buffer):
            bodyBytes += buffer.readableBytes
            if bodyBytes > HTTPServer.maxBody { context.close(promise: nil) }
        case .end:
            guard let head else { return }
            self.head = nil
            let response = endpoints.respond(method: head.method.rawValue, uri: head.uri)
            var headers = HTTPHeaders()
            headers.add(name: "Content-Type", value: response.contentType)
            headers.add(name: "Content-Length", value: "\(response.body.count)")
            headers.add(name: "Connection", value: "close")
            headers.add(name: "Cache-Control", value: "no-store")
            let status = HTTPResponseStatus(statusCode: response.status)
            context.write(
                wrapOutboundOut(.head(HTTPResponseHead(version: head.version, status: status, headers: headers))),
                promise: nil)
            if head.method != .HEAD {
                var buffer = context.channel.allocator.buffer(capacity: response.body.count)
                buffer.writeBytes(response.body)
                context.write(wrapOutboundOut(.body(.byteBuffer(buffer))), promise: nil)
            }
            let channel = context.channel
            context.writeAndFlush(wrapOutboundOut(.end(nil))).whenComplete { _ in channel.close(promise: nil) }
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }
}

/// The open connections in accept order, so that the oldest can make room.
private final class OpenConnections: Sendable {
    private struct Table {
        var next: UInt64 = 0
        var channels: [(id: UInt64, channel: any Channel)] = []
    }
    private let table = Mutex(Table())

    /// Registers `channel`; past `cap`, returns the oldest open connection to close.
    func admit(_ channel: any Channel, cap: Int) -> (id: UInt64, oldest: (any Channel)?) {
        table.withLock { t in
            t.next += 1
            t.channels.append((t.next, channel))
            let oldest = t.channels.count > cap ? t.channels.removeFirst().channel : nil
            return (t.next, oldest)
        }
    }

    func remove(_ id: UInt64) {
        table.withLock { t in t.channels.removeAll { $0.id == id } }
    }
}
