import GRDB
import GRDBSQLite

/// One prepared statement of the staging hot path, bound and stepped through SQLite's C API.
///
/// GRDB's `execute(arguments:)` builds an array of `DatabaseValue`s (an existential box and a
/// retain per value) for every row: for 100,000 fifteen-column rows that cost more than SQLite's
/// own insert. The statement is prepared on the connection `db` hands out (inside its
/// `write` closure) and finalized when this object goes, so it never outlives that access.
final class RawStatement {
    private let connection: OpaquePointer
    private let handle: OpaquePointer
    private let sql: String

    init(_ db: Database, sql: String) throws {
        guard let connection = db.sqliteConnection else {
            throw DatabaseError(resultCode: .SQLITE_MISUSE, message: "the store's connection is closed", sql: sql)
        }
        var handle: OpaquePointer?
        let rc = sqlite3_prepare_v2(connection, sql, -1, &handle, nil)
        guard rc == SQLITE_OK, let handle else {
            throw DatabaseError(resultCode: ResultCode(rawValue: rc), message: String(cString: sqlite3_errmsg(connection)), sql: sql)
        }
        self.connection = connection
        self.handle = handle
        self.sql = sql
    }

    deinit { sqlite3_finalize(handle) }

    /// sqlite3_bind_text(3): SQLITE_TRANSIENT ("the special value ... -1") makes SQLite copy the
    /// bytes before the call returns; the constant is a cast macro Swift does not import.
    private static let transient = unsafeBitCast(-1, to: sqlite3_destructor_type.self)

    func bind(_ index: Int32, _ value: String?) {
        guard var value else { sqlite3_bind_null(handle, index); return }
        value.withUTF8 { bytes in
            _ = sqlite3_bind_text(handle, index, bytes.baseAddress.map { UnsafeRawPointer($0).assumingMemoryBound(to: CChar.self) },
                                  Int32(bytes.count), RawStatement.transient)
        }
    }

    func bind(_ index: Int32, _ value: Int64?) {
        guard let value else { sqlite3_bind_null(handle, index); return }
        sqlite3_bind_int64(handle, index, value)
    }

    func bind(_ index: Int32, _ value: Bool) {
        sqlite3_bind_int64(handle, index, value ? 1 : 0)
    }

    /// Steps through the rows the statement returns; `row` reads the current one's columns
    /// (`int64`). Resets the statement afterwards, as `run` does.
    func forEachRow(_ row: () throws -> Void) throws {
        defer {
            sqlite3_reset(handle)
            sqlite3_clear_bindings(handle)
        }
        while true {
            let rc = sqlite3_step(handle)
            if rc == SQLITE_DONE { return }
            guard rc == SQLITE_ROW else {
                throw DatabaseError(resultCode: ResultCode(rawValue: rc), message: String(cString: sqlite3_errmsg(connection)), sql: sql)
            }
            try row()
        }
    }

    /// The current row's column `index` (from 0) as an integer.
    func int64(_ index: Int32) -> Int64 {
        sqlite3_column_int64(handle, index)
    }

    /// The current row's column `index` (from 0) as text, where SQLite holds it (valid only
    /// within `body`).
    func withText<T>(_ index: Int32, _ body: (UnsafeBufferPointer<UInt8>) -> T) -> T {
        let text = sqlite3_column_text(handle, index)
        let count = Int(sqlite3_column_bytes(handle, index))
        return body(UnsafeBufferPointer(start: text, count: count))
    }

    /// Runs the statement with what is bound; clears the bindings for the next row.
    /// Returns how many rows it changed.
    @discardableResult
    func run() throws -> Int {
        let rc = sqlite3_step(handle)
        let message = rc == SQLITE_DONE ? nil : String(cString: sqlite3_errmsg(connection))
        sqlite3_reset(handle)
        sqlite3_clear_bindings(handle)
        guard rc == SQLITE_DONE else {
            throw DatabaseError(resultCode: ResultCode(rawValue: rc), message: message, sql: sql)
        }
        return Int(sqlite3_changes(connection))
    }
}

/// An INSERT of many rows per statement, bound through `RawStatement`: SQLite steps its program
/// once per statement, not once per row. Stepped once per row, staging the membership links of
/// a 100,000-member group tree cost 0.25 s on the writer, three times SQLite's insert itself;
/// 200 rows per statement took 0.12 s.
///
/// `head` is the statement up to VALUES, `tail` what follows the rows (an ON CONFLICT clause);
/// each row binds `columns` parameters. The statement for a full batch is prepared once; a
/// shorter last batch gets its own.
final class BatchedInsert {
    private let db: Database
    private let head: String
    private let tail: String
    private let columns: Int
    let batch: Int
    private var full: RawStatement?

    init(_ db: Database, head: String, columns: Int, tail: String = "", batch: Int) {
        self.db = db
        self.head = head
        self.tail = tail
        self.columns = columns
        // SQLite's limit on parameters (SQLITE_MAX_VARIABLE_NUMBER) is 32,766 since 3.32.
        self.batch = max(1, min(batch, 32_766 / columns))
    }

    private func statement(rows: Int) throws -> RawStatement {
        let row = "(" + Array(repeating: "?", count: columns).joined(separator: ", ") + ")"
        return try RawStatement(db, sql: head + " VALUES " + Array(repeating: row, count: rows).joined(separator: ", ") + " " + tail)
    }

    /// Inserts `rows`, `bind` binding each row's values from the column number it is given
    /// (1-based, as `RawStatement.bind` counts). Returns how many rows the statements changed.
    @discardableResult
    func run<Rows: Collection>(_ rows: Rows, bind: (RawStatement, Int32, Rows.Element) -> Void) throws -> Int {
        var changed = 0
        var start = rows.startIndex
        while start != rows.endIndex {
            let end = rows.index(start, offsetBy: batch, limitedBy: rows.endIndex) ?? rows.endIndex
            let count = rows.distance(from: start, to: end)
            let insert: RawStatement
            if count == batch {
                if full == nil { full = try statement(rows: batch) }
                insert = full!
            } else {
                insert = try statement(rows: count)
            }
            var column: Int32 = 1
            for row in rows[start..<end] {
                bind(insert, column, row)
                column += Int32(columns)
            }
            changed += try insert.run()
            start = end
        }
        return changed
    }
}
