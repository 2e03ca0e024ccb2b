import Foundation

/// A page of received records as the run keeps it (`run_records`), before it is staged: either
/// compressed now, or — when the page is byte for byte one that the source's last run with
/// records kept — that run's chunk, copied as it is.
///
/// A run with nothing changed receives the pages it received last time, and compressing them
/// again was the largest single cost left in it: a sixth of a no-op's CPU at 100,000 users
/// (zlib, 33 MB of records). A page is recognised by the hash of its packed bytes
/// (`RecordArchive.rawHash`, the fingerprints' 64-bit hash) and its number of records; as for
/// the fingerprints, two different pages agreeing on both is a 2⁻⁶⁴ chance, and would cost a
/// kept copy, never a user.
enum ArchiveChunk: Sendable {
    /// Compressed by this run.
    case compressed([UInt8], rawHash: UInt64)
    /// The chunk `chunk` of run `run`, which holds the same bytes; `raw` is kept to compress
    /// should that chunk be gone by the time it is copied.
    case copy(run: Int64, chunk: Int64, raw: [UInt8], rawHash: UInt64)

    var rawHash: UInt64 {
        switch self {
        case .compressed(_, let hash), .copy(_, _, _, let hash): hash
        }
    }
}

/// The chunks a run may copy, and the statements that stage and migrate them; one SQL for both
/// stores (SQLite's migration v10, PostgreSQL's v7).
enum KeptChunks {
    /// A chunk of the source's last run with records: where it is, and how many records it holds.
    struct Previous: Sendable, Equatable {
        let run: Int64
        let chunk: Int64
        let entries: Int
    }

    /// `run_records.raw_hash`: the hash of a chunk's records before compression. Chunks kept
    /// before it existed have none, and are never copied.
    static func statements(_ dialect: SQLDialect) -> [String] {
        ["ALTER TABLE run_records ADD COLUMN raw_hash \(dialect == .sqlite ? "INTEGER" : "BIGINT")"]
    }

    /// The chunks of the source's last run that kept records, in the format written now, by
    /// their hash (none twice: a hash two chunks share is left out). The run is found from the
    /// newest down by `runs_source_started`, not among every kept chunk of every source.
    static func load(_ db: any SQLSession, source: String) throws -> [UInt64: Previous] {
        let rows = try db.rows("""
            SELECT raw_hash, run_id, chunk, entries FROM run_records
            WHERE run_id = (SELECT r.id FROM runs r
                            WHERE r.source = ? AND EXISTS (SELECT 1 FROM run_records k WHERE k.run_id = r.id)
                            ORDER BY r.started_at DESC, r.id DESC LIMIT 1)
              AND format = ? AND raw_hash IS NOT NULL
            """, source, RecordArchive.format)
        var chunks: [UInt64: Previous] = [:]
        var twice: Set<UInt64> = []
        for row in rows {
            let hash = UInt64(bitPattern: row["raw_hash"] as Int64)
            let previous = Previous(run: row["run_id"], chunk: row["chunk"], entries: row["entries"])
            if chunks.updateValue(previous, forKey: hash) != nil { twice.insert(hash) }
        }
        for hash in twice { chunks[hash] = nil }
        return chunks
    }

    /// Stages one page's chunk in `staged_records`.
    static func stage(_ db: any SQLSession, _ chunk: ArchiveChunk, entries: Int) throws {
        let hash = Int64(bitPattern: chunk.rawHash)
        switch chunk {
        case .compressed(let data, _):
            try db.execute("INSERT INTO staged_records (entries, data, raw_hash) VALUES (?, ?, ?)", entries, Data(data), hash)
        case .copy(let run, let number, let raw, _):
            let copied = try db.execute("""
                INSERT INTO staged_records (entries, data, raw_hash)
                SELECT entries, data, raw_hash FROM run_records WHERE run_id = ? AND chunk = ? AND entries = ?
                """, run, number, entries)
            if copied == 0 {
                // Gone since it was looked up (its run deleted meanwhile, by hand or by a tool):
                // the page is compressed after all.
                try db.execute("INSERT INTO staged_records (entries, data, raw_hash) VALUES (?, ?, ?)",
                               entries, Data(try RecordArchive.compress(raw)), hash)
            }
        }
    }
}
