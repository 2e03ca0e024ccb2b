import LDAP

/// The configuration file: where the store is, where logs go, and the sources to sync.
/// Described for editors by `schemas/usersync.schema.json`; read by `ConfigLoader`.
public struct Configuration: Sendable {
    public var store: StoreSettings
    public var log: LogSettings?
    /// `usersync serve`'s own settings.
    public var serve = ServeSettings()
    public var sources: [SourceSettings]
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
}

/// A line and column of the configuration file (1-based).
public struct ConfigLocation: Sendable, Equatable {
    public let line: Int
    public let column: Int
}

public struct StoreSettings: Sendable, Equatable {
    /// Path of the SQLite database (created 0600 on first use).
    public var sqlite: String
}

/// `serve:` — where `usersync serve` answers `/healthz` and `/metrics`.
public struct ServeSettings: Sendable, Equatable {
    public var host = "127.0.0.1"
    public var port = 9464

    public init() {}

    public var listen: String { "\(host):\(port)" }
}

public struct LogSettings: Sendable, Equatable {
    /// Directory of the daily log files.
    public var directory: String?
    /// Days to keep log files.
    public var retentionDays: Int = 30
}
