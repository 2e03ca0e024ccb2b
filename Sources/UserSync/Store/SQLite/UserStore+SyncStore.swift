import Foundation
import GRDB
import Logging

extension RunLock: RunLease {}

/// The SQLite store behind the engine's boundary.
extension UserStore: SyncStore {
    func lockRuns(timeout: Duration) async throws -> any RunLease {
        try await RunLock.acquire(store: path, timeout: timeout)
    }

    func knownRecords(source: String) async throws -> KnownRecords {
        try await database.read { db in try KnownRecords.load(db, source: source) }
    }

    func makeStaging() async throws -> any RunStaging {
        let staging = Staging(database: database)
        try await staging.reset()
        return staging
    }

    /// The user planner, then the group planner, in one immediate transaction on the writer
    /// (the staging tables are its temporary tables); `decide` sees the figures before anything
    /// is committed.
    func plan(_ request: PlanRequest, decide: @escaping @Sendable (PlanFigures) -> PlanDecision) async throws -> PlanOutcome {
        let users = Planner(request: request)
        let groups = request.groups ? GroupPlanner(source: request.source, runId: request.runId, now: request.now,
                                                   tree: request.groupTree) : nil
        return try await database.writeWithoutTransaction { db in
            var outcome = PlanOutcome()
            try db.inTransaction(.immediate) {
                let session = SQLiteSession(db: db)
                var figures = PlanFigures()
                figures.activeBefore = try users.activeUsers(session)
                figures.groupsBefore = try groups?.activeGroups(session) ?? 0
                figures.counts = try users.apply(session)
                figures.identical = try users.identicalRecords(session)
                figures.groups = try groups?.apply(session)
                figures.activeAfter = try users.activeUsers(session)
                let decision = decide(figures)
                outcome.figures = figures
                outcome.stop = decision.stop
                // An applied run returns only what it skipped (the rest is in `runs show`).
                (outcome.changes, outcome.totalChanges) = try users.changes(session, limit: request.changeListLimit,
                                                                            onlySkips: decision.applied != nil)
                guard let applied = decision.applied else { return .rollback }
                try UserStore.finishRun(session, request.runId, report: applied, at: Timestamp.now(),
                                        keepRecords: request.options.keepRecords)
                try UserStore.holdBeforeCommitForTests()
                outcome.committed = true
                return .commit
            }
            return outcome
        }
    }

    func finishRun(_ id: Int64, report: SyncReport, at time: String, keepRecords: Int) async throws {
        try await finishRun(id, report: report, at: time, keepRecords: keepRecords, withRecords: true)
    }

    /// When keeping the records fails too (a full disk or an I/O error: they need room), the
    /// staging tables are dropped, which frees what space it can, and the run is recorded
    /// without its records on a connection of its own (the writer's may hold temporary files
    /// that cannot grow).
    func recordFailedRun(_ id: Int64, report: SyncReport, at time: String, keepRecords: Int,
                         staging: any RunStaging) async throws -> (any Error)? {
        do {
            try await finishRun(id, report: report, at: time, keepRecords: keepRecords, withRecords: true)
            return nil
        } catch {
            await staging.drop()
            try finishRunOnOwnConnection(id, report: report, at: Timestamp.now())
            return error
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

    /// Test hook for the kill -9 test: with `USERSYNC_TEST_HOLD_BEFORE_COMMIT=SECONDS`, a run
    /// that has written all its changes waits that long before committing them, announcing it
    /// on standard error. Nothing else reads this variable.
    static func holdBeforeCommitForTests() throws {
        guard let text = ProcessInfo.processInfo.environment["USERSYNC_TEST_HOLD_BEFORE_COMMIT"],
              let seconds = Double(text) else { return }
        FileHandle.standardError.write(Data("usersync: holding the transaction open for \(seconds)s (test hook)\n".utf8))
        Thread.sleep(forTimeInterval: seconds)
    }
}
