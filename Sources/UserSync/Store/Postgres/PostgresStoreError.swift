import Foundation
import NIOCore
import NIOSSL
import PostgresNIO

/// A failure of the PostgreSQL store, classified: the server unreachable or gone mid-run
/// (transient: the next slot tries again), refused credentials, TLS, or an error the server
/// reported (with its SQLSTATE and message). postgres-nio keeps the server's words out of its
/// errors' descriptions, lest an application show them to its users; an administrator's tool
/// shows them, since they say what is wrong.
struct PostgresStoreError: Error, StoreFailure, CustomStringConvertible, Sendable {
    var kind: FailureKind
    var message: String
    var store: String
    var sqlState: String?

    init(kind: FailureKind, message: String, store: String, sqlState: String? = nil) {
        self.kind = kind
        self.message = message
        self.store = store
        self.sqlState = sqlState
    }

    var description: String { "the store \(store): \(message)" }
    var storeMessage: String { description }

    /// Classifies an error of postgres-nio (or passes one of ours through).
    init(_ error: any Error, store: String, connecting address: String? = nil) {
        if let error = error as? PostgresStoreError {
            self = error
            return
        }
        guard let error = error as? PSQLError else {
            self.init(kind: address == nil ? .store : .unreachable,
                      message: "\(address.map { "cannot connect to \($0): " } ?? "")\(error)", store: store)
            return
        }
        let info = error.serverInfo
        let state = info?[.sqlState]
        let server = [info?[.message], info?[.detail].map { "(\($0))" }, info?[.hint].map { "hint: \($0)" }]
            .compactMap { $0 }.joined(separator: " ")
        switch error.code {
        case .server:
            self.init(kind: PostgresStoreError.kind(sqlState: state), message: server + PostgresStoreError.advice(state).map { "; \($0)" }.orEmpty,
                      store: store, sqlState: state)
        case .connectionError:
            let underlying = error.underlying.map { "\($0)" } ?? "no answer"
            let tls = error.underlying is NIOSSLError || error.underlying is BoringSSLError
            self.init(kind: tls ? .tls : .unreachable,
                      message: tls ? "TLS with \(address ?? "the server") failed: \(underlying) (check tls.caFile and that the URL's host is the name in the server's certificate)"
                                   : "cannot connect to \(address ?? "the server"): \(underlying) (check the URL's host and port, and that PostgreSQL runs and accepts connections from here)",
                      store: store)
        case .sslUnsupported:
            self.init(kind: .tls, message: "the server does not offer TLS: turn on ssl in postgresql.conf, or (test servers only) sslmode=disable with allowInsecure: true", store: store)
        case .failedToAddSSLHandler, .receivedUnencryptedDataAfterSSLRequest:
            self.init(kind: .tls, message: "TLS with the server failed (\(error.code))", store: store)
        case .authMechanismRequiresPassword:
            self.init(kind: .configuration, message: "the server asks for a password: give store.postgres.passwordFile or passwordEnv", store: store)
        case .unsupportedAuthMechanism, .saslError:
            self.init(kind: .authentication, message: "authentication failed (\(error.code))", store: store)
        case .serverClosedConnection, .uncleanShutdown, .clientClosedConnection:
            self.init(kind: .connectionLost, message: "the connection to the database was lost (\(error.underlying.map { "\($0)" } ?? "\(error.code)")); the transaction in progress was rolled back by the server", store: store)
        default:
            self.init(kind: .store, message: "\(error.code)\(server.isEmpty ? "" : ": \(server)")", store: store, sqlState: state)
        }
    }

    /// The kind of a server error, by its SQLSTATE class (https://www.postgresql.org/docs/15/errcodes-appendix.html).
    static func kind(sqlState: String?) -> FailureKind {
        guard let state = sqlState else { return .store }
        switch state {
        case "28000", "28P01": return .authentication
        case "3D000", "3F000": return .configuration
        case "57P01", "57P02", "57P03", "08000", "08003", "08006": return .connectionLost
        case "55P03": return .busy
        default: return .store
        }
    }

    /// What an administrator can do, for the errors that have one answer.
    static func advice(_ sqlState: String?) -> String? {
        switch sqlState {
        case "28P01", "28000": return "check the user in store.postgres.url, its password file, and pg_hba.conf"
        case "3D000": return "create the database first (createdb), or correct the URL"
        case "3F000": return "the schema is missing: usersync creates it when the user may (GRANT CREATE ON DATABASE), else create it"
        case "42501": return "the user lacks a privilege on the store's schema or tables: GRANT it, or use the schema's owner"
        case "53100": return "the database server's disk is full: free space and run again"
        case "57P03": return "the server is starting up or shutting down: the next run tries again"
        default: return nil
        }
    }
}

private extension Optional where Wrapped == String {
    var orEmpty: String { self ?? "" }
}
