import Foundation
import GRDB
import LDAP

/// The records of the run being read, held in temporary tables of the store's writer
/// connection (SQLite temp tables live in a temp file, not in memory), so that reading a large
/// directory needs no more memory than one page, and the planner can compare with set-based SQL.
///
/// SQLite keeps temporary tables per connection: every statement that touches them runs on
/// the pool's writer (`write`/`writeWithoutTransaction`), never on a reader, from `reset` to the
/// plan's transaction and `drop`. This type and `SQLiteStore.plan` are the only ones that do.
final class Staging: RunStaging {
    let database: DatabasePool

    init(database: DatabasePool) { self.database = database }

    /// Drops what a previous run left and creates empty tables (`StagingTables.create`).
    func reset() async throws {
        try await database.writeWithoutTransaction { db in try StagingTables.create(SQLiteSession(db: db)) }
    }

    /// Adds one page: its records (numbered from `firstSeq` in the order read) and the
    /// compressed copy of the page. `withDNs`: also keep each DN normalised (group memberships
    /// and scoping match on it).
    func add(_ records: [StagedRecord], firstSeq: Int64, archive: ArchiveChunk, withDNs: Bool, idAttribute: String) async throws {
        try await database.write { db in
            // Bound through SQLite's C API (RawStatement): the rows of a page go in with no
            // per-value allocation; the page task has already made every text they hold.
            let insert = try RawStatement(db, sql: """
                INSERT INTO staged (seq, external_id, locator, dn_norm, \(UserField.columns.joined(separator: ", ")),
                                    attributes, disabled, skip, fingerprint, id_hash)
                VALUES (?, ?, ?, ?, \(UserField.columns.map { _ in "?" }.joined(separator: ", ")), ?, ?, ?, ?, ?)
                """)
            let insertIdentical = try RawStatement(db, sql: """
                INSERT INTO identical (user_id, seq, fingerprint, dn_norm) VALUES (?, ?, ?, ?) ON CONFLICT (user_id) DO NOTHING
                """)
            func stage(seq: Int64, user: MappedUser, attributes: String, linkKey: String?, skip: String?,
                       fingerprint: UInt64?, idHash: UInt64?) throws {
                insert.bind(1, seq)
                insert.bind(2, user.externalId)
                insert.bind(3, user.locator)
                insert.bind(4, linkKey)
                var column: Int32 = 5
                for field in UserField.allCases {
                    insert.bind(column, user[field])
                    column += 1
                }
                insert.bind(column, attributes)
                insert.bind(column + 1, user.disabled)
                insert.bind(column + 2, skip)
                insert.bind(column + 3, fingerprint.map { Int64(bitPattern: $0) })
                insert.bind(column + 4, idHash.map { Int64(bitPattern: $0) })
                try insert.run()
            }
            // The page's records first: a duplicate id found below names its records from them.
            try KeptChunks.stage(SQLiteSession(db: db), archive, entries: records.count)
            for (i, record) in records.enumerated() {
                let seq = firstSeq + Int64(i)
                switch record {
                case let .mapped(user, fingerprint, idHash, attributes, linkKey):
                    try stage(seq: seq, user: user, attributes: attributes, linkKey: linkKey, skip: user.skipReason,
                              fingerprint: fingerprint, idHash: idHash)
                case let .identical(userId, fingerprint, linkKey, _):
                    insertIdentical.bind(1, userId)
                    insertIdentical.bind(2, seq)
                    insertIdentical.bind(3, Int64(bitPattern: fingerprint))
                    insertIdentical.bind(4, linkKey)
                    if try insertIdentical.run() == 0 {
                        // The same record twice in one read.
                        let first = try Int64.fetchOne(db, sql: "SELECT seq FROM identical WHERE user_id = ?", arguments: [userId]) ?? 0
                        // Identical to what the user's row was written from: the row has its id.
                        let externalId = try String.fetchOne(db, sql: "SELECT external_id FROM users WHERE id = ?", arguments: [userId]) ?? ""
                        throw try DuplicateStableID.make(SQLiteSession(db: db), idAttribute: idAttribute, id: externalId, seqs: (first, seq))
                    }
                }
            }
        }
    }

    func finishUsers(source: String, idAttribute: String, stageIdentical: Bool, fingerprintRows: Int?) async throws -> Bool {
        try await database.writeWithoutTransaction { db in
            try StagingTables.finishUsers(SQLiteSession(db: db), source: source, idAttribute: idAttribute, stageIdentical: stageIdentical,
                                          fingerprintRows: fingerprintRows)
        }
    }

    func finishLinks() async throws {
        try await database.write { db in try StagingTables.finishLinks(SQLiteSession(db: db)) }
    }

    func scope(toMembersOf memberOf: [String]) async throws -> Int {
        try await database.write { db in try StagingTables.scope(SQLiteSession(db: db), toMembersOf: memberOf) }
    }

    /// Adds a chunk of received records (groups).
    func addArchive(_ archive: ArchiveChunk, count: Int) async throws {
        try await database.write { db in try KeptChunks.stage(SQLiteSession(db: db), archive, entries: count) }
    }

    /// Adds membership links: (group DN, member DN or uid).
    func addLinks(_ links: [(group: String, member: String, kind: String)]) async throws {
        guard !links.isEmpty else { return }
        try await database.write { db in
            // Many rows per statement: a statement stepped once per link cost a 100,000-member
            // group tree 0.25 s on the writer, three times what SQLite's insert itself takes.
            func statement(rows: Int) throws -> RawStatement {
                try RawStatement(db, sql: "INSERT INTO staged_links (group_dn, member, member_kind) VALUES "
                                 + Array(repeating: "(?, ?, ?)", count: rows).joined(separator: ", "))
            }
            let batch = Staging.linkBatch
            let full = links.count >= batch ? try statement(rows: batch) : nil
            var start = 0
            while start < links.count {
                let count = min(batch, links.count - start)
                let insert = count == batch ? full! : try statement(rows: count)
                var column: Int32 = 1
                for link in links[start..<start + count] {
                    insert.bind(column, link.group)
                    insert.bind(column + 1, link.member)
                    insert.bind(column + 2, link.kind)
                    column += 3
                }
                try insert.run()
                start += count
            }
        }
    }

    /// Links per INSERT statement in `addLinks` (three parameters each, well under SQLite's
    /// limit of 32,766).
    static let linkBatch = 200

    func addIDs(_ ids: [String], to list: DeltaList) async throws {
        guard !ids.isEmpty else { return }
        try await database.write { db in
            let insert = try RawStatement(db, sql: "INSERT INTO \(list.rawValue) (external_id) VALUES (?)")
            for id in ids {
                insert.bind(1, id)
                try insert.run()
            }
        }
    }

    func addGroups(_ groups: [GroupMapper.StagedGroup], idAttribute: String) async throws {
        try await database.write { db in try StagingTables.addGroups(SQLiteSession(db: db), groups, idAttribute: idAttribute) }
    }

    func run<T: Sendable>(_ body: @escaping @Sendable (any SQLSession) throws -> T) async throws -> T {
        try await database.write { db in try body(SQLiteSession(db: db)) }
    }

    func drop() async {
        try? await database.writeWithoutTransaction { db in try StagingTables.drop(SQLiteSession(db: db)) }
    }
}
