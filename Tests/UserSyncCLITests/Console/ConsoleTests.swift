import DirectoryFixtures
import Foundation
import Testing

/// The web console over HTTP, as a browser or a script meets it: who gets in, what each page
/// shows of a real store, and what it never shows.
@Suite("usersync serve: the web console")
struct ConsoleTests {
    /// A user's page link on a users page: `/console/users/ID` for `username`.
    static func userLink(_ page: String, _ username: String) -> String? {
        guard let range = page.range(of: "\">\(username)</a>"),
              let start = page[..<range.lowerBound].range(of: "href=\"", options: .backwards) else { return nil }
        return String(page[start.upperBound..<range.lowerBound])
    }

    @Test("every page needs a credential (401 and the login page without); a password, the token or a login's cookie opens them; a form from another site is refused")
    func access() async throws {
        let console = try await ConsoleFixture.start("access")
        defer { console.stop() }
        let pages = ["/console/", "/console/sources/people", "/console/sources/people?preview=5", "/console/runs", "/console/runs/1",
                     "/console/users", "/console/users?q=user", "/console/users/1", "/console/users/1/received", "/console/groups",
                     "/console/anything"]
        for page in pages {
            let anonymous = try await console.request(page)
            #expect(anonymous.status == 401, "\(page)")
            #expect(anonymous.headers["www-authenticate"]?.hasPrefix("Bearer") == true, "\(page)")
            #expect(anonymous.body.contains("<form method=\"post\" action=\"/console/login\""), "\(page)")
            #expect(anonymous.body.contains("passwordFile: /etc/usersync/console.password"), "the page says how to set a credential")
            #expect(!anonymous.body.contains("user00001"), "\(page) shows nothing of the store")
            #expect(try await console.request(page, headers: ["Authorization": "Basic " + Data("ops:wrong".utf8).base64EncodedString()]).status == 401)
            #expect(try await console.request(page, headers: ["Authorization": "Bearer wrong"]).status == 401)
            let expected = page == "/console/anything" ? 404 : 200
            #expect(try await console.request(page, headers: ConsoleFixture.bearer).status == expected, "\(page) with the token")
            #expect(try await console.request(page, headers: ConsoleFixture.basic).status == expected, "\(page) with basic auth")
        }
        #expect(try await console.request("/console/sources/people/test", method: "POST").status == 401)
        // The status address stays open to monitoring.
        #expect(try await console.request("/healthz").status == 200)
        #expect(try await console.request("/metrics").status == 200)

        // The login form: a wrong password is refused (after a second); the right one gives a
        // session cookie that opens the pages until logout.
        let wrong = try await console.request("/console/login", method: "POST", form: "user=ops&password=nope&next=%2Fconsole%2Fruns")
        #expect(wrong.status == 401 && wrong.body.contains("Wrong user name or password"))
        let login = try await console.request("/console/login", method: "POST",
                                              form: "user=ops&password=\(ConsoleFixture.consolePassword)&next=%2Fconsole%2Fruns")
        #expect(login.status == 303 && login.headers["location"] == "/console/runs", "\(login)")
        let cookie = try #require(login.headers["set-cookie"])
        #expect(cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"))
        let session = ["Cookie": String(cookie.prefix { $0 != ";" })]
        let runs = try await console.request("/console/runs", headers: session)
        #expect(runs.status == 200 && runs.body.contains("Log out"))
        // Another site's page posting to the console: refused, though the credential is good.
        #expect(try await console.request("/console/sources/people/test", method: "POST",
                                          headers: ConsoleFixture.bearer.merging(["Origin": "http://evil.example"]) { a, _ in a }).status == 403)
        // After the login, only to a console page: never to another site.
        let away = try await console.request("/console/login", method: "POST",
                                             form: "user=ops&password=\(ConsoleFixture.consolePassword)&next=%2F%2Fevil.example%2F")
        #expect(away.headers["location"] == "/console/")
        let logout = try await console.request("/console/logout", method: "POST", headers: session)
        #expect(logout.status == 303)
        #expect(try await console.request("/console/runs", headers: session).status == 401, "the session ended")
        let page = try await console.request("/console/", headers: ConsoleFixture.bearer)
        #expect(page.headers["content-security-policy"]?.contains("default-src 'none'") == true)
        #expect(!page.body.contains("<script"), "no script on any page")
    }

    @Test("the pages show the store: sources with health, runs filtered and paged, a run's changes, users searched, a user's groups and history, the record received, the tree; no password ever")
    func pages() async throws {
        let console = try await ConsoleFixture.start("pages")
        defer { console.stop() }
        func get(_ path: String) async throws -> String {
            let answer = try await console.request(path, headers: ConsoleFixture.bearer)
            #expect(answer.status == 200, "\(path): \(answer.status)")
            #expect(!answer.body.contains(ConsoleFixture.directoryPassword), "\(path) shows a password")
            #expect(!answer.body.contains(ConsoleFixture.consolePassword) && !answer.body.contains(ConsoleFixture.token), "\(path)")
            return answer.body
        }

        let sources = try await get("/console/")
        #expect(sources.contains("<a href=\"/console/sources/people\">people</a>"))
        #expect(sources.contains("last run failed (not scheduled)"), "the source whose server is down")
        #expect(sources.contains("<a href=\"/console/runs/2\">#2</a> <span class=\"badge applied\">applied</span>"))

        // Runs: newest first, filtered by status and source.
        let runs = try await get("/console/runs")
        #expect(runs.contains("#3") && runs.contains("#2") && runs.contains("#1"))
        let failed = try await get("/console/runs?status=failed")
        #expect(failed.contains("/console/runs/3") && !failed.contains("/console/runs/2\""), "only the failed run")
        #expect(failed.contains("127.0.0.1"), "with its error")
        #expect(try await get("/console/runs?source=people").contains("/console/runs/1\""))
        #expect(!(try await get("/console/runs?source=people")).contains("/console/runs/3\""))
        #expect(try await get("/console/runs?source=people&status=stopped").contains("No runs"))

        // Run 2: the counts and every change, linked to the user.
        let run2 = try await get("/console/runs/2")
        #expect(run2.contains("created 0, updated 1, deactivated 1"), "\(run2)")
        #expect(run2.contains("email: user00002@example.com → second@example.org"))
        #expect(run2.contains(">user00007</a>") && run2.contains("deactivate"))
        #expect(run2.contains("group l5") && run2.contains("− user user00005"))
        // Run 1's changes are paged: 120 users, 11 groups, their memberships.
        let run1 = try await get("/console/runs/1")
        #expect(run1.contains("rel=\"next\"") && run1.contains("create: 131"), "\(run1.prefix(4000))")
        let run1Page2 = try await get("/console/runs/1?page=2")
        #expect(run1Page2.contains("rel=\"prev\"") && run1Page2.contains("+ user"))

        // Users: paged by 50, searched by name or email in any case, by state.
        let users = try await get("/console/users")
        #expect(users.contains(">user00001</a>") && users.contains("rel=\"next\"") && !users.contains(">user00051</a>"))
        #expect(try await get("/console/users?page=3").contains(">user00120</a>"))
        let search = try await get("/console/users?q=USER0011")
        #expect(search.components(separatedBy: "<tr><td><a href=").count - 1 == 10, "user00110…user00119")
        #expect(try await get("/console/users?q=second%40example").contains(">user00002</a>"), "by email")
        #expect(try await get("/console/users?q=%25").contains("No users match"), "% is a letter, not a wildcard")
        let deactivated = try await get("/console/users?state=deactivated")
        #expect(deactivated.contains(">user00007</a>") && deactivated.components(separatedBy: "<tr><td><a href=").count - 1 == 1)

        // One user: the row, the direct and nested groups, the history; the record received.
        let link = try #require(Self.userLink(try await get("/console/users?q=user00001"), "user00001"))
        let user = try await get(link)
        #expect(user.contains("<dt>email</dt><dd>user00001@example.com</dd>"))
        #expect(user.contains("<dt>legacyPassword</dt><dd>(hidden)</dd>"), "the mapped password is hidden")
        #expect(user.contains("Direct: <span class=\"badge\">l1</span>"))
        let user5 = try await get(try #require(Self.userLink(try await get("/console/users?q=user00005"), "user00005")))
        #expect(user5.contains("removed from group l5") && user5.contains("added to group l5"))
        let received = try await get(link + "/received")
        #expect(received.contains("<code>uid=user00001,\(Slapd.peopleBase)</code>"))
        #expect(received.contains("<td>userPassword</td><td>(hidden)</td>"))
        #expect(received.contains("<td>mail</td><td>user00001@example.com</td>"))

        // The tree: nested, the shared group under both parents, the cycle marked.
        let groups = try await get("/console/groups")
        #expect(groups.contains("<details open><summary><span class=\"group\">l1</span>"))
        #expect(groups.components(separatedBy: "<span class=\"group\">shared</span>").count - 1 == 2, "under both parents")
        #expect(groups.contains("2 parents"))
        #expect(groups.contains("↻ cyclea (cycle)") || groups.contains("↻ cycleb (cycle)"))
        #expect(groups.contains("<span class=\"group\">l5</span>"), "five levels deep")
        #expect(groups.contains("<span class=\"group\">R&amp;D &lt;b&gt;Ops&lt;/b&gt;</span>"), "a name is text, not markup")
        #expect(!groups.contains("<b>Ops</b>"))
        let user9 = try await get(try #require(Self.userLink(try await get("/console/users?q=user00009"), "user00009")))
        #expect(user9.contains("R&amp;D &lt;b&gt;Ops&lt;/b&gt;") && !user9.contains("<b>Ops</b>"))

        // A source: the mapping, a live preview (the password attribute hidden), test connection.
        let source = try await get("/console/sources/people?preview=3")
        #expect(source.contains("<tr><td>username</td><td>uid</td><td>lowercase</td></tr>"))
        #expect(source.components(separatedBy: "<table class=\"preview\">").count - 1 == 3)
        #expect(source.contains("← userPassword: (hidden)"))
        let test = try await console.request("/console/sources/people/test", method: "POST", headers: ConsoleFixture.bearer)
        #expect(test.status == 200)
        #expect(test.body.contains("id=\"test-result\">OK") && test.body.contains("Bound as:") && test.body.contains(Slapd.readerDN), "\(test.body)")
        let down = try await console.request("/console/sources/down/test", method: "POST", headers: ConsoleFixture.bearer)
        #expect(down.body.contains("id=\"test-result\">failed") && down.body.contains("error: "), "\(down.body)")
        #expect(try await console.request("/console/runs/99", headers: ConsoleFixture.bearer).status == 404)
        #expect(try await console.request("/console/sources/nope", headers: ConsoleFixture.bearer).status == 404)
        // Test connection wrote nothing: still three runs.
        #expect(try await get("/console/runs").components(separatedBy: "<tr><td><a href=\"/console/runs/").count - 1 == 3)
    }

    @Test("in Chromium: log in, open each page, search a user, open a run with changes, expand the tree, test a connection, on a desktop and a phone; screenshots kept")
    func browser() async throws {
        let python = PackagingTests.path(".build-venv/bin/python")
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/chromium"), FileManager.default.isExecutableFile(atPath: "/usr/bin/chromedriver"),
              (try? await Shell.run(python, ["-c", "import selenium"])) != nil else {
            throw FixtureError("Chromium, chromedriver or Selenium is missing: run scripts/install-deps.sh --tests")
        }
        let console = try await ConsoleFixture.start("browser")
        defer { console.stop() }
        // Kept after the run, for a person to look at: .build/test-output/console/*.png.
        let out = PackagingTests.path(".build/test-output/console")
        try? FileManager.default.removeItem(atPath: out)
        try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
        let script = PackagingTests.path("Tests/Browser/console_browser.py")
        let (status, output) = try await offThePool { () -> (Int32, String) in
            let log = out + "/browser.log"
            let pid = try Shell.spawn(python, [script, console.base, "ops", ConsoleFixture.consolePassword, ConsoleFixture.directoryPassword, out],
                                      output: log)
            let status = Shell.wait(pid)
            return (status, (try? String(contentsOfFile: log, encoding: .utf8)) ?? "")
        }
        #expect(status == 0, "\(output)")
        #expect(output.contains("0 failed checks"), "\(output)")
        let shots = (try? FileManager.default.contentsOfDirectory(atPath: out).filter { $0.hasSuffix(".png") }) ?? []
        #expect(shots.count >= 19, "screenshots: \(shots.sorted())")
        for shot in shots {
            let size = (try? FileManager.default.attributesOfItem(atPath: out + "/" + shot)[.size] as? Int) ?? 0
            #expect(size > 5_000, "\(shot) is \(size) bytes: an empty page?")
        }
    }

    @Test("on a PostgreSQL store: the pages read it; its server stopped, each page says so (503), not an empty error; back, the pages are too")
    func postgresStore() async throws {
        let server = try await PostgresServer.start()
        defer { server.stop() }
        let directory = try Shell.temporaryDirectory("usersync-console-pg")
        Cleanup.atExit { try? FileManager.default.removeItem(at: directory) }
        try await server.createDatabase(PostgresServer.testDatabase)
        let console = try await ConsoleFixture.start("postgres", store: try server.storeYAML(directory: directory))
        defer { console.stop() }
        let users = try await console.request("/console/users?q=user0001", headers: ConsoleFixture.bearer)
        #expect(users.status == 200 && users.body.contains(">user00010</a>"), "\(users.body)")
        #expect(try await console.request("/console/groups", headers: ConsoleFixture.bearer).body.contains("2 parents"))
        #expect(try await console.request("/console/runs/2", headers: ConsoleFixture.bearer).body.contains("second@example.org"))

        server.stop()
        let down = try await console.request("/console/users", headers: ConsoleFixture.bearer)
        #expect(down.status == 503, "\(down.status) \(down.body)")
        #expect(down.body.contains("The store could not be read"), "\(down.body)")
        #expect(try await console.request("/healthz").status == 200, "the status address still answers")

        try server.start()
        try await ServeCommandTests.eventually(30, "the pages back with the server") {
            try await console.request("/console/users", headers: ConsoleFixture.bearer).status == 200
        }
    }

    @Test("loopbackWithoutLogin: connections from this machine need no login")
    func loopback() async throws {
        let console = try await ConsoleFixture.start("loopback", access: "{ loopbackWithoutLogin: true }")
        defer { console.stop() }
        let page = try await console.request("/console/users")
        #expect(page.status == 200 && page.body.contains(">user00001</a>"))
        #expect(!page.body.contains("Log out"), "nothing to log out of")
    }
}
