import Foundation

/// A path into a JSON record, as REST sources map them: dotted names (`name.givenName`), SCIM
/// value filters on multi-valued attributes (`emails[primary eq true].value`,
/// `emails[type eq "work"].value`, `phoneNumbers[value pr].value`), and a SCIM schema URN in
/// front (`urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber`).
/// Names match without regard to case when no key matches exactly (SCIM attribute names are
/// case-insensitive, RFC 7643 section 2.1).
struct JSONPath: Sendable, Equatable, CustomStringConvertible {
    struct Step: Sendable, Equatable {
        var name: String
        var filter: Filter?
    }

    /// `attr eq value`, `attr ne value`, `attr pr` (present), with `and`/`or` not supported.
    struct Filter: Sendable, Equatable {
        enum Operator: String, Sendable { case eq, ne, co, sw, ew, pr }
        var attribute: String
        var op: Operator
        /// The compared value: a string, or `true`/`false`/`null`/a number as written.
        var value: String?
        var valueIsString = false
    }

    let text: String
    /// A schema URN the path starts with (its attributes are under this key).
    let urn: String?
    let steps: [Step]

    var description: String { text }

    /// Parses a path; nil (with the reason) when it is malformed.
    static func parse(_ text: String) -> Result<JSONPath, JSONPathError> {
        var rest = Substring(text.trimmingCharacters(in: .whitespaces))
        var urn: String?
        if rest.lowercased().hasPrefix("urn:") {
            // The URN holds dots ("2.0") and colons; the attribute follows its last colon.
            guard let colon = rest.lastIndex(of: ":") else { return .failure(JSONPathError(path: text, reason: "a URN without an attribute")) }
            urn = String(rest[..<colon])
            rest = rest[rest.index(after: colon)...]
        }
        var steps: [Step] = []
        while !rest.isEmpty {
            var name = ""
            while let c = rest.first, c != ".", c != "[" {
                name.append(c)
                rest.removeFirst()
            }
            guard !name.isEmpty else { return .failure(JSONPathError(path: text, reason: "an empty name")) }
            var step = Step(name: name)
            if rest.first == "[" {
                guard let close = rest.firstIndex(of: "]") else {
                    return .failure(JSONPathError(path: text, reason: "'[' without ']'"))
                }
                let inside = rest[rest.index(after: rest.startIndex)..<close]
                switch Filter.parse(String(inside)) {
                case .success(let filter): step.filter = filter
                case .failure(let error): return .failure(JSONPathError(path: text, reason: error.reason))
                }
                rest = rest[rest.index(after: close)...]
            }
            steps.append(step)
            if rest.first == "." {
                rest.removeFirst()
                if rest.isEmpty { return .failure(JSONPathError(path: text, reason: "a trailing '.'")) }
            } else if !rest.isEmpty {
                return .failure(JSONPathError(path: text, reason: "unexpected '\(rest.first!)' after \(name)"))
            }
        }
        guard !steps.isEmpty else { return .failure(JSONPathError(path: text, reason: "no attribute")) }
        return .success(JSONPath(text: text, urn: urn, steps: steps))
    }

    /// The values at the path in `record`, as text: strings as they are, numbers and booleans
    /// as JSON writes them, each element of an array; objects and nulls give nothing.
    func values(in record: Any) -> [String] {
        var current: [Any] = [record]
        if let urn {
            current = current.compactMap { JSONPath.member(urn, of: $0) }
        }
        for step in steps {
            var next: [Any] = []
            for node in current {
                guard let value = JSONPath.member(step.name, of: node) else { continue }
                let items = (value as? [Any]) ?? [value]
                for item in items where step.filter.map({ $0.matches(item) }) ?? true { next.append(item) }
            }
            current = next
        }
        return current.flatMap { JSONPath.text($0) }
    }

    static func member(_ name: String, of node: Any) -> Any? {
        guard let object = node as? [String: Any] else { return nil }
        if let exact = object[name] { return exact }
        return object.first { $0.key.caseInsensitiveCompare(name) == .orderedSame }?.value
    }

    static func text(_ value: Any) -> [String] {
        switch value {
        case let string as String: return [string]
        case let number as NSNumber:
            // JSONSerialization gives booleans as NSNumbers too, of C type char ("c").
            if String(cString: number.objCType) == "c" { return [number.boolValue ? "true" : "false"] }
            return [number.stringValue]
        case let array as [Any]: return array.flatMap { text($0) }
        default: return []
        }
    }
}

extension JSONPath.Filter {
    struct Problem: Error { let reason: String }

    static func parse(_ text: String) -> Result<JSONPath.Filter, Problem> {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        let parts = trimmed.split(separator: " ", maxSplits: 2, omittingEmptySubsequences: true).map(String.init)
        guard parts.count >= 2, let op = Operator(rawValue: parts[1].lowercased()) else {
            return .failure(Problem(reason: "the filter [\(text)] is not 'attribute op value' (eq, ne, co, sw, ew) or 'attribute pr'"))
        }
        if op == .pr {
            guard parts.count == 2 else { return .failure(Problem(reason: "'pr' takes no value in [\(text)]")) }
            return .success(JSONPath.Filter(attribute: parts[0], op: op, value: nil))
        }
        guard parts.count == 3 else { return .failure(Problem(reason: "no value to compare with in [\(text)]")) }
        var value = parts[2]
        var isString = false
        if value.hasPrefix("\""), value.hasSuffix("\""), value.count >= 2 {
            value = String(value.dropFirst().dropLast()).replacingOccurrences(of: "\\\"", with: "\"")
            isString = true
        } else if value.contains(" ") {
            return .failure(Problem(reason: "'and'/'or' are not supported in [\(text)]: one comparison per filter"))
        }
        return .success(JSONPath.Filter(attribute: parts[0], op: op, value: value, valueIsString: isString))
    }

    /// Whether an element of a multi-valued attribute passes. Strings compare without regard to
    /// case (SCIM's caseExact is false for the usual sub-attributes).
    func matches(_ item: Any) -> Bool {
        let present = JSONPath.member(attribute, of: item).map { JSONPath.text($0) } ?? []
        if op == .pr { return !present.isEmpty }
        guard let value else { return false }
        if op == .ne { return !present.contains { $0.caseInsensitiveCompare(value) == .orderedSame } }
        return present.contains { candidate in
            let a = candidate.lowercased(), b = value.lowercased()
            switch op {
            case .eq: return a == b
            case .co: return a.contains(b)
            case .sw: return a.hasPrefix(b)
            case .ew: return a.hasSuffix(b)
            case .ne, .pr: return false
            }
        }
    }
}

struct JSONPathError: Error, CustomStringConvertible, Sendable {
    let path: String
    let reason: String
    var description: String { "'\(path)' is not a valid path: \(reason)" }
}
