import Foundation

/// What a target's mapping makes of users: the SCIM attributes to send for a store row, and
/// the same attributes read back from a resource the server holds (to adopt it).
struct UserResources: Sendable {
    let mapping: [SCIMMappingRule]

    /// The attributes for a user's row (a field without a value is not sent).
    func attributes(_ row: PushCandidate.Row) -> SCIMAttributes {
        var attributes = SCIMAttributes()
        for rule in mapping {
            switch rule.value {
            case .constant(let value): attributes[rule.path] = value
            case .field(let field):
                let text: String?
                switch field {
                case .user(let f): text = row.fields[f]
                case .externalId: text = row.externalId
                case .id: text = String(row.id)
                case .dn: text = row.dn
                case .attribute(let name): text = row.attributes[name]
                case .active:
                    attributes[rule.path] = .bool(row.active)
                    continue
                }
                if let text, !text.isEmpty { attributes[rule.path] = .string(text) }
            }
        }
        return attributes
    }

    /// The paths whose value is `active` (or a constant true/false): read back as booleans.
    private func isBoolean(_ path: SCIMPath) -> Bool {
        mapping.contains { rule in
            guard rule.path == path else { return false }
            if case .field(.active) = rule.value { return true }
            if case .constant(.bool) = rule.value { return true }
            return false
        }
    }

    /// The mapped attributes as a server's resource holds them.
    func attributes(reading resource: [String: Any]) -> SCIMAttributes {
        var attributes = SCIMAttributes()
        for rule in mapping {
            let path = rule.path
            var container: [String: Any]? = resource
            if let schema = path.schema { container = UserResources.member(schema, of: resource) as? [String: Any] }
            guard let object = container, var value = UserResources.member(path.attribute, of: object) else { continue }
            if let type = path.typeFilter {
                guard let list = value as? [[String: Any]],
                      let element = list.first(where: { ($0["type"] as? String)?.lowercased() == type.lowercased() }) else { continue }
                value = element
            }
            if let sub = path.subAttribute {
                guard let object = value as? [String: Any], let inner = UserResources.member(sub, of: object) else { continue }
                value = inner
            }
            if isBoolean(path) {
                if let flag = value as? Bool { attributes[path] = .bool(flag) } else if let text = value as? String, let flag = Bool(text.lowercased()) {
                    attributes[path] = .bool(flag)
                }
            } else if let text = value as? String {
                attributes[path] = .string(text)
            } else if !(value is [Any]) && !(value is [String: Any]) {
                attributes[path] = .string("\(value)")
            }
        }
        return attributes
    }

    /// A member of a JSON object by name, ignoring case (RFC 7643 section 2.1).
    static func member(_ name: String, of object: [String: Any]) -> Any? {
        if let value = object[name] { return value }
        return object.first { $0.key.caseInsensitiveCompare(name) == .orderedSame }?.value
    }

    /// The userName path of the mapping, and the externalId path when mapped.
    var userNamePath: SCIMPath? { mapping.first { $0.path.schema == nil && $0.path.attribute.lowercased() == "username" && $0.path.subAttribute == nil }?.path }
    var externalIdPath: SCIMPath? { mapping.first { $0.path.schema == nil && $0.path.attribute.lowercased() == "externalid" && $0.path.subAttribute == nil }?.path }
}
