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
                CREATE TEMP TABLE staged (
                    seq INTEGER PRIMARY KEY,
                    external_id TEXT UNIQUE,
                    locator TEXT NOT NULL,
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
                INSERT INTO staged (external_id, locator, username, email, first_name, last_name, display_name, manager,
                                    attributes, disabled, skip)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                ON CONFLICT (external_id) DO NOTHING
                """)
            for user in users {
                try insert.execute(arguments: [user.externalId, user.locator, user.username, user.email, user.firstName,
                                               user.lastName, user.displayName, user.manager, user.attributesJSON,
                                               user.disabled, user.skipReason])
                if db.changesCount == 0, let id = user.externalId {
                    // Two records with one stable id (a referral, an alias, a bad idAttribute).
                    let first = try String.fetchOne(db, sql: "SELECT locator FROM staged WHERE external_id = ?", arguments: [id]) ?? "?"
                    try insert.execute(arguments: [nil, user.locator, user.username, user.email, user.firstName,
                                                   user.lastName, user.displayName, user.manager, user.attributesJSON,
                                                   user.disabled,
                                                   "the same \(idAttribute) (\(id)) as \(first): each user needs its own stable id"])
                }
            }
            try db.execute(sql: "INSERT INTO staged_records (entries, data) VALUES (?, ?)",
                           arguments: [users.count, Data(archive)])
        }
    }

    func drop() async {
        try? await database.writeWithoutTransaction { db in
            try db.execute(sql: """
                DROP TABLE IF EXISTS temp.staged;
                DROP TABLE IF EXISTS temp.staged_records;
                DROP TABLE IF EXISTS temp.hand_emails;
                DROP TABLE IF EXISTS temp.missing;
                """)
        }
    }
}
