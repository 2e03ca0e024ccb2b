import LDAP

/// The configuration file: where the store is, where logs go, and the sources to sync.
/// Described for editors by `schemas/usersync.schema.json`; read by `ConfigLoader`.
public struct Configuration: Sendable {
    public var store: StoreSettings
    public var log: LogSettings?
    /// `usersync serve`'s own settings.
    public var serve = ServeSettings()
    public var sources: [SourceSettings]
    /// The applications provisioned from the store (`targets:`), in file order.
    public var targets: [TargetSettings] = []
    /// The file it was read from.
    public var file: String
    /// Where each key is in the file (`sources[0].mapping.email`), for messages.
    public var locations: [String: ConfigLocation] = [:]

    /// A problem at the key `path`, with its line when known.
    public func problem(at path: String, _ message: String, suggestion: String? = nil) -> ConfigProblem {
        let location = locations[path]
        return ConfigProblem(file: file, line: location?.line, column: location?.column, path: path, message: message,
                             suggestion: suggestion)
    }

    /// The index of a source in `sources`, for key paths.
    public func index(of source: SourceSettings) -> Int {
        sources.firstIndex { $0.name == source.name } ?? 0
    }

    public func source(named name: String) -> SourceSettings? {
        sources.first { $0.name == name }
    }

    public func target(named name: String) -> TargetSettings? {
        targets.first { $0.name == name }
    }

    /// The targets that receive the users and groups of `source`.
    public func targets(of source: String) -> [TargetSettings] {
        targets.filter { $0.sources.contains(source) }
    }
}

/// A line and column of the configuration file (1-based).
public struct ConfigLocation: Sendable, Equatable {
    public let line: Int
    public let column: Int
}

public enum StoreSettings: Sendable, Equatable {
    /// `store.sqlite`: the path of the SQLite database (created 0600 on first use).
    case sqlite(String)
    /// `store.postgres`: a PostgreSQL database that several nodes may share.
    case postgres(PostgresStoreSettings)

    /// The SQLite path, if this is a SQLite store.
    public var sqlitePath: String? {
        if case let .sqlite(path) = self { return path }
        return nil
    }

    /// The store as messages name it: the SQLite path, or the PostgreSQL URL (never a password)
    /// and schema.
    public var name: String {
        switch self {
        case let .sqlite(path): return path
        case let .postgres(settings): return settings.displayName
        }
    }
}

/// `store.postgres`: where the PostgreSQL store is and how to reach it.
public struct PostgresStoreSettings: Sendable, Equatable {
    /// `postgresql://USER@HOST:PORT/DATABASE?sslmode=MODE`; a password in it is refused (use
    /// `passwordFile` or `passwordEnv`, which are never logged).
    public var url: String
    public var passwordFile: String?
    public var passwordEnv: String?
    /// The schema that holds usersync's tables (created by the first node that starts).
    public var schema: String
    /// The CA certificates that sign the server's certificate (PEM); the system's when nil.
    public var caFile: String?
    /// Accepts `sslmode=disable|prefer|require|verify-ca` (test servers only).
    public var allowInsecure: Bool

    public init(url: String, passwordFile: String? = nil, passwordEnv: String? = nil, schema: String = "usersync",
                caFile: String? = nil, allowInsecure: Bool = false) {
        self.url = url
        self.passwordFile = passwordFile
        self.passwordEnv = passwordEnv
        self.schema = schema
        self.caFile = caFile
        self.allowInsecure = allowInsecure
    }

    /// The URL and schema, as messages name the store.
    public var displayName: String { "\(url) (schema \(schema))" }
}

/// `serve:` — where `usersync serve` answers `/healthz` and `/metrics`.
public struct ServeSettings: Sendable, Equatable {
    public var host = "127.0.0.1"
    public var port = 9464
    /// The read-only web console under `/console` (`serve.console: true`); off by default.
    public var console = false
    /// Who may open the console (`serve.consoleAccess`).
    public var consoleAccess = ConsoleAccessSettings()

    public init() {}

    public var listen: String { "\(host):\(port)" }

    /// Reads `host:port` as `serve.listen` and `serve --listen` give it: `[::1]:9464` for an
    /// IPv6 address, `:9464` for every address. Nil when it is not that.
    public init?(listen text: String) {
        guard let colon = text.lastIndex(of: ":"), let port = Int(text[text.index(after: colon)...]),
              (0...65535).contains(port) else { return nil }
        var host = String(text[..<colon])
        if host.hasPrefix("[") && host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        self.host = host.isEmpty ? "0.0.0.0" : host
        self.port = port
    }

    /// Whether the address only takes connections from this machine (127.0.0.0/8, ::1, localhost).
    public var isLoopback: Bool {
        host == "localhost" || host == "::1" || host.hasPrefix("127.")
    }

    /// What a listen address that does not read says.
    public static let listenForm = "expected host:port (\"127.0.0.1:9464\"; \"0.0.0.0:9464\" for every address)"
}

/// The console's credentials (`serve.consoleAccess`). A login is the user name and the password
/// of `passwordFile`/`passwordEnv` (a form, or `Authorization: Basic`); scripts may send the
/// token of `tokenFile` as `Authorization: Bearer`. Without either, only `loopbackWithoutLogin`
/// on a loopback address lets anyone in.
public struct ConsoleAccessSettings: Sendable, Equatable {
    public var user = "admin"
    public var passwordFile: String?
    public var passwordEnv: String?
    public var tokenFile: String?
    /// No login for connections from this machine, when the console listens on loopback only.
    public var loopbackWithoutLogin = false

    public init() {}

    /// Whether a credential is configured.
    public var hasCredential: Bool { passwordFile != nil || passwordEnv != nil || tokenFile != nil }
}

public struct LogSettings: Sendable, Equatable {
    /// Directory of the daily log files.
    public var directory: String?
    /// Days to keep log files.
    public var retentionDays: Int = 30
}
