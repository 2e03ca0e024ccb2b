import Foundation
import Hummingbird
import Logging
import NIOCore
import NIOConcurrencyHelpers
import ServiceLifecycle
import UserSync

/// `usersync serve`'s HTTP side, on Hummingbird: `/healthz` and `/metrics` always, the
/// read-only console under `/console` when `serve.console` is on. It is a service of serve's
/// group; `listening` opens once the address is bound, so that the sync loops start only then
/// (an address in use stops `serve` before any run).
public struct WebServer: Service {
    let application: Application<RouterResponder<ConsoleContext>>
    /// Opens when the server listens (the port is the real one when 0 was asked for).
    public let listening: StartGate

    /// - Parameters:
    ///   - console: the console's pages and who may open them; nil: only /healthz and /metrics.
    public init(host: String, port: Int, status: ServiceStatus, metrics: @escaping @Sendable () -> String,
                console: Console?, logger: Logger) {
        let router = Router(context: ConsoleContext.self)
        StatusRoutes.add(to: router, status: status, metrics: metrics, console: console != nil)
        if let console { console.addRoutes(to: router) }
        let gate = StartGate()
        listening = gate
        application = Application(router: router,
                                  configuration: .init(address: .hostname(host, port: port), serverName: "usersync"),
                                  onServerRunning: { channel in gate.open(port: channel.localAddress?.port ?? port) },
                                  logger: logger)
    }

    public func run() async throws {
        do {
            try await application.run()
        } catch let error as IOError {
            // NIO's text ("bind(descriptor:ptr:bytes:): Address already in use) (errno: 98)") made plain.
            listening.fail(ListenFailure(description: String(cString: strerror(error.errnoCode))))
            throw error
        } catch {
            listening.fail(error)
            throw error
        }
    }
}

/// Why the server could not listen, as the system says it ("Address already in use").
public struct ListenFailure: Error, CustomStringConvertible {
    public let description: String
}

/// Opens once: with the bound port, or with the error that kept the server from listening.
public final class StartGate: Sendable {
    private enum State {
        case waiting([CheckedContinuation<Int, any Error>])
        case done(Result<Int, any Error>)
    }
    private let state = NIOLockedValueBox(State.waiting([]))

    func open(port: Int) { settle(.success(port)) }

    func fail(_ error: any Error) { settle(.failure(error)) }

    private func settle(_ result: Result<Int, any Error>) {
        let waiting = state.withLockedValue { state -> [CheckedContinuation<Int, any Error>] in
            guard case .waiting(let list) = state else { return [] }
            state = .done(result)
            return list
        }
        for continuation in waiting { continuation.resume(with: result) }
    }

    /// The bound port, once listening; throws what stopped the server.
    public func wait() async throws -> Int {
        try await withCheckedThrowingContinuation { continuation in
            let result = state.withLockedValue { state -> Result<Int, any Error>? in
                switch state {
                case .waiting(let list):
                    state = .waiting(list + [continuation])
                    return nil
                case .done(let result):
                    return result
                }
            }
            if let result { continuation.resume(with: result) }
        }
    }
}
