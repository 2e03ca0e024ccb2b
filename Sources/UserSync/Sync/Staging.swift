import Foundation
import GRDB
import LDAP

/// The records of the run being read, held in temporary tables of the store's writer
/// connection (SQLite temp tables live in a temp file, not in memory), so that reading a large
/// directory needs no more memory than one page, and the planner can compare with set-based SQL.
final class Staging: Sendable {
    let database: DatabasePool

    init(database: DatabasePool) { self.database = database }

    static let columns = ["username", "email", "first_name", "last_name", "display_name", "manager"]

    /// Drops what a previous run left and creates empty tables.
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
                    external_id TEXT UNIQUE,
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
                    action TEXT
                );
                CREATE INDEX temp.staged_username ON staged (username);
                CREATE INDEX temp.staged_user_id ON staged (user_id);
                CREATE INDEX temp.staged_dn_norm ON staged (dn_norm);
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

    /// Adds one page: its mapped users and the compressed records.
    func add(_ users: [MappedUser], archive: [UInt8], idAttribute: String) async throws {
        try await database.write { db in
            let insert = try db.cachedStatement(sql: """
                INSERT INTO staged (external_id, locator, dn_norm, username, email, first_name, last_name, display_name, manager,
                                    attributes, disabled, skip)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                ON CONFLICT (external_id) DO NOTHING
                """)
            for user in users {
                let norm = Staging.normalize(user.locator)
                try insert.execute(arguments: [user.externalId, user.locator, norm, user.username, user.email, user.firstName,
                                               user.lastName, user.displayName, user.manager, user.attributesJSON,
                                               user.disabled, user.skipReason])
                if db.changesCount == 0, let id = user.externalId {
                    // Two records with one stable id (a referral, an alias, a bad idAttribute).
                    let first = try String.fetchOne(db, sql: "SELECT locator FROM staged WHERE external_id = ?", arguments: [id]) ?? "?"
                    try insert.execute(arguments: [nil, user.locator, norm, user.username, user.email, user.firstName,
                                                   user.lastName, user.displayName, user.manager, user.attributesJSON,
                                                   user.disabled,
                                                   "the same \(idAttribute) (\(id)) as \(first): each user needs its own stable id"])
                }
            }
            try db.execute(sql: "INSERT INTO staged_records (entries, data) VALUES (?, ?)",
                           arguments: [users.count, Data(archive)])
        }
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
