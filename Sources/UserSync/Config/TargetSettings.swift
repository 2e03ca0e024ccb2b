import Foundation

/// `targets:` — an application's SCIM 2.0 API that usersync provisions from the store: after a
/// source's run is applied, `usersync push` (and `sync`, `serve`) brings the target's users and
/// groups in step with the store's, for the users and groups of `sources`.
public struct TargetSettings: Sendable, Equatable {
    public enum OnDeactivate: String, Sendable, CaseIterable {
        /// `active: false` by PATCH (or PUT): the application keeps the account, disabled.
        case disable
        /// DELETE: the application forgets the account.
        case delete
    }

    public var name: String
    /// The SCIM base URL (`https://app.example.com/scim/v2`), auth, TLS, timeouts and retries.
    public var http: HTTPSettings
    /// The sources whose users and groups go to this target.
    public var sources: [String]
    /// The SCIM attributes sent, each from a store field (or a constant), in file order.
    public var userMapping: [SCIMMappingRule]
    /// Groups pushed too (nil: `groups: false`, users only).
    public var groups: TargetGroupSettings?
    public var onDeactivate: OnDeactivate = .disable
    /// At most this many (or this share of the users pushed and active there) disabled or
    /// deleted by one push; more stops the push before it sends anything (exit 9) unless forced.
    public var maxDeletions: SyncOptions.Limit = .percent(10)
    /// Requests in flight at once.
    public var concurrency = 4
    /// An object whose requests fail this many pushes in a row is quarantined: left alone until
    /// `usersync push --retry-quarantined`, and listed by `usersync targets status`.
    public var quarantineAfter = 5

    public init(name: String, http: HTTPSettings, sources: [String], userMapping: [SCIMMappingRule] = TargetSettings.defaultUserMapping) {
        self.name = name
        self.http = http
        self.sources = sources
        self.userMapping = userMapping
    }

    /// The mapping when `users.mapping` is not given: RFC 7643's core User attributes from the
    /// store's fields.
    public static let defaultUserMapping: [SCIMMappingRule] = [
        ("userName", "username"), ("externalId", "externalId"), ("name.givenName", "firstName"),
        ("name.familyName", "lastName"), ("displayName", "displayName"), ("emails[type eq \"work\"].value", "email"),
        ("active", "active"),
    ].map { SCIMMappingRule(path: try! SCIMPath.parse($0.0).get(), value: .field(try! TargetField.parse($0.1).get())) }
}

/// `groups:` of a target.
public struct TargetGroupSettings: Sendable, Equatable {
    public enum Nesting: String, Sendable, CaseIterable {
        /// nested where the server's Group schema lets a member be a Group (`members.$ref`'s
        /// referenceTypes, RFC 7643 section 8.7.1), else flatten.
        case auto
        /// Child groups as members of their parent group (SCIM allows a Group as a member).
        case nested
        /// Each group lists its users through nesting (its effective members), no groups.
        case flatten
    }

    /// Only the groups whose name matches (a regular expression); all the sources' groups when nil.
    public var include: String?
    public var nesting: Nesting = .auto
    /// Members added or removed by one PATCH (default: the server's bulk maxOperations when it
    /// gives one, else 100).
    public var membersPerRequest: Int?

    public init() {}
}

/// One attribute a target receives: `name.givenName: firstName`.
public struct SCIMMappingRule: Sendable, Equatable {
    public enum Value: Sendable, Equatable {
        case field(TargetField)
        /// A constant (`emails[type eq "work"].primary: true`).
        case constant(SCIMValue)
    }

    public var path: SCIMPath
    public var value: Value

    public init(path: SCIMPath, value: Value) {
        self.path = path
        self.value = value
    }
}

/// A store value a target mapping can send.
public enum TargetField: Sendable, Equatable, CustomStringConvertible {
    case user(UserField)
    /// The directory's stable id (`users.external_id`).
    case externalId
    /// The store's own id of the user (`users.id`).
    case id
    /// `true` for an active user, `false` for a deactivated one.
    case active
    /// Where the source last saw the user (`users.dn`).
    case dn
    /// One of the mapping's extra attributes (`attributes.employeeNumber`).
    case attribute(String)

    /// The names a mapping may give, for messages.
    public static let names = UserField.names + ["externalId", "id", "active", "dn", "attributes.NAME"]

    public static func parse(_ text: String) -> Result<TargetField, SCIMPath.ParseError> {
        if let field = UserField(rawValue: text) { return .success(.user(field)) }
        switch text {
        case "externalId": return .success(.externalId)
        case "id": return .success(.id)
        case "active": return .success(.active)
        case "dn": return .success(.dn)
        default:
            if text.hasPrefix("attributes."), text.count > "attributes.".count {
                return .success(.attribute(String(text.dropFirst("attributes.".count))))
            }
            return .failure(SCIMPath.ParseError("'\(text)' is not a store field: use one of \(names.joined(separator: ", "))"))
        }
    }

    public var description: String {
        switch self {
        case .user(let field): return field.rawValue
        case .externalId: return "externalId"
        case .id: return "id"
        case .active: return "active"
        case .dn: return "dn"
        case .attribute(let name): return "attributes.\(name)"
        }
    }
}
