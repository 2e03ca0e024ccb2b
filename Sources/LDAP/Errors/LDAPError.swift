import Foundation

/// An LDAP operation that failed: the result code, the server's diagnostic message and matched DN
/// as libldap reported them, and a classification that callers (and exit codes) rely on.
public struct LDAPError: Error, Sendable, CustomStringConvertible {
    /// What kind of failure this is, from an administrator's point of view.
    public enum Kind: String, Sendable, Codable, CaseIterable {
        /// No server answered: refused, unresolvable, or no answer within the connect timeout.
        case unreachable
        /// A TLS handshake or certificate verification failed (LDAPS or StartTLS).
        case tls
        /// The server refused the credentials (wrong password, locked account, …).
        case authentication
        /// usersync refused to send a password over an unencrypted connection.
        case insecureBindRefused
        /// The server requires an encrypted connection or a stronger authentication.
        case encryptionRequired
        /// The search base (or another named entry) does not exist.
        case noSuchObject
        /// The bound identity may not read what was asked.
        case insufficientAccess
        /// A size, time or administrative limit cut the result short.
        case limitExceeded
        /// An operation got no answer within the operation timeout.
        case timeout
        /// The request itself was malformed: bad filter, DN syntax, parameter.
        case invalidRequest
        /// The connection dropped during an operation.
        case connectionLost
        /// Anything else.
        case other
    }

    /// The result code the server (or libldap, for negative codes) returned.
    public let code: LDAPResultCode
    /// What was being done: "connect", "StartTLS", "bind", "search", "WhoAmI", ….
    public let operation: String
    /// The server's (or libldap's) diagnostic message, if any.
    public let diagnosticMessage: String?
    /// The matched DN the server returned (for noSuchObject: the deepest existing entry).
    public let matchedDN: String?
    /// The URI involved, if known.
    public let uri: String?
    /// The classification of the failure.
    public let kind: Kind
    /// A sentence of our own that explains the failure, when the code alone does not.
    public let detail: String?
    /// True when usersync itself refused (nothing was sent to the server); the result code is
    /// then only the nearest LDAP equivalent.
    public let isLocal: Bool

    public init(code: LDAPResultCode, operation: String, diagnosticMessage: String? = nil,
                matchedDN: String? = nil, uri: String? = nil, kind: Kind? = nil, detail: String? = nil,
                isLocal: Bool = false) {
        self.code = code
        self.operation = operation
        let diag = diagnosticMessage?.trimmingCharacters(in: .whitespacesAndNewlines)
        self.diagnosticMessage = (diag?.isEmpty ?? true) ? nil : diag
        self.matchedDN = (matchedDN?.isEmpty ?? true) ? nil : matchedDN
        self.uri = uri
        self.kind = kind ?? LDAPError.classify(code)
        self.detail = detail
        self.isLocal = isLocal
    }

    /// The same error with a sentence added to its detail.
    public func adding(_ sentence: String) -> LDAPError {
        LDAPError(code: code, operation: operation, diagnosticMessage: diagnosticMessage, matchedDN: matchedDN,
                  uri: uri, kind: kind, detail: (detail ?? code.text) + " " + sentence, isLocal: isLocal)
    }

    /// Active Directory's reason for refusing a bind, decoded from the diagnostic message.
    public var adBindReason: ADBindReason? {
        guard let diag = diagnosticMessage else { return nil }
        return ADBindReason(diagnosticMessage: diag)
    }

    /// The default classification of a result code.
    public static func classify(_ code: LDAPResultCode) -> Kind {
        switch code {
        case .serverDown, .connectError: return .unreachable
        case .invalidCredentials, .inappropriateAuthentication, .authMethodNotSupported, .authUnknown:
            return .authentication
        case .strongAuthRequired, .confidentialityRequired: return .encryptionRequired
        case .noSuchObject: return .noSuchObject
        case .insufficientAccessRights: return .insufficientAccess
        case .sizeLimitExceeded, .timeLimitExceeded, .adminLimitExceeded: return .limitExceeded
        case .timeout: return .timeout
        case .filterError, .invalidDNSyntax, .paramError, .protocolError, .undefinedAttributeType,
             .inappropriateMatching:
            return .invalidRequest
        default: return .other
        }
    }

    /// One line: what failed and why, with the AD reason when there is one.
    public var description: String {
        var text = "\(operation) failed: \(detail ?? code.text)"
        if !isLocal { text += " (LDAP result \(code.rawValue))" }
        if let reason = adBindReason {
            text += "; Active Directory says: \(reason.summary) (data \(reason.rawValue))"
        }
        if let diag = diagnosticMessage, diag != code.text, diag != "(unknown error code)" {
            text += "; server: \(diag)"
        }
        if let matched = matchedDN { text += "; matched DN: \(matched)" }
        return text
    }

    /// What an administrator can try next, or nil when there is nothing useful to say.
    public var hint: String? {
        switch kind {
        case .unreachable:
            return "check the URI, host name and port, that the server runs and that no firewall blocks it"
        case .tls:
            return "give the CA that signed the server's certificate (--ca-file, TLS_CACERT in ldap.conf or LDAPTLS_CACERT), check that the URI's host name is one the certificate names"
        case .authentication:
            if let reason = adBindReason {
                switch reason {
                case .invalidCredentials, .noSuchUser: return "check the bind DN or user name and the password"
                case .accountLocked: return "the account is locked: wait for the lockout to expire or ask a domain administrator to unlock it"
                case .accountDisabled, .accountExpired: return "enable or extend the account in the directory, or use another service account"
                case .passwordExpired, .mustChangePassword: return "set a new password for the account"
                default: return "ask a domain administrator about the account's logon restrictions"
                }
            }
            return "check the bind DN (a full DN, user@domain or DOMAIN\\user for Active Directory) and the password"
        case .insecureBindRefused:
            return "use ldaps:// or StartTLS (-Z), or pass --allow-insecure-bind if you accept sending the password in clear"
        case .encryptionRequired:
            return "the server requires an encrypted connection: use ldaps:// or StartTLS (-Z)"
        case .noSuchObject:
            return "check the search base; it must be an existing entry under one of the server's naming contexts"
        case .insufficientAccess:
            return "bind as an account that may read this part of the directory"
        case .limitExceeded:
            return "raise the server's size/time limit for this account or narrow the search; paged results avoid most size limits"
        case .timeout:
            return "the server did not answer in time: raise the timeout or check the server's load"
        case .invalidRequest:
            return "check the filter, base DN and attribute names"
        case .connectionLost:
            return "the connection dropped: check the server and the network, then run again"
        case .other:
            return nil
        }
    }
}
