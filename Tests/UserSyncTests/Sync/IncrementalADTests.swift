import DirectoryFixtures
import Foundation
import LDAP
import Logging
import Testing
@testable import UserSync

/// Incremental reads of Active Directory (a real Samba DC): DirSync and USN polling, each
/// against a store filled by full reads of the same OU, compared after every run.
@Suite("Incremental reads (Active Directory, Samba)")
struct IncrementalADTests {
    struct Fixture {
        let dc: SambaDC
        let ou: String
        let directory: URL
        let store: UserStore
        let twin: UserStore
        let source: SourceSettings
        let full: SourceSettings
        /// Added to every sAMAccountName (unique in the domain, and tests run side by side).
        let suffix: String

        /// A user's username: the sAMAccountName, lowercased.
        func u(_ name: String) -> String { name.lowercased() + suffix }

        func run(_ settings: SourceSettings? = nil, force: Bool = false, into other: UserStore? = nil) async -> SyncReport {
            await SyncEngine(store: other ?? store, logger: Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() }))
                .run(settings ?? source, force: force)
        }

        func modify(_ ldif: String) async throws {
            let dc = self.dc
            try await dc.modify(ldif)
        }

        /// Both stores' users, without ids and times (and their groups and memberships, by stable ids).
        func same() async throws -> Bool {
            let a = try await IncrementalSyncTests.rows(store), b = try await IncrementalSyncTests.rows(twin)
            if a != b { Issue.record("incremental: \(a)\nfull: \(b)") }
            let x = try await IncrementalPropertyTests.groupRows(store), y = try await IncrementalPropertyTests.groupRows(twin)
            if x != y { Issue.record("groups differ: \(Set(x).symmetricDifference(y).sorted())") }
            return a == b && x == y
        }

        func twinSync() async {
            let report = await run(full, into: twin)
            #expect(report.status == .applied, "\(report.error ?? "")")
        }
    }

    static func user(_ name: String, _ ou: String, suffix: String, mail: String? = nil, uac: Int = 544) -> String {
        """
        dn: CN=\(name),\(ou)
        changetype: add
        objectClass: user
        sAMAccountName: \(name.lowercased())\(suffix)
        givenName: \(name)
        sn: Tester
        mail: \(mail ?? "\(name.lowercased())@corp.example.test")
        userAccountControl: \(uac)


        """
    }

    static func start(method: String, users: [String], groups: Bool = false) async throws -> Fixture {
        let dc = try await SambaDC.shared()
        let tag = UInt32.random(in: 1000...999_999)
        let suffix = "-\(tag)"
        let ou = "OU=Inc\(tag),\(SambaDC.baseDN)"
        let away = "OU=Away\(tag),\(SambaDC.baseDN)"
        var ldif = "dn: \(ou)\nchangetype: add\nobjectClass: organizationalUnit\n\ndn: \(away)\nchangetype: add\nobjectClass: organizationalUnit\n\n"
            + "dn: OU=Sub,\(ou)\nchangetype: add\nobjectClass: organizationalUnit\n\n"
        for name in users { ldif += user(name, ou, suffix: suffix) }
        let made = ldif
        try await dc.modify(made)
        let directory = try Shell.temporaryDirectory("usersync-ad-inc")
        Cleanup.atExit { try? FileManager.default.removeItem(at: directory) }
        try SambaDC.adminPassword.write(to: directory.appendingPathComponent("admin.pw"), atomically: true, encoding: .utf8)
        func yaml(_ incremental: String) -> String {
            """
            store:
              sqlite: \(directory.appendingPathComponent("users.db").path)
            sources:
              - name: corp
                type: ldap
                uri: \(dc.ldapsURI)
                tls: { caFile: \(dc.ca.caFile) }
                bindDN: \(SambaDC.adminUPN)
                passwordFile: \(directory.appendingPathComponent("admin.pw").path)
            \(incremental)
                users:
                  base: \(ou)
                  filter: (&(objectClass=user)(objectCategory=person))
                  idAttribute: objectGUID
                mapping:
                  username: { from: sAMAccountName, lowercase: true }
                  email: { from: mail, lowercase: true }
                  firstName: givenName
                  lastName: sn
                options:
                  maxDeactivations: 50%
            \(groups ? "    groups: { base: \"\(ou)\", filter: \"(objectClass=group)\" }" : "")
            """
        }
        let source = try ConfigLoader.parse(yaml("    incremental: { method: \(method) }"), file: "ad.yaml").sources[0]
        let full = try ConfigLoader.parse(yaml(""), file: "ad.yaml").sources[0]
        let store = try UserStore(path: directory.appendingPathComponent("users.db").path)
        let twin = try UserStore(path: directory.appendingPathComponent("twin.db").path)
        return Fixture(dc: dc, ou: ou, directory: directory, store: store, twin: twin, source: source, full: full, suffix: suffix)
    }

    @Test("create, modify, rename, move within and out of the base, disable, delete (tombstone) and re-create: each delta leaves the store as full reads do",
          arguments: ["dirsync", "usn"])
    func changes(method: String) async throws {
        let f = try await Self.start(method: method, users: ["Ann", "Ben", "Cid", "Dan", "Eve", "Fay", "Hal"])
        let away = f.ou.replacingOccurrences(of: "OU=Inc", with: "OU=Away")
        let first = await f.run()
        #expect(first.status == .applied && first.read?.mode == .full && first.read?.method == method, "\(first.error ?? "") \(String(describing: first.read))")
        #expect(first.users.created == 7)
        await f.twinSync()
        #expect(try await f.same())

        let quiet = await f.run()
        #expect(quiet.status == .applied && quiet.read?.mode == .delta && quiet.users == SyncReport.Counts(), "\(quiet.error ?? "")")

        try await f.modify(Self.user("Gus", f.ou, suffix: f.suffix) + """

            dn: CN=Ann,\(f.ou)
            changetype: modify
            replace: mail
            mail: ann.changed@corp.example.test

            dn: CN=Ben,\(f.ou)
            changetype: modrdn
            newrdn: CN=Benjamin
            deleteoldrdn: 1

            dn: CN=Cid,\(f.ou)
            changetype: modrdn
            newrdn: CN=Cid
            deleteoldrdn: 1
            newsuperior: \(away)

            dn: CN=Dan,\(f.ou)
            changetype: modify
            replace: userAccountControl
            userAccountControl: 546

            dn: CN=Hal,\(f.ou)
            changetype: modrdn
            newrdn: CN=Hal
            deleteoldrdn: 1
            newsuperior: OU=Sub,\(f.ou)

            dn: CN=Eve,\(f.ou)
            changetype: delete

            dn: CN=Fay,\(f.ou)
            changetype: delete

            """)
        try await f.modify(Self.user("Fay", f.ou, suffix: f.suffix, mail: "fay.again@corp.example.test"))
        let delta = await f.run()
        #expect(delta.status == .applied && delta.read?.mode == .delta, "\(delta.error ?? "") \(String(describing: delta.read))")
        await f.twinSync()
        #expect(try await f.same())
        let users = Dictionary(uniqueKeysWithValues: try await f.store.users().map { ($0.username, $0) })
        #expect(users[f.u("gus")]?.state == "active")
        #expect(users[f.u("ann")]?.fields[.email] == "ann.changed@corp.example.test")
        #expect(users[f.u("cid")]?.state == "deactivated" && users[f.u("dan")]?.state == "deactivated" && users[f.u("eve")]?.state == "deactivated")
        #expect(users[f.u("fay")]?.state == "active" && users[f.u("fay")]?.fields[.email] == "fay.again@corp.example.test")
        #expect(users[f.u("hal")]?.state == "active" && users[f.u("hal")]?.dn?.hasPrefix("CN=Hal,OU=Sub,") == true)

        // Back into the base, enabled again.
        try await f.modify("""
            dn: CN=Cid,\(away)
            changetype: modrdn
            newrdn: CN=Cid
            deleteoldrdn: 1
            newsuperior: \(f.ou)

            dn: CN=Dan,\(f.ou)
            changetype: modify
            replace: userAccountControl
            userAccountControl: 544

            """)
        let back = await f.run()
        #expect(back.status == .applied && back.read?.mode == .delta && back.users.reactivated == 2, "\(back.error ?? "")")
        await f.twinSync()
        #expect(try await f.same())
    }

    @Test("groups: a member added, a member moved out of the base and back (its group unchanged), nesting and a deleted member; each delta as full reads",
          arguments: ["dirsync", "usn"])
    func groupChanges(method: String) async throws {
        let f = try await Self.start(method: method, users: ["Ann", "Ben", "Cid", "Dan"], groups: true)
        let away = f.ou.replacingOccurrences(of: "OU=Inc", with: "OU=Away")
        let (g1, g2) = ("CN=G1\(f.suffix),\(f.ou)", "CN=G2\(f.suffix),\(f.ou)")
        try await f.modify("""
            dn: \(g1)
            changetype: add
            objectClass: group
            sAMAccountName: g1\(f.suffix)
            member: CN=Ann,\(f.ou)
            member: CN=Ben,\(f.ou)

            dn: \(g2)
            changetype: add
            objectClass: group
            sAMAccountName: g2\(f.suffix)
            member: \(g1)
            member: CN=Cid,\(f.ou)

            """)
        let first = await f.run()
        #expect(first.status == .applied && first.read?.mode == .full && first.groups?.created == 2, "\(first.error ?? "")")
        await f.twinSync()
        #expect(try await f.same())

        // Dan joins G1: G1 is re-read, Dan (unchanged) resolves from the store; Ben leaves the
        // base (G1 still lists him: AD keeps the link, under his new DN).
        try await f.modify("""
            dn: \(g1)
            changetype: modify
            add: member
            member: CN=Dan,\(f.ou)

            dn: CN=Ben,\(f.ou)
            changetype: modrdn
            newrdn: CN=Ben
            deleteoldrdn: 1
            newsuperior: \(away)

            """)
        let delta = await f.run()
        #expect(delta.status == .applied && delta.read?.mode == .delta, "\(delta.error ?? "") \(String(describing: delta.read))")
        #expect(delta.memberships?.added == 1 && delta.memberships?.removed == 1, "\(String(describing: delta.memberships))")
        await f.twinSync()
        #expect(try await f.same())

        // Ben comes back: G1 did not change, and he is its member again.
        try await f.modify("""
            dn: CN=Ben,\(away)
            changetype: modrdn
            newrdn: CN=Ben
            deleteoldrdn: 1
            newsuperior: \(f.ou)

            """)
        let back = await f.run()
        #expect(back.status == .applied && back.read?.mode == .delta && back.memberships?.added == 1, "\(back.error ?? "")")
        await f.twinSync()
        #expect(try await f.same())

        // Ann is deleted (AD drops her from G1); G1 leaves G2.
        try await f.modify("""
            dn: CN=Ann,\(f.ou)
            changetype: delete

            dn: \(g2)
            changetype: modify
            delete: member
            member: \(g1)

            """)
        let gone = await f.run()
        #expect(gone.status == .applied && gone.read?.mode == .delta && gone.users.deactivated == 1, "\(gone.error ?? "")")
        await f.twinSync()
        #expect(try await f.same())
    }

    @Test("USN: a watermark from another DC, or a DC restored (a new invocationID), means a full read, saying which")
    func otherDC() async throws {
        let f = try await Self.start(method: "usn", users: ["Hal", "Ida"])
        #expect(await f.run().read?.mode == .full)
        let mark = try #require(try await f.store.backend.watermark(source: "corp"))
        #expect(mark.server != nil && mark.invocationID != nil && mark.usn != nil)
        try await f.store.write { db in
            try db.execute("UPDATE source_watermarks SET server = 'dc2.corp.example.test' WHERE source = 'corp'")
        }
        let moved = await f.run()
        #expect(moved.read?.mode == .full && moved.read?.reason?.contains("dc2.corp.example.test") == true, "\(String(describing: moved.read))")
        #expect(await f.run().read?.mode == .delta)
        try await f.store.write { db in
            try db.execute("UPDATE source_watermarks SET invocation_id = '00000000-0000-0000-0000-000000000001' WHERE source = 'corp'")
        }
        let restored = await f.run()
        #expect(restored.read?.mode == .full && restored.read?.reason?.contains("invocationID") == true, "\(String(describing: restored.read))")
        // A watermark older than the tombstone lifetime.
        try await f.store.write { db in
            try db.execute("UPDATE source_watermarks SET updated_at = '2020-01-01T00:00:00.000Z' WHERE source = 'corp'")
        }
        let old = await f.run()
        #expect(old.read?.mode == .full && old.read?.reason?.contains("tombstoneLifetime") == true, "\(String(describing: old.read))")
    }
}
