import Foundation
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import PostgresNIO

/// One PostgreSQL connection and the serial queue its sessions run on: the only way to reach
/// the connection. Sessions are synchronous (the planners are written once for both stores,
/// against `SQLSession`), so they wait for each answer on this queue's thread — a Dispatch
/// thread, never one of Swift's cooperative threads — while the connection itself runs on
/// NIO's event loops. The connection is closed by `close()` or when the link is released.
final class PostgresLink: @unchecked Sendable {
    // `connection` is immutable; the queue serialises every session on it.
    let connection: PostgresConnection
    let queue: DispatchQueue
    let logger: Logger
    let store: String

    private init(connection: PostgresConnection, label: String, logger: Logger, store: String) {
        self.connection = connection
        self.queue = DispatchQueue(label: "usersync.postgres.\(label)")
        self.logger = logger
        self.store = store
    }

    /// Connects (TLS and the password as the endpoint says).
    static func connect(_ endpoint: PostgresEndpoint, applicationName: String, label: String,
                        logger: Logger) async throws -> PostgresLink {
        let configuration: PostgresConnection.Configuration
        do {
            configuration = try endpoint.configuration(applicationName: applicationName)
        } catch let error as PostgresEndpoint.Invalid {
            throw PostgresStoreError(kind: .configuration, message: error.description, store: endpoint.settings.displayName)
        }
        do {
            let connection = try await PostgresConnection.connect(
                on: MultiThreadedEventLoopGroup.singleton.any(), configuration: configuration,
                id: nextID.withLockedValue { $0 += 1; return $0 }, logger: logger).get()
            return PostgresLink(connection: connection, label: label, logger: logger, store: endpoint.settings.displayName)
        } catch {
            throw PostgresStoreError(error, store: endpoint.settings.displayName, connecting: "\(endpoint.host):\(endpoint.port)")
        }
    }

    /// Connection ids, as postgres-nio logs them.
    private static let nextID = NIOLockedValueBox(0)

    /// Runs `body` on the link's queue with a session of its connection.
    func run<T: Sendable>(_ body: @escaping @Sendable (PostgresSession) throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            queue.async {
                continuation.resume(with: Result { try body(PostgresSession(link: self)) })
            }
        }
    }

    /// Runs `body` in a transaction (`BEGIN` … `COMMIT`, or `ROLLBACK` when it throws).
    func transaction<T: Sendable>(readOnly: Bool = false, _ body: @escaping @Sendable (PostgresSession) throws -> T) async throws -> T {
        try await run { session in try session.transaction(readOnly: readOnly) { try body(session) } }
    }

    var isClosed: Bool { connection.isClosed }

    func close() async {
        try? await connection.close()
    }

    /// Closes the connection without waiting (ending its session: its advisory locks and
    /// temporary tables go with it).
    func closeSoon() {
        PostgresLink.close(connection)
    }

    deinit {
        PostgresLink.close(connection)
    }

    /// postgres-nio asserts that a connection is closed before it is released: the closure
    /// holds it until the close is done.
    private static func close(_ connection: PostgresConnection) {
        guard !connection.isClosed else { return }
        connection.close().whenComplete { _ in withExtendedLifetime(connection) {} }
    }
}
