import DirectoryFixtures
import Foundation
import Testing
@testable import UserSync

/// The real scim2-server (PyPI) on loopback, populated through its own API.
@Suite("SCIM source")
struct SCIMSourceTests {
    static let enterprise = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"

    static func user(_ i: Int, familyName: String? = nil, active: Bool = true) -> [String: Any] {
        [
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User", enterprise],
            "userName": String(format: "User%04d", i),
            "externalId": "ext-\(i)",
            "name": ["givenName": "Given\(i)", "familyName": familyName ?? "Family\(i)"],
            "emails": [["value": "home\(i)@example.net", "type": "home"],
                       ["value": "user\(i)@example.com", "type": "work", "primary": true]],
            "active": active,
            enterprise: ["employeeNumber": "E\(i)"],
        ]
    }

    func source(_ server: SCIMServer, tokenFile: String, extra: String = "") -> String {
        """
          - name: cloud
            type: scim
            url: \(server.baseURL)
            allowInsecure: true
            auth: { bearerTokenFile: \(tokenFile) }
            groups: true
            pageSize: 100
        \(extra)
            mapping:
              username: { from: userName, lowercase: true }
              email: "emails[primary eq true].value"
              firstName: name.givenName
              lastName: name.familyName
              attributes:
                employeeNumber: "\(Self.enterprise):employeeNumber"
                homeMail: "emails[type eq \\"home\\"].value"
        """
    }

    @Test("1,000 users and nested groups: sync, then change, deactivate and delete through the API and sync again")
    func syncAndFollow() async throws {
        let server = try await SCIMServer.start()
        let h = try CSVHarness()
        let tokenFile = h.directory.appendingPathComponent("scim.token").path
        try "\(server.token)\n".write(toFile: tokenFile, atomically: true, encoding: .utf8)

        // 1,000 users; ten departments of 100 each, all ten inside "All"; "Leads" (users 0-4)
        // inside Dept0: three levels of nesting.
        var operations: [[String: Any]] = (0..<1000).map { ["method": "POST", "path": "/Users", "body": Self.user($0)] }
        for d in 0..<10 {
            let members: [[String: Any]] = (0..<100).map { ["value": "$\(d * 100 + $0)", "type": "User"] }
            operations.append(["method": "POST", "path": "/Groups",
                               "body": ["schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": "Dept\(d)",
                                        "members": members] as [String: Any]])
        }
        operations.append(["method": "POST", "path": "/Groups",
                           "body": ["schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": "All",
                                    "members": (1000..<1010).map { ["value": "$\($0)", "type": "Group"] as [String: Any] }]
                               as [String: Any]])
        operations.append(["method": "POST", "path": "/Groups",
                           "body": ["schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": "Leads",
                                    "members": (0..<5).map { ["value": "$\($0)"] as [String: Any] }] as [String: Any]])
        var ids = try await server.send(operations)
        // Leads into Dept0 (a PUT of Dept0 with Leads added).
        var dept0Members: [[String: Any]] = (0..<100).map { ["value": ids[$0]!, "type": "User"] }
        dept0Members.append(["value": ids[1011]!, "type": "Group"])
        try await server.send([["method": "PUT", "path": "/Groups/\(ids[1000]!)",
                                "body": ["schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "id": ids[1000]!,
                                         "displayName": "Dept0", "members": dept0Members] as [String: Any]]])

        let source = try h.parse(source(server, tokenFile: tokenFile))
        let report = await h.sync(source)
        #expect(report.status == .applied, "\(report.error ?? "")")
        #expect(report.entriesRead == 1000)
        #expect(report.users.created == 1000)
        #expect(report.groups?.created == 12)
        let users = try await h.users()
        let u42 = try #require(users["user0042"])
        #expect(u42.externalId == ids[42])
        #expect(u42[.email] == "user42@example.com")  // the primary one, not the first
        #expect(u42[.firstName] == "Given42")
        #expect(u42[.lastName] == "Family42")
        #expect(u42.attributes["employeeNumber"] == "E42")
        #expect(u42.attributes["homeMail"] == "home42@example.net")
        #expect(u42.state == "active")
        let all = try #require(try await h.store.groups(named: "All").first)
        let leads = try #require(try await h.store.groups(named: "Leads").first)
        let dept0 = try #require(try await h.store.groups(named: "Dept0").first)
        #expect(try await h.store.members(ofGroup: all.id, effective: true).count == 1000)
        #expect(try await h.store.members(ofGroup: all.id, effective: false).isEmpty)
        #expect(try await h.store.groupTree(source: "cloud").parents(of: leads.id) == [dept0.id])
        #expect(try await h.store.groups(ofUser: users["user0003"]!.id).effective == ["All", "Dept0", "Leads"])

        // Through the API: user 5 renamed, user 6 deactivated (active: false), user 7 deleted.
        ids = ids.map { $0 }
        try await server.send([
            ["method": "PUT", "path": "/Users/\(ids[5]!)", "body": Self.user(5, familyName: "Renamed").merging(["id": ids[5]!]) { $1 }],
            ["method": "PUT", "path": "/Users/\(ids[6]!)", "body": Self.user(6, active: false).merging(["id": ids[6]!]) { $1 }],
            ["method": "DELETE", "path": "/Users/\(ids[7]!)"],
        ])
        let again = await h.sync(source)
        #expect(again.status == .applied, "\(again.error ?? "")")
        #expect(again.entriesRead == 999)
        #expect(again.users.updated == 1)
        #expect(again.users.deactivated == 2)
        #expect(again.users.unchanged == 997)
        let after = try await h.users()
        #expect(after["user0005"]?[.lastName] == "Renamed")
        #expect(after["user0006"]?.state == "deactivated")
        #expect(after["user0007"]?.state == "deactivated")
        #expect(after["user0008"]?.state == "active")
        let changes = try await h.store.changes(run: again.runId!)
        #expect(changes.first { $0.username == "user0006" && $0.action == .deactivate }?.newValue == "disabled in the directory")
        #expect(changes.first { $0.username == "user0007" && $0.action == .deactivate }?.record == "id \(ids[7]!)")

        // User 6 active again: reactivated, same row.
        try await server.send([["method": "PUT", "path": "/Users/\(ids[6]!)", "body": Self.user(6).merging(["id": ids[6]!]) { $1 }]])
        let third = await h.sync(source)
        #expect(third.users.reactivated == 1)
        #expect(try await h.users()["user0006"]?.id == after["user0006"]?.id)

        // A filter on the server and externalId as the stable id: another source, its own users.
        let h2 = try CSVHarness()
        let filtered = try h2.parse(self.source(server, tokenFile: tokenFile, extra: """
                filter: 'userName sw "User001"'
                idAttribute: externalId
            """).replacingOccurrences(of: "    groups: true\n", with: ""))
        let scoped = await h2.sync(filtered)
        #expect(scoped.status == .applied, "\(scoped.error ?? "")")
        #expect(scoped.entriesRead == 10)  // User0010 … User0019
        #expect(try await h2.users()["user0013"]?.externalId == "ext-13")

        // test-bind's check of the source: the first page maps, the groups answer.
        let check = await SourceCheck(source: source, pageLimit: 100).run()
        #expect(check.error == nil)
        #expect(check.recordsRead == 100)
        #expect(check.skipped == 0)
    }

    @Test("group members with neither type nor $ref (as scim2-server lists them): a member whose id is a group's is a nested group")
    func untypedMembers() async throws {
        let server = try await SCIMServer.start()
        let group = "urn:ietf:params:scim:schemas:core:2.0:Group"
        // Users 0-5; Inner holds users 0-2, Outer holds Inner and user 5: no member says what it is.
        var operations: [[String: Any]] = (0..<6).map { ["method": "POST", "path": "/Users", "body": Self.user($0)] }
        operations.append(["method": "POST", "path": "/Groups",
                           "body": ["schemas": [group], "displayName": "Inner",
                                    "members": (0..<3).map { ["value": "$\($0)"] as [String: Any] }] as [String: Any]])
        operations.append(["method": "POST", "path": "/Groups",
                           "body": ["schemas": [group], "displayName": "Outer",
                                    "members": [["value": "$6"], ["value": "$5"]] as [[String: Any]]] as [String: Any]])
        let ids = try await server.send(operations)
        // What the server lists: the members of Outer carry no hint of their kind.
        let listed = try await server.get("/Groups/\(ids[7]!)")
        let members = try #require(listed["members"] as? [[String: Any]])
        #expect(members.count == 2 && members.allSatisfy { $0["type"] == nil && $0["$ref"] == nil }, "\(members)")

        let h = try CSVHarness()
        let tokenFile = h.directory.appendingPathComponent("scim.token").path
        try "\(server.token)\n".write(toFile: tokenFile, atomically: true, encoding: .utf8)
        let report = await h.sync(try h.parse(source(server, tokenFile: tokenFile)))
        #expect(report.status == .applied, "\(report.error ?? "")")
        #expect(report.groups?.created == 2 && report.unresolvedMembers == 0)
        let inner = try #require(try await h.store.groups(named: "Inner").first)
        let outer = try #require(try await h.store.groups(named: "Outer").first)
        #expect(try await h.store.groupTree(source: "cloud").parents(of: inner.id) == [outer.id])
        #expect(try await h.store.members(ofGroup: outer.id, effective: false).count == 1, "user 5 only: Inner is a child, not a user")
        #expect(try await h.store.members(ofGroup: outer.id, effective: true).count == 4)
        #expect(try await h.store.groups(ofUser: h.users()["user0001"]!.id).effective == ["Inner", "Outer"])
    }

    @Test("a wrong token fails the run as an authentication failure and changes nothing")
    func wrongToken() async throws {
        let server = try await SCIMServer.start()
        try await server.send([["method": "POST", "path": "/Users", "body": Self.user(1)]])
        let h = try CSVHarness()
        let tokenFile = h.directory.appendingPathComponent("scim.token").path
        try "\(server.token)\n".write(toFile: tokenFile, atomically: true, encoding: .utf8)
        let source = try h.parse(source(server, tokenFile: tokenFile))
        #expect(await h.sync(source).status == .applied)
        let before = try await h.snapshot()

        try "not-the-token\n".write(toFile: tokenFile, atomically: true, encoding: .utf8)
        let report = await h.sync(source)
        #expect(report.status == .failed)
        #expect(report.errorKind == .authentication)
        #expect(report.error?.contains("401") == true, "\(report.error ?? "")")
        #expect(try await h.snapshot() == before)
        let check = await SourceCheck(source: source).run()
        #expect(check.error?.kind == .authentication)
    }
}
