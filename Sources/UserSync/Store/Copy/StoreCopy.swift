import Foundation
import GRDB
import Logging

/// Moves a SQLite store into an empty PostgreSQL store: every table, history included, in
/// one PostgreSQL transaction that commits only when each table's row count matches the
/// SQLite file's (`usersync store migrate`). The SQLite file is only read, under its run
/// lock, so no run changes it meanwhile; it stays as it was.
public enum StoreCopy {
    /// The tables in an order their foreign keys accept, with the key each is read in order of
    /// (rows are read and copied a page at a time, not held whole in memory).
    static let tables: [(name: String, key: [String])] = [
        ("runs", ["id"]), ("users", ["id"]), ("groups", ["id"]), ("group_members", ["group_id", "user_id"]),
        ("group_parents", ["group_id", "parent_id"]), ("effective_group_members", ["group_id", "user_id"]),
        ("sync_fingerprints", ["user_id"]), ("changes", ["id"]), ("run_records", ["run_id", "chunk"]),
        ("source_watermarks", ["source"]),
    ]
    static let page = 5_000

    /// What was copied: each table and its rows.
    public struct Result: Sendable, Codable, Equatable {
        public var tables: [String: Int] = [:]
        public var from: String
        public var to: String
    }

    public struct Refused: Error, CustomStringConvertible, Sendable {
        public let description: String
    }

    /// Copies `from` (a SQLite store) into `to` (a PostgreSQL store whose tables are empty).
    /// Nothing is written unless every table copies whole.
    public static func copy(from source: UserStore, to target: UserStore, progress: (@Sendable (String, Int) -> Void)? = nil) async throws -> Result {
        guard let sqlite = source.backend as? SQLiteStore else { throw Refused(description: "the store to copy from must be a SQLite file") }
        guard let postgres = target.backend as? PostgresStore else {
            throw Refused(description: "the store to copy to must be PostgreSQL (store.postgres in the configuration)")
        }
        let lock = try await RunLock.acquire(store: sqlite.path, timeout: .seconds(30))
        defer { lock.release() }
        let link = try await postgres.runLink()
        defer { link.closeSoon() }
        var result = Result(from: sqlite.name, to: postgres.name)
        let planLock = postgres.planLockKey
        try await link.run { db in
            try db.execute("BEGIN", [])
            // No run plans while the copy is in progress (runs take this lock to plan).
            try db.execute("SELECT pg_advisory_xact_lock(?)", planLock)
            for table in tables.map(\.name) {
                if let rows = try db.value(Int.self, "SELECT count(*) FROM \(table)"), rows > 0 {
                    throw Refused(description: "the PostgreSQL store already holds \(rows) row(s) in \(table): a store is moved into an empty one only (nothing there is replaced)")
                }
            }
        }
        do {
            for table in tables {
                let columns = try await sqlite.database.read { db in try db.columns(in: table.name).map(\.name) }
                var copied = 0
                var after: [DatabaseValue]?
                while true {
                    let (rows, last) = try await readPage(sqlite, table: table.name, columns: columns, key: table.key, after: after)
                    if rows.isEmpty { break }
                    var text = PostgresCopyText()
                    for row in rows {
                        for value in row {
                            switch value.storage {
                            case .null: text.field(String?.none)
                            case .int64(let n): text.field(n)
                            case .double(let d): text.field(String(d))
                            case .string(let t): text.field(t)
                            case .blob(let b): text.field(bytes: [UInt8](b))
                            }
                        }
                        text.endRow()
                    }
                    let buffer = text.buffer
                    try await link.run { db in try db.copy(into: table.name, columns: columns, buffer) }
                    copied += rows.count
                    progress?(table.name, copied)
                    after = last
                }
                result.tables[table.name] = copied
            }
            let expected = result.tables
            let sourceCounts = try await sqlite.database.read { db in
                try Dictionary(uniqueKeysWithValues: tables.map { ($0.name, try Int.fetchOne(db, sql: "SELECT count(*) FROM \($0.name)") ?? 0) })
            }
            try await link.run { db in
                for (table, count) in sourceCounts {
                    let there = try db.value(Int.self, "SELECT count(*) FROM \(table)") ?? -1
                    guard there == count, expected[table] == count else {
                        throw Refused(description: "\(table): \(count) row(s) in the SQLite store, \(there) copied; nothing was written")
                    }
                }
                // Rows were copied with their ids: new ones continue after them.
                for table in ["runs", "users", "groups", "changes"] {
                    try db.execute("SELECT setval(pg_get_serial_sequence('\(table)', 'id'), coalesce(max(id), 1), max(id) IS NOT NULL) FROM \(table)")
                }
                try db.execute("COMMIT", [])
            }
        } catch {
            if !link.isClosed { _ = try? await link.run { db in try db.execute("ROLLBACK", []) } }
            throw error
        }
        return result
    }

    /// One page of a table's rows after the key `after`, in key order, and the last row's key.
    static func readPage(_ store: SQLiteStore, table: String, columns: [String], key: [String],
                         after: [DatabaseValue]?) async throws -> ([[DatabaseValue]], [DatabaseValue]?) {
        try await store.database.read { db in
            let keyList = key.joined(separator: ", ")
            let condition = after == nil ? "" : "WHERE (\(keyList)) > (\(key.map { _ in "?" }.joined(separator: ", ")))"
            let rows = try Row.fetchAll(db, sql: """
                SELECT \(columns.joined(separator: ", ")) FROM \(table) \(condition) ORDER BY \(keyList) LIMIT \(page)
                """, arguments: StatementArguments(after ?? []))
            let values = rows.map { row in (0..<columns.count).map { row[$0] as DatabaseValue } }
            let last = rows.last.map { row in key.map { row[$0] as DatabaseValue } }
            return (values, last)
        }
    }
}
