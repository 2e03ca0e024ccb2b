import Foundation
import LDAP

/// What kind of failure ended a run, from an administrator's point of view. The raw values are
/// the words reports (`errorKind`), `--json` output and the `kind` label of the failure metric
/// carry; the LDAP kinds keep `LDAPError.Kind`'s names.
public enum FailureKind: String, Codable, Sendable, CaseIterable {
    case unreachable, tls, authentication, insecureBindRefused, encryptionRequired, noSuchObject
    case insufficientAccess, limitExceeded, timeout, invalidRequest, connectionLost
    /// The configuration cannot work (a bad setting, an unreadable password file).
    case configuration
    /// Another run holds the store.
    case busy
    /// The store (SQLite) failed: a full disk, an I/O error, a damaged file.
    case store
    /// The source's data is malformed: a CSV file's quoting, fields or encoding; a stable id twice.
    case malformed
    /// The guard stopped the run.
    case guardStop = "guard"
    case other

    /// The kind of an LDAP failure (every `LDAPError.Kind` has a case of the same name).
    public init(_ kind: LDAPError.Kind) {
        switch kind {
        case .unreachable: self = .unreachable
        case .tls: self = .tls
        case .authentication: self = .authentication
        case .insecureBindRefused: self = .insecureBindRefused
        case .encryptionRequired: self = .encryptionRequired
        case .noSuchObject: self = .noSuchObject
        case .insufficientAccess: self = .insufficientAccess
        case .limitExceeded: self = .limitExceeded
        case .timeout: self = .timeout
        case .invalidRequest: self = .invalidRequest
        case .connectionLost: self = .connectionLost
        case .other: self = .other
        }
    }

    /// Failures that may pass by themselves: a server down or slow, the store busy with another
    /// run, a file caught while it was being written. The others (a wrong password, a bad
    /// configuration, a guard stop) wait for someone to act.
    public var isTransient: Bool {
        switch self {
        case .unreachable, .timeout, .connectionLost, .busy, .malformed: return true
        default: return false
        }
    }
}

/// A failure as reports and commands show it: its kind and a message that says what happened
/// (and, where the error carries one, what to do).
public struct SyncFailure: Error, Sendable, CustomStringConvertible {
    public var kind: FailureKind
    public var message: String
    public var description: String { message }

    public init(kind: FailureKind, message: String) {
        self.kind = kind
        self.message = message
    }

    /// Classifies any error the engine, its sources or its store can throw.
    public init(_ error: any Error) {
        switch error {
        case let error as SyncFailure:
            self = error
        case let error as LDAPError:
            self.init(kind: FailureKind(error.kind), message: error.description + (error.hint.map { " (\($0))" } ?? ""))
        case let error as Secrets.Unavailable:
            self.init(kind: .configuration, message: error.description)
        case let error as SyncConfigurationError:
            self.init(kind: .configuration, message: error.description)
        case let error as ServiceProvider.Unreadable:
            self.init(kind: .configuration, message: error.description)
        case let error as StoreError:
            switch error {
            case .busy, .sourceBusy, .targetBusy:
                self.init(kind: .busy, message: error.description)
            default:
                self.init(kind: .store, message: error.description)
            }
        case let error as PostgresStoreError:
            // Its own kind: a database out of reach or gone mid-run passes (the next slot tries
            // again); refused credentials or a bad URL do not.
            self.init(kind: error.kind, message: error.description)
        case let error as any StoreFailure:
            self.init(kind: .store, message: error.storeMessage)
        case let error as DuplicateStableID:
            self.init(kind: .malformed, message: error.description)
        case let error as CSVFileError:
            self.init(kind: error.unreadable ? .unreachable : .malformed, message: error.description)
        case let error as CommandSourceError:
            switch error.kind {
            case .cannotStart: self.init(kind: .configuration, message: error.message)
            case .timeout: self.init(kind: .timeout, message: error.message)
            case .failed: self.init(kind: .other, message: error.message)
            case .malformed: self.init(kind: .malformed, message: error.message)
            }
        case let error as HTTPSourceError:
            let kind: FailureKind
            switch error.kind {
            case .unreachable: kind = .unreachable
            case .tls: kind = .tls
            case .authentication: kind = .authentication
            case .insecure: kind = .insecureBindRefused
            case .malformed: kind = .malformed
            case .configuration: kind = .configuration
            case .searchFailed: kind = .noSuchObject
            case .other: kind = .other
            }
            self.init(kind: kind, message: error.description)
        default:
            self.init(kind: .other, message: "\(error)")
        }
    }

    /// Whether `error` came from the store (SQLite), not from the source.
    static func isStoreFailure(_ error: any Error) -> Bool {
        if error is any StoreFailure { return true }
        guard let error = error as? StoreError else { return false }
        switch error {
        case .busy, .sourceBusy, .targetBusy: return false
        default: return true
        }
    }
}

/// An error of a store's database (SQLite's, PostgreSQL's): a `store` failure, with what an
/// administrator can do about it.
protocol StoreFailure: Error {
    var storeMessage: String { get }
}
