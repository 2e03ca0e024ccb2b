/// How to reach a directory server.
public struct LDAPConnectionOptions: Sendable {
    /// Server URIs (`ldap://`, `ldaps://`, `ldapi://`), tried in order until one answers.
    public var uris: [String]
    /// How long to wait for each server to accept the connection (and for the TLS handshake).
    public var connectTimeout: Duration = .seconds(5)
    /// How long to wait for the answer to any one request (a bind, one page of a search).
    public var operationTimeout: Duration = .seconds(60)
    /// TLS settings, for `ldaps://` and StartTLS. Unset fields keep libldap's defaults
    /// (`ldap.conf`, `~/.ldaprc`, `LDAPTLS_*` environment variables).
    public var tls: TLSOptions = TLSOptions()
    /// Upgrade an `ldap://` connection with StartTLS (RFC 4513 §3) before binding.
    public var startTLS: Bool = false
    /// Follow referrals and search continuation references. Off by default: Active Directory
    /// returns references to its other partitions that are rarely wanted and often unreachable.
    public var chaseReferrals: Bool = false

    public init(uris: [String]) { self.uris = uris }

    /// Splits a space- or comma-separated URI list as `ldap.conf`'s `URI` accepts it.
    public init(uriList: String) {
        self.uris = uriList.split(whereSeparator: { $0 == " " || $0 == "," || $0 == "\t" }).map(String.init)
    }
}

/// TLS settings for one connection. They are applied to a fresh libldap TLS context
/// (`LDAP_OPT_X_TLS_NEWCTX`), on top of what `ldap.conf` and `LDAPTLS_*` say.
public struct TLSOptions: Sendable, Equatable {
    /// Certificate verification, as `TLS_REQCERT` in ldap.conf.
    public enum Verify: String, Sendable, CaseIterable, Codable {
        /// Do not ask for or check the server's certificate.
        case never
        /// Check it, but continue if it is missing or bad.
        case allow
        /// Check it and stop if it is bad; continue if there is none.
        case `try`
        /// Check it and stop if it is missing or bad (libldap's default).
        case demand
    }

    /// Verification level; nil keeps libldap's configured default (demand unless ldap.conf says otherwise).
    public var verify: Verify?
    /// PEM file of CA certificates to trust.
    public var caFile: String?
    /// Directory of hashed CA certificates to trust.
    public var caDirectory: String?
    /// Client certificate (PEM), for servers that ask for one and for SASL EXTERNAL.
    public var certificateFile: String?
    /// Private key of the client certificate (PEM).
    public var keyFile: String?

    public init(verify: Verify? = nil, caFile: String? = nil, caDirectory: String? = nil,
                certificateFile: String? = nil, keyFile: String? = nil) {
        self.verify = verify
        self.caFile = caFile
        self.caDirectory = caDirectory
        self.certificateFile = certificateFile
        self.keyFile = keyFile
    }

    /// Whether any setting differs from libldap's defaults.
    public var isCustomised: Bool { self != TLSOptions() }
}

/// How to authenticate.
public enum BindCredentials: Sendable {
    /// No bind: the server's anonymous access.
    case anonymous
    /// A simple bind: a DN, or for Active Directory `user@domain` or `DOMAIN\user`, and a password.
    case simple(dn: String, password: String)
    /// A SASL bind (`EXTERNAL`, `GSSAPI`, `DIGEST-MD5`, …) through Cyrus SASL. `EXTERNAL` uses
    /// the identity of an `ldapi://` socket's peer or of the TLS client certificate.
    case sasl(mechanism: String, authenticationID: String? = nil, password: String? = nil,
              realm: String? = nil, authorizationID: String? = nil)
}
