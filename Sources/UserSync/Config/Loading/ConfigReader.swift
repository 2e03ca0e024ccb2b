import Foundation
import LDAP
import Yams

/// Walks the YAML tree, building the configuration and collecting every problem with its line.
struct ConfigReader {
    let file: String
    var problems: [ConfigProblem] = []
    /// Where each key was found: `sources[0].mapping.email` → line and column.
    var locations: [String: ConfigLocation] = [:]

    init(file: String) { self.file = file }

    mutating func problem(_ node: Node?, _ path: String, _ message: String, suggestion: String? = nil) {
        problems.append(ConfigProblem(file: file, line: node?.mark?.line, column: node?.mark?.column, path: path,
                                      message: message, suggestion: suggestion))
    }

    // MARK: Shapes

    /// The mapping's values by key; reports keys not in `allowed` (with the nearest valid one),
    /// duplicated keys, and required keys that are missing.
    mutating func fields(_ node: Node, _ path: String, allowed: [String], required: [String] = []) -> [String: Node]? {
        guard let mapping = node.mapping else {
            problem(node, path, "expected a mapping of keys (\(allowed.prefix(4).joined(separator: ", ")), …), found \(describe(node))")
            return nil
        }
        var result: [String: Node] = [:]
        var suggested: Set<String> = []
        for (keyNode, value) in mapping {
            guard let key = keyNode.string else {
                problem(keyNode, path, "keys must be plain words")
                continue
            }
            let keyPath = path.isEmpty ? key : "\(path).\(key)"
            if let mark = keyNode.mark { locations[keyPath] = ConfigLocation(line: mark.line, column: mark.column) }
            guard allowed.contains(key) else {
                let suggestion = nearest(key, in: allowed)
                if let suggestion { suggested.insert(suggestion) }
                problem(keyNode, keyPath, "unknown key (valid here: \(allowed.joined(separator: ", ")))",
                        suggestion: suggestion)
                continue
            }
            if result[key] != nil {
                problem(keyNode, keyPath, "given twice")
            }
            result[key] = value
        }
        // A required key that a misspelt one already points to is not reported twice.
        for key in required where result[key] == nil && !suggested.contains(key) {
            problem(node, path.isEmpty ? key : "\(path).\(key)", "missing (required)")
        }
        return result
    }

    func describe(_ node: Node) -> String {
        switch node {
        case .scalar(let s): return s.string.isEmpty ? "an empty value" : "'\(s.string)'"
        case .mapping: return "a mapping"
        case .sequence: return "a list"
        case .alias: return "an alias"
        }
    }

    mutating func string(_ node: Node?, _ path: String, allowEmpty: Bool = false) -> String? {
        guard let node else { return nil }
        guard case .scalar(let scalar) = node else {
            problem(node, path, "expected a text value, found \(describe(node))")
            return nil
        }
        if scalar.string.isEmpty && !allowEmpty && scalar.style == .plain {
            problem(node, path, "empty value")
            return nil
        }
        return scalar.string
    }

    mutating func bool(_ node: Node?, _ path: String) -> Bool? {
        guard let node else { return nil }
        if let value = node.bool { return value }
        problem(node, path, "expected true or false, found \(describe(node))")
        return nil
    }

    mutating func int(_ node: Node?, _ path: String, min: Int = 0) -> Int? {
        guard let node else { return nil }
        guard let value = node.int, value >= min else {
            problem(node, path, "expected a whole number of at least \(min), found \(describe(node))")
            return nil
        }
        return value
    }

    mutating func seconds(_ node: Node?, _ path: String) -> Duration? {
        guard let node else { return nil }
        guard let value = node.float, value > 0 else {
            problem(node, path, "expected a number of seconds above 0, found \(describe(node))")
            return nil
        }
        return .milliseconds(Int(value * 1000))
    }

    mutating func choice<T: RawRepresentable & CaseIterable>(_ node: Node?, _ path: String, _: T.Type) -> T?
    where T.RawValue == String {
        guard let text = string(node, path) else { return nil }
        if let value = T(rawValue: text) { return value }
        let names = T.allCases.map(\.rawValue)
        problem(node, path, "'\(text)' is not one of \(names.joined(separator: ", "))", suggestion: nearest(text, in: names))
        return nil
    }

    /// A list of strings; a single string is accepted as a list of one (or split on spaces
    /// when `splitSpaces`, as a URI list).
    /// A guard's limit: a count (25) or a percentage ("10%").
    mutating func limit(_ node: Node?, _ path: String, of what: String) -> SyncOptions.Limit? {
        guard let node else { return nil }
        if let count = node.int, count >= 0 { return .absolute(count) }
        if let text = node.string, text.hasSuffix("%"), let share = Double(text.dropLast()), share >= 0, share <= 100 {
            return .percent(share)
        }
        problem(node, path, "expected a number of \(what) (25) or a percentage (\"10%\"), found \(describe(node))")
        return nil
    }

    mutating func strings(_ node: Node?, _ path: String, splitSpaces: Bool = false) -> [String]? {
        guard let node else { return nil }
        if case .scalar = node {
            guard let text = string(node, path) else { return nil }
            return splitSpaces ? text.split(whereSeparator: { $0 == " " || $0 == "," }).map(String.init) : [text]
        }
        guard let sequence = node.sequence else {
            problem(node, path, "expected a list, found \(describe(node))")
            return nil
        }
        var values: [String] = []
        for (i, item) in sequence.enumerated() {
            if let text = string(item, "\(path)[\(i)]") { values.append(text) }
        }
        return values
    }

    // MARK: Directory values

    /// A DN value (the empty root DN allowed), with a problem reported if it does not parse.
    mutating func distinguishedName(_ node: Node?, _ path: String) -> String? {
        guard let text = string(node, path, allowEmpty: true) else { return nil }
        checkDN(text, node, path)
        return text
    }

    mutating func checkDN(_ text: String, _ node: Node?, _ path: String) {
        do {
            _ = try DistinguishedName(text)
        } catch {
            problem(node, path, error.reason)
        }
    }

    /// An RFC 4515 filter, or nil (with a problem reported) if it is malformed.
    mutating func filter(_ node: Node?, _ path: String) -> String? {
        guard let text = string(node, path) else { return nil }
        do {
            return try LDAPFilter.check(text)
        } catch {
            problem(node, path, error.reason)
            return nil
        }
    }

}
