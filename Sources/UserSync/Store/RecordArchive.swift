import Foundation
import LDAP

/// The records a run received, as the store keeps them: JSON lines, one entry per line,
/// `{"dn": …, "attributes": {"name": [value, …]}}`, a binary value as `{"base64": …}`;
/// each page gzip-compressed into one `run_records` chunk.
public enum RecordArchive {
    enum Value: Codable, Equatable {
        case text(String)
        case binary([UInt8])

        struct Binary: Codable { var base64: String }

        init(from decoder: any Decoder) throws {
            let container = try decoder.singleValueContainer()
            if let text = try? container.decode(String.self) {
                self = .text(text)
            } else {
                let binary = try container.decode(Binary.self)
                self = .binary(Array(Data(base64Encoded: binary.base64) ?? Data()))
            }
        }

        func encode(to encoder: any Encoder) throws {
            var container = encoder.singleValueContainer()
            switch self {
            case .text(let text): try container.encode(text)
            case .binary(let bytes): try container.encode(Binary(base64: Data(bytes).base64EncodedString()))
            }
        }
    }

    struct Record: Codable {
        var dn: String
        var attributes: [String: [Value]]
    }

    /// One page of entries as gzip-compressed JSON lines.
    public static func encode(_ entries: [LDAPEntry]) throws -> [UInt8] {
        var lines = ""
        lines.reserveCapacity(entries.count * 256)
        for entry in entries {
            lines.append("{\"attributes\":{")
            for (i, attribute) in entry.attributes.sorted(by: { $0.name < $1.name }).enumerated() {
                if i > 0 { lines.append(",") }
                JSONText.string(attribute.name, into: &lines)
                lines.append(":[")
                for (j, value) in attribute.values.enumerated() {
                    if j > 0 { lines.append(",") }
                    if let text = value.string {
                        JSONText.string(text, into: &lines)
                    } else {
                        lines.append("{\"base64\":\"\(Data(value.bytes).base64EncodedString())\"}")
                    }
                }
                lines.append("]")
            }
            lines.append("},\"dn\":")
            JSONText.string(entry.dn, into: &lines)
            lines.append("}\n")
        }
        return try Gzip.compress(Array(lines.utf8))
    }

    /// The entries of one chunk.
    public static func decode(_ data: [UInt8]) throws -> [LDAPEntry] {
        let text = try Gzip.decompress(data)
        let decoder = JSONDecoder()
        return try text.split(separator: UInt8(ascii: "\n")).map { line in
            let record = try decoder.decode(Record.self, from: Data(line))
            let attributes = record.attributes.keys.sorted().map { name in
                LDAPAttribute(name: name, values: record.attributes[name]!.map { value in
                    switch value {
                    case .text(let text): return LDAPValue(text)
                    case .binary(let bytes): return LDAPValue(bytes)
                    }
                })
            }
            return LDAPEntry(dn: record.dn, attributes: attributes)
        }
    }
}
