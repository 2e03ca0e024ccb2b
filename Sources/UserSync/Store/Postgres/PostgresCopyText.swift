import NIOCore

/// Rows in `COPY … FROM STDIN`'s text format (https://www.postgresql.org/docs/15/sql-copy.html,
/// "Text Format"): fields separated by tabs, rows ended by newlines, `\N` for NULL, and a
/// backslash before a backslash, tab, newline or carriage return in a value.
struct PostgresCopyText {
    private(set) var buffer = ByteBuffer()
    private var first = true

    var isEmpty: Bool { buffer.readableBytes == 0 }

    mutating func field(_ value: String?) {
        separate()
        guard let value else { return null() }
        var plain = true
        for byte in value.utf8 where byte == 0x5c || byte == 0x09 || byte == 0x0a || byte == 0x0d {
            plain = false
            break
        }
        if plain {
            buffer.writeString(value)
            return
        }
        for byte in value.utf8 {
            switch byte {
            case 0x5c: buffer.writeStaticString("\\\\")
            case 0x09: buffer.writeStaticString("\\t")
            case 0x0a: buffer.writeStaticString("\\n")
            case 0x0d: buffer.writeStaticString("\\r")
            default: buffer.writeInteger(byte)
            }
        }
    }

    mutating func field(_ value: Int64?) {
        separate()
        guard let value else { return null() }
        buffer.writeString(String(value))
    }

    /// Bytes as `bytea`'s hex form (`\x0a1b…`), its backslash escaped for COPY.
    mutating func field(bytes: [UInt8]?) {
        separate()
        guard let bytes else { return null() }
        buffer.writeStaticString("\\\\x")
        let digits: [UInt8] = Array("0123456789abcdef".utf8)
        for byte in bytes {
            buffer.writeInteger(digits[Int(byte >> 4)])
            buffer.writeInteger(digits[Int(byte & 0x0f)])
        }
    }

    mutating func endRow() {
        buffer.writeInteger(UInt8(0x0a))
        first = true
    }

    private mutating func separate() {
        if !first { buffer.writeInteger(UInt8(0x09)) }
        first = false
    }

    private mutating func null() {
        buffer.writeStaticString("\\N")
    }
}
