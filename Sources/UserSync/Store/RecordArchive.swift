import Foundation
import LDAP

/// The records a run received, as the store keeps them: each page one gzip-compressed
/// `run_records` chunk of the records one after another. A compact binary form rather than
/// JSON: every run keeps every record it read, and writing JSON text was a tenth of a sync's
/// time; this one is two copies per record. Values stay the bytes the source sent.
///
/// Every number below is an unsigned LEB128 varint, and every text or byte block is preceded by
/// its length. A record is, in `format` 2 (`run_records.format`), its locator kind (0 DN, 1 CSV
/// row, 2 REST resource, 3 CSV group path), the locator (a text; for a row the file, then the
/// line), then its packed attributes (`PackedAttributeSet.packed`: per attribute the name, the
/// number of values and the values). Format 1, written before locators had kinds, is the
/// locator's text and the packed attributes.
public enum RecordArchive {
    public struct Corrupt: Error, CustomStringConvertible, Sendable {
        public var description: String { "a kept record chunk is damaged (it does not decode)" }
    }

    /// The format `encode` writes.
    public static let format = 2

    /// The compression level: gzip's fastest, about 4× smaller than the records, at a fraction
    /// of the cost of the default level.
    static let level: Int32 = 1

    /// One page of records, compressed.
    public static func encode(_ records: [SourceRecord]) throws -> [UInt8] {
        try compress(pack(records))
    }

    /// A page packed (`pack`), compressed.
    static func compress(_ raw: [UInt8]) throws -> [UInt8] {
        try Gzip.compress(raw, level: level)
    }

    /// The hash of a packed page, by which a later run recognises the same page (`ArchiveChunk`).
    static func rawHash(_ raw: [UInt8]) -> UInt64 {
        var hash = RecordFingerprint.offsetBasis
        raw.withUnsafeBufferPointer { RecordFingerprint.addWords($0, to: &hash) }
        return hash
    }

    /// One page of records in the chunks' form, before compression.
    static func pack(_ records: [SourceRecord]) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(records.reduce(0) { $0 + $1.packed.count + 64 })
        for record in records {
            switch record.locator {
            case .dn(var text):
                out.append(0)
                text.withUTF8 { append($0, to: &out) }
            case .row(var file, let line):
                out.append(1)
                file.withUTF8 { append($0, to: &out) }
                appendVarint(line, to: &out)
            case .resource(var text):
                out.append(2)
                text.withUTF8 { append($0, to: &out) }
            case .groupPath(var text):
                out.append(3)
                text.withUTF8 { append($0, to: &out) }
            }
            record.packed.withUnsafeBufferPointer { append($0, to: &out) }
        }
        return out
    }

    /// The records of one chunk written in `format`.
    public static func decode(_ data: [UInt8], format: Int = RecordArchive.format) throws -> [SourceRecord] {
        let bytes = try Gzip.decompress(data)
        var reader = Reader(bytes: bytes)
        var records: [SourceRecord] = []
        while !reader.atEnd {
            let locator: RecordLocator
            if format == 1 {
                // A DN parses as one; a CSV row (`file:line`) or a SCIM path does not, and only
                // its text was kept.
                let text = try reader.string()
                locator = DistinguishedName.normalize(text) != nil ? .dn(text) : .resource(text)
            } else {
                switch try reader.number() {
                case 0: locator = .dn(try reader.string())
                case 1: locator = .row(file: try reader.string(), line: try reader.number())
                case 2: locator = .resource(try reader.string())
                case 3: locator = .groupPath(try reader.string())
                default: throw Corrupt()
                }
            }
            guard let record = SourceRecord(locator, packed: try reader.field()) else { throw Corrupt() }
            records.append(record)
        }
        return records
    }

    /// The record of a chunk whose locator is the DN `dn`, or nil. Only the locators are read
    /// until it is found (no record is built for the others): a user's last record is looked
    /// for through a run of 100,000.
    public static func record(withDN dn: String, in data: [UInt8], format: Int = RecordArchive.format) throws -> SourceRecord? {
        let wanted = Array(dn.utf8)
        var reader = Reader(bytes: try Gzip.decompress(data))
        while !reader.atEnd {
            if format != 1 {
                let kind = try reader.number()
                guard kind <= 3 else { throw Corrupt() }
                guard kind == 0 else {
                    // Not a DN: its locator (a text, and for a row its line), then its attributes.
                    _ = try reader.range()
                    if kind == 1 { _ = try reader.number() }
                    _ = try reader.range()
                    continue
                }
            }
            let locator = try reader.range()
            let packed = try reader.range()
            guard reader.bytes[locator].elementsEqual(wanted) else { continue }
            return SourceRecord(.dn(dn), packed: Array(reader.bytes[packed]))
        }
        return nil
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

        /// A number (a locator kind, a line).
        mutating func number() throws(Corrupt) -> Int {
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
            guard result <= UInt(Int.max) else { throw Corrupt() }
            return Int(result)
        }

        /// A count of the bytes that follow.
        mutating func varint() throws(Corrupt) -> Int {
            let result = try number()
            // Every counted item takes at least one byte: a count beyond the rest is damage.
            guard result <= bytes.count - offset else { throw Corrupt() }
            return result
        }

        /// Where the next counted field lies, skipped over.
        mutating func range() throws(Corrupt) -> Range<Int> {
            let count = try varint()
            defer { offset += count }
            return offset..<offset + count
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
