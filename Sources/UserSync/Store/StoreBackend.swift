import Foundation

/// One kind of database behind `UserStore`: SQLite (`SQLiteStore`) or PostgreSQL
/// (`PostgresStore`). What they share is written once against `SQLSession` — the planners, the
/// staging statements, run history and the queries; a backend supplies sessions, its
/// migrations, the run lock and the bulk paths (SQLite's bound inserts, PostgreSQL's COPY).
protocol StoreBackend: SyncStore {
    var dialect: SQLDialect { get }
    /// The store as messages name it (a path, or a URL and schema; never a password).
    var name: String { get }
    /// Whether the run lock is per source (several nodes, each source run by one of them at a
    /// time) rather than for the whole store.
    var locksPerSource: Bool { get }

    /// Runs `body` in a read-only transaction, off the cooperative pool.
    func read<T: Sendable>(_ body: @escaping @Sendable (any SQLSession) throws -> T) async throws -> T
    /// Runs `body` in a transaction, off the cooperative pool; a throw rolls it back.
    func write<T: Sendable>(_ body: @escaping @Sendable (any SQLSession) throws -> T) async throws -> T

    /// Waits up to `timeout` for the lock of pushes to `target`: two pushes to one target never
    /// interleave (a push does not hold the runs' lock; it reads what runs have committed).
    func lockPush(target: String, timeout: Duration) async throws -> any RunLease

    /// The names of the migrations applied, in order.
    func appliedMigrations() async throws -> [String]
    /// The tables and indexes as the database describes them, in a stable order.
    func schemaSQL() async throws -> [String]
    /// Who holds the run lock of `source` now (a node's name), nil when nobody does.
    func runLockHolder(source: String) async throws -> String?
    /// Closes the store's connections.
    func close() async
    /// Records the end of a run without its records, after keeping them failed.
    func finishRunWithoutRecords(_ id: Int64, report: SyncReport, staging: any RunStaging) async throws
}

extension StoreBackend {
    /// Records a run as started. A run of the same store (or, where locks are per source, of
    /// the same source) still marked `running` was killed — the caller holds the lock that
    /// every run holds — so it is marked failed.
    func beginRun(source: String, dryRun: Bool, at time: String) async throws -> Int64 {
        let perSource = locksPerSource
        return try await write { db in
            try db.execute("""
                UPDATE runs SET status = 'failed', finished_at = coalesce(finished_at, ?),
                    error = 'interrupted: the process ended before the run finished (killed or crashed); nothing it planned was written'
                WHERE status = 'running' AND (? = 0 OR source = ?)
                """, time, perSource, source)
            return try db.value(Int64.self, "INSERT INTO runs (source, started_at, status, dry_run) VALUES (?, ?, 'running', ?) RETURNING id",
                                source, time, dryRun)!
        }
    }

    func hasEndedRun(source: String, startedSince time: String) async throws -> Bool {
        try await read { db in
            try db.value(Bool.self, "SELECT EXISTS (SELECT 1 FROM runs WHERE source = ? AND started_at >= ? AND status <> 'running' AND dry_run = 0)",
                         source, time) ?? false
        }
    }

    /// With its records if it can; when that fails too, without them (`finishRunWithoutRecords`).
    func recordFailedRun(_ id: Int64, report: SyncReport, at time: String, keepRecords: Int,
                         staging: any RunStaging) async throws -> (any Error)? {
        do {
            try await finishRun(id, report: report, at: time, keepRecords: keepRecords, staging: staging)
            return nil
        } catch {
            try await finishRunWithoutRecords(id, report: report, staging: staging)
            return error
        }
    }

    /// On the connection that writes (SQLite has one, which holds the staging tables too).
    func finishRun(_ id: Int64, report: SyncReport, at time: String, keepRecords: Int, staging: (any RunStaging)?) async throws {
        try await write { db in
            try RunBook.finishRun(db, id, report: report, at: time, keepRecords: keepRecords)
        }
    }
}

/// The statements that record runs, on either store.
enum RunBook {
    /// Records how a run ended, with the records it received (not for a dry run; only when
    /// the session is the run's own, where its `staged_records` are). `withRecords: false`
    /// records the end alone (when keeping the records failed for want of room).
    static func finishRun(_ db: any SQLSession, _ id: Int64, report: SyncReport, at time: String, keepRecords: Int,
                          withRecords: Bool = true) throws {
        let u = report.users
        try db.execute("""
            UPDATE runs SET finished_at = ?, status = ?, entries_read = ?, created = ?, updated = ?, deactivated = ?,
                reactivated = ?, unchanged = ?, skipped = ?, error = ?
            WHERE id = ?
            """, time, report.status.rawValue, report.entriesRead, u.created, u.updated, u.deactivated,
                         u.reactivated, u.unchanged, u.skipped, report.error, id)
        if let read = report.read {
            try db.execute("UPDATE runs SET read_mode = ?, read_method = ?, read_reason = ? WHERE id = ?",
                           read.mode.rawValue, read.method, read.reason, id)
        }
        if let g = report.groups, let m = report.memberships {
            try db.execute("""
                UPDATE runs SET groups_read = ?, groups_created = ?, groups_updated = ?, groups_deactivated = ?,
                    groups_reactivated = ?, groups_unchanged = ?, memberships_added = ?, memberships_removed = ?
                WHERE id = ?
                """, report.groupsRead ?? 0, g.created, g.updated, g.deactivated, g.reactivated, g.unchanged,
                             m.added, m.removed, id)
        }
        // A dry run keeps no records, and only runs that keep records count towards keepRecords:
        // ten dry runs must not push out the records of the last real run (`users show` reads them).
        guard !report.dryRun, withRecords else { return }
        if try db.temporaryTableExists("staged_records") {
            try db.execute("""
                INSERT INTO run_records (run_id, chunk, entries, data, format, raw_hash)
                SELECT ?, chunk, entries, data, \(RecordArchive.format), raw_hash FROM staged_records
                """, id)
        }
        try db.execute("""
            DELETE FROM run_records WHERE run_id IN
                (SELECT id FROM (SELECT id, row_number() OVER (ORDER BY id DESC) AS n FROM runs WHERE source = ? AND dry_run = 0) r
                 WHERE r.n > ?)
            """, report.source, keepRecords)
    }
}
