import Foundation
import Logging
import NIOConcurrencyHelpers
import PostgresNIO

/// The PostgreSQL store: the same tables as SQLite's, in a schema of their own
/// (`schemas/store.postgres.sql`), shared by every node that names it. Queries and run
/// bookkeeping share one connection (opened again if it drops); each run has a connection of
/// its own, which holds the source's run lock (an advisory lock), the run's staging tables
/// and its plan transaction — so a node that dies, or loses the database, releases the lock
/// and rolls back whatever it had not committed.
final class PostgresStore: Sendable {
    let endpoint: PostgresEndpoint
    let node: String
    let logger: Logger
    /// The connection for queries and run rows; replaced when it closes.
    let shared: NIOLockedValueBox<PostgresLink?>

    var name: String { endpoint.settings.displayName }
    var schema: String { endpoint.settings.schema }

    private init(endpoint: PostgresEndpoint, node: String, logger: Logger, link: PostgresLink) {
        self.endpoint = endpoint
        self.node = node
        self.logger = logger
        shared = NIOLockedValueBox(link)
    }

    /// Connects, creates the schema and applies the migrations it lacks.
    static func open(_ settings: PostgresStoreSettings, node: String, logger: Logger) async throws -> PostgresStore {
        let store = try await connect(settings, node: node, logger: logger)
        try await store.migrate(store.link())
        return store
    }

    /// The store if its schema has been made (by a node that opened it), else nil, having
    /// created nothing: for commands that only look, such as `mapping preview`.
    static func openExisting(_ settings: PostgresStoreSettings, node: String, logger: Logger) async throws -> PostgresStore? {
        let store = try await connect(settings, node: node, logger: logger)
        let schema = settings.schema
        let made = try await store.read { db in
            try db.value(Bool.self, "SELECT to_regclass(?) IS NOT NULL", "\(schema).schema_migrations") ?? false
        }
        guard made else {
            await store.close()
            return nil
        }
        try await store.migrate(store.link())
        return store
    }

    private static func connect(_ settings: PostgresStoreSettings, node: String, logger: Logger) async throws -> PostgresStore {
        let endpoint: PostgresEndpoint
        do {
            endpoint = try PostgresEndpoint(settings)
        } catch {
            throw PostgresStoreError(kind: .configuration, message: error.description, store: settings.displayName)
        }
        let link = try await PostgresLink.connect(endpoint, applicationName: node, label: "shared", logger: logger)
        return PostgresStore(endpoint: endpoint, node: node, logger: logger, link: link)
    }

    /// The shared connection, connected again when it was lost.
    func link() async throws -> PostgresLink {
        if let link = shared.withLockedValue({ $0 }), !link.isClosed { return link }
        let link = try await PostgresLink.connect(endpoint, applicationName: node, label: "shared", logger: logger)
        shared.withLockedValue { $0 = link }
        return link
    }

    /// A connection of its own, for one run.
    ///
    /// Its sorts and hash joins work on every staged record at once: at PostgreSQL's default
    /// `work_mem` of 4 MB, inserting 100,000 new users sorted 35 MB on disk and hashed the
    /// staged rows in four batches (EXPLAIN ANALYZE). 64 MB holds them, for this session only.
    func runLink() async throws -> PostgresLink {
        let link = try await PostgresLink.connect(endpoint, applicationName: node, label: "run", logger: logger)
        do {
            try await link.run { db in try db.execute("SET work_mem = '64MB'") }
        } catch {
            await link.close()
            throw error
        }
        return link
    }

    /// The advisory lock keys (64-bit, from the schema and a purpose): a run lock per source,
    /// the plan lock and the migration lock per store. Two stores in two schemas of one
    /// database never share a key.
    func lockKey(_ purpose: String) -> Int64 {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in "usersync\u{0}\(schema)\u{0}\(purpose)".utf8 {
            hash = (hash ^ UInt64(byte)) &* 0x100_0000_01b3
        }
        return Int64(bitPattern: hash)
    }

    func runLockKey(source: String) -> Int64 { lockKey("run\u{0}\(source)") }
    var planLockKey: Int64 { lockKey("plan") }
}

extension PostgresStore {
    /// Creates the schema and applies the migrations that are missing, in one transaction that
    /// holds the migration lock: a second node starting at the same moment waits, then finds
    /// them applied.
    func migrate(_ link: PostgresLink) async throws {
        let schema = self.schema
        let key = lockKey("migrate")
        try await link.transaction { db in
            try db.execute("SELECT pg_advisory_xact_lock(?)", key)
            try db.execute("CREATE SCHEMA IF NOT EXISTS \(schema)")
            try db.execute("""
                CREATE TABLE IF NOT EXISTS schema_migrations (identifier text PRIMARY KEY, applied_at text NOT NULL)
                """)
            let applied = Set(try db.values(String.self, "SELECT identifier FROM schema_migrations"))
            for migration in PostgresMigrations.all where !applied.contains(migration.name) {
                try db.executeAll(migration.statements)
                try db.execute("INSERT INTO schema_migrations (identifier, applied_at) VALUES (?, ?)", migration.name, Timestamp.now())
            }
            // A field added to `UserField` after the store was made gets its column (as in
            // SQLite). Only a missing one: ALTER TABLE waits for an exclusive lock on `users`,
            // which a run in progress on another node holds a share of until it commits.
            let existing = Set(try db.values(String.self, """
                SELECT column_name FROM information_schema.columns WHERE table_schema = ? AND table_name = 'users'
                """, schema))
            for column in UserField.columns where !existing.contains(column) {
                try db.execute("ALTER TABLE users ADD COLUMN \(column) text")
            }
        }
    }
}

/// The run lock of one source: a session-level advisory lock on the run's own connection,
/// released by `release` or by the server when the connection ends (a node killed, a network
/// cut), so that another node's next slot can run the source.
final class PostgresRunLease: RunLease, @unchecked Sendable {
    let link: PostgresLink

    init(link: PostgresLink) { self.link = link }

    func release() {
        // Closing the connection ends the session, and with it the lock and any temporary table.
        link.closeSoon()
    }
}
