import DirectoryFixtures
import Foundation
import Testing

/// A store the console shows, made as an administrator makes one: a real slapd with 120 users
/// (three of them with a userPassword the mapping reads by mistake), the nested sample group
/// tree (five levels, a group with two parents, a cycle) and a group named in markup, synced
/// twice with changes between,
/// plus a source whose server is down (a failed run); then `usersync serve` with the console on.
struct ConsoleFixture {
    /// A password the directory holds for user00001..3: it must never appear on a page.
    static let directoryPassword = "Pa55-in-the-directory-7Q"
    static let consolePassword = "console-login-9Xk"
    static let token = "console-token-4Rz"
    static let markupGroup = "R&D <b>Ops</b>"

    let slapd: Slapd
    let directory: URL
    let config: String
    let log: String
    let pid: pid_t
    let base: String

    /// - Parameter store: the configuration's `store:` section (default: a SQLite file).
    static func start(_ name: String, access: String? = nil, store: String? = nil) async throws -> ConsoleFixture {
        // A group whose name is markup: it must show as text, never as HTML.
        let markup = """
            dn: cn=R&D \\3Cb\\3EOps\\3C/b\\3E,ou=groups,\(Slapd.suffix)
            objectClass: groupOfNames
            cn: \(markupGroup)
            member: \(Slapd.userDN(9))


            """
        let slapd = try await Slapd.start(users: 120, extraLDIF: Slapd.sampleGroupTree + markup)
        let directory = try Shell.temporaryDirectory("usersync-console-\(name)")
        Cleanup.atExit { try? FileManager.default.removeItem(at: directory) }
        try await slapd.modify((1...3).map { """
            dn: \(Slapd.userDN($0))
            changetype: modify
            add: userPassword
            userPassword: \(directoryPassword)

            """ }.joined(separator: "\n"))
        let passwordFile = try CLISlapd.passwordFile(consolePassword)
        let tokenFile = try CLISlapd.passwordFile(token)
        let readerPassword = try CLISlapd.passwordFile(Slapd.readerPassword)
        let port = Shell.freePort()
        let config = directory.appendingPathComponent("usersync.yaml").path
        try """
            \(store ?? "store: { sqlite: \(directory.appendingPathComponent("users.db").path) }")
            serve:
              listen: 127.0.0.1:\(port)
              console: true
              consoleAccess: \(access ?? "{ user: ops, passwordFile: \(passwordFile), tokenFile: \(tokenFile) }")
            sources:
              - name: people
                type: ldap
                uri: \(slapd.ldapsURI)
                tls: { caFile: \(slapd.ca.caFile) }
                bindDN: \(Slapd.readerDN)
                passwordFile: \(readerPassword)
                users: { base: "\(Slapd.peopleBase)", filter: (objectClass=inetOrgPerson) }
                groups: { base: "ou=groups,\(Slapd.suffix)", filter: (objectClass=groupOfNames) }
                mapping:
                  username: { from: uid, lowercase: true }
                  email: mail
                  displayName: cn
                  attributes: { legacyPassword: userPassword }
              - name: down
                type: ldap
                uri: ldap://127.0.0.1:\(Shell.freePort())
                connectTimeout: 2
                users: { base: "\(Slapd.peopleBase)" }
                mapping: { username: uid }
            """.write(toFile: config, atomically: true, encoding: .utf8)
        let first = try await UserSyncBinary.run(["sync", "-q", "--config", config, "--source", "people"])
        #expect(first.status == 0, "\(first.output)")
        // Run 2: a changed email, a user gone (deactivated), a group's member replaced by another.
        try await slapd.modify("""
            dn: \(Slapd.userDN(2))
            changetype: modify
            replace: mail
            mail: second@example.org

            dn: \(Slapd.userDN(7))
            changetype: delete

            dn: cn=l5,ou=groups,\(Slapd.suffix)
            changetype: modify
            replace: member
            member: \(Slapd.userDN(8))

            """)
        let second = try await UserSyncBinary.run(["sync", "-q", "--config", config, "--source", "people"])
        #expect(second.status == 0, "\(second.output)")
        let failed = try await UserSyncBinary.run(["sync", "-q", "--config", config, "--source", "down"])
        #expect(failed.status != 0, "\(failed.output)")

        let log = directory.appendingPathComponent("serve.log").path
        let pid = try Shell.spawn(UserSyncBinary.path, ["serve", "--config", config], output: log)
        try await offThePool { try Shell.waitForPort(port, timeout: 30, what: "usersync serve", log: log, process: pid) }
        return ConsoleFixture(slapd: slapd, directory: directory, config: config, log: log, pid: pid, base: "http://127.0.0.1:\(port)")
    }

    func stop() {
        kill(pid, SIGTERM)
        _ = Shell.wait(pid)
        slapd.stop()
    }

    struct Answer {
        var status: Int
        var headers: [String: String]
        var body: String
    }

    /// One HTTP request over loopback with python3's http.client: no redirect followed, no
    /// cookie kept; the answer's headers by lowercase name.
    func request(_ path: String, method: String = "GET", headers: [String: String] = [:], form: String? = nil) async throws -> Answer {
        let url = URL(string: base)!
        let headerJSON = String(data: try JSONSerialization.data(withJSONObject: headers), encoding: .utf8)!
        return try await offThePool {
            let (_, output) = try Shell.run("python3", ["-c", """
                import http.client, json, sys
                c = http.client.HTTPConnection(sys.argv[1], int(sys.argv[2]), timeout=60)
                headers = json.loads(sys.argv[5])
                body = sys.argv[6] if len(sys.argv) > 6 else None
                if body is not None: headers["Content-Type"] = "application/x-www-form-urlencoded"
                c.request(sys.argv[3], sys.argv[4], body=body, headers=headers)
                r = c.getresponse()
                print(json.dumps({"status": r.status, "headers": {k.lower(): v for k, v in r.getheaders()}}))
                sys.stdout.write(r.read().decode())
                """, url.host!, String(url.port!), method, path, headerJSON] + (form.map { [$0] } ?? []))
            let newline = output.firstIndex(of: "\n") ?? output.endIndex
            let head = try JSONSerialization.jsonObject(with: Data(output[..<newline].utf8)) as? [String: Any] ?? [:]
            return Answer(status: head["status"] as? Int ?? 0, headers: head["headers"] as? [String: String] ?? [:],
                          body: newline < output.endIndex ? String(output[output.index(after: newline)...]) : "")
        }
    }

    static var bearer: [String: String] { ["Authorization": "Bearer \(token)"] }
    static var basic: [String: String] { ["Authorization": "Basic " + Data("ops:\(consolePassword)".utf8).base64EncodedString()] }
}
