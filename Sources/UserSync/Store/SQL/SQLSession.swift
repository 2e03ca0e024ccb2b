/// Which SQL a store speaks, where the two differ. Statements are written once in the SQL both
/// accept (`IS DISTINCT FROM`, `ON CONFLICT … DO NOTHING`, `UPDATE … FROM`, `RETURNING`, `?`
/// placeholders, which the PostgreSQL session numbers); the dialect answers the few questions
/// that have no common spelling.
public enum SQLDialect: String, Sendable {
    case sqlite
    case postgres

    /// The name of an index on a temporary table: SQLite puts it in the `temp` schema by name,
    /// PostgreSQL puts it beside its table by itself (and refuses a schema name).
    func tempIndex(_ name: String) -> String {
        self == .sqlite ? "temp.\(name)" : name
    }

    /// A 64-bit integer primary key given by the statements: SQLite's rowid (`INTEGER PRIMARY
    /// KEY`, the table's own key, no second index), PostgreSQL's `BIGINT`.
    var integerKey: String { self == .sqlite ? "INTEGER PRIMARY KEY" : "BIGINT PRIMARY KEY" }

    /// A primary key numbered by the store as rows are inserted, in insertion order.
    var generatedKey: String { self == .sqlite ? "INTEGER PRIMARY KEY" : "BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY" }

    /// After a table's definition: SQLite's `WITHOUT ROWID` (the key is the table, for tables
    /// of pairs); PostgreSQL has no rowid to drop.
    var withoutRowID: String { self == .sqlite ? " WITHOUT ROWID" : "" }

    /// After a table in FROM: SQLite's `INDEXED BY` where its own choice of index was measured to
    /// be worse; PostgreSQL takes no hints.
    func indexedBy(_ index: String) -> String { self == .sqlite ? " INDEXED BY \(index)" : "" }

    /// LIKE that ignores case: SQLite's own LIKE does for ASCII letters ("SQLite only
    /// understands upper/lower case for ASCII characters by default", its expression
    /// documentation), PostgreSQL's does not, and has ILIKE. A lower() on every row instead
    /// tripled the time of a search that scans 100,000 users.
    var likeIgnoringCase: String { self == .sqlite ? "LIKE" : "ILIKE" }

    /// A table of the text values of a JSON array (`value` column), from an expression.
    func jsonArrayElements(_ expression: String) -> String {
        self == .sqlite ? "json_each(\(expression))" : "json_array_elements_text(CAST(\(expression) AS json))"
    }
}

/// One connection of a store, inside the transaction (or not) its caller opened: how the
/// planners, the run history and the queries run their statements on either store. Calls are
/// synchronous: a session runs on the database's own thread (GRDB's writer or reader, or the
/// PostgreSQL store's connection thread), never on Swift's cooperative pool.
public protocol SQLSession {
    var dialect: SQLDialect { get }

    /// Runs one statement; returns how many rows it inserted, updated or deleted.
    @discardableResult
    func execute(_ sql: String, _ arguments: [SQLValue]) throws -> Int

    /// Runs one query and returns its rows.
    func rows(_ sql: String, _ arguments: [SQLValue]) throws -> [SQLRow]

    /// Whether a temporary table of this connection exists.
    func temporaryTableExists(_ name: String) throws -> Bool
}

extension SQLSession {
    @discardableResult
    func execute(_ sql: String, _ arguments: SQLValueConvertible?...) throws -> Int {
        try execute(sql, arguments.map { $0?.sqlValue ?? .null })
    }

    /// Runs several statements without arguments, one after another.
    func executeAll(_ statements: [String]) throws {
        for statement in statements { try execute(statement, [SQLValue]()) }
    }

    func rows(_ sql: String, _ arguments: SQLValueConvertible?...) throws -> [SQLRow] {
        try rows(sql, arguments.map { $0?.sqlValue ?? .null })
    }

    /// The first row, if any.
    func row(_ sql: String, _ arguments: SQLValueConvertible?...) throws -> SQLRow? {
        try rows(sql, arguments.map { $0?.sqlValue ?? .null }).first
    }

    /// The first column of the first row, if there is one and it is not NULL.
    func value<T: SQLValueConvertible>(_ type: T.Type = T.self, _ sql: String, _ arguments: SQLValueConvertible?...) throws -> T? {
        guard let row = try rows(sql, arguments.map { $0?.sqlValue ?? .null }).first else { return nil }
        return T.from(row.values[0])
    }

    /// The first column of every row (NULLs left out).
    func values<T: SQLValueConvertible>(_ type: T.Type = T.self, _ sql: String, _ arguments: SQLValueConvertible?...) throws -> [T] {
        try rows(sql, arguments.map { $0?.sqlValue ?? .null }).compactMap { T.from($0.values[0]) }
    }

    /// Every row as a record.
    func records<T: SQLRowDecodable>(_ type: T.Type = T.self, _ sql: String, _ arguments: SQLValueConvertible?...) throws -> [T] {
        try rows(sql, arguments.map { $0?.sqlValue ?? .null }).map { try T(row: $0) }
    }

    /// The first row as a record.
    func record<T: SQLRowDecodable>(_ type: T.Type = T.self, _ sql: String, _ arguments: SQLValueConvertible?...) throws -> T? {
        try rows(sql, arguments.map { $0?.sqlValue ?? .null }).first.map { try T(row: $0) }
    }
}
