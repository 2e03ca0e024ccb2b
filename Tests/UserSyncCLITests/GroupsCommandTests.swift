import DirectoryFixtures
import Foundation
import Testing

@Suite("usersync groups")
struct GroupsCommandTests {
    @Test("sync --json reports groups and memberships; groups tree draws the DAG with two parents and a cycle; show and pictures")
    func tree() async throws {
        let slapd = try await Slapd.start(users: 12, extraLDIF: Slapd.sampleGroupTree)
        let directory = try Shell.temporaryDirectory("usersync-cli-groups")
        Cleanup.atExit { try? FileManager.default.removeItem(at: directory) }
        let config = directory.appendingPathComponent("usersync.yaml").path
        try """
            store: { sqlite: \(directory.appendingPathComponent("users.db").path) }
            sources:
              - name: people
                type: ldap
                uri: \(slapd.ldapsURI)
                tls: { caFile: \(slapd.ca.caFile) }
                bindDN: \(Slapd.readerDN)
                passwordEnv: READER_PW
                users: { base: "\(Slapd.peopleBase)", filter: (objectClass=inetOrgPerson) }
                groups: { base: "ou=groups,\(Slapd.suffix)", filter: (objectClass=groupOfNames) }
                mapping: { username: uid }
            """.write(toFile: config, atomically: true, encoding: .utf8)
        func usersync(_ arguments: [String]) async throws -> UserSyncBinary.Result {
            try await UserSyncBinary.run(arguments + ["--config", config], environment: ["READER_PW": Slapd.readerPassword])
        }
        let plan = try await usersync(["sync", "--dry-run", "-q"])
        #expect(plan.output.contains("groups (10 read): would be created 10"), "\(plan.output)")
        #expect(plan.output.contains("add        l1") && plan.output.contains("+ user user00001"), "\(plan.output)")
        #expect(plan.output.contains("note: nesting cycles through cyclea, cycleb"))

        let sync = try await usersync(["sync", "--json", "-q"])
        #expect(sync.status == 0, "\(sync.output)")
        #expect(sync.json?["groups"] as? [String: Int] == ["created": 10, "updated": 0, "deactivated": 0, "reactivated": 0, "unchanged": 0])
        #expect(sync.json?["memberships"] as? [String: Int] == ["added": 18, "removed": 0])

        let tree = try await usersync(["groups", "tree"])
        #expect(tree.status == 0)
        let lines = tree.standardOutput.split(separator: "\n").map(String.init)
        #expect(lines.contains("l1  (1 / 6)"), "\(tree.output)")
        #expect(lines.contains("├── l2  (1 / 4)"))
        #expect(lines.contains("│           └── l5  (1 / 1)"), "five levels deep")
        #expect(lines.filter { $0.hasSuffix("shared  (1 / 1)  [2 parents]") }.count == 2, "drawn under both parents")
        #expect(lines.contains { $0.contains("↻ cyclea  (cycle)") })
        let shallow = try await usersync(["groups", "tree", "--depth", "2"])
        #expect(!shallow.output.contains("l4  ("))
        let mermaid = try await usersync(["groups", "tree", "--format", "mermaid"])
        #expect(mermaid.output.hasPrefix("graph TD") && mermaid.output.contains("-->"))
        let dot = try await usersync(["groups", "tree", "--format", "dot"])
        #expect(dot.output.hasPrefix("digraph groups {") && dot.output.contains("->"))

        let show = try await usersync(["groups", "show", "shared", "--json"])
        #expect(show.json?["parents"] as? [String] == ["l1", "other"])
        let l3 = try await usersync(["groups", "show", "l3", "--json"])
        #expect(l3.json?["effectiveMembers"] as? [String] == ["user00003", "user00004", "user00005"])
        let user = try await usersync(["users", "show", "user00005"])
        #expect(user.output.contains("groups: l5; through nesting: l1, l2, l3, l4"), "\(user.output)")
    }

    @Test("users show and runs show --records give a CSV user's last record and the run's group records, each with where it came from")
    func csvRecords() async throws {
        let directory = try Shell.temporaryDirectory("usersync-cli-csv-records")
        Cleanup.atExit { try? FileManager.default.removeItem(at: directory) }
        let csv = directory.appendingPathComponent("people.csv").path
        try "id,login,mail,groups\n1,ann,ann@example.com,Sales/EMEA\n2,bob,bob@example.com,Staff\n"
            .write(toFile: csv, atomically: true, encoding: .utf8)
        let config = directory.appendingPathComponent("usersync.yaml").path
        try """
            store: { sqlite: \(directory.appendingPathComponent("users.db").path) }
            sources:
              - name: people
                type: csv
                path: \(csv)
                idColumn: id
                groupsColumn: { column: groups, separator: "|", pathSeparator: "/" }
                mapping: { username: login, email: mail }
            """.write(toFile: config, atomically: true, encoding: .utf8)
        let sync = try await UserSyncBinary.run(["sync", "-q", "--json", "--config", config])
        #expect(sync.status == 0, "\(sync.output)")
        let runId = try #require(sync.json?["runId"] as? Int)

        let bob = try await UserSyncBinary.run(["users", "show", "bob", "--config", config])
        #expect(bob.output.contains("last record received (run \(runId)):\n  # \(csv) line 3\n"), "\(bob.output)")
        #expect(bob.output.contains("  login: bob\n"))
        let json = try await UserSyncBinary.run(["users", "show", "bob", "--json", "--config", config])
        #expect((json.json?["lastRecord"] as? [String: Any])?["dn"] as? String == "\(csv):3", "the JSON field keeps its name and text")

        let records = try await UserSyncBinary.run(["runs", "show", String(runId), "--records", "--config", config])
        #expect(records.output.contains("# \(csv) line 2\n"), "\(records.output)")
        #expect(records.output.contains("# group Sales/EMEA\ncn: EMEA\nid: Sales/EMEA\nmemberOf: Sales\n"), "\(records.output)")
    }
}
