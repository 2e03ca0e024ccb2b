/// The few Basic Encoding Rules (X.690) that control values need: a reader of tag-length-value
/// elements and a writer of the universal types. libldap's `ber_scanf` and `ber_printf` are
/// variadic, which Swift cannot call; control values are small and their grammar fixed, so
/// they are read and written here, binary-safe, and a malformed value is an error rather than
/// a crash.
public enum BER {
    /// Universal and context tags as they appear on the wire (class, form and number in one byte).
    public enum Tag {
        public static let boolean: UInt8 = 0x01
        public static let integer: UInt8 = 0x02
        public static let octetString: UInt8 = 0x04
        public static let enumerated: UInt8 = 0x0A
        public static let sequence: UInt8 = 0x30
        public static let set: UInt8 = 0x31

        /// A context-specific tag `[number]`, primitive or constructed (IMPLICIT, as LDAP's ASN.1 modules).
        public static func context(_ number: UInt8, constructed: Bool) -> UInt8 {
            0x80 | (constructed ? 0x20 : 0) | number
        }
    }

    /// A value that does not follow the encoding rules, or the grammar expected of it.
    public struct DecodingError: Error, CustomStringConvertible, Equatable {
        public let description: String
        public init(_ description: String) { self.description = description }
    }

    /// One element: its tag and the bytes of its content.
    public struct Element: Equatable {
        public let tag: UInt8
        public let content: ArraySlice<UInt8>

        /// The elements a constructed element holds.
        public func children() throws -> [Element] {
            var reader = Reader(content)
            var children: [Element] = []
            while !reader.isAtEnd { children.append(try reader.next()) }
            return children
        }

        public var bytes: [UInt8] { Array(content) }

        public func boolean() throws -> Bool {
            guard content.count == 1 else { throw DecodingError("a BOOLEAN of \(content.count) bytes") }
            return content.first! != 0
        }

        /// An INTEGER or ENUMERATED value (two's complement, at most 8 bytes).
        public func integer() throws -> Int64 {
            guard !content.isEmpty, content.count <= 8 else { throw DecodingError("an INTEGER of \(content.count) bytes") }
            var value: Int64 = content.first! & 0x80 != 0 ? -1 : 0
            for byte in content { value = (value << 8) | Int64(byte) }
            return value
        }
    }

    /// Reads consecutive elements from bytes.
    public struct Reader {
        var bytes: ArraySlice<UInt8>

        public init(_ bytes: ArraySlice<UInt8>) { self.bytes = bytes }
        public init(_ bytes: [UInt8]) { self.bytes = bytes[...] }

        public var isAtEnd: Bool { bytes.isEmpty }

        /// The next element, without looking at what it holds.
        public mutating func next() throws -> Element {
            guard let tag = bytes.first else { throw DecodingError("the value ends where an element was expected") }
            guard tag & 0x1F != 0x1F else { throw DecodingError("a multi-byte tag (unused by LDAP)") }
            var index = bytes.index(after: bytes.startIndex)
            guard index < bytes.endIndex else { throw DecodingError("the value ends inside an element's length") }
            let first = bytes[index]
            index += 1
            var length = 0
            if first & 0x80 == 0 {
                length = Int(first)
            } else {
                let count = Int(first & 0x7F)
                // 0x80 is the indefinite form, which LDAP forbids (RFC 4511 §5.1).
                guard count > 0, count <= 4 else { throw DecodingError("an indefinite or oversized length") }
                guard bytes.endIndex - index >= count else { throw DecodingError("the value ends inside an element's length") }
                for _ in 0..<count {
                    length = (length << 8) | Int(bytes[index])
                    index += 1
                }
            }
            guard bytes.endIndex - index >= length else {
                throw DecodingError("an element of \(length) bytes where \(bytes.endIndex - index) remain")
            }
            let content = bytes[index..<(index + length)]
            bytes = bytes[(index + length)...]
            return Element(tag: tag, content: content)
        }

        /// The next element, which must have `tag`.
        public mutating func next(_ tag: UInt8, _ what: String) throws -> Element {
            let element = try next()
            guard element.tag == tag else {
                throw DecodingError("\(what): tag 0x\(String(element.tag, radix: 16)) where 0x\(String(tag, radix: 16)) was expected")
            }
            return element
        }

        /// The next element if it has `tag`, else nil (an OPTIONAL or DEFAULT component left out).
        public mutating func optional(_ tag: UInt8) throws -> Element? {
            guard bytes.first == tag else { return nil }
            return try next()
        }
    }

    // MARK: Writing

    /// One element with `tag` around `content`.
    public static func element(_ tag: UInt8, _ content: [UInt8]) -> [UInt8] {
        [tag] + length(content.count) + content
    }

    public static func sequence(_ parts: [[UInt8]]) -> [UInt8] { element(Tag.sequence, parts.flatMap { $0 }) }
    public static func octetString(_ bytes: [UInt8]) -> [UInt8] { element(Tag.octetString, bytes) }
    public static func boolean(_ value: Bool) -> [UInt8] { element(Tag.boolean, [value ? 0xFF : 0x00]) }

    /// An INTEGER, in the fewest two's-complement bytes.
    public static func integer(_ value: Int64) -> [UInt8] {
        var bytes = withUnsafeBytes(of: value.bigEndian) { Array($0) }
        while bytes.count > 1 && ((bytes[0] == 0 && bytes[1] & 0x80 == 0) || (bytes[0] == 0xFF && bytes[1] & 0x80 != 0)) {
            bytes.removeFirst()
        }
        return element(Tag.integer, bytes)
    }

    /// An ENUMERATED of a small non-negative value.
    public static func enumerated(_ value: UInt8) -> [UInt8] {
        element(Tag.enumerated, value < 0x80 ? [value] : [0, value])
    }

    static func length(_ count: Int) -> [UInt8] {
        if count < 0x80 { return [UInt8(count)] }
        var bytes: [UInt8] = []
        var rest = count
        while rest > 0 {
            bytes.insert(UInt8(rest & 0xFF), at: 0)
            rest >>= 8
        }
        return [0x80 | UInt8(bytes.count)] + bytes
    }
}
