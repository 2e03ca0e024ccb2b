import ArgumentParser
import LDAP
import UserSync

/// The exit codes of `usersync`, one per class of failure, so that schedulers and scripts can
/// tell them apart. Listed in `usersync --help` and the README.
enum ExitStatus: Int32, CaseIterable {
    case success = 0
    case failure = 1
    case configuration = 2
    case unreachable = 3
    case tls = 4
    case authentication = 5
    case insecure = 6
    case searchFailed = 7
    case incomplete = 8
    case guardStopped = 9
    case busy = 10
    case malformed = 11
    case partial = 12
    case usage = 64

    var meaning: String {
        switch self {
        case .success: return "success"
        case .failure: return "other failure"
        case .configuration: return "configuration error (bad URI, filter, DN; unreadable password)"
        case .unreachable: return "no server answered, a request timed out, or the connection dropped"
        case .tls: return "TLS failed (handshake, certificate check, TLS files)"
        case .authentication: return "the bind was refused (wrong password; AD: locked, disabled, …)"
        case .insecure: return "a password would travel unencrypted, to an unverified server, or to a server the source does not name (refused by usersync or server)"
        case .searchFailed: return "the search failed (no such base, no access, bad filter)"
        case .incomplete: return "a size or time limit cut the result short"
        case .guardStopped: return "the safety guard stopped the sync (empty read, too many deactivations or skips, maxUsers), or a push (maxDeletions): nothing changed"
        case .busy: return "another sync is in progress on the store (waited --wait seconds)"
        case .malformed: return "the source's data is malformed (a CSV file's quoting, field count or encoding; a stable id twice): nothing changed"
        case .partial: return "a push sent most objects but some failed (tried again by the next push; see usersync targets status)"
        case .usage: return "invalid command-line arguments"
        }
    }

    /// The status for a kind of failure; an invalid request while connecting is a bad URI in
    /// the configuration, elsewhere a bad search.
    init(_ kind: FailureKind, operation: String? = nil) {
        switch kind {
        case .unreachable, .timeout, .connectionLost: self = .unreachable
        case .tls: self = .tls
        case .authentication: self = .authentication
        case .insecureBindRefused, .encryptionRequired: self = .insecure
        case .noSuchObject, .insufficientAccess: self = .searchFailed
        case .invalidRequest: self = operation == "connect" ? .configuration : .searchFailed
        case .limitExceeded: self = .incomplete
        case .configuration: self = .configuration
        case .busy: self = .busy
        case .malformed: self = .malformed
        case .guardStop: self = .guardStopped
        case .store, .other: self = .failure
        }
    }

    init(_ kind: LDAPError.Kind, operation: String? = nil) {
        self.init(FailureKind(kind), operation: operation)
    }

    /// The status of a sync that ended with `report`.
    init(_ report: SyncReport) {
        switch (report.status, report.errorKind) {
        case (.applied, _), (.planned, _): self = .success
        case (.stopped, _): self = .guardStopped
        case (_, let kind?): self = ExitStatus(kind)
        default: self = .failure
        }
    }

    /// The word for this status in JSON error objects (`errorKind`).
    var kind: String {
        switch self {
        case .success: return "none"
        case .failure: return "other"
        case .configuration: return "configuration"
        case .unreachable: return "unreachable"
        case .tls: return "tls"
        case .authentication: return "authentication"
        case .insecure: return "insecureBindRefused"
        case .searchFailed: return "searchFailed"
        case .incomplete: return "limitExceeded"
        case .guardStopped: return "guard"
        case .busy: return "busy"
        case .malformed: return "malformed"
        case .partial: return "partial"
        case .usage: return "usage"
        }
    }

    /// The table for `--help` and the README.
    static var table: String {
        allCases.map { "  \(String($0.rawValue).padding(toLength: 3, withPad: " ", startingAt: 0)) \($0.meaning)" }
            .joined(separator: "\n")
    }

    var exitCode: ExitCode { ExitCode(rawValue) }
}

/// An error that ends the command with a message and a given exit status.
struct CommandFailure: Error, CustomStringConvertible {
    let status: ExitStatus
    let message: String
    var description: String { message }
}
