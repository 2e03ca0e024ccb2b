import DirectoryFixtures
import Foundation
import GRDB
import LDAP
import Logging
import Testing
@testable import UserSync

/// Group trees on a real Samba AD: nesting, a group of 2,100 members, the memberOf strategy and
/// group-scoped users, each checked against what Samba itself answers to the in-chain query.
@Suite("Group trees with Active Directory (Samba)")
struct ActiveDirectoryGroupTests {
    struct Setup {
        let dc: SambaDC
        let tag: String
        let ou: String
        let directory: URL
        var userFilter: String { "(&(objectClass=user)(objectCategory=person)(|(sAMAccountName=bulk*)(sAMAccountName=\(tag)u*)))" }
        func group(_ n: Int) -> String { "CN=\(tag)G\(n),\(ou)" }
    }

    /// An OU of its own with six users and four groups: G1 ⊃ G2 ⊃ G3, G4 ⊃ G3 (two parents),
    /// G2 ⊃ BigGroup (2,100 members).
    static func prepare() async throws -> Setup {
        let dc = try await SambaDC.shared()
        let tag = "t\(UInt32.random(in: 10000...99999))"
        let ou = "OU=\(tag),\(SambaDC.baseDN)"
        var ldif = "dn: \(ou)\nchangetype: add\nobjectClass: organizationalUnit\n\n"
        for u in 1...6 {
            ldif += "dn: CN=\(tag)u\(u),\(ou)\nchangetype: add\nobjectClass: user\nsAMAccountName: \(tag)u\(u)\nuserAccountControl: 544\n\n"
        }
        func group(_ n: Int, _ members: [String]) -> String {
            "dn: CN=\(tag)G\(n),\(ou)\nchangetype: add\nobjectClass: group\nsAMAccountName: \(tag)G\(n)\n"
                + members.map { "member: \($0)\n" }.joined() + "\n"
        }
        ldif += group(3, ["CN=\(tag)u3,\(ou)"])
        ldif += group(2, ["CN=\(tag)G3,\(ou)", "CN=\(tag)u2,\(ou)", SambaDC.bigGroupDN])
        ldif += group(1, ["CN=\(tag)G2,\(ou)", "CN=\(tag)u1,\(ou)"])
        ldif += group(4, ["CN=\(tag)G3,\(ou)", "CN=\(tag)u4,\(ou)"])
        let text = ldif
        try await dc.modify(text)
        let directory = try Shell.temporaryDirectory("usersync-ad-groups")
        Cleanup.atExit { try? FileManager.default.removeItem(at: directory) }
        try SambaDC.adminPassword.write(to: directory.appendingPathComponent("admin.pw"), atomically: true, encoding: .utf8)
        return Setup(dc: dc, tag: tag, ou: ou, directory: directory)
    }

    static func source(_ s: Setup, store: String, membership: String = "member", memberOf: String = "",
                       groups: Bool = true) throws -> SourceSettings {
        let groupsSection = groups ? """
                groups:
                  base: \(SambaDC.baseDN)
                  filter: (&(objectClass=group)(|(cn=BigGroup)(cn=\(s.tag)G*)))
                  membership: \(membership)
            """ : ""
        return try ConfigLoader.parse("""
            store: { sqlite: \(store) }
            sources:
              - name: corp
                type: ldap
                uri: \(s.dc.ldapsURI)
                tls: { caFile: \(s.dc.ca.caFile) }
                bindDN: \(SambaDC.adminUPN)
                passwordFile: \(s.directory.appendingPathComponent("admin.pw").path)
                users:
                  base: \(SambaDC.baseDN)
                  filter: "\(s.userFilter)"
                  idAttribute: objectGUID
                  pageSize: 1000
            \(memberOf)
            \(groupsSection)
                mapping:
                  username: { from: sAMAccountName, lowercase: true }
                options:
                  disabledWhen: { userAccountControlBit: 0 }
            """, file: "ad-groups.yaml").sources[0]
    }

    static func sync(_ source: SourceSettings, store path: String) async throws -> (SyncReport, UserStore) {
        let store = try UserStore(path: path)
        let engine = SyncEngine(store: store, logger: Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() }))
        return (await engine.run(source), store)
    }

    /// What Samba answers to the in-chain query: the users (of the test's filter) in `group`, through any nesting.
    static func inChain(_ s: Setup, _ group: String) async throws -> Set<String> {
        var options = LDAPConnectionOptions(uris: [s.dc.ldapsURI])
        options.tls = TLSOptions(verify: .demand, caFile: s.dc.ca.caFile)
        let ldap = try await LDAPConnection.connect(options)
        try await ldap.bind(.simple(dn: SambaDC.adminUPN, password: SambaDC.adminPassword))
        let filter = "(&\(s.userFilter)(memberOf:\(ActiveDirectoryOIDs.matchingRuleInChain):=\(LDAPFilter.escape(group))))"
        var names: Set<String> = []
        for try await page in ldap.pagedSearch(SearchRequest(base: SambaDC.baseDN, filter: filter, attributes: ["sAMAccountName"]), pageSize: 1000) {
            for entry in page.entries { if let name = entry.string("sAMAccountName") { names.insert(name.lowercased()) } }
        }
        await ldap.close()
        return names
    }

    static func effective(_ store: UserStore) throws -> [String: Set<String>] {
        try store.database.read { db in
            var result: [String: Set<String>] = [:]
            for row in try Row.fetchAll(db, sql: """
                SELECT g.dn, u.username FROM groups g LEFT JOIN effective_group_members e ON e.group_id = g.id
                LEFT JOIN users u ON u.id = e.user_id
                """) {
                let dn: String = row["dn"]
                var members = result[dn] ?? []
                if let name: String = row["username"] { members.insert(name) }
                result[dn] = members
            }
            return result
        }
    }

    @Test("nested groups and a 2,100-member group: every group's effective members equal Samba's in-chain answer; the memberOf strategy agrees")
    func effectiveMatchesInChain() async throws {
        let s = try await Self.prepare()
        let (report, store) = try await Self.sync(try Self.source(s, store: s.directory.appendingPathComponent("member.db").path),
                                                  store: s.directory.appendingPathComponent("member.db").path)
        #expect(report.status == .applied, "\(report.error ?? "")")
        #expect(report.groups?.created == 5)
        let effective = try Self.effective(store)
        #expect(effective.count == 5)
        for (dn, members) in effective {
            let expected = try await Self.inChain(s, dn)
            #expect(members == expected, "\(dn): store \(members.count), Samba \(expected.count)")
        }
        #expect(effective[s.group(2)]?.count == 2100 + 2)
        #expect(effective[SambaDC.bigGroupDN]?.count == 2100)
        let parents = try await store.database.read { db in
            try Int.fetchOne(db, sql: "SELECT count(*) FROM group_parents gp JOIN groups g ON g.id = gp.group_id WHERE g.dn = ?",
                             arguments: [s.group(3)])
        }
        #expect(parents == 2, "G3 has two parents")

        let path = s.directory.appendingPathComponent("memberof.db").path
        let (viaMemberOf, other) = try await Self.sync(try Self.source(s, store: path, membership: "memberOf"), store: path)
        #expect(viaMemberOf.status == .applied, "\(viaMemberOf.error ?? "")")
        #expect(try Self.effective(other) == effective, "membership from memberOf gives the same effective members")
    }

    @Test("group-scoped users: the in-chain rule and the tree read give the same users")
    func groupScopedBothStrategies() async throws {
        let s = try await Self.prepare()
        let scope = "      memberOf: [ \"\(s.group(1))\" ]\n"
        let inChainPath = s.directory.appendingPathComponent("inchain.db").path
        let (byServer, inChainStore) = try await Self.sync(
            try Self.source(s, store: inChainPath, memberOf: scope + "      memberOfStrategy: inChain", groups: false), store: inChainPath)
        #expect(byServer.status == .applied, "\(byServer.error ?? "")")
        let treePath = s.directory.appendingPathComponent("tree.db").path
        let (byTree, treeStore) = try await Self.sync(
            try Self.source(s, store: treePath, memberOf: scope + "      memberOfStrategy: tree"), store: treePath)
        #expect(byTree.status == .applied, "\(byTree.error ?? "")")
        let a = Set(try await inChainStore.users().map(\.username))
        let b = Set(try await treeStore.users().map(\.username))
        #expect(a == b)
        #expect(a.count == 2100 + 3, "G1's users: u1, u2, u3 and BigGroup's")
        #expect(a.contains("\(s.tag)u3") && !a.contains("\(s.tag)u4"))
    }
}
