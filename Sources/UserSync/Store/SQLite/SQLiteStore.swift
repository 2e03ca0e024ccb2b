import CSQLiteConfig
import Foundation
import GRDB

/// The SQLite store: a file, in WAL mode, created readable by its owner only, its tables made
/// by versioned migrations (documented in `schemas/store.sql`).
final class SQLiteStore: Sendable {
    /// The path of the database file.
    let path: String
    /// GRDB's pool: one writer, concurrent readers (WAL).
    let database: DatabasePool

    /// SQLite's process-wide settings, made once before the first connection opens: no memory
    /// statistics (a global mutex taken by every allocation: 12% of the CPU of staging a group
    /// tree's member links, in pthread_mutex_lock and unlock).
    private static let globalSettings: Void = {
        _ = csqlite_disable_memory_statistics()
    }()

    /// Opens (creating if needed) the store at `path` and brings its tables up to date.
    init(path: String) throws {
        _ = SQLiteStore.globalSettings
        self.path = path
        let directory = (path as NSString).deletingLastPathComponent
        if !directory.isEmpty && !FileManager.default.fileExists(atPath: directory) {
            throw StoreError.directoryMissing(directory)
        }
        // Create the file 0600 before SQLite does (SQLite would use 0644 less the umask): it
        // holds the directory's names and emails. The -wal and -shm files SQLite creates take
        // the database file's permissions.
        if !FileManager.default.fileExists(atPath: path) {
            let fd = open(path, O_CREAT | O_EXCL | O_WRONLY, 0o600)
            if fd < 0 && errno != EEXIST { throw StoreError.cannotCreate(path, String(cString: strerror(errno))) }
            if fd >= 0 { Glibc.close(fd) }
        }
        var configuration = GRDB.Configuration()
        configuration.busyMode = .timeout(30)
        configuration.prepareDatabase { db in
            try db.execute(sql: "PRAGMA synchronous = NORMAL")
            try db.execute(sql: "PRAGMA temp_store = FILE")
        }
        database = try DatabasePool(path: path, configuration: configuration)
        try SQLiteStore.migrator.migrate(database)
        try SQLiteStore.addFieldColumns(database)
    }

    /// A field added to `UserField` after a store was made gets its column in `users` (text,
    /// empty until a run maps it), so that a new field needs no migration of its own.
    static func addFieldColumns(_ database: DatabasePool) throws {
        let missing = try database.read { db in
            let existing = Set(try db.columns(in: "users").map { $0.name.lowercased() })
            return UserField.columns.filter { !existing.contains($0.lowercased()) }
        }
        guard !missing.isEmpty else { return }
        try database.write { db in
            for column in missing { try db.execute(sql: "ALTER TABLE users ADD COLUMN \(column) TEXT") }
        }
    }

    /// The migrations, in order. A migration, once released, is never changed: add a new one.
    static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1: users, runs, changes") { db in
            try db.execute(sql: """
                CREATE TABLE users (
                    id INTEGER PRIMARY KEY,
                    source TEXT,
                    external_id TEXT,
                    username TEXT NOT NULL UNIQUE,
                    email TEXT,
                    first_name TEXT,
                    last_name TEXT,
                    display_name TEXT,
                    manager TEXT,
                    dn TEXT,
                    attributes TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(attributes)),
                    state TEXT NOT NULL DEFAULT 'active' CHECK (state IN ('active', 'deactivated')),
                    created_at TEXT NOT NULL,
                    updated_at TEXT NOT NULL,
                    deactivated_at TEXT,
                    CHECK ((source IS NULL) = (external_id IS NULL))
                );
                CREATE UNIQUE INDEX users_source_external_id ON users (source, external_id) WHERE source IS NOT NULL;
                CREATE INDEX users_email ON users (email);

                CREATE TABLE runs (
                    id INTEGER PRIMARY KEY,
                    source TEXT NOT NULL,
                    started_at TEXT NOT NULL,
                    finished_at TEXT,
                    status TEXT NOT NULL CHECK (status IN ('running', 'applied', 'planned', 'stopped', 'failed')),
                    dry_run INTEGER NOT NULL DEFAULT 0,
                    entries_read INTEGER NOT NULL DEFAULT 0,
                    created INTEGER NOT NULL DEFAULT 0,
                    updated INTEGER NOT NULL DEFAULT 0,
                    deactivated INTEGER NOT NULL DEFAULT 0,
                    reactivated INTEGER NOT NULL DEFAULT 0,
                    unchanged INTEGER NOT NULL DEFAULT 0,
                    skipped INTEGER NOT NULL DEFAULT 0,
                    groups_read INTEGER NOT NULL DEFAULT 0,
                    groups_created INTEGER NOT NULL DEFAULT 0,
                    groups_updated INTEGER NOT NULL DEFAULT 0,
                    groups_deactivated INTEGER NOT NULL DEFAULT 0,
                    groups_reactivated INTEGER NOT NULL DEFAULT 0,
                    groups_unchanged INTEGER NOT NULL DEFAULT 0,
                    memberships_added INTEGER NOT NULL DEFAULT 0,
                    memberships_removed INTEGER NOT NULL DEFAULT 0,
                    error TEXT
                );
                CREATE INDEX runs_source_started ON runs (source, started_at);

                CREATE TABLE changes (
                    id INTEGER PRIMARY KEY,
                    run_id INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
                    object_type TEXT NOT NULL CHECK (object_type IN ('user', 'group', 'membership')),
                    object_id INTEGER NOT NULL,
                    action TEXT NOT NULL CHECK (action IN ('create', 'update', 'deactivate', 'reactivate', 'adopt', 'skip', 'add', 'remove')),
                    field TEXT,
                    old_value TEXT,
                    new_value TEXT,
                    record TEXT
                );
                CREATE INDEX changes_run ON changes (run_id);
                CREATE INDEX changes_object ON changes (object_type, object_id);

                CREATE TABLE run_records (
                    run_id INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
                    chunk INTEGER NOT NULL,
                    entries INTEGER NOT NULL,
                    data BLOB NOT NULL,
                    PRIMARY KEY (run_id, chunk)
                );

                CREATE TABLE groups (
                    id INTEGER PRIMARY KEY,
                    source TEXT,
                    external_id TEXT,
                    name TEXT NOT NULL,
                    dn TEXT,
                    state TEXT NOT NULL DEFAULT 'active' CHECK (state IN ('active', 'deactivated')),
                    created_at TEXT NOT NULL,
                    updated_at TEXT NOT NULL,
                    deactivated_at TEXT,
                    CHECK ((source IS NULL) = (external_id IS NULL))
                );
                CREATE UNIQUE INDEX groups_source_external_id ON groups (source, external_id) WHERE source IS NOT NULL;
                CREATE INDEX groups_name ON groups (name);

                CREATE TABLE group_parents (
                    group_id INTEGER NOT NULL REFERENCES groups (id) ON DELETE CASCADE,
                    parent_id INTEGER NOT NULL REFERENCES groups (id) ON DELETE CASCADE,
                    PRIMARY KEY (group_id, parent_id)
                ) WITHOUT ROWID;
                CREATE INDEX group_parents_parent ON group_parents (parent_id);

                CREATE TABLE group_members (
                    group_id INTEGER NOT NULL REFERENCES groups (id) ON DELETE CASCADE,
                    user_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
                    PRIMARY KEY (group_id, user_id)
                ) WITHOUT ROWID;
                CREATE INDEX group_members_user ON group_members (user_id);

                CREATE TABLE effective_group_members (
                    group_id INTEGER NOT NULL REFERENCES groups (id) ON DELETE CASCADE,
                    user_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
                    PRIMARY KEY (group_id, user_id)
                ) WITHOUT ROWID;
                CREATE INDEX effective_group_members_user ON effective_group_members (user_id);
                """)
        }
        migrator.registerMigration("v2: sync fingerprints") { db in
            try db.execute(sql: """
                DROP INDEX changes_run;
                CREATE INDEX changes_run_kind ON changes (run_id, object_type, action);
                CREATE INDEX users_source_state ON users (source, state);
                CREATE TABLE sync_fingerprints (
                    user_id INTEGER PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
                    id_hash INTEGER NOT NULL,
                    fingerprint INTEGER NOT NULL
                );
                CREATE TRIGGER users_update_forgets_fingerprint AFTER UPDATE ON users
                BEGIN
                    DELETE FROM sync_fingerprints WHERE user_id = OLD.id;
                END;
                CREATE TRIGGER users_delete_forgets_fingerprint AFTER DELETE ON users
                BEGIN
                    DELETE FROM sync_fingerprints WHERE user_id = OLD.id;
                END;
                """)
        }
        migrator.registerMigration("v3: effective membership without foreign keys") { db in
            // The table is derived (each run recomputes it from group_members and group_parents,
            // which keep their foreign keys). Its foreign keys made every row of a recomputation
            // look up its user and group: 440,000 random reads of the users table for 2,000
            // groups, five times the cost of the rows themselves. Triggers keep what the cascades
            // kept: a deleted user or group leaves no effective membership behind.
            try db.execute(sql: """
                CREATE TEMP TABLE effective_copy AS SELECT group_id, user_id FROM effective_group_members;
                DROP TABLE effective_group_members;
                CREATE TABLE effective_group_members (
                    group_id INTEGER NOT NULL,
                    user_id INTEGER NOT NULL,
                    PRIMARY KEY (group_id, user_id)
                ) WITHOUT ROWID;
                INSERT INTO effective_group_members (group_id, user_id) SELECT group_id, user_id FROM temp.effective_copy ORDER BY 1, 2;
                DROP TABLE temp.effective_copy;
                CREATE INDEX effective_group_members_user ON effective_group_members (user_id);
                CREATE TRIGGER users_delete_forgets_effective_membership AFTER DELETE ON users
                BEGIN
                    DELETE FROM effective_group_members WHERE user_id = OLD.id;
                END;
                CREATE TRIGGER groups_delete_forgets_effective_membership AFTER DELETE ON groups
                BEGIN
                    DELETE FROM effective_group_members WHERE group_id = OLD.id;
                END;
                """)
        }
        migrator.registerMigration("v4: kept records say their format") { db in
            // Chunks written before locators had kinds (a DN, a CSV row, a REST resource) are
            // format 1, the locator's text alone; `RecordArchive` reads both.
            try db.execute(sql: "ALTER TABLE run_records ADD COLUMN format INTEGER NOT NULL DEFAULT 1")
        }
        migrator.registerMigration("v5: targets") { db in
            for statement in TargetTables.statements(.sqlite) { try db.execute(sql: statement) }
        }
        migrator.registerMigration("v6: source watermarks") { db in
            for statement in WatermarkTables.statements(.sqlite) { try db.execute(sql: statement) }
        }
        migrator.registerMigration("v7: normalised DNs of users and groups") { db in
            for statement in StoredDNColumns.statements(.sqlite) { try db.execute(sql: statement) }
        }
        migrator.registerMigration("v8: membership changes by user") { db in
            for statement in MemberChangeIndex.statements(.sqlite) { try db.execute(sql: statement) }
        }
        migrator.registerMigration("v9: group fingerprints") { db in
            for statement in GroupFingerprintTables.statements(.sqlite) { try db.execute(sql: statement) }
        }
        migrator.registerMigration("v10: kept records' page hashes") { db in
            for statement in KeptChunks.statements(.sqlite) { try db.execute(sql: statement) }
        }
        return migrator
    }

    /// The names of the migrations applied to this store.
    func appliedMigrations() async throws -> [String] {
        try await database.read { db in try SQLiteStore.migrator.appliedMigrations(db) }
    }

    /// The schema as SQLite holds it: each table's and index's SQL, in a stable order.
    func schemaSQL() async throws -> [String] {
        try await database.read { db in
            try String.fetchAll(db, sql: """
                SELECT sql FROM sqlite_master
                WHERE sql IS NOT NULL AND name NOT LIKE 'sqlite_%' AND name NOT LIKE 'grdb_%'
                ORDER BY CASE type WHEN 'table' THEN 0 ELSE 1 END, name
                """)
        }
    }
}

public enum StoreError: Error, Sendable, CustomStringConvertible {
    case directoryMissing(String)
    case cannotCreate(String, String)
    case busy(String)
    /// A run of the source holds its run lock on a shared store (the holder: a node's name).
    case sourceBusy(store: String, source: String, holder: String?)
    /// A push to the target is in progress (on this store).
    case targetBusy(store: String, target: String)
    /// A row holds a value this version does not know (a store written by a newer usersync).
    case unknownValue(table: String, column: String, value: String)

    public var description: String {
        switch self {
        case let .unknownValue(table, column, value):
            return "the store's \(table).\(column) holds '\(value)', which this version of usersync does not know: was the store written by a newer version?"
        case let .directoryMissing(directory): return "the store's directory '\(directory)' does not exist: create it first"
        case let .cannotCreate(path, reason): return "cannot create the store '\(path)': \(reason)"
        case let .busy(path): return "another run is in progress on the store '\(path)'"
        case let .targetBusy(store, target):
            return "another push to '\(target)' is in progress on the store \(store)"
        case let .sourceBusy(store, source, holder):
            return "another run of '\(source)' is in progress on the store \(store)\(holder.map { ", by \($0)" } ?? "")"
        }
    }
}

extension UserStore {
    /// The SQLite store's pool, for what only SQLite has (tests of its files and pragmas).
    var database: DatabasePool {
        guard let sqlite = backend as? SQLiteStore else { preconditionFailure("not a SQLite store") }
        return sqlite.database
    }

    static var migrator: DatabaseMigrator { SQLiteStore.migrator }
}
