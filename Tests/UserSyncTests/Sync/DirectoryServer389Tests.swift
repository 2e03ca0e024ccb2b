import DirectoryFixtures
import Foundation
import LDAP
import Testing
@testable import UserSync

/// What only 389 Directory Server shows: its groups with the memberOf plugin's back-links,
/// and `mapping init` recognising it. (The sync cases it shares with OpenLDAP run in
/// OpenLDAPSyncTests through `SyncSetup.all`.)
@Suite("389 Directory Server")
struct DirectoryServer389Tests {
    /// Sales before Staff: the memberOf plugin writes the back-link when a group names an entry
    /// that exists (a member added later gets none until a fix-up task runs).
    static func groups(_ suffix: String) -> String {
        """
        dn: cn=Sales,ou=groups,\(suffix)
        objectClass: groupOfNames
        cn: Sales
        member: uid=user00002,ou=people,\(suffix)
        member: uid=user00003,ou=people,\(suffix)

        dn: cn=Staff,ou=groups,\(suffix)
        objectClass: groupOfNames
        cn: Staff
        member: cn=Sales,ou=groups,\(suffix)
        member: uid=user00001,ou=people,\(suffix)


        """
    }

    @Test("groupOfNames and the memberOf plugin's back-links give the same nested tree; a member removed is followed", arguments: ["member", "memberOf"])
    func groups(membership: String) async throws {
        // The groups come after the users they name (ldapadd adds in order). 389's memberOf
        // lists nested groups too (memberOfSkipNested is off), so only effective members are
        // the same in both modes.
        let h = try await SyncHarness.start(users: 6, extraLDIF: Self.groups, SyncSetup(directory: .ds389, store: .sqlite))
        let source = try h.source(groups: """
                groups:
                  base: "\(h.ldap.groupsBase)"
                  membership: \(membership)
            """)
        let report = await h.sync(source)
        #expect(report.status == .applied, "\(report.error ?? "")")
        let staff = try #require(try await h.store.groups(named: "Staff").first)
        let sales = try #require(try await h.store.groups(named: "Sales").first)
        #expect(staff.externalId?.count == 35, "nsUniqueId: \(staff.externalId ?? "")")
        #expect(try await h.store.groupTree(source: "ldap").parents(of: sales.id) == [staff.id])
        #expect(try await h.store.members(ofGroup: staff.id, effective: true) == ["user00001", "user00002", "user00003"])

        try await h.modify("""
            dn: cn=Sales,ou=groups,\(h.ldap.suffix)
            changetype: modify
            delete: member
            member: uid=user00003,ou=people,\(h.ldap.suffix)

            """)
        let again = await h.sync(source)
        #expect(again.status == .applied, "\(again.error ?? "")")
        #expect(try await h.store.members(ofGroup: staff.id, effective: true) == ["user00001", "user00002"])
    }

    @Test("mapping init recognises 389 Directory Server by its root DSE and proposes nsUniqueId")
    func mappingInit() async throws {
        let h = try await SyncHarness.start(users: 2, SyncSetup(directory: .ds389, store: .sqlite))
        let text = try await MappingStarter.generate(try h.source())
        #expect(text.contains("a 389 Directory Server"), "\(text)")
        #expect(text.contains("idAttribute: nsUniqueId"), "\(text)")
        #expect(text.contains("username: { from: uid, lowercase: true }"), "\(text)")
        #expect(!text.contains("nsUniqueId:"), "not offered as an extra attribute")
    }
}
