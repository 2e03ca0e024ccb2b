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

    /// Where the value comes from, parsed once when `from` or `template` is set (a template is
    /// not parsed again for every record).
    public enum Input: Sendable, Equatable {
        case attribute(String)
        case template([TemplateParts.Part])
        /// Neither (a rule with only a default), or a template whose braces do not balance
        /// (which the configuration loader reports).
        case none
    }

    /// Source attribute; nil with a template.
    public var from: String? { didSet { input = FieldRule.input(from: from, template: template) } }
    /// `"{givenName} {sn}"`: attribute names in braces.
    public var template: String? { didSet { input = FieldRule.input(from: from, template: template) } }
    /// `from` or `template`, parsed.
    public private(set) var input: Input
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
        input = FieldRule.input(from: from, template: template)
    }

    /// The rule as record fingerprints are seeded with it (`RecordFingerprint`): the text Swift
    /// printed for the rule before `input` existed, kept so that the stores' fingerprints stay
    /// valid (a new text would make every record of every store be mapped in full once).
    var fingerprintText: String {
        "FieldRule(from: \(String(describing: from)), template: \(String(describing: template)), lowercase: \(lowercase), "
            + "trim: \(trim), defaultValue: \(String(describing: defaultValue)), join: \(String(describing: join)), "
            + "rdnValue: \(rdnValue), format: \(String(reflecting: format)))"
    }

    static func input(from: String?, template: String?) -> Input {
        if let from { return .attribute(from) }
        if let template, let parts = TemplateParts(template) { return .template(parts.parts) }
        return .none
    }
}

/// A template split into literal text and `{attribute}` references.
public struct TemplateParts: Sendable, Equatable {
    public enum Part: Sendable, Equatable {
        case text(String)
        case attribute(String)
    }

    public let parts: [Part]

    public init?(_ template: String) {
        var parts: [Part] = []
        var current = ""
        var inBraces = false
        for c in template {
            switch c {
            case "{":
                if inBraces { return nil }
                if !current.isEmpty { parts.append(.text(current)) }
                current = ""
                inBraces = true
            case "}":
                if !inBraces || current.isEmpty { return nil }
                parts.append(.attribute(current.trimmingCharacters(in: .whitespaces)))
                current = ""
                inBraces = false
            default:
                current.append(c)
            }
        }
        if inBraces { return nil }
        if !current.isEmpty { parts.append(.text(current)) }
        self.parts = parts
    }
}
