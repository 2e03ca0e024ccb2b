import DirectoryFixtures
import Foundation
import Testing
@testable import UserSync

/// The statements of a PostgreSQL file: split at a semicolon that ends a line, outside a
/// dollar-quoted function body; comment lines left out.
func postgresStatements(_ sql: String) -> [String] {
    var statements: [String] = []
    var current: [Substring] = []
    var inBody = false
    for line in sql.split(separator: "\n", omittingEmptySubsequences: false) {
        if !inBody && line.trimmingCharacters(in: .whitespaces).hasPrefix("--") { continue }
        if line.components(separatedBy: "$$").count == 2 { inBody.toggle() }
        current.append(line)
        if !inBody && line.hasSuffix(";") {
            let statement = current.joined(separator: "\n").trimmingCharacters(in: .whitespacesAndNewlines)
            statements.append(String(statement.dropLast()))
            current = []
        }
    }
    return statements.filter { !$0.isEmpty }
}

/// The PostgreSQL store against a real PostgreSQL 15: its schema, its migrations with several
/// nodes starting at once, and its run lock across nodes.
@Suite("PostgreSQL store")
struct PostgresStoreTests {
    static func settings(schema: String = "s_" + UUID().uuidString.prefix(13).lowercased().replacingOccurrences(of: "-", with: ""))
        async throws -> PostgresStoreSettings {
        let server = try await PostgresServer.shared()
        let directory = try Shell.temporaryDirectory("usersync-pg")
        Cleanup.atExit { try? FileManager.default.removeItem(at: directory) }
        _ = try server.storeYAML(directory: directory, schema: schema)
        return PostgresStoreSettings(url: server.url(database: PostgresServer.testDatabase),
                                     passwordFile: directory.appendingPathComponent("pg-\(schema).pw").path,
                                     schema: schema, caFile: server.ca.caFile)
    }

    @Test("schemas/store.postgres.sql describes exactly what the migrations make: columns, keys, checks, indexes, triggers")
    func documentedSchema() async throws {
        let store = try await UserStore.open(.postgres(try await Self.settings()))
        let live = try await store.schemaSQL()
        #expect(live.contains { $0.hasPrefix("column users.username text NOT NULL") }, "\(live.prefix(5))")
        #expect(live.contains { $0.hasPrefix("trigger CREATE TRIGGER users_update_forgets_fingerprint") })
        #expect(live.contains("storage run_records.data e"), "\(live.suffix(3))")

        // The file, loaded as written into a schema of its own on the same server.
        let documented = try String(contentsOf: repositoryRoot.appendingPathComponent("schemas/store.postgres.sql"), encoding: .utf8)
        let scratch = "doc_" + UUID().uuidString.prefix(8).lowercased()
        let fileStatements = postgresStatements(documented)
        #expect(fileStatements.count > 20)
        let described = try await store.write { db in
            try db.execute("CREATE SCHEMA \(scratch)")
            try db.execute("SET LOCAL search_path = \(scratch)")
            try db.executeAll(fileStatements)
            return try PostgresStore.describe(db, schema: scratch)
        }
        #expect(described == live)
        // The statements the migration runs are the file's.
        #expect(PostgresMigrations.all.flatMap(\.statements).map { $0.split(whereSeparator: \.isWhitespace).joined(separator: " ") }
                == fileStatements.map { $0.split(whereSeparator: \.isWhitespace).joined(separator: " ") })
    }

    @Test("a command that only looks (mapping preview) finds no store where none was made, and makes none")
    func openExistingCreatesNothing() async throws {
        let settings = try await Self.settings()
        let other = try await UserStore.open(.postgres(try await Self.settings()))
        func schemaExists() async throws -> Bool {
            try await other.read { db in
                try db.value(Bool.self, "SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = ?)", settings.schema) ?? false
            }
        }
        #expect(try await UserStore.openExisting(.postgres(settings)) == nil)
        #expect(try await schemaExists() == false)
        _ = try await UserStore.open(.postgres(settings))
        let existing = try #require(try await UserStore.openExisting(.postgres(settings)))
        #expect(try await existing.appliedMigrations() == PostgresMigrations.all.map(\.name))
        #expect(try await schemaExists())
    }

    @Test("nodes starting together on a new store: each opens it, the migrations are applied once")
    func concurrentMigrations() async throws {
        let settings = try await Self.settings()
        let stores = try await withThrowingTaskGroup(of: UserStore.self) { group in
            for node in 0..<4 {
                group.addTask { try await UserStore.open(.postgres(settings), node: "node \(node)") }
            }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        #expect(stores.count == 4)
        for store in stores {
            #expect(try await store.appliedMigrations() == PostgresMigrations.all.map(\.name))
        }
    }

    @Test("the run lock is per source across nodes: a second node waits, names the holder, and takes it when the holder's connection dies")
    func runLockAcrossNodes() async throws {
        let settings = try await Self.settings()
        let a = try await UserStore.open(.postgres(settings), node: "node-a")
        let b = try await UserStore.open(.postgres(settings), node: "node-b")
        let lease = try await a.backend.lockRuns(source: "corp", timeout: .zero)
        #expect(try await b.runLockHolder(source: "corp")?.hasPrefix("node-a") == true)
        #expect(try await b.runLockHolder(source: "other") == nil)
        // Another source is free; the same source is not, and the refusal names who holds it.
        let other = try await b.backend.lockRuns(source: "other", timeout: .zero)
        other.release()
        do {
            _ = try await b.backend.lockRuns(source: "corp", timeout: .seconds(1))
            Issue.record("node-b took a lock node-a holds")
        } catch let error as StoreError {
            #expect("\(error)".contains("another run of 'corp' is in progress") && "\(error)".contains("by node-a"), "\(error)")
        }
        // Node A's connection dies (as when its machine does): the server frees the lock.
        let killed = try await b.write { db in
            try db.value(Int.self, "SELECT count(*) FROM (SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'node-a' AND pid <> pg_backend_pid()) t")
        }
        #expect(killed ?? 0 >= 1)
        let taken = try await b.backend.lockRuns(source: "corp", timeout: .seconds(10))
        #expect(try await a.runLockHolder(source: "corp")?.hasPrefix("node-b") == true, "node A reconnects for queries")
        taken.release()
        lease.release()
    }

    @Test("store.postgres settings: a password in the URL, a weak sslmode without allowInsecure and a bad schema name are refused")
    func settingsChecked() throws {
        func problems(_ store: String) -> String {
            do {
                _ = try ConfigLoader.parse("""
                    store:
                    \(store)
                    sources:
                      - name: x
                        type: csv
                        path: /tmp/x.csv
                        idColumn: id
                        mapping: { username: id }
                    """, file: "u.yaml")
                return ""
            } catch {
                return error.description
            }
        }
        #expect(problems("  postgres: { url: \"postgresql://u@db/app\" }") == "")
        #expect(problems("  postgres: { url: \"postgresql://u:secret@db/app\" }").contains("remove it and give passwordFile"))
        #expect(problems("  postgres: { url: \"postgresql://u@db/app?sslmode=require\" }").contains("allowInsecure"))
        #expect(problems("  postgres: { url: \"postgresql://u@db/app?sslmode=require\", allowInsecure: true }") == "")
        #expect(problems("  postgres: { url: \"postgresql://u@db/app\", schema: \"Bad-Name\" }").contains("not a plain schema name"))
        #expect(problems("  postgres: { url: \"mysql://u@db/app\" }").contains("not a PostgreSQL URL"))
        #expect(problems("  sqlite: /tmp/a.db\n  postgres: { url: \"postgresql://u@db/app\" }").contains("not both"))
        #expect(problems("  {}").contains("say where the users are kept"))
    }
}
