import Foundation
import LDAP
import Yams

/// What a kind of source adds to the settings every source has.
struct SourceKindParts {
    var kind: SourceSettings.Kind
    var stableID: String
    var groups: GroupMapping?
}

extension ConfigReader {
    /// One entry of `sources`: the keys every source has here, its kind's own in
    /// `ldapSource`, `csvSource` and `restSource`.
    mutating func source(_ node: Node, _ path: String) -> SourceSettings? {
        let declared = node.mapping?["type"]?.string.flatMap(SourceType.init(rawValue:))
        guard let f = fields(node, path, allowed: ConfigLoader.Keys.source, required: ConfigLoader.Keys.required(declared ?? .ldap)) else {
            return nil
        }
        let problemsBefore = problems.count
        let name = string(f["name"], "\(path).name")
        if let name, !name.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" || $0 == "." }) {
            problem(f["name"], "\(path).name", "use letters, digits, '-', '_' and '.' only")
        }
        let type = choice(f["type"], "\(path).type", SourceType.self)
        let takes = ConfigLoader.Keys.source(type ?? .ldap)
        for key in ConfigLoader.Keys.source where f[key] != nil && !takes.contains(key) {
            let owners = SourceType.allCases.filter { ConfigLoader.Keys.source($0).contains(key) }.map(\.rawValue)
            problem(f[key], "\(path).\(key)",
                    "'\(key)' is not a key of \(type?.rawValue ?? "ldap") sources (\(owners.joined(separator: ", ")) sources take it)")
        }
        let schedule = f["schedule"].flatMap { self.schedule($0, "\(path).schedule") }
        let parts: SourceKindParts?
        switch type ?? .ldap {
        case .ldap: parts = ldapSource(f, path)
        case .csv: parts = csvSource(f, path)
        case .scim, .json: parts = restSource(f, path, type: type!)
        case .command: parts = commandSource(f, path)
        case .entra: parts = entraSource(f, path)
        case .okta: parts = oktaSource(f, path)
        }
        let mapping = f["mapping"].flatMap { self.mapping($0, "\(path).mapping") }
        var options = SyncOptions.defaults(for: type ?? .ldap)
        if let node = f["options"], let read = self.options(node, "\(path).options", defaults: options) { options = read }
        if let mapping {
            for field in options.requiredFields where mapping[field] == nil {
                problem(f["options"], "\(path).options.requiredFields", "'\(field)' is required but the mapping does not set it")
            }
            if [.scim, .json, .entra, .okta].contains(type) { checkJSONPaths(mapping, f, path) }
            if case .command(let command)? = parts?.kind, command.format == .jsonLines { checkJSONPaths(mapping, f, path) }
        }
        guard problems.count == problemsBefore, let name, let parts, let mapping else { return nil }
        return SourceSettings(name: name, kind: parts.kind, stableID: parts.stableID, groups: parts.groups, mapping: mapping,
                              options: options, schedule: schedule)
    }
}
