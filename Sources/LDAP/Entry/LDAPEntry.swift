import Foundation

/// One attribute value: bytes as the server sent them (binary-safe, not NUL-terminated).
public struct LDAPValue: Hashable, Sendable, CustomStringConvertible {
    public let bytes: [UInt8]

    public init(_ bytes: [UInt8]) { self.bytes = bytes }
    public init(_ string: String) { self.bytes = Array(string.utf8) }

    /// The value as UTF-8 text, or nil if it is not valid UTF-8 (objectGUID, jpegPhoto, …).
    public var string: String? { String(validating: bytes, as: UTF8.self) }

    /// The value as text, replacing invalid UTF-8 sequences.
    public var lossyString: String { String(decoding: bytes, as: UTF8.self) }

    public var description: String { string ?? "<\(bytes.count) bytes>" }
}

/// One attribute of an entry: its name as the server spelt it and its values in order.
public struct LDAPAttribute: Sendable {
    public let name: String
    public var values: [LDAPValue]

    public init(name: String, values: [LDAPValue]) {
        self.name = name
        self.values = values
    }
}

/// A directory entry: its DN and its attributes. Attribute names are matched without regard
/// to case, as LDAP requires (`mail`, `Mail` and `MAIL` are one attribute).
public struct LDAPEntry: Sendable {
    public let dn: String
    public private(set) var attributes: [LDAPAttribute]

    public init(dn: String, attributes: [LDAPAttribute]) {
        self.dn = dn
        self.attributes = attributes
    }

    private func index(of name: String) -> Int? {
        // Attribute descriptions are ASCII (RFC 4512 section 2.5): an ASCII case fold on the
        // bytes is exact, and much cheaper than Foundation's locale-aware comparison.
        if let exact = attributes.firstIndex(where: { $0.name == name }) { return exact }
        return attributes.firstIndex { LDAPEntry.asciiEqualIgnoringCase($0.name, name) }
    }

    static func asciiEqualIgnoringCase(_ a: String, _ b: String) -> Bool {
        guard a.utf8.count == b.utf8.count else { return false }
        for (x, y) in zip(a.utf8, b.utf8) where x != y {
            let fx = (x >= 65 && x <= 90) ? x | 0x20 : x
            let fy = (y >= 65 && y <= 90) ? y | 0x20 : y
            if fx != fy { return false }
        }
        return true
    }

    /// The attribute's values, or an empty array when the entry does not have it.
    public subscript(name: String) -> [LDAPValue] {
        guard let i = index(of: name) else { return [] }
        return attributes[i].values
    }

    /// Whether the entry has the attribute (with at least one value).
    public func has(_ name: String) -> Bool { !self[name].isEmpty }

    /// The attribute's values as text (values that are not UTF-8 are left out).
    public func strings(_ name: String) -> [String] { self[name].compactMap(\.string) }

    /// The first value as text.
    public func string(_ name: String) -> String? { self[name].first?.string }

    /// The first value's bytes.
    public func bytes(_ name: String) -> [UInt8]? { self[name].first?.bytes }

    /// Replaces (or adds) an attribute's values.
    public mutating func set(_ name: String, values: [LDAPValue]) {
        if let i = index(of: name) {
            attributes[i].values = values
        } else {
            attributes.append(LDAPAttribute(name: name, values: values))
        }
    }

    /// Removes an attribute.
    public mutating func remove(_ name: String) {
        if let i = index(of: name) { attributes.remove(at: i) }
    }
}
