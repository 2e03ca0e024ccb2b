/// The link keys (normalised DNs) of the users a read found identical to their rows, with their
/// user ids, so that a group read resolves each member naming one of them as the member is
/// mapped, on the mapping thread, instead of staging the link and joining all of them with the
/// identical records in the plan (at 100,000 members: the links' staging and index, the
/// identical records' index and the join, 0.4 s of CPU, most of it on the plan's one thread).
///
/// A key is held as two independent hashes of its bytes: the 64-bit FNV-1a of the fingerprints
/// (`RecordFingerprint.idHash`), which places it, and 32 bits of SipHash (the standard library's
/// `Hasher`, seeded afresh by each process), kept beside the user id and compared on lookup: two
/// different keys agreeing on both is a 2⁻⁹⁶ chance. Slots of 16 bytes, open addressing with
/// linear probing, at most four fifths full: 2 MB at 100,000 users, held only while the groups
/// are read (`PageReader`).
///
/// Complete, the index also says which members name no identical user: their links are staged
/// and resolved against the other records read, and the plan skips the identical records
/// (`PlanRequest.membersResolvedAsRead`). Incomplete (two keys placed alike, a user id past 32
/// bits), it resolves what it holds and the plan resolves every staged link as before.
struct MemberIndex: Sendable {
    private struct Slot {
        /// The key's FNV-1a hash; 0 for an empty slot (a hash of 0 is taken as 1).
        var key: UInt64
        /// The key's second hash (high 32 bits) and the user id (low 32), or `ambiguous`.
        var entry: UInt64
    }

    private static let ambiguous = UInt64.max
    private var slots: [Slot]
    private var used = 0
    private var added = 0
    private var held = 0
    private var refused = false

    init(capacity: Int) {
        slots = Array(repeating: Slot(key: 0, entry: 0), count: Self.slotCount(for: capacity))
    }

    private static func slotCount(for keys: Int) -> Int { max(8, keys + keys / 4 + 1) }

    /// Whether every key added is held, once: a key it does not hold is no identical user's.
    var complete: Bool { !refused && held == added }

    mutating func add(linkKey bytes: UnsafeBufferPointer<UInt8>, userId: Int64) {
        added += 1
        guard userId > 0, userId < Int64(UInt32.max) else {
            refused = true
            return
        }
        if (used + 1) * 5 > slots.count * 4 { grow() }
        let key = Self.first(bytes)
        let index = find(key)
        if slots[index].key == 0 {
            slots[index] = Slot(key: key, entry: Self.second(bytes) << 32 | UInt64(userId))
            used += 1
            held += 1
        } else if slots[index].entry != Self.ambiguous {
            slots[index].entry = Self.ambiguous
            held -= 1
        }
    }

    mutating func add(linkKey: String, userId: Int64) {
        var key = linkKey
        key.withUTF8 { add(linkKey: $0, userId: userId) }
    }

    /// The identical user whose link key this is, if the index holds it.
    func userId(linkKey: String) -> Int64? {
        var key = linkKey
        return key.withUTF8 { bytes in
            let slot = slots[find(Self.first(bytes))]
            guard slot.key != 0, slot.entry != Self.ambiguous, slot.entry >> 32 == Self.second(bytes) else { return nil }
            return Int64(slot.entry & 0xffff_ffff)
        }
    }

    /// The slot holding `key`, or the empty one where it would go.
    private func find(_ key: UInt64) -> Int {
        var index = Int((key &* 0x9E37_79B9_7F4A_7C15).multipliedFullWidth(by: UInt64(slots.count)).high)
        while slots[index].key != 0 && slots[index].key != key {
            index += 1
            if index == slots.count { index = 0 }
        }
        return index
    }

    private mutating func grow() {
        let old = slots
        slots = Array(repeating: Slot(key: 0, entry: 0), count: Self.slotCount(for: old.count * 2))
        for slot in old where slot.key != 0 { slots[find(slot.key)] = slot }
    }

    private static func first(_ bytes: UnsafeBufferPointer<UInt8>) -> UInt64 {
        max(1, RecordFingerprint.idHash(bytes: bytes))
    }

    private static func second(_ bytes: UnsafeBufferPointer<UInt8>) -> UInt64 {
        var hasher = Hasher()
        hasher.combine(bytes: UnsafeRawBufferPointer(bytes))
        return UInt64(UInt(bitPattern: hasher.finalize()) & 0xffff_ffff)
    }
}
