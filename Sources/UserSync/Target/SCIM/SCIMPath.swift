import Foundation

/// A value a target sends: SCIM's strings and booleans (`active`).
public enum SCIMValue: Sendable, Hashable, Codable, CustomStringConvertible {
    case string(String)
    case bool(Bool)

    var json: Any {
        switch self {
        case .string(let s): return s
        case .bool(let b): return b
        }
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if let b = try? container.decode(Bool.self) { self = .bool(b) } else { self = .string(try container.decode(String.self)) }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        switch self {
        case .string(let s): try container.encode(s)
        case .bool(let b): try container.encode(b)
        }
    }

    public var description: String {
        switch self {
        case .string(let s): return s
        case .bool(let b): return b ? "true" : "false"
        }
    }
}

/// A SCIM attribute path as a target's mapping names it (RFC 7644 section 3.10, the part a
/// client needs to write one value): `userName`, `name.givenName`,
/// `emails[type eq "work"].value` (one value of a multi-valued attribute, chosen by its type),
/// or any of these after an extension's schema URN
/// (`urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber`).
public struct SCIMPath: Sendable, Hashable, CustomStringConvertible {
    /// The extension schema's URN; nil for the resource's core schema.
    public var schema: String?
    public var attribute: String
    /// The `type` of the value of a multi-valued attribute (`work` in `emails[type eq "work"]`).
    public var typeFilter: String?
    public var subAttribute: String?

    public struct ParseError: Error, Sendable, Equatable, CustomStringConvertible {
        public let description: String
        init(_ description: String) { self.description = description }
    }

    /// The core schemas' URNs (a path may name them; they are the resource itself).
    static let coreSchemas = ["urn:ietf:params:scim:schemas:core:2.0:User", "urn:ietf:params:scim:schemas:core:2.0:Group"]

    public static func parse(_ text: String) -> Result<SCIMPath, ParseError> {
        var rest = Substring(text)
        var schema: String?
        if text.lowercased().hasPrefix("urn:") {
            let head = text.firstIndex(of: "[").map { text[..<$0] } ?? Substring(text)
            guard let colon = head.lastIndex(of: ":") else { return .failure(ParseError("'\(text)': a schema URN must be followed by ':' and an attribute")) }
            let urn = String(text[..<colon])
            schema = coreSchemas.contains { $0.caseInsensitiveCompare(urn) == .orderedSame } ? nil : urn
            rest = text[text.index(after: colon)...]
        }
        guard let attribute = identifier(&rest) else {
            return .failure(ParseError("'\(text)' is not a SCIM attribute path (userName, name.givenName, emails[type eq \"work\"].value)"))
        }
        var path = SCIMPath(schema: schema, attribute: attribute)
        if rest.first == "[" {
            guard let close = rest.firstIndex(of: "]") else { return .failure(ParseError("'\(text)': '[' without ']'")) }
            let filter = rest[rest.index(after: rest.startIndex)..<close]
            guard let type = typeFilter(filter) else {
                return .failure(ParseError("'\(text)': only a filter on the value's type is supported here, as in emails[type eq \"work\"].value"))
            }
            path.typeFilter = type
            rest = rest[rest.index(after: close)...]
            guard rest.first == "." else {
                return .failure(ParseError("'\(text)': name the sub-attribute that receives the value, as in \(attribute)[type eq \"\(type)\"].value"))
            }
        }
        if rest.first == "." {
            rest = rest.dropFirst()
            guard let sub = identifier(&rest) else { return .failure(ParseError("'\(text)': expected a sub-attribute after '.'")) }
            path.subAttribute = sub
        }
        guard rest.isEmpty else { return .failure(ParseError("'\(text)': unexpected '\(rest)'")) }
        if schema == nil, ["id", "meta", "schemas", "groups"].contains(attribute) {
            return .failure(ParseError("'\(text)': \(attribute) is set by the server (RFC 7643 section 3.1, 4.1.2), not by a client"))
        }
        return .success(path)
    }

    init(schema: String? = nil, attribute: String, typeFilter: String? = nil, subAttribute: String? = nil) {
        self.schema = schema
        self.attribute = attribute
        self.typeFilter = typeFilter
        self.subAttribute = subAttribute
    }

    /// ATTRNAME = ALPHA *(nameChar), nameChar = "-" / "_" / DIGIT / ALPHA (RFC 7643 section 2.1).
    private static func identifier(_ text: inout Substring) -> String? {
        guard let first = text.first, first.isASCII, first.isLetter else { return nil }
        let end = text.firstIndex { !($0.isASCII && ($0.isLetter || $0.isNumber || $0 == "_" || $0 == "-" || $0 == "$")) } ?? text.endIndex
        let name = String(text[..<end])
        text = text[end...]
        return name
    }

    /// `type eq "work"` → work.
    private static func typeFilter(_ filter: Substring) -> String? {
        let words = filter.trimmingCharacters(in: .whitespaces)
        let parts = words.split(separator: " ", maxSplits: 2, omittingEmptySubsequences: true)
        guard parts.count == 3, parts[0].lowercased() == "type", parts[1].lowercased() == "eq",
              parts[2].hasPrefix("\""), parts[2].hasSuffix("\""), parts[2].count >= 2 else { return nil }
        let quoted = parts[2].dropFirst().dropLast()
        guard !quoted.contains("\"") else { return nil }
        return String(quoted)
    }

    /// The value filter as SCIM writes it: `[type eq "work"]`.
    var filterText: String? { typeFilter.map { "[type eq \"\($0)\"]" } }

    public var description: String {
        (schema.map { "\($0):" } ?? "") + attribute + (filterText ?? "") + (subAttribute.map { ".\($0)" } ?? "")
    }

    /// The multi-valued attribute this path names one value of, with its filter
    /// (`emails[type eq "work"]`); nil for a path without a filter.
    var valueSelector: String? {
        filterText.map { (schema.map { "\($0):" } ?? "") + attribute + $0 }
    }

    /// The attribute as a PATCH path names it (`emails`, with the schema's URN when in one).
    var attributePath: String { (schema.map { "\($0):" } ?? "") + attribute }

    /// Whether two paths write the same JSON member, or one inside the other (`name` and
    /// `name.givenName`).
    func overlaps(_ other: SCIMPath) -> Bool {
        guard schema?.lowercased() == other.schema?.lowercased(), attribute.lowercased() == other.attribute.lowercased() else { return false }
        if typeFilter != other.typeFilter { return typeFilter == nil || other.typeFilter == nil }
        return subAttribute == nil || other.subAttribute == nil || subAttribute!.lowercased() == other.subAttribute!.lowercased()
    }
}
