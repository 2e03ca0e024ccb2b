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
            // Bound through SQLite's C API (RawStatement), many rows per statement
            // (BatchedInsert): the rows of a page go in with no per-value allocation; the page
            // task has already made every text they hold.
            let staged = BatchedInsert(db, head: """
                INSERT INTO staged (seq, external_id, locator, dn_norm, \(UserField.columns.joined(separator: ", ")),
                                    attributes, disabled, skip, fingerprint, id_hash)
                """, columns: UserField.allCases.count + 9, batch: 50)
            let identical = BatchedInsert(db, head: "INSERT INTO identical (user_id, seq, fingerprint, dn_norm)", columns: 4,
                                          tail: "ON CONFLICT (user_id) DO NOTHING", batch: 200)
            var mappedAt: [Int] = []
            var identicalAt: [Int] = []
            for (i, record) in records.enumerated() {
                if case .mapped = record { mappedAt.append(i) } else { identicalAt.append(i) }
            }
            // The page's records first: a duplicate id found below names its records from them.
            try KeptChunks.stage(SQLiteSession(db: db), archive, entries: records.count)
            try staged.run(mappedAt) { insert, column, i in
                guard case let .mapped(user, fingerprint, idHash, attributes, linkKey) = records[i] else { return }
                insert.bind(column, firstSeq + Int64(i))
                insert.bind(column + 1, user.externalId)
                insert.bind(column + 2, user.locator)
                insert.bind(column + 3, linkKey)
                var next = column + 4
                for field in UserField.allCases {
                    insert.bind(next, user[field])
                    next += 1
                }
                insert.bind(next, attributes)
                insert.bind(next + 1, user.disabled)
                insert.bind(next + 2, user.skipReason)
                insert.bind(next + 3, Int64(bitPattern: fingerprint))
                insert.bind(next + 4, idHash.map { Int64(bitPattern: $0) })
            }
            let added = try identical.run(identicalAt) { insert, column, i in
                guard case let .identical(userId, fingerprint, linkKey, _) = records[i] else { return }
                insert.bind(column, userId)
                insert.bind(column + 1, firstSeq + Int64(i))
                insert.bind(column + 2, Int64(bitPattern: fingerprint))
                insert.bind(column + 3, linkKey)
            }
            if added < identicalAt.count {
                // The same record twice in one read: the first of this page's rows whose user
                // holds another place in the read.
                for i in identicalAt {
                    guard case let .identical(userId, _, _, _) = records[i] else { continue }
                    let seq = firstSeq + Int64(i)
                    let first = try Int64.fetchOne(db, sql: "SELECT seq FROM identical WHERE user_id = ?", arguments: [userId]) ?? seq
                    guard first != seq else { continue }
                    // Identical to what the user's row was written from: the row has its id.
                    let externalId = try String.fetchOne(db, sql: "SELECT external_id FROM users WHERE id = ?", arguments: [userId]) ?? ""
                    throw try DuplicateStableID.make(SQLiteSession(db: db), idAttribute: idAttribute, id: externalId, seqs: (first, seq))
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
        try await insert(links, into: "staged_links", columns: ["group_dn", "member", "member_kind"]) { insert, column, link in
            insert.bind(column, link.group)
            insert.bind(column + 1, link.member)
            insert.bind(column + 2, link.kind)
        }
    }

    func addMembers(_ members: [GroupMapper.Member]) async throws {
        try await insert(members, into: "staged_members", columns: ["group_dn", "user_id"]) { insert, column, member in
            insert.bind(column, member.group)
            insert.bind(column + 1, member.userId)
        }
    }

    /// Rows into a staging table, 200 per statement.
    private func insert<Row: Sendable>(_ rows: [Row], into table: String, columns: [String],
                                       bind: @escaping @Sendable (RawStatement, Int32, Row) -> Void) async throws {
        guard !rows.isEmpty else { return }
        try await database.write { db in
            try BatchedInsert(db, head: "INSERT INTO \(table) (\(columns.joined(separator: ", ")))", columns: columns.count, batch: 200)
                .run(rows, bind: bind)
        }
    }

    /// Read through SQLite's C API, each key hashed where SQLite holds it.
    func identicalLinkKeys() async throws -> MemberIndex {
        try await database.write { db in
            let count = try Int.fetchOne(db, sql: "SELECT count(*) FROM identical") ?? 0
            var index = MemberIndex(capacity: count)
            let rows = try RawStatement(db, sql: "SELECT user_id, dn_norm FROM identical WHERE dn_norm IS NOT NULL")
            try rows.forEachRow {
                let userId = rows.int64(0)
                rows.withText(1) { index.add(linkKey: $0, userId: userId) }
            }
            return index
        }
    }

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
