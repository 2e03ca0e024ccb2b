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
            try db.execute(sql: """
                DROP TABLE IF EXISTS temp.staged;
                DROP TABLE IF EXISTS temp.staged_records;
                DROP TABLE IF EXISTS temp.hand_emails;
                DROP TABLE IF EXISTS temp.missing;
                DROP TABLE IF EXISTS temp.staged_groups;
                DROP TABLE IF EXISTS temp.staged_links;
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
                    -- The record is exactly as the user's row was last written from (RecordFingerprint):
                    -- only its identity is staged, and the planner leaves the row alone.
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
                CREATE INDEX temp.staged_links_group ON staged_links (group_dn);
                CREATE INDEX temp.staged_links_member ON staged_links (member);
                CREATE TEMP TABLE staged_records (
                    chunk INTEGER PRIMARY KEY,
                    entries INTEGER NOT NULL,
                    data BLOB NOT NULL
                );
                """)
        }
    }

    /// Adds one page: its records, in the order read, and the compressed copy of the page.
    /// `withDNs`: also keep each DN normalised (group memberships and scoping match on it).
    func add(_ records: [StagedRecord], archive: [UInt8], withDNs: Bool) async throws {
        try await database.write { db in
            let insert = try db.cachedStatement(sql: """
                INSERT INTO staged (external_id, locator, dn_norm, username, email, first_name, last_name, display_name, manager,
                                    attributes, disabled, skip, fingerprint, id_hash)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                """)
            let insertUnchanged = try db.cachedStatement(sql: """
                INSERT INTO staged (external_id, locator, attributes, disabled, user_id, unchanged, fingerprint, id_hash)
                VALUES (?, ?, '{}', 0, ?, 1, ?, ?)
                """)
            for record in records {
                switch record {
                case let .mapped(user, fingerprint, idHash):
                    try insert.execute(arguments: [user.externalId, user.locator, withDNs ? Staging.normalize(user.locator) : nil,
                                                   user.username, user.email, user.firstName, user.lastName, user.displayName,
                                                   user.manager, user.attributesJSON, user.disabled, user.skipReason,
                                                   Int64(bitPattern: fingerprint), idHash.map { Int64(bitPattern: $0) }])
                case let .unchanged(externalId, locator, userId, fingerprint, idHash):
                    try insertUnchanged.execute(arguments: [externalId, locator, userId, Int64(bitPattern: fingerprint),
                                                            Int64(bitPattern: idHash)])
                }
            }
            try db.execute(sql: "INSERT INTO staged_records (entries, data) VALUES (?, ?)",
                           arguments: [records.count, Data(archive)])
        }
    }

    /// After the last page of users: two records with one stable id are both kept out but the
    /// first (a referral, an alias, a bad idAttribute), unchanged records get their username
    /// (and normalised DN) from the store, and the indexes are built.
    func finishUsers(idAttribute: String, withDNs: Bool) async throws {
        try await database.writeWithoutTransaction { db in
            try db.execute(sql: "CREATE INDEX temp.staged_external_id ON staged (external_id)")
            try db.execute(sql: """
                UPDATE staged SET
                    skip = 'the same ' || ? || ' (' || external_id || ') as ' ||
                           (SELECT f.locator FROM staged f WHERE f.external_id = staged.external_id ORDER BY f.seq LIMIT 1) ||
                           ': each user needs its own stable id',
                    external_id = NULL
                WHERE seq IN (
                    SELECT s.seq FROM staged s
                    JOIN (SELECT external_id, min(seq) AS first FROM staged WHERE external_id IS NOT NULL
                          GROUP BY external_id HAVING count(*) > 1) d
                      ON s.external_id = d.external_id AND s.seq > d.first)
                """, arguments: [idAttribute])
            try db.execute(sql: """
                UPDATE staged SET username = u.username
                FROM users u WHERE staged.unchanged = 1 AND u.id = staged.user_id
                """)
            if withDNs {
                db.add(function: Staging.dnNormFunction)
                try db.execute(sql: "UPDATE staged SET dn_norm = usersync_dn_norm(locator) WHERE unchanged = 1")
                try db.execute(sql: "CREATE INDEX temp.staged_dn_norm ON staged (dn_norm)")
            }
            try db.execute(sql: "CREATE INDEX temp.staged_username ON staged (username)")
            try db.execute(sql: "CREATE INDEX temp.staged_user_id ON staged (user_id)")
        }
    }

    /// `usersync_dn_norm(dn)`: `Staging.normalize` in SQL.
    static let dnNormFunction = DatabaseFunction("usersync_dn_norm", argumentCount: 1, pure: true) { values in
        guard let dn = String.fromDatabaseValue(values[0]) else { return nil }
        return Staging.normalize(dn)
    }

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
            let insert = try db.cachedStatement(sql: "INSERT INTO staged_links (group_dn, member, member_kind) VALUES (?, ?, ?)")
            for link in links { try insert.execute(arguments: [link.group, link.member, link.kind]) }
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

    func drop() async {
        try? await database.writeWithoutTransaction { db in
            try db.execute(sql: """
                DROP TABLE IF EXISTS temp.staged;
                DROP TABLE IF EXISTS temp.staged_records;
                DROP TABLE IF EXISTS temp.hand_emails;
                DROP TABLE IF EXISTS temp.missing;
                DROP TABLE IF EXISTS temp.staged_groups;
                DROP TABLE IF EXISTS temp.staged_links;
                """)
        }
    }
}

/// One staged user record: mapped in full, or only identified because it is unchanged.
enum StagedRecord: Sendable {
    case mapped(MappedUser, fingerprint: UInt64, idHash: UInt64?)
    case unchanged(externalId: String, locator: String, userId: Int64, fingerprint: UInt64, idHash: UInt64)
}
