import DirectoryFixtures
import Foundation
import LDAP
import Logging
import Testing
@testable import UserSync

/// The sync against a real Samba AD domain controller: objectGUID identity, disabled accounts
/// (userAccountControl bit 2), DN-valued manager.
@Suite("Sync with Active Directory (Samba)")
struct ActiveDirectorySyncTests {
    @Test("AD accounts: a disabled one is stored deactivated; disabling (514) deactivates, enabling (512) reactivates the same row")
    func disabledAccounts() async throws {
        let dc = try await SambaDC.shared()
        let ou = "OU=Sync\(UInt32.random(in: 1000...999_999)),\(SambaDC.baseDN)"
        // 544 = NORMAL_ACCOUNT | PASSWD_NOTREQD (no password needed to create it over LDAP);
        // 546 adds ACCOUNTDISABLE.
        do {
            try await dc.modify("""
                dn: \(ou)
                changetype: add
                objectClass: organizationalUnit

                dn: CN=Carol Example,\(ou)
                changetype: add
                objectClass: user
                sAMAccountName: Carol
                givenName: Carol
                sn: Example
                mail: Carol.Example@Corp.Example.Test
                userAccountControl: 544

                dn: CN=Dave Disabled,\(ou)
                changetype: add
                objectClass: user
                sAMAccountName: dave
                givenName: Dave
                sn: Disabled
                userAccountControl: 546

                dn: CN=Erin Report,\(ou)
                changetype: add
                objectClass: user
                sAMAccountName: erin
                givenName: Erin
                sn: Report
                manager: CN=Carol Example,\(ou)
                userAccountControl: 544

                """)
        }
        let directory = try Shell.temporaryDirectory("usersync-ad-sync")
        defer { try? FileManager.default.removeItem(at: directory) }
        try SambaDC.adminPassword.write(to: directory.appendingPathComponent("admin.pw"), atomically: true, encoding: .utf8)
        let yaml = """
            store:
              sqlite: \(directory.appendingPathComponent("users.db").path)
            sources:
              - name: corp
                type: ldap
                uri: \(dc.ldapsURI)
                tls: { caFile: \(dc.ca.caFile) }
                bindDN: \(SambaDC.adminUPN)
                passwordFile: \(directory.appendingPathComponent("admin.pw").path)
                users:
                  base: \(ou)
                  filter: (&(objectClass=user)(objectCategory=person))
                  idAttribute: objectGUID
                mapping:
                  username: { from: sAMAccountName, lowercase: true }
                  email: { from: mail, lowercase: true }
                  firstName: givenName
                  lastName: sn
                  manager: { from: manager, rdnValue: true }
                  attributes: { sid: { from: objectSid, format: sid } }
                options:
                  maxDeactivations: 2
            """
        let source = try ConfigLoader.parse(yaml, file: "ad.yaml").sources[0]
        let store = try UserStore(path: directory.appendingPathComponent("users.db").path)
        let engine = SyncEngine(store: store, logger: Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() }))

        let first = await engine.run(source)
        #expect(first.status == .applied, "\(first.error ?? "")")
        #expect(first.users.created == 3)
        func users() async throws -> [String: UserRecord] { Dictionary(uniqueKeysWithValues: try await store.users().map { ($0.username, $0) }) }
        var all = try await users()
        let carol = try #require(all["carol"])
        #expect(carol.state == "active")
        #expect(carol[.email] == "carol.example@corp.example.test")
        let guid = try await dc.sambaToolUserShow("Carol", attribute: "objectGUID")
        #expect(carol.externalId == guid, "objectGUID as samba-tool prints it")
        #expect(carol.attributes["sid"]?.hasPrefix("S-1-5-21-") == true)
        #expect(all["dave"]?.state == "deactivated", "created deactivated: disabled in AD")
        #expect(all["dave"]?.deactivatedAt != nil)
        #expect(all["erin"]?[.manager] == "Carol Example")
        // Nothing changed: every record is recognised as identical, and the disabled one stays deactivated.
        let again = await engine.run(source)
        #expect(again.users.unchanged == 3 && again.identicalRecords == 3, "\(again.error ?? "")")
        #expect(try await users()["dave"]?.state == "deactivated")

        do {
            try await dc.modify("""
                dn: CN=Carol Example,\(ou)
                changetype: modify
                replace: userAccountControl
                userAccountControl: 546

                dn: CN=Dave Disabled,\(ou)
                changetype: modify
                replace: userAccountControl
                userAccountControl: 544

                """)
        }
        let second = await engine.run(source)
        #expect(second.status == .applied, "\(second.error ?? "")")
        #expect(second.users.deactivated == 1 && second.users.reactivated == 1)
        all = try await users()
        #expect(all["carol"]?.id == carol.id && all["carol"]?.state == "deactivated")
        #expect(all["dave"]?.state == "active" && all["dave"]?.deactivatedAt == nil)
        let reasons = try await store.changes(run: second.runId!).map { "\($0.action) \($0.username ?? ""): \($0.newValue ?? "")" }.sorted()
        #expect(reasons == ["deactivate carol: disabled in the directory", "reactivate dave: back in the directory, enabled"])

        do {
            try await dc.modify("dn: CN=Carol Example,\(ou)\nchangetype: modify\nreplace: userAccountControl\nuserAccountControl: 544\n\n")
        }
        let third = await engine.run(source)
        #expect(third.users.reactivated == 1)
        #expect(try await users()["carol"]?.id == carol.id)
        #expect(try await users()["carol"]?.state == "active")
    }
}

@Suite("mapping init (Samba AD)")
struct MappingStarterADTests {
    @Test("mapping init recognises Active Directory: sAMAccountName, objectGUID, the disabled bit, sample values")
    func activeDirectoryStarter() async throws {
        let dc = try await SambaDC.shared()
        let directory = try Shell.temporaryDirectory("usersync-ad-init")
        defer { try? FileManager.default.removeItem(at: directory) }
        try SambaDC.adminPassword.write(to: directory.appendingPathComponent("admin.pw"), atomically: true, encoding: .utf8)
        let source = try ConfigLoader.parse("""
            store: { sqlite: \(directory.appendingPathComponent("users.db").path) }
            sources:
              - name: corp
                type: ldap
                uri: \(dc.ldapsURI)
                tls: { caFile: \(dc.ca.caFile) }
                bindDN: \(SambaDC.adminUPN)
                passwordFile: \(directory.appendingPathComponent("admin.pw").path)
                users: { base: "\(SambaDC.staffBase)", filter: "(sAMAccountName=alice)" }
                mapping: { username: sAMAccountName }
            """, file: "ad.yaml").sources[0]
        let text = try await MappingStarter.generate(source)
        #expect(text.contains("an Active Directory"))
        #expect(text.contains("idAttribute: objectGUID"))
        #expect(text.contains("filter: (&(objectClass=user)(objectCategory=person))"))
        #expect(text.contains("username: { from: sAMAccountName, lowercase: true }") && text.contains("# sample: alice"))
        #expect(text.contains("email: { from: mail, lowercase: true }") && text.contains("# sample: Alice.Admin@Corp.Example.Test"))
        #expect(text.contains("disabledWhen: { userAccountControlBit: 2 }"))
        #expect(!text.contains("unicodePwd") && !text.contains("objectSid:"))

        // The starter, put under the source, is a valid configuration.
        let mappingPart = text.split(separator: "\n").filter { !$0.hasPrefix("#") }.map { "    " + $0 }.joined(separator: "\n")
        let configuration = try ConfigLoader.parse("""
            store: { sqlite: /tmp/x.db }
            sources:
              - name: corp
                type: ldap
                uri: \(dc.ldapsURI)
            \(mappingPart)
            """, file: "starter.yaml")
        #expect(configuration.sources[0].stableID == "objectGUID")
        #expect(configuration.sources[0].mapping[.username]?.from == "sAMAccountName")
    }
}
