import Foundation
import LDAP

/// Where a record is in its source: what messages, history and `runs records` show for it, and
/// what group links point at.
public enum RecordLocator: Sendable, Hashable, CustomStringConvertible {
    /// A directory entry's distinguished name.
    case dn(String)
    /// A CSV row: the file as configured and the line the row starts on. It moves when rows are
    /// added above it, so it is neither kept in `users.dn` nor part of the record's fingerprint.
    case row(file: String, line: Int)
    /// A REST resource: a SCIM resource's path (`/Users/<id>`, `/Groups/<id>`), or a JSON
    /// record's stable id (`id=42`) or place in the read (`record 7`).
    case resource(String)
    /// A group a CSV source made from its rows' group paths (`Engineering/Backend`).
    case groupPath(String)

    /// The locator as text: the DN, `file:line`, the resource or the group path (the `dn` of
    /// `runs records --json`, as before locators had kinds).
    public var description: String {
        switch self {
        case .dn(let text), .resource(let text), .groupPath(let text): return text
        case .row(let file, let line): return "\(file):\(line)"
        }
    }

    /// The DN, for a directory entry.
    public var dn: String? {
        if case .dn(let dn) = self { return dn }
        return nil
    }

    /// What group links to this record are matched on: the locator as text, normalised as
    /// RFC 4514 compares DNs, or lowercased when it is not a DN (a CSV path, SCIM's
    /// `/Users/<id>`). The group mapper normalises member values with the same function, so a
    /// `member` DN, a SCIM member's path and a CSV row's group path each meet their record.
    public var linkKey: String { StagedRecord.normalize(description) }
}

/// One record a source read: where it is, and its attributes, binary-safe and packed in one
/// buffer the way the directory client keeps an entry's (`PackedAttributeSet`), so a record is
/// read, fingerprinted and kept the same way whichever kind of source it came from.
public struct SourceRecord: PackedAttributeSet {
    public let locator: RecordLocator
    public let packed: [UInt8]

    /// A record from its locator and attributes.
    public init(_ locator: RecordLocator, attributes: [LDAPAttribute]) {
        self.locator = locator
        self.packed = AttributePacking.pack(attributes)
    }

    /// A record from its locator and packed attributes; nil if `packed` is not well formed.
    public init?(_ locator: RecordLocator, packed: [UInt8]) {
        guard AttributePacking.isWellFormed(packed) else { return nil }
        self.locator = locator
        self.packed = packed
    }

    /// A directory entry as a record (its attributes are shared, not copied).
    public init(_ entry: LDAPEntry) {
        self.locator = .dn(entry.dn)
        self.packed = entry.packed
    }

    /// Whether the record is a group's (a SCIM `/Groups/<id>` resource or a CSV group path):
    /// a run keeps its group records beside its users'.
    public var isGroup: Bool {
        switch locator {
        case .groupPath: return true
        case .resource(let path): return path.hasPrefix("/Groups/")
        case .dn, .row: return false
        }
    }
}

extension PackedAttributeSet {
    /// The record's stable id: the first value of `attribute` as `StableID.text` reads it,
    /// without copying it; nil when the record has none.
    public func stableID(_ attribute: String) -> String? {
        withValues(attribute) { values in values.first.flatMap { StableID.text($0, attribute: attribute) } }
    }

    /// `RecordFingerprint.idHash` of `stableID`, without making the text when it is the value's
    /// own bytes (ASCII: an entryUUID, a uid): a String per record of a run with nothing changed
    /// was 4% of its CPU, for a hash of the same bytes.
    func stableIDHash(_ attribute: String) -> UInt64? {
        withValues(attribute) { values -> UInt64? in
            guard let value = values.first, !value.isEmpty else { return nil }
            if value.allSatisfy({ $0 < 0x80 }) && !StableID.isBinary(attribute) {
                return RecordFingerprint.idHash(bytes: value)
            }
            return StableID.text(value, attribute: attribute).map(RecordFingerprint.idHash)
        }
    }
}

/// How a stable id's bytes read as text.
enum StableID {
    /// AD's binary objectGUID and objectSid in their usual text forms, other UTF-8 as is,
    /// other bytes in hex; nil when empty.
    /// Whether the attribute's values are binary ids that read as text in their own form.
    static func isBinary(_ attribute: String) -> Bool {
        LDAPEntry.asciiEqualIgnoringCase(attribute, "objectGUID") || LDAPEntry.asciiEqualIgnoringCase(attribute, "objectSid")
    }

    static func text(_ value: UnsafeBufferPointer<UInt8>, attribute: String) -> String? {
        guard !value.isEmpty else { return nil }
        if LDAPEntry.asciiEqualIgnoringCase(attribute, "objectGUID"), let guid = ADValue.guidString(Array(value)) { return guid }
        if LDAPEntry.asciiEqualIgnoringCase(attribute, "objectSid"), let sid = ADValue.sidString(Array(value)) { return sid }
        if let text = LDAPValue.string(value) { return text }
        return value.map { String(format: "%02x", $0) }.joined()
    }
}
