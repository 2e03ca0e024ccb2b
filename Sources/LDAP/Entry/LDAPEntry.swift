import Foundation

/// One attribute value: bytes as the server sent them (binary-safe, not NUL-terminated).
public struct LDAPValue: Hashable, Sendable, CustomStringConvertible {
    public let bytes: [UInt8]

    public init(_ bytes: [UInt8]) { self.bytes = bytes }
    public init(_ string: String) { self.bytes = Array(string.utf8) }

    /// The value as UTF-8 text, or nil if it is not valid UTF-8 (objectGUID, jpegPhoto, …).
    public var string: String? { bytes.withUnsafeBufferPointer(LDAPValue.string) }

    /// Bytes as UTF-8 text, or nil if they are not valid UTF-8.
    ///
    /// The standard library's `String(validating:as:)` is generic over the encoding and, called
    /// from here, instantiated its metadata at every call: two thirds of its cost, and a twentieth
    /// of an import's CPU. Decoding with repair and checking that nothing was repaired is the same
    /// answer: repair replaces exactly the invalid sequences, so valid bytes come back unchanged
    /// and invalid ones never do.
    @inlinable
    public static func string(_ bytes: UnsafeBufferPointer<UInt8>) -> String? {
        var text = String(decoding: bytes, as: UTF8.self)
        guard text.utf8.count == bytes.count else { return nil }
        return text.withUTF8 { $0.isEmpty || memcmp($0.baseAddress!, bytes.baseAddress!, bytes.count) == 0 } ? text : nil
    }

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
///
/// The attributes live in one packed byte buffer (`packed`), not in arrays of arrays: an entry
/// read from the server is one allocation for its values instead of two per attribute, and a
/// sync that only fingerprints and keeps a record never takes it apart. `attributes` and the
/// lookups decode from it.
public struct LDAPEntry: PackedAttributeSet {
    public let dn: String
    /// The attributes in the order the server sent them, each as its name and its values, every
    /// name and value preceded by its length and every value list by its count (unsigned LEB128).
    public private(set) var packed: [UInt8]

    public init(dn: String, attributes: [LDAPAttribute]) {
        self.dn = dn
        packed = AttributePacking.pack(attributes)
    }

    /// An entry from its DN and packed attributes; nil if `packed` is not well formed.
    public init?(dn: String, packed: [UInt8]) {
        guard AttributePacking.isWellFormed(packed) else { return nil }
        self.dn = dn
        self.packed = packed
    }

    /// An entry whose attributes a `PackedWriter` packed: well formed by construction, so not
    /// checked again as `init?(dn:packed:)` checks bytes from elsewhere.
    init(dn: String, written packed: [UInt8]) {
        self.dn = dn
        self.packed = packed
    }

    /// Whether two attribute names are the same attribute: equal but for the case of ASCII
    /// letters (attribute descriptions are ASCII, RFC 4512 section 2.5).
    public static func asciiEqualIgnoringCase(_ a: String, _ b: String) -> Bool {
        guard a.utf8.count == b.utf8.count else { return false }
        for (x, y) in zip(a.utf8, b.utf8) where x != y {
            let fx = (x >= 65 && x <= 90) ? x | 0x20 : x
            let fy = (y >= 65 && y <= 90) ? y | 0x20 : y
            if fx != fy { return false }
        }
        return true
    }

    /// Whether an attribute name equals `name` (ASCII letters without regard to case: attribute
    /// descriptions are ASCII, RFC 4512 section 2.5).
    @inlinable
    static func nameMatches(_ bytes: UnsafeBufferPointer<UInt8>, _ name: UnsafeBufferPointer<UInt8>) -> Bool {
        guard bytes.count == name.count else { return false }
        for i in 0..<bytes.count {
            let x = bytes[i], y = name[i]
            if x == y { continue }
            let fx = (x >= 65 && x <= 90) ? x | 0x20 : x
            let fy = (y >= 65 && y <= 90) ? y | 0x20 : y
            if fx != fy { return false }
        }
        return true
    }

    /// Replaces (or adds) an attribute's values.
    public mutating func set(_ name: String, values: [LDAPValue]) {
        var all = attributes
        if let i = all.firstIndex(where: { LDAPEntry.asciiEqualIgnoringCase($0.name, name) }) {
            all[i].values = values
        } else {
            all.append(LDAPAttribute(name: name, values: values))
        }
        self = LDAPEntry(dn: dn, attributes: all)
    }

    /// Removes an attribute.
    public mutating func remove(_ name: String) {
        var all = attributes
        if let i = all.firstIndex(where: { LDAPEntry.asciiEqualIgnoringCase($0.name, name) }) { all.remove(at: i) }
        self = LDAPEntry(dn: dn, attributes: all)
    }

    /// Writes the packed form into storage of a size known beforehand (the search's entries:
    /// no more bytes than the BER encoding they come from), with no check per byte beyond the
    /// bound. Each write says whether it fitted.
    struct PackedWriter {
        let buffer: UnsafeMutableBufferPointer<UInt8>
        private(set) var count = 0

        init(_ buffer: UnsafeMutableBufferPointer<UInt8>) { self.buffer = buffer }

        private mutating func varint(_ value: Int) -> Bool {
            guard buffer.count - count >= 10, let base = buffer.baseAddress else { return false }
            var n = UInt(value)
            while n >= 0x80 {
                base[count] = UInt8(truncatingIfNeeded: n) | 0x80
                count += 1
                n >>= 7
            }
            base[count] = UInt8(n)
            count += 1
            return true
        }

        private mutating func bytes(_ bytes: UnsafeBufferPointer<UInt8>) -> Bool {
            guard buffer.count - count >= bytes.count, let base = buffer.baseAddress else { return false }
            if let source = bytes.baseAddress { (base + count).update(from: source, count: bytes.count) }
            count += bytes.count
            return true
        }

        mutating func appendName(_ name: UnsafeBufferPointer<UInt8>, valueCount: Int) -> Bool {
            varint(name.count) && bytes(name) && varint(valueCount)
        }

        mutating func appendValue(_ value: UnsafeBufferPointer<UInt8>) -> Bool {
            varint(value.count) && bytes(value)
        }
    }

    /// Builds `packed` attribute by attribute.
    struct Packer {
        var bytes: [UInt8] = []

        init(capacity: Int = 256) { bytes.reserveCapacity(capacity) }

        mutating func varint(_ value: Int) {
            var n = UInt(value)
            while n >= 0x80 {
                bytes.append(UInt8(truncatingIfNeeded: n) | 0x80)
                n >>= 7
            }
            bytes.append(UInt8(n))
        }

        mutating func appendName(_ name: UnsafeBufferPointer<UInt8>, valueCount: Int) {
            varint(name.count)
            bytes.append(contentsOf: name)
            varint(valueCount)
        }

        mutating func appendName(_ name: [UInt8], valueCount: Int) {
            name.withUnsafeBufferPointer { appendName($0, valueCount: valueCount) }
        }

        mutating func appendValue(_ value: UnsafeBufferPointer<UInt8>) {
            varint(value.count)
            bytes.append(contentsOf: value)
        }
    }
}

/// Walks a packed attribute buffer; every read is bounds-checked and gives nil past the end.
@usableFromInline
struct PackedReader {
    @usableFromInline let buffer: UnsafeBufferPointer<UInt8>
    @usableFromInline var offset = 0

    @inlinable init(_ buffer: UnsafeBufferPointer<UInt8>) { self.buffer = buffer }

    @inlinable var atEnd: Bool { offset >= buffer.count }

    @inlinable mutating func varint() -> Int? {
        var result: UInt = 0
        var shift: UInt = 0
        while offset < buffer.count, shift < 64 {
            let byte = buffer[offset]
            offset += 1
            result |= UInt(byte & 0x7f) << shift
            if byte < 0x80 {
                // Every counted item takes at least one byte.
                return result <= UInt(buffer.count - offset) ? Int(result) : nil
            }
            shift += 7
        }
        return nil
    }

    @inlinable mutating func field() -> UnsafeBufferPointer<UInt8>? {
        guard let count = varint(), count <= buffer.count - offset else { return nil }
        defer { offset += count }
        return UnsafeBufferPointer(rebasing: buffer[offset..<offset + count])
    }

    @inlinable mutating func skipAttribute() -> Bool {
        guard field() != nil, let count = varint() else { return false }
        for _ in 0..<count { guard field() != nil else { return false } }
        return true
    }
}
