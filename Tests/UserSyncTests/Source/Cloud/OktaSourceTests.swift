import DirectoryFixtures
import Foundation
import Testing
@testable import UserSync

/// An `okta` source against Tests/Servers/okta_api.py: Okta's Management API over HTTPS as its
/// references document it (JSON arrays, cursor paging by separate Link headers, statuses, a
/// plain listing without DEPROVISIONED users, rate-limit headers, E0000011/E0000006/E0000047).
@Suite("Okta source")
struct OktaSourceTests {
    static func userID(_ i: Int) -> String { String(format: "00u%017d", i) }

    /// `count` users; statuses as given (default ACTIVE); groups Sales (users 1–5) and
    /// Engineering (users 6–8).
    static func org(users count: Int = 60, status: [Int: String] = [:]) -> [String: Any] {
        let users: [[String: Any]] = (1...count).map { i in
            ["id": userID(i), "status": status[i] ?? "ACTIVE", "created": "2024-01-01T00:00:00.000Z", "activated": NSNull(),
             "lastUpdated": "2024-06-01T00:00:00.000Z", "type": ["id": "oty1"],
             "profile": ["login": "Person\(i)@example.com", "email": "person\(i)@example.com", "firstName": "First\(i)",
                         "lastName": "Last\(i)", "department": i % 2 == 0 ? "Sales" : "Engineering", "mobilePhone": NSNull()],
             "credentials": ["provider": ["type": "OKTA", "name": "OKTA"]],
             "_links": ["self": ["href": "https://example.okta.com/api/v1/users/\(userID(i))"]]]
        }
        let groups: [[String: Any]] = [
            ["id": "00g000000000000001", "type": "OKTA_GROUP", "profile": ["name": "Sales", "description": "Sales team"], "members": (1...5).map(userID)],
            ["id": "00g000000000000002", "type": "OKTA_GROUP", "profile": ["name": "Engineering", "description": NSNull()], "members": (6...8).map(userID)],
            ["id": "00g000000000000003", "type": "BUILT_IN", "profile": ["name": "Everyone", "description": "All users"], "members": (1...count).map(userID)],
        ]
        return ["users": users, "groups": groups]
    }

    static func source(_ h: CSVHarness, _ okta: OktaServer, credential: String? = nil, extra: String = "    groups: { filter: 'type eq \"OKTA_GROUP\"' }") throws -> SourceSettings {
        var credentialLines = credential
        if credentialLines == nil {
            let file = h.directory.appendingPathComponent("okta.token").path
            try (okta.apiToken ?? "").write(toFile: file, atomically: true, encoding: .utf8)
            credentialLines = "    apiTokenFile: \(file)"
        }
        return try h.parse("""
              - name: okta
                type: okta
                domain: \(okta.domain)
            \(credentialLines!)
                tls: { caFile: \(okta.ca.caFile) }
            \(extra)
                mapping:
                  username: { from: profile.login, lowercase: true }
                  email: profile.email
                  firstName: profile.firstName
                  lastName: profile.lastName
                  attributes: { department: profile.department }
            """)
    }

    static func ca(_ h: CSVHarness) async throws -> TestCA { try await TestCA.made(in: h.directory.appendingPathComponent("ca")) }

    @Test("users through Link paging, status as state (SUSPENDED, STAGED; DEPROVISIONED users leave the listing), groups and members")
    func syncsUsersAndGroups() async throws {
        let h = try CSVHarness()
        let okta = try await OktaServer.start(data: Self.org(status: [3: "SUSPENDED", 4: "STAGED", 5: "LOCKED_OUT", 6: "PASSWORD_EXPIRED"]), ca: await Self.ca(h))
        let source = try Self.source(h, okta, extra: "    users: { pageSize: 25 }\n    groups: { filter: 'type eq \"OKTA_GROUP\"' }")
        let report = await h.sync(source)
        #expect(report.status == .applied, "\(report.error ?? "")")
        #expect(report.entriesRead == 60)
        let users = try await h.users()
        #expect(users["person1@example.com"]?.externalId == Self.userID(1))
        #expect(users["person1@example.com"]?[.lastName] == "Last1")
        #expect(users["person2@example.com"]?.attributes["department"] == "Sales")
        #expect(users["person3@example.com"]?.state == "deactivated")
        #expect(users["person4@example.com"]?.state == "deactivated")
        #expect(users["person5@example.com"]?.state == "active")
        #expect(users["person6@example.com"]?.state == "active")
        #expect(try await okta.requests().filter { $0.path.hasPrefix("/api/v1/users") }.count == 3)

        let sales = try #require(try await h.store.groups(named: "Sales").first)
        #expect(try await h.store.members(ofGroup: sales.id, effective: false).count == 5)
        #expect(try await h.store.groups(named: "Everyone").isEmpty)  // filtered out by type

        // Deprovisioned in Okta: gone from the listing, deactivated here.
        try okta.setData(Self.org(status: [3: "SUSPENDED", 4: "STAGED", 7: "DEPROVISIONED"]))
        let second = await h.sync(source)
        #expect(second.status == .applied, "\(second.error ?? "")")
        #expect(try await h.users()["person7@example.com"]?.state == "deactivated")
    }

    @Test("rate limits: the source waits when X-Rate-Limit-Remaining runs out instead of drawing a 429; a 429 is waited out until X-Rate-Limit-Reset")
    func rateLimits() async throws {
        let h = try CSVHarness()
        let okta = try await OktaServer.start(data: Self.org(), ca: await Self.ca(h), rateLimit: 6, rateWindow: 1)
        let source = try Self.source(h, okta, extra: "    users: { pageSize: 5 }\n    groups: { filter: 'type eq \"OKTA_GROUP\"' }")
        let started = Date()
        let report = await h.sync(source)
        #expect(report.status == .applied, "\(report.error ?? "")")
        #expect(report.users.created == 60)
        let requests = try await okta.requests()
        #expect(requests.filter { $0.status == 429 }.isEmpty, "\(requests.filter { $0.status == 429 })")
        // 12 user pages at 6 a window: the read had to wait for at least one window's end.
        #expect(requests.filter { $0.path.hasPrefix("/api/v1/users") }.count == 12)
        #expect(Date().timeIntervalSince(started) > 1)

        try await okta.control(["force429": 2])
        let again = await h.sync(source)
        #expect(again.status == .applied, "\(again.error ?? "")")
        #expect(try await okta.requests().filter { $0.status == 429 }.count == 2)
    }

    @Test("a revoked API token fails as authentication with E0000011 and advice; nothing changes")
    func wrongToken() async throws {
        let h = try CSVHarness()
        let okta = try await OktaServer.start(data: Self.org(users: 5), ca: await Self.ca(h))
        #expect(await h.sync(try Self.source(h, okta)).status == .applied)
        let before = try await h.snapshot()
        let file = h.directory.appendingPathComponent("revoked.token").path
        try "00revoked".write(toFile: file, atomically: true, encoding: .utf8)
        let report = await h.sync(try Self.source(h, okta, credential: "    apiTokenFile: \(file)"))
        #expect(report.status == .failed)
        #expect(report.errorKind == .authentication)
        #expect(report.error?.contains("E0000011") == true && report.error?.contains("Security → API → Tokens") == true, "\(report.error ?? "")")
        #expect(try await h.snapshot() == before)
    }

    @Test("OAuth 2.0 for Okta: a service app's private_key_jwt gets a token, a new one when it expires mid-read; a scope not granted is named")
    func oauth() async throws {
        let h = try CSVHarness()
        let key = h.directory.appendingPathComponent("service.key").path
        let publicKey = h.directory.appendingPathComponent("service.pub").path
        try await offThePool {
            try Shell.run("openssl", ["genrsa", "-out", key, "2048"])
            try Shell.run("openssl", ["rsa", "-in", key, "-pubout", "-out", publicKey])
        }
        let okta = try await OktaServer.start(data: Self.org(users: 8), ca: await Self.ca(h), clientPublicKey: publicKey,
                                              grantedScopes: ["okta.users.read"])
        let oauth = "    oauth: { clientId: \(okta.clientID!), keyFile: \(key), keyId: service-key-1 }"
        try await okta.control(["usesPerToken": 2])
        let users = await h.sync(try Self.source(h, okta, credential: oauth, extra: "    users: { pageSize: 2 }"))
        #expect(users.status == .applied, "\(users.error ?? "")")
        #expect(users.users.created == 8)
        let requests = try await okta.requests()
        #expect(requests.contains { $0.status == 401 }, "a token ran out during the read")
        #expect(requests.filter { $0.path == "/oauth2/v1/token" }.count >= 2)
        let groups = await h.sync(try Self.source(h, okta, credential: oauth))
        #expect(groups.status == .failed)
        #expect(groups.errorKind == .authentication)
        #expect(groups.error?.contains("okta.groups.read") == true, "\(groups.error ?? "")")
    }
}
