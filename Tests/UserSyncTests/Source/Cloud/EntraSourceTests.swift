import DirectoryFixtures
import Foundation
import Testing
@testable import UserSync

/// An `entra` source against Tests/Servers/graph_api.py: the Microsoft identity platform's
/// token endpoint and Graph's users, groups and members over HTTPS, as their references
/// document them (paging by opaque skip tokens, pages shorter than $top, $select defaults
/// without accountEnabled, members typed by @odata.type, devices among them, 403, 401, 429).
@Suite("Entra ID source")
struct EntraSourceTests {
    static let allStaff = "0f6b7e0a-0000-4000-8000-000000000001"
    static let sales = "0f6b7e0a-0000-4000-8000-000000000002"
    static let salesEMEA = "0f6b7e0a-0000-4000-8000-000000000003"
    static let engineering = "0f6b7e0a-0000-4000-8000-000000000004"

    static func userID(_ i: Int) -> String { String(format: "a1b2c3d4-0000-4000-8000-%012d", i) }

    /// 250 users (the 7th blocked from sign-in, the 9th without mail) and a nested tree:
    /// All Staff ⊃ {Sales ⊃ Sales EMEA, Engineering}, with a device in Engineering.
    static func tenant(users count: Int = 250, disabled: Set<Int> = [7], without: Set<Int> = []) -> [String: Any] {
        let users: [[String: Any]] = (1...count).filter { !without.contains($0) }.map { i in
            var user: [String: Any] = ["id": userID(i), "userPrincipalName": "User\(i)@Contoso.onmicrosoft.com",
                                       "displayName": "User \(i)", "givenName": "Given\(i)", "surname": "Sur\(i)",
                                       "accountEnabled": !disabled.contains(i), "jobTitle": "Clerk",
                                       "onPremisesExtensionAttributes": ["extensionAttribute1": "CC\(i % 5)"]]
            user["mail"] = i == 9 ? NSNull() : "user\(i)@contoso.com"
            return user
        }
        let present = Set(users.compactMap { $0["id"] as? String })
        func members(_ range: ClosedRange<Int>) -> [String] { range.map(userID).filter(present.contains) }
        let groups: [[String: Any]] = [
            ["id": allStaff, "displayName": "All Staff", "securityEnabled": true, "members": [sales, engineering] + members(1...3)],
            ["id": sales, "displayName": "Sales", "securityEnabled": true, "members": [salesEMEA] + members(10...14)],
            ["id": salesEMEA, "displayName": "Sales EMEA", "securityEnabled": true, "members": members(20...24)],
            ["id": engineering, "displayName": "Engineering", "securityEnabled": true, "members": members(30...31) + ["d0000000-0000-4000-8000-000000000001"]],
        ]
        return ["users": users, "groups": groups, "devices": [["id": "d0000000-0000-4000-8000-000000000001", "displayName": "build-agent-1"]]]
    }

    /// The source as an administrator writes it, pointed at the test server.
    static func source(_ h: CSVHarness, _ graph: GraphServer, credential: String? = nil, extra: String = "    groups: true") throws -> SourceSettings {
        var credentialLines = credential
        if credentialLines == nil {
            let secret = h.directory.appendingPathComponent("entra.secret").path
            try (graph.clientSecret ?? "") .write(toFile: secret, atomically: true, encoding: .utf8)
            credentialLines = "    clientSecretFile: \(secret)"
        }
        return try h.parse("""
              - name: entra
                type: entra
                tenantId: \(graph.tenant)
                clientId: \(graph.clientID)
            \(credentialLines!)
                authorityURL: \(graph.url)
                graphURL: \(graph.url)
                tls: { caFile: \(graph.ca.caFile) }
                retries: 6
            \(extra)
                mapping:
                  username: { from: userPrincipalName, lowercase: true }
                  email: mail
                  firstName: givenName
                  lastName: surname
                  attributes:
                    costCenter: onPremisesExtensionAttributes.extensionAttribute1
            """)
    }

    static func start(_ h: CSVHarness, pageCap: Int = 100, roles: [String]? = nil, clientCertificate: String? = nil) async throws -> GraphServer {
        let ca = try await TestCA.made(in: h.directory.appendingPathComponent("ca"))
        return try await GraphServer.start(data: tenant(), ca: ca, clientCertificate: clientCertificate,
                                           roles: roles ?? ["User.Read.All", "GroupMember.Read.All"], pageCap: pageCap)
    }

    @Test("users in pages shorter than $top, with $select; accountEnabled: false deactivates; the nested group tree; changes follow")
    func syncsUsersAndGroups() async throws {
        let h = try CSVHarness()
        let graph = try await Self.start(h)
        let source = try Self.source(h, graph)
        let report = await h.sync(source)
        #expect(report.status == .applied, "\(report.error ?? "")")
        #expect(report.entriesRead == 250)
        let users = try await h.users()
        #expect(users.count == 250)
        let user1 = try #require(users["user1@contoso.onmicrosoft.com"])
        #expect(user1.externalId == Self.userID(1))
        #expect(user1[.email] == "user1@contoso.com")
        #expect(user1[.lastName] == "Sur1")
        #expect(user1.attributes["costCenter"] == "CC1")
        #expect(users["user7@contoso.onmicrosoft.com"]?.state == "deactivated")
        #expect(users["user9@contoso.onmicrosoft.com"]?[.email] == nil)

        // What went over the wire: $select with what the mapping reads (accountEnabled is not
        // among Graph's defaults), $top, and the pages Graph cut at 100.
        let requests = try await graph.requests()
        let userPages = requests.filter { $0.path.hasPrefix("/v1.0/users") }
        #expect(userPages.count == 3)
        let first = try #require(userPages.first?.path.removingPercentEncoding)
        for property in ["userPrincipalName", "mail", "givenName", "surname", "onPremisesExtensionAttributes", "accountEnabled", "id"] {
            #expect(first.contains(property), "\(first)")
        }
        #expect(first.contains("$top=999"))

        // The tree: All Staff holds Sales (which holds Sales EMEA) and Engineering; the device is no user.
        let allStaff = try #require(try await h.store.groups(named: "All Staff").first)
        let sales = try #require(try await h.store.groups(named: "Sales").first)
        let emea = try #require(try await h.store.groups(named: "Sales EMEA").first)
        let tree = try await h.store.groupTree(source: "entra")
        #expect(tree.parents(of: emea.id) == [sales.id])
        #expect(tree.parents(of: sales.id) == [allStaff.id])
        let everyone = try await h.store.members(ofGroup: allStaff.id, effective: true)
        #expect(everyone.count == 15)
        #expect(everyone.contains("user22@contoso.onmicrosoft.com"))
        #expect(try await h.store.members(ofGroup: emea.id, effective: false).count == 5)

        // In the tenant: user 2 blocked, user 250 deleted, user 22 leaves Sales EMEA.
        var changed = Self.tenant(disabled: [7, 2], without: [250])
        var groups = changed["groups"] as! [[String: Any]]
        groups[2]["members"] = (20...21).map(Self.userID) + (23...24).map(Self.userID)
        changed["groups"] = groups
        try graph.setData(changed)
        let second = await h.sync(source)
        #expect(second.status == .applied, "\(second.error ?? "")")
        #expect(second.users.deactivated == 2)
        let after = try await h.users()
        #expect(after["user2@contoso.onmicrosoft.com"]?.state == "deactivated")
        #expect(after["user250@contoso.onmicrosoft.com"]?.state == "deactivated")
        #expect(try await h.store.members(ofGroup: emea.id, effective: false).count == 4)
        #expect(try await !h.store.members(ofGroup: allStaff.id, effective: true).contains("user22@contoso.onmicrosoft.com"))
    }

    @Test("users.memberOf: only the members of the chosen group and of the groups nested in it")
    func groupScoped() async throws {
        let h = try CSVHarness()
        let graph = try await Self.start(h)
        let source = try Self.source(h, graph, extra: "    groups: true\n    users: { memberOf: [\(Self.sales)] }")
        let report = await h.sync(source)
        #expect(report.status == .applied, "\(report.error ?? "")")
        let users = try await h.users()
        let numbers: [Int] = Array(10...14) + Array(20...24)
        let expected: Set<String> = Set(numbers.map { "user\($0)@contoso.onmicrosoft.com" })
        #expect(Set(users.keys) == expected)
    }

    @Test("Graph's throttling (429 with Retry-After) and a token that expires in the middle of the read: the run completes")
    func throttledAndExpired() async throws {
        let h = try CSVHarness()
        let graph = try await Self.start(h, pageCap: 50)
        try await graph.control(["throttleEvery": 4, "retryAfter": "1", "usesPerToken": 3])
        let report = await h.sync(try Self.source(h, graph))
        #expect(report.status == .applied, "\(report.error ?? "")")
        #expect(report.users.created == 250)
        let requests = try await graph.requests()
        #expect(requests.contains { $0.status == 429 })
        #expect(requests.contains { $0.status == 401 })
        // Each page was read once with success, whatever was refused on the way.
        let pages = requests.filter { $0.path.hasPrefix("/v1.0/users") && $0.status == 200 }
        #expect(pages.count == 5)
        #expect(requests.filter { $0.path.hasSuffix("/oauth2/v2.0/token") }.count >= 2)
    }

    @Test("a permission the app lacks: the run fails naming GroupMember.Read.All, nothing changes; test-bind lists the token's roles")
    func missingPermission() async throws {
        let h = try CSVHarness()
        let graph = try await Self.start(h)
        let source = try Self.source(h, graph)
        #expect(await h.sync(source).status == .applied)
        let before = try await h.snapshot()
        try await graph.control(["roles": ["User.Read.All"]])
        let report = await h.sync(source)
        #expect(report.status == .failed)
        #expect(report.errorKind == .authentication)
        #expect(report.error?.contains("GroupMember.Read.All") == true, "\(report.error ?? "")")
        #expect(report.error?.contains("Authorization_RequestDenied") == true, "\(report.error ?? "")")
        #expect(try await h.snapshot() == before)

        let check = await SourceCheck(source: source).run()
        #expect(check.permissions?.granted == ["User.Read.All"])
        #expect(check.permissions?.missing == ["GroupMember.Read.All"])
        #expect(check.error?.kind == .authentication)
    }

    @Test("a wrong client secret fails as authentication with Entra's AADSTS code; a certificate credential signs in, another certificate's key does not")
    func credentials() async throws {
        let h = try CSVHarness()
        let graph = try await Self.start(h)
        let wrong = h.directory.appendingPathComponent("wrong.secret").path
        try "not-the-secret".write(toFile: wrong, atomically: true, encoding: .utf8)
        let refused = await h.sync(try Self.source(h, graph, credential: "    clientSecretFile: \(wrong)"))
        #expect(refused.status == .failed)
        #expect(refused.errorKind == .authentication)
        #expect(refused.error?.contains("AADSTS7000215") == true, "\(refused.error ?? "")")

        let app = try await GraphServer.makeAppCertificate(in: h.directory)
        let ca = try await TestCA.made(in: h.directory.appendingPathComponent("ca2"))
        let certified = try await GraphServer.start(data: Self.tenant(users: 5), ca: ca, clientCertificate: app.certificate)
        let report = await h.sync(try Self.source(h, certified, credential: "    certificate: { certFile: \(app.certificate), keyFile: \(app.key) }"))
        #expect(report.status == .applied, "\(report.error ?? "")")
        #expect(report.users.created == 5)

        let otherDirectory = h.directory.appendingPathComponent("other")
        try FileManager.default.createDirectory(at: otherDirectory, withIntermediateDirectories: true)
        let other = try await GraphServer.makeAppCertificate(in: otherDirectory)
        let forged = await h.sync(try Self.source(h, certified, credential: "    certificate: { certFile: \(app.certificate), keyFile: \(other.key) }"))
        #expect(forged.status == .failed)
        #expect(forged.errorKind == .authentication)
        #expect(forged.error?.contains("AADSTS7000274") == true, "\(forged.error ?? "")")
    }
}
