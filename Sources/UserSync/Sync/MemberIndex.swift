/// The link keys (normalised DNs) of the users a read found identical to their rows, with their
/// user ids, so that a group read resolves each member naming one of them as the member is
/// mapped, on the mapping thread, instead of staging the link and joining all of them with the
/// identical records in the plan (at 100,000 members: the links' index, the identical records'
/// index and the join, 0.3 s of the plan's one thread).
///
/// A key is held as two independent 64-bit hashes of its bytes: FNV-1a, the slot's key, and
/// SipHash (the standard library's `Hasher`, seeded afresh by each process), kept beside it and
/// compared on lookup. Two different keys agreeing on both is a 2⁻¹²⁸ chance; two agreeing on
/// the first only make that slot ambiguous (`IdHashTable`), and the index incomplete.
///
/// Complete, the index also says which members name no identical user: their links are staged
/// and resolved against the other records read, and the plan skips the identical records
/// (`PlanRequest.membersResolvedAsRead`). Incomplete (a key ambiguous, a user id the table
/// cannot hold), it resolves what it holds and the plan resolves every staged link as before.
struct MemberIndex: Sendable {
    private var table: IdHashTable
    private var added = 0
    private var refused = false

    init(capacity: Int) {
        table = IdHashTable(capacity: capacity)
    }

    /// Whether every key added is held, once: a key it does not hold is no identical user's.
    var complete: Bool { !refused && table.count == added }

    mutating func add(linkKey bytes: UnsafeBufferPointer<UInt8>, userId: Int64) {
        added += 1
        guard let entry = KnownRecords.Known(fingerprint: Self.second(bytes), userId: userId, active: true) else {
            refused = true
            return
        }
        table.add(RecordFingerprint.idHash(bytes: bytes), entry)
    }

    mutating func add(linkKey: String, userId: Int64) {
        var key = linkKey
        key.withUTF8 { add(linkKey: $0, userId: userId) }
    }

    /// The identical user whose link key this is, if the index holds it.
    func userId(linkKey: String) -> Int64? {
        var key = linkKey
        return key.withUTF8 { bytes in
            guard let entry = table[RecordFingerprint.idHash(bytes: bytes)], entry.fingerprint == Self.second(bytes) else {
                return nil
            }
            return entry.userId
        }
    }

    private static func second(_ bytes: UnsafeBufferPointer<UInt8>) -> UInt64 {
        var hasher = Hasher()
        hasher.combine(bytes: UnsafeRawBufferPointer(bytes))
        return UInt64(bitPattern: Int64(hasher.finalize()))
    }
}
