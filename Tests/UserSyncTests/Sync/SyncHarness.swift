import DirectoryFixtures
import Foundation
import GRDB
import LDAP
import Logging
import Testing
@testable import UserSync

/// Which store a test runs on: the sync tests that matter run on both.
enum StoreKind: String, CaseIterable, Sendable, CustomTestStringConvertible {
    case sqlite, postgres
    var testDescription: String { rawValue }

    /// A new, empty store of this kind: a SQLite file in `directory`, or a schema of its own on
    /// the test process's PostgreSQL server. Returns it with its `store:` section.
    func makeStore(in directory: URL) async throws -> (store: UserStore, yaml: String) {
        switch self {
        case .sqlite:
            let path = directory.appendingPathComponent("users.db").path
            return (try UserStore(path: path), "store:\n  sqlite: \(path)")
        case .postgres:
            let server = try await PostgresServer.shared()
            let schema = "s_" + UUID().uuidString.prefix(13).lowercased().replacingOccurrences(of: "-", with: "")
            let yaml = try server.storeYAML(directory: directory, schema: schema)
            let settings = PostgresStoreSettings(url: server.url(database: PostgresServer.testDatabase),
                                                 passwordFile: directory.appendingPathComponent("pg-\(schema).pw").path,
                                                 schema: schema, caFile: server.ca.caFile)
            return (try await UserStore.open(.postgres(settings)), yaml)
        }
    }
}

/// A real slapd, a real store (a SQLite file in a temporary directory, or a schema on a real
/// PostgreSQL), and a source configured the way an administrator would write it (YAML through
/// the real loader).
struct SyncHarness {
    let slapd: Slapd
    let directory: URL
    let store: UserStore
    let kind: StoreKind
    /// The configuration's `store:` section.
    let storeYAML: String

    static func start(users: Int = 100, extraLDIF: String = "", store kind: StoreKind = .sqlite) async throws -> SyncHarness {
        let slapd = try await Slapd.start(users: users, extraLDIF: extraLDIF)
        let directory = try Shell.temporaryDirectory("usersync-sync")
        Cleanup.atExit { try? FileManager.default.removeItem(at: directory) }
        try "\(Slapd.readerPassword)\n".write(to: directory.appendingPathComponent("reader.pw"), atomically: true, encoding: .utf8)
        let (store, yaml) = try await kind.makeStore(in: directory)
        return SyncHarness(slapd: slapd, directory: directory, store: store, kind: kind, storeYAML: yaml)
    }

    var storePath: String { directory.appendingPathComponent("users.db").path }

    /// The configuration file's text; `options` and `mapping` are YAML lines indented for their section.
    func yaml(filter: String = "(objectClass=inetOrgPerson)", base: String = Slapd.peopleBase, pageSize: Int = 50,
              mapping: String? = nil, options: String = "", groups: String = "", memberOf: String? = nil) -> String {
        let defaultMapping = """
                  username: uid
                  email: mail
                  firstName: givenName
                  lastName: sn
                  displayName: { template: "{givenName} {sn}" }
                  attributes: { employeeNumber: employeeNumber }
            """
        return """
            \(storeYAML)
            sources:
              - name: ldap
                type: ldap
                uri: \(slapd.ldapsURI)
                tls: { caFile: \(slapd.ca.caFile) }
                bindDN: \(Slapd.readerDN)
                passwordFile: \(directory.appendingPathComponent("reader.pw").path)
                users:
                  base: \(base)
                  filter: "\(filter)"
                  pageSize: \(pageSize)
                  idAttribute: entryUUID
            \(memberOf.map { "      memberOf: [ \"\($0)\" ]" } ?? "")
            \(groups)
                mapping:
            \(mapping ?? defaultMapping)
                options:
                  keepRecords: 3
            \(options)
            """
    }

    func source(filter: String = "(objectClass=inetOrgPerson)", base: String = Slapd.peopleBase, pageSize: Int = 50,
                mapping: String? = nil, options: String = "", groups: String = "", memberOf: String? = nil) throws -> SourceSettings {
        let text = yaml(filter: filter, base: base, pageSize: pageSize, mapping: mapping, options: options, groups: groups,
                        memberOf: memberOf)
        return try ConfigLoader.parse(text, file: "test.yaml").sources[0]
    }

    func sync(_ source: SourceSettings, from recordSource: (any RecordSource)? = nil, dryRun: Bool = false,
              force: Bool = false, allowEmpty: Bool = false) async -> SyncReport {
        await SyncEngine(store: store, logger: Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() }),
                         lockTimeout: .seconds(5)).run(source, from: recordSource, dryRun: dryRun, force: force, allowEmpty: allowEmpty)
    }

    func modify(_ ldif: String) async throws {
        let slapd = self.slapd
        try await offThePool { try slapd.modify(ldif) }
    }

    /// Every user row, by username.
    func users() async throws -> [String: UserRecord] {
        Dictionary(uniqueKeysWithValues: try await store.users().map { ($0.username, $0) })
    }

    /// The users table as text rows, to show that a run changed nothing.
    func snapshot() async throws -> [String] {
        try await store.read { db in
            try db.rows("SELECT * FROM users ORDER BY id").map { "\($0.values)" }
        }
    }

    func run(_ id: Int64?) async throws -> RunRecord? {
        guard let id else { return nil }
        return try await store.run(id: id)
    }
}

/// A source that reads a real directory and stops its server after `pages` pages: the
/// connection drops in the middle of a paged search.
struct ServerStoppingSource: RecordSource {
    let inner: LDAPSource
    let slapd: Slapd
    let pages: Int

    func read(attributes: [String], page: @Sendable ([SourceRecord]) async throws -> Void) async throws -> SourceReadInfo {
        let seen = ReadCounter()
        let slapd = self.slapd
        let stopAfter = pages
        return try await inner.read(attributes: attributes) { entries in
            try await page(entries)
            if seen.add(entries.count).page == stopAfter {
                try await offThePool { slapd.stop(kill: true) }
            }
        }
    }
}
