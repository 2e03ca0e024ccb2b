import Foundation
import LDAP

/// Recognises records that are exactly as the last run stored them, so that they skip mapping
/// and the field-by-field comparison (most records of most runs).
///
/// A record's fingerprint is a 64-bit hash (FNV-1a's prime, a word at a time) of its DN and its
/// packed attributes (names, values, counts and lengths), seeded with everything else that
/// decides what the record becomes: the source's name, stable-id attribute, mapping and options. The store keeps, per
/// user, the fingerprint of the record its row was last written from (`sync_fingerprints`);
/// any other write to the row (by the application, a deactivation, an adoption) deletes it
/// (triggers on `users`), so a row with a fingerprint is exactly what the mapping makes of that
/// record. A changed mapping or option changes every fingerprint: the next run compares all.
///
/// Each step is a bijection of the hash's state, so two records of equal length that differ in
/// one word never share a fingerprint; other collisions are about a 2⁻⁶⁴ chance.
struct RecordFingerprint: Sendable {
    let seed: UInt64
    let idAttribute: String
    /// A CSV row's locator (file and line) moves when rows are added above it: only a DN is
    /// part of what a record is.
    let includesLocator: Bool

    static let offsetBasis: UInt64 = 0xcbf2_9ce4_8422_2325
    static let prime: UInt64 = 0x0000_0100_0000_01b3

    init(source: SourceSettings) {
        idAttribute = source.stableID
        includesLocator = source.locatorIsDN
        var text = "usersync record fingerprint v2\u{0}\(source.name)\u{0}\(source.stableID)\u{0}"
        text += "\(source.options)\u{0}"
        for field in Mapping.fields {
            text += "\(field)=\(source.mapping[field]?.fingerprintText ?? "-")\u{0}"
        }
        for name in source.mapping.attributes.keys.sorted() {
            text += "attributes.\(name)=\(source.mapping.attributes[name]!.fingerprintText)\u{0}"
        }
        var hash = RecordFingerprint.offsetBasis
        RecordFingerprint.add(Array(text.utf8), to: &hash)
        seed = hash
    }

    /// The record's fingerprint: the DN and the packed attributes (names as the server spelt
    /// them, values, counts and lengths), eight bytes at a time.
    func callAsFunction(_ entry: SourceRecord) -> UInt64 {
        var hash = seed
        if includesLocator {
            var locator = entry.locator.description
            locator.withUTF8 { RecordFingerprint.addWords($0, to: &hash) }
        }
        entry.packed.withUnsafeBufferPointer { RecordFingerprint.addWords($0, to: &hash) }
        return hash
    }

    /// Adds the length, then each 8-byte word: xor, multiply by the FNV prime, rotate (each a
    /// bijection of the state, so inputs of one length that differ in one word never collide;
    /// the rotation carries high bits down), then the last bytes one by one.
    static func addWords(_ bytes: UnsafeBufferPointer<UInt8>, to hash: inout UInt64) {
        add(length: bytes.count, to: &hash)
        guard let base = bytes.baseAddress else { return }
        let raw = UnsafeRawPointer(base)
        var i = 0
        while i + 8 <= bytes.count {
            let word = raw.loadUnaligned(fromByteOffset: i, as: UInt64.self)
            let mixed = (hash ^ word) &* prime
            hash = (mixed << 31) | (mixed >> 33)
            i += 8
        }
        while i < bytes.count {
            step(bytes[i], &hash)
            i += 1
        }
    }

    /// The hash of a stable id's text, the key under which a run looks up what it last stored.
    static func idHash(_ id: String) -> UInt64 {
        var text = id
        return text.withUTF8 { idHash(bytes: $0) }
    }

    /// The same hash of an id's UTF-8 bytes.
    static func idHash(bytes: UnsafeBufferPointer<UInt8>) -> UInt64 {
        var hash = offsetBasis
        add(bytes, to: &hash)
        return hash
    }

    @inline(__always)
    static func step(_ byte: UInt8, _ hash: inout UInt64) {
        hash = (hash ^ UInt64(byte)) &* prime
    }

    static func add(length: Int, to hash: inout UInt64) {
        var n = UInt64(length)
        for _ in 0..<4 {
            step(UInt8(truncatingIfNeeded: n), &hash)
            n >>= 8
        }
    }

    static func add<Bytes: Collection>(_ bytes: Bytes, to hash: inout UInt64) where Bytes.Element == UInt8 {
        add(length: bytes.count, to: &hash)
        for byte in bytes { step(byte, &hash) }
    }
}

/// What the store holds of one source's users, by the hash of their stable id: each synced
/// user's row id and the fingerprint of the record it was written from. About 40 bytes a user.
struct KnownRecords: Sendable {
    struct Known: Sendable {
        let fingerprint: UInt64
        /// The user's id, shifted left one bit, and whether its row was active when loaded
        /// (SQLite; false when not known) in the bit that frees: sixteen bytes an entry, not
        /// twenty-four (a Bool of its own cost a no-op of 100,000 users 3.5 MiB of peak memory).
        let idAndState: Int64

        /// nil for an id too large to shift (never given by SQLite or PostgreSQL's defaults):
        /// its record is then compared in full, as an ambiguous one is.
        init?(fingerprint: UInt64, userId: Int64, active: Bool = false) {
            guard userId >= -(1 << 61), userId < 1 << 61 else { return nil }
            self.fingerprint = fingerprint
            idAndState = userId << 1 | (active ? 1 : 0)
        }

        /// As `IdHashTable` holds it.
        init(fingerprint: UInt64, idAndState: Int64) {
            self.fingerprint = fingerprint
            self.idAndState = idAndState
        }

        var userId: Int64 { idAndState >> 1 }
        var active: Bool { idAndState & 1 == 1 }
    }

    /// Two users whose ids share a hash (a 2⁻⁶⁴ chance) are both left out: their records take
    /// the full comparison.
    var byIdHash = IdHashTable()
    /// How many fingerprints the whole store held when these were loaded (SQLite), nil when
    /// not counted: no row forgotten since means no identical record went stale during the read.
    var storedRows: Int?
    /// The chunks of received records the source's last run kept, by the hash of their bytes:
    /// a page received again exactly is copied from there rather than compressed (`ArchiveChunk`).
    var keptChunks: [UInt64: KeptChunks.Previous] = [:]

    var count: Int { byIdHash.count }

    /// The user whose stored record has this fingerprint, or nil (new, changed, or unknown).
    func unchangedUser(idHash: UInt64, fingerprint: UInt64) -> Known? {
        guard let known = byIdHash[idHash], known.fingerprint == fingerprint else { return nil }
        return known
    }
}
