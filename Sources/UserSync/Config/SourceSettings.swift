import LDAP

/// The kinds of source, as a source's `type:` names them.
public enum SourceType: String, Sendable, CaseIterable {
    case ldap, csv, scim, json, command, entra, okta
}

/// One source of users: a directory (`ldap`), a CSV file (`csv`), a SCIM 2.0 service (`scim`),
/// any paged JSON API (`json`), a program's output (`command`), Entra ID (`entra`) or Okta (`okta`). Every kind feeds the same mapping, planner, guard and store; only
/// the reading differs, and what only one kind reads is in its case of `kind`: a new kind of
/// source is one case there, one reader, and its keys in the configuration loader.
public struct SourceSettings: Sendable {
    /// How the source is read.
    public enum Kind: Sendable {
        case ldap(LDAPSourceSettings)
        case csv(CSVSettings)
        case scim(RESTSourceSettings)
        case json(RESTSourceSettings)
        case command(CommandSourceSettings)
        case entra(EntraSettings)
        case okta(OktaSettings)
    }

    public var name: String
    public var kind: Kind
    /// What identifies a record for ever (renames and moves keep it): an LDAP attribute
    /// (`users.idAttribute`), a CSV column (`idColumn`) or a path in a JSON record (`idAttribute`).
    public var stableID: String
    /// How group records become groups and memberships; nil: the source's groups are not read.
    public var groups: GroupMapping?
    public var mapping: Mapping
    public var options: SyncOptions
    /// When `usersync serve` runs it; nil: never (only `usersync sync` does).
    public var schedule: Schedule?

    public init(name: String, kind: Kind, stableID: String, groups: GroupMapping? = nil, mapping: Mapping,
                options: SyncOptions = SyncOptions(), schedule: Schedule? = nil) {
        self.name = name
        self.kind = kind
        self.stableID = stableID
        self.groups = groups
        self.mapping = mapping
        self.options = options
        self.schedule = schedule
    }

    /// The kind's name, as `type:` gives it.
    public var type: SourceType {
        switch kind {
        case .ldap: return .ldap
        case .csv: return .csv
        case .scim: return .scim
        case .json: return .json
        case .command: return .command
        case .entra: return .entra
        case .okta: return .okta
        }
    }

    /// The directory settings of an `ldap` source.
    public var ldap: LDAPSourceSettings? {
        if case .ldap(let settings) = kind { return settings }
        return nil
    }

    /// The file settings of a `csv` source, or of a `command` source whose output is CSV.
    public var csv: CSVSettings? {
        if case .csv(let settings) = kind { return settings }
        if case .command(let command) = kind, case .csv(let settings) = command.format { return settings }
        return nil
    }

    /// The HTTP endpoint: a `scim` or `json` source's, or a CSV file's `url`.
    public var http: HTTPSettings? {
        switch kind {
        case .ldap, .command: return nil
        case .csv(let csv): return csv.http
        case .scim(let rest), .json(let rest): return rest.http
        case .entra(let entra): return entra.http
        case .okta(let okta): return okta.http
        }
    }

    /// Whether a record's locator is a DN, kept in `users.dn` and compared between runs. A CSV
    /// record's locator is its file and line, which moves when rows are added above it.
    public var locatorIsDN: Bool { type == .ldap }

    /// The directory settings, for what only an `ldap` source has (`what`: "mapping init").
    public func directory(for what: String) throws -> LDAPSourceSettings {
        guard let ldap else {
            throw SyncConfigurationError(description: "\(what) needs an ldap source; '\(name)' is a \(type.rawValue) source")
        }
        return ldap
    }

    /// Users limited to the members of these groups (an `ldap` source's `users.memberOf`, as
    /// DNs; an `entra` source's, as the locators of its groups).
    public var memberOf: [String] {
        if case .entra(let entra) = kind { return entra.memberOf.map { "/groups/\($0)" } }
        return ldap?.users.memberOf ?? []
    }
}

/// A directory: where it is, how to bind, and where its users and groups are.
public struct LDAPSourceSettings: Sendable {
    public var connection: LDAPConnectionOptions
    public var bindDN: String?
    public var passwordFile: String?
    public var passwordEnv: String?
    /// Lets a password go over plain LDAP or to an unverified certificate (test servers only).
    public var allowInsecure = false
    public var users: UserSearch
    /// The group search; set exactly when the source's `groups` mapping is.
    public var groups: GroupSearch?
    /// Reading only what changed (`incremental:`); off unless set.
    public var incremental = IncrementalSettings()

    public init(connection: LDAPConnectionOptions, bindDN: String? = nil, passwordFile: String? = nil,
                passwordEnv: String? = nil, allowInsecure: Bool = false, users: UserSearch, groups: GroupSearch? = nil) {
        self.connection = connection
        self.bindDN = bindDN
        self.passwordFile = passwordFile
        self.passwordEnv = passwordEnv
        self.allowInsecure = allowInsecure
        self.users = users
        self.groups = groups
    }
}

/// A `scim` or `json` source: its endpoint and how its pages are read.
public struct RESTSourceSettings: Sendable {
    public var http: HTTPSettings
    public var rest: RESTSettings

    public init(http: HTTPSettings, rest: RESTSettings = RESTSettings()) {
        self.http = http
        self.rest = rest
    }
}

/// A CSV file of users (`type: csv`).
public struct CSVSettings: Sendable, Equatable {
    public enum Encoding: String, Sendable, CaseIterable {
        case utf8 = "utf-8"
        /// ISO 8859-1, as old spreadsheet exports write it.
        case latin1 = "latin1"
    }

    /// Where the file is; with `http`, the name in messages.
    public var path: String
    /// The file's `url`, when it is downloaded.
    public var http: HTTPSettings?
    /// The field separator: `,`, `;` or a tab.
    public var delimiter: Unicode.Scalar = ","
    public var encoding: Encoding = .utf8
    /// The column of each row's stable id (the source's `stableID`).
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

/// Where and how to find a directory's users.
public struct UserSearch: Sendable, Equatable {
    public var base: String
    public var filter: String = "(objectClass=person)"
    public var scope: SearchRequest.Scope = .sub
    public var pageSize: Int = 500
    /// Only members (direct or nested) of these groups, by DN; empty for all users.
    public var memberOf: [String] = []
    public var memberOfStrategy: MemberOfStrategy = .auto

    public init(base: String) { self.base = base }

    public enum MemberOfStrategy: String, Sendable, CaseIterable {
        /// inChain when the server supports it, else tree.
        case auto
        /// AD's LDAP_MATCHING_RULE_IN_CHAIN in the user filter.
        case inChain
        /// The group tree read through the `groups` section.
        case tree
    }
}

/// Where and how to find a directory's groups.
public struct GroupSearch: Sendable, Equatable {
    public var base: String
    public var filter: String?
    public var scope: SearchRequest.Scope = .sub
    /// Smaller than the users' page: a page of groups holds every member of each group, and
    /// memory holds a page (1,000 groups of 50 members cost 8 MB more than 200 of them).
    public var pageSize: Int = 200

    public init(base: String) { self.base = base }

    /// The filter, or the one that selects the groups `membership` reads.
    public func effectiveFilter(_ membership: GroupMapping.Membership) -> String {
        filter ?? membership.defaultFilter
    }
}

/// How a source's group records become groups and memberships: the same for every kind of
/// source that reads groups (an LDAP group search, a CSV groups column, SCIM's /Groups).
public struct GroupMapping: Sendable, Equatable {
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

        /// Whether a group's own entry lists its members by DN.
        var namesMembersByDN: Bool { self == .member || self == .uniqueMember }

        var defaultFilter: String {
            switch self {
            case .member, .memberOf: return "(|(objectClass=group)(objectClass=groupOfNames))"
            case .uniqueMember: return "(objectClass=groupOfUniqueNames)"
            case .memberUid: return "(objectClass=posixGroup)"
            }
        }
    }

    /// Defaults to the source's stable id.
    public var idAttribute: String?
    public var nameAttribute: String = "cn"
    public var lowercase = false
    /// Regular expressions on group names.
    public var include: String?
    public var exclude: String?
    /// Follow nesting (a member that is a group is a child group).
    public var tree = true
    public var membership: Membership = .member

    public init() {}
}
