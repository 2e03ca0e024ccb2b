import CLDAP
import Foundation

/// A connection to one directory server: the only owner of its libldap handle (`LDAP *`).
///
/// Every libldap call runs on the connection's own thread (see `ThreadExecutor`), so blocking
/// calls never hold up Swift's cooperative thread pool and the handle is never used by two
/// threads at once. The handle is released (`ldap_unbind_ext_s`) when the connection is closed
/// or deinitialised.
public actor LDAPConnection {
    private let executor: ThreadExecutor
    public nonisolated var unownedExecutor: UnownedSerialExecutor { executor.asUnownedSerialExecutor() }

    private var ld: OpaquePointer?
    /// The options the connection was opened with.
    public nonisolated let options: LDAPConnectionOptions
    /// The URI of the server that answered (the first reachable one of `options.uris`).
    public private(set) var uri: String = ""
    /// Whether TLS protects the connection (`ldaps://` or StartTLS).
    public private(set) var isTLS = false
    /// The certificate check in force (from the options, or ldap.conf / LDAPTLS_REQCERT).
    public private(set) var certificateVerification: TLSOptions.Verify?
    /// Servers that were tried before `uri` and did not answer, with the reason.
    public private(set) var skippedServers: [LDAPError] = []

    private init(options: LDAPConnectionOptions) {
        self.options = options
        self.executor = ThreadExecutor(name: "ldap-connection")
    }

    // Isolated, so that the unbind runs on the connection's thread like every other call.
    isolated deinit {
        if let ld { ldap_unbind_ext_s(ld, nil, nil) }
        executor.shutdown()
    }

    /// Connects to the first server of `options.uris` that answers within the connect timeout,
    /// and performs StartTLS when asked. Binding is a separate step (`bind(_:allowInsecure:)`).
    public static func connect(_ options: LDAPConnectionOptions) async throws -> LDAPConnection {
        let connection = LDAPConnection(options: options)
        try await connection.open()
        return connection
    }

    /// Whether a password sent now would be protected: TLS is on, or the connection is a local
    /// `ldapi://` socket.
    public var isSecure: Bool { isTLS || uri.lowercased().hasPrefix("ldapi://") }

    /// Releases the connection (an unbind request). Later calls fail with `serverDown`.
    public func close() {
        if let ld { ldap_unbind_ext_s(ld, nil, nil) }
        ld = nil
    }

    // MARK: - Connecting

    private func open() throws {
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

    private func open(uri: String) throws {
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

    private func applyTLSOptions(_ handle: OpaquePointer, uri: String) throws {
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
    private func connectFailure(_ handle: OpaquePointer, rc: Int32, uri: String, tls: Bool, elapsed: Duration) -> LDAPError {
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
    private func refuseInsecure(_ allowed: Bool, what: String) throws {
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

    // MARK: - Searching

    /// Reads a whole (small) result without paging: for base searches and short lists.
    public func search(_ request: SearchRequest) throws -> SearchResult {
        let msgid = try sendSearch(request, pageSize: 0, cookie: [])
        let received = try receive(msgid, request: request)
        return SearchResult(entries: received.entries, references: received.references)
    }

    /// Streams a search page by page with the paged results control (RFC 2696). Only one page
    /// is held at a time, and the request for the next page is sent before the current one is
    /// handed over, so the server works while the caller does.
    public nonisolated func pagedSearch(_ request: SearchRequest, pageSize: Int = 500) -> PagedSearch {
        PagedSearch(connection: self, request: request, pageSize: max(1, pageSize))
    }

    func startPagedSearch(_ request: SearchRequest, pageSize: Int) throws -> Int32 {
        try sendSearch(request, pageSize: pageSize, cookie: [])
    }

    /// Waits for the page of `msgid`, and sends the request for the next one if there is more.
    func nextPage(_ msgid: Int32, request: SearchRequest, pageSize: Int, index: Int) throws -> (SearchPage, Int32?) {
        let received = try receive(msgid, request: request)
        var next: Int32?
        if received.pagedByServer, !received.cookie.isEmpty {
            next = try sendSearch(request, pageSize: pageSize, cookie: received.cookie)
        }
        let page = SearchPage(index: index, entries: received.entries, references: received.references,
                              pagedByServer: received.pagedByServer, estimatedTotal: received.estimate)
        return (page, next)
    }

    /// Stops an outstanding request (a search abandoned by its consumer).
    func abandon(_ msgid: Int32) {
        guard let ld else { return }
        ldap_abandon_ext(ld, msgid, nil, nil)
    }

    private func sendSearch(_ request: SearchRequest, pageSize: Int, cookie: [UInt8],
                            base: String? = nil, scope: SearchRequest.Scope? = nil,
                            attributes: [String]? = nil) throws -> Int32 {
        let handle = try requireHandle("search")
        var control: UnsafeMutablePointer<LDAPControl>?
        defer { if let control { ldap_control_free(control) } }
        if pageSize > 0 {
            var rc: Int32
            if cookie.isEmpty {
                rc = ldap_create_page_control(handle, ber_int_t(pageSize), nil, 0, &control)
            } else {
                rc = cookie.withUnsafeBufferPointer { buffer in
                    var value = berval(bv_len: ber_len_t(buffer.count),
                                       bv_val: UnsafeMutableRawPointer(mutating: buffer.baseAddress!)
                                           .assumingMemoryBound(to: CChar.self))
                    return ldap_create_page_control(handle, ber_int_t(pageSize), &value, 0, &control)
                }
            }
            guard rc == LDAP_SUCCESS else {
                throw LDAPConnection.error(handle, rc: rc, operation: "search", uri: uri)
            }
        }
        let names = attributes ?? request.attributes
        let cNames: [UnsafeMutablePointer<CChar>?] = names.map { strdup($0) } + [nil]
        defer { cNames.forEach { free($0) } }
        var serverControls: [UnsafeMutablePointer<LDAPControl>?] = [control, nil]
        var timeLimit = timeval(tv_sec: request.timeLimit, tv_usec: 0)
        var msgid: Int32 = 0
        let rc = cNames.withUnsafeBufferPointer { namesBuffer in
            serverControls.withUnsafeMutableBufferPointer { controls in
                withUnsafeMutablePointer(to: &timeLimit) { limit in
                    ldap_search_ext(handle, base ?? request.base, (scope ?? request.scope).rawLDAP, request.filter,
                                    names.isEmpty ? nil : UnsafeMutablePointer(mutating: namesBuffer.baseAddress),
                                    0, control == nil ? nil : controls.baseAddress, nil,
                                    request.timeLimit > 0 ? limit : nil, Int32(clamping: request.sizeLimit), &msgid)
                }
            }
        }
        guard rc == LDAP_SUCCESS else {
            throw LDAPConnection.error(handle, rc: rc, operation: "search", uri: uri)
        }
        return msgid
    }

    private struct Received {
        var entries: [LDAPEntry] = []
        var references: [String] = []
        var cookie: [UInt8] = []
        var pagedByServer = false
        var estimate = 0
    }

    /// Collects every message of one search request up to its result.
    private func receive(_ msgid: Int32, request: SearchRequest) throws -> Received {
        let handle = try requireHandle("search")
        var received = Received()
        var done = false
        while !done {
            var timeout = timeval(options.operationTimeout)
            var chain: OpaquePointer?
            // LDAP_MSG_RECEIVED: everything of this request that has arrived so far, so a big
            // page is parsed while the rest of it is still on the wire.
            let rc = ldap_result(handle, msgid, LDAP_MSG_RECEIVED, &timeout, &chain)
            defer { if chain != nil { ldap_msgfree(chain) } }
            if rc == 0 {
                ldap_abandon_ext(handle, msgid, nil, nil)
                throw LDAPError(code: .timeout, operation: "search", uri: uri, kind: .timeout,
                                detail: "no answer from the server within \(options.operationTimeout.seconds) s")
            }
            if rc == -1 {
                var code: Int32 = 0
                ldap_get_option(handle, LDAP_OPT_RESULT_CODE, &code)
                let error = LDAPConnection.error(handle, rc: code, operation: "search", uri: uri)
                if error.kind == .unreachable {
                    throw LDAPError(code: error.code, operation: "search", diagnosticMessage: error.diagnosticMessage,
                                    uri: uri, kind: .connectionLost,
                                    detail: "the connection to \(uri) was lost after \(received.entries.count) entries of this page")
                }
                throw error
            }
            var message = ldap_first_message(handle, chain)
            while let current = message {
                let type = ldap_msgtype(current)
                if type == cldap_res_search_entry() {
                    received.entries.append(try parseEntry(handle, current))
                } else if type == cldap_res_search_reference() {
                    received.references += parseReference(handle, current)
                } else if type == cldap_res_search_result() {
                    try parseResult(handle, current, into: &received, request: request)
                    done = true
                }
                message = ldap_next_message(handle, current)
            }
        }
        if request.completeRangedAttributes {
            // A byte test: String.contains(String) goes through Foundation's locale-aware search,
            // which cost more than parsing the entry.
            for i in received.entries.indices where received.entries[i].hasAttributeName(containing: UInt8(ascii: ";")) {
                try completeRanges(&received.entries[i], request: request)
            }
        }
        return received
    }

    private func parseEntry(_ handle: OpaquePointer, _ message: OpaquePointer) throws -> LDAPEntry {
        // ldap_get_dn_ber/ldap_get_attribute_ber hand out values that point into the message's
        // BER buffer: no copy per value in libldap, one copy (into Swift) here.
        var ber: OpaquePointer?
        var dn = berval()
        var rc = ldap_get_dn_ber(handle, message, &ber, &dn)
        defer { if ber != nil { ber_free(ber, 0) } }
        guard rc == LDAP_SUCCESS else {
            throw LDAPConnection.error(handle, rc: rc, operation: "search", uri: uri)
        }
        let dnString = LDAPConnection.string(dn)
        // All names and values go into one packed buffer (LDAPEntry.packed): one allocation per
        // entry rather than two per attribute.
        var packer = LDAPEntry.Packer(capacity: 512)
        while true {
            var name = berval()
            var values: UnsafeMutablePointer<berval>?
            rc = ldap_get_attribute_ber(handle, message, ber, &name, &values)
            // ldap_get_attribute_ber(3): "the array of values ... must be freed with ber_memfree()".
            defer { if values != nil { ber_memfree(values) } }
            guard rc == LDAP_SUCCESS, name.bv_val != nil else { break }
            var count = 0
            if let values { while values[count].bv_val != nil { count += 1 } }
            packer.appendName(LDAPConnection.buffer(name), valueCount: count)
            for i in 0..<count { packer.appendValue(LDAPConnection.buffer(values![i])) }
        }
        return LDAPEntry(dn: dnString, packer: packer)
    }

    private func parseReference(_ handle: OpaquePointer, _ message: OpaquePointer) -> [String] {
        var refs: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?
        guard ldap_parse_reference(handle, message, &refs, nil, 0) == LDAP_SUCCESS, let refs else { return [] }
        defer { ber_memvfree(UnsafeMutableRawPointer(refs).assumingMemoryBound(to: UnsafeMutableRawPointer?.self)) }
        var result: [String] = []
        var i = 0
        while let ref = refs[i] {
            result.append(String(cString: ref))
            i += 1
        }
        return result
    }

    private func parseResult(_ handle: OpaquePointer, _ message: OpaquePointer, into received: inout Received,
                             request: SearchRequest) throws {
        var code: Int32 = 0
        var matched: UnsafeMutablePointer<CChar>?
        var text: UnsafeMutablePointer<CChar>?
        var referrals: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?
        var controls: UnsafeMutablePointer<UnsafeMutablePointer<LDAPControl>?>?
        let rc = ldap_parse_result(handle, message, &code, &matched, &text, &referrals, &controls, 0)
        defer {
            if matched != nil { ldap_memfree(matched) }
            if text != nil { ldap_memfree(text) }
            if let referrals { ber_memvfree(UnsafeMutableRawPointer(referrals).assumingMemoryBound(to: UnsafeMutableRawPointer?.self)) }
            if controls != nil { ldap_controls_free(controls) }
        }
        guard rc == LDAP_SUCCESS else {
            throw LDAPConnection.error(handle, rc: rc, operation: "search", uri: uri)
        }
        guard code == LDAP_SUCCESS else {
            let diag = text.map { String(cString: $0) }
            let matchedDN = matched.map { String(cString: $0) }
            var detail: String?
            switch LDAPResultCode(code) {
            case .sizeLimitExceeded:
                detail = "the result is larger than the size limit"
                    + (request.sizeLimit > 0 ? " (\(request.sizeLimit) entries)" : " the server allows this account")
                    + "; the result would be incomplete"
            case .timeLimitExceeded:
                detail = "the search took longer than the time limit; the result would be incomplete"
            case .noSuchObject:
                detail = "the search base '\(request.base)' does not exist"
            case .referral:
                var urls: [String] = []
                if let referrals {
                    var i = 0
                    while let r = referrals[i] { urls.append(String(cString: r)); i += 1 }
                }
                detail = "the server refers this search elsewhere: \(urls.joined(separator: " ")); "
                    + "the base '\(request.base)' is not held by this server"
            case .unavailableCriticalExtension:
                detail = "the server does not support a control this search needs"
            case .adminLimitExceeded where diag?.lowercased().contains("paged") == true:
                detail = "the server does not allow paged results for this account; the result would be incomplete"
            default:
                break
            }
            throw LDAPError(code: LDAPResultCode(code), operation: "search", diagnosticMessage: diag,
                            matchedDN: matchedDN, uri: uri, detail: detail)
        }
        if let controls, let page = ldap_control_find(LDAP_CONTROL_PAGEDRESULTS, controls, nil) {
            var count: ber_int_t = 0
            var cookie = berval()
            if ldap_parse_pageresponse_control(handle, page, &count, &cookie) == LDAP_SUCCESS {
                received.pagedByServer = true
                received.estimate = Int(count)
                received.cookie = LDAPConnection.bytes(cookie)
                if cookie.bv_val != nil { ber_memfree(cookie.bv_val) }
            }
        }
    }

    /// Reads the remaining ranges of every ranged attribute of `entry`, and stores all values
    /// under the attribute's plain name. Windows AD ranges a plain request for `member` past
    /// 1,500 values (`member;range=0-1499`); a caller may also ask for a range explicitly.
    private func completeRanges(_ entry: inout LDAPEntry, request: SearchRequest) throws {
        for attribute in entry.attributes {
            guard let first = RangedAttribute(attribute.name) else { continue }
            var values = attribute.values
            var current = first
            var rounds = 0
            while let next = current.nextRequest {
                rounds += 1
                let msgid = try sendSearch(request, pageSize: 0, cookie: [], base: entry.dn, scope: .base,
                                           attributes: [next])
                var partRequest = request
                partRequest.completeRangedAttributes = false
                let part = try receive(msgid, request: partRequest)
                guard let partEntry = part.entries.first,
                      let partAttribute = partEntry.attributes.first(where: {
                          RangedAttribute($0.name)?.baseName.caseInsensitiveCompare(first.baseName) == .orderedSame
                      }),
                      let range = RangedAttribute(partAttribute.name) else {
                    break // the server has no more values to give
                }
                values += partAttribute.values
                guard range.high == nil || range.high! > current.high!, rounds < 1_000_000 else {
                    throw LDAPError(code: .decodingError, operation: "search", uri: uri, kind: .other,
                                    detail: "the server returned ranges of '\(first.baseName)' of \(entry.dn) that do not advance")
                }
                current = range
            }
            entry.remove(attribute.name)
            entry.set(first.baseName, values: entry[first.baseName] + values)
        }
    }

    // MARK: - Helpers

    private func requireHandle(_ operation: String) throws -> OpaquePointer {
        guard let ld else {
            throw LDAPError(code: .serverDown, operation: operation, uri: uri, kind: .connectionLost,
                            detail: "the connection is closed", isLocal: true)
        }
        return ld
    }

    static func diagnostic(_ handle: OpaquePointer) -> String? {
        var text: UnsafeMutablePointer<CChar>?
        ldap_get_option(handle, LDAP_OPT_DIAGNOSTIC_MESSAGE, &text)
        defer { if text != nil { ldap_memfree(text) } }
        return text.map { String(cString: $0) }
    }

    static func error(_ handle: OpaquePointer, rc: Int32, operation: String, uri: String?) -> LDAPError {
        var matched: UnsafeMutablePointer<CChar>?
        ldap_get_option(handle, LDAP_OPT_MATCHED_DN, &matched)
        defer { if matched != nil { ldap_memfree(matched) } }
        return LDAPError(code: LDAPResultCode(rc), operation: operation, diagnosticMessage: diagnostic(handle),
                         matchedDN: matched.map { String(cString: $0) }, uri: uri)
    }

    static func bytes(_ value: berval) -> [UInt8] {
        guard let base = value.bv_val, value.bv_len > 0 else { return [] }
        return Array(UnsafeRawBufferPointer(start: base, count: Int(value.bv_len)))
    }

    /// The bytes of a berval, without copying them (valid while libldap keeps the value).
    static func buffer(_ value: berval) -> UnsafeBufferPointer<UInt8> {
        guard let base = value.bv_val, value.bv_len > 0 else { return UnsafeBufferPointer(start: nil, count: 0) }
        return UnsafeBufferPointer(start: UnsafeRawPointer(base).assumingMemoryBound(to: UInt8.self), count: Int(value.bv_len))
    }

    static func string(_ value: berval) -> String {
        guard let base = value.bv_val, value.bv_len > 0 else { return "" }
        return String(decoding: UnsafeRawBufferPointer(start: base, count: Int(value.bv_len)), as: UTF8.self)
    }
}

extension timeval {
    init(_ duration: Duration) {
        let (seconds, attoseconds) = duration.components
        self.init(tv_sec: Int(seconds), tv_usec: Int(attoseconds / 1_000_000_000_000))
    }
}

extension Duration {
    /// Whole and fractional seconds, for messages.
    var seconds: String {
        let (s, atto) = components
        let value = Double(s) + Double(atto) / 1e18
        return value == value.rounded() ? String(Int(value)) : String(format: "%.1f", value)
    }
}
