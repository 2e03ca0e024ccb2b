import Foundation
import LDAP

/// Turns source records into users, as a source's mapping and options say.
public struct Mapper: Sendable {
    public let mapping: Mapping
    public let options: SyncOptions
    public let idAttribute: String
    /// The mapping as `map` walks it, record after record.
    private let plan: MappingPlan

    public init(mapping: Mapping, options: SyncOptions, idAttribute: String) {
        self.mapping = mapping
        self.options = options
        self.idAttribute = idAttribute
        self.plan = MappingPlan(mapping: mapping, options: options)
    }

    public init(source: SourceSettings) {
        self.init(mapping: source.mapping, options: source.options, idAttribute: source.stableID)
    }

    /// The attributes to ask the directory for: the stable id, every attribute the mapping
    /// reads, and userAccountControl when disabled accounts are recognised.
    public var requestedAttributes: [String] {
        var names: [String] = [idAttribute]
        for field in UserField.names + mapping.attributes.keys.sorted() {
            guard let rule = mapping[field] else { continue }
            names += rule.attributeNames
        }
        if options.disabledUserAccountControlBit != 0 { names.append("userAccountControl") }
        if let when = options.disabledWhenValue { names.append(when.attribute) }
        var seen: Set<String> = []
        return names.filter { seen.insert($0.lowercased()).inserted }
    }

    /// The user one record maps to; `skipReason` says why it cannot be synced, if it cannot.
    public func map(_ entry: SourceRecord) -> MappedUser {
        var user = MappedUser(locator: entry.locator.description)
        user.externalId = entry.stableID(idAttribute)
        for (field, rule) in plan.fields {
            user[field] = rule.value(in: entry)
        }
        if options.lowercaseUsernames { user.username = user.username?.lowercased() }
        if options.lowercaseEmails { user[.email] = user[.email]?.lowercased() }
        user.attributes.reserveCapacity(plan.attributes.count)
        for (name, rule) in plan.attributes {
            if let text = rule.value(in: entry) { user.attributes[name] = text }
        }
        let bit = options.disabledUserAccountControlBit
        if bit != 0, let uac = entry.string("userAccountControl"), let flags = Int(uac.trimmingCharacters(in: .whitespaces)) {
            user.disabled = flags & bit != 0
        }
        if !user.disabled, let when = options.disabledWhenValue, let value = entry.string(when.attribute) {
            let text = value.trimmingCharacters(in: .whitespaces)
            user.disabled = when.values.contains { $0.caseInsensitiveCompare(text) == .orderedSame }
        }

        if user.externalId == nil {
            user.skipReason = "no \(idAttribute) (the stable id that follows a user across renames and moves): check users.idAttribute and that the bind account may read it"
        } else if let missing = plan.required.first(where: { user[$0] == nil }) {
            let from = mapping[missing]?.attributeNames.joined(separator: ", ")
            user.skipReason = "no \(missing)" + (from.map { $0.isEmpty ? "" : " (from \($0))" } ?? "") + ", a required field"
        }
        return user
    }

    /// The text of a stable id: AD's binary GUIDs and SIDs decoded, other text as is, other
    /// bytes in hex.
    static func stableID(_ values: [LDAPValue], attribute: String) -> String? {
        guard let value = values.first else { return nil }
        return value.bytes.withUnsafeBufferPointer { StableID.text($0, attribute: attribute) }
    }

}

/// A mapping rule as the mapper applies it: a reference, so that the closures and loops of
/// every record retain one object instead of copying each field of a `FieldRule` (with the
/// per-record dictionary lookups of the rules, that copying cost a twentieth of an import).
final class CompiledRule: Sendable {
    let rule: FieldRule

    init(_ rule: FieldRule) { self.rule = rule }

    /// The field's value in a record, or nil when the record has nothing for it (and no
    /// default is given). The rule's parts are read in place, never copied out.
    func value(in entry: SourceRecord) -> String? {
        var text: String?
        switch rule.input {
        case .template(let parts):
            var result = ""
            var found = false
            for part in parts {
                switch part {
                case .text(let literal): result += literal
                case .attribute(let name):
                    if let value = entry.withValues(name, { $0.first.flatMap { render($0) } }), !value.isEmpty {
                        result += value
                        found = true
                    }
                }
            }
            text = found ? result : nil
        case .attribute(let from):
            // On the entry's own bytes: no copy of the values, only the text that is kept.
            text = entry.withValues(from) { values -> String? in
                if let separator = rule.join {
                    let all = values.compactMap { render($0) }.filter { !$0.isEmpty }
                    return all.isEmpty ? nil : all.joined(separator: separator)
                }
                for value in values {
                    if let rendered = render(value), !rendered.isEmpty { return rendered }
                }
                return nil
            }
        case .none:
            break
        }
        if var value = text {
            if rule.trim { value = value.trimmedWhitespace() }
            if rule.lowercase { value = value.lowercased() }
            text = value.isEmpty ? nil : value
        }
        return text ?? rule.defaultValue
    }

    /// One attribute value as text, in the rule's format.
    func render(_ value: UnsafeBufferPointer<UInt8>) -> String? {
        switch rule.format {
        case .guid: return ADValue.guidString(Array(value))
        case .sid: return ADValue.sidString(Array(value))
        case .disabled:
            return LDAPValue.string(value).flatMap(ADValue.isDisabled(userAccountControl:)).map { $0 ? "true" : "false" }
        case .text:
            guard var text = LDAPValue.string(value) else {
                // Binary data that the mapping did not ask to decode: hex, never mojibake.
                return value.map { String(format: "%02x", $0) }.joined()
            }
            if rule.rdnValue, let rdn = DistinguishedName.firstRDNValue(text) {
                text = rdn
            }
            return text
        }
    }
}

/// What `Mapper.map` walks for each record, worked out once: the named fields that have a rule,
/// in field order; the extra attributes; the required fields, `username` first.
final class MappingPlan: Sendable {
    let fields: [(UserField, CompiledRule)]
    let attributes: [(String, CompiledRule)]
    let required: [String]

    init(mapping: Mapping, options: SyncOptions) {
        fields = UserField.allCases.compactMap { field in mapping[field].map { (field, CompiledRule($0)) } }
        attributes = mapping.attributes.keys.sorted().map { ($0, CompiledRule(mapping.attributes[$0]!)) }
        required = ["username"] + options.requiredFields
    }
}

extension FieldRule {
    /// The directory attributes the rule reads.
    public var attributeNames: [String] {
        switch input {
        case .attribute(let name): return [name]
        case .template(let parts): return parts.compactMap { if case .attribute(let name) = $0 { return name } else { return nil } }
        case .none: return []
        }
    }
}

extension String {
    /// Without leading and trailing whitespace; returns self untouched (no copy) in the usual
    /// case of nothing to trim. Foundation's trimmingCharacters(in:) bridges through NSString
    /// and was the costliest step of mapping a record.
    func trimmedWhitespace() -> String {
        // The usual case, checked on bytes: an ASCII first and last character that is not a space.
        if let first = utf8.first, let last = utf8.last, first > 0x20, first < 0x80, last > 0x20, last < 0x80 { return self }
        guard let first = unicodeScalars.first, let last = unicodeScalars.last else { return self }
        if !first.properties.isWhitespace && !last.properties.isWhitespace { return self }
        let scalars = unicodeScalars
        guard let start = scalars.firstIndex(where: { !$0.properties.isWhitespace }) else { return "" }
        let end = scalars.lastIndex(where: { !$0.properties.isWhitespace })!
        return String(scalars[start...end])
    }
}

