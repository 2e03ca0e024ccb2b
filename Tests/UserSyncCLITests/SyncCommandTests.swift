import DirectoryFixtures
import Foundation
import Testing

/// Which store the `usersync` binary is given: the tests of what a store guarantees run on both.
enum CLIStore: String, CaseIterable, Sendable, CustomTestStringConvertible {
    case sqlite, postgres
    var testDescription: String { rawValue }

    /// The configuration's `store:` section for a new store in `directory` (SQLite) or in a
    /// schema of its own on `server` (PostgreSQL; the test process's shared server when nil).
    func yaml(in directory: URL, server: PostgresServer? = nil) async throws -> String {
        switch self {
        case .sqlite: return "store:\n  sqlite: \(directory.appendingPathComponent("users.db").path)"
        case .postgres:
            guard let server else { return try await PostgresServer.shared().storeYAML(directory: directory) }
            // A server of the test's own (one it stops): the test database is made here.
            try await server.createDatabase(PostgresServer.testDatabase)
            return try server.storeYAML(directory: directory)
        }
    }
}

/// A slapd of its own and a configuration file pointing at it, for the `usersync` binary.
struct CLISyncSetup {
    let slapd: Slapd
    let directory: URL
    let storeYAML: String

    static func start(users: Int = 200, store: CLIStore = .sqlite, server: PostgresServer? = nil) async throws -> CLISyncSetup {
        let slapd = try await Slapd.start(users: users)
        let directory = try Shell.temporaryDirectory("usersync-cli-sync")
        Cleanup.atExit { try? FileManager.default.removeItem(at: directory) }
        try FileManager.default.createDirectory(at: directory.appendingPathComponent("log"), withIntermediateDirectories: true)
        let setup = CLISyncSetup(slapd: slapd, directory: directory, storeYAML: try await store.yaml(in: directory, server: server))
        try setup.writeConfig()
        return setup
    }

    var config: String { directory.appendingPathComponent("usersync.yaml").path }
    var logDirectory: String { directory.appendingPathComponent("log").path }

    /// `sourceLines`: more keys at the source's level (`incremental: …`), indented for it.
    func writeConfig(filter: String = "(objectClass=inetOrgPerson)", password: String = "passwordEnv: READER_PW",
                     sourceLines: String = "") throws {
        try """
            \(storeYAML)
            log:
              directory: \(logDirectory)
              retentionDays: 30
            sources:
              - name: people
                type: ldap
                uri: \(slapd.ldapsURI)
                tls: { caFile: \(slapd.ca.caFile) }
                bindDN: \(Slapd.readerDN)
                \(password)
            \(sourceLines)
                users:
                  base: \(Slapd.peopleBase)
                  filter: "\(filter)"
                  pageSize: 100
                mapping:
                  username: uid
                  email: { from: mail, lowercase: true }
                  firstName: givenName
                  lastName: sn
                  displayName: cn
                options:
                  maxDeactivations: 10%
            """.write(toFile: config, atomically: true, encoding: .utf8)
    }

    static let environment = ["READER_PW": Slapd.readerPassword]

    func usersync(_ arguments: [String]) async throws -> UserSyncBinary.Result {
        try await UserSyncBinary.run(arguments + ["--config", config], environment: CLISyncSetup.environment)
    }

    func json(_ arguments: [String]) async throws -> Any {
        let result = try await usersync(arguments + ["--json"])
        return try JSONSerialization.jsonObject(with: Data(result.standardOutput.utf8))
    }

    func modify(_ ldif: String) async throws {
        let slapd = self.slapd
        try await slapd.modify(ldif)
    }

    /// Starts `usersync sync` in the background, holding its transaction open for `hold`
    /// seconds once everything is written (the test hook); returns its pid and output file.
    func startHeldSync(hold: Double, extra: [String] = []) throws -> (pid: pid_t, output: String) {
        let output = directory.appendingPathComponent("held-\(UUID().uuidString).out").path
        var environment = ProcessInfo.processInfo.environment.merging(CLISyncSetup.environment) { $1 }
        environment["USERSYNC_TEST_HOLD_BEFORE_COMMIT"] = String(hold)
        let pid = try Shell.spawn(UserSyncBinary.path, ["sync", "--config", config, "-q"] + extra,
                                  environment: environment, output: output)
        return (pid, output)
    }

    func waitForOutput(_ file: String, containing text: String, timeout: Double = 60) async throws {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if let content = try? String(contentsOfFile: file, encoding: .utf8), content.contains(text) { return }
            try await Task.sleep(for: .milliseconds(50))
        }
        throw FixtureError("'\(text)' did not appear in \(file): \((try? String(contentsOfFile: file, encoding: .utf8)) ?? "")")
    }
}

@Suite("usersync sync, runs, users")
struct SyncCommandTests {
    @Test("sync --json prints the documented object; runs, runs show and users show report the run and the user", arguments: CLIStore.allCases)
    func jsonAndHistory(store: CLIStore) async throws {
        let s = try await CLISyncSetup.start(store: store)
        let result = try await s.usersync(["sync", "--json", "-q"])
        #expect(result.status == 0, "\(result.output)")
        let report = try #require(result.json, "\(result.output)")
        #expect(Set(report.keys).isSuperset(of: ["runId", "source", "dryRun", "status", "users", "durationSeconds"]))
        #expect(report["status"] as? String == "applied" && report["source"] as? String == "people")
        #expect(report["dryRun"] as? Bool == false)
        let users = try #require(report["users"] as? [String: Int])
        #expect(users == ["created": 200, "updated": 0, "deactivated": 0, "reactivated": 0, "unchanged": 0, "skipped": 0])
        let runId = try #require(report["runId"] as? Int)

        let runs = try #require(try await s.json(["runs"]) as? [[String: Any]])
        #expect(runs.first?["id"] as? Int == runId && runs.first?["created"] as? Int == 200)
        let shown = try #require(try await s.json(["runs", "show", String(runId), "--limit", "5"]) as? [String: Any])
        #expect((shown["changes"] as? [[String: Any]])?.count == 5)
        #expect(shown["recordsKept"] as? Bool == true)

        let user = try #require(try await s.json(["users", "show", "user00009"]) as? [String: Any])
        #expect((user["user"] as? [String: Any])?["email"] as? String == "user00009@example.com")
        #expect((user["lastRecord"] as? [String: Any])?["dn"] as? String == Slapd.userDN(9))
        #expect((user["history"] as? [[String: Any]])?.first?["action"] as? String == "create")
        let active = try #require(try await s.json(["users", "--state", "active"]) as? [[String: Any]])
        #expect(active.count == 200)

        // The human forms.
        try await s.modify("dn: \(Slapd.userDN(9))\nchangetype: modify\nreplace: sn\nsn: Ninth\n\n")
        let plan = try await s.usersync(["sync", "--dry-run", "-q"])
        #expect(plan.status == 0)
        #expect(plan.output.contains("people: dry run"), "\(plan.output)")
        #expect(plan.output.contains("would be created 0, updated 1"))
        #expect(plan.output.contains("update     user00009"))
        #expect(plan.output.contains("last_name: Family9 → Ninth"))
        let list = try await s.usersync(["runs"])
        #expect(list.output.contains("planned*") && list.output.contains("applied"), "\(list.output)")
    }

    @Test("exit codes: guard stop 9, configuration 2, unreachable 3, refused bind 5")
    func exitCodes() async throws {
        let s = try await CLISyncSetup.start(users: 20)
        #expect(try await s.usersync(["sync", "-q"]).status == 0)
        try s.writeConfig(filter: "(uid=nobody)")
        let stopped = try await s.usersync(["sync", "--json", "-q"])
        #expect(stopped.status == 9, "\(stopped.output)")
        #expect(stopped.json?["status"] as? String == "stopped")
        #expect((stopped.json?["error"] as? String)?.contains("--allow-empty") == true)
        #expect(try await s.json(["users", "--state", "active"]) as? [Any] != nil)
        #expect((try await s.json(["users", "--state", "active"]) as? [Any])?.count == 20, "nothing changed")
        // --force is not --allow-empty: the empty read still stops.
        #expect(try await s.usersync(["sync", "--force", "-q"]).status == 9)
        #expect((try await s.json(["users", "--state", "active"]) as? [Any])?.count == 20, "nothing changed")

        let unknown = try await s.usersync(["sync", "--source", "peple"])
        #expect(unknown.status == 2)
        #expect(unknown.output.contains("no source 'peple'") && unknown.output.contains("Did you mean 'people'?"), "\(unknown.output)")

        try s.writeConfig(password: "passwordFile: /nonexistent/pw")
        let noPassword = try await s.usersync(["sync", "-q", "--json"])
        #expect(noPassword.status == 2, "\(noPassword.output)")

        try s.writeConfig(password: "passwordEnv: WRONG_PW")
        let refused = try await UserSyncBinary.run(["sync", "--config", s.config, "-q"], environment: ["WRONG_PW": "nope"])
        #expect(refused.status == 5, "\(refused.output)")

        s.slapd.stop()
        try s.writeConfig()
        let down = try await s.usersync(["sync", "-q", "--json"])
        #expect(down.status == 3, "\(down.output)")
        #expect(down.json?["status"] as? String == "failed")
        try s.slapd.start()
    }

    @Test("kill -9 during apply leaves the store as before; the next run completes and marks the killed one failed", arguments: CLIStore.allCases)
    func killDuringApply(store: CLIStore) async throws {
        let s = try await CLISyncSetup.start(store: store)
        #expect(try await s.usersync(["sync", "-q"]).status == 0)
        let before = try await s.usersync(["users", "--json"]).output
        let changes = (1...5).map { "dn: \(Slapd.userDN($0))\nchangetype: modify\nreplace: sn\nsn: Changed\n" }
            + (6...8).map { "dn: \(Slapd.userDN($0))\nchangetype: delete\n" }
        try await s.modify(changes.joined(separator: "\n") + "\n")

        let held = try s.startHeldSync(hold: 60)
        try await s.waitForOutput(held.output, containing: "holding the transaction open")
        // While it holds the store's lock, its run is running, not stale.
        let running = try #require(try await s.json(["status"]) as? [[String: Any]])
        #expect((running.first?["lastRun"] as? [String: Any])?["status"] as? String == "running")
        #expect(running.first?["stale"] as? Bool == false, "a run that holds the lock is running, not stale")
        kill(held.pid, SIGKILL)
        _ = await Shell.wait(held.pid)
        #expect(try await s.usersync(["users", "--json"]).output == before, "the killed run wrote nothing")
        // Until the next run, status says the killed run's row is stale, not running.
        let status = try await s.usersync(["status"])
        #expect(status.output.contains(" running at ") && status.output.contains("(stale: no process is running it;"), "\(status.output)")
        let statusJSON = try #require(try await s.json(["status"]) as? [[String: Any]])
        #expect(statusJSON.first?["stale"] as? Bool == true)

        let next = try await s.usersync(["sync", "--json", "-q"])
        #expect(next.status == 0, "\(next.output)")
        #expect((next.json?["users"] as? [String: Int])?["updated"] == 5)
        #expect((next.json?["users"] as? [String: Int])?["deactivated"] == 3)
        let runs = try #require(try await s.json(["runs"]) as? [[String: Any]])
        let killed = try #require(runs.first { ($0["id"] as? Int) == (next.json?["runId"] as? Int).map { $0 - 1 } })
        #expect(killed["status"] as? String == "failed")
        #expect((killed["error"] as? String)?.contains("interrupted") == true)
    }

    @Test("incremental: kill -9 while a delta applies leaves the store and the watermark; the next run reads the same changes; --json, runs and status say how it read",
          arguments: CLIStore.allCases)
    func killDuringDelta(store: CLIStore) async throws {
        let s = try await CLISyncSetup.start(users: 50, store: store)
        try s.writeConfig(sourceLines: "    incremental: { method: syncrepl, fullEvery: 24h }")
        let first = try await s.usersync(["sync", "--json", "-q"])
        #expect(first.status == 0, "\(first.output)")
        #expect(first.json?["mode"] as? String == "full" && first.json?["method"] as? String == "syncrepl")
        #expect((first.json?["fullReason"] as? String)?.contains("no watermark yet") == true)
        let before = try await s.usersync(["users", "--json"]).output
        let changes = (1...5).map { "dn: \(Slapd.userDN($0))\nchangetype: modify\nreplace: sn\nsn: Changed\n" }
            + (6...8).map { "dn: \(Slapd.userDN($0))\nchangetype: delete\n" }
        try await s.modify(changes.joined(separator: "\n") + "\n")

        let held = try s.startHeldSync(hold: 60)
        try await s.waitForOutput(held.output, containing: "holding the transaction open")
        kill(held.pid, SIGKILL)
        _ = await Shell.wait(held.pid)
        #expect(try await s.usersync(["users", "--json"]).output == before, "the killed run wrote nothing")

        let next = try await s.usersync(["sync", "--json", "-q"])
        #expect(next.status == 0, "\(next.output)")
        #expect(next.json?["mode"] as? String == "delta" && next.json?["fullReason"] == nil, "\(next.output)")
        #expect((next.json?["users"] as? [String: Int])?["updated"] == 5)
        #expect((next.json?["users"] as? [String: Int])?["deactivated"] == 3)
        #expect(next.json?["entriesRead"] as? Int == 5)

        let runs = try #require(try await s.json(["runs"]) as? [[String: Any]])
        #expect(runs.first?["mode"] as? String == "delta" && runs.first?["method"] as? String == "syncrepl")
        let table = try await s.usersync(["runs"])
        #expect(table.output.contains("mode") && table.output.contains("delta"), "\(table.output)")
        let status = try await s.usersync(["status"])
        #expect(status.output.contains("read       delta by syncrepl"), "\(status.output)")
        #expect(status.output.contains("watermark  syncrepl, moved"), "\(status.output)")
        let full = try await s.usersync(["sync", "--full", "--json", "-q"])
        #expect(full.json?["mode"] as? String == "full" && full.json?["fullReason"] as? String == "--full was given", "\(full.output)")
    }

    @Test("PostgreSQL stops while a run applies: the run fails (exit 3), nothing is half-written; once it is back, the next run completes")
    func databaseLostMidApply() async throws {
        let server = try await PostgresServer.start()
        defer { server.stop() }
        let s = try await CLISyncSetup.start(users: 60, store: .postgres, server: server)
        #expect(try await s.usersync(["sync", "-q"]).status == 0)
        let before = try await s.usersync(["users", "--json"]).output
        let changes = (1...5).map { "dn: \(Slapd.userDN($0))\nchangetype: modify\nreplace: sn\nsn: Changed\n" }
            + (6...8).map { "dn: \(Slapd.userDN($0))\nchangetype: delete\n" }
        try await s.modify(changes.joined(separator: "\n") + "\n")

        // Every change written, not committed: the server goes away (stopped at once, as in a crash).
        let held = try s.startHeldSync(hold: 4)
        try await s.waitForOutput(held.output, containing: "holding the transaction open")
        server.stop()
        let status = await Shell.wait(held.pid)
        let output = (try? String(contentsOfFile: held.output, encoding: .utf8)) ?? ""
        #expect(status == 3, "\(output)")
        #expect(output.contains("the connection to the database was lost"), "\(output)")

        try server.start()
        #expect(try await s.usersync(["users", "--json"]).output == before, "the cut run wrote nothing")
        let next = try await s.usersync(["sync", "--json", "-q"])
        #expect(next.status == 0, "\(next.output)")
        #expect((next.json?["users"] as? [String: Int])?["updated"] == 5)
        #expect((next.json?["users"] as? [String: Int])?["deactivated"] == 3)
        let runs = try #require(try await s.json(["runs"]) as? [[String: Any]])
        #expect(runs.count == 3)
        #expect(runs.filter { $0["status"] as? String == "applied" }.count == 2)
        #expect(runs.contains { $0["status"] as? String == "failed" }, "the cut run is recorded as failed")
    }

    @Test("store migrate moves a SQLite store into PostgreSQL, history included: the same users, runs and changes; the next run there recognises every record; a second move is refused")
    func storeMigrate() async throws {
        let s = try await CLISyncSetup.start(users: 40)
        #expect(try await s.usersync(["sync", "-q"]).status == 0)
        try await s.modify("dn: \(Slapd.userDN(3))\nchangetype: modify\nreplace: sn\nsn: Moved\n\ndn: \(Slapd.userDN(4))\nchangetype: delete\n\n")
        #expect(try await s.usersync(["sync", "-q"]).status == 0)
        let users = try await s.usersync(["users", "--json"]).output
        let runs = try await s.usersync(["runs", "--json"]).output
        let history = try await s.usersync(["users", "show", "user00003", "--json"]).output

        // The same configuration, with the store moved to PostgreSQL.
        let sqlite = s.directory.appendingPathComponent("users.db").path
        let postgres = s.directory.appendingPathComponent("postgres.yaml").path
        let text = try String(contentsOfFile: s.config, encoding: .utf8)
            .replacingOccurrences(of: s.storeYAML, with: try await CLIStore.postgres.yaml(in: s.directory))
        try text.write(toFile: postgres, atomically: true, encoding: .utf8)
        func pg(_ arguments: [String]) async throws -> UserSyncBinary.Result {
            try await UserSyncBinary.run(arguments + ["--config", postgres], environment: CLISyncSetup.environment)
        }
        let moved = try await pg(["store", "migrate", "--from", "sqlite:\(sqlite)", "--json"])
        #expect(moved.status == 0, "\(moved.output)")
        let counts = try #require(moved.json?["tables"] as? [String: Int], "\(moved.output)")
        #expect(counts["users"] == 40 && counts["runs"] == 2 && counts["sync_fingerprints"] == 39, "\(counts)")
        #expect(counts["changes"] == 40 + 2, "40 created, one last name changed, one deactivated")
        #expect(try await pg(["users", "--json"]).output == users)
        #expect(try await pg(["runs", "--json"]).output == runs)
        #expect(try await pg(["users", "show", "user00003", "--json"]).output == history, "history and the last record kept")

        let next = try await pg(["sync", "--json", "-q"])
        #expect(next.status == 0, "\(next.output)")
        #expect(next.json?["runId"] as? Int == 3, "new runs continue after the copied ones")
        #expect(next.json?["identicalRecords"] as? Int == 39, "the fingerprints came along: \(next.output)")
        let again = try await pg(["store", "migrate", "--from", sqlite])
        #expect(again.status == 1)
        #expect(again.output.contains("already holds") && again.output.contains("nothing there is replaced"), "\(again.output)")
    }

    @Test("two runs on one store never interleave: the second gives up (exit 10) or waits for the first", arguments: CLIStore.allCases)
    func concurrentRuns(store: CLIStore) async throws {
        let s = try await CLISyncSetup.start(users: 50, store: store)
        // Long enough that the impatient run starts while the first holds the lock on a loaded
        // machine (3 s was passed once with a release build beside the tests).
        let first = try s.startHeldSync(hold: 15)
        try await s.waitForOutput(first.output, containing: "holding the transaction open")
        let impatient = try await s.usersync(["sync", "--wait", "0", "-q"])
        #expect(impatient.status == 10, "\(impatient.output)")
        #expect(impatient.output.contains("another run") && impatient.output.contains("is in progress"), "\(impatient.output)")
        let patient = try await s.usersync(["sync", "--wait", "60", "--json", "-q"])
        await #expect(Shell.wait(first.pid) == 0)
        #expect(patient.status == 0, "\(patient.output)")
        #expect((patient.json?["users"] as? [String: Int])?["unchanged"] == 50, "it ran after the first had created them")
        let runs = try #require(try await s.json(["runs"]) as? [[String: Any]])
        let applied = runs.filter { $0["status"] as? String == "applied" }.sorted { ($0["id"] as! Int) < ($1["id"] as! Int) }
        #expect(applied.count == 2)
        let firstFinished = try #require(applied[0]["finishedAt"] as? String)
        let secondStarted = try #require(applied[1]["startedAt"] as? String)
        #expect(secondStarted >= firstFinished, "the second started after the first finished")
    }

    @Test("the daily log file gets JSON lines without the password; old files are pruned")
    func logs() async throws {
        let s = try await CLISyncSetup.start(users: 10)
        let old = "\(s.logDirectory)/usersync-2020-01-01.log"
        FileManager.default.createFile(atPath: old, contents: Data("{}\n".utf8))
        let result = try await s.usersync(["sync"])
        #expect(result.status == 0)
        #expect(!FileManager.default.fileExists(atPath: old), "older than retentionDays")
        let files = try FileManager.default.contentsOfDirectory(atPath: s.logDirectory)
        #expect(files.count == 1 && files[0].hasPrefix("usersync-") && files[0].hasSuffix(".log"))
        let text = try String(contentsOfFile: "\(s.logDirectory)/\(files[0])", encoding: .utf8)
        let lines = text.split(separator: "\n")
        #expect(lines.count >= 3)
        for line in lines {
            let object = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any]
            #expect(object?["time"] != nil && object?["level"] != nil && object?["message"] != nil)
        }
        #expect(text.contains("run started") && text.contains("run applied"))
        #expect(!text.contains(Slapd.readerPassword), "no secret in the log")
        #expect(!result.output.contains(Slapd.readerPassword), "no secret on the console")
    }

    @Test("mapping init writes a starter from a sample entry; mapping preview shows mapped entries")
    func mappingInitAndPreview() async throws {
        let s = try await CLISyncSetup.start(users: 5)
        let starter = try await s.usersync(["mapping", "init"])
        #expect(starter.status == 0, "\(starter.output)")
        #expect(starter.output.contains("idAttribute: entryUUID"))
        #expect(starter.output.contains("username: { from: uid, lowercase: true }"))
        #expect(starter.output.contains("# sample: user00001@example.com"))
        let file = s.directory.appendingPathComponent("starter.yaml").path
        #expect(try await s.usersync(["mapping", "init", "-o", file]).status == 0)
        let again = try await s.usersync(["mapping", "init", "-o", file])
        #expect(again.status == 1 && again.output.contains("--force"))

        let preview = try await s.usersync(["mapping", "preview", "--limit", "2"])
        #expect(preview.status == 0, "\(preview.output)")
        #expect(preview.output.contains(Slapd.userDN(1)) && preview.output.contains("← mail: user00001@example.com"))
        #expect(preview.output.contains("2 entries previewed; all would sync"))
    }

    @Test("several sources run in file order and --json prints one object per source in 'sources'")
    func severalSources() async throws {
        let s = try await CLISyncSetup.start(users: 25)
        let text = try String(contentsOfFile: s.config, encoding: .utf8)
        let one = text.replacingOccurrences(of: "name: people", with: "name: first")
            .replacingOccurrences(of: "(objectClass=inetOrgPerson)", with: "(uid=user0000*)")
        let sourceBlock = one[one.range(of: "  - name: first")!.lowerBound...]
            .replacingOccurrences(of: "name: first", with: "name: second")
            .replacingOccurrences(of: "(uid=user0000*)", with: "(uid=user0001*)")
        try (one + "\n" + sourceBlock).write(toFile: s.config, atomically: true, encoding: .utf8)
        let result = try await s.usersync(["sync", "--json", "-q"])
        #expect(result.status == 0, "\(result.output)")
        let sources = try #require(result.json?["sources"] as? [[String: Any]], "\(result.output)")
        #expect(sources.map { $0["source"] as? String } == ["first", "second"])
        #expect(sources.map { ($0["users"] as? [String: Int])?["created"] } == [9, 10])
        let only = try await s.usersync(["sync", "--source", "second", "--json", "-q"])
        #expect(only.json?["source"] as? String == "second", "one source: one object")
    }
}
