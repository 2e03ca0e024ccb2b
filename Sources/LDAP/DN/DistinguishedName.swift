/// A distinguished name (RFC 4514): a sequence of relative DNs, leaf first.
///
/// Two DNs are equal when they name the same entry: attribute types compare without case,
/// values compare without case and with insignificant spaces removed (as `caseIgnoreMatch`
/// does for the naming attributes directories use), escapes are decoded, and the parts of a
/// multi-valued RDN (`cn=a+uid=b`) compare in any order.
public struct DistinguishedName: Hashable, Sendable, CustomStringConvertible {
    /// One `type=value` pair of an RDN.
    public struct AttributeTypeAndValue: Sendable {
        /// The attribute type as written (`CN`, `cn`, `2.5.4.3`).
        public let type: String
        /// The value with escapes decoded.
        public let value: String

        public init(type: String, value: String) {
            self.type = type
            self.value = value
        }
    }

    /// A relative DN: one or more type=value pairs (more than one is a multi-valued RDN).
    public typealias RDN = [AttributeTypeAndValue]

    /// The RDNs, leaf first: for `uid=ann,ou=people,dc=example` the first is `uid=ann`.
    public let rdns: [RDN]

    public init(rdns: [RDN]) {
        self.rdns = rdns
    }

    /// Parses an RFC 4514 string; also accepts what RFC 2253 and 1779 parsers accept in
    /// practice (spaces around separators and `=`, `;` as a separator, quoted values).
    public init(_ string: String) throws(DNParseError) {
        var parser = DNParser(string)
        self.rdns = try parser.parse()
    }

    /// The first value of the leaf RDN: `Ann Smith` for `CN=Ann Smith,OU=Staff,DC=corp`.
    public var rdnValue: String? { rdns.first?.first?.value }

    /// The DN of the parent entry; nil for the empty (root) DN.
    public var parent: DistinguishedName? {
        rdns.isEmpty ? nil : DistinguishedName(rdns: Array(rdns.dropFirst()))
    }

    /// Whether this DN lies at or below `ancestor`.
    public func isWithin(_ ancestor: DistinguishedName) -> Bool {
        guard rdns.count >= ancestor.rdns.count else { return false }
        let tail = DistinguishedName(rdns: Array(rdns.suffix(ancestor.rdns.count)))
        return tail == ancestor
    }

    /// The DN as an RFC 4514 string, with only the escapes RFC 4514 requires.
    public var description: String {
        rdns.map { rdn in
            rdn.map { "\($0.type)=\(DistinguishedName.escape($0.value))" }.joined(separator: "+")
        }.joined(separator: ",")
    }

    /// A canonical string for comparison and indexing: types lowercased, values lowercased with
    /// runs of spaces folded, multi-valued RDNs sorted. `CN=Ann  Smith, DC=Corp` → `cn=ann smith,dc=corp`.
    public var normalized: String {
        var parts: [String] = []
        parts.reserveCapacity(rdns.count)
        for rdn in rdns {
            var pairs: [(type: String, value: String)] = rdn.map {
                (DistinguishedName.normalizeType($0.type), DistinguishedName.normalizeValue($0.value))
            }
            if pairs.count > 1 {
                pairs.sort { $0.type == $1.type ? $0.value < $1.value : $0.type < $1.type }
            }
            parts.append(pairs.map { $0.type + "=" + DistinguishedName.escape($0.value) }.joined(separator: "+"))
        }
        return parts.joined(separator: ",")
    }

    public static func == (lhs: DistinguishedName, rhs: DistinguishedName) -> Bool {
        lhs.normalized == rhs.normalized
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(normalized)
    }

    /// Normalises a DN string, or returns nil if it does not parse.
    ///
    /// Most DNs are plain ASCII without escapes, quotes or multi-valued RDNs; those take a fast
    /// path that gives the same text as the full parser (a sync normalises every member DN of
    /// every group, and the parser was a tenth of a sync's time).
    public static func normalize(_ string: String) -> String? {
        if let fast = fastNormalize(string) { return fast }
        return (try? DistinguishedName(string))?.normalized
    }

    /// The value of the first RDN (`Ann Smith` for `CN=Ann Smith,OU=Staff`), or nil if the DN
    /// does not parse. Fast for plain DNs, like `normalize`.
    public static func firstRDNValue(_ string: String) -> String? {
        var input = string
        let fast: String?? = input.withUTF8 { bytes in
            var first: Range<Int>?
            guard walkPlain(bytes, { _, value in if first == nil { first = value } }), let first else { return .none }
            return .some(String(decoding: UnsafeBufferPointer(rebasing: bytes[first]), as: UTF8.self))
        }
        if let fast { return fast }
        return (try? DistinguishedName(string))?.rdnValue
    }

    /// Bytes that never need the full parser: ASCII, no escapes, quotes, `+`, `;`, `#`, `<`, `>`.
    static func isPlain<Bytes: Sequence<UInt8>>(_ bytes: Bytes) -> Bool {
        for byte in bytes {
            if byte >= 0x80 || byte < 0x20 { return false }
            switch byte {
            case UInt8(ascii: "\\"), UInt8(ascii: "\""), UInt8(ascii: "+"), UInt8(ascii: ";"), UInt8(ascii: "#"),
                 UInt8(ascii: "<"), UInt8(ascii: ">"):
                return false
            default: continue
            }
        }
        return true
    }

    /// `normalized` for a plain DN, on its bytes: types and values ASCII-lowercased, `oid.`
    /// dropped from types, spaces around `,` and `=` removed and runs of spaces in values folded
    /// (plain values need no escaping). One allocation; a sync normalises every DN it reads
    /// when groups are synced.
    static func fastNormalize(_ string: String) -> String? {
        if string.isEmpty { return "" }
        var input = string
        return input.withUTF8 { bytes -> String? in
            var out = [UInt8]()
            out.reserveCapacity(bytes.count)
            let plain = walkPlain(bytes) { type, value in
                if !out.isEmpty { out.append(UInt8(ascii: ",")) }
                var t0 = type.lowerBound
                if type.count >= 4, lower(bytes[t0]) == UInt8(ascii: "o"), lower(bytes[t0 + 1]) == UInt8(ascii: "i"),
                   lower(bytes[t0 + 2]) == UInt8(ascii: "d"), bytes[t0 + 3] == UInt8(ascii: ".") {
                    t0 += 4
                }
                for i in t0..<type.upperBound { out.append(lower(bytes[i])) }
                out.append(UInt8(ascii: "="))
                // Words lowercased, one space between them.
                var pendingSpace = false
                for i in value {
                    let byte = bytes[i]
                    if byte == 0x20 {
                        pendingSpace = true
                    } else {
                        if pendingSpace { out.append(0x20); pendingSpace = false }
                        out.append(lower(byte))
                    }
                }
            }
            return plain ? String(decoding: out, as: UTF8.self) : nil
        }
    }

    /// Walks a plain DN's RDNs (see `isPlain`): for each, the type's and the value's byte ranges,
    /// trimmed of spaces. False (the full parser is needed) when the DN is not plain, a part has
    /// no `=`, a type is not valid (`DNParser.isValidType`) or a value is empty.
    static func walkPlain(_ bytes: UnsafeBufferPointer<UInt8>, _ body: (Range<Int>, Range<Int>) -> Void) -> Bool {
        guard isPlain(bytes) else { return false }
        var start = 0
        while start <= bytes.count {
            var end = start
            while end < bytes.count && bytes[end] != UInt8(ascii: ",") { end += 1 }
            var equals = start
            while equals < end && bytes[equals] != UInt8(ascii: "=") { equals += 1 }
            guard equals < end else { return false }
            var t0 = start, t1 = equals
            while t0 < t1 && bytes[t0] == 0x20 { t0 += 1 }
            while t1 > t0 && bytes[t1 - 1] == 0x20 { t1 -= 1 }
            var v0 = equals + 1, v1 = end
            while v0 < v1 && bytes[v0] == 0x20 { v0 += 1 }
            while v1 > v0 && bytes[v1 - 1] == 0x20 { v1 -= 1 }
            guard v0 < v1 else { return false }
            var bare = t0
            if t1 - t0 >= 4, lower(bytes[t0]) == UInt8(ascii: "o"), lower(bytes[t0 + 1]) == UInt8(ascii: "i"),
               lower(bytes[t0 + 2]) == UInt8(ascii: "d"), bytes[t0 + 3] == UInt8(ascii: ".") {
                bare += 4
            }
            guard isValidType(UnsafeBufferPointer(rebasing: bytes[bare..<t1])) else { return false }
            body(t0..<t1, v0..<v1)
            start = end + 1
        }
        return true
    }

    @inline(__always)
    static func lower(_ byte: UInt8) -> UInt8 { byte >= 65 && byte <= 90 ? byte | 0x20 : byte }

    /// `DNParser.isValidType` on bytes (without an `oid.` prefix): a descriptor (a letter, then letters,
    /// digits and '-') or a numeric OID (digit groups separated by single dots).
    static func isValidType(_ type: UnsafeBufferPointer<UInt8>) -> Bool {
        guard let first = type.first else { return false }
        func isDigit(_ b: UInt8) -> Bool { b >= 0x30 && b <= 0x39 }
        func isLetter(_ b: UInt8) -> Bool { (b >= 0x41 && b <= 0x5A) || (b >= 0x61 && b <= 0x7A) }
        if isLetter(first) { return type.allSatisfy { isLetter($0) || isDigit($0) || $0 == UInt8(ascii: "-") } }
        guard isDigit(first), type.last.map(isDigit) == true else { return false }
        var previousDot = false
        for byte in type {
            if byte == UInt8(ascii: ".") {
                if previousDot { return false }
                previousDot = true
            } else if isDigit(byte) {
                previousDot = false
            } else {
                return false
            }
        }
        return true
    }

    /// Escapes a value for use in a DN string (RFC 4514 §2.4).
    public static func escape(_ value: String) -> String {
        var out = ""
        out.reserveCapacity(value.utf8.count)
        let scalars = Array(value.unicodeScalars)
        for (i, scalar) in scalars.enumerated() {
            switch scalar {
            case "\"", "+", ",", ";", "<", ">", "\\":
                out.append("\\")
                out.unicodeScalars.append(scalar)
            case "#" where i == 0:
                out.append("\\#")
            case " " where i == 0 || i == scalars.count - 1:
                out.append("\\ ")
            case "\0":
                out.append("\\00")
            default:
                out.unicodeScalars.append(scalar)
            }
        }
        return out
    }

    static func normalizeType(_ type: String) -> String {
        let lower = type.lowercased()
        return lower.hasPrefix("oid.") ? String(lower.dropFirst(4)) : lower
    }

    static func normalizeValue(_ value: String) -> String {
        value.lowercased().split(separator: " ", omittingEmptySubsequences: true).joined(separator: " ")
    }
}

/// Why a DN string did not parse, and where.
public struct DNParseError: Error, Sendable, CustomStringConvertible, Equatable {
    public let input: String
    /// Offset (in Unicode scalars) where parsing stopped.
    public let position: Int
    public let reason: String

    public var description: String {
        "invalid DN '\(input)' at character \(position + 1): \(reason)"
    }
}

/// Reads a DN a Unicode scalar at a time, not a `Character` (grapheme cluster) at a time: a
/// value that begins with a combining mark (`cn=\u{301}…`) would otherwise fuse with the `=`
/// or `,` before it into one Character, and the separator would vanish (found by the dn fuzz
/// target: an escaped value that did not parse back).
private struct DNParser {
    let input: String
    let chars: [Unicode.Scalar]
    var i = 0

    init(_ input: String) {
        self.input = input
        self.chars = Array(input.unicodeScalars)
    }

    static func hex(_ c: Unicode.Scalar) -> Int? {
        switch c.value {
        case 0x30...0x39: return Int(c.value - 0x30)
        case 0x41...0x46: return Int(c.value - 0x41 + 10)
        case 0x61...0x66: return Int(c.value - 0x61 + 10)
        default: return nil
        }
    }

    static func isASCIIAlphanumeric(_ c: Unicode.Scalar) -> Bool {
        (0x30...0x39).contains(c.value) || (0x41...0x5A).contains(c.value) || (0x61...0x7A).contains(c.value)
    }

    func fail(_ reason: String) -> DNParseError {
        DNParseError(input: input, position: i, reason: reason)
    }

    mutating func skipSpaces() {
        while i < chars.count, chars[i] == " " { i += 1 }
    }

    mutating func parse() throws(DNParseError) -> [DistinguishedName.RDN] {
        var rdns: [DistinguishedName.RDN] = []
        skipSpaces()
        if i == chars.count { return [] }
        var rdn: DistinguishedName.RDN = []
        while true {
            rdn.append(try parseAttributeTypeAndValue())
            skipSpaces()
            if i == chars.count {
                rdns.append(rdn)
                return rdns
            }
            switch chars[i] {
            case "+":
                i += 1
            case ",", ";":
                i += 1
                rdns.append(rdn)
                rdn = []
                skipSpaces()
                if i == chars.count { throw fail("a separator at the end, with no RDN after it") }
            default:
                throw fail("expected ',' or '+' after a value, found '\(chars[i])'")
            }
        }
    }

    mutating func parseAttributeTypeAndValue() throws(DNParseError) -> DistinguishedName.AttributeTypeAndValue {
        skipSpaces()
        let start = i
        while i < chars.count, chars[i] != "=", chars[i] != ",", chars[i] != "+", chars[i] != ";" { i += 1 }
        let type = String(String.UnicodeScalarView(chars[start..<i])).trimmingSpaces()
        guard i < chars.count, chars[i] == "=" else {
            throw fail(type.isEmpty ? "expected an attribute type" : "expected '=' after '\(type)'")
        }
        guard DNParser.isValidType(type) else {
            i = start
            throw fail(type.isEmpty ? "empty attribute type" : "'\(type)' is not an attribute type (a name like 'cn' or an OID like '2.5.4.3')")
        }
        i += 1
        skipSpaces()
        let value: String
        if i < chars.count, chars[i] == "#" {
            value = try parseHexValue()
        } else if i < chars.count, chars[i] == "\"" {
            value = try parseQuotedValue()
        } else {
            value = try parseStringValue()
        }
        return .init(type: type, value: value)
    }

    static func isValidType(_ type: String) -> Bool {
        var t = Substring(type)
        if t.lowercased().hasPrefix("oid.") { t = t.dropFirst(4) }
        guard let first = t.first else { return false }
        if first.isASCII && first.isLetter {
            return t.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-") }
        }
        if first.isASCII && first.isNumber {
            let parts = t.split(separator: ".", omittingEmptySubsequences: false)
            return parts.allSatisfy { !$0.isEmpty && $0.allSatisfy { $0.isASCII && $0.isNumber } }
        }
        return false
    }

    mutating func parseHexValue() throws(DNParseError) -> String {
        i += 1
        var bytes: [UInt8] = []
        while i + 1 < chars.count, let hi = DNParser.hex(chars[i]), let lo = DNParser.hex(chars[i + 1]) {
            bytes.append(UInt8(hi * 16 + lo))
            i += 2
        }
        if i < chars.count, chars[i] != ",", chars[i] != "+", chars[i] != ";", chars[i] != " " {
            throw fail("'#' must be followed by pairs of hex digits (a BER-encoded value)")
        }
        guard !bytes.isEmpty else { throw fail("'#' must be followed by pairs of hex digits") }
        // A BER-encoded string (tag 0x04 OCTET STRING, 0x0c UTF8String, 0x13 PrintableString,
        // 0x16 IA5String) with a short length: use its content; otherwise the bytes as text.
        if bytes.count >= 2, [0x04, 0x0c, 0x13, 0x16].contains(bytes[0]), Int(bytes[1]) == bytes.count - 2 {
            return String(decoding: bytes.dropFirst(2), as: UTF8.self)
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    mutating func parseQuotedValue() throws(DNParseError) -> String {
        i += 1
        var bytes: [UInt8] = []
        while i < chars.count, chars[i] != "\"" {
            if chars[i] == "\\" {
                try parseEscape(into: &bytes)
            } else {
                bytes.append(contentsOf: Array(String(chars[i]).utf8))
                i += 1
            }
        }
        guard i < chars.count else { throw fail("unterminated quoted value") }
        i += 1
        return String(decoding: bytes, as: UTF8.self)
    }

    mutating func parseStringValue() throws(DNParseError) -> String {
        var bytes: [UInt8] = []
        // Unescaped trailing spaces are not part of the value (RFC 4514 §3); escaped ones are.
        var significantLength = 0
        while i < chars.count {
            let c = chars[i]
            if c == "," || c == "+" || c == ";" { break }
            if c == "\\" {
                try parseEscape(into: &bytes)
                significantLength = bytes.count
            } else if c == "\"" {
                throw fail("a '\"' inside a value must be escaped as '\\\"'")
            } else {
                bytes.append(contentsOf: Array(String(c).utf8))
                if c != " " { significantLength = bytes.count }
                i += 1
            }
        }
        bytes.removeLast(bytes.count - significantLength)
        return String(decoding: bytes, as: UTF8.self)
    }

    mutating func parseEscape(into bytes: inout [UInt8]) throws(DNParseError) {
        i += 1
        guard i < chars.count else { throw fail("a '\\' at the end of the DN escapes nothing") }
        if i + 1 < chars.count, let hi = DNParser.hex(chars[i]), let lo = DNParser.hex(chars[i + 1]) {
            bytes.append(UInt8(hi * 16 + lo))
            i += 2
            return
        }
        let c = chars[i]
        if "\"+,;<>\\= #".unicodeScalars.contains(c) || !DNParser.isASCIIAlphanumeric(c) {
            bytes.append(contentsOf: Array(String(c).utf8))
            i += 1
            return
        }
        throw fail("'\\\(c)' is not a valid escape (use '\\' before a special character or two hex digits)")
    }
}

extension String {
    func trimmingSpaces() -> String {
        var s = Substring(self)
        while s.first == " " { s = s.dropFirst() }
        while s.last == " " { s = s.dropLast() }
        return String(s)
    }
}
