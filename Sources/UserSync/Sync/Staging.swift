import Foundation
import GRDB
import LDAP

/// The records of the run being read, held in temporary tables of the store's writer
/// connection (SQLite temp tables live in a temp file, not in memory), so that reading a large
/// directory needs no more memory than one page, and the planner can compare with set-based SQL.
final class Staging: Sendable {
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
                    username TEXT,
                    email TEXT,
                    first_name TEXT,
                    last_name TEXT,
                    display_name TEXT,
                    manager TEXT,
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
                INSERT INTO staged (seq, external_id, locator, dn_norm, username, email, first_name, last_name, display_name, manager,
                                    attributes, disabled, skip, fingerprint, id_hash)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                """)
            let insertIdentical = try RawStatement(db, sql: """
                INSERT INTO identical (user_id, seq, fingerprint, dn_norm) VALUES (?, ?, ?, ?) ON CONFLICT (user_id) DO NOTHING
                """)
            func stage(seq: Int64, user: MappedUser, attributes: String, dnNorm: String?, skip: String?,
                       fingerprint: UInt64?, idHash: UInt64?) throws {
                insert.bind(1, seq)
                insert.bind(2, user.externalId)
                insert.bind(3, user.locator)
                insert.bind(4, dnNorm)
                insert.bind(5, user.username)
                insert.bind(6, user.email)
                insert.bind(7, user.firstName)
                insert.bind(8, user.lastName)
                insert.bind(9, user.displayName)
                insert.bind(10, user.manager)
                insert.bind(11, attributes)
                insert.bind(12, user.disabled)
                insert.bind(13, skip)
                insert.bind(14, fingerprint.map { Int64(bitPattern: $0) })
                insert.bind(15, idHash.map { Int64(bitPattern: $0) })
                try insert.run()
            }
            for (i, record) in records.enumerated() {
                let seq = firstSeq + Int64(i)
                switch record {
                case let .mapped(user, fingerprint, idHash, attributes, dnNorm):
                    try stage(seq: seq, user: user, attributes: attributes, dnNorm: dnNorm, skip: user.skipReason,
                              fingerprint: fingerprint, idHash: idHash)
                case let .identical(externalId, locator, userId, fingerprint, dnNorm):
                    insertIdentical.bind(1, userId)
                    insertIdentical.bind(2, seq)
                    insertIdentical.bind(3, Int64(bitPattern: fingerprint))
                    insertIdentical.bind(4, dnNorm)
                    if try insertIdentical.run() == 0 {
                        // The same record twice in one read (a referral, an alias).
                        let first = try String.fetchOne(db, sql: "SELECT \(Staging.userLocator) FROM users u WHERE id = ?", arguments: [userId]) ?? "?"
                        try stage(seq: seq, user: MappedUser(locator: locator), attributes: "{}", dnNorm: nil,
                                  skip: "the same \(idAttribute) (\(externalId)) as \(first): each user needs its own stable id",
                                  fingerprint: nil, idHash: nil)
                    }
                }
            }
            try db.execute(sql: "INSERT INTO staged_records (entries, data) VALUES (?, ?)",
                           arguments: [records.count, Data(archive)])
        }
    }

    /// After the last page of users: of two records with one stable id only the first is synced
    /// (the other is skipped with the reason); an identical record whose row was written by
    /// someone else during the read is skipped (the next run compares it); with `withDNs` the
    /// identical records join the staged ones with their username and normalised DN, for the
    /// group planner; then the indexes are built.
    func finishUsers(source: String, idAttribute: String, withDNs: Bool) async throws {
        try await database.writeWithoutTransaction { db in
            try db.execute(sql: "CREATE INDEX temp.staged_external_id ON staged (external_id)")
            let duplicate = "': each user needs its own stable id'"
            // Staged records that repeat an earlier staged record's id.
            try db.execute(sql: """
                UPDATE staged SET
                    skip = 'the same ' || ?1 || ' (' || external_id || ') as ' ||
                           (SELECT f.locator FROM staged f WHERE f.external_id = staged.external_id ORDER BY f.seq LIMIT 1) || \(duplicate),
                    external_id = NULL
                WHERE seq IN (
                    SELECT s.seq FROM staged s
                    JOIN (SELECT external_id, min(seq) AS first FROM staged WHERE external_id IS NOT NULL
                          GROUP BY external_id HAVING count(*) > 1) d
                      ON s.external_id = d.external_id AND s.seq > d.first)
                """, arguments: [idAttribute])
            // A staged record and an identical one with the same id: the later one is skipped.
            try db.execute(sql: """
                CREATE TEMP TABLE twins AS
                SELECT s.seq AS staged_seq, i.seq AS identical_seq, i.user_id, s.external_id, s.locator, \(Staging.userLocator) AS dn
                FROM staged s JOIN users u ON u.source = ?2 AND u.external_id = s.external_id JOIN identical i ON i.user_id = u.id
                """, arguments: [idAttribute, source])
            try db.execute(sql: """
                UPDATE staged SET skip = 'the same ' || ?1 || ' (' || t.external_id || ') as ' || t.dn || \(duplicate), external_id = NULL
                FROM twins t WHERE staged.seq = t.staged_seq AND t.staged_seq > t.identical_seq
                """, arguments: [idAttribute])
            try db.execute(sql: """
                INSERT INTO staged (seq, locator, attributes, disabled, skip)
                SELECT t.identical_seq, t.dn, '{}', 0, 'the same ' || ?1 || ' (' || t.external_id || ') as ' || t.locator || \(duplicate)
                FROM twins t WHERE t.identical_seq > t.staged_seq
                """, arguments: [idAttribute])
            try db.execute(sql: """
                DELETE FROM identical WHERE user_id IN (SELECT user_id FROM twins WHERE identical_seq > staged_seq)
                """)
            try db.execute(sql: "DROP TABLE temp.twins")
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

    /// A DN in the form links are matched on (RFC 4514 normalised; lowercased if it does not parse).
    static func normalize(_ dn: String) -> String {
        DistinguishedName.normalize(dn) ?? dn.lowercased()
    }

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
    func addGroups(_ groups: [(externalId: String?, dn: String, name: String?, skip: String?)], idAttribute: String) async throws {
        try await database.write { db in
            let insert = try db.cachedStatement(sql: """
                INSERT INTO staged_groups (external_id, dn, dn_norm, name, skip) VALUES (?, ?, ?, ?, ?)
                ON CONFLICT (external_id) DO NOTHING
                """)
            for group in groups {
                try insert.execute(arguments: [group.externalId, group.dn, Staging.normalize(group.dn), group.name, group.skip])
                if db.changesCount == 0, let id = group.externalId {
                    try insert.execute(arguments: [nil, group.dn, Staging.normalize(group.dn), group.name,
                                                   "the same \(idAttribute) (\(id)) as another group"])
                }
            }
        }
    }

    /// Every temporary table a run makes outside its transaction (a failed run may leave them).
    static let dropAll = ["staged", "staged_records", "hand_emails", "missing", "staged_groups", "staged_links",
                          "identical", "twins", "stale"].map { "DROP TABLE IF EXISTS temp.\($0);" }.joined(separator: "\n")

    func drop() async {
        try? await database.writeWithoutTransaction { db in
            try db.execute(sql: Staging.dropAll)
        }
    }
}

/// One staged user record: mapped in full, or only identified because it is unchanged.
enum StagedRecord: Sendable {
    /// `attributes`: the user's extra attributes as the store's JSON text; `dnNorm`: the
    /// normalised DN, when groups need it (both made by the page task, off the writer).
    case mapped(MappedUser, fingerprint: UInt64, idHash: UInt64?, attributes: String, dnNorm: String?)
    /// `dnNorm`: the normalised DN, when groups need it.
    case identical(externalId: String, locator: String, userId: Int64, fingerprint: UInt64, dnNorm: String?)
}
