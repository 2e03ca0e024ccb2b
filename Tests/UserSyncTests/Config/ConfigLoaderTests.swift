import DirectoryFixtures
import Foundation
import LDAP
import Testing
@testable import UserSync

/// The repository's root, for the schema and example files.
let repositoryRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent().deletingLastPathComponent()

func parse(_ yaml: String) throws(ConfigErrors) -> Configuration {
    try ConfigLoader.parse(yaml, file: "test.yaml")
}

func problems(_ yaml: String) -> [ConfigProblem] {
    do {
        _ = try parse(yaml)
        return []
    } catch {
        return error.problems
    }
}

let minimal = """
store:
  sqlite: /tmp/users.db
sources:
  - name: corp
    type: ldap
    uri: ldaps://dc1.example.com
    users:
      base: dc=example,dc=com
    mapping:
      username: uid
"""

@Suite("Configuration file")
struct ConfigLoaderTests {
    @Test("schedules and the status address: read as written, and every mistake named")
    func schedules() throws {
        let config = try ConfigLoader.load(repositoryRoot.appendingPathComponent("examples/openldap.yaml").path)
        #expect(config.serve.listen == "127.0.0.1:9464")
        let schedule = try #require(config.sources[0].schedule)
        #expect(schedule.kind == .every(.seconds(900)))
        #expect(schedule.jitter == .seconds(60))
        #expect(schedule.runAtStart)
        let scim = try ConfigLoader.load(repositoryRoot.appendingPathComponent("examples/scim.yaml").path)
        #expect(scim.sources[0].schedule?.kind == .cron(try CronExpression("5 * * * *")))

        func found(_ schedule: String, serve: String = "") -> [String] {
            problems(minimal.replacingOccurrences(of: "sources:", with: serve + "sources:") + "\n    schedule: \(schedule)").map(\.message)
        }
        #expect(found("{ every: 15 minutes }") == ["expected a duration of at least 1s such as 90s, 15m, 1h or 1h30m, found '15 minutes'"])
        #expect(found("{ cron: \"*/15 * * *\" }").first?.contains("expected 5 fields") == true)
        #expect(found("{ every: 15m, cron: \"@hourly\" }") == ["give every (\"15m\") or cron (\"*/15 * * * *\"), one of them"])
        #expect(found("{ every: 15m, jiter: 1m }").first?.contains("unknown key") == true)
        #expect(found("{ every: 15m }", serve: "serve: { listen: localhost }\n") == [
            "expected host:port (\"127.0.0.1:9464\"; \"0.0.0.0:9464\" for every address), found 'localhost'"])
    }

    @Test("the console: off by default; on, it needs a credential or the loopback exception on a loopback address")
    func console() throws {
        #expect(try parse(minimal).serve.console == false)
        func serve(_ text: String) -> String { minimal.replacingOccurrences(of: "sources:", with: "serve:\n" + text + "\nsources:") }
        let on = try parse(serve("""
              listen: 127.0.0.1:9464
              console: true
              consoleAccess: { user: ops, passwordFile: /etc/usersync/console.pw, tokenFile: /etc/usersync/console.token }
            """)).serve
        #expect(on.console && on.consoleAccess.user == "ops" && on.consoleAccess.passwordFile == "/etc/usersync/console.pw")
        #expect(on.consoleAccess.tokenFile == "/etc/usersync/console.token" && !on.consoleAccess.loopbackWithoutLogin)
        #expect(try parse(serve("  console: true\n  consoleAccess: { loopbackWithoutLogin: true }")).serve.consoleAccess.loopbackWithoutLogin)

        let bare = problems(serve("  console: true"))
        #expect(bare.count == 1 && bare[0].path == "serve.console" && bare[0].line == 4, "\(bare)")
        #expect(bare.first?.message.contains("serve.consoleAccess.passwordFile") == true)
        let open = problems(serve("  listen: 0.0.0.0:9464\n  console: true\n  consoleAccess: { loopbackWithoutLogin: true }"))
        #expect(open.map(\.path).contains("serve.consoleAccess.loopbackWithoutLogin"), "\(open)")
        #expect(open.first?.message.contains("only for a loopback listen address") == true)
        let both = problems(serve("  console: true\n  consoleAccess: { passwordFile: /a, passwordEnv: B }"))
        #expect(both.map(\.message) == ["give passwordFile or passwordEnv, not both"])
        let colon = problems(serve("  console: true\n  consoleAccess: { user: \"a:b\", passwordEnv: B }"))
        #expect(colon.first?.message.contains("cannot contain ':'") == true)
        // Turned off, the access settings may stay (nothing is asked of them).
        #expect(problems(serve("  console: false")).isEmpty)
    }

    @Test("the CSV example reads as written; a csv source refuses LDAP keys and needs path and idColumn")
    func csvSources() throws {
        let config = try ConfigLoader.load(repositoryRoot.appendingPathComponent("examples/csv.yaml").path)
        let source = try #require(config.source(named: "contractors"))
        #expect(source.type == .csv)
        #expect(source.csv?.path == "/data/contractors.csv")
        #expect(source.csv?.delimiter == ";")
        #expect(source.csv?.encoding == .utf8)
        #expect(source.stableID == "employee_id")
        #expect(source.csv?.groupsColumn?.separator == "|")
        #expect(source.csv?.groupsColumn?.pathSeparator == "/")
        #expect(source.groups?.membership == .memberOf)
        #expect(source.options.disabledUserAccountControlBit == 0)
        #expect(source.options.disabledWhenValue == SyncOptions.DisabledValue(attribute: "status", values: ["inactive", "left"]))
        #expect(!source.locatorIsDN)

        let found = problems("""
            store:
              sqlite: /tmp/users.db
            sources:
              - name: files
                type: csv
                uri: ldap://x.example.com
                delimiter: ";;"
                encoding: latin9
                mapping:
                  username: login
            """)
        let byPath = Dictionary(found.map { ($0.path, $0.message) }, uniquingKeysWith: { a, _ in a })
        #expect(byPath["sources[0].path"]?.hasPrefix("missing (required): give path (a local file) or url") == true)
        #expect(byPath["sources[0].idColumn"] == "missing (required)")
        #expect(byPath["sources[0].uri"] == "'uri' is not a key of csv sources (ldap sources take it)")
        #expect(byPath["sources[0].delimiter"]?.contains("expected one character") == true)
        #expect(byPath["sources[0].encoding"]?.contains("'latin9' is not one of utf-8, latin1") == true)

        let ldapWithPath = problems(minimal + "\n    path: /tmp/x.csv")
        #expect(ldapWithPath.map(\.message) == ["'path' is not a key of ldap sources (csv sources take it)"])

        let tab = try parse(minimal.replacingOccurrences(of: "type: ldap\n    uri: ldaps://dc1.example.com\n    users:\n      base: dc=example,dc=com",
                                                         with: "type: csv\n    path: /tmp/x.tsv\n    idColumn: id\n    delimiter: tab"))
        #expect(tab.sources[0].csv?.delimiter == "\t")
    }

    @Test("the Active Directory example reads as written")
    func activeDirectoryExample() throws {
        let config = try ConfigLoader.load(repositoryRoot.appendingPathComponent("examples/active-directory.yaml").path)
        #expect(config.store == .sqlite("/var/lib/usersync/users.db"))
        #expect(config.log?.directory == "/var/log/usersync")
        #expect(config.log?.retentionDays == 30)
        let corp = try #require(config.source(named: "corp"))
        #expect(corp.ldap?.connection.uris == ["ldaps://dc1.corp.example.com", "ldaps://dc2.corp.example.com"])
        #expect(corp.ldap?.bindDN == "CN=svc-usersync,OU=Service,DC=corp,DC=example,DC=com")
        #expect(corp.ldap?.passwordFile == "/etc/usersync/corp.pw")
        #expect(corp.ldap?.connection.tls == TLSOptions(verify: .demand, caFile: "/etc/usersync/corp-ca.pem"))
        #expect(corp.stableID == "objectGUID")
        #expect(corp.ldap?.users.filter == "(&(objectClass=user)(objectCategory=person))")
        #expect(corp.ldap?.users.pageSize == 500)
        var username = FieldRule(from: "sAMAccountName")
        username.lowercase = true
        #expect(corp.mapping[.username] == username)
        #expect(corp.mapping[.firstName] == FieldRule(from: "givenName"))
        #expect(corp.mapping[.displayName]?.template == "{givenName} {sn}")
        #expect(corp.mapping[.manager]?.rdnValue == true)
        #expect(corp.mapping.attributes["department"] == FieldRule(from: "department"))
        #expect(corp.mapping.attributes["sid"]?.format == .sid)
        #expect(corp.options.maxDeactivations == .percent(10))
        #expect(corp.options.disabledUserAccountControlBit == 2)
        #expect(corp.options.deactivateMissing)
    }

    @Test("the OpenLDAP example reads as written")
    func openLDAPExample() throws {
        let config = try ConfigLoader.load(repositoryRoot.appendingPathComponent("examples/openldap.yaml").path)
        let ldap = try #require(config.sources.first)
        #expect(ldap.ldap?.connection.uris == ["ldap://ldap1.example.com", "ldap://ldap2.example.com"])
        #expect(ldap.ldap?.connection.startTLS == true)
        #expect(ldap.ldap?.passwordEnv == "LDAP_PW")
        #expect(ldap.mapping.attributes["phones"]?.join == ", ")
        #expect(ldap.options.requiredFields == ["username", "email"])
        #expect(ldap.options.maxDeactivations == .absolute(25))
        #expect(ldap.options.maxUsers == 5000)
    }

    @Test("defaults are safe")
    func defaults() throws {
        let source = try #require(try parse(minimal).sources.first)
        #expect(source.ldap?.allowInsecure == false)
        #expect(source.options.maxDeactivations == .percent(10))
        #expect(source.options.adoptExistingBy == .none)
        #expect(source.options.requiredFields == ["username"])
        #expect(source.ldap?.users.scope == .sub)
        #expect(source.mapping[.username]?.trim == true)
        #expect(source.ldap?.incremental == IncrementalSettings(method: .off, fullEvery: .seconds(86400)), "full reads unless asked")
    }

    @Test("incremental: the method and fullEvery as written; a wrong method or a too short fullEvery at its line")
    func incremental() throws {
        let given = minimal.replacingOccurrences(of: "    mapping:", with: "    incremental: { method: auto, fullEvery: 6h }\n    mapping:")
        #expect(try parse(given).sources[0].ldap?.incremental == IncrementalSettings(method: .auto, fullEvery: .seconds(6 * 3600)))
        let wrong = problems(minimal.replacingOccurrences(of: "    mapping:", with: "    incremental: { method: dirsinc, fullEvery: 10s }\n    mapping:"))
        #expect(wrong.contains { $0.path == "sources[0].incremental.method" && $0.line == 9 && $0.suggestion == "dirsync" }, "\(wrong)")
        #expect(wrong.contains { $0.path == "sources[0].incremental.fullEvery" && $0.message.contains("at least 1m") }, "\(wrong)")
    }

    @Test("a misspelt key names the file, line and key and suggests the right one")
    func unknownKey() {
        let found = problems(minimal.replacingOccurrences(of: "      base:", with: "      bse:"))
        let bse = found.first { $0.path == "sources[0].users.bse" }
        #expect(bse?.line == 8)
        #expect(bse?.suggestion == "base")
        #expect(bse?.description.hasPrefix("test.yaml:8:7: sources[0].users.bse: unknown key") == true)
        // The required `base` it stands for is not reported a second time as missing.
        #expect(!found.contains { $0.path == "sources[0].users.base" })
        #expect(found.count == 1)
    }

    @Test("every problem is reported at once, each with its line")
    func everyProblem() {
        let yaml = """
        store:
          sqlite: /tmp/users.db
        sources:
          - name: corp
            type: ldapp
            uri: http://dc1
            passwordfile: /x
            users:
              base: "cn=a,"
              filter: (uid=a
              pageSize: 0
            mapping:
              username: { frm: uid }
              emial: mail
            options:
              maxDeactivations: lots
              requiredFields: [ username, mail ]
        """
        let found = problems(yaml)
        func at(_ path: String) -> ConfigProblem? { found.first { $0.path == path } }
        #expect(at("sources[0].type")?.suggestion == "ldap")
        #expect(at("sources[0].type")?.line == 5)
        #expect(at("sources[0].uri")?.message.contains("not an LDAP URI") == true)
        #expect(at("sources[0].passwordfile")?.suggestion == "passwordFile")
        #expect(at("sources[0].users.base")?.line == 9)
        #expect(at("sources[0].users.filter")?.message.contains("not closed") == true)
        #expect(at("sources[0].users.pageSize") != nil)
        #expect(at("sources[0].mapping.username.frm")?.suggestion == "from")
        #expect(at("sources[0].mapping.emial")?.suggestion == "email")
        #expect(at("sources[0].options.maxDeactivations")?.line == 16)
        #expect(at("sources[0].options.requiredFields")?.suggestion == "email")
        #expect(found.count >= 10)
    }

    @Test("broken YAML is reported with its line")
    func brokenYAML() {
        let found = problems("store:\n  sqlite: [unclosed\nsources: []\n")
        #expect(found.count == 1)
        #expect(found.first?.message.hasPrefix("not valid YAML") == true)
        #expect(found.first?.line != nil)
    }

    @Test("files that cannot be read, and the search order")
    func locate() {
        #expect(problems("").first?.message == "the file is empty")
        #expect(throws: ConfigErrors.self) { try ConfigLoader.load("/nonexistent/usersync.yaml") }
        #expect(ConfigLoader.locate(explicit: "/a.yaml", environment: ["USERSYNC_CONFIG": "/b.yaml"]) == "/a.yaml")
        #expect(ConfigLoader.locate(explicit: nil, environment: ["USERSYNC_CONFIG": "/b.yaml"]) == "/b.yaml")
    }

    @Test("source names are unique and password settings consistent")
    func sourceChecks() {
        let twice = minimal + "\n" + """
          - name: corp
            type: ldap
            uri: ldap://x
            bindDN: cn=a
            users: { base: "dc=x" }
            mapping: { username: uid }
        """
        let found = problems(twice)
        #expect(found.contains { $0.message.contains("used by another source") })
        #expect(found.contains { $0.path == "sources[1].bindDN" && $0.message.contains("needs a password") })
    }

    @Test("templates and maxDeactivations forms")
    func rules() throws {
        #expect(TemplateParts("{givenName} {sn}")?.parts == [.attribute("givenName"), .text(" "), .attribute("sn")])
        #expect(TemplateParts("{a") == nil)
        #expect(TemplateParts("a}") == nil)
        #expect(TemplateParts("{}") == nil)
        let bad = problems(minimal.replacingOccurrences(of: "username: uid", with: "username: uid\n      displayName: { template: \"{givenName\" }"))
        #expect(bad.contains { $0.path == "sources[0].mapping.displayName.template" })
        let percent = try parse(minimal + "\n    options: { maxDeactivations: \"2.5%\" }")
        #expect(percent.sources.first?.options.maxDeactivations == .percent(2.5))
    }
}

@Suite("Configuration schema")
struct ConfigSchemaTests {
    static func schema() throws -> [String: Any] {
        let data = try Data(contentsOf: repositoryRoot.appendingPathComponent("schemas/usersync.schema.json"))
        return try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
    }

    /// The node at `path`; a step `anyOf:N` is the Nth choice of an anyOf.
    static func node(_ object: Any?, _ path: [String]) -> [String: Any]? {
        var node = object as? [String: Any]
        for step in path {
            if step.hasPrefix("anyOf:"), let index = Int(step.dropFirst(6)) {
                let choices = node?["anyOf"] as? [[String: Any]]
                node = choices.flatMap { index < $0.count ? $0[index] : nil }
            } else {
                node = node?[step] as? [String: Any]
            }
        }
        return node
    }

    static func keys(_ object: Any?, _ path: [String]) -> Set<String>? {
        (node(object, path)?["properties"] as? [String: Any]).map { Set($0.keys) }
    }

    @Test("the schema and the decoder accept the same keys, and nothing else")
    func sameKeys() throws {
        let schema = try Self.schema()
        let source = ["$defs", "source"]
        let cases: [([String], [String])] = [
            ([], ConfigLoader.Keys.root),
            (["properties", "store"], ConfigLoader.Keys.store),
            (["properties", "log"], ConfigLoader.Keys.log),
            (["properties", "serve"], ConfigLoader.Keys.serve),
            (["properties", "serve", "properties", "consoleAccess"], ConfigLoader.Keys.consoleAccess),
            (source + ["properties", "schedule"], ConfigLoader.Keys.schedule),
            (source, ConfigLoader.Keys.source),
            (source + ["properties", "tls"], ConfigLoader.Keys.tls),
            (source + ["properties", "users", "anyOf:0"], ConfigLoader.Keys.users),
            (source + ["properties", "users", "anyOf:1"], ConfigLoader.Keys.entraUsers),
            (source + ["properties", "groups", "anyOf:0"], ConfigLoader.Keys.groups),
            (source + ["properties", "groups", "anyOf:1"], ConfigLoader.Keys.entraGroups),
            (source + ["properties", "users", "anyOf:2"], ConfigLoader.Keys.oktaUsers),
            (source + ["properties", "groups", "anyOf:2"], ConfigLoader.Keys.oktaGroups),
            (source + ["properties", "oauth"], ConfigLoader.Keys.oktaOAuth),
            (source + ["properties", "certificate"], ConfigLoader.Keys.certificate),
            (source + ["properties", "incremental"], ConfigLoader.Keys.incremental),
            (source + ["properties", "mapping"], ConfigLoader.Keys.mapping),
            (source + ["properties", "options"], ConfigLoader.Keys.options),
            (source + ["properties", "options", "properties", "disabledWhen"], ConfigLoader.Keys.disabledWhen),
            (["$defs", "target"], ConfigLoader.Keys.target),
            (["$defs", "target", "properties", "users"], ConfigLoader.Keys.targetUsers),
        ]
        for (path, decoderKeys) in cases {
            #expect(Self.keys(schema, path) == Set(decoderKeys), "at \(path)")
            #expect(Self.node(schema, path)?["additionalProperties"] as? Bool == false, "at \(path)")
        }
        let ruleObject = ((schema["$defs"] as? [String: Any])?["rule"] as? [String: Any])?["oneOf"] as? [[String: Any]]
        let ruleKeys = ruleObject?.compactMap { ($0["properties"] as? [String: Any]).map { Set($0.keys) } }.first
        #expect(ruleKeys == Set(ConfigLoader.Keys.rule))
        // Every enum in the schema matches the decoder's.
        let options = ((schema["$defs"] as? [String: Any])?["source"] as? [String: Any])
        let adopt = ((((options?["properties"] as? [String: Any])?["options"] as? [String: Any])?["properties"] as? [String: Any])?["adoptExistingBy"] as? [String: Any])?["enum"] as? [String]
        #expect(adopt == SyncOptions.AdoptBy.allCases.map(\.rawValue))
        let target = ((schema["$defs"] as? [String: Any])?["target"] as? [String: Any])?["properties"] as? [String: Any]
        let groupObject = ((target?["groups"] as? [String: Any])?["oneOf"] as? [[String: Any]])?.compactMap { $0["properties"] as? [String: Any] }.first
        #expect(groupObject.map { Set($0.keys) } == Set(ConfigLoader.Keys.targetGroups))
        #expect((target?["onDeactivate"] as? [String: Any])?["enum"] as? [String] == TargetSettings.OnDeactivate.allCases.map(\.rawValue))
    }

    @Test("every example config in the repository validates against the schema and loads")
    func examplesValidate() async throws {
        let examples = try FileManager.default.contentsOfDirectory(atPath: repositoryRoot.appendingPathComponent("examples").path)
            .filter { $0.hasSuffix(".yaml") }.map { repositoryRoot.appendingPathComponent("examples/\($0)").path }
        #expect(examples.count >= 2)
        let result = try await runSchemaCheck(examples)
        #expect(result.status == 0, "\(result.output)")
        for file in examples { _ = try ConfigLoader.load(file) }

        // And the checker does reject a wrong file: the test is not a formality.
        let wrong = FileManager.default.temporaryDirectory.appendingPathComponent("usersync-wrong-\(UUID()).yaml").path
        try minimal.replacingOccurrences(of: "      base:", with: "      bse:").write(toFile: wrong, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: wrong) }
        let rejected = try await runSchemaCheck([wrong])
        #expect(rejected.status != 0)
        #expect(rejected.output.contains("bse"))
    }

    func runSchemaCheck(_ files: [String]) async throws -> (status: Int32, output: String) {
        try await Shell.run("/usr/bin/python3", [repositoryRoot.appendingPathComponent("scripts/check-config-schema.py").path,
                                          repositoryRoot.appendingPathComponent("schemas/usersync.schema.json").path] + files,
                      allowFailure: true)
    }
}
