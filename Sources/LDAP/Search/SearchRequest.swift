import CLDAP

/// What to search for.
public struct SearchRequest: Sendable {
    /// How deep below the base a search goes.
    public enum Scope: String, Sendable, CaseIterable, Codable {
        /// Only the base entry.
        case base
        /// The base's immediate children.
        case one
        /// The base and everything below it.
        case sub

        var rawLDAP: Int32 {
            switch self {
            case .base: return LDAP_SCOPE_BASE
            case .one: return LDAP_SCOPE_ONELEVEL
            case .sub: return LDAP_SCOPE_SUBTREE
            }
        }
    }

    public var base: String
    public var scope: Scope
    /// An RFC 4515 filter string. Build it with `LDAPFilter` rather than pasting values in.
    public var filter: String
    /// Attributes to return; empty means all user attributes (`*`).
    public var attributes: [String]
    /// At most this many entries (0: no client limit; the server's own limit still applies).
    /// Going over it fails the search with `sizeLimitExceeded`: results are never cut silently.
    public var sizeLimit: Int
    /// A time limit in seconds the server enforces (0: none).
    public var timeLimit: Int
    /// Server controls sent with every request of the search (besides paging), such as Show
    /// Deleted or DirSync.
    public var controls: [RequestControl] = []
    /// Complete attributes that the server returns in ranges (`member;range=0-1499`) by reading
    /// the remaining ranges, so each entry carries all values under the plain name.
    public var completeRangedAttributes: Bool

    public init(base: String, scope: Scope = .sub, filter: String = "(objectClass=*)",
                attributes: [String] = [], sizeLimit: Int = 0, timeLimit: Int = 0,
                completeRangedAttributes: Bool = true) {
        self.base = base
        self.scope = scope
        self.filter = filter
        self.attributes = attributes
        self.sizeLimit = sizeLimit
        self.timeLimit = timeLimit
        self.completeRangedAttributes = completeRangedAttributes
    }
}

/// A server control to send with a request: its OID, criticality and BER-encoded value.
public struct RequestControl: Sendable, Equatable {
    public var oid: String
    public var critical: Bool
    public var value: [UInt8]?

    public init(oid: String, critical: Bool, value: [UInt8]? = nil) {
        self.oid = oid
        self.critical = critical
        self.value = value
    }
}

/// A control the server returned with a search's result: its OID and value.
public struct ResponseControl: Sendable, Equatable {
    public let oid: String
    public let value: [UInt8]
}

/// One page of a search: the entries and the continuation references the server sent with it.
public struct SearchPage: Sendable {
    /// 0 for the first page.
    public let index: Int
    public let entries: [LDAPEntry]
    /// Search continuation references (RFC 4511 §4.5.3): URIs of other servers or partitions
    /// that hold more of the subtree. They are counted and reported, not followed.
    public let references: [String]
    /// False when the server ignored the paged results control and sent everything at once.
    public let pagedByServer: Bool
    /// The server's estimate of the total, when it gives one (often 0).
    public let estimatedTotal: Int
}

/// A complete (non-paged) search result.
public struct SearchResult: Sendable {
    public let entries: [LDAPEntry]
    public let references: [String]
    /// The controls of the search's result message (DirSync's cookie, for one).
    public var controls: [ResponseControl] = []
}
