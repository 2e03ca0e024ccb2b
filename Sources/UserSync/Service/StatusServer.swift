import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix
import ServiceLifecycle

/// The service's status address: `GET /healthz` (200 `ok` while every source is healthy, else
/// 503 with the sources that are not) and `GET /metrics` (Prometheus text format). Plain
/// HTTP/1.1 on SwiftNIO, which AsyncHTTPClient already brings; loopback unless configured.
public final class StatusServer: Sendable {
    public typealias Responder = @Sendable (_ path: String) async -> (status: Int, contentType: String, body: String)

    private let channel: any Channel
    /// The address it listens on (the port is the real one when 0 was asked for).
    public let address: String

    /// Binds `host:port` and answers with `respond`.
    public static func start(host: String, port: Int, respond: @escaping Responder) async throws -> StatusServer {
        let bootstrap = ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.backlog, value: 64)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.pipeline.configureHTTPServerPipeline().flatMap {
                    channel.pipeline.addHandler(StatusHandler(respond: respond))
                }
            }
        let channel = try await bootstrap.bind(host: host, port: port).get()
        let bound = channel.localAddress?.port ?? port
        return StatusServer(channel: channel, address: "\(host):\(bound)")
    }

    private init(channel: any Channel, address: String) {
        self.channel = channel
        self.address = address
    }

    public func stop() async {
        try? await channel.close()
    }
}

/// In `serve`'s service group: answers until the group shuts down (SIGTERM, SIGINT), then closes.
/// It is bound before the group starts (`start`), so that an address in use stops `serve` with
/// a configuration error instead of a service failing later.
extension StatusServer: Service {
    public func run() async throws {
        try? await gracefulShutdown()
        await stop()
    }
}

/// The status server's routes: `/healthz` from the sources' states, `/metrics` from `metrics`.
public enum StatusRoutes {
    public static func responder(status: ServiceStatus, metrics: @escaping @Sendable () -> String) -> StatusServer.Responder {
        { path in
            switch path {
            case "/healthz":
                let states = await status.snapshot()
                let sick = states.filter { !$0.healthy }
                // Then who runs what now: on a shared store, the node may be another.
                let running = await status.lockHolders().map { "\($0.source): running on \($0.holder)\n" }.joined()
                if sick.isEmpty { return (200, "text/plain; charset=utf-8", "ok\n" + running) }
                let lines = sick.map { "\($0.source): last run \($0.lastStatus ?? "?"): \($0.lastError ?? "")" }
                return (503, "text/plain; charset=utf-8", "unhealthy\n" + lines.joined(separator: "\n") + "\n" + running)
            case "/metrics":
                return (200, "text/plain; version=0.0.4; charset=utf-8", metrics())
            case "/":
                return (200, "text/plain; charset=utf-8", "usersync serve: /healthz, /metrics\n")
            default:
                return (404, "text/plain; charset=utf-8", "not found: /healthz or /metrics\n")
            }
        }
    }
}

/// One connection: reads a request, answers it, keeps the connection for the next.
private final class StatusHandler: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    let respond: StatusServer.Responder
    private var head: HTTPRequestHead?

    init(respond: @escaping StatusServer.Responder) { self.respond = respond }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head): self.head = head
        case .body: break
        case .end:
            guard let head else { return }
            self.head = nil
            let path = String(head.uri.split(separator: "?").first ?? "/")
            let keepAlive = head.isKeepAlive
            let method = head.method
            let respond = self.respond
            let loop = context.eventLoop
            let bound = NIOLoopBound((self, context), eventLoop: loop)
            Task {
                let answer = method == .GET || method == .HEAD
                    ? await respond(path) : (405, "text/plain; charset=utf-8", "only GET\n")
                loop.execute {
                    let (handler, context) = bound.value
                    handler.write(answer, head: head, keepAlive: keepAlive, context: context)
                }
            }
        }
    }

    private func write(_ answer: (status: Int, contentType: String, body: String), head: HTTPRequestHead, keepAlive: Bool,
                       context: ChannelHandlerContext) {
        var headers = HTTPHeaders()
        headers.add(name: "Content-Type", value: answer.contentType)
        headers.add(name: "Content-Length", value: "\(answer.body.utf8.count)")
        headers.add(name: "Connection", value: keepAlive ? "keep-alive" : "close")
        let response = HTTPResponseHead(version: head.version, status: HTTPResponseStatus(statusCode: answer.status), headers: headers)
        context.write(wrapOutboundOut(.head(response)), promise: nil)
        if head.method != .HEAD {
            context.write(wrapOutboundOut(.body(.byteBuffer(context.channel.allocator.buffer(string: answer.body)))), promise: nil)
        }
        let done = context.writeAndFlush(wrapOutboundOut(.end(nil)))
        if !keepAlive {
            let channel = context.channel
            done.whenComplete { _ in channel.close(promise: nil) }
        }
    }
}
