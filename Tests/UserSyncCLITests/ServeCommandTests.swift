import DirectoryFixtures
import Foundation
import Testing

/// `usersync serve` as a service manager runs it: a real slapd, a 1-second schedule, the
/// status address scraped over HTTP, signals sent to the process.
@Suite("usersync serve")
struct ServeCommandTests {
    /// GET over loopback (python3's urllib: no HTTP client is needed in the test target).
    static func get(_ url: String) async throws -> (status: Int, body: String) {
        try await offThePool {
            let (_, output) = try Shell.run("python3", ["-c", """
                import sys, urllib.request, urllib.error
                try:
                    r = urllib.request.urlopen(sys.argv[1], timeout=10)
                    print(r.status); print(r.read().decode(), end="")
                except urllib.error.HTTPError as e:
                    print(e.code); print(e.read().decode(), end="")
                """, url])
            let status = Int(output.prefix { $0 != "\n" }) ?? 0
            return (status, String(output.drop { $0 != "\n" }.dropFirst()))
        }
    }

    /// Polls `condition` every 200 ms for up to `seconds`.
    static func eventually(_ seconds: Double, _ what: String, _ condition: () async throws -> Bool) async throws {
        let deadline = ContinuousClock.now + .milliseconds(Int(seconds * 1000))
        while ContinuousClock.now < deadline {
            if try await condition() { return }
            try await Task.sleep(for: .milliseconds(200))
        }
        Issue.record("not within \(seconds) s: \(what)")
    }

    static func runs(_ store: String) async throws -> [(status: String, finished: Bool)] {
        let (_, output) = try await Shell.run("sqlite3", [store, "SELECT status, finished_at IS NOT NULL FROM runs ORDER BY id"])
        return output.split(separator: "\n").map { line in
            let parts = line.split(separator: "|")
            return (String(parts[0]), parts.count > 1 && parts[1] == "1")
        }
    }

    @Test("a 1-second schedule runs again and again; /metrics and /healthz follow the directory going away and back; SIGHUP and SIGTERM")
    func serve() async throws {
        let slapd = try await Slapd.start(users: 50)
        defer { slapd.stop() }
        let directory = try Shell.temporaryDirectory("usersync-serve")
        Cleanup.atExit { try? FileManager.default.removeItem(at: directory) }
        let store = directory.appendingPathComponent("users.db").path
        let port = Shell.freePort()
        let password = try CLISlapd.passwordFile(Slapd.readerPassword)
        let config = directory.appendingPathComponent("usersync.yaml").path
        let text = """
            store:
              sqlite: \(store)
            serve:
              listen: 127.0.0.1:\(port)
            sources:
              - name: ldap
                type: ldap
                uri: \(slapd.ldapsURI)
                tls: { caFile: \(slapd.ca.caFile) }
                connectTimeout: 2
                bindDN: \(Slapd.readerDN)
                passwordFile: \(password)
                users: { base: "\(Slapd.peopleBase)", filter: "(objectClass=inetOrgPerson)" }
                schedule: { every: 1s, runAtStart: true }
                mapping: { username: uid, email: mail }
            """
        try text.write(toFile: config, atomically: true, encoding: .utf8)
        let log = directory.appendingPathComponent("serve.log").path
        let pid = try Shell.spawn(UserSyncBinary.path, ["serve", "--config", config], output: log)
        var exited = false
        defer { if !exited { kill(pid, SIGKILL); _ = Shell.wait(pid) } }
        try await offThePool { try Shell.waitForPort(port, timeout: 30, what: "usersync serve", log: log, process: pid) }
        let base = "http://127.0.0.1:\(port)"

        // At start and then every second: runs pile up in the store.
        try await Self.eventually(20, "two applied runs") { try await Self.runs(store).filter { $0.status == "applied" }.count >= 2 }
        let health = try await Self.get("\(base)/healthz")
        #expect(health.status == 200)
        #expect(health.body.hasPrefix("ok\n"), "\(health.body)")
        let metrics = try await Self.get("\(base)/metrics")
        #expect(metrics.status == 200)
        var samples: [String: Double] = [:]
        for line in metrics.body.split(separator: "\n") where !line.hasPrefix("#") {
            guard let space = line.lastIndex(of: " "), let value = Double(line[line.index(after: space)...]) else { continue }
            samples[String(line[..<space])] = value
        }
        #expect(samples["usersync_last_run_success{source=\"ldap\"}"] == 1)
        #expect(samples["usersync_last_run_skipped{source=\"ldap\"}"] == 0)
        #expect(samples["usersync_users{source=\"ldap\",state=\"active\"}"] == 50)
        #expect(samples["usersync_user_changes_total{source=\"ldap\",action=\"created\"}"] == 50)
        #expect((samples["usersync_runs_total{source=\"ldap\",status=\"applied\"}"] ?? 0) >= 2)
        #expect((samples["usersync_last_run_timestamp_seconds{source=\"ldap\"}"] ?? 0) > Date().timeIntervalSince1970 - 60)

        // The directory goes away: the failure is not retried before the next slot (1 s), so the
        // service says so; it comes back, and so does the health.
        slapd.stop()
        try await Self.eventually(20, "/healthz 503 while slapd is down") { try await Self.get("\(base)/healthz").status == 503 }
        let sick = try await Self.get("\(base)/healthz")
        #expect(sick.body.contains("ldap: last run failed"), "\(sick.body)")
        let failing = try await Self.get("\(base)/metrics")
        #expect(failing.body.contains("usersync_last_run_success{source=\"ldap\"} 0"), "\(failing.body)")
        #expect(failing.body.contains("usersync_run_failures_total{source=\"ldap\",kind=\"unreachable\"}"))
        try slapd.start()
        try await Self.eventually(20, "/healthz 200 once slapd is back") { try await Self.get("\(base)/healthz").status == 200 }

        // SIGHUP with a broken file: refused, the running configuration kept.
        try "store: [\n".write(toFile: config, atomically: true, encoding: .utf8)
        kill(pid, SIGHUP)
        try await Self.eventually(10, "the reload refused in the log") {
            ((try? String(contentsOfFile: log, encoding: .utf8)) ?? "").contains("reload refused")
        }
        // A valid one: taken.
        try text.replacingOccurrences(of: "every: 1s, runAtStart: true", with: "every: 2s").write(toFile: config, atomically: true, encoding: .utf8)
        kill(pid, SIGHUP)
        try await Self.eventually(10, "the reload in the log") {
            ((try? String(contentsOfFile: log, encoding: .utf8)) ?? "").contains("configuration reloaded")
        }
        #expect(try await Self.get("\(base)/healthz").status == 200)

        // SIGTERM: exit 0, every run recorded as finished, the store sound.
        kill(pid, SIGTERM)
        let status = try await offThePool { Shell.wait(pid) }
        exited = true
        #expect(status == 0, "\((try? String(contentsOfFile: log, encoding: .utf8)) ?? "")")
        let all = try await Self.runs(store)
        #expect(all.allSatisfy { $0.finished }, "\(all)")
        #expect(all.contains { $0.status == "failed" })
        await #expect(try Shell.run("sqlite3", [store, "PRAGMA integrity_check"]).output == "ok\n")
        await #expect(try Shell.run("sqlite3", [store, "SELECT count(*) FROM users WHERE state = 'active'"]).output == "50\n")
    }

    @Test("two nodes on one PostgreSQL store, a 1 s schedule for a minute: runs never overlap, each slot runs once; kill -9 the node running: the other takes over within a slot")
    func twoNodes() async throws {
        let slapd = try await Slapd.start(users: 30)
        defer { slapd.stop() }
        let server = try await PostgresServer.shared()
        let directory = try Shell.temporaryDirectory("usersync-nodes")
        Cleanup.atExit { try? FileManager.default.removeItem(at: directory) }
        let schema = "nodes_" + UUID().uuidString.prefix(8).lowercased()
        let store = try server.storeYAML(directory: directory, schema: schema)
        let password = try CLISlapd.passwordFile(Slapd.readerPassword)
        func sql(_ query: String) async throws -> [[String]] {
            try await server.psql(database: PostgresServer.testDatabase, "SET search_path = \(schema); \(query)")
                .split(separator: "\n").map { $0.split(separator: "|", omittingEmptySubsequences: false).map(String.init) }
        }
        // Each run holds its transaction 0.8 s (the test hook), so that a kill lands mid-run.
        var environment = ProcessInfo.processInfo.environment
        environment["USERSYNC_TEST_HOLD_BEFORE_COMMIT"] = "0.8"
        var nodes: [(pid: pid_t, port: Int, log: String)] = []
        defer { for node in nodes { kill(node.pid, SIGKILL); _ = Shell.wait(node.pid) } }
        for name in ["a", "b"] {
            let port = Shell.freePort()
            let config = directory.appendingPathComponent("\(name).yaml").path
            try """
                \(store)
                serve:
                  listen: 127.0.0.1:\(port)
                sources:
                  - name: ldap
                    type: ldap
                    uri: \(slapd.ldapsURI)
                    tls: { caFile: \(slapd.ca.caFile) }
                    bindDN: \(Slapd.readerDN)
                    passwordFile: \(password)
                    users: { base: "\(Slapd.peopleBase)", filter: "(objectClass=inetOrgPerson)" }
                    schedule: { every: 1s }
                    mapping: { username: uid, email: mail }
                """.write(toFile: config, atomically: true, encoding: .utf8)
            let log = directory.appendingPathComponent("\(name).log").path
            let pid = try Shell.spawn(UserSyncBinary.path, ["serve", "--config", config], environment: environment, output: log)
            nodes.append((pid, port, log))
            try await offThePool { try Shell.waitForPort(port, timeout: 30, what: "usersync serve \(name)", log: log, process: pid) }
        }

        // A minute of slots.
        try await Task.sleep(for: .seconds(45))
        // Kill the node that runs the source now (/healthz names it), in the middle of a run
        // (one the runs table shows running). The holder can change between the two looks (a
        // run ends, the other node takes the lock a moment to see its slot was run): a kill that
        // leaves no run `running` missed, and the node is started again for another try.
        var killed: pid_t?
        var killedAt = Date()
        for _ in 0..<5 where killed == nil {
            var victim: pid_t?
            let deadline = ContinuousClock.now + .seconds(20)
            while victim == nil && ContinuousClock.now < deadline {
                guard try await sql("SELECT id FROM runs WHERE status = 'running'").first?.first != nil else { continue }
                for node in nodes {
                    let health = try await Self.get("http://127.0.0.1:\(node.port)/healthz")
                    if let line = health.body.split(separator: "\n").first(where: { $0.hasPrefix("ldap: running on usersync@") }),
                       let pid = line.split(separator: " ").drop(while: { $0 != "pid" }).dropFirst().first.flatMap({ pid_t($0) }) {
                        victim = pid
                        break
                    }
                }
            }
            let pid = try #require(victim, "no node was seen running the source")
            let index = try #require(nodes.firstIndex { $0.pid == pid }, "the holder is one of the two nodes")
            let at = Date()
            kill(pid, SIGKILL)
            _ = await Shell.wait(pid)
            // Landed mid-run when the survivor's next run (a slot later) finds the run left
            // `running` and marks it failed. A run seen `running` just after the kill proved
            // nothing: under load the victim's run could end, and the survivor's begin, between
            // the two looks (a failure seen once in a full suite).
            var landed = false
            let marking = ContinuousClock.now + .seconds(10)
            while !landed && ContinuousClock.now < marking {
                landed = try await sql("SELECT id FROM runs WHERE status = 'failed'").first != nil
                if !landed { try await Task.sleep(for: .milliseconds(200)) }
            }
            if landed {
                killed = pid
                killedAt = at
            } else {
                let name = index == 0 ? "a" : "b"
                let config = directory.appendingPathComponent("\(name).yaml").path
                let restarted = try Shell.spawn(UserSyncBinary.path, ["serve", "--config", config], environment: environment,
                                                output: nodes[index].log)
                nodes[index].pid = restarted
                try await offThePool { [port = nodes[index].port, log = nodes[index].log] in
                    try Shell.waitForPort(port, timeout: 30, what: "usersync serve \(name)", log: log, process: restarted)
                }
            }
        }
        let victimPid = try #require(killed, "five kills in a row landed between runs")
        try await Task.sleep(for: .seconds(15))
        let survivor = try #require(nodes.first { $0.pid != victimPid })
        let health = try await Self.get("http://127.0.0.1:\(survivor.port)/healthz")
        #expect(health.status == 200, "\(health.body)")

        let runs = try await sql("SELECT id, status, started_at, coalesce(finished_at, ''), error IS NOT NULL FROM runs ORDER BY started_at")
        let ended = runs.filter { $0[1] != "running" }
        #expect(runs.count >= 20, "a run every slot it is free for, for a minute: \(runs.count)")
        // Never two at once: each run started after the one before it ended.
        for (previous, next) in zip(ended, ended.dropFirst()) {
            #expect(next[2] >= previous[3], "run \(next[0]) started at \(next[2]) before run \(previous[0]) ended at \(previous[3])")
        }
        // Each slot once: no two runs started within one second's slot.
        let slots = ended.filter { $0[1] == "applied" }.map { $0[2].prefix(19) }
        #expect(Set(slots).count == slots.count, "a slot ran twice: \(slots)")
        // The killed node's run is failed (marked by the survivor's next run), and runs went on within a slot or two.
        let killedRuns = try await sql("SELECT id, started_at, error FROM runs WHERE status = 'failed'")
        #expect(killedRuns.count == 1, "\(killedRuns)")
        #expect(killedRuns.first.map { $0[2].contains("interrupted") && (Timestamp.date($0[1]) ?? .distantFuture) < killedAt } == true,
                "the run killed mid-run, marked failed by the survivor: \(killedRuns)")
        let after = ended.filter { $0[1] == "applied" && (Timestamp.date($0[2]) ?? .distantPast) > killedAt }
        let firstAfter = try #require(after.first, "no run after the kill")
        #expect(Timestamp.date(firstAfter[2])!.timeIntervalSince(killedAt) < 5, "taken over at \(firstAfter[2]), killed at \(killedAt)")
        // The store is whole: every user, once.
        #expect(try await sql("SELECT count(*), count(DISTINCT username) FROM users WHERE state = 'active'") == [["30", "30"]])
    }

    @Test("an address in use stops serve at once with what the system said (exit 2), before any run; the first server keeps answering")
    func addressInUse() async throws {
        let directory = try Shell.temporaryDirectory("usersync-in-use")
        Cleanup.atExit { try? FileManager.default.removeItem(at: directory) }
        let csv = directory.appendingPathComponent("people.csv").path
        try "id,login\n1,alice\n".write(toFile: csv, atomically: true, encoding: .utf8)
        let port = Shell.freePort()
        let config = directory.appendingPathComponent("usersync.yaml").path
        try """
            store: { sqlite: \(directory.appendingPathComponent("users.db").path) }
            serve: { listen: "127.0.0.1:\(port)" }
            sources:
              - name: people
                type: csv
                path: \(csv)
                idColumn: id
                schedule: { every: 1h, runAtStart: true }
                mapping: { username: login }
            """.write(toFile: config, atomically: true, encoding: .utf8)
        let log = directory.appendingPathComponent("first.log").path
        let first = try Shell.spawn(UserSyncBinary.path, ["serve", "--config", config], output: log)
        defer { kill(first, SIGTERM); _ = Shell.wait(first) }
        try await offThePool { try Shell.waitForPort(port, timeout: 30, what: "usersync serve", log: log, process: first) }
        try await Self.eventually(20, "the first server's run") { try await Self.runs(directory.appendingPathComponent("users.db").path).count == 1 }

        let second = try await UserSyncBinary.run(["serve", "--config", config])
        #expect(second.status == 2, "\(second.output)")
        #expect(second.output.contains("cannot listen on 127.0.0.1:\(port): Address already in use (serve.listen or --listen)"), "\(second.output)")
        #expect(try await Self.runs(directory.appendingPathComponent("users.db").path).count == 1, "the second started no run")
        #expect(try await Self.get("http://127.0.0.1:\(port)/healthz").status == 200)
    }

    @Test("status lists each source's last run and next slot; serve without a schedule says what to add")
    func status() async throws {
        let directory = try Shell.temporaryDirectory("usersync-status")
        Cleanup.atExit { try? FileManager.default.removeItem(at: directory) }
        let csv = directory.appendingPathComponent("people.csv").path
        // Row 3 has no login: skipped (one of two is within maxSkipped's "at least one").
        try "id,login\n1,alice\n2,\n".write(toFile: csv, atomically: true, encoding: .utf8)
        let config = directory.appendingPathComponent("usersync.yaml").path
        try """
            store:
              sqlite: \(directory.appendingPathComponent("users.db").path)
            sources:
              - name: people
                type: csv
                path: \(csv)
                idColumn: id
                schedule: { cron: "0 3 * * *" }
                mapping: { username: login }
              - name: other
                type: csv
                path: \(csv)
                idColumn: id
                mapping: { username: login }
            """.write(toFile: config, atomically: true, encoding: .utf8)
        #expect(try await UserSyncBinary.run(["sync", "--config", config, "--source", "people"]).status == 0)
        let text = try await UserSyncBinary.run(["status", "--config", config])
        #expect(text.status == 0, "\(text.output)")
        #expect(text.output.contains("people (csv)\n  last run   #1 applied at "), "\(text.output)")
        #expect(text.output.contains("  skipped    1 of 2 records (the reasons: usersync runs show 1)"), "\(text.output)")
        #expect(text.output.contains("  schedule   cron '0 3 * * *'"))
        #expect(text.output.contains("  next run   "))
        #expect(text.output.contains("other (csv)\n  last run   none yet\n  schedule   none (only 'usersync sync' runs it)"))
        let json = try await UserSyncBinary.run(["status", "--config", config, "--json"])
        let entries = try #require((try JSONSerialization.jsonObject(with: Data(json.standardOutput.utf8))) as? [[String: Any]])
        #expect(entries.count == 2)
        #expect((entries[0]["lastRun"] as? [String: Any])?["status"] as? String == "applied")
        #expect((entries[0]["lastRun"] as? [String: Any])?["skipped"] as? Int == 1)
        #expect(entries[0]["nextRun"] != nil)
        #expect(entries[1]["nextRun"] == nil)

        let bad = config + ".bad.yaml"
        try String(contentsOfFile: config, encoding: .utf8).replacingOccurrences(of: "cron: \"0 3 * * *\"", with: "cron: \"0 25 * * *\"")
            .write(toFile: bad, atomically: true, encoding: .utf8)
        let refused = try await UserSyncBinary.run(["serve", "--config", bad])
        #expect(refused.status == 2)
        #expect(refused.output.contains("hour: '25' is outside 0-23"), "\(refused.output)")
    }
}

/// Times as the store writes them (ISO 8601 with fractions of a second).
enum Timestamp {
    static func date(_ text: String) -> Date? {
        try? Date(text, strategy: Date.ISO8601FormatStyle(includingFractionalSeconds: true))
    }
}
