import GRDB

extension KnownRecords {
    /// Loads the fingerprints of one source's users. Two users whose ids share a hash (a 2⁻⁶⁴
    /// chance) are both left out: their records take the full comparison.
    static func load(_ db: Database, source: String) throws -> KnownRecords {
        var known = KnownRecords()
        let count = try Int.fetchOne(db, sql: "SELECT count(*) FROM users WHERE source = ?", arguments: [source]) ?? 0
        known.byIdHash.reserveCapacity(count)
        var ambiguous: Set<UInt64> = []
        let rows = try Row.fetchCursor(db, sql: """
            SELECT f.id_hash, f.fingerprint, f.user_id FROM sync_fingerprints f JOIN users u ON u.id = f.user_id
            WHERE u.source = ?
            """, arguments: [source])
        while let row = try rows.next() {
            let idHash = UInt64(bitPattern: row[0] as Int64)
            let entry = Known(fingerprint: UInt64(bitPattern: row[1] as Int64), userId: row[2])
            if known.byIdHash.updateValue(entry, forKey: idHash) != nil { ambiguous.insert(idHash) }
        }
        for idHash in ambiguous { known.byIdHash[idHash] = nil }
        // In the same read transaction: what `StagingTables.finishUsers` compares with.
        known.storedRows = try Int.fetchOne(db, sql: "SELECT count(*) FROM sync_fingerprints")
        return known
    }
}
