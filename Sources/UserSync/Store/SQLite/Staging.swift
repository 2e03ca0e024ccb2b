import Foundation
import GRDB
import LDAP

/// The records of the run being read, held in temporary tables of the store's writer
/// connection (SQLite temp tables live in a temp file, not in memory), so that reading a large
/// directory needs no more memory than one page, and the planner can compare with set-based SQL.
///
/// SQLite keeps temporary tables per connection: every statement that touches them runs on
/// the pool's writer (`write`/`writeWithoutTransaction`), never on a reader, from `reset` to the
/// plan's transaction and `drop`. This type and `UserStore.plan` are the only ones that do.
final class Staging: RunStaging {
    let database: DatabasePool

    init(database: DatabasePool) { self.database = database }

    /// Drops what a previous run left and creates empty tables. The user table gets its
    /// indexes once it is full (`finishUsers`): one sort is much cheaper than keeping four
    /// indexes up to date row by row.
    func reset() async throws {
        try await database.writeWithoutTransaction { db in
            try db.execute(sql: Staging.dropAll)
            try db.execute(sql: """
                -- Records identical to what their users' rows were last written from (RecordFingerprint):
                -- only the user and the record's place in the read are kept; the planner leaves the row alone.
                CREATE TEMP TABLE identical (
                    user_id INTEGER PRIMARY KEY,
                    seq INTEGER NOT NULL,
                    fingerprint INTEGER NOT NULL,
                    dn_norm TEXT
                );
                CREATE TEMP TABLE staged (
                    seq INTEGER PRIMARY KEY,
                    external_id TEXT,
                    locator TEXT NOT NULL,
                    dn_norm TEXT,
                    \(UserField.columns.map { "\($0) TEXT," }.joined(separator: "\n"))
                    attributes TEXT NOT NULL,
                    disabled INTEGER NOT NULL,
                    skip TEXT,
                    user_id INTEGER,
                    action TEXT,
                    -- An identical record (see `identical`) staged for the group planner, which
                    -- matches members by DN and username: the planner leaves the row alone.
                    unchanged INTEGER NOT NULL DEFAULT 0,
                    fingerprint INTEGER,
                    id_hash INTEGER
                );
                CREATE TEMP TABLE staged_groups (
                    seq INTEGER PRIMARY KEY,
                    external_id TEXT UNIQUE,
                    dn TEXT NOT NULL,
                    dn_norm TEXT NOT NULL,
                    name TEXT,
                    skip TEXT,
                    group_id INTEGER,
                    action TEXT
                );
                CREATE INDEX temp.staged_groups_dn_norm ON staged_groups (dn_norm);
                -- One membership link as the directory gives it: the group (by DN) holds the member
                -- (by DN, or by uid for memberUid).
                CREATE TEMP TABLE staged_links (
                    group_dn TEXT NOT NULL,
                    member TEXT NOT NULL,
                    member_kind TEXT NOT NULL CHECK (member_kind IN ('dn', 'uid'))
                );
                CREATE TEMP TABLE staged_records (
                    chunk INTEGER PRIMARY KEY,
                    entries INTEGER NOT NULL,
                    data BLOB NOT NULL
                );
                """)
        }
    }

    /// Adds one page: its records (numbered from `firstSeq` in the order read) and the
    /// compressed copy of the page. `withDNs`: also keep each DN normalised (group memberships
    /// and scoping match on it).
    func add(_ records: [StagedRecord], firstSeq: Int64, archive: [UInt8], withDNs: Bool, idAttribute: String) async throws {
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
            try db.execute(sql: "INSERT INTO staged_records (entries, data) VALUES (?, ?)",
                           arguments: [records.count, Data(archive)])
            for (i, record) in records.enumerated() {
                let seq = firstSeq + Int64(i)
                switch record {
                case let .mapped(user, fingerprint, idHash, attributes, linkKey):
                    try stage(seq: seq, user: user, attributes: attributes, linkKey: linkKey, skip: user.skipReason,
                              fingerprint: fingerprint, idHash: idHash)
                case let .identical(externalId, userId, fingerprint, linkKey):
                    insertIdentical.bind(1, userId)
                    insertIdentical.bind(2, seq)
                    insertIdentical.bind(3, Int64(bitPattern: fingerprint))
                    insertIdentical.bind(4, linkKey)
                    if try insertIdentical.run() == 0 {
                        // The same record twice in one read.
                        let first = try Int64.fetchOne(db, sql: "SELECT seq FROM identical WHERE user_id = ?", arguments: [userId]) ?? 0
                        throw try DuplicateStableID.make(db, idAttribute: idAttribute, id: externalId, seqs: (first, seq))
                    }
                }
            }
        }
    }

    /// After the last page of users: two records with one stable id fail the read (a broken
    /// export, or an idAttribute that is not unique: syncing one of them would deactivate the
    /// user whose id went missing); an identical record whose row was written by someone else
    /// during the read is skipped (the next run compares it); with `withDNs` the identical
    /// records join the staged ones with their username and normalised DN, for the group
    /// planner; then the indexes are built.
    func finishUsers(source: String, idAttribute: String, withDNs: Bool) async throws {
        try await database.writeWithoutTransaction { db in
            try db.execute(sql: "CREATE INDEX temp.staged_external_id ON staged (external_id)")
            // Two staged records with one id, or a staged record and an identical one.
            let twice = try Row.fetchOne(db, sql: """
                SELECT external_id, min(seq) AS first, max(seq) AS second FROM staged WHERE external_id IS NOT NULL
                GROUP BY external_id HAVING count(*) > 1 ORDER BY min(seq) LIMIT 1
                """)
            let twin = try Row.fetchOne(db, sql: """
                SELECT s.external_id, min(s.seq, i.seq) AS first, max(s.seq, i.seq) AS second
                FROM staged s JOIN users u ON u.source = ? AND u.external_id = s.external_id JOIN identical i ON i.user_id = u.id
                ORDER BY min(s.seq, i.seq) LIMIT 1
                """, arguments: [source])
            let found = [twice, twin].compactMap { $0 }.min { ($0["first"] as Int64) < ($1["first"] as Int64) }
            if let found {
                throw try DuplicateStableID.make(db, idAttribute: idAttribute, id: found["external_id"],
                                                 seqs: (found["first"], found["second"]))
            }
            // Rows written by someone else since the read began: the trigger on users forgot their fingerprint.
            try db.execute(sql: """
                CREATE TEMP TABLE stale AS
                SELECT i.user_id, i.seq FROM identical i
                WHERE NOT EXISTS (SELECT 1 FROM sync_fingerprints f WHERE f.user_id = i.user_id AND f.fingerprint = i.fingerprint)
                """)
            try db.execute(sql: """
                INSERT INTO staged (seq, locator, attributes, disabled, user_id, skip)
                SELECT x.seq, coalesce(\(Staging.userLocator), '?'), '{}', 0, x.user_id,
                       'the user''s row changed in the store while this run read the source; compared again by the next run'
                FROM stale x LEFT JOIN users u ON u.id = x.user_id
                """)
            try db.execute(sql: "DELETE FROM identical WHERE user_id IN (SELECT user_id FROM stale)")
            try db.execute(sql: "DROP TABLE temp.stale")
            if withDNs {
                // Already matched: the planner's stable-id match passes over them.
                try db.execute(sql: """
                    INSERT INTO staged (seq, external_id, locator, dn_norm, username, attributes, disabled, user_id, action, unchanged,
                                        fingerprint)
                    SELECT i.seq, u.external_id, \(Staging.userLocator), i.dn_norm, u.username, '{}', 0, i.user_id, 'match', 1, i.fingerprint
                    FROM identical i JOIN users u ON u.id = i.user_id
                    """)
                try db.execute(sql: "DELETE FROM identical")
                try db.execute(sql: "CREATE INDEX temp.staged_dn_norm ON staged (dn_norm)")
            }
            try db.execute(sql: "CREATE INDEX temp.staged_username ON staged (username)")
            try db.execute(sql: "CREATE INDEX temp.staged_user_id ON staged (user_id)")
        }
    }

    /// Indexes the membership links once they are all staged (`finishLinks` after the read):
    /// built by one sort instead of grown by 100,000 random inserts while the groups arrive.
    /// `staged_links_member` covers the member resolution, which walks the links in member order
    /// so that its lookups of the staged users' DNs move forward through their index too.
    func finishLinks() async throws {
        try await database.write { db in
            try db.execute(sql: """
                CREATE INDEX IF NOT EXISTS temp.staged_links_group ON staged_links (group_dn);
                CREATE INDEX IF NOT EXISTS temp.staged_links_member ON staged_links (member, member_kind, group_dn);
                """)
        }
    }

    /// A stored user (alias `u`) as messages name it: its DN, or for sources whose records have
    /// none (a CSV row's line moves), its stable id.
    static let userLocator = "coalesce(u.dn, 'id ' || u.external_id)"

    static func normalize(_ dn: String) -> String { StagedRecord.normalize(dn) }

    /// Adds a compressed chunk of received records (groups).
    func addArchive(_ archive: [UInt8], count: Int) async throws {
        try await database.write { db in
            try db.execute(sql: "INSERT INTO staged_records (entries, data) VALUES (?, ?)", arguments: [count, Data(archive)])
        }
    }

    /// Adds membership links: (group DN, member DN or uid).
    func addLinks(_ links: [(group: String, member: String, kind: String)]) async throws {
        guard !links.isEmpty else { return }
        try await database.write { db in
            let insert = try RawStatement(db, sql: "INSERT INTO staged_links (group_dn, member, member_kind) VALUES (?, ?, ?)")
            for link in links {
                insert.bind(1, link.group)
                insert.bind(2, link.member)
                insert.bind(3, link.kind)
                try insert.run()
            }
        }
    }

    /// Adds one page of groups.
    func addGroups(_ groups: [GroupMapper.StagedGroup], idAttribute: String) async throws {
        try await database.write { db in
            let insert = try db.cachedStatement(sql: """
                INSERT INTO staged_groups (external_id, dn, dn_norm, name, skip) VALUES (?, ?, ?, ?, ?)
                ON CONFLICT (external_id) DO NOTHING
                """)
            for group in groups {
                try insert.execute(arguments: [group.externalId, group.locator, group.linkKey, group.name, group.skip])
                if db.changesCount == 0, let id = group.externalId {
                    try insert.execute(arguments: [nil, group.locator, group.linkKey, group.name,
                                                   "the same \(idAttribute) (\(id)) as another group"])
                }
            }
        }
    }

    /// Every temporary table a run makes outside its transaction (a failed run may leave them).
    static let dropAll = ["staged", "staged_records", "hand_emails", "missing", "staged_groups", "staged_links",
                          "identical", "stale"].map { "DROP TABLE IF EXISTS temp.\($0);" }.joined(separator: "\n")

    func drop() async {
        try? await database.writeWithoutTransaction { db in
            try db.execute(sql: Staging.dropAll)
        }
    }
}

/// Two records of one read with the same stable id: the export or the directory is broken (or
/// `idAttribute` names something that is not unique). Syncing either record would leave the
/// user whose id went missing to be deactivated, so the read fails, naming both records (a
/// CSV row's `path:line`, a DN, a REST resource), and nothing is changed.
public struct DuplicateStableID: Error, CustomStringConvertible, Sendable {
    public let idAttribute: String
    public let id: String
    public let first: String
    public let second: String

    public var description: String {
        "two records have the same \(idAttribute) '\(id)': \(first) and \(second). Each user needs a stable id of its own: correct the source (or choose a unique idAttribute); nothing was changed"
    }

    /// The error for the records read at places `seqs` (1-based, in the order read), named by
    /// their locators as kept in the staging tables.
    static func make(_ db: Database, idAttribute: String, id: String, seqs: (Int64, Int64)) throws -> DuplicateStableID {
        DuplicateStableID(idAttribute: idAttribute, id: id, first: try locator(db, seq: seqs.0), second: try locator(db, seq: seqs.1))
    }

    /// The locator of the record read at `seq`: from the staged row, else from the page kept
    /// in `staged_records` (identical records keep no locator of their own).
    static func locator(_ db: Database, seq: Int64) throws -> String {
        if let locator = try String.fetchOne(db, sql: "SELECT locator FROM staged WHERE seq = ?", arguments: [seq]) {
            return locator
        }
        var before: Int64 = 0
        for row in try Row.fetchAll(db, sql: "SELECT entries, data FROM staged_records ORDER BY chunk") {
            let entries: Int64 = row["entries"]
            if seq <= before + entries {
                let page = try RecordArchive.decode([UInt8](row["data"] as Data))
                let index = Int(seq - before - 1)
                return index < page.count ? page[index].locator.description : "record \(seq)"
            }
            before += entries
        }
        return "record \(seq)"
    }
}
