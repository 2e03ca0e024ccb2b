/// Minimal JSON writing for the hot path of a sync (two objects per record read).
/// Foundation's JSONEncoder costs tens of microseconds per small object on Linux, which made
/// encoding slower than reading the directory; these produce the same text as JSONEncoder with
/// `.sortedKeys` and `.withoutEscapingSlashes`.
enum JSONText {
    /// `value` as a JSON string literal, quotes included.
    static func string(_ value: String, into out: inout String) {
        out.append("\"")
        if !value.utf8.contains(where: { $0 < 0x20 || $0 == 0x22 || $0 == 0x5C }) {
            out.append(value)
            out.append("\"")
            return
        }
        for scalar in value.unicodeScalars {
            switch scalar {
            case "\"": out.append("\\\"")
            case "\\": out.append("\\\\")
            case "\n": out.append("\\n")
            case "\r": out.append("\\r")
            case "\t": out.append("\\t")
            case "\u{08}": out.append("\\b")
            case "\u{0C}": out.append("\\f")
            default:
                if scalar.value < 0x20 {
                    let hex = String(scalar.value, radix: 16)
                    out.append("\\u" + String(repeating: "0", count: 4 - hex.count) + hex)
                } else {
                    out.unicodeScalars.append(scalar)
                }
            }
        }
        out.append("\"")
    }

    /// A JSON object of strings, keys sorted.
    static func object(_ dictionary: [String: String]) -> String {
        var out = "{"
        for (i, key) in dictionary.keys.sorted().enumerated() {
            if i > 0 { out.append(",") }
            string(key, into: &out)
            out.append(":")
            string(dictionary[key]!, into: &out)
        }
        out.append("}")
        return out
    }
}
