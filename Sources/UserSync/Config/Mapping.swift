import Foundation

/// How directory attributes become a user's fields.
public struct Mapping: Sendable, Equatable {
    /// The rule of each named field the mapping sets.
    public var rules: [UserField: FieldRule] = [:]
    /// Extra attributes stored in the user's `attributes` JSON, by name.
    public var attributes: [String: FieldRule] = [:]

    public init() {}

    /// The named target fields, in their usual order.
    public static let fields = UserField.names

    public subscript(field: UserField) -> FieldRule? {
        get { rules[field] }
        set { rules[field] = newValue }
    }

    /// A named field's rule, or an extra attribute's.
    public subscript(field: String) -> FieldRule? {
        UserField(rawValue: field).map { rules[$0] } ?? attributes[field]
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
