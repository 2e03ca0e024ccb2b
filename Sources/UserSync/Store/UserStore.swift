import Foundation
import Logging

/// The application's user database, where every run's outcome is kept: a SQLite file
/// (`store.sqlite`, the embedded default) or a PostgreSQL schema that several nodes share
/// (`store.postgres`). Both have the same tables and columns (`schemas/store.sql` and
/// `schemas/store.postgres.sql`) and the same guarantees; the queries below run on either.
public final class UserStore: Sendable {
    let backend: any StoreBackend

    init(backend: any StoreBackend) {
        self.backend = backend
    }

    /// Opens (creating if needed) the SQLite store at `path` and brings its tables up to date.
    public convenience init(path: String) throws {
        self.init(backend: try SQLiteStore(path: path))
    }

    /// Opens the store the configuration names, creating its tables (under a lock, so that
    /// nodes starting together migrate once). `node` names this process to the others (in
    /// PostgreSQL's `application_name`, which `status` shows for the node holding a run lock).
    public static func open(_ settings: StoreSettings, node: String = UserStore.nodeName,
                            logger: Logger = Logger(label: "usersync.store")) async throws -> UserStore {
        switch settings {
        case let .sqlite(path):
            return try UserStore(path: path)
        case let .postgres(postgres):
            return UserStore(backend: try await PostgresStore.open(postgres, node: node, logger: logger))
        }
    }

    /// The store of `settings` if it has been made, else nil — and nothing is created: no SQLite
    /// file, no PostgreSQL schema. For commands that only look (`mapping preview`).
    public static func openExisting(_ settings: StoreSettings, node: String = UserStore.nodeName,
                                    logger: Logger = Logger(label: "usersync.store")) async throws -> UserStore? {
        switch settings {
        case let .sqlite(path):
            return FileManager.default.fileExists(atPath: path) ? try UserStore(path: path) : nil
        case let .postgres(postgres):
            return try await PostgresStore.openExisting(postgres, node: node, logger: logger).map { UserStore(backend: $0) }
        }
    }

    /// This process as other nodes see it: `usersync@HOST pid N`.
    public static var nodeName: String {
        "usersync@\(ProcessInfo.processInfo.hostName) pid \(getpid())"
    }

    /// The store as messages name it: the SQLite path, or the PostgreSQL URL and schema.
    public var name: String { backend.name }

    /// The SQLite file's path; nil for a PostgreSQL store.
    public var sqlitePath: String? { (backend as? SQLiteStore)?.path }

    /// The names of the migrations applied to this store.
    public func appliedMigrations() async throws -> [String] {
        try await backend.appliedMigrations()
    }

    /// The tables and indexes as the database holds them, in a stable order.
    public func schemaSQL() async throws -> [String] {
        try await backend.schemaSQL()
    }

    /// The node that holds the run lock of `source` now, nil when no run is in progress.
    /// (A SQLite store's lock is for the whole store, held by a process on this machine.)
    public func runLockHolder(source: String) async throws -> String? {
        try await backend.runLockHolder(source: source)
    }

    /// Where an incremental source's reads stand (nil: it has no watermark).
    public func watermarkStatus(source: String) async throws -> WatermarkStatus? {
        try await backend.watermark(source: source).map {
            WatermarkStatus(method: $0.method.rawValue, updatedAt: $0.updatedAt, lastFullAt: $0.lastFullAt, server: $0.server)
        }
    }

    /// Closes the store's connections; it cannot be used afterwards. A command calls it before
    /// it exits: SQLite then folds its write-ahead log into the file and removes it.
    public func close() async {
        await backend.close()
    }

    /// Runs `body` on a session in a read-only transaction, off the cooperative pool.
    func read<T: Sendable>(_ body: @escaping @Sendable (any SQLSession) throws -> T) async throws -> T {
        try await backend.read(body)
    }

    /// Runs `body` on a session in a transaction, off the cooperative pool.
    func write<T: Sendable>(_ body: @escaping @Sendable (any SQLSession) throws -> T) async throws -> T {
        try await backend.write(body)
    }
}
