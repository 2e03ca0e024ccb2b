import DirectoryFixtures
import Foundation
import LDAP
import Testing
@testable import UserSync

/// Incremental reads (`incremental: { method: syncrepl }`) against a real slapd with the
/// syncprov overlay, with a session log (deletions come in a delete phase) and without (the
/// server lists what is present), on both stores. Each case keeps a second store that the
/// same source fills with full reads only: after every run the two must hold the same users,
/// field for field.
@Suite("Incremental reads (OpenLDAP content sync)")
struct IncrementalSyncTests {
    struct Setup: Sendable, CustomTestStringConvertible {
        let sessionLog: Int?
        let store: StoreKind
        var testDescription: String { "\(sessionLog == nil ? "present phase" : "delete phase"), \(store.rawValue)" }
        static let all = [Setup(sessionLog: nil, store: .sqlite), Setup(sessionLog: 100, store: .sqlite),
                          Setup(sessionLog: nil, store: .postgres), Setup(sessionLog: 100, store: .postgres)]
    }

    static let incremental = "    incremental: { method: syncrepl }"
    static let former = """
        dn: ou=former,dc=example,dc=com
        objectClass: organizationalUnit
        ou: former

        dn: ou=sub,ou=people,dc=example,dc=com
        objectClass: organizationalUnit
        ou: sub


        """

    /// Everything a user row says, but its id and times: what two stores must agree on.
    static func rows(_ store: UserStore) async throws -> [String] {
        try await store.read { db in
            try db.rows("""
                SELECT source, external_id, username, email, first_name, last_name, display_name, dn, attributes, state
                FROM users ORDER BY external_id
                """).map { "\($0.values)" }
        }
    }

    /// A store filled by full reads of the same source, kept beside the incremental one.
    struct Twin {
        let store: UserStore
        let source: SourceSettings

        func sync(_ h: SyncHarness) async throws {
            let report = await h.sync(source, into: store)
            #expect(report.status == .applied, "\(report.error ?? "")")
            #expect(report.read == nil)
        }
    }

    static func twin(_ h: SyncHarness) async throws -> Twin {
        let directory = h.directory.appendingPathComponent("twin")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let store = try await h.kind.makeStore(in: directory).store
        return Twin(store: store, source: try h.source())
    }

    @Test("a delta reads only what changed — modify, add, rename, move within and out of the base, delete, re-create — and leaves the store as full reads do",
          arguments: Setup.all)
    func changes(setup: Setup) async throws {
        let h = try await SyncHarness.start(users: 30, extraLDIF: Self.former, store: setup.store, sessionLog: setup.sessionLog)
        let twin = try await Self.twin(h)
        let source = try h.source(sourceLines: Self.incremental)

        let first = await h.sync(source)
        #expect(first.status == .applied, "\(first.error ?? "")")
        #expect(first.read?.mode == .full && first.read?.method == "syncrepl")
        #expect(first.read?.reason?.contains("no watermark yet") == true)
        #expect(first.users.created == 30)
        #expect(try await h.store.backend.watermark(source: "ldap")?.cookie != nil)
        try await twin.sync(h)
        #expect(try await Self.rows(h.store) == Self.rows(twin.store))

        // Nothing changed: a delta that reads nothing and changes nothing (not an empty read).
        let quiet = await h.sync(source)
        #expect(quiet.status == .applied, "\(quiet.error ?? "")")
        #expect(quiet.read?.mode == .delta && quiet.entriesRead == 0)
        #expect(quiet.users == SyncReport.Counts())

        try await h.modify("""
            dn: \(Slapd.userDN(3))
            changetype: modify
            replace: mail
            mail: changed@example.com

            dn: \(Slapd.userDN(4))
            changetype: delete

            dn: uid=newcomer,\(Slapd.peopleBase)
            changetype: add
            objectClass: inetOrgPerson
            uid: newcomer
            cn: New Comer
            givenName: New
            sn: Comer
            mail: newcomer@example.com

            dn: \(Slapd.userDN(5))
            changetype: modrdn
            newrdn: uid=renamed
            deleteoldrdn: 1

            dn: \(Slapd.userDN(6))
            changetype: modrdn
            newrdn: uid=\(Slapd.userName(6))
            deleteoldrdn: 1
            newsuperior: ou=former,dc=example,dc=com

            dn: \(Slapd.userDN(8))
            changetype: modrdn
            newrdn: uid=\(Slapd.userName(8))
            deleteoldrdn: 1
            newsuperior: ou=sub,\(Slapd.peopleBase)

            dn: \(Slapd.userDN(7))
            changetype: delete

            dn: \(Slapd.userDN(7))
            changetype: add
            objectClass: inetOrgPerson
            uid: \(Slapd.userName(7))
            cn: Again Seven
            givenName: Again
            sn: Seven
            mail: again7@example.com

            """)
        let delta = await h.sync(source)
        #expect(delta.status == .applied, "\(delta.error ?? "")")
        #expect(delta.read?.mode == .delta && delta.read?.reason == nil)
        // Read: user 3, the newcomer, the renamed 5, 8 in its new OU and the re-created 7 (6 is
        // re-read and not found).
        #expect(delta.entriesRead == 5)
        #expect(delta.users.created == 1)
        #expect(delta.users.deactivated == 2)
        try await twin.sync(h)
        #expect(try await Self.rows(h.store) == Self.rows(twin.store))
        let users = try await h.users()
        #expect(users["renamed"]?.state == "active" && users[Slapd.userName(5)] == nil)
        #expect(users[Slapd.userName(4)]?.state == "deactivated" && users[Slapd.userName(6)]?.state == "deactivated")
        #expect(users[Slapd.userName(7)]?.fields[.email] == "again7@example.com" && users[Slapd.userName(7)]?.state == "active")
        #expect(users[Slapd.userName(8)]?.state == "active" && users[Slapd.userName(8)]?.dn == "uid=\(Slapd.userName(8)),ou=sub,\(Slapd.peopleBase)")

        // Moved back into the base: the same row, active again.
        try await h.modify("""
            dn: uid=\(Slapd.userName(6)),ou=former,dc=example,dc=com
            changetype: modrdn
            newrdn: uid=\(Slapd.userName(6))
            deleteoldrdn: 1
            newsuperior: \(Slapd.peopleBase)

            """)
        let back = await h.sync(source)
        #expect(back.read?.mode == .delta && back.users.reactivated == 1, "\(back.error ?? "")")
        try await twin.sync(h)
        #expect(try await Self.rows(h.store) == Self.rows(twin.store))
    }

    @Test("the guard weighs a delta as a full read: one deleting 40% stops, keeps its watermark, and --force applies the same changes",
          arguments: [Setup(sessionLog: 100, store: .sqlite), Setup(sessionLog: nil, store: .postgres)])
    func guarded(setup: Setup) async throws {
        let h = try await SyncHarness.start(users: 20, store: setup.store, sessionLog: setup.sessionLog)
        let source = try h.source(sourceLines: Self.incremental)
        #expect(await h.sync(source).status == .applied)
        let mark = try await h.store.backend.watermark(source: "ldap")
        try await h.modify((1...8).map { "dn: \(Slapd.userDN($0))\nchangetype: delete\n" }.joined(separator: "\n"))
        let before = try await h.snapshot()
        let stopped = await h.sync(source)
        #expect(stopped.status == .stopped && stopped.read?.mode == .delta)
        #expect(stopped.error?.contains("maxDeactivations") == true)
        #expect(try await h.snapshot() == before)
        #expect(try await h.store.backend.watermark(source: "ldap") == mark)
        let forced = await h.sync(source, force: true)
        #expect(forced.status == .applied && forced.read?.mode == .delta && forced.users.deactivated == 8, "\(forced.error ?? "")")
        #expect(try await h.store.backend.watermark(source: "ldap") != mark)
    }

    @Test("a full read when asked (--full), after a change of the settings, and with a watermark the server no longer knows")
    func fullReads() async throws {
        let h = try await SyncHarness.start(users: 10, sessionLog: 100)
        let source = try h.source(sourceLines: Self.incremental)
        #expect(await h.sync(source).read?.mode == .full)
        let forced = await h.sync(source, full: true)
        #expect(forced.read?.mode == .full && forced.read?.reason == "--full was given")
        #expect(await h.sync(source).read?.mode == .delta)
        let changed = try h.source(filter: "(&(objectClass=inetOrgPerson)(uid=*))", sourceLines: Self.incremental)
        let refiltered = await h.sync(changed)
        #expect(refiltered.read?.mode == .full && refiltered.read?.reason?.contains("filter") == true)
        #expect(await h.sync(changed).read?.mode == .delta)

        // A cookie from another server (or one far too old): the server refuses it, the run reads everything.
        try await h.store.write { db in
            try db.execute("UPDATE source_watermarks SET cookie = ? WHERE source = 'ldap'", Data("rid=000,csn=19700101000000.000000Z#000000#000#000000".utf8))
        }
        let refused = await h.sync(changed)
        #expect(refused.status == .applied, "\(refused.error ?? "")")
        let history = try #require(try await h.run(refused.runId))
        #expect(history.mode == refused.read?.mode.rawValue && history.method == "syncrepl")
    }

    @Test("without syncprov's control, or with another idAttribute, the run reads everything and says why")
    func unsupported() async throws {
        let h = try await SyncHarness.start(users: 5)
        var byNumber = try h.source(sourceLines: Self.incremental)
        byNumber.stableID = "employeeNumber"
        let report = await h.sync(byNumber)
        #expect(report.status == .applied, "\(report.error ?? "")")
        #expect(report.read?.mode == .full && report.read?.method == nil)
        #expect(report.read?.reason?.contains("idAttribute: entryUUID") == true)
        #expect(try await h.store.backend.watermark(source: "ldap") == nil)
    }
}

/// When a run must read everything, decided before the server is asked.
@Suite("Incremental policy")
struct IncrementalPolicyTests {
    static func settings(_ extra: String = "", groups: String = "") throws -> (SourceSettings, LDAPSourceSettings) {
        let yaml = """
            store: { sqlite: /tmp/x.db }
            sources:
              - name: corp
                type: ldap
                uri: ldaps://dc.example.com
                incremental: { method: auto, fullEvery: 2h }
                users: { base: "dc=example,dc=com", filter: "(objectClass=person)"\(extra) }
            \(groups)
                mapping: { username: uid }
            """
        let source = try ConfigLoader.parse(yaml, file: "t.yaml").sources[0]
        return (source, source.ldap!)
    }

    @Test("no watermark, --full, changed settings, an old full read, groups or memberOf: full, with the reason")
    func reasons() throws {
        let (source, directory) = try Self.settings()
        let now = Date()
        let hash = IncrementalPolicy.settingsHash(source, directory)
        var mark = Watermark(method: .syncrepl, cookie: [1], usn: nil, server: nil, invocationID: nil, settingsHash: hash,
                             lastFullAt: Timestamp.text(now.addingTimeInterval(-3600)), updatedAt: Timestamp.text(now))
        #expect(IncrementalPolicy.fullReason(source, directory, stored: mark, forceFull: false, now: now) == nil)
        #expect(IncrementalPolicy.fullReason(source, directory, stored: nil, forceFull: false, now: now)?.contains("no watermark") == true)
        #expect(IncrementalPolicy.fullReason(source, directory, stored: mark, forceFull: true, now: now) == "--full was given")
        mark.lastFullAt = Timestamp.text(now.addingTimeInterval(-3 * 3600))
        #expect(IncrementalPolicy.fullReason(source, directory, stored: mark, forceFull: false, now: now)
                == "the last full read was 3h ago (incremental.fullEvery: 2h)")
        mark.lastFullAt = Timestamp.text(now)
        let (other, otherDirectory) = try Self.settings(", scope: one")
        #expect(IncrementalPolicy.fullReason(other, otherDirectory, stored: mark, forceFull: false, now: now)?.contains("changed") == true)
        let (scoped, scopedDirectory) = try Self.settings(", memberOf: [\"cn=app,dc=example,dc=com\"]")
        #expect(IncrementalPolicy.fullReason(scoped, scopedDirectory, stored: mark, forceFull: false, now: now)?.contains("membership") == true)
    }

    @Test("the watermark's settings hash follows the mapping, not only the search")
    func hash() throws {
        let (source, directory) = try Self.settings()
        var remapped = source
        remapped.mapping[.email] = remapped.mapping[.username]
        #expect(IncrementalPolicy.settingsHash(source, directory) != IncrementalPolicy.settingsHash(remapped, directory))
        #expect(IncrementalPolicy.settingsHash(source, directory) == IncrementalPolicy.settingsHash(source, directory))
    }
}

/// A random sequence of directory changes and runs, each run full or delta at random: after
/// every run the store holds what a store fed only full reads holds. The seed is printed with
/// any failure, and `USERSYNC_PROPERTY_SEED` replays it.
@Suite("Incremental reads, property")
struct IncrementalPropertyTests {
    /// SplitMix64: small, seedable, the same sequence on every machine.
    struct Random: RandomNumberGenerator {
        var state: UInt64
        mutating func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
    }

    @Test("random changes, random full and delta runs: always the store of full reads", arguments: [nil, 50] as [Int?])
    func randomHistory(sessionLog: Int?) async throws {
        let seed = ProcessInfo.processInfo.environment["USERSYNC_PROPERTY_SEED"].flatMap(UInt64.init) ?? UInt64.random(in: 1...UInt64.max)
        var random = Random(state: seed)
        let h = try await SyncHarness.start(users: 40, extraLDIF: IncrementalSyncTests.former, sessionLog: sessionLog)
        let twin = try await IncrementalSyncTests.twin(h)
        let source = try h.source(options: "      maxDeactivations: 100%", sourceLines: IncrementalSyncTests.incremental)
        let fullTwin = IncrementalSyncTests.Twin(store: twin.store, source: try h.source(options: "      maxDeactivations: 100%"))
        // Where each user is: in the base, moved out, or deleted; and a counter for new names.
        var inBase = Set(1...40), movedOut = Set<Int>(), deleted = Set<Int>()
        var next = 41
        for step in 1...12 {
            var ldif: [String] = []
            for _ in 0..<Int.random(in: 1...4, using: &random) {
                switch Int.random(in: 0..<6, using: &random) {
                case 0 where !inBase.isEmpty:
                    let n = inBase.randomElement(using: &random)!
                    ldif.append("dn: \(Slapd.userDN(n))\nchangetype: modify\nreplace: mail\nmail: step\(step)-\(n)@example.com\n")
                case 1 where !inBase.isEmpty:
                    let n = inBase.randomElement(using: &random)!
                    inBase.remove(n); deleted.insert(n)
                    ldif.append("dn: \(Slapd.userDN(n))\nchangetype: delete\n")
                case 2:
                    // A new entry, or one deleted earlier made again with the same uid (a new entryUUID).
                    let n = deleted.randomElement(using: &random) ?? next
                    if n == next { next += 1 }
                    deleted.remove(n); inBase.insert(n)
                    ldif.append("dn: \(Slapd.userDN(n))\nchangetype: add\nobjectClass: inetOrgPerson\nuid: \(Slapd.userName(n))\ncn: Step \(step)\ngivenName: Step\nsn: S\(step)\nmail: new\(step)-\(n)@example.com\n")
                case 3 where !inBase.isEmpty:
                    let n = inBase.randomElement(using: &random)!
                    inBase.remove(n); movedOut.insert(n)
                    ldif.append("dn: \(Slapd.userDN(n))\nchangetype: modrdn\nnewrdn: uid=\(Slapd.userName(n))\ndeleteoldrdn: 1\nnewsuperior: ou=former,dc=example,dc=com\n")
                case 4 where !movedOut.isEmpty:
                    let n = movedOut.randomElement(using: &random)!
                    movedOut.remove(n); inBase.insert(n)
                    ldif.append("dn: uid=\(Slapd.userName(n)),ou=former,dc=example,dc=com\nchangetype: modrdn\nnewrdn: uid=\(Slapd.userName(n))\ndeleteoldrdn: 1\nnewsuperior: \(Slapd.peopleBase)\n")
                default:
                    break
                }
            }
            if !ldif.isEmpty { try await h.modify(ldif.joined(separator: "\n") + "\n") }
            let full = Bool.random(using: &random)
            let report = await h.sync(source, full: full)
            #expect(report.status == .applied, "seed \(seed), step \(step): \(report.error ?? "")")
            try await fullTwin.sync(h)
            let (a, b) = (try await IncrementalSyncTests.rows(h.store), try await IncrementalSyncTests.rows(fullTwin.store))
            #expect(a == b, "seed \(seed), step \(step) (\(full ? "full" : "delta")): the stores differ")
            if a != b { return }
        }
    }
}
