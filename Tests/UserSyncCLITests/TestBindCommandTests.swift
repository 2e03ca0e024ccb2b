import DirectoryFixtures
import Foundation
import Testing

/// Runs the built `usersync` executable, as an administrator would.
enum UserSyncBinary {
    static var path: String {
        // The test bundle sits in the same build directory as the executable.
        let bundle = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        return bundle.appendingPathComponent("usersync").path
    }

    struct Result {
        let status: Int32
        /// Standard output and standard error, interleaved.
        let output: String
        let seconds: Double
        /// Standard output alone.
        var standardOutput = ""
        /// Standard output as a JSON object.
        var json: [String: Any]? {
            (try? JSONSerialization.jsonObject(with: Data(standardOutput.utf8))) as? [String: Any]
        }
    }

    static func run(_ arguments: [String], environment: [String: String] = [:]) async throws -> Result {
        try await offThePool { try runBlocking(arguments, environment: environment) }
    }

    static func runBlocking(_ arguments: [String], environment: [String: String]) throws -> Result {
        guard FileManager.default.isExecutableFile(atPath: path) else {
            throw FixtureError("\(path) is missing: build it first (swift build)")
        }
        let started = Date()
        let out = "/tmp/usersync-cli-\(UUID().uuidString).out"
        let err = "/tmp/usersync-cli-\(UUID().uuidString).err"
        defer { unlink(out); unlink(err) }
        let pid = try Shell.spawn(path, arguments, environment: environment, output: out, errorOutput: err)
        let status = Shell.wait(pid)
        let standardOutput = (try? String(contentsOfFile: out, encoding: .utf8)) ?? ""
        let standardError = (try? String(contentsOfFile: err, encoding: .utf8)) ?? ""
        return Result(status: status, output: standardOutput + standardError, seconds: Date().timeIntervalSince(started),
                      standardOutput: standardOutput)
    }
}

enum CLISlapd {
    static let fixture = SharedFixture { try Slapd.startBlocking(users: 300) }

    static func server() async throws -> Slapd { try await fixture.get() }

    /// A password file as an administrator keeps it: mode 0600 unless `mode` says otherwise.
    static func passwordFile(_ password: String, mode: Int = 0o600) throws -> String {
        let path = "/tmp/usersync-pw-\(UUID().uuidString)"
        try (password + "\n").write(toFile: path, atomically: true, encoding: .utf8)
        try FileManager.default.setAttributes([.posixPermissions: mode], ofItemAtPath: path)
        Cleanup.atExit { unlink(path) }
        return path
    }
}

@Suite("usersync test-bind")
struct TestBindCommandTests {
    @Test("LDAPS with the CA, bind, search: exit 0 and every JSON field")
    func successJSON() async throws {
        let slapd = try await CLISlapd.server()
        let result = try await UserSyncBinary.run([
            "test-bind", "-H", slapd.ldapsURI, "--ca-file", slapd.ca.caFile, "-D", Slapd.readerDN,
            "-y", try CLISlapd.passwordFile(Slapd.readerPassword), "-b", Slapd.peopleBase,
            "--filter", "(objectClass=inetOrgPerson)", "--limit", "3", "--page-size", "50", "--json",
        ])
        #expect(result.status == 0, "\(result.output)")
        let json = try #require(result.json, "\(result.output)")
        #expect(json["uri"] as? String == slapd.ldapsURI)
        #expect(json["tls"] as? Bool == true)
        #expect(json["certificateVerification"] as? String == "demand")
        #expect(json["boundAs"] as? String == "dn:\(Slapd.readerDN)")
        #expect(json["vendor"] as? String == "OpenLDAP")
        #expect(json["namingContexts"] as? [String] == [Slapd.suffix])
        #expect(json["pagedResults"] as? Bool == true)
        #expect(json["inChain"] as? Bool == false)
        #expect(json["count"] as? Int == 300)
        #expect((json["entries"] as? [String])?.count == 3)
        #expect((json["search"] as? [String: Any])?["pages"] as? Int == 6)
        #expect(json["error"] == nil)
    }

    @Test("StartTLS, human output")
    func successText() async throws {
        let slapd = try await CLISlapd.server()
        let result = try await UserSyncBinary.run([
            "test-bind", "-H", slapd.uri, "-Z", "--ca-file", slapd.ca.caFile, "-D", Slapd.readerDN,
            "--password-env", "READER_PW", "-b", Slapd.peopleBase, "--limit", "2",
        ], environment: ["READER_PW": Slapd.readerPassword])
        #expect(result.status == 0, "\(result.output)")
        #expect(result.output.contains("Bound as:"))
        #expect(result.output.contains("dn:\(Slapd.readerDN) (simple bind)"))
        #expect(result.output.contains("on, StartTLS; certificate verified (demand)"))
        #expect(result.output.contains("Found:"))
        #expect(result.output.contains("301 entries"))  // the ou entry itself and 300 people
        #expect(result.output.contains("… 299 more"))
        #expect(result.output.contains("OK ("))
    }

    @Test("nothing listening: the unreachable exit code at once, not after the connect timeout")
    func unreachable() async throws {
        let port = Shell.freePort()
        // A 120 s connect timeout: a refused connection must end the attempt long before it. The
        // exact check is the message below (a connect that waited says "no answer within 120 s");
        // the wall-clock bound is loose, because on a CI machine busy with every other test the
        // process itself took 5 s and more to start.
        let result = try await UserSyncBinary.run(["test-bind", "-H", "ldap://127.0.0.1:\(port)", "--connect-timeout", "120", "--json"])
        #expect(result.status == 3, "\(result.output)")
        #expect(result.seconds < 100, "waited for the connect timeout: \(result.output)")
        let error = try #require(result.json?["error"] as? [String: Any])
        #expect(error["kind"] as? String == "unreachable")
        #expect((error["message"] as? String)?.contains("127.0.0.1:\(port)") == true)
        // Refused at once: the message says so, not that it waited.
        #expect((error["message"] as? String)?.contains("the connection to 127.0.0.1 port \(port) was refused") == true, "\(result.output)")
        #expect((error["message"] as? String)?.contains("within") == false)
        let unresolvable = try await UserSyncBinary.run(["test-bind", "-H", "ldap://no-such-host.invalid", "--json"])
        #expect(unresolvable.status == 3)
        #expect(((unresolvable.json?["error"] as? [String: Any])?["message"] as? String)?.contains("the host name 'no-such-host.invalid' does not resolve") == true,
                "\(unresolvable.output)")
    }

    @Test("a server that never answers: the unreachable exit code within the timeout")
    func silentServer() async throws {
        let listener = try SilentListener()
        let port = listener.port
        let result = try await UserSyncBinary.run(["test-bind", "-H", "ldap://127.0.0.1:\(port)", "--timeout", "2"])
        #expect(result.status == 3, "\(result.output)")
        // Under the 30 s default: the 2 s timeout ended it (with room: a loaded CI machine can take seconds just to start the process).
        #expect(result.seconds < 25)
        #expect(result.output.contains("error:"))
        _ = listener
    }

    @Test("a wrong password: the authentication exit code")
    func wrongPassword() async throws {
        let slapd = try await CLISlapd.server()
        let result = try await UserSyncBinary.run(["test-bind", "-H", slapd.ldapsURI, "--ca-file", slapd.ca.caFile,
                                             "-D", Slapd.readerDN, "-y", try CLISlapd.passwordFile("wrong")])
        #expect(result.status == 5, "\(result.output)")
        #expect(result.output.contains("Invalid credentials"))
        #expect(result.output.contains("hint: check the bind DN"))
    }

    @Test("a password over plain ldap://: refused with the insecure exit code, allowed with the flag")
    func insecureBind() async throws {
        let slapd = try await CLISlapd.server()
        let pw = try CLISlapd.passwordFile(Slapd.readerPassword)
        let refused = try await UserSyncBinary.run(["test-bind", "-H", slapd.uri, "-D", Slapd.readerDN, "-y", pw])
        #expect(refused.status == 6, "\(refused.output)")
        #expect(refused.output.contains("--allow-insecure-bind"))
        let allowed = try await UserSyncBinary.run(["test-bind", "-H", slapd.uri, "-D", Slapd.readerDN, "-y", pw, "--allow-insecure-bind"])
        #expect(allowed.status == 0, "\(allowed.output)")
        #expect(allowed.output.contains("not encrypted"))
    }

    @Test("LDAPS without the CA: the TLS exit code")
    func untrustedCertificate() async throws {
        let slapd = try await CLISlapd.server()
        let result = try await UserSyncBinary.run(["test-bind", "-H", slapd.ldapsURI, "--json"],
                                            environment: ["LDAPTLS_CACERT": "/etc/ssl/certs/ca-certificates.crt"])
        #expect(result.status == 4, "\(result.output)")
        #expect((result.json?["error"] as? [String: Any])?["kind"] as? String == "tls")
        // ldap.conf's environment form is honoured: with our CA in LDAPTLS_CACERT it works.
        let viaEnvironment = try await UserSyncBinary.run(["test-bind", "-H", slapd.ldapsURI], environment: ["LDAPTLS_CACERT": slapd.ca.caFile])
        #expect(viaEnvironment.status == 0, "\(viaEnvironment.output)")
        // So is LDAPTLS_REQCERT, and the output says the certificate was not checked.
        let unchecked = try await UserSyncBinary.run(["test-bind", "-H", slapd.ldapsURI], environment: ["LDAPTLS_REQCERT": "never"])
        #expect(unchecked.status == 0, "\(unchecked.output)")
        #expect(unchecked.output.contains("certificate NOT checked"))
    }

    @Test("a missing base: the search exit code, with the matched DN")
    func noSuchBase() async throws {
        let slapd = try await CLISlapd.server()
        let result = try await UserSyncBinary.run(["test-bind", "-H", slapd.ldapsURI, "--ca-file", slapd.ca.caFile,
                                             "-b", "ou=nowhere,\(Slapd.suffix)", "--json"])
        #expect(result.status == 7, "\(result.output)")
        let error = try #require(result.json?["error"] as? [String: Any])
        #expect(error["kind"] as? String == "noSuchObject")
        #expect(error["matchedDN"] as? String == Slapd.suffix)
    }

    @Test("a size limit below the result: the incomplete exit code")
    func sizeLimit() async throws {
        let slapd = try await CLISlapd.server()
        let result = try await UserSyncBinary.run(["test-bind", "-H", slapd.ldapsURI, "--ca-file", slapd.ca.caFile,
                                             "-b", Slapd.peopleBase, "--size-limit", "100"])
        #expect(result.status == 8, "\(result.output)")
        #expect(result.output.contains("size limit"))
    }

    @Test("configuration and usage errors have their own exit codes")
    func configurationErrors() async throws {
        let slapd = try await CLISlapd.server()
        let missing = try await UserSyncBinary.run(["test-bind", "-H", slapd.ldapsURI, "-D", Slapd.readerDN, "-y", "/nonexistent/pw"])
        #expect(missing.status == 2, "\(missing.output)")
        #expect(missing.output.contains("/nonexistent/pw"))
        let noPassword = try await UserSyncBinary.run(["test-bind", "-H", slapd.ldapsURI, "-D", Slapd.readerDN])
        #expect(noPassword.status == 2, "\(noPassword.output)")
        let badFilter = try await UserSyncBinary.run(["test-bind", "-H", slapd.ldapsURI, "-b", Slapd.suffix, "--filter", "(uid=a"])
        #expect(badFilter.status == 2, "\(badFilter.output)")
        #expect(badFilter.output.contains("not closed"))
        let badBase = try await UserSyncBinary.run(["test-bind", "-H", slapd.ldapsURI, "-b", "ou=x,"])
        #expect(badBase.status == 2, "\(badBase.output)")
        let badURI = try await UserSyncBinary.run(["test-bind", "-H", "http://example.com"])
        #expect(badURI.status == 2, "\(badURI.output)")
        let badFlag = try await UserSyncBinary.run(["test-bind", "-H", slapd.uri, "--tls-verify", "sometimes"])
        #expect(badFlag.status == 64, "\(badFlag.output)")
        let help = try await UserSyncBinary.run(["test-bind", "--help"])
        #expect(help.status == 0)
        #expect(help.output.contains("Exit codes:"))
        #expect(help.output.contains("--allow-insecure-bind"))
    }

    @Test("SASL EXTERNAL over ldapi://")
    func saslExternal() async throws {
        let slapd = try await CLISlapd.server()
        let result = try await UserSyncBinary.run(["test-bind", "-H", slapd.ldapiURI, "--sasl-mech", "EXTERNAL", "--json"])
        #expect(result.status == 0, "\(result.output)")
        #expect((result.json?["boundAs"] as? String)?.hasSuffix("cn=peercred,cn=external,cn=auth") == true)
        #expect(result.json?["bindMethod"] as? String == "SASL EXTERNAL")
    }

    @Test("Samba AD: bind by UPN over LDAPS; a wrong password says 52e")
    func activeDirectory() async throws {
        let dc = try await SambaDC.shared()
        let ok = try await UserSyncBinary.run(["test-bind", "-H", dc.ldapsURI, "--ca-file", dc.ca.caFile,
                                         "-D", SambaDC.adminUPN, "--password-env", "AD_PW",
                                         "-b", SambaDC.bulkBase, "--filter", "(objectClass=user)", "--json"],
                                        environment: ["AD_PW": SambaDC.adminPassword])
        #expect(ok.status == 0, "\(ok.output)")
        #expect(ok.json?["inChain"] as? Bool == true)
        #expect(ok.json?["count"] as? Int == SambaDC.bigGroupSize)
        #expect((ok.json?["vendor"] as? String)?.contains("Samba") == true)

        let wrong = try await UserSyncBinary.run(["test-bind", "-H", dc.ldapsURI, "--ca-file", dc.ca.caFile,
                                            "-D", SambaDC.adminUPN, "--password-env", "AD_PW", "--json"],
                                           environment: ["AD_PW": "wrong"])
        #expect(wrong.status == 5, "\(wrong.output)")
        let error = try #require(wrong.json?["error"] as? [String: Any])
        #expect(error["kind"] as? String == "authentication")
        #expect(error["adCode"] as? String == "52e")
        #expect(error["adReason"] as? String == "invalidCredentials")

        let plain = try await UserSyncBinary.run(["test-bind", "-H", dc.ldapURI, "-D", SambaDC.adminUPN,
                                            "--password-env", "AD_PW", "--allow-insecure-bind"],
                                           environment: ["AD_PW": SambaDC.adminPassword])
        #expect(plain.status == 6, "\(plain.output)")
        #expect(plain.output.contains("Transport encryption required"))
    }
}
