import Foundation
import GRDB

/// A GRDB connection as an `SQLSession`, for the duration of one `read` or `write` closure.
struct SQLiteSession: SQLSession {
    let db: Database

    var dialect: SQLDialect { .sqlite }

    @discardableResult
    func execute(_ sql: String, _ arguments: [SQLValue]) throws -> Int {
        if arguments.isEmpty {
            // Without arguments GRDB runs every statement of the text (DDL scripts).
            try db.execute(sql: sql)
        } else {
            // Prepared once per connection: a statement run for each group of a page is not
            // compiled again each time.
            try db.cachedStatement(sql: sql).execute(arguments: StatementArguments(arguments.map(\.databaseValue)))
        }
        return db.changesCount
    }

    func rows(_ sql: String, _ arguments: [SQLValue]) throws -> [SQLRow] {
        let statement = try db.cachedStatement(sql: sql)
        let columns = statement.columnNames
        let cursor = try Row.fetchCursor(statement, arguments: StatementArguments(arguments.map(\.databaseValue)))
        var rows: [SQLRow] = []
        while let row = try cursor.next() {
            rows.append(SQLRow(columns: columns, values: (0..<columns.count).map { SQLValue(row[$0] as DatabaseValue) }))
        }
        return rows
    }

    func temporaryTableExists(_ name: String) throws -> Bool {
        try db.tableExists(name, in: "temp")
    }
}

extension SQLValue {
    var databaseValue: DatabaseValue {
        switch self {
        case .null: return .null
        case .integer(let n): return n.databaseValue
        case .real(let d): return d.databaseValue
        case .text(let t): return t.databaseValue
        case .blob(let b): return Data(b).databaseValue
        }
    }

    init(_ value: DatabaseValue) {
        switch value.storage {
        case .null: self = .null
        case .int64(let n): self = .integer(n)
        case .double(let d): self = .real(d)
        case .string(let s): self = .text(s)
        case .blob(let b): self = .blob([UInt8](b))
        }
    }
}

extension SQLiteStore {
    /// Runs `body` on a reader, in a read transaction, off the cooperative pool.
    func read<T: Sendable>(_ body: @escaping @Sendable (any SQLSession) throws -> T) async throws -> T {
        try await database.read { db in try body(SQLiteSession(db: db)) }
    }

    /// Runs `body` on the writer, in a transaction, off the cooperative pool.
    func write<T: Sendable>(_ body: @escaping @Sendable (any SQLSession) throws -> T) async throws -> T {
        try await database.write { db in try body(SQLiteSession(db: db)) }
    }
}
