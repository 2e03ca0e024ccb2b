import CLDAP
import Foundation

extension LDAPConnection {
    // MARK: - Binding

    /// Authenticates. A simple bind with a password over a connection without TLS, or over TLS
    /// whose certificate is not verified, is refused unless `allowInsecure` is true, and a
    /// simple bind with a DN but an empty password is
    /// refused always: servers treat it as an unauthenticated (anonymous) bind that "succeeds".
    public func bind(_ credentials: BindCredentials, allowInsecure: Bool = false) throws {
        let handle = try requireHandle("bind")
        var rc: Int32
        switch credentials {
        case .anonymous:
            return
        case let .simple(dn, password):
            guard !password.isEmpty else {
                throw LDAPError(code: .paramError, operation: "bind", uri: uri, kind: .authentication,
                                detail: "empty password for '\(dn)': the server would treat it as an unauthenticated (anonymous) bind",
                                isLocal: true)
            }
            try refuseInsecure(allowInsecure, what: "a simple bind")
            rc = password.withCString { pw in
                var cred = berval(bv_len: ber_len_t(strlen(pw)), bv_val: UnsafeMutablePointer(mutating: pw))
                return ldap_sasl_bind_s(handle, dn, cldap_sasl_simple(), &cred, nil, nil, nil)
            }
        case let .sasl(mechanism, authcid, password, realm, authzid):
            if ["PLAIN", "LOGIN"].contains(mechanism.uppercased()) {
                try refuseInsecure(allowInsecure, what: "a SASL \(mechanism.uppercased()) bind")
            }
            let strings = [mechanism, realm, authcid, password, authzid].map { $0.map { strdup($0) } ?? nil }
            defer { strings.forEach { free($0) } }
            var defaults = cldap_sasl_defaults(mech: strings[0], realm: strings[1], authcid: strings[2],
                                               passwd: strings[3], authzid: strings[4])
            rc = cldap_sasl_interactive_bind(handle, nil, mechanism, &defaults)
        }
        if rc != LDAP_SUCCESS {
            throw LDAPConnection.error(handle, rc: rc, operation: "bind", uri: uri)
        }
    }

    /// A password goes only over a connection that keeps it from others: TLS whose server
    /// certificate is verified (`demand` or `try`), or a local `ldapi://` socket. TLS with
    /// `never` or `allow` encrypts the password for whoever answers, a man in the middle
    /// included, so it is refused like plain LDAP unless `allowed`.
    func refuseInsecure(_ allowed: Bool, what: String) throws {
        guard !allowed else { return }
        if !isSecure {
            throw LDAPError(code: .confidentialityRequired, operation: "bind", uri: uri, kind: .insecureBindRefused,
                            detail: "refusing \(what) with a password over an unencrypted connection to \(uri)", isLocal: true)
        }
        if isTLS, !uri.lowercased().hasPrefix("ldapi://"), let verify = certificateVerification, verify == .never || verify == .allow {
            throw LDAPError(code: .confidentialityRequired, operation: "bind", uri: uri, kind: .insecureBindRefused,
                            detail: "refusing \(what) with a password to \(uri): the server's certificate is not verified (TLS_REQCERT \(verify.rawValue), from \(certificateVerificationOrigin.description)), so any server could take the password; trust its CA instead (tls caFile)",
                            isLocal: true)
        }
    }

    /// Where the certificate check in force came from: the connection's options, the
    /// `LDAPTLS_REQCERT` environment variable, libldap's configuration files (`ldap.conf`,
    /// `ldaprc`: `TLS_REQCERT`), or libldap's default (demand).
    public var certificateVerificationOrigin: VerificationOrigin {
        if options.tls.verify != nil { return .options }
        if let value = ProcessInfo.processInfo.environment["LDAPTLS_REQCERT"], !value.isEmpty { return .environment }
        if let verify = certificateVerification, verify != .demand { return .configurationFile }
        return .libraryDefault
    }

    /// The places a certificate check can be set, in libldap's order of precedence.
    public enum VerificationOrigin: String, Sendable {
        case options
        case environment
        case configurationFile
        case libraryDefault

        public var description: String {
            switch self {
            case .options: return "the connection's settings"
            case .environment: return "the environment variable LDAPTLS_REQCERT"
            case .configurationFile: return "ldap.conf or ldaprc (TLS_REQCERT)"
            case .libraryDefault: return "libldap's default"
            }
        }
    }

    /// The identity the server sees (RFC 4532 WhoAmI), e.g. `dn:cn=admin,dc=example,dc=com`
    /// or `u:CORP\svc-usersync`; an empty string for an anonymous connection.
    public func whoAmI() throws -> String {
        let handle = try requireHandle("WhoAmI")
        var authzid: UnsafeMutablePointer<berval>?
        let rc = ldap_whoami_s(handle, &authzid, nil, nil)
        defer { if authzid != nil { ber_bvfree(authzid) } }
        guard rc == LDAP_SUCCESS else {
            throw LDAPConnection.error(handle, rc: rc, operation: "WhoAmI", uri: uri)
        }
        guard let authzid, authzid.pointee.bv_val != nil else { return "" }
        return LDAPConnection.string(authzid.pointee)
    }
}
