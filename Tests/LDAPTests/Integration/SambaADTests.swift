import DirectoryFixtures
import Foundation
import LDAP
import Testing

/// Against a real Samba AD domain controller (one per test process: its ports are fixed).
@Suite("Samba Active Directory", .serialized)
struct SambaADTests {
    func adminConnection() async throws -> (SambaDC, LDAPConnection) {
        let dc = try await SambaDC.shared()
        let ldap = try await connect(dc.ldapsURI, tls: TLSOptions(verify: .demand, caFile: dc.ca.caFile))
        try await ldap.bind(.simple(dn: SambaDC.adminUPN, password: SambaDC.adminPassword))
        return (dc, ldap)
    }

    @Test("LDAPS bind by UPN and by DN")
    func bindByUPNAndDN() async throws {
        let dc = try await SambaDC.shared()
        for identity in [SambaDC.adminUPN, SambaDC.adminDN, "CORP\\Administrator"] {
            let ldap = try await connect(dc.ldapsURI, tls: TLSOptions(verify: .demand, caFile: dc.ca.caFile))
            #expect(await ldap.isTLS)
            try await ldap.bind(.simple(dn: identity, password: SambaDC.adminPassword))
            let root = try await ldap.rootDSE()
            if root.supportsWhoAmI {
                let who = try await ldap.whoAmI()
                #expect(who.lowercased().contains("administrator"), "WhoAmI said \(who)")
            }
        }
    }

    @Test("StartTLS on port 389 with the CA")
    func startTLS() async throws {
        let dc = try await SambaDC.shared()
        let ldap = try await connect(dc.ldapURI, tls: TLSOptions(verify: .demand, caFile: dc.ca.caFile), startTLS: true)
        #expect(await ldap.isTLS)
        try await ldap.bind(.simple(dn: SambaDC.adminUPN, password: SambaDC.adminPassword))
    }

    @Test("a simple bind over plain LDAP is refused: by usersync, and by the server when forced")
    func plainBindRefused() async throws {
        let dc = try await SambaDC.shared()
        let ldap = try await connect(dc.ldapURI)
        _ = await expectLDAPError(.insecureBindRefused) {
            try await ldap.bind(.simple(dn: SambaDC.adminUPN, password: SambaDC.adminPassword))
        }
        let error = await expectLDAPError(.encryptionRequired) {
            try await ldap.bind(.simple(dn: SambaDC.adminUPN, password: SambaDC.adminPassword), allowInsecure: true)
        }
        #expect(error?.code == .strongAuthRequired)
        #expect(error?.hint?.contains("ldaps://") == true)
    }

    @Test("a wrong password is invalid credentials with AD code 52e")
    func wrongPassword() async throws {
        let dc = try await SambaDC.shared()
        let ldap = try await connect(dc.ldapsURI, tls: TLSOptions(caFile: dc.ca.caFile))
        let error = await expectLDAPError(.authentication) {
            try await ldap.bind(.simple(dn: "alice@\(SambaDC.realm)", password: "not her password"))
        }
        #expect(error?.code == .invalidCredentials)
        #expect(error?.adBindReason == .invalidCredentials)
        #expect(error?.description.contains("data 52e") == true)
    }

    @Test("a disabled account's bind is refused with AD's reason")
    func disabledAccount() async throws {
        let dc = try await SambaDC.shared()
        let ldap = try await connect(dc.ldapsURI, tls: TLSOptions(caFile: dc.ca.caFile))
        let error = await expectLDAPError(.authentication) {
            try await ldap.bind(.simple(dn: "bob@\(SambaDC.realm)", password: SambaDC.bobPassword))
        }
        #expect(error?.code == .invalidCredentials)
        #expect(error?.adBindReason == .accountDisabled, "\(String(describing: error))")
    }

    @Test("a user binds with their own password")
    func userBind() async throws {
        let dc = try await SambaDC.shared()
        let ldap = try await connect(dc.ldapsURI, tls: TLSOptions(caFile: dc.ca.caFile))
        try await ldap.bind(.simple(dn: "alice@\(SambaDC.realm)", password: SambaDC.alicePassword))
    }

    @Test("objectGUID and objectSid decode to what samba-tool prints")
    func guidAndSid() async throws {
        let (dc, ldap) = try await adminConnection()
        let result = try await ldap.search(SearchRequest(base: SambaDC.staffBase, filter: LDAPFilter.equal("sAMAccountName", "alice").description,
                                                         attributes: ["objectGUID", "objectSid", "whenCreated", "userAccountControl"]))
        let alice = try #require(result.entries.first)
        let guid = try #require(alice["objectGUID"].first?.guidString)
        let expected = try await #require(try dc.sambaToolUserShow("alice", attribute: "objectGUID"))
        #expect(guid == expected.lowercased())
        let sid = try #require(alice["objectSid"].first?.sidString)
        let expectedSid = try await #require(try dc.sambaToolUserShow("alice", attribute: "objectSid"))
        #expect(sid == expectedSid)
        #expect(sid.hasPrefix("S-1-5-21-"))
        #expect(ADValue.sidBytes(sid) == alice.bytes("objectSid"))
        #expect(ADValue.guidBytes(guid) == alice.bytes("objectGUID"))
        let created = try #require(alice["whenCreated"].first?.generalizedTime)
        #expect(abs(created.timeIntervalSinceNow) < 3600)
        #expect(ADValue.isDisabled(userAccountControl: alice.string("userAccountControl") ?? "") == false)

        // The GUID, escaped byte by byte, finds the same entry.
        let byGUID = try await ldap.search(SearchRequest(base: SambaDC.baseDN,
                                                         filter: LDAPFilter.equalBytes("objectGUID", ADValue.guidBytes(guid)!).description,
                                                         attributes: ["sAMAccountName"]))
        #expect(byGUID.entries.map { $0.string("sAMAccountName") } == ["alice"])
    }

    @Test("a group of 2,100 members returns all of them through ranged retrieval")
    func rangedRetrieval() async throws {
        let (_, ldap) = try await adminConnection()
        let expected = Set((0..<SambaDC.bigGroupSize).map {
            DistinguishedName.normalize("CN=\(SambaDC.bulkName($0)),\(SambaDC.bulkBase)")!
        })
        // Asked for in ranges, as code that must also work against Windows AD does: the first
        // answer is `member;range=0-1499`, the rest is read transparently.
        let ranged = try await ldap.search(SearchRequest(base: SambaDC.bigGroupDN, scope: .base,
                                                         attributes: ["member;range=0-*", "cn"]))
        let group = try #require(ranged.entries.first)
        #expect(group.attributes.allSatisfy { !$0.name.contains(";") })
        let members = group.strings("member").compactMap(DistinguishedName.normalize)
        #expect(members.count == SambaDC.bigGroupSize)
        #expect(Set(members) == expected)

        // An explicit first range, paged: the same.
        var fromPages: [String] = []
        for try await page in ldap.pagedSearch(SearchRequest(base: SambaDC.bulkBase, filter: "(objectClass=group)",
                                                             attributes: ["member;range=0-1499"]), pageSize: 10) {
            for entry in page.entries { fromPages += entry.strings("member") }
        }
        #expect(Set(fromPages.compactMap(DistinguishedName.normalize)) == expected)

        // Asked for a small first range, the completion takes several rounds (0-999,
        // 1000-1999, 2000-*): all values, once each.
        let rounds = try await ldap.search(SearchRequest(base: SambaDC.bigGroupDN, scope: .base,
                                                         attributes: ["member;range=0-999"]))
        let roundMembers = rounds.entries.first?.strings("member").compactMap(DistinguishedName.normalize) ?? []
        #expect(roundMembers.count == SambaDC.bigGroupSize)
        #expect(Set(roundMembers) == expected)

        // Without completion, the server's own range is visible: proof that ranging happened.
        let raw = try await ldap.search(SearchRequest(base: SambaDC.bigGroupDN, scope: .base,
                                                      attributes: ["member;range=0-999"], completeRangedAttributes: false))
        let rawAttribute = try #require(raw.entries.first?.attributes.first { $0.name.lowercased().hasPrefix("member") })
        #expect(RangedAttribute(rawAttribute.name) == RangedAttribute("member;range=0-999"))
        #expect(rawAttribute.values.count == 1000)
    }

    @Test("the root DSE identifies Active Directory with paged results and the in-chain rule")
    func rootDSE() async throws {
        let (_, ldap) = try await adminConnection()
        let root = try await ldap.rootDSE()
        #expect(root.isActiveDirectory)
        #expect(root.supportsPagedResults)
        #expect(root.supportsInChainMatchingRule)
        #expect(root.vendor.contains("Samba"))
        #expect(root.defaultNamingContext == SambaDC.baseDN)
        #expect(root.namingContexts.contains(SambaDC.baseDN))
    }

    @Test("the in-chain filter and the bit filter evaluate on the server")
    func adFilters() async throws {
        let (_, ldap) = try await adminConnection()
        let inChain = try await ldap.search(SearchRequest(base: SambaDC.bulkBase,
                                                          filter: LDAPFilter.and([.equal("objectClass", "user"),
                                                                                  .memberOfInChain(SambaDC.bigGroupDN)]).description,
                                                          attributes: ["1.1"]))
        #expect(inChain.entries.count == SambaDC.bigGroupSize)
        let disabled = try await ldap.search(SearchRequest(base: SambaDC.staffBase,
                                                           filter: LDAPFilter.and([.equal("objectClass", "user"),
                                                                                   .bitAnd("userAccountControl", 2)]).description,
                                                           attributes: ["sAMAccountName"]))
        #expect(disabled.entries.compactMap { $0.string("sAMAccountName") } == ["bob"])
    }

    @Test("a subtree search from the domain root reports continuation references")
    func referencesFromDomainRoot() async throws {
        let (_, ldap) = try await adminConnection()
        var references: [String] = []
        var entries = 0
        for try await page in ldap.pagedSearch(SearchRequest(base: SambaDC.baseDN, filter: "(sAMAccountName=alice)",
                                                             attributes: ["1.1"]), pageSize: 100) {
            references += page.references
            entries += page.entries.count
        }
        #expect(entries == 1)
        #expect(!references.isEmpty)
        #expect(references.allSatisfy { $0.lowercased().hasPrefix("ldap") })
    }
}
