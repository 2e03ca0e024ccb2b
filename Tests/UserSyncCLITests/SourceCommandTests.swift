import DirectoryFixtures
import Foundation
import Testing

/// The commands an administrator runs against CSV, SCIM and JSON sources, through the built executable.
@Suite("usersync with CSV, SCIM and JSON sources")
struct SourceCommandTests {
    /// A configuration with one CSV source reading `people.csv` in a fresh directory.
    static func setUp(_ csv: String) throws -> (directory: URL, config: String, csv: String) {
        let directory = try Shell.temporaryDirectory("usersync-csv-cli")
        Cleanup.atExit { try? FileManager.default.removeItem(at: directory) }
        let csvPath = directory.appendingPathComponent("people.csv").path
        try csv.write(toFile: csvPath, atomically: true, encoding: .utf8)
        let config = directory.appendingPathComponent("usersync.yaml").path
        try """
            store:
              sqlite: \(directory.appendingPathComponent("users.db").path)
            sources:
              - name: contractors
                type: csv
                path: \(csvPath)
                delimiter: ";"
                idColumn: employee_id
                groupsColumn: { column: groups }
                mapping:
                  username: { from: login, lowercase: true }
                  email: mail
            """.write(toFile: config, atomically: true, encoding: .utf8)
        return (directory, config, csvPath)
    }

    @Test("test-bind reads the header and the first page and maps it; a broken file exits 11 with its place")
    func testBind() async throws {
        let (_, config, csv) = try Self.setUp("employee_id;login;mail;groups\nE1;Alice;alice@example.com;Sales/EMEA|Staff\nE2;bob;;Staff\n")
        let ok = try await UserSyncBinary.run(["test-bind", "--config", config, "--source", "contractors"])
        #expect(ok.status == 0, "\(ok.output)")
        #expect(ok.output.contains("Columns:   employee_id, login, mail, groups"), "\(ok.output)")
        #expect(ok.output.contains("2 records of the first page, 2 mapped, 0 skipped; 3 group memberships named"))
        #expect(ok.output.contains("alice, bob"))

        let json = try await UserSyncBinary.run(["test-bind", "--config", config, "--json"])
        #expect(json.status == 0)
        #expect(json.json?["recordsRead"] as? Int == 2)
        #expect(json.json?["type"] as? String == "csv")

        try "employee_id;login;mail;groups\nE1;Alice;\"alice@example.com;Staff\n".write(toFile: csv, atomically: true, encoding: .utf8)
        let broken = try await UserSyncBinary.run(["test-bind", "--config", config])
        #expect(broken.status == 11, "\(broken.output)")
        #expect(broken.output.contains("\(csv):2:10: the quoted field opened here has no closing quote"), "\(broken.output)")

        let sync = try await UserSyncBinary.run(["sync", "--config", config])
        #expect(sync.status == 11, "\(sync.output)")
        #expect(sync.output.contains("nothing was changed"))

        try FileManager.default.removeItem(atPath: csv)
        let missing = try await UserSyncBinary.run(["test-bind", "--config", config])
        #expect(missing.status == 3, "\(missing.output)")
        #expect(missing.output.contains("cannot open the file"))
    }

    @Test("sync, then mapping check names a column the header lacks")
    func syncAndCheck() async throws {
        let (_, config, _) = try Self.setUp("employee_id;login;mail;groups\nE1;Alice;alice@example.com;Sales/EMEA|Staff\n")
        let sync = try await UserSyncBinary.run(["sync", "--config", config])
        #expect(sync.status == 0, "\(sync.output)")
        #expect(sync.output.contains("created 1"))
        #expect(sync.output.contains("groups (3 read): created 3"))

        let check = try await UserSyncBinary.run(["mapping", "check", "--config", config])
        #expect(check.status == 0, "\(check.output)")
        let wrong = config + ".wrong.yaml"
        try String(contentsOfFile: config, encoding: .utf8).replacingOccurrences(of: "email: mail", with: "email: email")
            .write(toFile: wrong, atomically: true, encoding: .utf8)
        let bad = try await UserSyncBinary.run(["mapping", "check", "--config", wrong])
        #expect(bad.status != 0)
        #expect(bad.output.contains("has no column 'email'"), "\(bad.output)")
        #expect(bad.output.contains("mail"))
    }

    @Test("test-bind reaches a SCIM and a JSON source, maps their first page, and names an auth failure")
    func restSources() async throws {
        let scim = try await SCIMServer.start()
        try await scim.send([["method": "POST", "path": "/Users",
                              "body": ["schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": "Alice"] as [String: Any]]])
        let api = try await JSONAPIServer.start(users: [["id": 1, "login": "bob"], ["id": 2, "login": "carol"]])
        let directory = try Shell.temporaryDirectory("usersync-rest-cli")
        Cleanup.atExit { try? FileManager.default.removeItem(at: directory) }
        let config = directory.appendingPathComponent("usersync.yaml").path
        try """
            store:
              sqlite: \(directory.appendingPathComponent("users.db").path)
            sources:
              - name: cloud
                type: scim
                url: \(scim.baseURL)
                allowInsecure: true
                auth: { bearerTokenEnv: TEST_SCIM_TOKEN }
                groups: true
                mapping: { username: { from: userName, lowercase: true } }
              - name: api
                type: json
                url: \(api.baseURL)/pages
                allowInsecure: true
                mapping: { username: login }
            """.write(toFile: config, atomically: true, encoding: .utf8)
        let ok = try await UserSyncBinary.run(["test-bind", "--config", config, "--source", "cloud"],
                                              environment: ["TEST_SCIM_TOKEN": scim.token])
        #expect(ok.status == 0, "\(ok.output)")
        #expect(ok.output.contains("Source:    cloud (scim)"), "\(ok.output)")
        #expect(ok.output.contains("1 record of the first page, 1 mapped, 0 skipped; /Groups answers (0 groups on its first page)"))
        #expect(ok.output.contains("Usernames: alice"))

        let refused = try await UserSyncBinary.run(["test-bind", "--config", config, "--source", "cloud"],
                                                   environment: ["TEST_SCIM_TOKEN": "wrong"])
        #expect(refused.status == 5, "\(refused.output)")
        #expect(refused.output.contains("401 Unauthorized"))
        #expect(refused.output.contains("hint: check auth"))

        let json = try await UserSyncBinary.run(["test-bind", "--config", config, "--source", "api", "--json"])
        #expect(json.status == 0, "\(json.output)")
        #expect(json.json?["recordsRead"] as? Int == 2)
        #expect(json.json?["samples"] as? [String] == ["bob", "carol"])

        let sync = try await UserSyncBinary.run(["sync", "--config", config, "--source", "api"])
        #expect(sync.status == 0, "\(sync.output)")
        #expect(sync.output.contains("created 2"))
    }

    @Test("on a terminal sync shows a progress line and ends with a table; piped or --json, neither")
    func progressOnTerminal() async throws {
        let (_, config, _) = try Self.setUp("employee_id;login;mail;groups\nE1;Alice;alice@example.com;Staff\nE2;bob;bob@example.com;\n")
        // script(1) (util-linux) gives the command a pseudo-terminal.
        func onTerminal(_ arguments: [String]) async throws -> String {
            let command = ([UserSyncBinary.path] + arguments).joined(separator: " ")
            return try await offThePool { try Shell.run("script", ["-qec", command, "/dev/null"]).output }
        }
        let shown = try await onTerminal(["sync", "--config", config])
        #expect(shown.contains("\rcontractors: connecting"), "\(shown)")
        #expect(shown.contains("contractors: planning and writing  2 entries, 1 page"))
        #expect(shown.contains("\u{1B}[K"))
        #expect(shown.contains("source       status   read  created  updated  deactivated  reactivated  unchanged  skipped  seconds"))
        #expect(shown.contains("contractors  applied     2        2        0            0            0          0        0"))

        let piped = try await UserSyncBinary.run(["sync", "--config", config])
        #expect(piped.status == 0)
        #expect(!piped.standardOutput.contains("\u{1B}[K"))
        #expect(!piped.standardOutput.contains("planning and writing"))
        #expect(!piped.standardOutput.contains("source       status"))

        let json = try await onTerminal(["sync", "--config", config, "--json"])
        #expect(!json.contains("\u{1B}[K"))
        #expect(!json.contains("planning and writing"))
        let object = try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any]
        #expect(object?["status"] as? String == "applied")
    }
}
