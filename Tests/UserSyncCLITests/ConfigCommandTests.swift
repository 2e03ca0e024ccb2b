import DirectoryFixtures
import Foundation
import Testing

func writeTemporary(_ text: String, suffix: String = ".yaml") throws -> String {
    let path = "/tmp/usersync-config-\(UUID().uuidString)\(suffix)"
    try text.write(toFile: path, atomically: true, encoding: .utf8)
    Cleanup.atExit { unlink(path) }
    return path
}

func slapdConfig(_ slapd: Slapd, passwordFile: String, extraSource: String = "") -> String {
    """
    store:
      sqlite: /tmp/usersync-unused.db
    sources:
      - name: people
        type: ldap
        uri: ldap://127.0.0.1:1 \(slapd.ldapsURI)
        bindDN: \(Slapd.readerDN)
        passwordFile: \(passwordFile)
        tls: { caFile: \(slapd.ca.caFile) }
        users:
          base: \(Slapd.peopleBase)
          filter: (objectClass=inetOrgPerson)
          pageSize: 40
        mapping:
          username: { from: uid, lowercase: true }
          email: mail
    \(extraSource)
    """
}

@Suite("usersync with a configuration file")
struct ConfigCommandTests {
    @Test("test-bind --config --source tests the configured source")
    func testBindConfiguredSource() async throws {
        let slapd = try await CLISlapd.server()
        let config = try writeTemporary(slapdConfig(slapd, passwordFile: try CLISlapd.passwordFile(Slapd.readerPassword)))
        let result = try await UserSyncBinary.run(["test-bind", "--config", config, "--source", "people", "--json"])
        #expect(result.status == 0, "\(result.output)")
        let json = try #require(result.json)
        #expect(json["uri"] as? String == slapd.ldapsURI)           // after the dead first URI
        #expect((json["skippedServers"] as? [String])?.count == 1)
        #expect(json["boundAs"] as? String == "dn:\(Slapd.readerDN)")
        #expect(json["count"] as? Int == 300)
        #expect((json["search"] as? [String: Any])?["pages"] as? Int == 8)

        // The only source is chosen without --source; the file is found through USERSYNC_CONFIG.
        let implicit = try await UserSyncBinary.run(["test-bind"], environment: ["USERSYNC_CONFIG": config])
        #expect(implicit.status == 0, "\(implicit.output)")
        #expect(implicit.output.contains("300 entries"))
    }

    @Test("test-bind --config: wrong source names, bad files and missing passwords are configuration errors")
    func testBindConfigurationErrors() async throws {
        let slapd = try await CLISlapd.server()
        let config = try writeTemporary(slapdConfig(slapd, passwordFile: "/nonexistent/pw"))
        let noPassword = try await UserSyncBinary.run(["test-bind", "--config", config])
        #expect(noPassword.status == 2, "\(noPassword.output)")
        #expect(noPassword.output.contains("/nonexistent/pw"))
        let wrongName = try await UserSyncBinary.run(["test-bind", "--config", config, "--source", "peeple"])
        #expect(wrongName.status == 2)
        #expect(wrongName.output.contains("Did you mean 'people'?"))
        let both = try await UserSyncBinary.run(["test-bind", "--config", config, "-H", slapd.uri])
        #expect(both.status == 64, "\(both.output)")
        let broken = try writeTemporary("store:\n  sqlite: x\nsources:\n  - name: a\n    typ: ldap\n")
        let brokenRun = try await UserSyncBinary.run(["test-bind", "--config", broken])
        #expect(brokenRun.status == 2)
        #expect(brokenRun.output.contains(":5:5: sources[0].typ: unknown key"))
    }

    @Test("mapping check: 0 for a valid file, 2 with every problem and its line otherwise")
    func mappingCheck() async throws {
        let slapd = try await CLISlapd.server()
        let good = try writeTemporary(slapdConfig(slapd, passwordFile: "/x"))
        let ok = try await UserSyncBinary.run(["mapping", "check", "--config", good])
        #expect(ok.status == 0, "\(ok.output)")
        #expect(ok.output.contains("valid (1 source: people)"))

        let bad = try writeTemporary(slapdConfig(slapd, passwordFile: "/x")
            .replacingOccurrences(of: "      pageSize: 40", with: "      pagesize: 40")
            .replacingOccurrences(of: "email: mail", with: "email: { form: mail }"))
        let failed = try await UserSyncBinary.run(["mapping", "check", "--config", bad, "--json"])
        #expect(failed.status == 2, "\(failed.output)")
        let json = try #require(failed.json)
        #expect(json["valid"] as? Bool == false)
        let problems = try #require(json["problems"] as? [[String: Any]])
        #expect(problems.count == 2)
        #expect(problems.contains { $0["path"] as? String == "sources[0].users.pagesize" && $0["suggestion"] as? String == "pageSize" && $0["line"] as? Int == 13 })
        #expect(problems.contains { $0["path"] as? String == "sources[0].mapping.email.form" && $0["suggestion"] as? String == "from" })
    }
}
