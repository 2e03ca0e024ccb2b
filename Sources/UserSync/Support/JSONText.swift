/// Minimal JSON writing for the hot path of a sync (an object per record read).
/// Foundation's JSONEncoder costs tens of microseconds per small object on Linux, which made
/// encoding slower than reading the directory; this produces the same text as JSONEncoder with
/// `.sortedKeys` and `.withoutEscapingSlashes`, written as bytes (appending to a String went
/// through its capacity checks per piece and cost more than the insert of the row).
enum JSONText {
    /// A JSON object of strings, keys sorted.
    static func object(_ dictionary: [String: String]) -> String {
        if dictionary.isEmpty { return "{}" }
        var out: [UInt8] = []
        out.reserveCapacity(48 * dictionary.count)
        out.append(UInt8(ascii: "{"))
        for (i, pair) in dictionary.sorted(by: { $0.key < $1.key }).enumerated() {
            if i > 0 { out.append(UInt8(ascii: ",")) }
            string(pair.key, into: &out)
            out.append(UInt8(ascii: ":"))
            string(pair.value, into: &out)
        }
        out.append(UInt8(ascii: "}"))
        return String(decoding: out, as: UTF8.self)
    }

    /// `value` as a JSON string literal, quotes included: `"` and `\` escaped, control characters
    /// as \n, \r, \t, \b, \f or \u00xx; everything else (non-ASCII included) as its UTF-8 bytes.
    static func string(_ value: String, into out: inout [UInt8]) {
        let backslash = UInt8(ascii: "\\"), quote = UInt8(ascii: "\"")
        out.append(quote)
        var value = value
        // The usual value has nothing to escape: copied whole, not appended byte by byte.
        let plain = value.withUTF8 { bytes in
            guard !bytes.contains(where: { $0 < 0x20 || $0 == quote || $0 == backslash }) else { return false }
            out.append(contentsOf: bytes)
            return true
        }
        if plain {
            out.append(quote)
            return
        }
        for byte in value.utf8 {
            switch byte {
            case UInt8(ascii: "\""), backslash: out.append(backslash); out.append(byte)
            case 0x0A: out.append(backslash); out.append(UInt8(ascii: "n"))
            case 0x0D: out.append(backslash); out.append(UInt8(ascii: "r"))
            case 0x09: out.append(backslash); out.append(UInt8(ascii: "t"))
            case 0x08: out.append(backslash); out.append(UInt8(ascii: "b"))
            case 0x0C: out.append(backslash); out.append(UInt8(ascii: "f"))
            case ..<0x20:
                let hex = Array("0123456789abcdef".utf8)
                out.append(contentsOf: [backslash, UInt8(ascii: "u"), UInt8(ascii: "0"), UInt8(ascii: "0"),
                                        hex[Int(byte >> 4)], hex[Int(byte & 0x0F)]])
            default: out.append(byte)
            }
        }
        out.append(UInt8(ascii: "\""))
    }
}
