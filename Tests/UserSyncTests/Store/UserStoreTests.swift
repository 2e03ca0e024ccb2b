import DirectoryFixtures
import Foundation
import GRDB
import LDAP
import Testing
@testable import UserSync

func temporaryStorePath() throws -> String {
    let directory = try Shell.temporaryDirectory("usersync-store")
    Cleanup.atExit { try? FileManager.default.removeItem(at: directory) }
    return directory.appendingPathComponent("users.db").path
}

/// The statements of a SQL file, comments removed and white space folded.
func statements(_ sql: String) -> [String] {
    sql.split(separator: "\n").filter { !$0.trimmingCharacters(in: .whitespaces).hasPrefix("--") }
        .joined(separator: "\n")
        .split(separator: ";")
        .map { $0.split(whereSeparator: { $0.isWhitespace }).joined(separator: " ") }
        .filter { !$0.isEmpty }
}

@Suite("Store")
struct UserStoreTests {
    @Test("a new store is a 0600 SQLite file in WAL mode with every migration applied")
    func createsStore() async throws {
        let path = try temporaryStorePath()
        let store = try UserStore(path: path)
        let mode = try FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? Int
        #expect(mode == 0o600)
        let journal = try await store.database.read { db in try String.fetchOne(db, sql: "PRAGMA journal_mode") }
        #expect(journal == "wal")
        #expect(try await store.appliedMigrations() == ["v1: users, runs, changes", "v2: sync fingerprints", "v3: effective membership without foreign keys", "v4: kept records say their format", "v5: targets", "v6: source watermarks", "v7: normalised DNs of users and groups", "v8: membership changes by user", "v9: group fingerprints", "v10: kept records' page hashes"])
        // Opening again changes nothing.
        let again = try UserStore(path: path)
        #expect(try await again.appliedMigrations() == ["v1: users, runs, changes", "v2: sync fingerprints", "v3: effective membership without foreign keys", "v4: kept records say their format", "v5: targets", "v6: source watermarks", "v7: normalised DNs of users and groups", "v8: membership changes by user", "v9: group fingerprints", "v10: kept records' page hashes"])
    }

    @Test("a store made before a user field existed gets its column when opened, its rows and their values kept")
    func newFieldColumn() async throws {
        let path = try temporaryStorePath()
        let store = try UserStore(path: path)
        try await store.database.write { db in
            try db.execute(sql: "INSERT INTO users (username, manager, created_at, updated_at) VALUES ('ann', 'bob', 'x', 'x')")
            // As a store made before `manager` was a field would be.
            try db.execute(sql: "ALTER TABLE users DROP COLUMN manager")
        }
        let reopened = try UserStore(path: path)
        let columns = try await reopened.database.read { db in try db.columns(in: "users").map(\.name) }
        #expect(Set(UserField.columns).isSubset(of: Set(columns)))
        let ann = try #require(try await reopened.user(named: "ann"))
        #expect(ann[.manager] == nil && ann.username == "ann")
    }

    @Test("schemas/store.sql documents exactly the tables and indexes the migrations make")
    func documentedSchema() async throws {
        let store = try UserStore(path: try temporaryStorePath())
        let documented = try String(contentsOf: repositoryRoot.appendingPathComponent("schemas/store.sql"), encoding: .utf8)
        let actual = try await store.schemaSQL().joined(separator: ";\n")
        #expect(statements(documented) == statements(actual))
    }

    @Test("the store keeps its promises: unique usernames, one row per (source, id), valid states and JSON")
    func constraints() throws {
        let store = try UserStore(path: try temporaryStorePath())
        try store.database.write { db in
            let now = "2026-01-01T00:00:00Z"
            try db.execute(sql: "INSERT INTO users (source, external_id, username, created_at, updated_at) VALUES ('corp', 'g1', 'ann', ?, ?)", arguments: [now, now])
            // A user made by hand has neither source nor external id.
            try db.execute(sql: "INSERT INTO users (username, created_at, updated_at) VALUES ('local', ?, ?)", arguments: [now, now])
            for bad in [
                "INSERT INTO users (source, external_id, username, created_at, updated_at) VALUES ('corp', 'g2', 'ann', '\(now)', '\(now)')",
                "INSERT INTO users (source, external_id, username, created_at, updated_at) VALUES ('corp', 'g1', 'bob', '\(now)', '\(now)')",
                "INSERT INTO users (source, username, created_at, updated_at) VALUES ('corp', 'carl', '\(now)', '\(now)')",
                "INSERT INTO users (username, state, created_at, updated_at) VALUES ('dan', 'deleted', '\(now)', '\(now)')",
                "INSERT INTO users (username, attributes, created_at, updated_at) VALUES ('eve', '{not json', '\(now)', '\(now)')",
            ] {
                #expect(throws: DatabaseError.self, "\(bad)") { try db.execute(sql: bad) }
            }
        }
    }

    @Test("closing the store empties a large write-ahead log (the next process would read it all) and leaves a small one")
    func closeEmptiesLargeLog() async throws {
        func log(_ path: String) -> Int { (try? FileManager.default.attributesOfItem(atPath: path + "-wal")[.size] as? Int) ?? 0 }
        let path = try temporaryStorePath()
        let store = try UserStore(path: path)
        // 6 MB of rows in one transaction: more than SQLite's 1,000-page checkpoint threshold.
        try await store.write { db in
            try db.execute("CREATE TABLE filler (data TEXT)")
            for _ in 0..<6 { try db.execute("INSERT INTO filler (data) VALUES (?)", String(repeating: "x", count: 1 << 20)) }
        }
        #expect(log(path) > 4 << 20)
        await store.close()
        #expect(log(path) == 0)
        let again = try UserStore(path: path)
        try await again.write { db in try db.execute("INSERT INTO filler (data) VALUES ('small')") }
        let small = log(path)
        await again.close()
        #expect(small > 0 && log(path) == small, "a small log is left for the next process")
        let third = try UserStore(path: path)
        #expect(try await third.read { db in try db.value(Int.self, "SELECT count(*) FROM filler") } == 7)
    }

    @Test("the v7 migration adds the normalised DN columns empty and forgets the watermarks (the next read is full)")
    func normalisedDNMigration() throws {
        let path = try temporaryStorePath()
        let old = try DatabaseQueue(path: path)
        try UserStore.migrator.migrate(old, upTo: "v6: source watermarks")
        try old.write { db in
            try db.execute(sql: "INSERT INTO users (id, source, external_id, username, dn, created_at, updated_at) VALUES (1, 'corp', 'a', 'ann', 'uid=Ann,dc=x', 'now', 'now')")
            try db.execute(sql: """
                INSERT INTO source_watermarks (source, method, cookie, settings_hash, last_full_at, updated_at)
                VALUES ('corp', 'syncrepl', x'01', 'h', 'now', 'now')
                """)
        }
        try old.close()
        let store = try UserStore(path: path)
        let (marks, norm, dn) = try store.database.read { db in
            (try Int.fetchOne(db, sql: "SELECT count(*) FROM source_watermarks"),
             try String.fetchOne(db, sql: "SELECT coalesce(dn_norm, 'null') FROM users WHERE id = 1"),
             try String.fetchOne(db, sql: "SELECT dn FROM users WHERE id = 1"))
        }
        #expect(marks == 0 && norm == "null" && dn == "uid=Ann,dc=x")
    }

    @Test("effective memberships: kept through the v3 migration, and gone with a deleted user or group")
    func effectiveMembershipLifecycle() throws {
        // A store as the previous release left it (migrations up to v2), with memberships.
        let path = try temporaryStorePath()
        let old = try DatabaseQueue(path: path)
        try UserStore.migrator.migrate(old, upTo: "v2: sync fingerprints")
        let now = "2026-01-01T00:00:00Z"
        try old.write { db in
            for (id, name) in [(1, "ann"), (2, "bob")] {
                try db.execute(sql: "INSERT INTO users (id, source, external_id, username, created_at, updated_at) VALUES (?, 'corp', ?, ?, ?, ?)",
                               arguments: [id, name, name, now, now])
            }
            for (id, name) in [(10, "staff"), (11, "admins")] {
                try db.execute(sql: "INSERT INTO groups (id, source, external_id, name, state, created_at, updated_at) VALUES (?, 'corp', ?, ?, 'active', ?, ?)",
                               arguments: [id, name, name, now, now])
            }
            try db.execute(sql: "INSERT INTO effective_group_members (group_id, user_id) VALUES (10, 1), (10, 2), (11, 2)")
        }
        try old.close()

        let store = try UserStore(path: path)
        func rows() throws -> [String] {
            try store.database.read { db in
                try String.fetchAll(db, sql: "SELECT group_id || ':' || user_id FROM effective_group_members ORDER BY 1")
            }
        }
        #expect(try rows() == ["10:1", "10:2", "11:2"])
        try store.database.write { db in try db.execute(sql: "DELETE FROM users WHERE id = 2") }
        #expect(try rows() == ["10:1"])
        try store.database.write { db in try db.execute(sql: "DELETE FROM groups WHERE id = 10") }
        #expect(try rows() == [])
    }

    @Test("kept records written before v4 (locator text only) still read after the migration, and give a user's last record")
    func keptRecordsBeforeV4() async throws {
        // A store as the previous release left it (migrations up to v3), with one run's records
        // in format 1: each record's locator text, then its packed attributes.
        let path = try temporaryStorePath()
        let old = try DatabaseQueue(path: path)
        try UserStore.migrator.migrate(old, upTo: "v3: effective membership without foreign keys")
        var chunk: [UInt8] = []
        for (locator, uid) in [("uid=ann,ou=people,dc=example,dc=com", "ann"), ("/srv/people.csv:3", "bob")] {
            let packed = AttributePacking.pack([LDAPAttribute(name: "entryUUID", values: [LDAPValue("id-\(uid)")]),
                                                LDAPAttribute(name: "uid", values: [LDAPValue(uid)])])
            RecordArchive.appendVarint(locator.utf8.count, to: &chunk)
            chunk += Array(locator.utf8)
            RecordArchive.appendVarint(packed.count, to: &chunk)
            chunk += packed
        }
        let data = Data(try Gzip.compress(chunk))
        let now = "2026-01-01T00:00:00Z"
        try await old.write { db in
            try db.execute(sql: "INSERT INTO runs (id, source, started_at, finished_at, status) VALUES (1, 'corp', ?, ?, 'applied')",
                           arguments: [now, now])
            try db.execute(sql: "INSERT INTO run_records (run_id, chunk, entries, data) VALUES (1, 1, 2, ?)", arguments: [data])
            try db.execute(sql: """
                INSERT INTO users (id, source, external_id, username, dn, created_at, updated_at)
                VALUES (1, 'corp', 'id-ann', 'ann', 'uid=ann,ou=people,dc=example,dc=com', ?1, ?1),
                       (2, 'corp', 'id-bob', 'bob', NULL, ?1, ?1)
                """, arguments: [now])
        }
        try old.close()

        let store = try UserStore(path: path)
        let records = try #require(try await store.records(run: 1))
        #expect(records.map(\.locator) == [.dn("uid=ann,ou=people,dc=example,dc=com"), .resource("/srv/people.csv:3")])
        #expect(records.map { $0.string("uid") } == ["ann", "bob"])
        let ann = try #require(try await store.user(named: "ann"))
        #expect(try await store.lastRecord(of: ann, stableIDAttribute: "entryUUID")?.record.string("uid") == "ann", "by DN")
        let bob = try #require(try await store.user(named: "bob"))
        #expect(try await store.lastRecord(of: bob, stableIDAttribute: "entryUUID")?.record.string("uid") == "bob", "by stable id")
    }

    @Test("a store in a missing directory is a clear error")
    func missingDirectory() {
        #expect {
            _ = try UserStore(path: "/nonexistent/dir/users.db")
        } throws: { error in
            "\(error)".contains("'/nonexistent/dir' does not exist")
        }
    }

    @Test("two runs never hold the store at once, within a process")
    func runLockInProcess() throws {
        let path = try temporaryStorePath()
        let first = try RunLock(store: path)
        let started = ContinuousClock.now
        #expect {
            _ = try RunLock(store: path, timeout: .milliseconds(300))
        } throws: { error in
            "\(error)" == "another run is in progress on the store '\(path)'"
        }
        #expect(ContinuousClock.now - started >= .milliseconds(300))
        first.release()
        let second = try RunLock(store: path)
        second.release()
    }

    @Test("the lock is the store file's: a symbolic link to the file or to its folder names the same store and waits")
    func runLockThroughSymlinks() throws {
        let path = try temporaryStorePath()
        _ = try UserStore(path: path)
        let folder = URL(fileURLWithPath: path).deletingLastPathComponent()
        let linkedFile = folder.appendingPathComponent("alias.db").path
        try FileManager.default.createSymbolicLink(atPath: linkedFile, withDestinationPath: path)
        let linkedFolder = folder.path + "-link"
        try FileManager.default.createSymbolicLink(atPath: linkedFolder, withDestinationPath: folder.path)
        Cleanup.atExit { try? FileManager.default.removeItem(atPath: linkedFolder) }
        let viaFolder = linkedFolder + "/users.db"

        let held = try RunLock(store: path)
        for other in [linkedFile, viaFolder] {
            #expect(throws: StoreError.self, "\(other) is the same store") { _ = try RunLock(store: other) }
        }
        held.release()
        let viaLink = try RunLock(store: viaFolder)
        #expect(throws: StoreError.self) { _ = try RunLock(store: path) }
        viaLink.release()
    }

    @Test("nor across processes, and a lock dies with its process")
    func runLockAcrossProcesses() async throws {
        let path = try temporaryStorePath()
        _ = FileManager.default.createFile(atPath: path + ".lock", contents: nil)
        // flock(1) from util-linux holds the same lock in another process for two seconds.
        // (-o: the lock stays in flock's own process, not in the shell it starts.)
        // The holder says when it has the lock (a loaded machine may take longer than any fixed wait to start it).
        let held = path + ".held"
        func waitUntilHeld() async throws {
            let deadline = ContinuousClock.now + .seconds(20)
            while !FileManager.default.fileExists(atPath: held) && ContinuousClock.now < deadline {
                try await Task.sleep(for: .milliseconds(20))
            }
            try FileManager.default.removeItem(atPath: held)
        }
        // Held until the test says so (a file appears; at most 120 s): a fixed hold of 8 s ran
        // out once before the test, starved of CPU on a loaded machine, looked.
        let release = path + ".release"
        let holder = try Shell.spawn("flock", ["-o", path + ".lock", "-c",
                                               "touch '\(held)'; for i in $(seq 2400); do [ -e '\(release)' ] && break; sleep 0.05; done"],
                                     output: "/dev/null")
        try await waitUntilHeld()
        #expect(throws: StoreError.self) { _ = try RunLock(store: path) }
        // Waiting long enough gets it once the other process is gone.
        _ = FileManager.default.createFile(atPath: release, contents: nil)
        let lock = try await offThePool { try RunLock(store: path, timeout: .seconds(60)) }
        await Shell.wait(holder)
        lock.release()

        // kill -9 of the holder frees the lock too.
        let killed = try Shell.spawn("flock", ["-o", path + ".lock", "-c", "touch '\(held)'; sleep 60"], output: "/dev/null")
        try await waitUntilHeld()
        #expect(throws: StoreError.self) { _ = try RunLock(store: path) }
        kill(killed, SIGKILL)
        await Shell.wait(killed)
        let after = try RunLock(store: path)
        after.release()
    }
}
