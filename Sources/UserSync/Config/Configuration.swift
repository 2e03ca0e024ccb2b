import LDAP

/// The configuration file: where the store is, where logs go, and the sources to sync.
/// Described for editors by `schemas/usersync.schema.json`; read by `ConfigLoader`.
public struct Configuration: Sendable {
    public var store: StoreSettings
    public var log: LogSettings?
    /// `usersync serve`'s own settings.
    public var serve = ServeSettings()
    public var sources: [SourceSettings]
    /// The file it was read from.
    public var file: String
    /// Where each key is in the file (`sources[0].mapping.email`), for messages.
    public var locations: [String: ConfigLocation] = [:]

    /// A problem at the key `path`, with its line when known.
    public func problem(at path: String, _ message: String, suggestion: String? = nil) -> ConfigProblem {
        let location = locations[path]
        return ConfigProblem(file: file, line: location?.line, column: location?.column, path: path, message: message,
                             suggestion: suggestion)
    }

    /// The index of a source in `sources`, for key paths.
    public func index(of source: SourceSettings) -> Int {
        sources.firstIndex { $0.name == source.name } ?? 0
    }

    public func source(named name: String) -> SourceSettings? {
        sources.first { $0.name == name }
    }
}

/// A line and column of the configuration file (1-based).
public struct ConfigLocation: Sendable, Equatable {
    public let line: Int
    public let column: Int
}

public struct StoreSettings: Sendable, Equatable {
    /// Path of the SQLite database (created 0600 on first use).
    public var sqlite: String
}

/// `serve:` — where `usersync serve` answers `/healthz` and `/metrics`.
public struct ServeSettings: Sendable, Equatable {
    public var host = "127.0.0.1"
    public var port = 9464

    public init() {}

    public var listen: String { "\(host):\(port)" }
}

public struct LogSettings: Sendable, Equatable {
    /// Directory of the daily log files.
    public var directory: String?
    /// Days to keep log files.
    public var retentionDays: Int = 30
}

/// One source of users: a directory (`ldap`), a CSV file (`csv`), a SCIM 2.0 service (`scim`) or
/// any paged JSON API (`json`). Every kind feeds the same mapping, planner, guard and store; only
/// the reading differs. For the others than ldap, `users.idAttribute` is the record's stable id
/// (a CSV file's id column, a path in a JSON record) and `groups` says how their groups are read.
public struct SourceSettings: Sendable {
    public enum Kind: String, Sendable, CaseIterable { case ldap, csv, scim, json }

    public var name: String
    public var type: Kind
    /// The directory's address (an `ldap` source; empty for the others).
    public var connection: LDAPConnectionOptions
    public var bindDN: String?
    public var passwordFile: String?
    public var passwordEnv: String?
    public var allowInsecureBind: Bool = false
    public var users: UserSearch
    /// The groups to import; nil for none.
    public var groups: GroupSearch?
    public var mapping: Mapping
    public var options: SyncOptions
    /// The file a `csv` source reads.
    public var csv: CSVSettings?
    /// The HTTP endpoint of a `scim` or `json` source, or of a CSV file given by `url`.
    public var http: HTTPSettings?
    /// Paging and the like of a `scim` or `json` source.
    public var rest: RESTSettings?
    /// When `usersync serve` runs it; nil: never (only `usersync sync` does).
    public var schedule: Schedule?

    /// Whether a record's locator is a DN, kept in `users.dn` and compared between runs. A CSV
    /// record's locator is its file and line, which moves when rows are added above it.
    public var locatorIsDN: Bool { type == .ldap }
}

/// A CSV file of users (`type: csv`).
public struct CSVSettings: Sendable, Equatable {
    public enum Encoding: String, Sendable, CaseIterable {
        case utf8 = "utf-8"
        /// ISO 8859-1, as old spreadsheet exports write it.
        case latin1 = "latin1"
    }

    /// Where the file is; with `url` (SourceSettings.http), the name in messages.
    public var path: String
    /// The field separator: `,`, `;` or a tab.
    public var delimiter: Unicode.Scalar = ","
    public var encoding: Encoding = .utf8
    /// The column of each row's stable id (`users.idAttribute` of the source).
    public var idColumn: String
    /// The column listing a user's groups, if the file has one.
    public var groupsColumn: GroupsColumn?

    public init(path: String, idColumn: String) {
        self.path = path
        self.idColumn = idColumn
    }

    /// `{ column: groups, separator: "|", pathSeparator: "/" }`: `Sales/EMEA|Staff` puts the
    /// user in `Sales/EMEA` (a child of `Sales`) and in `Staff`.
    public struct GroupsColumn: Sendable, Equatable {
        public var column: String
        /// Between a user's groups.
        public var separator: String = "|"
        /// Between the levels of a group's path; nil for flat group names.
        public var pathSeparator: String? = "/"

        public init(column: String) { self.column = column }
    }
}

/// Where and how to find the source's users.
public struct UserSearch: Sendable, Equatable {
    public var base: String
    public var filter: String = "(objectClass=person)"
    public var scope: SearchRequest.Scope = .sub
    public var pageSize: Int = 500
    /// The attribute that identifies a user for ever (renames and moves keep it).
    public var idAttribute: String = "entryUUID"
    /// Only members (direct or nested) of these groups, by DN; empty for all users.
    public var memberOf: [String] = []
    public var memberOfStrategy: MemberOfStrategy = .auto

    public enum MemberOfStrategy: String, Sendable, CaseIterable {
        /// inChain when the server supports it, else tree.
        case auto
        /// AD's LDAP_MATCHING_RULE_IN_CHAIN in the user filter.
        case inChain
        /// The group tree read through the `groups` section.
        case tree
    }
}

/// Where and how to find the source's groups.
public struct GroupSearch: Sendable, Equatable {
    /// Where a group's members come from.
    public enum Membership: String, Sendable, CaseIterable {
        /// groupOfNames and AD groups: member DNs (AD: ranged past 1,500 values).
        case member
        /// groupOfUniqueNames: uniqueMember DNs (an optional `#'0101'B` UID suffix is ignored).
        case uniqueMember
        /// posixGroup: member usernames (memberUid); no nesting.
        case memberUid
        /// The memberOf attribute of users and groups.
        case memberOf

        /// The attribute of the group (or, for memberOf, of the member) that holds the links.
        public var attribute: String { rawValue }

        var defaultFilter: String {
            switch self {
            case .member, .memberOf: return "(|(objectClass=group)(objectClass=groupOfNames))"
            case .uniqueMember: return "(objectClass=groupOfUniqueNames)"
            case .memberUid: return "(objectClass=posixGroup)"
            }
        }
    }

    public var base: String
    public var filter: String?
    public var scope: SearchRequest.Scope = .sub
    /// Smaller than the users' page: a page of groups holds every member of each group, and
    /// memory holds a page (1,000 groups of 50 members cost 8 MB more than 200 of them).
    public var pageSize: Int = 200
    /// Defaults to the users' idAttribute.
    public var idAttribute: String?
    public var nameAttribute: String = "cn"
    public var lowercase = false
    /// Regular expressions on group names.
    public var include: String?
    public var exclude: String?
    /// Follow nesting (a member that is a group is a child group).
    public var tree = true
    public var membership: Membership = .member

    public var effectiveFilter: String { filter ?? membership.defaultFilter }
}

/// How directory attributes become a user's fields.
public struct Mapping: Sendable, Equatable {
    public var username: FieldRule?
    public var email: FieldRule?
    public var firstName: FieldRule?
    public var lastName: FieldRule?
    public var displayName: FieldRule?
    public var manager: FieldRule?
    /// Extra attributes stored in the user's `attributes` JSON, by name.
    public var attributes: [String: FieldRule] = [:]

    /// The named target fields, in their usual order.
    public static let fields = ["username", "email", "firstName", "lastName", "displayName", "manager"]

    public subscript(field: String) -> FieldRule? {
        switch field {
        case "username": return username
        case "email": return email
        case "firstName": return firstName
        case "lastName": return lastName
        case "displayName": return displayName
        case "manager": return manager
        default: return attributes[field]
        }
    }
}

/// How one field is computed from an entry.
public struct FieldRule: Sendable, Equatable {
    /// How a binary or special value is turned into text.
    public enum Format: String, Sendable, CaseIterable {
        /// UTF-8 text (the default).
        case text
        /// An AD objectGUID as `f462e9f1-…`.
        case guid
        /// An AD objectSid as `S-1-5-…`.
        case sid
        /// AD userAccountControl: "true" when the account is disabled.
        case disabled
    }

    /// Source attribute; nil with a template.
    public var from: String?
    /// `"{givenName} {sn}"`: attribute names in braces.
    public var template: String?
    public var lowercase = false
    public var trim = true
    /// Used when the attribute is missing or empty.
    public var defaultValue: String?
    /// Joins all values with this separator; without it the first value is used.
    public var join: String?
    /// For DN-valued attributes (`manager`): use the value of the DN's first RDN.
    public var rdnValue = false
    public var format: Format = .text

    public init(from: String? = nil, template: String? = nil) {
        self.from = from
        self.template = template
    }
}

/// What a sync may do, per source.
public struct SyncOptions: Sendable, Equatable {
    public enum Limit: Sendable, Equatable {
        case absolute(Int)
        case percent(Double)
    }

    public enum AdoptBy: String, Sendable, CaseIterable { case none, username, email }

    public var createUsers = true
    public var updateUsers = true
    public var deactivateMissing = true
    public var reactivateReturning = true
    public var lowercaseUsernames = false
    public var lowercaseEmails = false
    public var requiredFields: [String] = ["username"]
    public var adoptExistingBy: AdoptBy = .none
    /// A licence cap on active users: the run stops before applying if it would exceed it.
    public var maxUsers: Int?
    /// At most this many (or this share of the source's active users) deactivated in one run.
    public var maxDeactivations: Limit = .percent(10)
    /// At most this many (or this share of the records read) skipped in one run: a run that
    /// skips more stops like the guard, since monitoring would otherwise see success while
    /// nothing syncs.
    public var maxSkipped: Limit = .percent(10)
    /// AD: a user whose userAccountControl has this bit set is disabled (2 = ACCOUNTDISABLE).
    /// Entries without userAccountControl are never disabled by it; 0 turns it off.
    public var disabledUserAccountControlBit: Int = ADValue.accountDisabledFlag
    /// Any source: a user whose `attribute` (a column, an attribute) has one of `values` (compared
    /// without regard to case) is disabled: `{ attribute: status, values: [inactive, left] }`.
    public var disabledWhenValue: DisabledValue?

    public struct DisabledValue: Sendable, Equatable {
        public var attribute: String
        public var values: [String]

        public init(attribute: String, values: [String]) {
            self.attribute = attribute
            self.values = values
        }
    }
    /// How many runs keep the records the source sent.
    public var keepRecords = 10
}

/// An HTTP endpoint: a CSV file's `url`, or a REST source's.
public struct HTTPSettings: Sendable, Equatable {
    public enum Auth: Sendable, Equatable {
        /// `Authorization: Bearer …`, the token from a file or an environment variable.
        case bearer(tokenFile: String?, tokenEnv: String?)
        case basic(username: String, passwordFile: String?, passwordEnv: String?)
        /// OAuth 2.0 client credentials.
        case oauth2(OAuth2)
    }

    public struct OAuth2: Sendable, Equatable {
        public enum ClientAuthentication: String, Sendable, CaseIterable {
            /// client_id and client_secret in the form (client_secret_post: Entra ID, Okta, Keycloak).
            case post
            /// HTTP basic authentication with the client id and secret (client_secret_basic).
            case basic
        }

        public var tokenURL: String
        public var clientID: String
        public var clientSecretFile: String?
        public var clientSecretEnv: String?
        public var scope: String?
        public var clientAuthentication: ClientAuthentication = .post
    }

    public var url: String
    public var auth: Auth?
    /// PEM file of the CA(s) that signed the server's certificate (default: the system's).
    public var caFile: String?
    /// Check the server's certificate (`tls.verify: never` turns it off; needs allowInsecure).
    public var verify = true
    /// Allow plain http:// and unchecked TLS (test servers on loopback).
    public var allowInsecure = false
    /// Origins (`https://host[:port]`) besides the url's own that links in pages may point to
    /// and so receive the source's credentials.
    public var allowedOrigins: [String] = []
    public var connectTimeout: Duration = .seconds(10)
    /// Seconds to wait for an answer (and between bytes of one).
    public var timeout: Duration = .seconds(60)
    /// Tries of one request in all, retries after 429, 5xx and dropped connections included.
    public var maxAttempts = 5
    /// The longest wait a `Retry-After` may ask for, in seconds.
    public var maxRetryDelay: Double = 120

    public init(url: String) { self.url = url }
}

/// What a `scim` or `json` source reads beyond its HTTP endpoint.
public struct RESTSettings: Sendable, Equatable {
    /// Records per page (SCIM `count`; a json source's page or limit size).
    public var pageSize = 100
    /// scim: a SCIM filter on /Users (`userType eq "Employee"`).
    public var filter: String?
    /// scim: also read /Groups (members and nesting from `members`).
    public var groups = false
    /// json: where the records are in a page (RFC 6901 JSON pointer; "" for the page itself).
    public var records = ""
    /// json: how to find the next page.
    public var paging: Paging = .none

    public enum Paging: Sendable, Equatable {
        /// One page.
        case none
        /// A field of the page holds the next page's URL (`@odata.nextLink`).
        case nextLink(field: String)
        /// The `Link: <…>; rel="next"` header (RFC 8288).
        case linkHeader
        /// `?page=1`, `?page=2`, … until a page has fewer than `pageSize` records.
        case page(parameter: String, start: Int, sizeParameter: String?)
        /// `?offset=0&limit=100`, … until a page has fewer than `pageSize` records.
        case offset(parameter: String, limitParameter: String?)
    }

    public init() {}
}
