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

    @Test("groups in a delta: a changed group re-read whole, members resolved against the stored users, a user back in the base back in its groups, nesting, a rename and a deleted group; the store as full reads leave it",
          arguments: [Setup(sessionLog: 100, store: .sqlite), Setup(sessionLog: nil, store: .postgres)])
    func groups(setup: Setup) async throws {
        let h = try await SyncHarness.start(users: 12, extraLDIF: Self.former + Slapd.sampleGroupTree, store: setup.store,
                                            sessionLog: setup.sessionLog)
        let twin = try await Self.twin(h)
        let source = try h.source(groups: groupsSection, sourceLines: Self.incremental)
        let full = IncrementalSyncTests.Twin(store: twin.store, source: try h.source(groups: groupsSection))
        func same(_ what: String) async throws {
            try await full.sync(h)
            #expect(try await Self.rows(h.store) == Self.rows(full.store), "\(what): users")
            let (a, b) = (try await IncrementalPropertyTests.groupRows(h.store), try await IncrementalPropertyTests.groupRows(full.store))
            #expect(a == b, "\(what): \(Set(a).symmetricDifference(b).sorted())")
        }
        let first = await h.sync(source)
        #expect(first.status == .applied && first.read?.mode == .full && first.groups?.created == 10, "\(first.error ?? "")")
        try await same("first read")
        // As a store written before the normalised DNs were kept (migration v7 adds the columns
        // empty and forgets the watermark): the next read is full and fills them, unchanged
        // records included.
        try await h.store.write { db in
            try db.execute("UPDATE users SET dn_norm = NULL")
            try db.execute("UPDATE groups SET dn_norm = NULL")
            try db.execute("DELETE FROM source_watermarks")
        }
        let upgraded = await h.sync(source)
        #expect(upgraded.read?.mode == .full && upgraded.read?.reason?.contains("no watermark") == true)
        let empty = try await h.store.read { db in
            try db.value(Int.self, "SELECT (SELECT count(*) FROM users WHERE dn_norm IS NULL) + (SELECT count(*) FROM groups WHERE dn_norm IS NULL)")
        }
        #expect(empty == 0)

        // User 11 (in no group) joins l5: only l5 is re-read, and user 11 resolves from the store
        // (it did not change); every ancestor of l5 gains it as an effective member.
        try await h.modify("dn: cn=l5,ou=groups,\(Slapd.suffix)\nchangetype: modify\nadd: member\nmember: \(Slapd.userDN(11))\n")
        let joined = await h.sync(source)
        #expect(joined.status == .applied && joined.read?.mode == .delta, "\(joined.error ?? "") \(joined.read?.reason ?? "")")
        #expect(joined.entriesRead == 0 && joined.groupsRead == 1)
        #expect(joined.memberships?.added == 1 && joined.memberships?.removed == 0)
        #expect(try await h.effective()["l1"]?.contains(Slapd.userName(11)) == true)
        try await same("a member added")

        // User 2 leaves the base (l2 still lists its DN) and comes back: out of l2, then in again,
        // though l2 itself never changed.
        try await h.modify("""
            dn: \(Slapd.userDN(2))
            changetype: modrdn
            newrdn: uid=\(Slapd.userName(2))
            deleteoldrdn: 1
            newsuperior: ou=former,dc=example,dc=com

            """)
        let out = await h.sync(source)
        #expect(out.read?.mode == .delta && out.users.deactivated == 1 && out.memberships?.removed == 1, "\(out.error ?? "")")
        try await same("a member moved out")
        try await h.modify("""
            dn: uid=\(Slapd.userName(2)),ou=former,dc=example,dc=com
            changetype: modrdn
            newrdn: uid=\(Slapd.userName(2))
            deleteoldrdn: 1
            newsuperior: \(Slapd.peopleBase)

            """)
        let back = await h.sync(source)
        #expect(back.read?.mode == .delta && back.users.reactivated == 1 && back.memberships?.added == 1, "\(back.error ?? "")")
        #expect(try await h.effective()["l2"]?.contains(Slapd.userName(2)) == true)
        try await same("a member back")

        // Nesting: `other` joins l5; l4 is renamed (l3 keeps its old DN: no refint overlay);
        // `outside` is deleted.
        try await h.modify("""
            dn: cn=l5,ou=groups,\(Slapd.suffix)
            changetype: modify
            add: member
            member: cn=other,ou=groups,\(Slapd.suffix)

            dn: cn=l4,ou=groups,\(Slapd.suffix)
            changetype: modrdn
            newrdn: cn=l4renamed
            deleteoldrdn: 1

            dn: cn=outside,ou=groups,\(Slapd.suffix)
            changetype: delete

            """)
        let tree = await h.sync(source)
        #expect(tree.status == .applied && tree.read?.mode == .delta, "\(tree.error ?? "")")
        #expect(tree.groups?.deactivated == 1 && tree.groups?.updated == 1)
        #expect(try await h.effective()["l5"]?.contains(Slapd.userName(7)) == true, "other's member, through other")
        try await same("nesting, a rename, a deletion")
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
        // Groups linked by member DN read incrementally; by username or memberOf they cannot.
        for (membership, delta) in [("member", true), ("uniqueMember", true), ("memberUid", false), ("memberOf", false)] {
            let (grouped, groupedDirectory) = try Self.settings(groups: "    groups: { base: \"ou=groups,dc=example,dc=com\", membership: \(membership) }")
            var current = mark
            current.settingsHash = IncrementalPolicy.settingsHash(grouped, groupedDirectory)
            let reason = IncrementalPolicy.fullReason(grouped, groupedDirectory, stored: current, forceFull: false, now: now)
            #expect(delta ? reason == nil : reason?.contains("only member and uniqueMember groups") == true, "\(membership): \(reason ?? "")")
            #expect(current.settingsHash != hash, "the groups' settings are part of the hash")
        }
    }

    @Test("a delta's re-reads name the changed ids 200 to a search, objectGUIDs by their bytes")
    func idFilters() {
        let ids = (0..<450).map { "id-\($0)" }
        let filters = LDAPSource.idFilters("entryUUID", ids)
        #expect(filters.count == 3)
        #expect(filters.map { $0.components(separatedBy: "(entryUUID=").count - 1 } == [200, 200, 50])
        #expect(filters[0].hasPrefix("(|(entryUUID=id-0)(entryUUID=id-1)") && filters[2].hasSuffix("(entryUUID=id-449))"))
        #expect(LDAPSource.idFilters("entryUUID", []).isEmpty)
        let guid = LDAPSource.idFilters("objectGUID", ["01020304-0506-0708-090a-0b0c0d0e0f10"])
        #expect(guid == ["(|(objectGUID=\\04\\03\\02\\01\\06\\05\\08\\07\\09\\0a\\0b\\0c\\0d\\0e\\0f\\10))"], "\(guid)")
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

    struct History: Sendable, CustomTestStringConvertible {
        let sessionLog: Int?
        let groups: Bool
        var testDescription: String { "\(sessionLog == nil ? "present phase" : "delete phase")\(groups ? ", with a group tree" : "")" }
    }

    /// Six groups under ou=groups, nested g4 ⊃ {g2, g3}, g2 ⊃ g1, each with a member that is
    /// no entry (groupOfNames must keep one).
    static let placeholder = "cn=placeholder,dc=example,dc=com"
    static let initialMembers: [Int: Set<String>] = [
        1: [Slapd.userDN(1), Slapd.userDN(2), Slapd.userDN(3)], 2: [groupDN(1), Slapd.userDN(4)],
        3: [Slapd.userDN(5), Slapd.userDN(6)], 4: [groupDN(2), groupDN(3)], 5: [Slapd.userDN(7)], 6: [],
    ]
    static func groupDN(_ n: Int, name: String? = nil) -> String { "cn=\(name ?? "g\(n)"),ou=groups,dc=example,dc=com" }

    /// The groups, direct members, nesting and effective members, by stable ids: what two
    /// stores must agree on.
    static func groupRows(_ store: UserStore) async throws -> [String] {
        try await store.read { db in
            let groups = try db.rows("SELECT external_id, name, dn, dn_norm, state FROM groups ORDER BY external_id").map { "\($0.values)" }
            let members = try db.rows("""
                SELECT g.external_id AS g, u.external_id AS u FROM group_members m JOIN groups g ON g.id = m.group_id
                JOIN users u ON u.id = m.user_id ORDER BY 1, 2
                """).map { "member \($0.values)" }
            let parents = try db.rows("""
                SELECT c.external_id AS c, p.external_id AS p FROM group_parents x JOIN groups c ON c.id = x.group_id
                JOIN groups p ON p.id = x.parent_id ORDER BY 1, 2
                """).map { "parent \($0.values)" }
            let effective = try db.rows("""
                SELECT g.external_id AS g, u.external_id AS u FROM effective_group_members m JOIN groups g ON g.id = m.group_id
                JOIN users u ON u.id = m.user_id ORDER BY 1, 2
                """).map { "effective \($0.values)" }
            return groups + members + parents + effective
        }
    }

    @Test("random changes, random full and delta runs: always the store of full reads",
          arguments: [History(sessionLog: nil, groups: false), History(sessionLog: 50, groups: false),
                      History(sessionLog: nil, groups: true), History(sessionLog: 50, groups: true)])
    func randomHistory(_ history: History) async throws {
        let seed = ProcessInfo.processInfo.environment["USERSYNC_PROPERTY_SEED"].flatMap(UInt64.init) ?? UInt64.random(in: 1...UInt64.max)
        var random = Random(state: seed)
        var members = history.groups ? Self.initialMembers : [:]
        let groupLDIF = members.keys.sorted().map { n in
            "dn: \(Self.groupDN(n))\nobjectClass: groupOfNames\ncn: g\(n)\nmember: \(Self.placeholder)\n"
                + members[n]!.sorted().map { "member: \($0)\n" }.joined() + "\n"
        }.joined()
        let h = try await SyncHarness.start(users: 40, extraLDIF: IncrementalSyncTests.former + groupLDIF, sessionLog: history.sessionLog)
        let twin = try await IncrementalSyncTests.twin(h)
        let groups = history.groups ? groupsSection : ""
        let source = try h.source(options: "      maxDeactivations: 100%", groups: groups, sourceLines: IncrementalSyncTests.incremental)
        let fullTwin = IncrementalSyncTests.Twin(store: twin.store, source: try h.source(options: "      maxDeactivations: 100%", groups: groups))
        // Where each user is: in the base, moved out, or deleted; and a counter for new names.
        var inBase = Set(1...40), movedOut = Set<Int>(), deleted = Set<Int>()
        var next = 41
        // Each group's current name (renames change its DN; the lists naming the old DN keep it).
        var names = Dictionary(uniqueKeysWithValues: members.keys.map { ($0, "g\($0)") })
        var deltaMemberships = 0
        defer { if history.groups { print("property seed \(seed): \(deltaMemberships) membership changes written by deltas") } }
        for step in 1...12 {
            var ldif: [String] = []
            for _ in 0..<Int.random(in: 1...4, using: &random) {
                switch Int.random(in: 0..<(history.groups ? 10 : 6), using: &random) {
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
                case 5 where history.groups, 6:
                    // A user (in the base, moved out or deleted: lists keep any DN) or a group joins a group.
                    let g = Int.random(in: 1...6, using: &random)
                    let member = Bool.random(using: &random)
                        ? Slapd.userDN(Int.random(in: 1..<next, using: &random))
                        : Self.groupDN(0, name: names[Int.random(in: 1...6, using: &random)]!)
                    guard member != Self.groupDN(g, name: names[g]), members[g]!.insert(member).inserted else { break }
                    ldif.append("dn: \(Self.groupDN(g, name: names[g]))\nchangetype: modify\nadd: member\nmember: \(member)\n")
                case 7:
                    let g = Int.random(in: 1...6, using: &random)
                    guard let member = members[g]!.randomElement(using: &random) else { break }
                    members[g]!.remove(member)
                    ldif.append("dn: \(Self.groupDN(g, name: names[g]))\nchangetype: modify\ndelete: member\nmember: \(member)\n")
                case 8:
                    // A group renamed: the lists that named it keep its old DN (no refint overlay).
                    let g = Int.random(in: 1...6, using: &random)
                    let name = "g\(g)s\(step)"
                    guard names[g] != name else { break }
                    ldif.append("dn: \(Self.groupDN(g, name: names[g]))\nchangetype: modrdn\nnewrdn: cn=\(name)\ndeleteoldrdn: 1\n")
                    names[g] = name
                case 9:
                    // A user moved within the base (its DN changes; lists keep the old one).
                    guard let n = inBase.randomElement(using: &random) else { break }
                    inBase.remove(n); movedOut.insert(n)
                    ldif.append("dn: \(Slapd.userDN(n))\nchangetype: modrdn\nnewrdn: uid=\(Slapd.userName(n))\ndeleteoldrdn: 1\nnewsuperior: ou=former,dc=example,dc=com\n")
                default:
                    break
                }
            }
            if !ldif.isEmpty { try await h.modify(ldif.joined(separator: "\n") + "\n") }
            let full = Bool.random(using: &random)
            let report = await h.sync(source, full: full)
            #expect(report.status == .applied, "seed \(seed), step \(step): \(report.error ?? "")")
            if step > 1 && !full {
                #expect(report.read?.mode == .delta, "seed \(seed), step \(step): \(report.read?.reason ?? "")")
                deltaMemberships += (report.memberships?.added ?? 0) + (report.memberships?.removed ?? 0)
            }
            try await fullTwin.sync(h)
            let (a, b) = (try await IncrementalSyncTests.rows(h.store), try await IncrementalSyncTests.rows(fullTwin.store))
            #expect(a == b, "seed \(seed), step \(step) (\(full ? "full" : "delta")): the stores differ")
            if a != b { return }
            if history.groups {
                let (x, y) = (try await Self.groupRows(h.store), try await Self.groupRows(fullTwin.store))
                #expect(x == y, "seed \(seed), step \(step) (\(full ? "full" : "delta")): the groups differ: \(Set(x).symmetricDifference(y).sorted())")
                if x != y { return }
            }
        }
    }
}
