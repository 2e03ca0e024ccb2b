import DirectoryFixtures
import Foundation
import Logging
import NIOConcurrencyHelpers
import Testing
@testable import UserSync

/// A first import large enough to go in with the secondary indexes of `users` and `changes`
/// dropped and built again (BulkInsert), from a CSV file: the store ends with exactly the schema
/// it began with, every user and change written; on PostgreSQL, a reader holding `users` makes
/// the run take the slower way instead of waiting for it.
@Suite("Bulk first import")
struct BulkInsertTests {
    static let users = BulkInsert.rows + 500

    /// A store of `kind`, a CSV file of `users` people, and the source reading it.
    static func setUp(_ kind: StoreKind) async throws -> (store: UserStore, source: SourceSettings, config: Configuration) {
        let directory = try Shell.temporaryDirectory("usersync-bulk")
        Cleanup.atExit { try? FileManager.default.removeItem(at: directory) }
        var csv = "employee_id,login,mail,first,last\n"
        for i in 1...users {
            csv += "E\(i),user\(i),\(["ann", "ben", "chloe"][i % 3]).\(i)@example.com,First\(i),Last\(i)\n"
        }
        let path = directory.appendingPathComponent("people.csv").path
        try csv.write(toFile: path, atomically: true, encoding: .utf8)
        let (store, storeYAML) = try await kind.makeStore(in: directory)
        let config = try ConfigLoader.parse("""
            \(storeYAML)
            sources:
              - name: hr
                type: csv
                path: \(path)
                idColumn: employee_id
                mapping: { username: login, email: mail, firstName: first, lastName: last }
            """, file: "bulk.yaml")
        return (store, config.sources[0], config)
    }

    static func sync(_ store: UserStore, _ source: SourceSettings) async -> SyncReport {
        await SyncEngine(store: store, logger: Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() }),
                         lockTimeout: .seconds(5)).run(source)
    }

    @Test("a first import of more than BulkInsert.rows users: all written, the schema's indexes all back", arguments: StoreKind.allCases)
    func firstImport(kind: StoreKind) async throws {
        let (store, source, _) = try await Self.setUp(kind)
        let schema = try await store.schemaSQL()
        #expect(schema.contains { $0.contains("users_email") } && schema.contains { $0.contains("changes_run_kind") })
        let report = await Self.sync(store, source)
        #expect(report.error == nil, "\(report.error ?? "")")
        #expect(report.users.created == Self.users)
        #expect(try await store.schemaSQL() == schema)
        let counts = try await store.read { db in
            (try db.value(Int.self, "SELECT count(*) FROM users WHERE email LIKE 'chloe.%'") ?? 0,
             try db.value(Int.self, "SELECT count(*) FROM changes WHERE action = 'create'") ?? 0,
             try db.value(Int.self, "SELECT count(*) FROM sync_fingerprints") ?? 0)
        }
        #expect(counts.0 == Self.users / 3 && counts.1 == Self.users && counts.2 == Self.users)
        // The rebuilt indexes answer: a second run finds every user unchanged.
        let again = await Self.sync(store, source)
        #expect(again.error == nil && again.users.created == 0 && again.users.unchanged == Self.users)
    }

    @Test("PostgreSQL: while another session reads users, a first import neither waits for it nor drops an index under it")
    func readerHoldsUsers() async throws {
        let (store, source, config) = try await Self.setUp(.postgres)
        let schema = try await store.schemaSQL()
        // Another node's session, inside a transaction that has read `users` (ACCESS SHARE
        // until it ends), held until the run is over — or for five minutes, when the run waits
        // for it: the reader then ends by its deadline, not because the run finished (which
        // says so whatever the machine's load, where a time limit would not).
        let reader = try await UserStore.open(config.store, node: "reader")
        let running = NIOLockedValueBox(true)
        let holding = Task {
            try await reader.read { db -> (count: Int, timedOut: Bool) in
                let n = try db.value(Int.self, "SELECT count(*) FROM users") ?? -1
                let deadline = Date().addingTimeInterval(300)
                while running.withLockedValue({ $0 }) && Date() < deadline { usleep(20_000) }
                return (n, Date() >= deadline)
            }
        }
        try await Task.sleep(for: .milliseconds(300))
        let report = await Self.sync(store, source)
        running.withLockedValue { $0 = false }
        let held = try await holding.value
        #expect(held.count == 0)
        #expect(!held.timedOut, "the run waited for the reader's transaction")
        #expect(report.error == nil, "\(report.error ?? "")")
        #expect(report.users.created == Self.users)
        #expect(try await store.schemaSQL() == schema)
    }
}
