import Foundation
import NIOConcurrencyHelpers
import NIOCore
import PostgresNIO

/// A PostgreSQL connection as an `SQLSession`, on its link's queue. Statements keep the `?`
/// placeholders both stores' SQL is written with; they are numbered here (`$1`, `$2`, …), and
/// SQLite's `?N` becomes `$N`.
struct PostgresSession: SQLSession {
    let link: PostgresLink

    var dialect: SQLDialect { .postgres }

    @discardableResult
    func execute(_ sql: String, _ arguments: [SQLValue]) throws -> Int {
        try query(sql, arguments).metadata.rows ?? 0
    }

    func rows(_ sql: String, _ arguments: [SQLValue]) throws -> [SQLRow] {
        let result = try query(sql, arguments)
        guard let first = result.rows.first else { return [] }
        let columns = first.map(\.columnName)
        return try result.rows.map { row in SQLRow(columns: columns, values: try row.map(PostgresSession.value)) }
    }

    func temporaryTableExists(_ name: String) throws -> Bool {
        try value(Bool.self, "SELECT to_regclass('pg_temp.' || ?) IS NOT NULL", name) ?? false
    }

    /// Runs `body` between `BEGIN` and `COMMIT`; rolls back when it throws (a connection that
    /// dropped rolls back by itself: the server ends its transaction with the session).
    func transaction<T>(readOnly: Bool = false, _ body: () throws -> T) throws -> T {
        try execute(readOnly ? "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY" : "BEGIN", [])
        do {
            let result = try body()
            try execute("COMMIT", [])
            return result
        } catch {
            if !link.isClosed { _ = try? execute("ROLLBACK", []) }
            throw error
        }
    }

    /// Streams `data` (COPY's text format, `PostgresCopyText`) into `table`'s `columns`.
    func copy(into table: String, columns: [String], _ data: ByteBuffer) throws {
        let connection = link.connection
        let logger = link.logger
        let promise = connection.eventLoop.makePromise(of: Void.self)
        promise.completeWithTask {
            try await connection.copyFrom(table: table, columns: columns, logger: logger) { writer in
                try await writer.write(data)
            }
        }
        do {
            try answer(promise.futureResult)
        } catch {
            throw PostgresStoreError(error, store: link.store)
        }
    }

    /// Runs one statement and returns postgres-nio's result: for the loads that decode their
    /// rows straight into their own types (100,000 fingerprints), without an `SQLRow` each.
    func query(_ sql: String, _ arguments: [SQLValue]) throws -> PostgresQueryResult {
        let query = PostgresSession.query(sql, arguments)
        do {
            return try answer(link.connection.query(query, logger: link.logger))
        } catch {
            throw failure(error, sql: sql)
        }
    }

    /// Runs one query and hands each row to `body` as it arrives (on the connection's event
    /// loop, one at a time): a large result is read without an array of every row — the
    /// 100,000 fingerprints a run loads took 20 MB more memory that way.
    func forEachRow(_ sql: String, _ arguments: [SQLValue], _ body: @escaping @Sendable (PostgresRow) throws -> Void) throws {
        let query = PostgresSession.query(sql, arguments)
        do {
            _ = try answer(link.connection.query(query, logger: link.logger, body))
        } catch {
            throw failure(error, sql: sql)
        }
    }

    private static func query(_ sql: String, _ arguments: [SQLValue]) -> PostgresQuery {
        var binds = PostgresBindings(capacity: arguments.count)
        for argument in arguments {
            switch argument {
            // A NULL typed as text: an untyped one leaves `? IS NULL OR source = ?` with a
            // parameter whose type PostgreSQL "could not determine".
            case .null: binds.append(PostgresData(type: .text, value: nil))
            case let .integer(n): binds.append(n)
            case let .real(d): binds.append(d)
            case let .text(t): binds.append(t)
            case let .blob(b): binds.append(ByteBuffer(bytes: b))
            }
        }
        return PostgresQuery(unsafeSQL: PostgresSession.numbered(sql), binds: binds)
    }

    private func failure(_ error: any Error, sql: String) -> PostgresStoreError {
        var failure = PostgresStoreError(error, store: link.store)
        // A statement the server could not run as written (SQLSTATE classes 42 and 22): a
        // defect of usersync's, to be reported with the statement.
        if let state = failure.sqlState, state.hasPrefix("42") || state.hasPrefix("22") {
            failure.message += " [in: \(sql.split(whereSeparator: \.isWhitespace).joined(separator: " ").prefix(400))]"
        }
        return failure
    }

    /// Waits for `future`, or for the connection to close. postgres-nio writes a query to its
    /// channel without a promise (`channel.write(…, promise: nil)` in `queryStream`), so a query
    /// sent after the server went away is dropped with nobody told, and waiting for its answer
    /// would never end: the close fails the wait instead.
    private func answer<T: Sendable>(_ future: EventLoopFuture<T>) throws -> T {
        let connection = link.connection
        let promise = connection.eventLoop.makePromise(of: T.self)
        let done = NIOLockedValueBox(false)
        @Sendable func complete(_ result: Result<T, any Error>) {
            guard done.withLockedValue({ let first = !$0; $0 = true; return first }) else { return }
            promise.completeWith(result)
        }
        future.whenComplete(complete)
        let store = link.store
        connection.closeFuture.whenComplete { _ in
            complete(.failure(PostgresStoreError(kind: .connectionLost, message: "the connection to the database was lost; the transaction in progress was rolled back by the server", store: store)))
        }
        return try promise.futureResult.wait()
    }

    /// A cell as an `SQLValue`: integers (and booleans, as 0 and 1, as SQLite gives them),
    /// reals, bytes, and everything else as its text.
    static func value(_ cell: PostgresCell) throws -> SQLValue {
        guard cell.bytes != nil else { return .null }
        switch cell.dataType {
        case .int2, .int4, .int8, .oid:
            return .integer(try cell.decode(Int64.self))
        case .bool:
            return .integer(try cell.decode(Bool.self) ? 1 : 0)
        case .float4, .float8:
            return .real(try cell.decode(Double.self))
        case .numeric:
            // sum() of bigints is numeric: whole numbers come back as integers.
            let text = "\(try cell.decode(Decimal.self))"
            if let n = Int64(text) { return .integer(n) }
            return .real(Double(text) ?? 0)
        case .bytea:
            return .blob(Array(buffer: try cell.decode(ByteBuffer.self)))
        default:
            return .text(try cell.decode(String.self))
        }
    }

    /// SQLite's placeholders as PostgreSQL's: `?N` → `$N`; a bare `?` takes the number after
    /// the largest one so far (SQLite's rule). Quoted text, quoted names and comments are left
    /// alone.
    static func numbered(_ sql: String) -> String {
        if let cached = cache.withLockedValue({ $0[sql] }) { return cached }
        var out = ""
        out.reserveCapacity(sql.utf8.count + 16)
        var largest = 0
        var quote: Character?
        var comment = false
        var iterator = Array(sql).makeIterator()
        var pending: Character? = iterator.next()
        while let c = pending {
            pending = iterator.next()
            if comment {
                out.append(c)
                if c == "\n" { comment = false }
                continue
            }
            if let q = quote {
                out.append(c)
                if c == q { quote = nil }
                continue
            }
            switch c {
            case "'", "\"":
                quote = c
                out.append(c)
            case "-" where pending == "-":
                comment = true
                out.append(c)
            case "?":
                var digits = ""
                while let d = pending, d.isASCII, d.isNumber {
                    digits.append(d)
                    pending = iterator.next()
                }
                let n = Int(digits) ?? largest + 1
                largest = max(largest, n)
                out.append("$\(n)")
            default:
                out.append(c)
            }
        }
        cache.withLockedValue { if $0.count < 1_000 { $0[sql] = out } }
        return out
    }

    private static let cache = NIOLockedValueBox<[String: String]>([:])
}
