import DirectoryFixtures
import Foundation
import Testing

/// `usersync push`, `sync` with targets, `targets` and `serve` pushing, through the built
/// executable, against the real scim2-server (behind the fault proxy where a test needs one).
@Suite("usersync push and targets")
struct PushCommandTests {
    /// A CSV source and the target `app`; returns the config file and the CSV file.
    static func setUp(_ csv: String, url: String, token: String, extra: String = "") throws -> (config: String, csv: String, directory: URL) {
        let directory = try Shell.temporaryDirectory("usersync-push-cli")
        Cleanup.atExit { try? FileManager.default.removeItem(at: directory) }
        let csvPath = directory.appendingPathComponent("people.csv").path
        try csv.write(toFile: csvPath, atomically: true, encoding: .utf8)
        let tokenFile = directory.appendingPathComponent("app.token").path
        try "\(token)\n".write(toFile: tokenFile, atomically: true, encoding: .utf8)
        chmod(tokenFile, 0o600)
        let config = directory.appendingPathComponent("usersync.yaml").path
        try """
            store:
              sqlite: \(directory.appendingPathComponent("users.db").path)
            sources:
              - name: hr
                type: csv
                path: \(csvPath)
                idColumn: id
                mapping:
                  username: login
                  email: mail
                  firstName: first
                options:
                  maxDeactivations: 100%
            targets:
              - name: app
                type: scim
                url: \(url)
                allowInsecure: true
                auth: { bearerTokenFile: \(tokenFile) }
                sources: [hr]
                quarantineAfter: 2
            \(extra)
            """.write(toFile: config, atomically: true, encoding: .utf8)
        return (config, csvPath, directory)
    }

    static let people = "id,login,mail,first\n1,ann,ann@example.com,Ann\n2,bob,bob@example.com,Bob\n3,cid,cid@example.com,Cid\n4,dee,dee@example.com,Dee\n"

    @Test("sync pushes the targets; the push guard exits 9, a dry run lists and sends nothing, a failing user exits 12 and is listed by targets status and show")
    func pushCommands() async throws {
        let server = try await SCIMServer.start()
        let proxy = try await SCIMFaultProxy.start(upstream: server, failUsers: ["zed"])
        let (config, csv, _) = try Self.setUp(Self.people, url: proxy.baseURL, token: server.token)

        let sync = try await UserSyncBinary.run(["sync", "--config", config])
        #expect(sync.status == 0, "\(sync.output)")
        #expect(sync.output.contains("app: pushed") && sync.output.contains("created 4"), "\(sync.output)")
        #expect(try await server.all("Users").count == 4)
        let run = try await UserSyncBinary.run(["runs", "show", "1", "--config", config])
        #expect(run.output.contains("pushed    to app: push #1 applied, users +4"), "\(run.output)")

        try "id,login,mail,first\n1,ann,ann@example.com,Ann\n".write(toFile: csv, atomically: true, encoding: .utf8)
        let stopped = try await UserSyncBinary.run(["sync", "--config", config])
        #expect(stopped.status == 9, "the run applied, its push stopped: \(stopped.output)")
        #expect(stopped.output.contains("hr: applied") && stopped.output.contains("STOPPED by the guard") && stopped.output.contains("disable 3 of the 4"))
        let writes = try await proxy.requests().filter { $0.method != "GET" }.count
        let dry = try await UserSyncBinary.run(["push", "--config", config, "--dry-run", "--force"])
        #expect(dry.status == 0, "\(dry.output)")
        #expect(dry.output.contains("dry run") && dry.output.components(separatedBy: "PATCH  /Users/").count == 4, "\(dry.output)")
        #expect(try await proxy.requests().filter { $0.method != "GET" }.count == writes, "a dry run sends no write")
        let forced = try await UserSyncBinary.run(["push", "--config", config, "--force", "--json"])
        #expect(forced.status == 0, "\(forced.output)")
        #expect((forced.json?["users"] as? [String: Any])?["deactivated"] as? Int == 3, "\(forced.standardOutput)")
        #expect(try await server.all("Users").filter { $0["active"] as? Bool == false }.count == 3)

        try (Self.people + "5,zed,zed@example.com,Zed\n").write(toFile: csv, atomically: true, encoding: .utf8)
        let partial = try await UserSyncBinary.run(["sync", "--config", config])
        #expect(partial.status == 12, "\(partial.output)")
        #expect(partial.output.contains("PARTLY pushed") && partial.output.contains("zed"), "\(partial.output)")
        let again = try await UserSyncBinary.run(["push", "--config", config])
        #expect(again.status == 12 && again.output.contains("quarantined after 2 pushes"), "\(again.output)")
        let status = try await UserSyncBinary.run(["targets", "status", "--config", config])
        #expect(status.status == 0, "\(status.output)")
        #expect(status.output.contains("QUARANTINED 1") && status.output.contains("user zed"), "\(status.output)")
        let json = try await UserSyncBinary.run(["targets", "status", "--config", config, "--json"])
        let list = try JSONSerialization.jsonObject(with: Data(json.standardOutput.utf8)) as? [[String: Any]]
        #expect((list?.first?["failing"] as? [[String: Any]])?.first?["name"] as? String == "zed")
        let pushes = try await UserSyncBinary.run(["targets", "pushes", "--config", config])
        let last = try #require(pushes.output.split(separator: "\n").first.flatMap { Int64($0.dropFirst().prefix { $0 != " " }) })
        let show = try await UserSyncBinary.run(["targets", "show", "\(last)", "--config", config])
        #expect(show.output.contains("POST   500 failed") && show.output.contains("zed"), "\(show.output)")
        let quiet = try await UserSyncBinary.run(["push", "--config", config])
        #expect(quiet.status == 0 && quiet.output.contains("1 quarantined object left alone"), "\(quiet.output)")
    }

    @Test("serve pushes after each scheduled run; /metrics counts the requests by outcome and the pushes")
    func servePushes() async throws {
        let server = try await SCIMServer.start()
        let port = Shell.freePort()
        let (config, _, directory) = try Self.setUp(Self.people, url: server.baseURL, token: server.token)
        var text = try String(contentsOfFile: config, encoding: .utf8)
        text = text.replacingOccurrences(of: "    idColumn: id\n", with: "    idColumn: id\n    schedule: { every: 1s, runAtStart: true }\n")
        text = "serve:\n  listen: 127.0.0.1:\(port)\n" + text
        try text.write(toFile: config, atomically: true, encoding: .utf8)
        let log = directory.appendingPathComponent("serve.log").path
        let pid = try Shell.spawn(UserSyncBinary.path, ["serve", "--config", config], output: log)
        defer { kill(pid, SIGKILL); _ = Shell.wait(pid) }
        try await offThePool { try Shell.waitForPort(port, timeout: 30, what: "usersync serve", log: log, process: pid) }
        try await ServeCommandTests.eventually(20, "the users pushed") { try await server.all("Users").count == 4 }
        try await ServeCommandTests.eventually(10, "a push counted") {
            try await ServeCommandTests.get("http://127.0.0.1:\(port)/metrics").body.contains("usersync_pushes_total{target=\"app\",status=\"applied\"}")
        }
        let metrics = try await ServeCommandTests.get("http://127.0.0.1:\(port)/metrics").body
        #expect(metrics.contains("usersync_target_requests_total{target=\"app\",method=\"POST\",outcome=\"ok\"} 4"), "\(metrics)")
        #expect(metrics.contains("usersync_last_push_success{target=\"app\"} 1"))
    }
}
