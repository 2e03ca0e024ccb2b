import Foundation
import GRDB
import Logging

extension RunLock: RunLease {}

/// The SQLite store behind the engine's boundary.
extension SQLiteStore: StoreBackend {
    var dialect: SQLDialect { .sqlite }
    var name: String { path }
    var locksPerSource: Bool { false }

    /// One lock for the whole store (a file lock beside it): SQLite has one writer anyway.
    func lockRuns(source: String, timeout: Duration) async throws -> any RunLease {
        try await RunLock.acquire(store: path, timeout: timeout)
    }

    /// A push's lock: a file lock of its own per target (`<store>.push-NAME.lock`), so that a
    /// push and a sync do not wait for each other.
    func lockPush(target: String, timeout: Duration) async throws -> any RunLease {
        do {
            return try await RunLock.acquire(store: path, timeout: timeout, suffix: ".push-\(RunLock.fileSafe(target)).lock")
        } catch StoreError.busy {
            throw StoreError.targetBusy(store: path, target: target)
        }
    }

    /// "this machine" when a process holds the store's lock file (`flock` cannot say which).
    func runLockHolder(source: String) async throws -> String? {
        guard let lock = try? RunLock(store: path) else { return "a process on this machine" }
        lock.release()
        return nil
    }

    /// Closes the pool's connections, first emptying a large write-ahead log. A process that
    /// leaves a large log makes the next one that opens the store read all of it first: 0.15 s
    /// for the 67 MB an import of 100,000 users leaves, more than the whole of a delta run.
    /// (SQLite's own close empties it only when the last connection to close may write; GRDB
    /// closes its read-only readers last.) A small log is left as it is: reading it is cheap,
    /// and emptying it costs a checkpoint's syncs, 65 ms on these machines, a third of a delta.
    /// A store in use by another process (a running `usersync serve`) keeps its log: the
    /// checkpoint then gives way, which is harmless.
    func close() async {
        let log = (try? FileManager.default.attributesOfItem(atPath: path + "-wal")[.size] as? Int) ?? 0
        if log > Self.largeLog {
            _ = try? await database.writeWithoutTransaction { db in try db.checkpoint(.truncate) }
        }
        try? database.close()
    }

    /// SQLite's own checkpoint threshold (1,000 pages of 4 KiB).
    static let largeLog = 4 << 20

    func knownRecords(source: String, snapshotTaken: @escaping @Sendable () -> Void) async throws -> KnownRecords {
        try await database.read { db in try KnownRecords.load(db, source: source, snapshotTaken: snapshotTaken) }
    }

    func watermark(source: String) async throws -> Watermark? {
        try await database.read { db in try WatermarkTables.load(SQLiteSession(db: db), source: source) }
    }

    /// On the pool's writer, which every staging statement uses.
    func makeStaging(for lease: any RunLease) async throws -> any RunStaging {
        let staging = Staging(database: database)
        try await staging.reset()
        return staging
    }

    /// In one immediate transaction on the writer (the staging tables are its temporary tables).
    func plan(_ request: PlanRequest, staging: any RunStaging,
              decide: @escaping @Sendable (PlanFigures) -> PlanDecision) async throws -> PlanOutcome {
        try await database.writeWithoutTransaction { db in
            var outcome = PlanOutcome()
            try db.inTransaction(.immediate) {
                outcome = try PlanTransaction.run(SQLiteSession(db: db), request, decide: decide)
                return outcome.committed ? .commit : .rollback
            }
            return outcome
        }
    }

    /// The staging tables are dropped first, which frees what space it can (keeping the records
    /// failed for want of room: a full disk or an I/O error), and the run is recorded on a
    /// connection of its own (the writer's may hold temporary files that cannot grow).
    func finishRunWithoutRecords(_ id: Int64, report: SyncReport, staging: any RunStaging) async throws {
        await staging.drop()
        try finishRunOnOwnConnection(id, report: report, at: Timestamp.now())
    }

    /// Records the end of a run, without its records, on a connection of its own: one with no
    /// temporary tables, for when the writer's cannot write any more (the disk of its temporary
    /// files is full, and so are the tables that hold them).
    func finishRunOnOwnConnection(_ id: Int64, report: SyncReport, at time: String) throws {
        var configuration = GRDB.Configuration()
        configuration.busyMode = .timeout(5)
        let queue = try DatabaseQueue(path: path, configuration: configuration)
        try queue.write { db in
            try RunBook.finishRun(SQLiteSession(db: db), id, report: report, at: time, keepRecords: 0, withRecords: false)
        }
    }

    func traceSlowStatements(_ logger: Logger?, threshold: Double) async {
        try? await database.writeWithoutTransaction { db in
            guard let logger else { return db.trace(options: [], nil) }
            db.trace(options: .profile) { event in
                guard case let .profile(statement, duration) = event, duration >= threshold else { return }
                logger.debug("slow statement", metadata: ["seconds": "\(String(format: "%.3f", duration))",
                                                          "sql": "\(statement.sql.prefix(300))"])
            }
        }
    }
}
