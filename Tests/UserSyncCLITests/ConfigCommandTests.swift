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
        let password = try CLISlapd.passwordFile(Slapd.readerPassword)
        let good = try writeTemporary(slapdConfig(slapd, passwordFile: password))
        let ok = try await UserSyncBinary.run(["mapping", "check", "--config", good])
        #expect(ok.status == 0, "\(ok.output)")
        #expect(ok.output.contains("valid (1 source: people; attribute names found in the schema"), "\(ok.output)")

        // A password file that does not exist is a problem, not "valid".
        let missing = try await UserSyncBinary.run(["mapping", "check", "--config", try writeTemporary(slapdConfig(slapd, passwordFile: "/x"))])
        #expect(missing.status == 2, "\(missing.output)")
        #expect(missing.output.contains("sources[0].passwordFile: the password file '/x' does not exist"), "\(missing.output)")

        let bad = try writeTemporary(slapdConfig(slapd, passwordFile: password)
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

    @Test("a password file other users can read: sync and test-bind warn and go on, mapping check reports a problem")
    func exposedPasswordFile() async throws {
        let slapd = try await CLISlapd.server()
        let open = try CLISlapd.passwordFile(Slapd.readerPassword, mode: 0o644)
        let config = try writeTemporary(slapdConfig(slapd, passwordFile: open).replacingOccurrences(
            of: "/tmp/usersync-unused.db", with: "/tmp/usersync-exposed-\(UUID().uuidString).db"))
        let warning = "the secret file '\(open)' is readable by every user of the machine (mode 644): run 'chmod 600 \(open)'"

        let check = try await UserSyncBinary.run(["mapping", "check", "--config", config, "--offline"])
        #expect(check.status == 2, "\(check.output)")
        #expect(check.output.contains("sources[0].passwordFile: \(warning)"), "\(check.output)")

        let bind = try await UserSyncBinary.run(["test-bind", "--config", config])
        #expect(bind.status == 0, "\(bind.output)")
        #expect(bind.output.contains(warning), "\(bind.output)")

        let sync = try await UserSyncBinary.run(["sync", "--config", config, "--json"])
        #expect(sync.status == 0, "\(sync.output)")
        #expect(sync.output.contains(warning), "\(sync.output)")
        #expect(!sync.output.contains(Slapd.readerPassword))

        try FileManager.default.setAttributes([.posixPermissions: 0o600], ofItemAtPath: open)
        let fixed = try await UserSyncBinary.run(["mapping", "check", "--config", config, "--offline"])
        #expect(fixed.status == 0, "\(fixed.output)")
    }

    @Test("an inherited LDAPTLS_REQCERT=never or tls.verify: never does not let a sync send its password unverified; every run logs the check and its origin")
    func unverifiedTLSRefused() async throws {
        let slapd = try await CLISlapd.server()
        let password = try CLISlapd.passwordFile(Slapd.readerPassword)
        let store = "/tmp/usersync-reqcert-\(UUID().uuidString).db"
        Cleanup.atExit { unlink(store); unlink(store + "-wal"); unlink(store + "-shm"); unlink(store + ".lock") }
        // No CA in the file: only the environment's LDAPTLS_REQCERT=never would let TLS succeed.
        let plain = slapdConfig(slapd, passwordFile: password)
            .replacingOccurrences(of: "/tmp/usersync-unused.db", with: store)
            .replacingOccurrences(of: "    tls: { caFile: \(slapd.ca.caFile) }\n", with: "")
        let config = try writeTemporary(plain)
        let refused = try await UserSyncBinary.run(["sync", "--config", config, "--json"], environment: ["LDAPTLS_REQCERT": "never"])
        #expect(refused.status == 6, "\(refused.output)")
        #expect((refused.json?["error"] as? String)?.contains("the server's certificate is not verified (TLS_REQCERT never, from the environment variable LDAPTLS_REQCERT)") == true,
                "\(refused.output)")
        #expect(!refused.output.contains(Slapd.readerPassword))

        // The source says so: the run goes on, and the log says how the certificate was (not) checked.
        let allowed = try writeTemporary(plain.replacingOccurrences(of: "    bindDN:", with: "    allowInsecure: true\n    bindDN:"))
        let run = try await UserSyncBinary.run(["sync", "--config", allowed, "--json"], environment: ["LDAPTLS_REQCERT": "never"])
        #expect(run.status == 0, "\(run.output)")
        #expect(run.output.contains("directory connected") && run.output.contains("\"verify\":\"never\"")
                && run.output.contains("\"verifyFrom\":\"the environment variable LDAPTLS_REQCERT\""), "\(run.output)")

        // With the CA the check is libldap's default, demand, and the log says that too.
        let verified = try writeTemporary(slapdConfig(slapd, passwordFile: password).replacingOccurrences(of: "/tmp/usersync-unused.db", with: store))
        let good = try await UserSyncBinary.run(["sync", "--config", verified, "--json"])
        #expect(good.status == 0, "\(good.output)")
        #expect(good.output.contains("\"verify\":\"demand\"") && good.output.contains("\"verifyFrom\":\"libldap's default\""), "\(good.output)")

        // tls.verify: never in the file is refused as HTTP sources refuse it, unless allowInsecure.
        let never = try writeTemporary(plain.replacingOccurrences(of: "    users:", with: "    tls: { verify: never }\n    users:"))
        let check = try await UserSyncBinary.run(["mapping", "check", "--config", never, "--offline"])
        #expect(check.status == 2, "\(check.output)")
        #expect(check.output.contains("sources[0].tls.verify: never accepts any server's certificate"), "\(check.output)")
    }

    @Test("--json prints one error object on standard output for every failure: no file, a broken file, a store that cannot open, a bad argument")
    func jsonErrors() async throws {
        let broken = try writeTemporary("store:\n  sqlite: x\nsources:\n  - name: a\n    typ: ldap\n")
        let noStore = try writeTemporary("""
            store:
              sqlite: /nonexistent/folder/users.db
            sources:
              - { name: a, type: csv, path: /tmp/x.csv, idColumn: id, mapping: { username: login } }
            """)
        let cases: [([String], Int32, String, String)] = [
            (["sync", "--json", "--config", "/nonexistent/usersync.yaml"], 2, "configuration", "/nonexistent/usersync.yaml: no such file"),
            (["sync", "--json", "--config", broken], 2, "configuration", "sources[0].typ: unknown key"),
            (["status", "--json", "--config", broken], 2, "configuration", "sources[0].typ: unknown key"),
            (["runs", "--json", "--config", noStore], 2, "configuration", "'/nonexistent/folder' does not exist"),
            (["users", "--json", "--config", noStore], 2, "configuration", "'/nonexistent/folder' does not exist"),
            (["groups", "tree", "--json", "--config", noStore], 2, "configuration", "'/nonexistent/folder' does not exist"),
            (["sync", "--json", "--wait=-1", "--config", broken], 64, "usage", "--wait must be 0 or more seconds"),
        ]
        for (arguments, status, kind, message) in cases {
            let result = try await UserSyncBinary.run(arguments)
            #expect(result.status == status, "\(arguments): \(result.output)")
            let json = try #require(result.json, "\(arguments): standard output is not one JSON object: '\(result.standardOutput)'")
            #expect(json["status"] as? String == "failed")
            #expect(json["errorKind"] as? String == kind, "\(arguments): \(json)")
            #expect(json["exitCode"] as? Int == Int(status))
            #expect((json["error"] as? String)?.contains(message) == true, "\(arguments): \(json)")
        }
        // test-bind's report carries its own error object (kind, message, hint).
        let bind = try await UserSyncBinary.run(["test-bind", "--json", "--config", broken])
        #expect(bind.status == 2)
        let error = try #require(bind.json?["error"] as? [String: Any], "\(bind.standardOutput)")
        #expect(error["kind"] as? String == "configuration" && (error["message"] as? String)?.contains("unknown key") == true)
    }
}
