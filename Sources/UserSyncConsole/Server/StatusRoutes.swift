import Hummingbird
import UserSync

/// `/healthz` from the sources' states and `/metrics` from the Prometheus registry: open to
/// every client of the status address, as monitoring expects (no secret is in them).
enum StatusRoutes {
    static func add(to router: Router<ConsoleContext>, status: ServiceStatus, metrics: @escaping @Sendable () -> String,
                    console: Bool) {
        router.get("/healthz") { _, _ in
            let states = await status.snapshot()
            let sick = states.filter { !$0.healthy }
            // Then who runs what now: on a shared store, the node may be another.
            let running = await status.lockHolders().map { "\($0.source): running on \($0.holder)\n" }.joined()
            if sick.isEmpty { return Self.text(.ok, "ok\n" + running) }
            let lines = sick.map { "\($0.source): last run \($0.lastStatus ?? "?"): \($0.lastError ?? "")" }
            return Self.text(.serviceUnavailable, "unhealthy\n" + lines.joined(separator: "\n") + "\n" + running)
        }
        router.get("/metrics") { _, _ in
            Self.text(.ok, metrics(), contentType: "text/plain; version=0.0.4; charset=utf-8")
        }
        router.get("/") { _, _ in
            if console { return Response(status: .seeOther, headers: [.location: "/console/"]) }
            return Self.text(.ok, "usersync serve: /healthz, /metrics (the web console is off: serve.console: true)\n")
        }
    }

    static func text(_ status: HTTPResponse.Status, _ body: String, contentType: String = "text/plain; charset=utf-8") -> Response {
        Response(status: status, headers: [.contentType: contentType], body: .init(byteBuffer: ByteBuffer(string: body)))
    }
}
