/// An LDAP search filter (RFC 4515) built from parts, so that values are always escaped.
///
///     let filter = LDAPFilter.and([.equal("objectClass", "user"), .equal("sAMAccountName", name)])
///     filter.description   // (&(objectClass=user)(sAMAccountName=j\2a))  for name "j*"
public indirect enum LDAPFilter: Sendable, Hashable, CustomStringConvertible {
    case and([LDAPFilter])
    case or([LDAPFilter])
    case not(LDAPFilter)
    /// `(attr=value)`
    case equal(String, String)
    /// `(attr=value)` with a binary value, every byte escaped (`objectGUID`, `objectSid`).
    case equalBytes(String, [UInt8])
    /// `(attr>=value)`
    case greaterOrEqual(String, String)
    /// `(attr<=value)`
    case lessOrEqual(String, String)
    /// `(attr~=value)`
    case approx(String, String)
    /// `(attr=*)`
    case present(String)
    /// `(attr=initial*any*…*final)`; the parts are values, escaped.
    case substring(String, initial: String?, any: [String], final: String?)
    /// `(attr:dn:rule:=value)` — an extensible match (RFC 4515 §3).
    case extensible(attribute: String?, rule: String?, dnAttributes: Bool, value: String)
    /// A filter string written by an administrator, used as it is (checked by `LDAPFilter.check`).
    case raw(String)

    /// AD: entries that are members of `groupDN` directly or through nested groups
    /// (LDAP_MATCHING_RULE_IN_CHAIN, `memberOf:1.2.840.113556.1.4.1941:=groupDN`).
    public static func memberOfInChain(_ groupDN: String) -> LDAPFilter {
        .extensible(attribute: "memberOf", rule: ActiveDirectoryOIDs.matchingRuleInChain, dnAttributes: false, value: groupDN)
    }

    /// AD: entries whose integer attribute has all bits of `mask` set
    /// (LDAP_MATCHING_RULE_BIT_AND), e.g. `.bitAnd("userAccountControl", 2)` for disabled accounts.
    public static func bitAnd(_ attribute: String, _ mask: Int) -> LDAPFilter {
        .extensible(attribute: attribute, rule: ActiveDirectoryOIDs.matchingRuleBitAnd, dnAttributes: false, value: String(mask))
    }

    public var description: String {
        switch self {
        case let .and(parts): return "(&" + parts.map(\.description).joined() + ")"
        case let .or(parts): return "(|" + parts.map(\.description).joined() + ")"
        case let .not(part): return "(!" + part.description + ")"
        case let .equal(a, v): return "(\(a)=\(LDAPFilter.escape(v)))"
        case let .equalBytes(a, bytes): return "(\(a)=\(LDAPFilter.escape(bytes: bytes)))"
        case let .greaterOrEqual(a, v): return "(\(a)>=\(LDAPFilter.escape(v)))"
        case let .lessOrEqual(a, v): return "(\(a)<=\(LDAPFilter.escape(v)))"
        case let .approx(a, v): return "(\(a)~=\(LDAPFilter.escape(v)))"
        case let .present(a): return "(\(a)=*)"
        case let .substring(a, initial, any, final):
            let middle = any.map { LDAPFilter.escape($0) + "*" }.joined()
            return "(\(a)=\(initial.map(LDAPFilter.escape) ?? "")*\(middle)\(final.map(LDAPFilter.escape) ?? ""))"
        case let .extensible(attribute, rule, dnAttributes, value):
            var s = "(" + (attribute ?? "")
            if dnAttributes { s += ":dn" }
            if let rule { s += ":" + rule }
            return s + ":=" + LDAPFilter.escape(value) + ")"
        case let .raw(text): return text
        }
    }

    /// Escapes a value for a filter (RFC 4515 §3): `*` `(` `)` `\` and NUL become `\2a` `\28`
    /// `\29` `\5c` `\00`. Other characters, UTF-8 included, stay as they are.
    public static func escape(_ value: String) -> String {
        var out = ""
        out.reserveCapacity(value.utf8.count)
        for scalar in value.unicodeScalars {
            switch scalar {
            case "*": out += "\\2a"
            case "(": out += "\\28"
            case ")": out += "\\29"
            case "\\": out += "\\5c"
            case "\0": out += "\\00"
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out
    }

    /// Escapes every byte as `\xx`, for binary values.
    public static func escape(bytes: [UInt8]) -> String {
        let digits = Array("0123456789abcdef")
        var out = ""
        out.reserveCapacity(bytes.count * 3)
        for b in bytes {
            out.append("\\")
            out.append(digits[Int(b >> 4)])
            out.append(digits[Int(b & 0xf)])
        }
        return out
    }

    /// Checks a filter an administrator wrote and returns it ready to send: surrounding
    /// parentheses are added when missing (`uid=ann` → `(uid=ann)`, as ldapsearch does);
    /// unbalanced parentheses and empty filters are reported.
    public static func check(_ text: String) throws(LDAPFilterError) -> String {
        let trimmed = text.trimmingSpaces()
        guard !trimmed.isEmpty else { throw LDAPFilterError(filter: text, reason: "the filter is empty") }
        let filter = trimmed.hasPrefix("(") ? trimmed : "(\(trimmed))"
        // Unicode scalars, not Characters: a value ending in a prepended mark (U+0605) would
        // fuse with the ')' after it into one Character (found by the filter fuzz target).
        let scalars = Array(filter.unicodeScalars)
        var depth = 0
        var previous: Unicode.Scalar = " "
        var escaped = false
        for (offset, c) in scalars.enumerated() {
            if escaped {
                escaped = false
                previous = c
                continue
            }
            switch c {
            case "\\": escaped = true
            case "(":
                depth += 1
            case ")":
                if previous == "(" {
                    throw LDAPFilterError(filter: text, reason: "empty parentheses at character \(offset)")
                }
                depth -= 1
                if depth < 0 { throw LDAPFilterError(filter: text, reason: "a ')' at character \(offset + 1) closes nothing") }
                if depth == 0 && offset != scalars.count - 1 {
                    throw LDAPFilterError(filter: text, reason: "text after the closing ')' at character \(offset + 1); combine filters with (&…) or (|…)")
                }
            default: break
            }
            previous = c
        }
        if escaped { throw LDAPFilterError(filter: text, reason: "a '\\' at the end escapes nothing") }
        if depth > 0 { throw LDAPFilterError(filter: text, reason: "\(depth) '(' not closed") }
        return filter
    }
}

/// A filter string that cannot be right.
public struct LDAPFilterError: Error, Sendable, CustomStringConvertible {
    public let filter: String
    public let reason: String
    public var description: String { "invalid filter '\(filter)': \(reason)" }
}
