/// The known records by the hash of their stable ids: one flat array of 24-byte slots, open
/// addressing with linear probing, filled to at most four fifths.
///
/// A `[UInt64: Known]` held the same entries in 24-byte buckets too, but only in powers of two
/// and at most three quarters full: 99,000 users took 2¹⁸ buckets (6 MiB, a tenth of a no-op's
/// peak memory) where 124,000 slots (2.8 MiB) do, and a million took 2²¹ (48 MiB) for 30. Its
/// SipHash of every key is also spared: the key is already a 64-bit FNV-1a hash, which one
/// multiplication spreads over the slots. Entries are only ever added; a key given twice is
/// marked ambiguous in place, so nothing is ever removed.
struct IdHashTable: Sendable {
    private struct Slot {
        var key: UInt64
        var fingerprint: UInt64
        /// `Known`'s packed id and state; one of the two markers below otherwise.
        var idAndState: Int64
    }

    /// Never a packed id (`Known` takes ids of at most 61 bits, shifted once).
    private static let empty = Int64.min
    private static let ambiguous = Int64.max

    private var slots: [Slot]
    /// Keys held once, whose entries a lookup returns.
    private(set) var count = 0
    private var used = 0

    /// A table for `capacity` keys before it grows.
    init(capacity: Int = 0) {
        slots = Array(repeating: Slot(key: 0, fingerprint: 0, idAndState: Self.empty),
                      count: Self.slotCount(for: capacity))
    }

    private static func slotCount(for keys: Int) -> Int { max(8, keys + keys / 4 + 1) }

    /// The slot the probe for `key` starts at: the high word of (key spread) × slot count.
    @inline(__always)
    private func home(_ key: UInt64) -> Int {
        Int((key &* 0x9E37_79B9_7F4A_7C15).multipliedFullWidth(by: UInt64(slots.count)).high)
    }

    /// The slot holding `key`, or the empty one where it would go.
    @inline(__always)
    private func find(_ key: UInt64) -> Int {
        var index = home(key)
        while slots[index].idAndState != Self.empty && slots[index].key != key {
            index += 1
            if index == slots.count { index = 0 }
        }
        return index
    }

    /// Adds `known` under `key`; a key added twice is ambiguous from then on, and found no more.
    mutating func add(_ key: UInt64, _ known: KnownRecords.Known) {
        if (used + 1) * 5 > slots.count * 4 { grow() }
        let index = find(key)
        switch slots[index].idAndState {
        case Self.empty:
            slots[index] = Slot(key: key, fingerprint: known.fingerprint, idAndState: known.idAndState)
            used += 1
            count += 1
        case Self.ambiguous:
            break
        default:
            slots[index].idAndState = Self.ambiguous
            count -= 1
        }
    }

    /// The entry held under `key`, unless it is unknown or ambiguous.
    subscript(key: UInt64) -> KnownRecords.Known? {
        let slot = slots[find(key)]
        guard slot.idAndState != Self.empty, slot.idAndState != Self.ambiguous else { return nil }
        return KnownRecords.Known(fingerprint: slot.fingerprint, idAndState: slot.idAndState)
    }

    private mutating func grow() {
        let old = slots
        slots = Array(repeating: Slot(key: 0, fingerprint: 0, idAndState: Self.empty),
                      count: Self.slotCount(for: old.count * 2))
        for slot in old where slot.idAndState != Self.empty {
            slots[find(slot.key)] = slot
        }
    }
}
