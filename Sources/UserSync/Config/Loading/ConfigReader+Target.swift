import Foundation
import Yams

extension ConfigReader {
    /// One of `targets:` — `type: scim`, its endpoint (as a REST source's), the sources it
    /// receives, the SCIM attributes it is sent, groups, and its guard.
    mutating func target(_ node: Node, _ path: String, sources: Set<String>) -> TargetSettings? {
        let problemsBefore = problems.count
        guard let f = fields(node, path, allowed: ConfigLoader.Keys.target, required: ["name", "type", "url", "sources"]),
              let name = string(f["name"], "\(path).name") else { return nil }
        if let type = string(f["type"], "\(path).type"), type != "scim" {
            problem(f["type"], "\(path).type", "'\(type)' is not a type of target: the one type is scim (an application's SCIM 2.0 API)")
        }
        let http = httpSettings(f, path)
        let names = strings(f["sources"], "\(path).sources") ?? []
        for (i, source) in names.enumerated() where !sources.contains(source) {
            problem(f["sources"], "\(path).sources[\(i)]", "no source is named '\(source)' (sources: \(sources.sorted().joined(separator: ", ")))",
                    suggestion: nearest(source, in: Array(sources)))
        }
        if f["sources"] != nil && names.isEmpty { problem(f["sources"], "\(path).sources", "name at least one source whose users go to this target") }
        var mapping = TargetSettings.defaultUserMapping
        if let node = f["users"], let u = fields(node, "\(path).users", allowed: ConfigLoader.Keys.targetUsers),
           let mappingNode = u["mapping"] {
            mapping = targetMapping(mappingNode, "\(path).users.mapping") ?? mapping
        }
        var groups: TargetGroupSettings?
        if let node = f["groups"] {
            if node.bool != nil {
                if bool(node, "\(path).groups") == true { groups = TargetGroupSettings() }
            } else if let g = fields(node, "\(path).groups", allowed: ConfigLoader.Keys.targetGroups) {
                var settings = TargetGroupSettings()
                if let include = string(g["include"], "\(path).groups.include") {
                    if (try? NSRegularExpression(pattern: include)) == nil {
                        problem(g["include"], "\(path).groups.include", "'\(include)' is not a regular expression")
                    }
                    settings.include = include
                }
                if let nesting = choice(g["nesting"], "\(path).groups.nesting", TargetGroupSettings.Nesting.self) { settings.nesting = nesting }
                settings.membersPerRequest = int(g["membersPerRequest"], "\(path).groups.membersPerRequest", min: 1)
                groups = settings
            }
        }
        let onDeactivate = choice(f["onDeactivate"], "\(path).onDeactivate", TargetSettings.OnDeactivate.self) ?? .disable
        if onDeactivate == .disable && !mapping.contains(where: { $0.path.attribute == "active" && $0.path.schema == nil }) {
            problem(f["onDeactivate"] ?? f["users"], "\(path).onDeactivate",
                    "onDeactivate: disable sends active: false, but users.mapping does not map active: add 'active: active', or set onDeactivate: delete")
        }
        guard problems.count == problemsBefore, let http else { return nil }
        var target = TargetSettings(name: name, http: http, sources: names, userMapping: mapping)
        target.groups = groups
        target.onDeactivate = onDeactivate
        if let limit = limit(f["maxDeletions"], "\(path).maxDeletions", of: "users") { target.maxDeletions = limit }
        if let concurrency = int(f["concurrency"], "\(path).concurrency", min: 1) { target.concurrency = concurrency }
        if let after = int(f["quarantineAfter"], "\(path).quarantineAfter", min: 1) { target.quarantineAfter = after }
        return target
    }

    /// `users.mapping`: SCIM path → store field (or a constant true/false).
    mutating func targetMapping(_ node: Node, _ path: String) -> [SCIMMappingRule]? {
        guard let pairs = node.mapping else {
            problem(node, path, "expected SCIM attributes, each from a store field (userName: username, name.givenName: firstName), found \(describe(node))")
            return nil
        }
        var rules: [SCIMMappingRule] = []
        for (keyNode, valueNode) in pairs {
            guard let key = keyNode.string else { continue }
            let keyPath = "\(path).\(key)"
            if let mark = keyNode.mark { locations[keyPath] = ConfigLocation(line: mark.line, column: mark.column) }
            let scimPath: SCIMPath
            switch SCIMPath.parse(key) {
            case .success(let parsed): scimPath = parsed
            case .failure(let error):
                problem(keyNode, keyPath, error.description)
                continue
            }
            if let other = rules.first(where: { $0.path.overlaps(scimPath) }) {
                problem(keyNode, keyPath, "'\(key)' writes where '\(other.path)' does: map each SCIM attribute once")
                continue
            }
            if case .scalar(let scalar) = valueNode, scalar.style == .plain, let flag = valueNode.bool {
                rules.append(SCIMMappingRule(path: scimPath, value: .constant(.bool(flag))))
                continue
            }
            guard let text = string(valueNode, keyPath) else { continue }
            switch TargetField.parse(text) {
            case .success(let field): rules.append(SCIMMappingRule(path: scimPath, value: .field(field)))
            case .failure(let error):
                problem(valueNode, keyPath, error.description, suggestion: nearest(text, in: TargetField.names))
            }
        }
        if !rules.contains(where: { $0.path.attribute.lowercased() == "username" && $0.path.schema == nil && $0.path.subAttribute == nil }) {
            problem(node, path, "userName is not mapped: RFC 7643 requires it of every User (userName: username)")
        }
        return rules
    }
}
