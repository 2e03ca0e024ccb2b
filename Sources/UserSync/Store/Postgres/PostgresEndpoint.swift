import Foundation
import NIOSSL
import PostgresNIO

/// Where a PostgreSQL store is and how to reach it, from `store.postgres`: the URL's host,
/// port, user, database and `sslmode`, the password from its file or variable, and the TLS
/// that follows from the mode.
///
/// `sslmode` takes libpq's values (https://www.postgresql.org/docs/15/libpq-ssl.html, table
/// 34.1), with a stricter default: libpq defaults to `prefer`, which "doesn't make sense from
/// a security point of view" (the same page); here the default is `verify-full` (TLS, the
/// certificate signed by a trusted CA, and issued to the host named), and every weaker mode
/// needs `allowInsecure: true`, as on LDAP and HTTP sources.
struct PostgresEndpoint: Sendable {
    enum SSLMode: String, CaseIterable, Sendable {
        case disable, prefer, require
        case verifyCA = "verify-ca"
        case verifyFull = "verify-full"
    }

    struct Invalid: Error, CustomStringConvertible, Sendable {
        let description: String
    }

    var host: String
    var port: Int
    var user: String
    var database: String
    var sslMode: SSLMode
    var settings: PostgresStoreSettings

    /// Checks the URL and settings (not the password: it is read when connecting).
    init(_ settings: PostgresStoreSettings) throws(Invalid) {
        self.settings = settings
        guard let components = URLComponents(string: settings.url),
              let scheme = components.scheme, ["postgresql", "postgres"].contains(scheme) else {
            throw Invalid(description: "'\(settings.url)' is not a PostgreSQL URL: write postgresql://USER@HOST:5432/DATABASE")
        }
        guard components.password == nil else {
            throw Invalid(description: "the URL holds a password: remove it and give passwordFile or passwordEnv (a URL is logged; they are not)")
        }
        guard let host = components.host, !host.isEmpty else {
            throw Invalid(description: "the URL names no host: write postgresql://USER@HOST:5432/DATABASE")
        }
        guard let user = components.user, !user.isEmpty else {
            throw Invalid(description: "the URL names no user: write postgresql://USER@\(host):\(components.port ?? 5432)/DATABASE")
        }
        let database = String(components.path.drop(while: { $0 == "/" }))
        self.host = host
        self.port = components.port ?? 5432
        self.user = user
        self.database = database.isEmpty ? user : database
        var mode = SSLMode.verifyFull
        for item in components.queryItems ?? [] {
            switch item.name {
            case "sslmode":
                guard let value = item.value.flatMap(SSLMode.init(rawValue:)) else {
                    throw Invalid(description: "sslmode '\(item.value ?? "")' is not one of \(SSLMode.allCases.map(\.rawValue).joined(separator: ", "))")
                }
                mode = value
            default:
                throw Invalid(description: "the URL parameter '\(item.name)' is not supported (only sslmode is); give the CA as tls.caFile")
            }
        }
        if mode != .verifyFull && !settings.allowInsecure {
            throw Invalid(description: "sslmode=\(mode.rawValue) does not check that the server is the one named, so the password and every user could go to whoever answers: use verify-full (the default) with tls.caFile, or set allowInsecure: true (test servers only)")
        }
        if settings.caFile != nil && (mode == .disable) {
            throw Invalid(description: "tls.caFile is given but sslmode=disable turns TLS off")
        }
        sslMode = mode
    }

    /// A schema or table name that needs no quoting in SQL.
    static func isPlainIdentifier(_ name: String) -> Bool {
        guard let first = name.unicodeScalars.first, ("a"..."z").contains(first), name.count <= 63 else { return false }
        return name.unicodeScalars.allSatisfy { ("a"..."z").contains($0) || ("0"..."9").contains($0) || $0 == "_" }
    }

    /// The connection's configuration: TLS as `sslmode` says, the password read now, the
    /// store's schema first on the search path, and `applicationName` shown in
    /// `pg_stat_activity` (the node that holds a run lock is named by it).
    func configuration(applicationName: String) throws -> PostgresConnection.Configuration {
        let password: String?
        do {
            password = try Secrets.password(file: settings.passwordFile, environmentVariable: settings.passwordEnv)
        } catch {
            throw Invalid(description: error.description)
        }
        var configuration = PostgresConnection.Configuration(host: host, port: port, username: user, password: password,
                                                              database: database, tls: try tls())
        configuration.options.additionalStartupParameters = [
            ("application_name", applicationName),
            ("search_path", settings.schema),
        ]
        return configuration
    }

    private func tls() throws -> PostgresConnection.Configuration.TLS {
        guard sslMode != .disable else { return .disable }
        var tls = TLSConfiguration.makeClientConfiguration()
        if let caFile = settings.caFile {
            guard FileManager.default.isReadableFile(atPath: caFile) else {
                throw Invalid(description: "cannot read store.postgres.tls.caFile '\(caFile)'")
            }
            tls.trustRoots = .file(caFile)
        }
        switch sslMode {
        case .verifyFull: tls.certificateVerification = .fullVerification
        case .verifyCA: tls.certificateVerification = .noHostnameVerification
        case .prefer, .require, .disable: tls.certificateVerification = .none
        }
        let context: NIOSSLContext
        do {
            context = try NIOSSLContext(configuration: tls)
        } catch {
            throw Invalid(description: "cannot set up TLS for the store: \(error)")
        }
        return sslMode == .prefer ? .prefer(context) : .require(context)
    }
}
