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

    /// The libldap handle; nil once closed. Only the connection's own methods (in this file and
    /// its `+Connect`, `+Bind` and `+Search` extensions) touch it, on the connection's thread.
    var ld: OpaquePointer?
    /// The options the connection was opened with.
    public nonisolated let options: LDAPConnectionOptions
    /// The URI of the server that answered (the first reachable one of `options.uris`).
    public internal(set) var uri: String = ""
    /// Whether TLS protects the connection (`ldaps://` or StartTLS).
    public internal(set) var isTLS = false
    /// The certificate check in force (from the options, or ldap.conf / LDAPTLS_REQCERT).
    public internal(set) var certificateVerification: TLSOptions.Verify?
    /// Servers that were tried before `uri` and did not answer, with the reason.
    public internal(set) var skippedServers: [LDAPError] = []

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

    // MARK: - Helpers

    func requireHandle(_ operation: String) throws -> OpaquePointer {
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
