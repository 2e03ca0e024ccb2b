import Foundation

/// What the directory sync tests need of a directory server, so that the cases that matter run
/// against OpenLDAP and 389 Directory Server alike: where it is, the account usersync reads
/// with, the branch the test owns, the stable id attribute, and a way to change entries.
public protocol TestDirectory: Sendable {
    /// `slapd` or `389-ds`, for test names.
    var kind: String { get }
    var ldapsURI: String { get }
    var caFile: String { get }
    var readerDN: String { get }
    var readerPassword: String { get }
    /// The branch this test owns (the suffix on slapd, which starts a server per test).
    var suffix: String { get }
    var peopleBase: String { get }
    var groupsBase: String { get }
    /// The attribute that identifies an entry for ever: entryUUID, nsUniqueId.
    var idAttribute: String { get }
    /// Applies LDIF changes (ldapmodify with the administrator's rights).
    func modify(_ ldif: String) async throws
}

extension TestDirectory {
    public func userDN(_ n: Int) -> String { "uid=\(Slapd.userName(n)),\(peopleBase)" }
}

extension Slapd: TestDirectory {
    public var kind: String { "slapd" }
    public var caFile: String { ca.caFile }
    public var readerDN: String { Slapd.readerDN }
    public var readerPassword: String { Slapd.readerPassword }
    public var suffix: String { Slapd.suffix }
    public var peopleBase: String { Slapd.peopleBase }
    public var groupsBase: String { "ou=groups,\(Slapd.suffix)" }
    public var idAttribute: String { "entryUUID" }
}

/// A throw-away 389 Directory Server instance (Debian's 389-ds-base, the Red Hat Directory
/// Server and FreeIPA family), one per test process, made by `dscreate` as FIXTURES.md
/// describes: LDAPS with the tests' CA (its certificate imported into the instance's NSS
/// database), the memberOf plugin on, and an account that may read users, groups and their
/// `nsUniqueId`. Each test takes a branch of its own (`branch(users:)`): an OU with people,
/// groups and numbered users, as the slapd fixture has.
///
/// In a container (`/data/config/container.inf`, made by scripts/install-deps.sh) lib389's
/// dsctl has no start, stop or remove: ns-slapd is started and stopped here, by its pid file,
/// and the instance's directories removed when the test process exits.
public final class DirectoryServer389: @unchecked Sendable {
    public static let suffix = "dc=example,dc=com"
    public static let managerDN = "cn=Directory Manager"
    public static let readerDN = "cn=reader,ou=services,dc=example,dc=com"

    public let name: String
    public let port: Int
    public let tlsPort: Int
    public let ca: TestCA
    public let managerPassword: String
    public let readerPassword: String
    let directory: URL

    public var uri: String { "ldap://127.0.0.1:\(port)" }
    public var ldapsURI: String { "ldaps://127.0.0.1:\(tlsPort)" }
    var configDirectory: String { "/etc/dirsrv/slapd-\(name)" }
    var pidFile: String { "/data/run/slapd-\(name).pid" }

    private static let shared = SharedFixture { try DirectoryServer389.make() }

    /// The test process's instance, made on first use (about 15 s).
    public static func get() async throws -> DirectoryServer389 { try await shared.get() }

    private init(name: String, port: Int, tlsPort: Int, ca: TestCA, directory: URL) {
        self.name = name
        self.port = port
        self.tlsPort = tlsPort
        self.ca = ca
        self.directory = directory
        managerPassword = "Mgr-\(UUID().uuidString.prefix(12))"
        readerPassword = "Rdr-\(UUID().uuidString.prefix(12))"
    }

    private static func make() throws -> DirectoryServer389 {
        guard FileManager.default.isExecutableFile(atPath: "/usr/sbin/dscreate") else {
            throw FixtureError("389 Directory Server is not installed: run scripts/install-deps.sh --tests (389-ds-base)")
        }
        guard FileManager.default.fileExists(atPath: "/data/config/container.inf") else {
            throw FixtureError("/data/config/container.inf is missing: run scripts/install-deps.sh --tests (dscreate needs it where systemd does not run)")
        }
        removeAbandoned()
        let directory = try Shell.temporaryDirectory("usersync-389")
        let ca = try TestCA.make(in: directory.appendingPathComponent("tls"))
        let server = DirectoryServer389(name: "usersync\(UUID().uuidString.prefix(6).lowercased())", port: Shell.freePort(),
                                        tlsPort: Shell.freePort(), ca: ca, directory: directory)
        Cleanup.atExit { server.remove() }
        try server.create()
        return server
    }

    private func create() throws {
        let inf = """
            [general]
            full_machine_name = localhost
            strict_host_checking = False
            [slapd]
            instance_name = \(name)
            port = \(port)
            secure_port = \(tlsPort)
            root_dn = \(Self.managerDN)
            root_password = \(managerPassword)
            self_sign_cert = True
            [backend-userroot]
            sample_entries = no
            suffix = \(Self.suffix)
            create_suffix_entry = True

            """
        let infFile = directory.appendingPathComponent("ds.inf").path
        try inf.write(toFile: infFile, atomically: true, encoding: .utf8)
        try Shell.run("dscreate", ["from-file", infFile])
        // The memberOf plugin, online; it takes effect at the restart below.
        try Shell.run("dsconf", ["-D", Self.managerDN, "-w", managerPassword, uri, "plugin", "memberof", "enable"])
        try stop()
        // The tests' CA and a certificate for 127.0.0.1 in place of the self-signed one, which
        // names only the host (and libldap checks "localhost" against the machine's own name).
        // With NSS's tools: lib389's `dsctl tls import-*` leave the old Server-Cert in front.
        let nss = configDirectory, pin = "\(configDirectory)/pwdfile.txt"
        let p12 = directory.appendingPathComponent("server.p12").path
        try Shell.run("openssl", ["pkcs12", "-export", "-in", ca.serverCertificate, "-inkey", ca.serverKey, "-name", "Server-Cert",
                                  "-passout", "pass:usersync", "-out", p12])
        try Shell.run("certutil", ["-D", "-d", nss, "-n", "Server-Cert", "-f", pin])
        try Shell.run("pk12util", ["-i", p12, "-d", nss, "-k", pin, "-W", "usersync"])
        try Shell.run("certutil", ["-A", "-d", nss, "-n", "usersync-test-ca", "-t", "CT,,", "-a", "-i", ca.caFile, "-f", pin])
        try Shell.run("chown", ["dirsrv:dirsrv", "\(nss)/cert9.db", "\(nss)/key4.db"])
        try start()
        try ldapmodify(add: true, """
            dn: ou=services,\(Self.suffix)
            objectClass: organizationalUnit
            ou: services

            dn: \(Self.readerDN)
            objectClass: person
            cn: reader
            sn: reader
            userPassword: \(readerPassword)

            dn: \(Self.suffix)
            changetype: modify
            add: aci
            aci: (targetattr="* || nsUniqueId || memberOf || createTimestamp || modifyTimestamp")(version 3.0; acl "usersync tests: the reader reads"; allow (read, search, compare) userdn="ldap:///\(Self.readerDN)";)

            """)
    }

    /// Stops ns-slapd: the one dscreate started (its pid file named after the host, in a
    /// container), or ours.
    func stop() throws {
        for file in ["/data/run/slapd-localhost.pid", pidFile] {
            guard let text = try? String(contentsOfFile: file, encoding: .utf8), let pid = pid_t(text.trimmingCharacters(in: .whitespacesAndNewlines)) else { continue }
            let process = (try? String(contentsOfFile: "/proc/\(pid)/cmdline", encoding: .utf8)) ?? ""
            guard process.contains("slapd-\(name)") else { continue }
            kill(pid, SIGTERM)
            for _ in 0..<300 where Shell.isRunning(pid) { usleep(100_000) }
        }
        // ns-slapd refuses to start while a lock names a process, even a gone one.
        if let locks = try? FileManager.default.contentsOfDirectory(atPath: "/run/lock/dirsrv/slapd-\(name)/server") {
            for lock in locks { unlink("/run/lock/dirsrv/slapd-\(name)/server/\(lock)") }
        }
    }

    /// Starts ns-slapd (it daemonizes) and waits for its LDAPS port.
    func start() throws {
        try Shell.run("/usr/sbin/ns-slapd", ["-D", configDirectory, "-i", pidFile])
        try Shell.waitForPort(tlsPort, timeout: 60, what: "389-ds", log: "/var/log/dirsrv/slapd-\(name)/errors", process: nil)
    }

    /// The instance's process, directories and pid file gone.
    func remove() {
        for file in [pidFile, "/data/run/slapd-localhost.pid"] {
            guard let text = try? String(contentsOfFile: file, encoding: .utf8), let pid = pid_t(text.trimmingCharacters(in: .whitespacesAndNewlines)) else { continue }
            let process = (try? String(contentsOfFile: "/proc/\(pid)/cmdline", encoding: .utf8)) ?? ""
            if process.contains("slapd-\(name)") { kill(pid, SIGKILL) }
        }
        Self.removeFiles(name)
        try? FileManager.default.removeItem(at: directory)
    }

    static func removeFiles(_ name: String) {
        for path in ["/etc/dirsrv/slapd-\(name)", "/var/lib/dirsrv/slapd-\(name)", "/var/log/dirsrv/slapd-\(name)",
                     "/data/run/slapd-\(name).pid", "/data/run/slapd-\(name).socket", "/run/lock/dirsrv/slapd-\(name)"] {
            try? FileManager.default.removeItem(atPath: path)
        }
    }

    /// Instances a killed test process left behind: their ns-slapd stopped, their files removed.
    /// (In a container lib389 names every instance's socket and pid file after the host, so a
    /// leftover ns-slapd would answer the next dscreate in place of its own.)
    static func removeAbandoned() {
        for pid in (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? [] where Int32(pid) != nil {
            let command = (try? String(contentsOfFile: "/proc/\(pid)/cmdline", encoding: .utf8)) ?? ""
            if command.hasPrefix("/usr/sbin/ns-slapd"), command.contains("/etc/dirsrv/slapd-usersync") {
                kill(pid_t(pid)!, SIGKILL)
            }
        }
        let names = ((try? FileManager.default.contentsOfDirectory(atPath: "/etc/dirsrv")) ?? [])
            .filter { $0.hasPrefix("slapd-usersync") }.map { String($0.dropFirst("slapd-".count)) }
        names.forEach(removeFiles)
        for file in ["/data/run/slapd-localhost.pid", "/data/run/slapd-localhost.socket"] { unlink(file) }
    }

    func ldapmodify(add: Bool = false, _ ldif: String) throws {
        try Shell.run("ldapmodify", (add ? ["-a"] : []) + ["-x", "-H", uri, "-D", Self.managerDN, "-w", managerPassword],
                      environment: nil, input: ldif)
    }

    /// A branch of its own for one test: `ou=<t…>` with people (`users` numbered as the slapd
    /// fixture numbers them) and groups, and `extraLDIF` (written against `branch.suffix`).
    public func branch(users: Int, extraLDIF: (DS389Branch) -> String = { _ in "" }) async throws -> DS389Branch {
        let branch = DS389Branch(server: self, suffix: "ou=t\(UUID().uuidString.prefix(8).lowercased()),\(Self.suffix)")
        var ldif = """
            dn: \(branch.suffix)
            objectClass: organizationalUnit
            ou: \(branch.suffix.dropFirst(3).prefix { $0 != "," })

            dn: \(branch.peopleBase)
            objectClass: organizationalUnit
            ou: people

            dn: \(branch.groupsBase)
            objectClass: organizationalUnit
            ou: groups


            """
        for n in 1...max(users, 1) where users > 0 { ldif += Slapd.userLDIF(n, peopleBase: branch.peopleBase) }
        ldif += extraLDIF(branch)
        let text = ldif
        try await offThePool { try self.ldapmodify(add: true, text) }
        return branch
    }
}

/// One test's branch of the shared 389 Directory Server.
public struct DS389Branch: TestDirectory {
    public let server: DirectoryServer389
    public let suffix: String

    public var kind: String { "389-ds" }
    public var ldapsURI: String { server.ldapsURI }
    public var caFile: String { server.ca.caFile }
    public var readerDN: String { DirectoryServer389.readerDN }
    public var readerPassword: String { server.readerPassword }
    public var peopleBase: String { "ou=people,\(suffix)" }
    public var groupsBase: String { "ou=groups,\(suffix)" }
    public var idAttribute: String { "nsUniqueId" }

    public func modify(_ ldif: String) async throws { try await offThePool { [server] in try server.ldapmodify(ldif) } }
}
