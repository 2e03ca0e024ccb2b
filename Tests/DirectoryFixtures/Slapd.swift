import Foundation

/// A real OpenLDAP slapd on loopback, with its own database, TLS and Unix socket, holding a
/// generated organisation. Stopped by `stop()` or when the test process exits.
public final class Slapd: @unchecked Sendable {
    public static let suffix = "dc=example,dc=com"
    public static let adminDN = "cn=admin,dc=example,dc=com"
    public static let adminPassword = "secret"
    public static let readerDN = "cn=reader,ou=services,dc=example,dc=com"
    public static let readerPassword = "reader-pw"
    public static let peopleBase = "ou=people,dc=example,dc=com"
    public static let noPagingDN = "cn=nopaging,ou=services,dc=example,dc=com"
    public static let noPagingPassword = "nopaging-pw"

    public let directory: URL
    public let port: Int
    public let tlsPort: Int
    public let ca: TestCA
    public let userCount: Int
    /// The syncprov overlay's session log (`syncprov-sessionlog`), in operations; nil for none,
    /// so that a content sync from a cookie runs a present phase.
    public let sessionLog: Int?
    private let lock = NSLock()
    private var running = false

    public var uri: String { "ldap://127.0.0.1:\(port)" }
    public var ldapsURI: String { "ldaps://127.0.0.1:\(tlsPort)" }
    public var ldapiURI: String { "ldapi://" + socketPath.replacingOccurrences(of: "/", with: "%2F") }
    public var socketPath: String { directory.appendingPathComponent("ldapi").path }
    var configFile: String { directory.appendingPathComponent("slapd.conf").path }
    var pidFile: String { directory.appendingPathComponent("slapd.pid").path }

    /// The DN of generated user number `n` (1-based).
    public static func userDN(_ n: Int) -> String { "uid=\(userName(n)),\(peopleBase)" }
    public static func userName(_ n: Int) -> String { String(format: "user%05d", n) }

    /// The numbered test user `n` below `peopleBase`, as every test directory holds it.
    public static func userLDIF(_ n: Int, peopleBase: String) -> String {
        let name = userName(n)
        return """
            dn: uid=\(name),\(peopleBase)
            objectClass: inetOrgPerson
            uid: \(name)
            cn: Given\(n) Family\(n)
            givenName: Given\(n)
            sn: Family\(n)
            mail: \(name)@example.com
            employeeNumber: \(n)


            """
    }

    /// Builds and starts a server holding `users` people and whatever `extraLDIF` adds.
    /// Every server offers content sync (RFC 4533, the syncprov overlay), with a session log of
    /// `sessionLog` operations when given.
    public static func start(users: Int = 100, extraLDIF: String = "", ca: TestCA? = nil, sessionLog: Int? = nil) async throws -> Slapd {
        try await offThePool { try startBlocking(users: users, extraLDIF: extraLDIF, ca: ca, sessionLog: sessionLog) }
    }

    /// `start` for callers that are not async (and not on the cooperative pool).
    public static func startBlocking(users: Int = 100, extraLDIF: String = "", ca: TestCA? = nil, sessionLog: Int? = nil) throws -> Slapd {
        // A port found free can be taken before slapd binds it (slapd then exits 1, saying
        // nothing when detached): a second and third try get new ports and a new directory.
        var attempt = 1
        while true {
            do {
                return try startOnce(users: users, extraLDIF: extraLDIF, ca: ca, sessionLog: sessionLog)
            } catch where attempt < 3 {
                attempt += 1
            }
        }
    }

    private static func startOnce(users: Int, extraLDIF: String, ca: TestCA?, sessionLog: Int?) throws -> Slapd {
        let directory = try Shell.temporaryDirectory("usersync-slapd")
        do {
            let ca = try ca ?? TestCA.make(in: directory.appendingPathComponent("tls"))
            let slapd = Slapd(directory: directory, port: Shell.freePort(), tlsPort: Shell.freePort(), ca: ca, users: users,
                              sessionLog: sessionLog)
            try slapd.writeConfig()
            try slapd.load(extraLDIF: extraLDIF)
            try slapd.start()
            Cleanup.atExit { [slapd] in
                slapd.stop()
                try? FileManager.default.removeItem(at: directory)
            }
            return slapd
        } catch {
            // A server that did not start leaves nothing behind.
            if let text = try? String(contentsOf: directory.appendingPathComponent("slapd.pid"), encoding: .utf8),
               let pid = pid_t(text.trimmingCharacters(in: .whitespacesAndNewlines)) {
                kill(pid, SIGKILL)
            }
            try? FileManager.default.removeItem(at: directory)
            throw error
        }
    }

    private init(directory: URL, port: Int, tlsPort: Int, ca: TestCA, users: Int, sessionLog: Int?) {
        self.sessionLog = sessionLog
        self.directory = directory
        self.port = port
        self.tlsPort = tlsPort
        self.ca = ca
        self.userCount = users
    }

    private func writeConfig() throws {
        let d = directory.path
        try FileManager.default.createDirectory(atPath: "\(d)/db", withIntermediateDirectories: true)
        let config = """
        include /etc/ldap/schema/core.schema
        include /etc/ldap/schema/cosine.schema
        include /etc/ldap/schema/inetorgperson.schema
        include /etc/ldap/schema/nis.schema
        modulepath /usr/lib/ldap
        moduleload back_mdb
        moduleload memberof
        moduleload syncprov
        pidfile \(pidFile)
        sizelimit unlimited
        TLSCACertificateFile \(ca.caFile)
        TLSCertificateFile \(ca.serverCertificate)
        TLSCertificateKeyFile \(ca.serverKey)
        TLSVerifyClient allow
        # SASL binds (DIGEST-MD5, SCRAM-SHA-*) checked against userPassword; user name -> entry
        sasl-auxprops slapd
        authz-regexp uid=([^,]*),cn=[^,]*,cn=auth cn=$1,ou=services,\(Slapd.suffix)
        database mdb
        maxsize 1073741824
        suffix "\(Slapd.suffix)"
        rootdn "\(Slapd.adminDN)"
        rootpw \(Slapd.adminPassword)
        directory \(d)/db
        index objectClass eq
        index uid eq
        overlay memberof
        index entryUUID,entryCSN eq
        overlay syncprov
        syncprov-checkpoint 100 10
        \(sessionLog.map { "syncprov-sessionlog \($0)" } ?? "")
        # An account for which the server refuses the paged results control.
        limits dn.exact="\(Slapd.noPagingDN)" size.prtotal=disabled

        """
        try config.write(toFile: configFile, atomically: true, encoding: .utf8)
    }

    private func load(extraLDIF: String) throws {
        var ldif = """
        dn: \(Slapd.suffix)
        objectClass: dcObject
        objectClass: organization
        dc: example
        o: Example Corp

        dn: ou=people,\(Slapd.suffix)
        objectClass: organizationalUnit
        ou: people

        dn: ou=groups,\(Slapd.suffix)
        objectClass: organizationalUnit
        ou: groups

        dn: ou=services,\(Slapd.suffix)
        objectClass: organizationalUnit
        ou: services

        dn: \(Slapd.readerDN)
        objectClass: organizationalRole
        objectClass: simpleSecurityObject
        cn: reader
        userPassword: \(Slapd.readerPassword)

        dn: \(Slapd.noPagingDN)
        objectClass: organizationalRole
        objectClass: simpleSecurityObject
        cn: nopaging
        userPassword: \(Slapd.noPagingPassword)


        """
        ldif.reserveCapacity(userCount * 300)
        for n in 1...max(userCount, 1) where userCount > 0 { ldif += Slapd.userLDIF(n, peopleBase: Slapd.peopleBase) }
        ldif += extraLDIF
        let file = directory.appendingPathComponent("data.ldif").path
        try ldif.write(toFile: file, atomically: true, encoding: .utf8)
        try Shell.run("slapadd", ["-q", "-f", configFile, "-l", file])
    }

    /// Starts (or restarts) the server.
    public func start() throws {
        lock.lock()
        defer { lock.unlock() }
        guard !running else { return }
        let urls = "\(uri)/ \(ldapsURI)/ \(ldapiURI)"
        try Shell.run("slapd", ["-f", configFile, "-h", urls])
        try Shell.waitForPort(port, timeout: 20, what: "slapd")
        running = true
    }

    /// The server's process id, while it runs.
    public var pid: pid_t? {
        guard let text = try? String(contentsOfFile: pidFile, encoding: .utf8) else { return nil }
        return pid_t(text.trimmingCharacters(in: .whitespacesAndNewlines))
    }

    /// Stops the server (SIGTERM, or SIGKILL with `kill: true`) and waits until it is gone.
    public func stop(kill: Bool = false) {
        lock.lock()
        defer { lock.unlock() }
        guard running, let pid else { return }
        Foundation.kill(pid, kill ? SIGKILL : SIGTERM)
        for _ in 0..<100 where Shell.isRunning(pid) { usleep(50_000) }
        if Shell.isRunning(pid) { Foundation.kill(pid, SIGKILL) }
        try? FileManager.default.removeItem(atPath: pidFile)
        try? FileManager.default.removeItem(atPath: socketPath)
        running = false
    }

    /// Applies LDIF changes with ldapmodify as the rootdn (over the Unix socket).
    public func modify(_ ldif: String) async throws {
        try await Shell.run("ldapmodify", ["-x", "-H", uri, "-D", Slapd.adminDN, "-w", Slapd.adminPassword], input: ldif)
    }
}
