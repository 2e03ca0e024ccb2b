import Foundation

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
