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
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        var lines: [UInt8] = []
        for entry in entries {
            var attributes: [String: [Value]] = [:]
            for attribute in entry.attributes {
                attributes[attribute.name] = attribute.values.map { value in
                    value.string.map(Value.text) ?? .binary(value.bytes)
                }
            }
            lines += try encoder.encode(Record(dn: entry.dn, attributes: attributes))
            lines.append(UInt8(ascii: "\n"))
        }
        return try Gzip.compress(lines)
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
