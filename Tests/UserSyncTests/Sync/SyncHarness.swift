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

/// Which directory server a test reads: the sync cases that matter run on OpenLDAP and on 389
/// Directory Server.
enum DirectoryKind: String, Sendable, CustomTestStringConvertible {
    case slapd, ds389 = "389-ds"
    var testDescription: String { rawValue }
}

/// A directory and a store for one test: every store on slapd, and 389-DS on SQLite.
struct SyncSetup: Sendable, CustomTestStringConvertible {
    let directory: DirectoryKind
    let store: StoreKind
    var testDescription: String { "\(directory.rawValue), \(store.rawValue)" }

    static let all = [SyncSetup(directory: .slapd, store: .sqlite), SyncSetup(directory: .slapd, store: .postgres),
                      SyncSetup(directory: .ds389, store: .sqlite)]
}

/// A real slapd, a real store (a SQLite file in a temporary directory, or a schema on a real
/// PostgreSQL), and a source configured the way an administrator would write it (YAML through
/// the real loader).
struct SyncHarness {
    /// The directory: a slapd of the test's own, or a branch of the shared 389-DS.
    let ldap: any TestDirectory
    let directory: URL
    let store: UserStore
    let kind: StoreKind
    /// The configuration's `store:` section.
    let storeYAML: String

    /// The slapd, for the tests that stop and start their server.
    var slapd: Slapd { ldap as! Slapd }

    static func start(users: Int = 100, extraLDIF: String = "", store kind: StoreKind = .sqlite,
                      sessionLog: Int? = nil) async throws -> SyncHarness {
        try await start(users: users, extraLDIF: { _ in extraLDIF }, SyncSetup(directory: .slapd, store: kind), sessionLog: sessionLog)
    }

    /// `extraLDIF` names its entries below the suffix it is given (the test's branch on 389-DS).
    /// `sessionLog`: slapd's syncprov session log (content sync's delete phase), if any.
    static func start(users: Int = 100, extraLDIF: (String) -> String = { _ in "" }, _ setup: SyncSetup,
                      sessionLog: Int? = nil) async throws -> SyncHarness {
        let ldap: any TestDirectory
        switch setup.directory {
        case .slapd: ldap = try await Slapd.start(users: users, extraLDIF: extraLDIF(Slapd.suffix), sessionLog: sessionLog)
        case .ds389: ldap = try await DirectoryServer389.get().branch(users: users) { branch in extraLDIF(branch.suffix) }
        }
        let directory = try Shell.temporaryDirectory("usersync-sync")
        Cleanup.atExit { try? FileManager.default.removeItem(at: directory) }
        try "\(ldap.readerPassword)\n".write(to: directory.appendingPathComponent("reader.pw"), atomically: true, encoding: .utf8)
        let (store, yaml) = try await setup.store.makeStore(in: directory)
        return SyncHarness(ldap: ldap, directory: directory, store: store, kind: setup.store, storeYAML: yaml)
    }

    var storePath: String { directory.appendingPathComponent("users.db").path }

    /// The configuration file's text; `options` and `mapping` are YAML lines indented for their section.
    /// `sourceLines` go at the source's level (`incremental: …`), indented for it.
    func yaml(filter: String = "(objectClass=inetOrgPerson)", base: String? = nil, pageSize: Int = 50,
              mapping: String? = nil, options: String = "", groups: String = "", memberOf: String? = nil,
              sourceLines: String = "") -> String {
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
                uri: \(ldap.ldapsURI)
                tls: { caFile: \(ldap.caFile) }
                bindDN: \(ldap.readerDN)
                passwordFile: \(directory.appendingPathComponent("reader.pw").path)
            \(sourceLines)
                users:
                  base: "\(base ?? ldap.peopleBase)"
                  filter: "\(filter)"
                  pageSize: \(pageSize)
                  idAttribute: \(ldap.idAttribute)
            \(memberOf.map { "      memberOf: [ \"\($0)\" ]" } ?? "")
            \(groups)
                mapping:
            \(mapping ?? defaultMapping)
                options:
                  keepRecords: 3
            \(options)
            """
    }

    func source(filter: String = "(objectClass=inetOrgPerson)", base: String? = nil, pageSize: Int = 50,
                mapping: String? = nil, options: String = "", groups: String = "", memberOf: String? = nil,
                sourceLines: String = "") throws -> SourceSettings {
        let text = yaml(filter: filter, base: base, pageSize: pageSize, mapping: mapping, options: options, groups: groups,
                        memberOf: memberOf, sourceLines: sourceLines)
        return try ConfigLoader.parse(text, file: "test.yaml").sources[0]
    }

    func sync(_ source: SourceSettings, from recordSource: (any RecordSource)? = nil, dryRun: Bool = false,
              force: Bool = false, allowEmpty: Bool = false, full: Bool = false, into other: UserStore? = nil) async -> SyncReport {
        await SyncEngine(store: other ?? store, logger: Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() }),
                         lockTimeout: .seconds(5)).run(source, from: recordSource, dryRun: dryRun, force: force, allowEmpty: allowEmpty,
                                                       full: full)
    }

    func modify(_ ldif: String) async throws {
        let ldap = self.ldap
        try await ldap.modify(ldif)
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
