import GRDB

extension KnownRecords {
    /// Loads the fingerprints of one source's users. Two users whose ids share a hash (a 2⁻⁶⁴
    /// chance) are both left out: their records take the full comparison.
    static func load(_ db: Database, source: String, snapshotTaken: () -> Void = {}) throws -> KnownRecords {
        var known = KnownRecords()
        let count = try Int.fetchOne(db, sql: "SELECT count(*) FROM users WHERE source = ?", arguments: [source]) ?? 0
        // A WAL read transaction sees the database as of its first statement.
        snapshotTaken()
        known.byIdHash = IdHashTable(capacity: count)
        // Read through SQLite's C API: GRDB's `Row` cursor boxes every value (the whole load of
        // 100,000 fingerprints took 58 ms that way, 48 ms this one; medians of 5).
        let rows = try RawStatement(db, sql: """
            SELECT f.id_hash, f.fingerprint, f.user_id, u.state = 'active' FROM sync_fingerprints f JOIN users u ON u.id = f.user_id
            WHERE u.source = ?
            """)
        rows.bind(1, source)
        try rows.forEachRow {
            let idHash = UInt64(bitPattern: rows.int64(0))
            guard let entry = Known(fingerprint: UInt64(bitPattern: rows.int64(1)), userId: rows.int64(2), active: rows.int64(3) != 0) else {
                return
            }
            known.byIdHash.add(idHash, entry)
        }
        // In the same read transaction: what `StagingTables.finishUsers` compares with.
        known.storedRows = try Int.fetchOne(db, sql: "SELECT count(*) FROM sync_fingerprints")
        known.keptChunks = try KeptChunks.load(SQLiteSession(db: db), source: source)
        return known
    }
}
