import Foundation

/// A real Samba Active Directory domain controller on 127.0.0.1 (ports 389, 636, 3268),
/// provisioned for the test run with a TLS certificate from the test CA and populated offline.
/// Samba's ports are fixed, so one instance serves the whole test process (`shared()`).
public final class SambaDC: @unchecked Sendable {
    public static let realm = "corp.example.test"
    public static let baseDN = "DC=corp,DC=example,DC=test"
    public static let adminPassword = "Passw0rd!Adm1n"
    public static let adminUPN = "Administrator@corp.example.test"
    public static let adminDN = "CN=Administrator,CN=Users,DC=corp,DC=example,DC=test"
    public static let staffBase = "OU=Staff,DC=corp,DC=example,DC=test"
    public static let bulkBase = "OU=Bulk,DC=corp,DC=example,DC=test"
    public static let bigGroupDN = "CN=BigGroup,OU=Bulk,DC=corp,DC=example,DC=test"
    /// Members of BigGroup: more than AD's 1,500-value range.
    public static let bigGroupSize = 2100
    public static let alicePassword = "Alice!Passw0rd"
    public static let bobPassword = "Bob!Passw0rd1"

    public let directory: URL
    public let ca: TestCA
    public var ldapsURI: String { "ldaps://127.0.0.1:636" }
    public var ldapURI: String { "ldap://127.0.0.1:389" }
    public var samDB: String { directory.appendingPathComponent("private/sam.ldb").path }
    private var pid: pid_t?
    private static let pidFile = "/tmp/usersync-test-samba.pid"

    private static let fixture = SharedFixture { try SambaDC.start() }

    /// The domain controller of this test process, started on first use (about 15 s).
    public static func shared() async throws -> SambaDC { try await fixture.get() }

    private init(directory: URL, ca: TestCA) {
        self.directory = directory
        self.ca = ca
    }
}

extension SambaDC {
    static func start() throws -> SambaDC {
        stopStale()
        if Shell.isListening(port: 636) || Shell.isListening(port: 389) {
            throw FixtureError("ports 389/636 are taken by another program; the Samba AD fixture needs them (stop the other LDAP server)")
        }
        let directory = try Shell.temporaryDirectory("usersync-samba")
        let ca = try TestCA.make(in: directory.appendingPathComponent("tls"))
        let dc = SambaDC(directory: directory, ca: ca)
        try dc.provision()
        try dc.populate()
        try dc.run()
        Cleanup.atExit { [dc] in
            dc.stop()
            try? FileManager.default.removeItem(at: directory)
        }
        return dc
    }

    /// A Samba left over from a crashed test run holds the fixed ports: stop it.
    private static func stopStale() {
        guard let text = try? String(contentsOfFile: pidFile, encoding: .utf8),
              let pid = pid_t(text.trimmingCharacters(in: .whitespacesAndNewlines)), pid > 1 else { return }
        kill(pid, SIGTERM)
        for _ in 0..<100 where Shell.isRunning(pid) { usleep(50_000) }
        if Shell.isRunning(pid) { kill(pid, SIGKILL) }
        try? FileManager.default.removeItem(atPath: pidFile)
    }

    private func provision() throws {
        let d = directory.path
        try Shell.run("samba-tool", [
            "domain", "provision", "--realm=\(SambaDC.realm.uppercased())", "--domain=CORP", "--server-role=dc",
            "--dns-backend=NONE", "--adminpass=\(SambaDC.adminPassword)", "--use-rfc2307", "--targetdir=\(d)",
            "--option=interfaces=lo", "--option=bind interfaces only=yes",
            // Samba's RPC endpoints listen on ports from `rpc server dynamic port range`, by
            // default 49152-65535: inside Linux's ephemeral range (32768-60999), where any
            // outgoing connection of the parallel tests may hold the port first. Samba then
            // stops ("Failed to listen on 127.0.0.1:49154 - NT_STATUS_ADDRESS_ALREADY_ASSOCIATED",
            // "dcerpc: Failed to initialise end points") and never opens 636. Below both the
            // ephemeral range and the fixtures' own ports (Shell.freePort, 10000 and up).
            "--option=rpc server dynamic port range=9400-9499",
            "--option=tls enabled=yes", "--option=tls keyfile=\(ca.serverKey)",
            "--option=tls certfile=\(ca.serverCertificate)", "--option=tls cafile=\(ca.caFile)",
        ])
    }

    private static func unicodePwd(_ password: String) -> String {
        let utf16 = Array("\"\(password)\"".utf16)
        var bytes: [UInt8] = []
        for unit in utf16 { bytes += [UInt8(unit & 0xff), UInt8(unit >> 8)] }
        return Data(bytes).base64EncodedString()
    }

    /// Adds the test organisation straight into sam.ldb (much faster than over LDAP).
    private func populate() throws {
        let base = SambaDC.baseDN
        var ldif = """
        dn: OU=Staff,\(base)
        objectClass: organizationalUnit
        ou: Staff

        dn: CN=Alice Admin,OU=Staff,\(base)
        objectClass: user
        sAMAccountName: alice
        userPrincipalName: alice@\(SambaDC.realm)
        givenName: Alice
        sn: Admin
        mail: Alice.Admin@Corp.Example.Test
        userAccountControl: 512
        unicodePwd:: \(SambaDC.unicodePwd(SambaDC.alicePassword))

        dn: CN=Bob Disabled,OU=Staff,\(base)
        objectClass: user
        sAMAccountName: bob
        givenName: Bob
        sn: Disabled
        userAccountControl: 514
        unicodePwd:: \(SambaDC.unicodePwd(SambaDC.bobPassword))

        dn: OU=Bulk,\(base)
        objectClass: organizationalUnit
        ou: Bulk


        """
        for i in 0..<SambaDC.bigGroupSize {
            ldif += "dn: CN=\(SambaDC.bulkName(i)),OU=Bulk,\(base)\nobjectClass: user\nsAMAccountName: \(SambaDC.bulkName(i))\nuserAccountControl: 514\n\n"
        }
        ldif += "dn: \(SambaDC.bigGroupDN)\nobjectClass: group\nsAMAccountName: BigGroup\n"
        for i in 0..<SambaDC.bigGroupSize { ldif += "member: CN=\(SambaDC.bulkName(i)),OU=Bulk,\(base)\n" }
        ldif += "\n"
        let file = directory.appendingPathComponent("populate.ldif").path
        try ldif.write(toFile: file, atomically: true, encoding: .utf8)
        try Shell.run("ldbadd", ["-H", samDB, file])
    }

    public static func bulkName(_ i: Int) -> String { String(format: "bulk%05d", i) }

    private func run() throws {
        let log = directory.appendingPathComponent("samba.log").path
        // --debug-stdout: Samba's own messages go to this log, not to /var/log/samba.
        let pid = try Shell.spawn("samba", ["-s", directory.appendingPathComponent("etc/smb.conf").path, "--foreground",
                                            "--no-process-group", "-M", "single", "--debug-stdout"], output: log)
        self.pid = pid
        try? String(pid).write(toFile: SambaDC.pidFile, atomically: true, encoding: .utf8)
        // 90 s was passed once on a loaded machine (the whole suite running beside it).
        try Shell.waitForPort(636, timeout: 180, what: "Samba AD DC", log: log, process: pid)
        try Shell.waitForPort(389, timeout: 30, what: "Samba AD DC", log: log, process: pid)
    }

    public func stop() {
        guard let pid else { return }
        self.pid = nil
        kill(pid, SIGTERM)
        var status: Int32 = 0
        for _ in 0..<100 {
            if waitpid(pid, &status, WNOHANG) == pid { break }
            usleep(50_000)
        }
        if kill(pid, 0) == 0 {
            kill(pid, SIGKILL)
            Shell.wait(pid)
        }
        try? FileManager.default.removeItem(atPath: SambaDC.pidFile)
    }

    /// What `samba-tool user show` prints for an attribute of a user (e.g. objectGUID).
    public func sambaToolUserShow(_ user: String, attribute: String) async throws -> String? {
        let output = try await Shell.run("samba-tool", ["user", "show", user, "-H", samDB]).output
        for line in output.split(separator: "\n") where line.hasPrefix("\(attribute): ") {
            return String(line.dropFirst(attribute.count + 2))
        }
        return nil
    }

    /// Applies LDIF changes over LDAPS as the domain administrator (ldapmodify), as an
    /// administrator would with their tools: the running DC sees them at once.
    public func modify(_ ldif: String) async throws {
        try await Shell.run("ldapmodify", ["-x", "-H", ldapsURI, "-D", SambaDC.adminUPN, "-w", SambaDC.adminPassword],
                      environment: ProcessInfo.processInfo.environment.merging(["LDAPTLS_CACERT": ca.caFile]) { $1 },
                      input: ldif)
    }
}
