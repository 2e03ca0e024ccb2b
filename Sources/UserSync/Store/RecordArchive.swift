import Foundation
import LDAP

/// The records a run received, as the store keeps them: each page one gzip-compressed
/// `run_records` chunk of the entries one after another, each as its DN and its packed
/// attributes (`LDAPEntry.packed`: per attribute the name, the number of values and the
/// values), the DN, the packed block and every name and value preceded by its length
/// (unsigned LEB128 varints). Values stay the bytes the source sent. A compact binary form
/// rather than JSON: every run keeps every record it read, and writing JSON text was a tenth of
/// a sync's time; this one is two copies per entry.
public enum RecordArchive {
    public struct Corrupt: Error, CustomStringConvertible, Sendable {
        public var description: String { "a kept record chunk is damaged (it does not decode)" }
    }

    /// The compression level: gzip's fastest, about 4× smaller than the records, at a fraction
    /// of the cost of the default level.
    static let level: Int32 = 1

    /// One page of entries, compressed.
    public static func encode(_ entries: [LDAPEntry]) throws -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(entries.reduce(0) { $0 + $1.dn.utf8.count + $1.packed.count + 8 })
        for entry in entries {
            var dn = entry.dn
            dn.withUTF8 { append($0, to: &out) }
            entry.packed.withUnsafeBufferPointer { append($0, to: &out) }
        }
        return try Gzip.compress(out, level: level)
    }

    /// The entries of one chunk.
    public static func decode(_ data: [UInt8]) throws -> [LDAPEntry] {
        let bytes = try Gzip.decompress(data)
        var reader = Reader(bytes: bytes)
        var entries: [LDAPEntry] = []
        while !reader.atEnd {
            let dn = try reader.string()
            guard let entry = LDAPEntry(dn: dn, packed: try reader.field()) else { throw Corrupt() }
            entries.append(entry)
        }
        return entries
    }

    @inline(__always)
    static func appendVarint(_ value: Int, to out: inout [UInt8]) {
        var n = UInt(value)
        while n >= 0x80 {
            out.append(UInt8(truncatingIfNeeded: n) | 0x80)
            n >>= 7
        }
        out.append(UInt8(n))
    }

    static func append(_ bytes: UnsafeBufferPointer<UInt8>, to out: inout [UInt8]) {
        appendVarint(bytes.count, to: &out)
        out.append(contentsOf: bytes)
    }

    struct Reader {
        let bytes: [UInt8]
        var offset = 0

        var atEnd: Bool { offset >= bytes.count }

        mutating func varint() throws(Corrupt) -> Int {
            var result: UInt = 0
            var shift: UInt = 0
            while true {
                guard offset < bytes.count, shift < 64 else { throw Corrupt() }
                let byte = bytes[offset]
                offset += 1
                result |= UInt(byte & 0x7f) << shift
                if byte < 0x80 { break }
                shift += 7
            }
            // Every counted item takes at least one byte: a count beyond the rest is damage.
            guard result <= UInt(bytes.count - offset) else { throw Corrupt() }
            return Int(result)
        }

        mutating func field() throws(Corrupt) -> [UInt8] {
            let count = try varint()
            guard count <= bytes.count - offset else { throw Corrupt() }
            defer { offset += count }
            return Array(bytes[offset..<offset + count])
        }

        mutating func string() throws(Corrupt) -> String {
            String(decoding: try field(), as: UTF8.self)
        }
    }
}
