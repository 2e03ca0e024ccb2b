import CLDAP
import Foundation

extension LDAPConnection {
    // MARK: - Connecting

    func open() throws {
        guard !options.uris.isEmpty else {
            throw LDAPError(code: .paramError, operation: "connect", kind: .invalidRequest,
                            detail: "no server URI given", isLocal: true)
        }
        // Failover in order, as libldap does with a URI list, but one URI at a time so that we
        // know which server answered and why each one before it did not.
        var failures: [LDAPError] = []
        for uri in options.uris {
            do {
                try open(uri: uri)
                skippedServers = failures
                return
            } catch let error as LDAPError where error.kind == .unreachable {
                failures.append(error)
            } catch let error as LDAPError where !failures.isEmpty {
                let skipped = failures.compactMap(\.uri).joined(separator: ", ")
                throw error.adding("(\(skipped) did not answer before)")
            }
        }
        if failures.count == 1 { throw failures[0] }
        let reasons = failures.map { "\($0.uri ?? "?"): \($0.detail ?? $0.code.text)" }.joined(separator: "; ")
        throw LDAPError(code: failures[failures.count - 1].code, operation: "connect",
                        uri: options.uris.joined(separator: " "), kind: .unreachable,
                        detail: "none of the \(failures.count) servers answered (\(reasons))")
    }

    func open(uri: String) throws {
        var handle: OpaquePointer?
        var rc = ldap_initialize(&handle, uri)
        guard rc == LDAP_SUCCESS, let handle else {
            throw LDAPError(code: LDAPResultCode(rc), operation: "connect", uri: uri, kind: .invalidRequest,
                            detail: "'\(uri)' is not an LDAP URI (ldap://host[:port], ldaps://host[:port] or ldapi://path)")
        }
        var keep = false
        defer { if !keep { ldap_unbind_ext_s(handle, nil, nil) } }

        var version = LDAP_VERSION3
        ldap_set_option(handle, LDAP_OPT_PROTOCOL_VERSION, &version)
        cldap_set_referrals(handle, options.chaseReferrals ? 1 : 0)
        // LDAP_OPT_NETWORK_TIMEOUT bounds connect(2); LDAP_OPT_TIMEOUT bounds the synchronous
        // calls (bind, StartTLS, WhoAmI). Searches pass their own timeout to ldap_result.
        var connectTimeout = timeval(options.connectTimeout)
        ldap_set_option(handle, LDAP_OPT_NETWORK_TIMEOUT, &connectTimeout)
        var operationTimeout = timeval(options.operationTimeout)
        ldap_set_option(handle, LDAP_OPT_TIMEOUT, &operationTimeout)

        let wantsTLS = uri.lowercased().hasPrefix("ldaps://") || options.startTLS
        if options.tls.isCustomised {
            try applyTLSOptions(handle, uri: uri)
        }

        let connectStarted = ContinuousClock.now
        rc = ldap_connect(handle)
        if rc != LDAP_SUCCESS {
            throw connectFailure(handle, rc: rc, uri: uri, tls: wantsTLS, elapsed: ContinuousClock.now - connectStarted)
        }
        // Whole blocks of what the server sent, not one system call per message part (see the shim).
        // ldapi:// sockets read the same way; a failure here only costs speed.
        _ = cldap_add_readahead(handle, 65536)
        if options.startTLS {
            rc = ldap_start_tls_s(handle, nil, nil)
            if rc != LDAP_SUCCESS {
                let error = LDAPConnection.error(handle, rc: rc, operation: "StartTLS", uri: uri)
                if error.code == .protocolError || error.code == .unavailable || error.code == .other
                    || error.code == .unwillingToPerform {
                    throw LDAPError(code: error.code, operation: "StartTLS", diagnosticMessage: error.diagnosticMessage,
                                    uri: uri, kind: .tls,
                                    detail: "the server did not accept StartTLS; it may not offer TLS on this port (try ldaps://)")
                }
                throw LDAPError(code: error.code, operation: "StartTLS", diagnosticMessage: error.diagnosticMessage,
                                uri: uri, kind: .tls, detail: "TLS handshake or certificate verification failed")
            }
        }
        self.ld = handle
        self.uri = uri
        self.isTLS = ldap_tls_inplace(handle) != 0
        var level: Int32 = 0
        if ldap_get_option(handle, LDAP_OPT_X_TLS_REQUIRE_CERT, &level) == LDAP_OPT_SUCCESS {
            switch level {
            case LDAP_OPT_X_TLS_NEVER: certificateVerification = .never
            case LDAP_OPT_X_TLS_ALLOW: certificateVerification = .allow
            case LDAP_OPT_X_TLS_TRY: certificateVerification = .try
            default: certificateVerification = .demand  // DEMAND and HARD
            }
        }
        keep = true
    }

    func applyTLSOptions(_ handle: OpaquePointer, uri: String) throws {
        let tls = options.tls
        func set(_ option: Int32, _ value: String?) throws {
            guard let value else { return }
            let rc = ldap_set_option(handle, option, value)
            if rc != LDAP_OPT_SUCCESS {
                throw LDAPError(code: LDAPResultCode(rc), operation: "TLS setup", uri: uri, kind: .tls,
                                detail: "libldap refused the TLS setting '\(value)'")
            }
        }
        for file in [tls.caFile, tls.certificateFile, tls.keyFile].compactMap({ $0 }) {
            guard FileManager.default.isReadableFile(atPath: file) else {
                throw LDAPError(code: .paramError, operation: "TLS setup", uri: uri, kind: .tls,
                                detail: "cannot read '\(file)'", isLocal: true)
            }
        }
        try set(LDAP_OPT_X_TLS_CACERTFILE, tls.caFile)
        try set(LDAP_OPT_X_TLS_CACERTDIR, tls.caDirectory)
        try set(LDAP_OPT_X_TLS_CERTFILE, tls.certificateFile)
        try set(LDAP_OPT_X_TLS_KEYFILE, tls.keyFile)
        if let verify = tls.verify {
            var level: Int32
            switch verify {
            case .never: level = LDAP_OPT_X_TLS_NEVER
            case .allow: level = LDAP_OPT_X_TLS_ALLOW
            case .try: level = LDAP_OPT_X_TLS_TRY
            case .demand: level = LDAP_OPT_X_TLS_DEMAND
            }
            ldap_set_option(handle, LDAP_OPT_X_TLS_REQUIRE_CERT, &level)
        }
        // ldap_set_option(3): TLS settings made on a handle take effect only in a new TLS
        // context: "LDAP_OPT_X_TLS_NEWCTX  Instructs the library to create a new TLS library
        // context." A zero value asks for a client context.
        var isServer: Int32 = 0
        let rc = ldap_set_option(handle, LDAP_OPT_X_TLS_NEWCTX, &isServer)
        if rc != LDAP_OPT_SUCCESS {
            let diag = LDAPConnection.diagnostic(handle)
            throw LDAPError(code: LDAPResultCode(rc), operation: "TLS setup", diagnosticMessage: diag, uri: uri,
                            kind: .tls, detail: "could not set up TLS with the given CA/certificate/key files (are they PEM?)")
        }
    }

    /// libldap reports a failed TLS handshake on an ldaps:// URI like a server that is down
    /// (LDAP_SERVER_DOWN / LDAP_CONNECT_ERROR), sometimes with no diagnostic. Tell the two apart
    /// by trying a plain TCP connection to the same address.
    ///
    /// A connect that failed before its timeout did not time out: a second, plain attempt tells
    /// what it met instead (refused, a name that does not resolve, no route), so that the
    /// message names the fault rather than a wait that never happened.
    func connectFailure(_ handle: OpaquePointer, rc: Int32, uri: String, tls: Bool, elapsed: Duration) -> LDAPError {
        let error = LDAPConnection.error(handle, rc: rc, operation: "connect", uri: uri)
        guard error.kind == .unreachable else { return error }
        let diag = error.diagnosticMessage ?? ""
        let mentionsTLS = ["tls", "certificate", "ssl", "handshake"].contains { diag.lowercased().contains($0) }
        if tls, mentionsTLS || TCPProbe.canConnect(uri: uri, timeout: options.connectTimeout) {
            return LDAPError(code: error.code, operation: "connect", diagnosticMessage: error.diagnosticMessage,
                             uri: uri, kind: .tls,
                             detail: "the server answered but the TLS handshake failed (certificate not trusted, wrong host name, or no TLS on this port)")
        }
        let timedOut = elapsed >= options.connectTimeout * 0.9
        let reason = timedOut ? "no answer within \(options.connectTimeout.seconds) s"
            : TCPProbe.failure(uri: uri, timeout: min(options.connectTimeout, .seconds(2)))
            ?? (uri.lowercased().hasPrefix("ldapi://") ? "the socket cannot be opened (is the server running, and is this its path?)"
                : "the connection failed")
        return LDAPError(code: error.code, operation: "connect", diagnosticMessage: error.diagnosticMessage,
                         uri: uri, kind: .unreachable, detail: "cannot reach \(uri): \(reason)")
    }
}
