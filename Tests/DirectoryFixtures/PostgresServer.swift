import Foundation

/// A real PostgreSQL 15 server (Debian's `postgresql`) on a loopback port, in its own data
/// directory, with TLS from the test CA and password (SCRAM) authentication. `initdb` refuses
/// to run as root, so as root the server runs as the `postgres` system user. Stopped by `stop()`
/// or when the test process exits.
public final class PostgresServer: @unchecked Sendable {
    public static let superuser = "postgres"
    public static let password = "pg-secret"
    static let binaries = "/usr/lib/postgresql/15/bin"

    public let directory: URL
    public let port: Int
    public let ca: TestCA
    private let lock = NSLock()
    private var running = false

    var dataDirectory: String { directory.appendingPathComponent("data").path }
    var logFile: String { directory.appendingPathComponent("server.log").path }
    var passwordFile: String { directory.appendingPathComponent("pw").path }

    /// A `postgresql://` URL for `database` as the superuser (the password is given apart).
    public func url(database: String, sslmode: String = "verify-full") -> String {
        "postgresql://\(PostgresServer.superuser)@localhost:\(port)/\(database)?sslmode=\(sslmode)"
    }

    /// Makes and starts a server (about a second).
    public static func start(ca: TestCA? = nil) async throws -> PostgresServer {
        try await offThePool { try startBlocking(ca: ca) }
    }

    public static func startBlocking(ca: TestCA? = nil) throws -> PostgresServer {
        // As for slapd: a port found free can be taken before the server binds it.
        var attempt = 1
        while true {
            do {
                return try startOnce(ca: ca)
            } catch where attempt < 3 {
                attempt += 1
            }
        }
    }

    private static func startOnce(ca: TestCA?) throws -> PostgresServer {
        guard FileManager.default.isExecutableFile(atPath: "\(binaries)/initdb") else {
            throw FixtureError("PostgreSQL 15 is not installed (\(binaries)/initdb): run scripts/install-deps.sh --tests")
        }
        let directory = try Shell.temporaryDirectory("usersync-postgres")
        do {
            let ca = try ca ?? TestCA.make(in: directory.appendingPathComponent("tls"))
            let server = PostgresServer(directory: directory, port: Shell.freePort(), ca: ca)
            try server.initialise()
            try server.start()
            Cleanup.atExit { [server] in
                server.stop()
                try? FileManager.default.removeItem(at: directory)
            }
            return server
        } catch {
            _ = try? Shell.run("\(binaries)/pg_ctl", ["-D", directory.appendingPathComponent("data").path, "-m", "immediate", "stop"])
            try? FileManager.default.removeItem(at: directory)
            throw error
        }
    }

    private init(directory: URL, port: Int, ca: TestCA) {
        self.directory = directory
        self.port = port
        self.ca = ca
    }

    /// Runs a server program, as `postgres` when this process is root.
    @discardableResult
    func asServerUser(_ program: String, _ arguments: [String]) throws -> String {
        if getuid() == 0 {
            return try Shell.run("runuser", ["-u", "postgres", "--", "\(PostgresServer.binaries)/\(program)"] + arguments).output
        }
        return try Shell.run("\(PostgresServer.binaries)/\(program)", arguments).output
    }

    private func initialise() throws {
        let d = directory.path
        try PostgresServer.password.write(toFile: passwordFile, atomically: true, encoding: .utf8)
        // The server's key must be its user's and 0600 (PostgreSQL refuses a key others can read).
        let tls = directory.appendingPathComponent("server-tls").path
        try FileManager.default.createDirectory(atPath: tls, withIntermediateDirectories: true)
        for (from, to) in [(ca.serverCertificate, "server.pem"), (ca.serverKey, "server.key"), (ca.caFile, "ca.pem")] {
            try FileManager.default.copyItem(atPath: from, toPath: "\(tls)/\(to)")
        }
        chmod("\(tls)/server.key", 0o600)
        if getuid() == 0 {
            chmod(d, 0o755)
            try Shell.run("chown", ["-R", "postgres", d, tls])
        }
        try asServerUser("initdb", ["-D", dataDirectory, "-A", "scram-sha-256", "--pwfile=\(passwordFile)",
                                    "-U", PostgresServer.superuser, "--no-sync", "-E", "UTF8", "--locale=C"])
        let settings = """
            listen_addresses = '127.0.0.1'
            port = \(port)
            unix_socket_directories = '\(d)'
            ssl = on
            ssl_cert_file = '\(tls)/server.pem'
            ssl_key_file = '\(tls)/server.key'
            ssl_ca_file = '\(tls)/ca.pem'
            fsync = off
            synchronous_commit = off
            full_page_writes = off
            max_connections = 100

            """
        let conf = "\(dataDirectory)/postgresql.conf"
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: conf))
        try handle.seekToEnd()
        try handle.write(contentsOf: Data(settings.utf8))
        try handle.close()
    }

    /// Starts (or restarts) the server on its port.
    public func start() throws {
        try asServerUser("pg_ctl", ["-D", dataDirectory, "-l", logFile, "-w", "-t", "60", "start"])
        lock.withLock { running = true }
        try Shell.waitForPort(port, timeout: 60, what: "PostgreSQL", log: logFile)
    }

    /// Stops the server at once (in-flight transactions are lost, as in a crash).
    public func stop() {
        let wasRunning = lock.withLock { () -> Bool in
            defer { running = false }
            return running
        }
        guard wasRunning else { return }
        _ = try? asServerUser("pg_ctl", ["-D", dataDirectory, "-m", "immediate", "-w", "stop"])
    }

    /// Creates an empty database.
    public func createDatabase(_ name: String) async throws {
        try await psql(database: "postgres", "CREATE DATABASE \"\(name)\"")
    }

    /// Runs SQL with psql over TLS as the superuser; returns its unaligned, tuples-only output.
    @discardableResult
    public func psql(database: String, _ sql: String) async throws -> String {
        try await Shell.run("\(PostgresServer.binaries)/psql",
                      ["-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-c", sql, "host=localhost port=\(port) dbname=\(database) user=\(PostgresServer.superuser) sslmode=verify-full sslrootcert=\(ca.caFile)"],
                      environment: ["PGPASSWORD": PostgresServer.password]).output
    }
}

extension PostgresServer {
    /// The database every test store lives in, a schema of its own each.
    public static let testDatabase = "usersync_tests"

    private actor Shared {
        var server: Task<PostgresServer, any Error>?
        func get() -> Task<PostgresServer, any Error> {
            if let server { return server }
            let task = Task {
                let server = try await PostgresServer.start()
                try await server.createDatabase(PostgresServer.testDatabase)
                return server
            }
            server = task
            return task
        }
    }
    private static let sharedServer = Shared()

    /// One server for the whole test process, started on first use (about two seconds), with
    /// the test database made.
    public static func shared() async throws -> PostgresServer {
        try await sharedServer.get().value
    }

    /// A `store:` section for a store of its own: a new schema in the test database, the
    /// password in a 0600 file in `directory`, TLS verified against the test CA.
    public func storeYAML(directory: URL, schema: String = "s_" + UUID().uuidString.prefix(12).lowercased().replacingOccurrences(of: "-", with: "")) throws -> String {
        let passwordFile = directory.appendingPathComponent("pg-\(schema).pw").path
        try "\(PostgresServer.password)\n".write(toFile: passwordFile, atomically: true, encoding: .utf8)
        chmod(passwordFile, 0o600)
        return """
            store:
              postgres:
                url: \(url(database: PostgresServer.testDatabase))
                passwordFile: \(passwordFile)
                schema: \(schema)
                tls: { caFile: \(ca.caFile) }
            """
    }
}
