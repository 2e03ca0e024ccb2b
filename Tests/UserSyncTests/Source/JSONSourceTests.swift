import DirectoryFixtures
import Foundation
import Testing
@testable import UserSync

/// A paged JSON API started by the tests (Tests/Servers/json_api.py) on loopback.
@Suite("JSON source")
struct JSONSourceTests {
    static func users(_ count: Int, renamed: Int? = nil) -> [[String: Any]] {
        (1...count).map { i in
            ["id": i, "login": "person\(i)", "profile": ["first": "First\(i)", "last": i == renamed ? "Changed" : "Last\(i)"],
             "mail": "person\(i)@example.com", "enabled": i != 4] as [String: Any]
        }
    }

    /// A json source reading `path` of the server, with `extra` YAML lines (4 spaces).
    func source(_ server: JSONAPIServer, _ path: String, _ extra: String, name: String = "api") -> String {
        """
          - name: \(name)
            type: json
            url: \(server.baseURL)\(path)
            allowInsecure: true
            idAttribute: id
        \(extra)
            mapping:
              username: login
              email: mail
              firstName: profile.first
              lastName: profile.last
            options:
              disabledWhen: { attribute: enabled, values: ["false"] }
        """
    }

    @Test("every paging style reads every page: next link, Link header, page and offset parameters", arguments: [
        ("/next", "    records: /value\n    paging: { nextLink: \"@odata.nextLink\" }"),
        ("/link", "    paging: { linkHeader: true }"),
        ("/pages", "    pageSize: 3\n    paging: { page: page, sizeParameter: per_page }"),
        ("/offset", "    records: /items\n    pageSize: 3\n    paging: { offset: offset, sizeParameter: limit }"),
    ])
    func paging(path: String, extra: String) async throws {
        let server = try await JSONAPIServer.start(users: Self.users(8))
        let h = try CSVHarness()
        let source = try h.parse(source(server, path, extra))
        let report = await h.sync(source)
        #expect(report.status == .applied, "\(report.error ?? "")")
        #expect(report.entriesRead == 8)
        #expect(report.users.created == 8)
        let users = try await h.users()
        #expect(users["person8"]?[.lastName] == "Last8")
        #expect(users["person8"]?.externalId == "8")
        #expect(users["person4"]?.state == "deactivated")  // enabled: false
        let stats = try await server.stats()
        #expect((stats["requests"] as? [String: Int])?[path] == 3, "\(stats)")

        // A change in the API, read again: one update, one user gone.
        var changed = Self.users(8, renamed: 2)
        changed.removeLast()
        try server.setUsers(changed)
        let again = await h.sync(source)
        #expect(again.status == .applied, "\(again.error ?? "")")
        #expect(again.users.updated == 1)
        #expect(again.users.deactivated == 1)
        #expect(try await h.users()["person2"]?[.lastName] == "Changed")
        #expect(try await h.users()["person8"]?.state == "deactivated")
    }

    @Test("a next link to another server is refused before the credentials go there, unless allowedOrigins names it")
    func foreignNextLink() async throws {
        let api = try await JSONAPIServer.start(users: Self.users(8), clientID: "usersync", clientSecret: "s3cret")
        let other = try await JSONAPIServer.start(users: Self.users(8))
        let h = try CSVHarness()
        let secretFile = h.directory.appendingPathComponent("client.secret").path
        try "s3cret\n".write(toFile: secretFile, atomically: true, encoding: .utf8)
        let elsewhere = other.baseURL.addingPercentEncoding(withAllowedCharacters: .alphanumerics)!
        func config(_ extra: String = "") throws -> SourceSettings {
            try h.parse(source(api, "/next?to=\(elsewhere)", """
                    records: /value
                    paging: { nextLink: "@odata.nextLink" }
                    auth: { oauth2: { tokenURL: \(api.baseURL)/token, clientID: usersync, clientSecretFile: \(secretFile) } }
                \(extra)
                """))
        }
        let refused = await h.sync(try config())
        #expect(refused.status == .failed && refused.errorKind == .insecureBindRefused, "\(refused.error ?? "")")
        #expect(refused.error?.contains("\(other.baseURL)/next?page=2") == true, "the error names the link: \(refused.error ?? "")")
        #expect(refused.error?.contains("allowedOrigins") == true)
        await #expect((try other.stats()["requests"] as? [String: Int])?["/next"] == nil, "nothing was sent to the other server")
        #expect(try await h.users().isEmpty)

        // Named in allowedOrigins: the read follows the link (the other server takes it without a token).
        let allowed = await h.sync(try config("    allowedOrigins: [\"\(other.baseURL)\"]"))
        #expect(allowed.status == .applied, "\(allowed.error ?? "")")
        #expect(allowed.entriesRead == 8)
        await #expect(try other.stats()["credentials"] as? Int == 2, "the pages there carried the token, as allowed")
    }

    @Test("a page answered 429 with Retry-After is retried after the wait, and the run completes")
    func retryAfter() async throws {
        let server = try await JSONAPIServer.start(users: Self.users(7))
        let h = try CSVHarness()
        let source = try h.parse(source(server, "/flaky", "    records: /value\n    paging: { nextLink: \"@odata.nextLink\" }"))
        let started = ContinuousClock.now
        let report = await h.sync(source)
        #expect(report.status == .applied, "\(report.error ?? "")")
        #expect(report.users.created == 7)
        let stats = try await server.stats()
        #expect(stats["throttled"] as? Int == 3)
        #expect((stats["requests"] as? [String: Int])?["/flaky"] == 6)
        // Three waits of Retry-After: 1, not the 0.5 s backoff.
        #expect(ContinuousClock.now - started >= .seconds(3))
    }

    @Test("500 for ever fails the run after its tries, not-JSON names the URL, and the store is unchanged")
    func failures() async throws {
        let server = try await JSONAPIServer.start(users: Self.users(5))
        let h = try CSVHarness()
        let good = try h.parse(source(server, "/next", "    records: /value\n    paging: { nextLink: \"@odata.nextLink\" }"))
        #expect(await h.sync(good).status == .applied)
        let before = try await h.snapshot()

        let broken = try h.parse(source(server, "/broken", "    records: /value\n    retries: 2"))
        let report = await h.sync(broken)
        #expect(report.status == .failed)
        #expect(report.errorKind == .unreachable)
        #expect(report.error?.contains("\(server.baseURL)/broken: answered 500 after 3 tries") == true, "\(report.error ?? "")")
        #expect(report.error?.contains("nothing was changed") == true)
        await #expect((try server.stats()["requests"] as? [String: Int])?["/broken"] == 3)
        #expect(try await h.snapshot() == before)

        let notJSON = try h.parse(source(server, "/notjson", "    records: /value"))
        let second = await h.sync(notJSON)
        #expect(second.errorKind == .malformed)
        #expect(second.error?.contains("\(server.baseURL)/notjson: the answer is not JSON (text/html): <html>") == true, "\(second.error ?? "")")
        #expect(try await h.snapshot() == before)

        // The records are not where the source says.
        let wrongPointer = try h.parse(source(server, "/next", "    records: /items"))
        let third = await h.sync(wrongPointer)
        #expect(third.errorKind == .malformed)
        #expect(third.error?.contains("no list of records at '/items' (the page's keys: @odata.nextLink, value)") == true, "\(third.error ?? "")")
        #expect(try await h.snapshot() == before)
    }

    @Test("OAuth 2.0 client credentials: a token is fetched, reused while valid, fetched again once expired; a wrong secret fails")
    func oauth() async throws {
        let h = try CSVHarness()
        let secret = h.directory.appendingPathComponent("client.secret").path
        try "s3cret\n".write(toFile: secret, atomically: true, encoding: .utf8)
        func config(_ server: JSONAPIServer, _ extra: String = "scope: users.read") throws -> SourceSettings {
            try h.parse(source(server, "/next", """
                    records: /value
                    paging: { nextLink: "@odata.nextLink" }
                    auth:
                      oauth2: { tokenURL: \(server.baseURL)/token, clientID: usersync, clientSecretFile: \(secret), \(extra) }
                """))
        }
        // Tokens valid for an hour: one for the three pages of a run (each run asks for its own).
        let lasting = try await JSONAPIServer.start(users: Self.users(7), clientID: "usersync", clientSecret: "s3cret")
        let report = await h.sync(try config(lasting))
        #expect(report.status == .applied, "\(report.error ?? "")")
        #expect(report.users.created == 7)
        var stats = try await lasting.stats()
        #expect(stats["tokens"] as? Int == 1)
        #expect((stats["requests"] as? [String: Int])?["/next"] == 3)
        #expect(stats["rejected"] as? Int == 0)

        // Tokens of 30 s: usersync takes a token as expired 30 s early, so each has run out by
        // the next request, and every page fetches a new one; none is refused for expiry.
        let brief = try await JSONAPIServer.start(users: Self.users(7), clientID: "usersync", clientSecret: "s3cret", tokenLifetime: 30)
        let h2 = try CSVHarness()
        let briefSource = try h2.parse(source(brief, "/next", """
                records: /value
                paging: { nextLink: "@odata.nextLink" }
                auth:
                  oauth2: { tokenURL: \(brief.baseURL)/token, clientID: usersync, clientSecretFile: \(secret) }
            """))
        #expect(await h2.sync(briefSource).status == .applied)
        stats = try await brief.stats()
        #expect(stats["tokens"] as? Int == 3)
        #expect(stats["rejected"] as? Int == 0)

        // With client_secret_basic instead of the form.
        #expect(await h.sync(try config(lasting, "clientAuthentication: basic")).status == .applied)

        let before = try await h.snapshot()
        try "wrong\n".write(toFile: secret, atomically: true, encoding: .utf8)
        let refused = await h.sync(try config(brief))
        #expect(refused.status == .failed)
        #expect(refused.errorKind == .authentication)
        #expect(refused.error?.contains("the token endpoint answered 401") == true, "\(refused.error ?? "")")
        #expect(try await h.snapshot() == before)
    }

    @Test("a CSV file over HTTPS with basic auth and the server's CA; without the CA the run fails as TLS")
    func csvOverHTTPS() async throws {
        let h = try CSVHarness()
        let ca = try TestCA.make(in: h.directory.appendingPathComponent("ca"))
        let csv = h.directory.appendingPathComponent("served.csv").path
        try "employee_id;login;mail\r\nE1;alice;alice@example.com\r\nE2;bob;bob@example.com\r\n".write(toFile: csv, atomically: true, encoding: .utf8)
        let server = try await JSONAPIServer.start(users: [], tls: ca, csv: csv, basic: "reader:pa55")
        let password = h.directory.appendingPathComponent("csv.pw").path
        try "pa55\n".write(toFile: password, atomically: true, encoding: .utf8)
        func config(_ tls: String) throws -> SourceSettings {
            try h.parse("""
                  - name: remote
                    type: csv
                    url: https://127.0.0.1:\(server.process.port)/people.csv
                    auth: { basic: { username: reader, passwordFile: \(password) } }
                \(tls)
                    delimiter: ";"
                    idColumn: employee_id
                    mapping: { username: login, email: mail }
                """)
        }
        let source = try config("    tls: { caFile: \(ca.caFile) }")
        let report = await h.sync(source)
        #expect(report.status == .applied, "\(report.error ?? "")")
        #expect(report.users.created == 2)
        let changes = try await h.store.changes(run: report.runId!)
        #expect(changes.first { $0.username == "bob" }?.record == "https://127.0.0.1:\(server.process.port)/people.csv:3")

        let untrusted = await h.sync(try config(""))
        #expect(untrusted.status == .failed)
        #expect(untrusted.errorKind == .tls, "\(untrusted.error ?? "")")
        #expect(untrusted.error?.contains("tls.caFile") == true)

        try "wrong\n".write(toFile: password, atomically: true, encoding: .utf8)
        let refused = await h.sync(source)
        #expect(refused.errorKind == .authentication, "\(refused.error ?? "")")
        #expect(try await h.users().count == 2)
    }

    @Test("plain http and unchecked TLS are refused unless allowInsecure; paths are checked when the file is read")
    func insecureRefused() throws {
        let h = try CSVHarness()
        func problems(_ yaml: String) -> [String] {
            do {
                _ = try h.parse(yaml)
                return []
            } catch let error as ConfigErrors {
                return error.problems.map(\.message)
            } catch {
                return ["\(error)"]
            }
        }
        let plain = problems("""
              - name: api
                type: json
                url: http://api.example.com/users
                mapping: { username: login }
            """)
        #expect(plain.contains { $0.contains("plain http:// would send credentials and users unencrypted") }, "\(plain)")
        let unchecked = problems("""
              - name: api
                type: scim
                url: https://idp.example.com/scim/v2
                tls: { verify: never }
                mapping: { username: userName }
            """)
        #expect(unchecked.contains { $0.contains("never accepts any server's certificate") }, "\(unchecked)")
        let badPath = problems("""
              - name: api
                type: scim
                url: https://idp.example.com/scim/v2
                mapping: { username: userName, email: "emails[primary eq true.value" }
            """)
        #expect(badPath.contains { $0.contains("'emails[primary eq true.value' is not a valid path") }, "\(badPath)")
    }
}
